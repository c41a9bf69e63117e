//! The reporter's core: the batch, the byte budgets, when to report, what to do with each
//! attempt's outcome (retry, back off, split, give up), the accounting, and the
//! collector's commands. It does no I/O of its own: the wire is a [`Transport`], time is
//! a [`Clock`], so its tests run without sockets and without sleeping.

use super::batch::{Batch, Entry};
use super::retry::{Backoff, Retry};
use super::transport::{Accepted, Attempt, Transport};
use crate::encode::{truncate, Limits};
use crate::event::{emit, ErrorEvent, ErrorKind, Event, FlushState, StatusReport};
use crate::handoff::{Admission, Finished};
use crate::record::SpanRecord;
use crate::stats::{Counters, State};
use crate::Error;
use std::collections::vec_deque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The size a request aims at when a batch is bigger (never above `max_report_bytes`):
/// big batches go as several requests, each encoded just before it is sent.
pub(crate) const REQUEST_BYTES: usize = 1024 * 1024;

/// Time, as the core sees it.
pub(crate) trait Clock {
    fn now(&self) -> Instant;
    fn sleep(&mut self, duration: Duration);
}

/// The clock of the reporter thread.
#[derive(Debug, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// What a report says besides its spans.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    /// The period the report covers: since the last accepted report.
    pub(crate) period_start: SystemTime,
    pub(crate) period_end: SystemTime,
    /// Spans dropped since the last accepted report (`spans.dropped`).
    pub(crate) dropped: u64,
    /// Values not sent as given since the last accepted report (`log_encoder.errors`).
    pub(crate) encoding_errors: u64,
}

/// Turns spans into a request body for one wire (LightStep's `ReportRequest`, OTLP).
pub(crate) trait Encoder: Send {
    /// The bytes a request takes besides its spans (the most it can be).
    fn overhead(&self) -> usize;
    /// The encoded length of one span's message (without its field key and length).
    fn span_len(&self, record: &SpanRecord) -> usize;
    /// The body of a request carrying `spans` (readied, each with its `span_len`).
    fn encode(&self, spans: vec_deque::Iter<'_, Entry>, meta: &Meta) -> Vec<u8>;
    /// Whether a request tells the collector of dropped spans (`Meta::dropped`), so that
    /// one is worth sending for that alone.
    fn carries_dropped_count(&self) -> bool {
        true
    }
}

/// How the reporter batches and sends; from `Options`, checked once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) min_period: Duration,
    pub(crate) max_period: Duration,
    pub(crate) report_timeout: Duration,
    pub(crate) max_report_bytes: usize,
    pub(crate) limits: Limits,
}

/// How long a send may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// A report on the reporter's timer: one attempt per request; a failure schedules the
    /// next attempt after a backoff (between timer reports, up to `retry::MAX_WAIT`).
    Timer,
    /// Flush and close: failures that may pass are retried, with backoff, until `deadline`.
    Deadline(Instant),
}

pub(crate) struct Core {
    batch: Batch,
    encoder: Box<dyn Encoder>,
    settings: Settings,
    counters: Arc<Counters>,
    admission: Arc<Admission>,
    encoding_errors: u64,
    period_start: SystemTime,
    /// The `dropped` total the collector has been told of.
    dropped_reported: u64,
    backoff: Backoff,
    /// Failed attempts since the last accepted report.
    failures: u32,
    /// No timer report before this (a backoff, or the collector's `Retry-After`).
    retry_at: Option<Instant>,
    last_attempt: Instant,
    /// The largest request the collector takes, learned from 413 answers.
    body_limit: usize,
    /// After a 413 within a send: the most spans the next request may carry.
    split_to: Option<usize>,
}

impl Core {
    pub(crate) fn new(
        encoder: Box<dyn Encoder>,
        settings: Settings,
        counters: Arc<Counters>,
        admission: Arc<Admission>,
        now: Instant,
        seed: u64,
    ) -> Core {
        Core {
            batch: Batch::default(),
            encoder,
            body_limit: settings.max_report_bytes,
            settings,
            counters,
            admission,
            encoding_errors: 0,
            period_start: SystemTime::now(),
            dropped_reported: 0,
            backoff: Backoff::new(seed),
            failures: 0,
            retry_at: None,
            last_attempt: now,
            split_to: None,
        }
    }

    /// Takes a finished span into the batch.
    pub(crate) fn admit(&mut self, finished: Finished) {
        self.batch.push(finished);
    }

    fn has_work(&self) -> bool {
        !self.batch.is_empty() || self.counters.dropped() > self.dropped_reported
    }

    fn disabled(&self) -> bool {
        self.counters.state() == State::Disabled
    }

    /// Whether a timer report is due: the max period passed, or half the buffer is taken
    /// and the min period passed, and no backoff is in force.
    /// How many spans the batch holds.
    pub(crate) fn batched(&self) -> usize {
        self.batch.len()
    }

    pub(crate) fn is_due(&self, now: Instant, half_full: bool) -> bool {
        if !self.has_work() || self.retry_at.is_some_and(|at| now < at) {
            return false;
        }
        let since = now.saturating_duration_since(self.last_attempt);
        since >= self.settings.max_period || (half_full && since >= self.settings.min_period)
    }

    /// When the reporter should next look at its batch.
    pub(crate) fn next_wake(&self, now: Instant, half_full: bool) -> Instant {
        if !self.has_work() {
            // (Half full with nothing in the batch: the spans are still in the lanes, and
            // crossing half a bound wakes the reporter anyway.)
            return now + self.settings.max_period;
        }
        let period = if half_full {
            self.settings.min_period
        } else {
            self.settings.max_period
        };
        let mut wake = self.last_attempt + period;
        if let Some(at) = self.retry_at {
            wake = wake.max(at);
        }
        wake.max(now)
    }

    /// Sends what the batch holds now, in as many requests as it needs (spans admitted
    /// meanwhile wait for the next send), and the dropped count if there is one to tell.
    pub(crate) fn send(
        &mut self,
        transport: &mut dyn Transport,
        clock: &mut dyn Clock,
        until: Until,
    ) -> Result<(), Error> {
        let mut left = self.batch.len();
        // The drops to tell of: those counted when the send began (callers keep adding
        // to the count, and chasing it would never end). Wires with no field for it send
        // no report for it alone.
        let dropped = self.counters.dropped();
        let tell_dropped = self.encoder.carries_dropped_count();
        // Attempts of the current request within this call.
        let mut attempt = 0;
        loop {
            if left == 0 && (!tell_dropped || dropped <= self.dropped_reported) {
                return Ok(());
            }
            if self.disabled() {
                return Err(Error::Closed);
            }
            let now = clock.now();
            let timeout = match until {
                Until::Timer => self.settings.report_timeout,
                Until::Deadline(deadline) => deadline
                    .saturating_duration_since(now)
                    .min(self.settings.report_timeout),
            };
            if timeout.is_zero() {
                return Err(Error::Timeout);
            }
            let (body, count, meta) = self.next_request(left);
            left = left.min(self.batch.len());
            if count == 0 && left > 0 {
                continue; // The spans readied were all too big and were dropped.
            }
            self.last_attempt = now;
            attempt += 1;
            let started = clock.now();
            match transport.send(&body, timeout) {
                Attempt::Accepted(answer) => {
                    let took = clock.now().saturating_duration_since(started);
                    self.accepted(count, meta, answer, took);
                    left -= count;
                    attempt = 0;
                }
                Attempt::Failed(failure) if failure.retry == Retry::Split && count > 0 => {
                    if count == 1 {
                        // Even alone it is too big for this collector.
                        self.give_up_front(1, failure.error.to_string());
                        left = left.saturating_sub(1);
                    } else {
                        // Halve it; the collector's limit is remembered for later reports.
                        self.body_limit = body.len() / 2;
                        self.split_to = Some(count / 2);
                    }
                    attempt = 0;
                }
                Attempt::Failed(failure) => {
                    self.failures = self.failures.saturating_add(1);
                    // A flush or close backs off from its own first attempt; timer
                    // reports from the failures since the last accepted report.
                    let failures = match until {
                        Until::Timer => self.failures,
                        Until::Deadline(_) => attempt,
                    };
                    let wait = self
                        .backoff
                        .wait(failures)
                        .max(failure.retry_after.unwrap_or_default());
                    let now = clock.now();
                    let retry_now = match until {
                        Until::Deadline(deadline) if failure.retry == Retry::Later => {
                            Some(now + wait < deadline)
                        }
                        _ => None,
                    };
                    match retry_now {
                        Some(true) => {
                            failed_attempt(failure.kind, &failure.error, attempt, Next::In(wait));
                            clock.sleep(wait);
                        }
                        Some(false) => {
                            self.retry_at = Some(now + wait);
                            failed_attempt(failure.kind, &failure.error, attempt, Next::NoTime);
                            return Err(Error::Timeout);
                        }
                        None => {
                            self.retry_at = Some(now + wait);
                            let next = match failure.retry {
                                Retry::Later => Next::Later(wait),
                                _ => Next::Refused(wait),
                            };
                            failed_attempt(failure.kind, &failure.error, attempt, next);
                            return Err(failure.error);
                        }
                    }
                }
            }
        }
    }

    /// Readies and encodes the next request: at most `left` spans from the front, as
    /// many as fit a request. Spans too big for any request are dropped on the way.
    fn next_request(&mut self, left: usize) -> (Vec<u8>, usize, Meta) {
        let overhead = self.encoder.overhead();
        let limit = self.settings.max_report_bytes.saturating_sub(overhead);
        let budget = self
            .settings
            .max_report_bytes
            .min(REQUEST_BYTES)
            .min(self.body_limit)
            .saturating_sub(overhead);
        let encoder = &self.encoder;
        let prepared = self
            .batch
            .prepare(budget, limit, self.settings.limits, &|record| {
                encoder.span_len(record)
            });
        self.encoding_errors += prepared.encoding_errors;
        for entry in prepared.oversized {
            let size = entry.size();
            self.drop_one(
                entry,
                format!("it takes {size} bytes, over max_report_bytes"),
            );
        }
        let count = if left == 0 {
            0
        } else {
            let max = left.min(self.split_to.take().unwrap_or(usize::MAX));
            self.batch.request_len(budget, max)
        };
        let meta = Meta {
            period_start: self.period_start,
            period_end: SystemTime::now(),
            dropped: self.counters.dropped() - self.dropped_reported,
            encoding_errors: self.encoding_errors,
        };
        let body = self.encoder.encode(self.batch.front(count), &meta);
        (body, count, meta)
    }

    fn accepted(&mut self, count: usize, meta: Meta, answer: Accepted, took: Duration) {
        // The collector took these spans: they are never sent again.
        let bytes = self.batch.pop_front(count);
        self.admission.release(count, bytes);
        let rejected = answer.rejected.min(count as u64);
        self.counters.add_delivered(count as u64 - rejected);
        self.counters.add_dropped(rejected);
        self.dropped_reported += meta.dropped;
        self.encoding_errors -= meta.encoding_errors;
        self.failures = 0;
        self.retry_at = None;
        // A limit learned from a 413 is tried higher again, doubling per accepted report.
        self.body_limit = self
            .body_limit
            .saturating_mul(2)
            .min(self.settings.max_report_bytes);
        emit(Event::StatusReport(StatusReport {
            start_time: meta.period_start,
            finish_time: meta.period_end,
            sent_spans: count as u64 - rejected,
            dropped_spans: meta.dropped,
            encoding_errors: meta.encoding_errors,
            flush_duration: took,
        }));
        self.period_start = meta.period_end;
        if let Some(error) = answer.unreadable {
            emit(Event::Error(ErrorEvent::new(
                ErrorKind::Flush(FlushState::Transport),
                error,
            )));
        }
        for error in answer.errors {
            emit(Event::Error(ErrorEvent::new(
                ErrorKind::Flush(FlushState::Report),
                Error::Collector(crate::error::ReportError::new(error)),
            )));
        }
        if answer.disable {
            self.counters.set_state(State::Disabled);
        }
    }

    /// Drops the first `count` spans: the collector will not take them.
    fn give_up_front(&mut self, count: usize, why: String) {
        let count = count.min(self.batch.len());
        let names: Vec<String> = self
            .batch
            .front(count)
            .map(|entry| truncate(&entry.record.operation, 128))
            .collect();
        let bytes = self.batch.pop_front(count);
        self.admission.release(count, bytes);
        self.counters.add_dropped(count as u64);
        for name in names {
            emit(Event::Error(ErrorEvent::new(
                ErrorKind::Flush(FlushState::Encoding),
                Error::SpanTooLarge(format!(
                    "span `{name}` is too big for the collector ({why}); dropped"
                )),
            )));
        }
    }

    fn drop_one(&mut self, entry: Entry, why: String) {
        self.admission.release(1, entry.held_bytes);
        self.counters.add_dropped(1);
        emit(Event::Error(ErrorEvent::new(
            ErrorKind::Flush(FlushState::Encoding),
            Error::SpanTooLarge(format!(
                "span `{}` is too big for any report ({why}); dropped",
                truncate(&entry.record.operation, 128)
            )),
        )));
    }

    /// Counts every span of the batch as dropped (close, disable).
    pub(crate) fn drop_all(&mut self) {
        let (count, bytes) = self.batch.clear();
        self.admission.release(count, bytes);
        self.counters.add_dropped(count as u64);
    }
}

/// What follows a failed attempt, for its event.
enum Next {
    /// Retried after this wait, within the same flush or close.
    In(Duration),
    /// The deadline leaves no room for another attempt.
    NoTime,
    /// A timer report: the next attempt waits this long.
    Later(Duration),
    /// Refused, not retried now; the next timer report waits this long.
    Refused(Duration),
}

fn failed_attempt(kind: ErrorKind, error: &Error, attempt: u32, next: Next) {
    let next = match next {
        Next::In(wait) => format!("retrying in {}", show(wait)),
        Next::NoTime => "not retried: no time left before the deadline".into(),
        Next::Later(wait) => format!("next attempt in {}", show(wait)),
        Next::Refused(wait) => format!("not retried now; next report in {}", show(wait)),
    };
    emit(Event::Error(ErrorEvent::with_attempt(
        kind,
        error.clone(),
        attempt,
        next,
    )));
}

fn show(wait: Duration) -> String {
    if wait >= Duration::from_secs(1) {
        format!("{:.1} s", wait.as_secs_f64())
    } else {
        format!("{} ms", wait.as_millis())
    }
}
