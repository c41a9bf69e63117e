//! The seam between the reporter's core and the wire: one encoded report in, one
//! [`Attempt`] out. HTTP (`http.rs`) and gRPC (`grpc.rs`) implement [`Transport`]; the
//! core's tests use the in-memory transport at the bottom of this file.

use super::retry::Retry;
use crate::event::ErrorKind;
use crate::Error;
use std::time::Duration;

/// Sends one encoded report. Implementations do their own I/O and nothing else: what to
/// send, when, and what an outcome means for the spans is the core's business.
pub(crate) trait Transport: Send {
    /// Sends `body`, waiting at most `timeout` for the whole exchange.
    fn send(&mut self, body: &[u8], timeout: Duration) -> Attempt;
}

/// What came of one attempt.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The collector took the spans: they are delivered, whatever else it said.
    Accepted(Accepted),
    /// It did not: the spans are kept (or split, or given up), as `Failure::retry` says.
    Failed(Failure),
}

/// The collector's answer to an accepted report.
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    /// Error messages the collector sent back.
    pub(crate) errors: Vec<String>,
    /// The collector told the tracer to stop (`disable`).
    pub(crate) disable: bool,
    /// Spans of the report that the collector took but refused to keep (OTLP's
    /// `partial_success.rejected_spans`): counted dropped.
    pub(crate) rejected: u64,
    /// The answer could not be read (the spans still count as delivered).
    pub(crate) unreadable: Option<Error>,
}

/// An attempt that delivered nothing.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) error: Error,
    pub(crate) retry: Retry,
    /// How long the collector asked the tracer to wait (`Retry-After`).
    pub(crate) retry_after: Option<Duration>,
}

impl Failure {
    pub(crate) fn new(kind: ErrorKind, error: Error, retry: Retry) -> Failure {
        Failure {
            kind,
            error,
            retry,
            retry_after: None,
        }
    }

    /// The failure, naming the collector (`host:port`) it was talking to.
    pub(crate) fn at(mut self, collector: &str) -> Failure {
        self.error = at(self.error, collector);
        self
    }
}

impl Accepted {
    /// The answer, its unreadable part naming the collector (`host:port`).
    pub(crate) fn at(mut self, collector: &str) -> Accepted {
        self.unreadable = self.unreadable.map(|error| at(error, collector));
        self
    }
}

/// `error`, naming the collector (`host:port`) when it is a sending error.
fn at(error: Error, collector: &str) -> Error {
    match error {
        Error::Transport(error) => Error::Transport(error.at(collector)),
        Error::Collector(error) => Error::Collector(error.at(collector)),
        other => other,
    }
}

impl Attempt {
    /// The attempt, its errors naming the collector (`host:port`) it was talking to.
    pub(crate) fn at(self, collector: &str) -> Attempt {
        match self {
            Attempt::Failed(failure) => Attempt::Failed(failure.at(collector)),
            Attempt::Accepted(accepted) => Attempt::Accepted(accepted.at(collector)),
        }
    }
}

#[cfg(test)]
pub(crate) mod memory {
    //! A transport that answers from a script and keeps what it was sent, for the
    //! core's tests: no sockets, and time only as the test's clock says.

    use super::*;
    use crate::error::{CollectorStatus, ReportError};
    use crate::proto::collector::ReportRequest;
    use prost::Message;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    /// A clock the test moves: sleeping advances it at once.
    #[derive(Debug, Clone)]
    pub(crate) struct TestClock(Arc<Mutex<Instant>>);

    impl TestClock {
        pub(crate) fn new() -> TestClock {
            TestClock(Arc::new(Mutex::new(Instant::now())))
        }
        pub(crate) fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl super::super::core::Clock for TestClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
        fn sleep(&mut self, duration: Duration) {
            self.advance(duration);
        }
    }

    /// One scripted answer.
    #[derive(Debug, Clone)]
    pub(crate) enum Script {
        Accept,
        /// Accepted, with the `disable` command.
        AcceptAndDisable,
        /// Accepted, with an answer that cannot be read.
        AcceptGarbage,
        /// Refused with this HTTP status (and `Retry-After`).
        Status(u16, Option<Duration>),
        /// Refused when the body is over this many bytes (413), else accepted.
        Limit(usize),
        /// No answer within the timeout (the clock moves by all of it).
        Timeout,
    }

    /// What the transport saw.
    #[derive(Debug, Default)]
    pub(crate) struct Log {
        /// Every request, decoded, with its status (200 when accepted).
        pub(crate) requests: Vec<(ReportRequest, u16)>,
        /// When each attempt was made, by the test clock.
        pub(crate) times: Vec<Instant>,
    }

    pub(crate) struct MemoryTransport {
        /// Counted one more drop on each send (callers dropping spans meanwhile).
        pub(crate) drops_meanwhile: Option<Arc<crate::stats::Counters>>,
        pub(crate) script: Vec<Script>,
        /// Used once the script runs out.
        pub(crate) then: Script,
        pub(crate) clock: TestClock,
        pub(crate) log: Arc<Mutex<Log>>,
    }

    impl MemoryTransport {
        pub(crate) fn new(script: Vec<Script>, then: Script, clock: TestClock) -> Self {
            MemoryTransport {
                drops_meanwhile: None,
                script: script.into_iter().rev().collect(),
                then,
                clock,
                log: Arc::default(),
            }
        }
    }

    impl Transport for MemoryTransport {
        fn send(&mut self, body: &[u8], timeout: Duration) -> Attempt {
            if let Some(counters) = &self.drops_meanwhile {
                counters.add_finished();
                counters.add_dropped(1);
            }
            let step = self.script.pop().unwrap_or_else(|| self.then.clone());
            let request = ReportRequest::decode(body).expect("the core sends ReportRequests");
            let mut log = self.log.lock().unwrap();
            log.times.push(super::super::core::Clock::now(&self.clock));
            let refuse = |status: u16, after: Option<Duration>| {
                let mut failure = Failure::new(
                    ErrorKind::Flush(crate::event::FlushState::Report),
                    Error::Collector(
                        ReportError::new(format!("HTTP status {status}"))
                            .with_status(CollectorStatus::Http(status)),
                    ),
                    Retry::for_status(status),
                );
                failure.retry_after = after;
                Attempt::Failed(failure)
            };
            let (attempt, status) = match step {
                Script::Accept => (Attempt::Accepted(Accepted::default()), 200),
                Script::AcceptAndDisable => (
                    Attempt::Accepted(Accepted {
                        disable: true,
                        ..Accepted::default()
                    }),
                    200,
                ),
                Script::AcceptGarbage => (
                    Attempt::Accepted(Accepted {
                        unreadable: Some(Error::Collector(ReportError::new("garbage"))),
                        ..Accepted::default()
                    }),
                    200,
                ),
                Script::Status(status, after) => (refuse(status, after), status),
                Script::Limit(limit) if body.len() > limit => (refuse(413, None), 413),
                Script::Limit(_) => (Attempt::Accepted(Accepted::default()), 200),
                Script::Timeout => {
                    self.clock.advance(timeout);
                    (
                        Attempt::Failed(Failure::new(
                            ErrorKind::Flush(crate::event::FlushState::Transport),
                            Error::Transport(ReportError::new("no answer")),
                            Retry::Later,
                        )),
                        0,
                    )
                }
            };
            log.requests.push((request, status));
            attempt
        }
    }
}
