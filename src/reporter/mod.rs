//! The reporter thread: the I/O shell around the reporter's [`core`]. It takes finished
//! spans from the hand-off, answers flush, close and disable, wakes on its timer, and
//! lends the core a transport and the real clock.
//!
//! - `core.rs`: what to send and when, retries, accounting (no I/O);
//! - `batch.rs`: the spans waiting, readied a request at a time;
//! - `retry.rs`: the backoff schedule, `Retry-After`, which failures are retried;
//! - `transport.rs`: the seam every wire implements;
//! - `http.rs`, `grpc.rs`, `otlp.rs`: the wires.

pub(crate) mod batch;
pub(crate) mod core;
#[cfg(feature = "grpc")]
pub(crate) mod grpc;
pub(crate) mod http;
pub(crate) mod otlp;
pub(crate) mod retry;
#[cfg(test)]
mod tests;
pub(crate) mod transport;

use self::core::{Core, SystemClock, Until};
use self::transport::Transport;
use crate::event::{emit, ErrorEvent, ErrorKind, Event, FlushState};
use crate::handoff::{Finished, HandoffReceiver};
use crate::stats::{Counters, State};
use crate::Error;
use crossbeam_channel::{select, Receiver, Sender};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often the reporter looks for spans while it waits for the last open spans of a
/// tracer without handles, and after a close.
const POLL: Duration = Duration::from_millis(50);

/// How often a stopped tracer's reporter counts spans that were handed over as it
/// stopped (later ones are counted where they finish).
const LINGER_POLL: Duration = Duration::from_millis(500);

/// The wire `options` ask for, its settings checked.
pub(crate) struct Connection {
    pub(crate) wire: Box<dyn Transport>,
    /// The HTTP agent, when the wire is HTTP (system metrics share its pool).
    pub(crate) agent: Option<ureq::Agent>,
    /// The largest report body the wire carries, given the configured one.
    pub(crate) max_report_bytes: usize,
}

pub(crate) fn connect(
    options: &crate::Options,
    endpoint: &crate::endpoint::Endpoint,
    token: &crate::endpoint::Secret,
) -> Result<Connection, Error> {
    use crate::options::Transport as Wire;
    match options.transport {
        Wire::Http => {
            let http = http::HttpTransport::new(options, endpoint, token)?;
            Ok(Connection {
                agent: Some(http.agent()),
                wire: Box::new(http),
                max_report_bytes: options.max_report_bytes,
            })
        }
        Wire::Otlp => {
            let otlp = otlp::OtlpTransport::new(options, endpoint, token)?;
            Ok(Connection {
                agent: Some(otlp.agent()),
                wire: Box::new(otlp),
                max_report_bytes: options.max_report_bytes,
            })
        }
        #[cfg(feature = "grpc")]
        Wire::Grpc => Ok(Connection {
            wire: Box::new(grpc::GrpcTransport::new(options, endpoint, token)?),
            agent: None,
            max_report_bytes: grpc::GrpcTransport::max_report_bytes(options.max_report_bytes),
        }),
        #[cfg(not(feature = "grpc"))]
        Wire::Grpc => Err(crate::options::grpc_unavailable()),
    }
}

/// Requests from tracer handles to the reporter thread.
pub(crate) enum Control {
    /// Send every span finished so far; reply when done.
    Flush {
        deadline: Instant,
        reply: Sender<Result<(), Error>>,
    },
    /// Stop reporting and discard what is held.
    Disable,
    /// Make the reporter thread panic, to test that a panic is contained.
    #[cfg(all(test, feature = "collector"))]
    Panic,
}

/// The outcome of a tracer's close, set once by the reporter, awaited by every caller of
/// `close` (and by flushes made while it runs).
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    result: Mutex<Option<Result<(), Error>>>,
    ready: Condvar,
}

impl Outcome {
    fn set(&self, result: Result<(), Error>) {
        let mut slot = self
            .result
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none() {
            *slot = Some(result);
        }
        self.ready.notify_all();
    }

    /// The outcome, waiting for it until `deadline`; `None` if it is not known by then.
    pub(crate) fn wait(&self, deadline: Instant) -> Option<Result<(), Error>> {
        let mut slot = self
            .result
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            if let Some(result) = slot.as_ref() {
                return Some(result.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            slot = match self.ready.wait_timeout(slot, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

pub(crate) struct Reporter {
    spans: HandoffReceiver,
    control: Receiver<Control>,
    /// Close: send everything by the deadline, then stop reporting; the outcome goes to
    /// the tracer's [`Outcome`], for every caller of `close` to see.
    close: Receiver<Instant>,
    counters: Arc<Counters>,
    core: Core,
    transport: Box<dyn Transport>,
    clock: SystemClock,
    closed: Arc<Outcome>,
    /// Dropped when reporting stops, which stops the system-metrics thread.
    stop: Option<Sender<()>>,
    /// Every tracer handle is gone: a last report is made within this.
    last_report_timeout: std::time::Duration,
}

impl Reporter {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        spans: HandoffReceiver,
        control: Receiver<Control>,
        close: Receiver<Instant>,
        counters: Arc<Counters>,
        core: Core,
        transport: Box<dyn Transport>,
        closed: Arc<Outcome>,
        stop: Option<Sender<()>>,
        last_report_timeout: std::time::Duration,
    ) -> Reporter {
        Reporter {
            spans,
            control,
            close,
            counters,
            core,
            transport,
            clock: SystemClock,
            closed,
            stop,
            last_report_timeout,
        }
    }

    /// The thread's body: report until closed or disabled, then count stragglers.
    pub(crate) fn run(mut self) {
        let outcome = catch_unwind(AssertUnwindSafe(|| self.report_loop()));
        if outcome.is_err() {
            self.counters.set_state(State::Disabled);
            self.drop_held();
            emit(Event::Error(ErrorEvent::new(
                ErrorKind::Flush(FlushState::Disabled),
                Error::Transport(crate::error::ReportError::new(
                    "the reporter thread panicked; spans are now dropped",
                )),
            )));
            self.closed.set(Err(Error::Closed));
        }
        self.stop = None;
        self.linger();
    }

    fn report_loop(&mut self) {
        // Every handle is gone (since when): spans still open keep the reporter until they
        // finish, or for `close_timeout` at most (later ones are counted dropped).
        let mut orphaned: Option<Instant> = None;
        loop {
            // (The collector's `disable` may have come with the last report's answer.)
            if self.counters.state() == State::Disabled {
                return self.disable();
            }
            // What the lanes hold now counts in when to wake: spans finished while the
            // last report was sent are not left waiting for the long period.
            self.take();
            let now = Instant::now();
            let half_full = self.spans.admission.half_full();
            let mut wake_at = self.core.next_wake(now, half_full);
            if let Some(since) = orphaned {
                // Every span finished, and each is in the batch (a span is counted
                // finished a moment before its lane publishes it).
                let stats = self.counters.snapshot();
                let settled =
                    stats.finished >= stats.started && stats.pending <= self.core.batched() as u64;
                if settled || now.saturating_duration_since(since) >= self.last_report_timeout {
                    return self.last_report();
                }
                wake_at = wake_at.min(now + POLL);
            }
            let (control, close) = if orphaned.is_some() {
                (crossbeam_channel::never(), crossbeam_channel::never())
            } else {
                (self.control.clone(), self.close.clone())
            };
            select! {
                recv(self.spans.wake) -> _ => {}
                recv(control) -> message => match message {
                    Ok(Control::Flush { deadline, reply }) => {
                        // What was finished before the flush; later spans are not waited for.
                        self.take();
                        let _ = reply.send(self.send(Until::Deadline(deadline)));
                    }
                    Ok(Control::Disable) => return self.disable(),
                    #[cfg(all(test, feature = "collector"))]
                    Ok(Control::Panic) => panic!("injected reporter panic"),
                    Err(_) => orphaned = Some(Instant::now()),
                },
                recv(close) -> message => {
                    let Ok(deadline) = message else {
                        orphaned = Some(Instant::now());
                        continue;
                    };
                    self.take();
                    let result = self.send(Until::Deadline(deadline));
                    self.drop_held();
                    if self.counters.state() == State::Disabled {
                        emit(Event::TracerDisabled);
                    }
                    self.closed.set(result);
                    return;
                }
                default(wake_at.saturating_duration_since(now)) => {}
            }
            if self.counters.state() == State::Disabled {
                return self.disable();
            }
            self.take();
            let now = Instant::now();
            if self.core.is_due(now, self.spans.admission.half_full()) {
                let _ = self.send(Until::Timer);
            }
        }
    }

    fn send(&mut self, until: Until) -> Result<(), Error> {
        self.core
            .send(self.transport.as_mut(), &mut self.clock, until)
    }

    /// Moves every span handed over so far into the core's batch.
    fn take(&mut self) {
        let core = &mut self.core;
        self.spans
            .drain(|record| core.admit(Finished::from_compact(record)));
    }

    /// Every tracer handle is gone and every span finished: deliver what is left,
    /// within `close_timeout`.
    fn last_report(&mut self) {
        self.take();
        let deadline = Instant::now() + self.last_report_timeout;
        let _ = self.send(Until::Deadline(deadline));
        self.counters.leave_running(State::Closed);
        self.drop_held();
    }

    /// After close or disable: every span that still arrives is counted dropped, until
    /// every handle is gone. Then nothing more is taken: later spans are counted dropped
    /// where they finish.
    fn linger(&mut self) {
        loop {
            select! {
                recv(self.control) -> message => match message {
                    Ok(Control::Flush { reply, .. }) => {
                        let _ = reply.send(Err(Error::Closed));
                    }
                    Ok(_) => {}
                    Err(_) => break,
                },
                default(LINGER_POLL) => {}
            }
            self.drop_stragglers();
        }
        self.counters.set_state(State::Gone);
        self.drop_stragglers();
        self.spans.release_pool();
        self.counters.forget_lanes();
    }

    /// Counts the spans that were handed over after the tracer stopped as dropped.
    fn drop_stragglers(&mut self) {
        let admission = std::sync::Arc::clone(&self.spans.admission);
        let counters = &self.counters;
        self.spans.drain(|record| {
            admission.release(1, record.held_bytes());
            counters.add_dropped(1);
        });
    }

    fn disable(&mut self) {
        self.counters.set_state(State::Disabled);
        self.drop_held();
        emit(Event::TracerDisabled);
    }

    /// Counts everything held, queued and in the batch, as dropped.
    fn drop_held(&mut self) {
        self.take();
        self.core.drop_all();
    }
}
