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
use crate::handoff::HandoffReceiver;
use crate::stats::{Counters, State};
use crate::Error;
use crossbeam_channel::{select, Receiver, Sender};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

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
        loop {
            // (The collector's `disable` may have come with the last report's answer.)
            if self.counters.state() == State::Disabled {
                return self.disable();
            }
            let now = Instant::now();
            let half_full = self.spans.admission.half_full();
            let wake_at = self.core.next_wake(now, half_full);
            select! {
                recv(self.spans.wake) -> message => {
                    if message.is_err() {
                        return self.last_report();
                    }
                }
                recv(self.control) -> message => match message {
                    Ok(Control::Flush { deadline, reply }) => {
                        // What was finished before the flush; later spans are not waited for.
                        self.take(self.spans.queued());
                        let _ = reply.send(self.send(Until::Deadline(deadline)));
                    }
                    Ok(Control::Disable) => return self.disable(),
                    #[cfg(all(test, feature = "collector"))]
                    Ok(Control::Panic) => panic!("injected reporter panic"),
                    Err(_) => return self.last_report(),
                },
                recv(self.close) -> message => {
                    let Ok(deadline) = message else {
                        return self.last_report();
                    };
                    self.take(usize::MAX);
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
            self.take(usize::MAX);
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

    /// Moves up to `limit` queued spans into the core's batch.
    fn take(&mut self, limit: usize) {
        for _ in 0..limit {
            match self.spans.try_recv() {
                Some(finished) => self.core.admit(finished),
                None => break,
            }
        }
    }

    /// Every tracer handle is gone: deliver what is left, within `close_timeout`.
    fn last_report(&mut self) {
        self.take(usize::MAX);
        let deadline = Instant::now() + self.last_report_timeout;
        let _ = self.send(Until::Deadline(deadline));
        self.drop_held();
    }

    /// After close or disable: every span that still arrives is counted dropped.
    fn linger(&mut self) {
        loop {
            select! {
                recv(self.spans.queue()) -> message => match message {
                    Ok(finished) => {
                        self.spans.admission.release(1, finished.held_bytes);
                        self.counters.add_dropped(1);
                    }
                    Err(_) => return,
                },
                recv(self.control) -> message => match message {
                    Ok(Control::Flush { reply, .. }) => {
                        let _ = reply.send(Err(Error::Closed));
                    }
                    Ok(_) => {}
                    Err(_) => return,
                },
            }
        }
    }

    fn disable(&mut self) {
        self.counters.set_state(State::Disabled);
        self.drop_held();
        emit(Event::TracerDisabled);
    }

    /// Counts everything held, queued and in the batch, as dropped.
    fn drop_held(&mut self) {
        self.take(usize::MAX);
        self.core.drop_all();
    }
}
