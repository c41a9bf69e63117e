//! Events the tracer reports about itself, and the global handler that receives them.

use crate::Error;
use crossbeam_channel::{bounded, Sender};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// Something the tracer wants its user to know.
///
/// Delivered to the handler set with [`set_global_event_handler`], mostly from the
/// reporter thread. Every event is `Display`.
///
/// # Examples
///
/// ```
/// lightstep::set_global_event_handler(|event| match event {
///     lightstep::Event::StatusReport(report) if report.dropped_spans() > 0 => {
///         eprintln!("tracer: {} spans dropped", report.dropped_spans())
///     }
///     lightstep::Event::StatusReport(_) => {}
///     lightstep::Event::Error(error) => eprintln!("tracer error: {error}"),
///     other => eprintln!("tracer: {other}"),
/// });
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A report reached the collector.
    StatusReport(StatusReport),
    /// Runtime metrics were sent.
    MetricsStatusReport(MetricsStatusReport),
    /// Something failed; see [`ErrorEvent::kind`].
    Error(ErrorEvent),
    /// The tracer was disabled (by the collector or by [`Tracer::disable`](crate::Tracer::disable))
    /// and records nothing more.
    TracerDisabled,
    /// A tracer could not start.
    StartError(Error),
    /// A value could not be sent as given and was converted.
    UnsupportedValue(UnsupportedValue),
    /// No component name was set; the one shown is used instead.
    MissingService(MissingService),
    /// An extracted context carried more baggage than the limits (1024 items, 64 KiB):
    /// the context was kept, the items past the limits dropped.
    BaggageDropped(BaggageDropped),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::StatusReport(r) => r.fmt(f),
            Event::MetricsStatusReport(r) => {
                write!(f, "metrics status report: sent {} metrics", r.sent_metrics)
            }
            Event::Error(e) => e.fmt(f),
            Event::TracerDisabled => f.write_str("the tracer is disabled"),
            Event::StartError(e) => write!(f, "the tracer could not start: {e}"),
            Event::UnsupportedValue(v) => write!(
                f,
                "unsupported value for `{}`: {} (sent as {:?})",
                v.key, v.reason, v.sent_as
            ),
            Event::MissingService(m) => write!(
                f,
                "no component name was set; reporting as `{}`",
                m.default_name
            ),
            Event::BaggageDropped(b) => b.fmt(f),
        }
    }
}

/// The outcome of one report that the collector accepted.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "collector")] {
/// use lightstep::collector::LocalCollector;
/// use lightstep::{Event, Options, Tracer};
/// use std::time::Duration;
///
/// let (events, received) = crossbeam_channel::unbounded();
/// lightstep::set_global_event_handler(move |event| {
///     let _ = events.send(event.clone());
/// });
/// let collector = LocalCollector::start()?;
/// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
/// tracer.span("work").start().finish();
/// tracer.flush(Duration::from_secs(5))?;
/// let report = received
///     .iter()
///     .find_map(|event| match event {
///         Event::StatusReport(report) => Some(report),
///         _ => None,
///     })
///     .expect("a status report");
/// assert_eq!((report.sent_spans(), report.dropped_spans()), (1, 0));
/// eprintln!("{report}");
/// # }
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub(crate) start_time: SystemTime,
    pub(crate) finish_time: SystemTime,
    pub(crate) sent_spans: u64,
    pub(crate) dropped_spans: u64,
    pub(crate) encoding_errors: u64,
    pub(crate) flush_duration: Duration,
}

impl StatusReport {
    /// Start of the period this report covers.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Event, Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let (events, received) = crossbeam_channel::unbounded();
    /// lightstep::set_global_event_handler(move |event| {
    ///     let _ = events.send(event.clone());
    /// });
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// tracer.span("work").start().finish();
    /// tracer.flush(Duration::from_secs(5))?;
    /// let report = received
    ///     .iter()
    ///     .find_map(|event| match event {
    ///         Event::StatusReport(report) => Some(report),
    ///         _ => None,
    ///     })
    ///     .expect("a status report");
    /// assert!(report.start_time() <= report.finish_time());
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn start_time(&self) -> SystemTime {
        self.start_time
    }
    /// End of the period this report covers.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Event, Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let (events, received) = crossbeam_channel::unbounded();
    /// lightstep::set_global_event_handler(move |event| {
    ///     let _ = events.send(event.clone());
    /// });
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// tracer.span("work").start().finish();
    /// tracer.flush(Duration::from_secs(5))?;
    /// let report = received
    ///     .iter()
    ///     .find_map(|event| match event {
    ///         Event::StatusReport(report) => Some(report),
    ///         _ => None,
    ///     })
    ///     .expect("a status report");
    /// assert!(report.finish_time() <= std::time::SystemTime::now());
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn finish_time(&self) -> SystemTime {
        self.finish_time
    }
    /// Spans the collector accepted in this report.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Event, Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let (events, received) = crossbeam_channel::unbounded();
    /// lightstep::set_global_event_handler(move |event| {
    ///     let _ = events.send(event.clone());
    /// });
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// tracer.span("work").start().finish();
    /// tracer.flush(Duration::from_secs(5))?;
    /// let report = received
    ///     .iter()
    ///     .find_map(|event| match event {
    ///         Event::StatusReport(report) => Some(report),
    ///         _ => None,
    ///     })
    ///     .expect("a status report");
    /// assert_eq!(report.sent_spans(), 1);
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn sent_spans(&self) -> u64 {
        self.sent_spans
    }
    /// Spans dropped since the previous accepted report (the `spans.dropped` sent).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Event, Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let (events, received) = crossbeam_channel::unbounded();
    /// lightstep::set_global_event_handler(move |event| {
    ///     let _ = events.send(event.clone());
    /// });
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// tracer.span("work").start().finish();
    /// tracer.flush(Duration::from_secs(5))?;
    /// let report = received
    ///     .iter()
    ///     .find_map(|event| match event {
    ///         Event::StatusReport(report) => Some(report),
    ///         _ => None,
    ///     })
    ///     .expect("a status report");
    /// assert_eq!(report.dropped_spans(), 0);
    /// assert_eq!(tracer.stats().dropped, 0);
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn dropped_spans(&self) -> u64 {
        self.dropped_spans
    }
    /// Log fields that could not be encoded as given.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Event, Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let (events, received) = crossbeam_channel::unbounded();
    /// lightstep::set_global_event_handler(move |event| {
    ///     let _ = events.send(event.clone());
    /// });
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// tracer.span("work").start().finish();
    /// tracer.flush(Duration::from_secs(5))?;
    /// let report = received
    ///     .iter()
    ///     .find_map(|event| match event {
    ///         Event::StatusReport(report) => Some(report),
    ///         _ => None,
    ///     })
    ///     .expect("a status report");
    /// assert_eq!(report.encoding_errors(), 0);
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn encoding_errors(&self) -> u64 {
        self.encoding_errors
    }
    /// How long encoding and sending took.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Event, Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let (events, received) = crossbeam_channel::unbounded();
    /// lightstep::set_global_event_handler(move |event| {
    ///     let _ = events.send(event.clone());
    /// });
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// tracer.span("work").start().finish();
    /// tracer.flush(Duration::from_secs(5))?;
    /// let report = received
    ///     .iter()
    ///     .find_map(|event| match event {
    ///         Event::StatusReport(report) => Some(report),
    ///         _ => None,
    ///     })
    ///     .expect("a status report");
    /// assert!(report.flush_duration() < Duration::from_secs(5));
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn flush_duration(&self) -> Duration {
        self.flush_duration
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "status report: sent {} spans, dropped {}, {} encoding errors, in {:?}",
            self.sent_spans, self.dropped_spans, self.encoding_errors, self.flush_duration
        )
    }
}

/// The outcome of one runtime-metrics report.
///
/// # Examples
///
/// ```
/// lightstep::set_global_event_handler(|event| {
///     if let lightstep::Event::MetricsStatusReport(report) = event {
///         eprintln!("sent {} metric points", report.sent_metrics());
///     }
/// });
/// let options = lightstep::Options::new("YourAccessToken").system_metrics(true);
/// # drop(options);
/// ```
#[derive(Debug, Clone)]
pub struct MetricsStatusReport {
    pub(crate) sent_metrics: u64,
}

impl MetricsStatusReport {
    /// How many metric samples were sent.
    ///
    /// # Examples
    ///
    /// ```
    /// lightstep::set_global_event_handler(|event| {
    ///     if let lightstep::Event::MetricsStatusReport(report) = event {
    ///         assert_eq!(report.sent_metrics(), 6); // CPU user and system, RSS, threads, host memory
    ///     }
    /// });
    /// ```
    pub fn sent_metrics(&self) -> u64 {
        self.sent_metrics
    }
}

/// What kind of failure an [`ErrorEvent`] reports.
///
/// # Examples
///
/// ```
/// use lightstep::{ErrorKind, Event, Options, Tracer};
/// use std::time::Duration;
///
/// let (events, received) = crossbeam_channel::unbounded();
/// lightstep::set_global_event_handler(move |event| {
///     let _ = events.send(event.clone());
/// });
/// // Nothing listens on port 9 here: the report cannot be delivered.
/// let tracer = Tracer::new(Options::new("token").collector_url("http://127.0.0.1:9"))?;
/// tracer.span("work").start().finish();
/// assert!(tracer.flush(Duration::from_secs(5)).is_err());
/// let error = received
///     .iter()
///     .find_map(|event| match event {
///         Event::Error(error) => Some(error),
///         _ => None,
///     })
///     .expect("an error event");
/// assert_eq!(error.kind(), ErrorKind::Connection);
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The collector could not be reached (refused, unresolvable, TLS failure).
    Connection,
    /// A report could not be delivered; the state says at which step.
    Flush(FlushState),
}

/// Where a flush failed.
///
/// # Examples
///
/// ```
/// use lightstep::{ErrorKind, Event, FlushState, Options, Tracer};
/// use std::time::Duration;
///
/// let (events, received) = crossbeam_channel::unbounded();
/// lightstep::set_global_event_handler(move |event| {
///     let _ = events.send(event.clone());
/// });
/// let tracer = Tracer::new(Options::new("token").collector_url("http://127.0.0.1:9"))?;
/// tracer.close(Duration::from_secs(1))?;
/// assert!(tracer.flush(Duration::from_secs(1)).is_err());
/// let refused = received.iter().any(|event| {
///     matches!(event, Event::Error(e) if e.kind() == ErrorKind::Flush(FlushState::Closed))
/// });
/// assert!(refused);
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushState {
    /// Sending or receiving failed (timeout, reset, truncated reply).
    Transport,
    /// The collector answered with an error status or error messages.
    Report,
    /// The tracer was already closed.
    Closed,
    /// The tracer was disabled.
    Disabled,
    /// A span could not go in any report (too big) and was dropped.
    Encoding,
}

/// A failure inside the tracer.
///
/// # Examples
///
/// ```
/// use lightstep::{ErrorKind, Event, Options, Tracer};
/// use std::time::Duration;
///
/// let (events, received) = crossbeam_channel::unbounded();
/// lightstep::set_global_event_handler(move |event| {
///     let _ = events.send(event.clone());
/// });
/// // Nothing listens on port 9 here: the report cannot be delivered.
/// let tracer = Tracer::new(Options::new("token").collector_url("http://127.0.0.1:9"))?;
/// tracer.span("work").start().finish();
/// assert!(tracer.flush(Duration::from_secs(5)).is_err());
/// let error = received
///     .iter()
///     .find_map(|event| match event {
///         Event::Error(error) => Some(error),
///         _ => None,
///     })
///     .expect("an error event");
/// eprintln!("{error}"); // says what failed, never the access token
/// assert!(!error.to_string().contains("token"));
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ErrorEvent {
    pub(crate) kind: ErrorKind,
    pub(crate) error: Error,
    /// For a failed report: which attempt of the request it was, and what follows.
    pub(crate) attempt: Option<(u32, String)>,
}

impl ErrorEvent {
    pub(crate) fn new(kind: ErrorKind, error: Error) -> ErrorEvent {
        ErrorEvent {
            kind,
            error,
            attempt: None,
        }
    }

    pub(crate) fn with_attempt(
        kind: ErrorKind,
        error: Error,
        attempt: u32,
        next: String,
    ) -> ErrorEvent {
        ErrorEvent {
            kind,
            error,
            attempt: Some((attempt, next)),
        }
    }

    /// For a failed report: which attempt at sending it this was (from 1) within the
    /// flush, close or timer report that made it.
    pub fn attempt(&self) -> Option<u32> {
        self.attempt.as_ref().map(|(n, _)| *n)
    }
    /// What failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::{ErrorKind, Event, Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let (events, received) = crossbeam_channel::unbounded();
    /// lightstep::set_global_event_handler(move |event| {
    ///     let _ = events.send(event.clone());
    /// });
    /// // Nothing listens on port 9 here: the report cannot be delivered.
    /// let tracer = Tracer::new(Options::new("token").collector_url("http://127.0.0.1:9"))?;
    /// tracer.span("work").start().finish();
    /// assert!(tracer.flush(Duration::from_secs(5)).is_err());
    /// let error = received
    ///     .iter()
    ///     .find_map(|event| match event {
    ///         Event::Error(error) => Some(error),
    ///         _ => None,
    ///     })
    ///     .expect("an error event");
    /// assert_eq!(error.kind(), ErrorKind::Connection);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The underlying error.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::{ErrorKind, Event, Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let (events, received) = crossbeam_channel::unbounded();
    /// lightstep::set_global_event_handler(move |event| {
    ///     let _ = events.send(event.clone());
    /// });
    /// // Nothing listens on port 9 here: the report cannot be delivered.
    /// let tracer = Tracer::new(Options::new("token").collector_url("http://127.0.0.1:9"))?;
    /// tracer.span("work").start().finish();
    /// assert!(tracer.flush(Duration::from_secs(5)).is_err());
    /// let error = received
    ///     .iter()
    ///     .find_map(|event| match event {
    ///         Event::Error(error) => Some(error),
    ///         _ => None,
    ///     })
    ///     .expect("an error event");
    /// assert!(matches!(error.error(), lightstep::Error::Transport(_)), "{error}");
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn error(&self) -> &Error {
        &self.error
    }
}

impl fmt::Display for ErrorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Connection => write!(f, "connection error: {}", self.error)?,
            ErrorKind::Flush(state) => {
                let state = match state {
                    FlushState::Transport => "transport",
                    FlushState::Report => "report",
                    FlushState::Closed => "closed",
                    FlushState::Disabled => "disabled",
                    FlushState::Encoding => "encoding",
                };
                write!(f, "flush error ({state}): {}", self.error)?;
            }
        }
        match &self.attempt {
            Some((attempt, next)) => write!(f, " (attempt {attempt}; {next})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ErrorEvent {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// A value that was converted before sending.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "collector")] {
/// use lightstep::collector::LocalCollector;
/// use lightstep::{Event, Options, Tracer};
/// use std::time::Duration;
///
/// let (events, received) = crossbeam_channel::unbounded();
/// lightstep::set_global_event_handler(move |event| {
///     let _ = events.send(event.clone());
/// });
/// let collector = LocalCollector::start()?;
/// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
/// let mut span = tracer.span("work").start();
/// span.log([("ratio", lightstep::Value::Float(f64::NAN))]);
/// drop(span);
/// tracer.flush(Duration::from_secs(5))?;
/// let unsupported = received
///     .iter()
///     .find_map(|event| match event {
///         Event::UnsupportedValue(value) => Some(value),
///         _ => None,
///     })
///     .expect("an UnsupportedValue event");
/// eprintln!("{}: {}", unsupported.key(), unsupported.reason());
/// # }
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct UnsupportedValue {
    pub(crate) key: String,
    pub(crate) reason: &'static str,
    pub(crate) sent_as: String,
}

impl UnsupportedValue {
    /// The tag or log key.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Event, Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let (events, received) = crossbeam_channel::unbounded();
    /// lightstep::set_global_event_handler(move |event| {
    ///     let _ = events.send(event.clone());
    /// });
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// let mut span = tracer.span("work").start();
    /// span.log([("ratio", lightstep::Value::Float(f64::NAN))]);
    /// drop(span);
    /// tracer.flush(Duration::from_secs(5))?;
    /// let unsupported = received
    ///     .iter()
    ///     .find_map(|event| match event {
    ///         Event::UnsupportedValue(value) => Some(value),
    ///         _ => None,
    ///     })
    ///     .expect("an UnsupportedValue event");
    /// assert_eq!(unsupported.key(), "ratio");
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }
    /// Why it could not be sent as given.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Event, Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let (events, received) = crossbeam_channel::unbounded();
    /// lightstep::set_global_event_handler(move |event| {
    ///     let _ = events.send(event.clone());
    /// });
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// let mut span = tracer.span("work").start();
    /// span.log([("ratio", lightstep::Value::Float(f64::NAN))]);
    /// drop(span);
    /// tracer.flush(Duration::from_secs(5))?;
    /// let unsupported = received
    ///     .iter()
    ///     .find_map(|event| match event {
    ///         Event::UnsupportedValue(value) => Some(value),
    ///         _ => None,
    ///     })
    ///     .expect("an UnsupportedValue event");
    /// assert!(unsupported.reason().contains("non-finite"));
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn reason(&self) -> &str {
        self.reason
    }
    /// What was sent instead (`NaN`, `inf` and `-inf` for non-finite numbers, as strings).
    pub fn sent_as(&self) -> &str {
        &self.sent_as
    }
}

/// The component name chosen when none was configured.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "collector")] {
/// use lightstep::collector::LocalCollector;
/// use lightstep::{Event, Options, Tracer};
/// use std::time::Duration;
///
/// let (events, received) = crossbeam_channel::unbounded();
/// lightstep::set_global_event_handler(move |event| {
///     let _ = events.send(event.clone());
/// });
/// let collector = LocalCollector::start()?;
/// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
/// let name = received
///     .iter()
///     .find_map(|event| match event {
///         Event::MissingService(missing) => Some(missing.default_name().to_owned()),
///         _ => None,
///     })
///     .expect("a MissingService event");
/// assert!(!name.is_empty()); // the executable's name
/// # drop(tracer);
/// # }
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MissingService {
    pub(crate) default_name: String,
}

impl MissingService {
    /// The name reported instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Event, Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let (events, received) = crossbeam_channel::unbounded();
    /// lightstep::set_global_event_handler(move |event| {
    ///     let _ = events.send(event.clone());
    /// });
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// let name = received
    ///     .iter()
    ///     .find_map(|event| match event {
    ///         Event::MissingService(missing) => Some(missing.default_name().to_owned()),
    ///         _ => None,
    ///     })
    ///     .expect("a MissingService event");
    /// assert!(!name.is_empty()); // the executable's name
    /// # drop(tracer);
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn default_name(&self) -> &str {
        &self.default_name
    }
}

/// Baggage dropped from an extracted context for passing the limits.
#[derive(Debug, Clone)]
pub struct BaggageDropped {
    pub(crate) format: &'static str,
    pub(crate) dropped_items: usize,
    pub(crate) kept_items: usize,
    pub(crate) reason: &'static str,
}

impl BaggageDropped {
    /// The format the context was extracted in (`lightstep`, `b3`, `tracecontext`,
    /// `lightstep binary`).
    pub fn format(&self) -> &str {
        self.format
    }
    /// How many baggage items were dropped.
    pub fn dropped_items(&self) -> usize {
        self.dropped_items
    }
    /// How many baggage items the context kept.
    pub fn kept_items(&self) -> usize {
        self.kept_items
    }
    /// The first limit passed: `more than 1024 baggage items` or `more than 65536 bytes of
    /// baggage`.
    pub fn reason(&self) -> &str {
        self.reason
    }
}

impl fmt::Display for BaggageDropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "extracted {} context: dropped {} baggage items ({}), kept {} and the trace",
            self.format, self.dropped_items, self.reason, self.kept_items
        )
    }
}

type Handler = Arc<dyn Fn(&Event) + Send + Sync + 'static>;

static HANDLER: RwLock<Option<Handler>> = RwLock::new(None);
static LOGGED_FIRST_ERROR: AtomicBool = AtomicBool::new(false);

/// Events wait here for the dispatch thread; when it is full (a handler that blocks),
/// new events are dropped rather than blocking the tracer.
const QUEUE_CAPACITY: usize = 4096;

struct Dispatch {
    queue: Sender<Event>,
    /// Events queued, and events handled (or dropped), since the process started.
    queued: AtomicU64,
    done: AtomicU64,
}

static DISPATCH: OnceLock<Option<Dispatch>> = OnceLock::new();

/// Sends every event of every tracer in this process to `handler`.
///
/// Set it before [`init`](crate::init) to see start-up events. Events are delivered in
/// order on a dedicated thread (`lightstep-events`), so a slow handler never slows the
/// tracer: if it falls thousands of events behind, further events are discarded. A
/// handler that panics is caught. Until a handler is set, the first error event is
/// printed to standard error and the rest are ignored.
///
/// ```
/// lightstep::set_global_event_handler(|event| match event {
///     lightstep::Event::StatusReport(r) => eprintln!("dropped {}", r.dropped_spans()),
///     other => eprintln!("tracer: {other}"),
/// });
/// ```
pub fn set_global_event_handler(handler: impl Fn(&Event) + Send + Sync + 'static) {
    let handler: Handler = Arc::new(handler);
    match HANDLER.write() {
        Ok(mut slot) => *slot = Some(handler),
        Err(poisoned) => *poisoned.into_inner() = Some(handler),
    }
}

fn dispatch() -> Option<&'static Dispatch> {
    DISPATCH
        .get_or_init(|| {
            let (queue, events) = bounded::<Event>(QUEUE_CAPACITY);
            std::thread::Builder::new()
                .name("lightstep-events".into())
                .spawn(move || {
                    for event in events {
                        deliver(&event);
                        if let Some(dispatch) = DISPATCH.get().and_then(Option::as_ref) {
                            dispatch.done.fetch_add(1, Ordering::Release);
                        }
                    }
                })
                .ok()?;
            Some(Dispatch {
                queue,
                queued: AtomicU64::new(0),
                done: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Queues one event for the handler. Never blocks.
pub(crate) fn emit(event: Event) {
    let Some(dispatch) = dispatch() else {
        return;
    };
    dispatch.queued.fetch_add(1, Ordering::AcqRel);
    if dispatch.queue.try_send(event).is_err() {
        dispatch.done.fetch_add(1, Ordering::Release);
    }
}

/// Waits until the events queued so far were handled, or `deadline` passes, or the
/// handler stops making progress (a handler that blocks costs a caller 50 ms, not its
/// whole deadline).
pub(crate) fn drain(deadline: Instant) {
    const STALL: Duration = Duration::from_millis(50);
    let Some(dispatch) = DISPATCH.get().and_then(Option::as_ref) else {
        return;
    };
    let target = dispatch.queued.load(Ordering::Acquire);
    let mut done = dispatch.done.load(Ordering::Acquire);
    let mut progress_at = Instant::now();
    while done < target {
        let now = Instant::now();
        if now >= deadline || now.duration_since(progress_at) >= STALL {
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
        let now_done = dispatch.done.load(Ordering::Acquire);
        if now_done != done {
            done = now_done;
            progress_at = Instant::now();
        }
    }
}

/// Calls the handler, never letting its panic escape.
fn deliver(event: &Event) {
    let handler = match HANDLER.read() {
        Ok(slot) => slot.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    match handler {
        Some(handler) => {
            let _ = catch_unwind(AssertUnwindSafe(|| handler(event)));
        }
        None => {
            if matches!(event, Event::Error(_) | Event::StartError(_))
                && !LOGGED_FIRST_ERROR.swap(true, Ordering::Relaxed)
            {
                eprintln!("lightstep: {event} (further errors are not printed; set an event handler to see them)");
            }
        }
    }
}
