//! The fault-suite harness shared by the HTTP and gRPC fault tests: a tracer driven
//! through bursts and flushes, then closed and checked for exact accounting against what
//! the collectors accepted.

use super::*;
use lightstep::collector::{Fault, LocalCollector, ReceivedReport};
use lightstep::{Error, ErrorKind, Event, Options, Stats, Tracer};
use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

pub const FLUSH_TIMEOUT: Duration = Duration::from_millis(400);
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Room over a timeout for a loaded machine: the bounds catch hangs; the real figures are
/// printed with `--nocapture` and measured by `examples/close_timing.rs`.
pub const SLACK: Duration = Duration::from_millis(250);
pub const BUFFER: usize = 200;

/// Which transport a run reports over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Http,
    Grpc,
    Otlp,
}

/// Takes the lock that runs these tests one at a time (the event handler is
/// process-wide) and starts recording events afresh.
pub fn serial() -> MutexGuard<'static, ()> {
    recording()
}

pub fn events() -> Vec<Event> {
    recorded()
}

pub fn error_events() -> Vec<lightstep::ErrorEvent> {
    events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Error(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// A loopback URL with nothing listening.
pub fn closed_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// Checks that every error event so far is of one of the `kinds`.
pub fn assert_error_kinds(mode: &str, kinds: &[ErrorKind]) {
    let errors = error_events();
    assert!(!errors.is_empty(), "{mode}: no error event");
    for error in errors {
        assert!(
            kinds.contains(&error.kind()),
            "{mode}: {error} ({:?})",
            error.kind()
        );
    }
}

pub fn fault_options(url: String, wire: Wire) -> Options {
    let options = Options::new(TOKEN)
        .collector_url(url)
        .component_name("faults")
        .max_buffered_spans(BUFFER)
        .min_reporting_period(Duration::from_millis(10))
        .max_reporting_period(Duration::from_millis(50))
        .report_timeout(Duration::from_millis(300))
        .close_timeout(CLOSE_TIMEOUT);
    match wire {
        Wire::Http => options,
        Wire::Grpc => options.use_grpc(),
        Wire::Otlp => options.use_otlp(),
    }
}

/// Drives a tracer through bursts of spans and flushes, timing every flush.
pub struct Run {
    pub tracer: Tracer,
    pub worst_flush: Duration,
    pub flushes_ok: usize,
    /// What each failed flush returned.
    pub flush_errors: Vec<Error>,
    wire: Wire,
}

/// What a run came to: the counts, and what `close` returned.
#[derive(Debug)]
pub struct Finished {
    pub stats: Stats,
    pub close: Result<(), Error>,
}

impl std::ops::Deref for Finished {
    type Target = Stats;
    fn deref(&self) -> &Stats {
        &self.stats
    }
}

impl Run {
    pub fn new(url: String, wire: Wire) -> Run {
        Run::with(url, wire, |options| options)
    }

    /// A run with the fault options changed by `configure`.
    pub fn with(url: String, wire: Wire, configure: impl FnOnce(Options) -> Options) -> Run {
        Run {
            tracer: Tracer::new(configure(fault_options(url, wire))).expect("tracer"),
            worst_flush: Duration::ZERO,
            flushes_ok: 0,
            flush_errors: Vec::new(),
            wire,
        }
    }

    pub fn burst(&mut self, spans: usize) {
        for i in 0..spans {
            self.tracer.span("work").tag("i", i).start().finish();
        }
        let started = Instant::now();
        match self.tracer.flush(FLUSH_TIMEOUT) {
            Ok(()) => self.flushes_ok += 1,
            Err(error) => self.flush_errors.push(error),
        }
        self.worst_flush = self.worst_flush.max(started.elapsed());
    }

    pub fn finish(self, mode: &str, collectors: &[&LocalCollector]) -> Finished {
        self.finish_with(mode, collectors, &[])
    }

    /// Closes the tracer and checks the accounting against what the collectors accepted
    /// (and `earlier`: the reports of a collector since stopped).
    pub fn finish_with(
        self,
        mode: &str,
        collectors: &[&LocalCollector],
        earlier: &[ReceivedReport],
    ) -> Finished {
        let started = Instant::now();
        let close = self.tracer.close(CLOSE_TIMEOUT);
        let close_time = started.elapsed();
        assert!(
            close_time <= CLOSE_TIMEOUT + SLACK,
            "{mode}: close took {close_time:?}"
        );
        assert!(
            self.worst_flush <= FLUSH_TIMEOUT + SLACK,
            "{mode}: a flush took {:?}",
            self.worst_flush
        );
        assert!(
            eventually(|| self.tracer.stats().pending == 0),
            "{mode}: {:?}",
            self.tracer.stats()
        );
        let stats = self.tracer.stats();
        assert_eq!(
            stats.delivered + stats.dropped + stats.unsampled,
            stats.finished,
            "{mode}: {stats:?}"
        );
        let reports: Vec<ReceivedReport> = collectors
            .iter()
            .flat_map(|c| c.reports())
            .chain(earlier.iter().cloned())
            .collect();
        let (grpc, otlp) = (self.wire == Wire::Grpc, self.wire == Wire::Otlp);
        assert!(
            reports
                .iter()
                .all(|r| r.grpc == grpc && r.otlp.is_some() == otlp),
            "{mode}: a report over another wire"
        );
        let accepted: Vec<_> = reports
            .iter()
            .filter(|r| r.status == 200)
            .flat_map(|r| r.request.spans.iter().cloned())
            .collect();
        assert_eq!(
            accepted.len() as u64,
            stats.delivered,
            "{mode}: collector vs delivered"
        );
        let unique: HashSet<u64> = accepted.iter().map(span_id).collect();
        assert_eq!(
            unique.len(),
            accepted.len(),
            "{mode}: a span accepted twice"
        );
        let reported_dropped: i64 = reports
            .iter()
            .filter(|r| r.status == 200)
            .filter_map(ReceivedReport::dropped_spans)
            .sum();
        assert!(reported_dropped as u64 <= stats.dropped, "{mode}");
        let status_sums = || {
            let (mut sent, mut dropped) = (0, 0);
            for event in events() {
                if let Event::StatusReport(report) = &event {
                    sent += report.sent_spans();
                    dropped += report.dropped_spans() as i64;
                }
            }
            (sent, dropped)
        };
        if otlp {
            // OTLP has no field for the dropped count: the events carry it alone.
            eventually(|| status_sums().0 == stats.delivered);
            let (sent, dropped) = status_sums();
            assert_eq!(sent, stats.delivered, "{mode}");
            assert!(dropped as u64 <= stats.dropped, "{mode}");
        } else {
            eventually(|| status_sums() == (stats.delivered, reported_dropped));
            assert_eq!(status_sums(), (stats.delivered, reported_dropped), "{mode}");
        }
        for event in events() {
            let text = format!("{event} {event:?}");
            assert!(!text.contains(TOKEN), "{mode}: token in an event: {text}");
        }
        let failed_attempts = error_events()
            .iter()
            .filter(|e| e.attempt().is_some())
            .count();
        let accepted_reports = reports.iter().filter(|r| r.status == 200).count();
        println!(
            "{:?} fault {mode:<16} finished {:>5} delivered {:>5} dropped {:>5} \
             reported-dropped {:>5} attempts {:>3} failed + {:>3} accepted \
             worst flush {:>7.1?} close {:>7.1?}",
            self.wire,
            stats.finished,
            stats.delivered,
            stats.dropped,
            reported_dropped,
            failed_attempts,
            accepted_reports,
            self.worst_flush,
            close_time
        );
        Finished { stats, close }
    }
}

/// The collector's URL for `wire`.
pub fn url_for(collector: &LocalCollector, wire: Wire) -> String {
    match wire {
        Wire::Http | Wire::Otlp => collector.url(),
        #[cfg(feature = "grpc")]
        Wire::Grpc => collector.grpc_url(),
        #[cfg(not(feature = "grpc"))]
        Wire::Grpc => panic!("the gRPC fault tests need the `grpc` feature"),
    }
}

/// The collector answers "accepted" with a bad body: the spans are delivered, an error
/// event says so, and nothing is sent again.
pub fn accepted_with_a_bad_answer(mode: &str, fault: Fault, wire: Wire) {
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(fault);
    let mut run = Run::new(url_for(&collector, wire), wire);
    for _ in 0..4 {
        run.burst(100);
    }
    let stats = run.finish(mode, &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (400, 0));
    let received: usize = collector
        .reports()
        .iter()
        .map(|r| r.request.spans.len())
        .sum();
    assert_eq!(
        received, 400,
        "{mode}: a batch the collector took was sent again"
    );
    assert!(
        eventually(|| !error_events().is_empty()),
        "{mode}: no error event"
    );
}
