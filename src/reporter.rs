//! The reporter thread: drains finished spans, batches them, and sends reports on its
//! timer, on flush and on close. It owns everything but the caller's hot path.

use crate::encode::truncate;
use crate::encode::{normalize, timestamp, Clock, Limits, ReportBuilder};
use crate::event::{emit, ErrorEvent, ErrorKind, Event, FlushState, StatusReport};
use crate::metrics::SystemMetrics;
use crate::proto::collector as pb;
use crate::record::SpanRecord;
use crate::stats::{Counters, State};
use crate::transport::{Outcome, Transport};
use crate::wire;
use crate::Error;
use crossbeam_channel::{never, select, Receiver, Sender};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The size a request aims at when a batch is bigger (never above `max_report_bytes`).
const REQUEST_BYTES: usize = 1024 * 1024;

/// Whether a send drains the channel between requests (the timer's reports) or sends
/// only what it was asked to (flush and close, which must not chase new spans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refill {
    Yes,
    No,
}

/// Requests from tracer handles to the reporter thread.
pub(crate) enum Control {
    /// Send every span finished so far; reply when done.
    Flush {
        deadline: Instant,
        reply: Sender<Result<(), Error>>,
    },
    /// Send everything, then stop reporting; reply when done.
    Close {
        deadline: Instant,
        reply: Sender<Result<(), Error>>,
    },
    /// Stop reporting and discard what is held.
    Disable,
    /// Make the reporter thread panic, to test that a panic is contained (the test needs
    /// the local collector).
    #[cfg(all(test, feature = "collector"))]
    Panic,
}

/// How the reporter batches; derived from `Options`.
pub(crate) struct Config {
    pub(crate) min_period: Duration,
    pub(crate) max_period: Duration,
    pub(crate) report_timeout: Duration,
    pub(crate) close_timeout: Duration,
    /// The most spans held by the reporter itself (the channel holds the rest).
    pub(crate) batch_capacity: usize,
    /// Report early once this many spans are pending.
    pub(crate) half_full: usize,
    pub(crate) max_report_bytes: usize,
    pub(crate) limits: Limits,
}

pub(crate) struct Reporter {
    spans: Receiver<SpanRecord>,
    /// Signals from callers that the span channel is filling up.
    wake: Receiver<()>,
    control: Receiver<Control>,
    counters: Arc<Counters>,
    transport: Transport,
    builder: ReportBuilder,
    config: Config,
    /// Spans waiting for the collector, oldest first, each with its encoded `Span` size
    /// once `prepare` has readied it.
    pending: Vec<(SpanRecord, usize)>,
    /// How many of `pending`, from the front, are ready for encoding (see `prepare`).
    prepared: usize,
    /// Values not sent as given since the last accepted report (`log_encoder.errors`).
    encoding_errors: u64,
    last_attempt: Instant,
    /// Start of the period the next report covers (the last accepted report).
    period_start: SystemTime,
    /// The `dropped` total that the collector has been told of.
    dropped_reported: u64,
    /// System metrics, on a timer of their own (`Options::system_metrics`).
    metrics: Option<SystemMetrics>,
}

impl Reporter {
    pub(crate) fn new(
        spans: Receiver<SpanRecord>,
        wake: Receiver<()>,
        control: Receiver<Control>,
        counters: Arc<Counters>,
        transport: Transport,
        builder: ReportBuilder,
        config: Config,
    ) -> Reporter {
        Reporter {
            spans,
            wake,
            control,
            counters,
            transport,
            builder,
            config,
            pending: Vec::new(),
            prepared: 0,
            encoding_errors: 0,
            last_attempt: Instant::now(),
            period_start: SystemTime::now(),
            dropped_reported: 0,
            metrics: None,
        }
    }

    /// Samples and sends system metrics too, when `metrics` is given.
    pub(crate) fn with_metrics(mut self, metrics: Option<SystemMetrics>) -> Reporter {
        self.metrics = metrics;
        self
    }

    /// The thread's body: report until closed or disabled, then count stragglers.
    pub(crate) fn run(mut self) {
        let outcome = catch_unwind(AssertUnwindSafe(|| self.report_loop()));
        if outcome.is_err() {
            self.counters.set_state(State::Disabled);
            self.drop_pending();
            emit(Event::Error(ErrorEvent::new(
                ErrorKind::Flush(FlushState::Disabled),
                Error::Transport("the reporter thread panicked; spans are now dropped".into()),
            )));
        }
        self.linger();
    }

    fn report_loop(&mut self) {
        let no_wake = never();
        loop {
            let now = Instant::now();
            let mut wake_at = self.next_wake(now);
            if let Some(metrics) = &self.metrics {
                wake_at = wake_at.min(metrics.due());
            }
            // Callers wake the reporter only when the channel fills up; while the batch has
            // no room, such a wake could change nothing, so it is not listened to.
            let wake = if self.pending.len() < self.config.batch_capacity {
                &self.wake
            } else {
                &no_wake
            };
            select! {
                recv(wake) -> message => {
                    if message.is_err() {
                        return self.last_report();
                    }
                }
                recv(self.control) -> message => match message {
                    Ok(Control::Flush { deadline, reply }) => {
                        let owed = self.spans.len();
                        let _ = reply.send(self.send_all(deadline, owed));
                    }
                    Ok(Control::Close { deadline, reply }) => {
                        let result = self.send_all(deadline, usize::MAX);
                        self.drop_pending();
                        if self.counters.state() == State::Disabled {
                            emit(Event::TracerDisabled);
                        }
                        let _ = reply.send(result);
                        return;
                    }
                    Ok(Control::Disable) => {
                        self.disable();
                        return;
                    }
                    #[cfg(all(test, feature = "collector"))]
                    Ok(Control::Panic) => panic!("injected reporter panic"),
                    Err(_) => return self.last_report(),
                },
                default(wake_at.saturating_duration_since(now)) => {}
            }
            if self.counters.state() == State::Disabled {
                self.disable();
                return;
            }
            self.drain(usize::MAX);
            let now = Instant::now();
            if self.is_due(now) {
                let deadline = now + self.config.report_timeout;
                let _ = self.send_pending(deadline, Refill::Yes);
            }
            let now = Instant::now();
            if let Some(metrics) = self.metrics.as_mut().filter(|m| m.due() <= now) {
                metrics.run(now);
            }
        }
    }

    /// Every tracer handle is gone: deliver what is left, within `close_timeout`.
    fn last_report(&mut self) {
        let deadline = Instant::now() + self.config.close_timeout;
        let _ = self.send_all(deadline, usize::MAX);
        self.drop_pending();
    }

    /// After close or disable: every span that still arrives is counted dropped.
    fn linger(&mut self) {
        loop {
            select! {
                recv(self.spans) -> message => match message {
                    Ok(_) => self.counters.add_dropped(1),
                    Err(_) => return,
                },
                recv(self.control) -> message => match message {
                    Ok(Control::Flush { reply, .. }) => {
                        let _ = reply.send(Err(Error::Closed));
                    }
                    Ok(Control::Close { reply, .. }) => {
                        let _ = reply.send(Ok(()));
                    }
                    Ok(_) => {}
                    Err(_) => return,
                },
            }
        }
    }

    fn disable(&mut self) {
        self.counters.set_state(State::Disabled);
        self.drop_pending();
        emit(Event::TracerDisabled);
    }

    /// Counts everything held, in the channel and in the batch, as dropped.
    fn drop_pending(&mut self) {
        let held = self.pending.len() as u64;
        self.pending.clear();
        self.prepared = 0;
        let mut queued = 0;
        while self.spans.try_recv().is_ok() {
            queued += 1;
        }
        self.counters.add_dropped(held + queued);
    }

    fn has_work(&self) -> bool {
        !self.pending.is_empty()
            || !self.spans.is_empty()
            || self.counters.dropped() > self.dropped_reported
    }

    fn is_due(&self, now: Instant) -> bool {
        if !self.has_work() {
            return false;
        }
        let since = now.saturating_duration_since(self.last_attempt);
        since >= self.config.max_period
            || (self.pending.len() >= self.config.half_full && since >= self.config.min_period)
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let period = if self.pending.len() >= self.config.half_full {
            self.config.min_period
        } else {
            self.config.max_period
        };
        let wake = self.last_attempt + period;
        if wake > now {
            wake
        } else if self.has_work() {
            now
        } else {
            now + self.config.max_period
        }
    }

    /// Readies drained spans for encoding (wall-clock times, log limits, encoded size)
    /// until those ready fill `budget` bytes; a span too big for any report is dropped
    /// and counted. Done here, a request's worth at a time, rather than while draining, so
    /// draining keeps up with bursts and no long stretch passes without a drain.
    fn prepare(&mut self, budget: usize) {
        let mut ready: usize = self.pending[..self.prepared]
            .iter()
            .map(|(_, len)| wire::len_field(*len))
            .sum();
        let clock = Clock::now();
        let limit = self
            .config
            .max_report_bytes
            .saturating_sub(self.builder.overhead());
        let mut end = self.prepared;
        let mut oversized = false;
        while end < self.pending.len() && ready <= budget {
            let (record, len) = &mut self.pending[end];
            self.encoding_errors += normalize(record, &clock, self.config.limits);
            *len = wire::span_len(record);
            let size = wire::len_field(*len);
            if size > limit {
                *len = usize::MAX;
                oversized = true;
            } else {
                ready += size;
            }
            end += 1;
        }
        if oversized {
            // Rare: take the spans too big for any report out of the readied range.
            let rest = self.pending.split_off(end);
            let counters = &self.counters;
            self.pending.retain(|(record, len)| {
                if *len != usize::MAX {
                    return true;
                }
                counters.add_dropped(1);
                emit(Event::Error(ErrorEvent::new(
                    ErrorKind::Flush(FlushState::Report),
                    Error::Collector(format!(
                        "span `{}` is bigger than max_report_bytes; dropped",
                        truncate(&record.operation, 128)
                    )),
                )));
                false
            });
            end = self.pending.len();
            self.pending.extend(rest);
        }
        self.prepared = end;
    }

    /// Moves up to `limit` queued spans into the batch, as far as it has room.
    fn drain(&mut self, limit: usize) -> usize {
        let mut moved = 0;
        while moved < limit && self.pending.len() < self.config.batch_capacity {
            match self.spans.try_recv() {
                Ok(record) => {
                    self.pending.push((record, 0));
                    moved += 1;
                }
                Err(_) => break,
            }
        }
        moved
    }

    /// Sends the batch and the `owed` spans queued before a flush, in as many reports as
    /// they need, until done, a failure, or the deadline.
    fn send_all(&mut self, deadline: Instant, mut owed: usize) -> Result<(), Error> {
        loop {
            let moved = self.drain(owed);
            owed = owed.saturating_sub(moved);
            if self.pending.is_empty() && (owed == 0 || self.spans.is_empty()) {
                if self.counters.dropped() > self.dropped_reported {
                    return self.send_pending(deadline, Refill::No);
                }
                return Ok(());
            }
            // Only what was owed: spans finished after the flush began are not waited for.
            self.send_pending(deadline, Refill::No)?;
        }
    }

    /// Sends what the batch holds now, one report per request size; with `Refill::Yes`
    /// the channel is drained between requests (into the batch, for the next report).
    fn send_pending(&mut self, deadline: Instant, refill: Refill) -> Result<(), Error> {
        let mut left = self.pending.len();
        loop {
            let sent = self.send_report(deadline, refill)?;
            left = left.saturating_sub(sent);
            if left == 0 || sent == 0 || self.pending.is_empty() {
                return Ok(());
            }
        }
    }

    /// Sends one report with as many pending spans as fit; returns how many it sent.
    fn send_report(&mut self, deadline: Instant, refill: Refill) -> Result<usize, Error> {
        if self.counters.state() == State::Disabled {
            return Err(Error::Closed);
        }
        let now = Instant::now();
        self.last_attempt = now;
        let Some(timeout) = deadline
            .checked_duration_since(now)
            .filter(|t| !t.is_zero())
            .map(|t| t.min(self.config.report_timeout))
        else {
            return Err(Error::Timeout);
        };
        // Big batches go as several requests of about a megabyte rather than one of
        // `max_report_bytes`: the channel is drained between them, so callers finishing
        // spans meanwhile find room. A single larger span still goes alone.
        let budget = self
            .config
            .max_report_bytes
            .min(REQUEST_BYTES)
            .saturating_sub(self.builder.overhead());
        self.prepare(budget);
        let mut used = 0;
        let count = self.pending[..self.prepared]
            .iter()
            .take_while(|(_, len)| {
                used += wire::len_field(*len);
                used <= budget
            })
            .count()
            .max(1)
            .min(self.prepared);
        let dropped_total = self.counters.dropped();
        let dropped = dropped_total - self.dropped_reported;
        let encoding_errors = self.encoding_errors;
        let period_end = SystemTime::now();
        let metrics = pb::InternalMetrics {
            start_timestamp: Some(timestamp(self.period_start)),
            duration_micros: period_end
                .duration_since(self.period_start)
                .unwrap_or_default()
                .as_micros() as u64,
            logs: Vec::new(),
            counts: vec![
                count_sample("spans.dropped", dropped),
                count_sample("log_encoder.errors", encoding_errors),
            ],
            gauges: Vec::new(),
        };
        let body = self.builder.encode(&self.pending[..count], &metrics);
        if refill == Refill::Yes {
            // Empty the channel once more before blocking on the network: the callers
            // keep finishing spans while the request is in flight.
            self.drain(usize::MAX);
        }
        let started = Instant::now();
        let (response, warning) = match self.transport.send(&body, timeout) {
            Outcome::Accepted(response) => (Some(response), None),
            Outcome::AcceptedBadBody(error) => (None, Some(error)),
            Outcome::Failed(kind, error) => {
                emit(Event::Error(ErrorEvent::new(kind, error.clone())));
                return Err(error);
            }
        };
        // The collector took these spans: never send them again.
        self.pending.drain(..count);
        self.prepared -= count;
        self.counters.add_delivered(count as u64);
        self.dropped_reported = dropped_total;
        self.encoding_errors -= encoding_errors;
        emit(Event::StatusReport(StatusReport {
            start_time: self.period_start,
            finish_time: period_end,
            sent_spans: count as u64,
            dropped_spans: dropped,
            encoding_errors,
            flush_duration: started.elapsed(),
        }));
        self.period_start = period_end;
        if let Some(error) = warning {
            emit(Event::Error(ErrorEvent::new(
                ErrorKind::Flush(FlushState::Transport),
                error,
            )));
        }
        if let Some(response) = response {
            self.obey(response);
        }
        Ok(count)
    }

    fn obey(&mut self, response: pb::ReportResponse) {
        for error in response.errors {
            emit(Event::Error(ErrorEvent::new(
                ErrorKind::Flush(FlushState::Report),
                self.builder.redact(Error::Collector(error)),
            )));
        }
        if response.commands.iter().any(|c| c.disable) {
            self.counters.set_state(State::Disabled);
        }
    }
}

fn count_sample(name: &str, value: u64) -> pb::MetricsSample {
    pb::MetricsSample {
        name: name.to_owned(),
        value: Some(pb::metrics_sample::Value::IntValue(
            i64::try_from(value).unwrap_or(i64::MAX),
        )),
    }
}
