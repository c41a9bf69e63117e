//! The reporter core against the in-memory transport and a test clock: batching by bytes,
//! the retry schedule, `Retry-After`, 413 splitting, and the accounting under random
//! outcomes. No sockets, no sleeping.

use super::core::{Core, Settings, Until};
use super::retry::{ceiling, MAX_WAIT};
use super::transport::memory::{MemoryTransport, Script, TestClock};
use crate::compact::CompactRecord;
use crate::encode::{Limits, ReportBuilder};
use crate::handoff::{handoff, Finished, Handoff, HandoffReceiver, LogSettings};
use crate::proto::collector as pb;
use crate::stats::{Counters, State};
use crate::{Error, Value};
use proptest::prelude::*;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

struct Rig {
    core: Core,
    transport: MemoryTransport,
    clock: TestClock,
    counters: Arc<Counters>,
    tx: &'static Handoff,
    rx: HandoffReceiver,
    next_id: u64,
}

impl Rig {
    fn new(script: Vec<Script>, then: Script, max_report_bytes: usize) -> Rig {
        let clock = TestClock::new();
        let counters = Arc::new(Counters::default());
        // (Under 1 024 spans, lanes reserve room a span at a time: the counts are exact.)
        let logs = LogSettings {
            max_logs_per_span: 100,
            drop_span_logs: false,
        };
        let (tx, rx) = handoff(1023, usize::MAX, Arc::clone(&counters), logs);
        let settings = Settings {
            min_period: Duration::from_millis(500),
            max_period: Duration::from_millis(2500),
            report_timeout: Duration::from_secs(10),
            max_report_bytes,
            limits: Limits {
                max_log_key_len: 256,
                max_log_value_len: 1024,
            },
        };
        let builder = ReportBuilder::new(
            pb::Reporter::default(),
            &crate::endpoint::Secret::new("token"),
        );
        let core = Core::new(
            Box::new(builder),
            settings,
            Arc::clone(&counters),
            Arc::clone(&rx.admission),
            super::core::Clock::now(&clock),
            7,
        );
        Rig {
            core,
            transport: MemoryTransport::new(script, then, clock.clone()),
            clock,
            counters,
            tx,
            rx,
            next_id: 1,
        }
    }

    /// Finishes `count` spans, each with a tag of `tag_bytes`, into the core's batch.
    fn finish(&mut self, count: usize, tag_bytes: usize) {
        for _ in 0..count {
            let tags = vec![("payload".into(), Value::from("x".repeat(tag_bytes)))];
            let record = CompactRecord::for_tests(self.next_id, tags);
            self.tx.finish(record.held_bytes(), || record);
            self.next_id += 1;
        }
        let core = &mut self.core;
        self.rx
            .drain(|record| core.admit(Finished::from_compact(record)));
    }

    fn send(&mut self, until: Until) -> Result<(), Error> {
        self.core.send(&mut self.transport, &mut self.clock, until)
    }

    fn within(&self, timeout: Duration) -> Until {
        Until::Deadline(super::core::Clock::now(&self.clock) + timeout)
    }

    /// Span ids the collector accepted, checking that none came twice.
    fn delivered_ids(&self) -> HashSet<u64> {
        let log = self.transport.log.lock().unwrap();
        let mut ids = HashSet::new();
        for (request, status) in &log.requests {
            if *status != 200 {
                continue;
            }
            for span in &request.spans {
                let id = span.span_context.as_ref().map_or(0, |c| c.span_id);
                assert!(ids.insert(id), "span {id} delivered twice");
            }
        }
        ids
    }

    fn gaps(&self) -> Vec<Duration> {
        let log = self.transport.log.lock().unwrap();
        log.times.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn assert_accounted(&self) {
        let stats = self.counters.snapshot();
        assert_eq!(
            stats.delivered + stats.dropped + self.core_pending() as u64,
            stats.finished,
            "{stats:?}"
        );
        assert_eq!(stats.delivered as usize, self.delivered_ids().len());
    }

    fn core_pending(&self) -> usize {
        self.rx.admission.held().0
    }
}

#[test]
fn big_batches_are_split_by_bytes() {
    let mut rig = Rig::new(vec![], Script::Accept, 16 * 1024);
    rig.finish(100, 1000);
    rig.send(rig.within(SECOND)).expect("delivered");
    let log = rig.transport.log.lock().unwrap();
    assert!(log.requests.len() >= 7, "{} requests", log.requests.len());
    drop(log);
    assert_eq!(rig.delivered_ids().len(), 100);
    let log = rig.transport.log.lock().unwrap();
    for (request, _) in &log.requests {
        use prost::Message;
        assert!(request.encoded_len() <= 16 * 1024);
    }
}

#[test]
fn transient_failures_are_retried_with_growing_jittered_waits() {
    let mut rig = Rig::new(vec![Script::Status(503, None); 3], Script::Accept, 1 << 20);
    rig.finish(100, 10);
    rig.send(rig.within(Duration::from_millis(1500)))
        .expect("delivered on the fourth attempt");
    let gaps = rig.gaps();
    assert_eq!(gaps.len(), 3);
    for (n, gap) in gaps.iter().enumerate() {
        let top = ceiling(n as u32 + 1);
        assert!(*gap <= top && *gap >= top / 2, "wait {n}: {gap:?}");
    }
    assert!(gaps[0] <= Duration::from_millis(100));
    assert_eq!(rig.delivered_ids().len(), 100);
    rig.assert_accounted();
}

#[test]
fn retry_after_is_honoured_when_it_fits() {
    let mut rig = Rig::new(
        vec![Script::Status(429, Some(SECOND))],
        Script::Accept,
        1 << 20,
    );
    rig.finish(10, 10);
    rig.send(rig.within(3 * SECOND)).expect("delivered");
    assert!(rig.gaps()[0] >= SECOND);
    assert_eq!(rig.delivered_ids().len(), 10);
}

#[test]
fn retry_after_past_the_deadline_is_a_timeout_at_once() {
    let mut rig = Rig::new(
        vec![Script::Status(503, Some(10 * SECOND))],
        Script::Accept,
        1 << 20,
    );
    rig.finish(10, 10);
    let start = super::core::Clock::now(&rig.clock);
    assert_eq!(rig.send(rig.within(SECOND)), Err(Error::Timeout));
    assert_eq!(
        super::core::Clock::now(&rig.clock),
        start,
        "no sleeping past the deadline"
    );
    assert_eq!(rig.transport.log.lock().unwrap().requests.len(), 1);
    // The spans are kept, and no timer report goes out before the collector's time.
    assert_eq!(rig.core_pending(), 10);
    let now = super::core::Clock::now(&rig.clock);
    assert!(!rig.core.is_due(now + 5 * SECOND, true));
    assert!(rig.core.is_due(now + 10 * SECOND, true));
}

#[test]
fn refusals_are_not_retried_within_the_call() {
    let mut rig = Rig::new(vec![Script::Status(401, None)], Script::Accept, 1 << 20);
    rig.finish(5, 10);
    let result = rig.send(rig.within(5 * SECOND));
    assert!(matches!(result, Err(Error::Collector(_))), "{result:?}");
    assert_eq!(rig.transport.log.lock().unwrap().requests.len(), 1);
    assert_eq!(rig.core_pending(), 5, "kept for a later report");
    // The next report, after the backoff, delivers them.
    rig.clock.advance(SECOND);
    rig.send(Until::Timer).expect("accepted later");
    assert_eq!(rig.delivered_ids().len(), 5);
    rig.assert_accounted();
}

#[test]
fn a_413_splits_the_report_and_every_span_is_delivered_once() {
    let mut rig = Rig::new(vec![], Script::Limit(6_000), 1 << 20);
    rig.finish(40, 500);
    rig.send(rig.within(SECOND)).expect("delivered in halves");
    assert_eq!(rig.delivered_ids().len(), 40);
    let log = rig.transport.log.lock().unwrap();
    assert!(log.requests.iter().any(|(_, status)| *status == 413));
    drop(log);
    rig.assert_accounted();
    // A span too big even alone is dropped and counted, not retried forever.
    rig.finish(1, 10_000);
    rig.send(rig.within(SECOND)).expect("nothing left to send");
    assert_eq!(rig.counters.snapshot().dropped, 1);
    rig.assert_accounted();
}

#[test]
fn timer_reports_back_off_up_to_the_cap() {
    let mut rig = Rig::new(vec![], Script::Status(503, None), 1 << 20);
    rig.finish(1, 10);
    let mut waits = Vec::new();
    for _ in 0..20 {
        let before = super::core::Clock::now(&rig.clock);
        assert!(rig.send(Until::Timer).is_err());
        // Step the clock to the first moment a report is due again.
        let mut step = Duration::ZERO;
        while !rig.core.is_due(before + step, true) {
            step += Duration::from_millis(10);
        }
        waits.push(step);
        rig.clock.advance(step);
    }
    assert!(waits[0] <= Duration::from_millis(510), "{waits:?}");
    assert!(waits
        .iter()
        .all(|w| *w <= MAX_WAIT + Duration::from_millis(10)));
    assert!(waits[19] >= MAX_WAIT / 2, "{waits:?}");
    assert_eq!(rig.core_pending(), 1);
}

#[test]
fn the_disable_command_stops_sending() {
    let mut rig = Rig::new(vec![Script::AcceptAndDisable], Script::Accept, 1 << 20);
    rig.finish(3, 10);
    rig.send(rig.within(SECOND)).expect("accepted");
    assert_eq!(rig.counters.state(), State::Disabled);
    rig.finish(3, 10);
    assert_eq!(rig.send(rig.within(SECOND)), Err(Error::Closed));
    assert_eq!(rig.transport.log.lock().unwrap().requests.len(), 1);
}

#[test]
fn a_413_on_a_report_of_the_dropped_count_alone_drops_nothing_more() {
    let mut rig = Rig::new(vec![], Script::Status(413, None), 1 << 20);
    rig.counters.add_finished();
    rig.counters.add_dropped(1);
    assert!(rig.send(Until::Timer).is_err());
    assert!(rig.send(rig.within(SECOND)).is_err());
    assert_eq!(rig.transport.log.lock().unwrap().requests.len(), 2);
    assert_eq!(rig.rx.admission.held(), (0, 0));
    assert_eq!(rig.counters.snapshot().dropped, 1);
    // Spans still find room afterwards.
    rig.transport.then = Script::Accept;
    rig.finish(3, 10);
    rig.send(rig.within(SECOND)).expect("delivered");
    assert_eq!(rig.delivered_ids().len(), 3);
}

#[test]
fn drops_counted_during_a_send_do_not_keep_it_going() {
    let mut rig = Rig::new(vec![], Script::Accept, 1 << 20);
    rig.transport.drops_meanwhile = Some(Arc::clone(&rig.counters));
    rig.finish(5, 10);
    rig.send(Until::Timer).expect("delivered");
    rig.send(rig.within(SECOND)).expect("flushed");
    // One report for the spans; each send tells the drops it found, once.
    let requests = rig.transport.log.lock().unwrap().requests.len();
    assert!(requests <= 3, "{requests} requests");
    rig.assert_accounted();
}

#[test]
fn a_limit_learned_from_a_413_grows_back() {
    let mut rig = Rig::new(vec![Script::Status(413, None)], Script::Accept, 64 * 1024);
    rig.finish(40, 500);
    rig.send(rig.within(SECOND)).expect("delivered in halves");
    let first = rig.transport.log.lock().unwrap().requests.len();
    // Later reports go whole again, not in the halves the one 413 asked for.
    for _ in 0..6 {
        rig.finish(40, 500);
        rig.send(rig.within(SECOND)).expect("delivered");
    }
    let log = rig.transport.log.lock().unwrap();
    let last = &log.requests[log.requests.len() - 1].0;
    assert_eq!(
        last.spans.len(),
        40,
        "after {first} requests for the first batch"
    );
}

fn script() -> impl Strategy<Value = Script> {
    prop_oneof![
        4 => Just(Script::Accept),
        1 => Just(Script::AcceptGarbage),
        1 => Just(Script::AcceptAndDisable),
        2 => Just(Script::Status(503, None)),
        1 => Just(Script::Status(429, Some(Duration::from_millis(300)))),
        1 => Just(Script::Status(401, None)),
        1 => Just(Script::Limit(3_000)),
        1 => Just(Script::Timeout),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random outcomes never break the accounting, and no span is delivered twice.
    #[test]
    fn random_outcomes_keep_every_span_accounted_for(
        steps in proptest::collection::vec((script(), 0usize..60, any::<bool>()), 1..40),
    ) {
        let mut rig = Rig::new(vec![], Script::Accept, 8 * 1024);
        for (answer, finished, flush) in steps {
            rig.transport.script.push(answer);
            rig.finish(finished, 100);
            let until = if flush { rig.within(2 * SECOND) } else { Until::Timer };
            let _ = rig.send(until);
            rig.clock.advance(Duration::from_millis(700));
            rig.assert_accounted();
        }
        // Close: what is left is dropped; everything is delivered or dropped.
        let _ = rig.send(rig.within(SECOND));
        rig.core.drop_all();
        let stats = rig.counters.snapshot();
        prop_assert_eq!(stats.delivered + stats.dropped, stats.finished);
        prop_assert_eq!(rig.core_pending(), 0);
        prop_assert_eq!(rig.rx.admission.held(), (0, 0));
    }
}

#[test]
fn nothing_to_send_waits_the_long_period_even_when_half_full() {
    let rig = Rig::new(vec![], Script::Accept, 1 << 20);
    let now = super::core::Clock::now(&rig.clock);
    // (Room the lanes keep reserved counts as held: half full with an empty batch must
    // not make the reporter spin.)
    assert_eq!(
        rig.core.next_wake(now, true),
        now + Duration::from_millis(2500)
    );
}
