//! The crate's one error type, [`Error`], and [`ReportError`], what its `Transport` and
//! `Collector` variants carry: the collector (`host:port`) that was being talked to, the
//! status it answered, a message, and the underlying error as
//! [`source`](std::error::Error::source) (the `io::Error`, TLS error or gRPC status itself,
//! not its text). No error, and no error in a source chain, carries the access token.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// Everything that can go wrong in this crate.
///
/// No variant ever carries the access token: not in its `Display` or `Debug`, and not in
/// those of any error in its [`source`](std::error::Error::source) chain.
///
/// Sending errors ([`Error::Transport`], [`Error::Collector`]) carry a [`ReportError`]: the
/// collector's `host:port`, the status it answered ([`CollectorStatus`]) and the
/// underlying error, which `source()` returns as it was (downcast it to `std::io::Error`,
/// `rustls::Error`, `tonic::Status`, …). Two errors are equal when their variants and
/// texts are; the sources are not compared.
///
/// # Examples
///
/// ```
/// use lightstep::{Error, Options, Tracer};
/// use std::time::Duration;
///
/// // Options are checked when the tracer starts: the error names the one at fault.
/// match Tracer::new(Options::new("")) {
///     Err(Error::InvalidOption { option, reason }) => {
///         assert_eq!(option, "access_token");
///         eprintln!("not tracing: {reason}");
///     }
///     other => panic!("{other:?}"),
/// }
///
/// // A closed tracer refuses to flush.
/// let tracer = Tracer::new(Options::new("token").collector_url("http://127.0.0.1:9"))?;
/// tracer.close(Duration::from_secs(1))?;
/// assert_eq!(tracer.flush(Duration::from_secs(1)), Err(Error::Closed));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An option or `LIGHTSTEP_*` variable has a value the tracer cannot use.
    InvalidOption {
        /// The option or environment variable at fault.
        option: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// [`init`](crate::init) was called when a global tracer was already installed.
    AlreadyInitialized,
    /// A carrier held a span context that could not be read. (A carrier that holds none
    /// is not an error: extraction answers `Ok(None)`.)
    SpanContextCorrupted {
        /// The propagation format that was reading it.
        format: &'static str,
        /// The carrier key (or part) that was bad.
        key: String,
        /// What was wrong with it.
        reason: String,
    },
    /// Sending a report failed before the collector answered (the connection was refused
    /// or broke, TLS failed, no answer came in time, …), or the reporter could not start.
    Transport(ReportError),
    /// The collector answered with an error (an HTTP status other than 200, a gRPC status
    /// other than `OK`, errors in its answer), or with an answer that could not be read.
    Collector(ReportError),
    /// An operation did not finish within its time bound.
    Timeout,
    /// A span was too big to send in any report, and was dropped.
    SpanTooLarge(String),
    /// The tracer is closed (or disabled) and cannot do what was asked.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidOption { option, reason } => {
                write!(f, "invalid option {option}: {reason}")
            }
            Error::AlreadyInitialized => f.write_str("the global tracer is already initialized"),
            Error::SpanContextCorrupted {
                format,
                key,
                reason,
            } => write!(f, "corrupted {format} span context at `{key}`: {reason}"),
            Error::Transport(error) => write!(f, "transport error: {error}"),
            Error::Collector(error) => write!(f, "collector error: {error}"),
            Error::Timeout => f.write_str("timed out"),
            Error::SpanTooLarge(reason) => f.write_str(reason),
            Error::Closed => f.write_str("the tracer is closed"),
        }
    }
}

/// The underlying error of a [`Error::Transport`] or [`Error::Collector`], as it was.
impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Transport(error) | Error::Collector(error) => error.cause(),
            _ => None,
        }
    }
}

impl Error {
    /// This error with every copy of `token` masked, for texts that come from outside
    /// (a collector's answer may echo what it was sent). A token of a few characters
    /// would be found by chance in any text, and is no secret: it is left alone.
    pub(crate) fn redacted(self, token: &str) -> Error {
        match self {
            Error::Transport(error) => Error::Transport(error.redacted(token)),
            Error::Collector(error) => Error::Collector(error.redacted(token)),
            other => other,
        }
    }

    pub(crate) fn invalid(option: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidOption {
            option,
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupted(
        format: &'static str,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Error {
        Error::SpanContextCorrupted {
            format,
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// `text` with every copy of `token` masked. A token of a few characters would be found by
/// chance in any text, and is no secret: it is left alone.
pub(crate) fn mask(text: &str, token: &str) -> String {
    if token.len() < 6 {
        text.to_owned()
    } else {
        text.replace(token, "<redacted>")
    }
}

/// What went wrong sending to a collector (or starting to): the detail of
/// [`Error::Transport`] and [`Error::Collector`].
///
/// Its `Display` is the message after the collector's `host:port` (when there was one); the
/// message already says what the underlying error said, so that a handler printing
/// `{error}` alone tells the whole story. [`source`](StdError::source) gives the
/// underlying error itself. Clones share the source.
///
/// # Examples
///
/// ```
/// use lightstep::{Error, Event, Options, Tracer};
/// use std::time::Duration;
///
/// let (events, received) = crossbeam_channel::unbounded();
/// lightstep::set_global_event_handler(move |event| {
///     if let Event::Error(error) = event {
///         let _ = events.send(error.error().clone());
///     }
/// });
/// // A closed port: the connection is refused, and the io::Error that says so is the source.
/// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
/// let tracer = Tracer::new(Options::new("token").collector_url(format!("http://127.0.0.1:{port}")))?;
/// tracer.span("work").start().finish();
/// assert!(tracer.flush(Duration::from_secs(1)).is_err());
/// let Ok(Error::Transport(error)) = received.recv() else { panic!("a transport error") };
/// assert_eq!(error.collector(), Some(format!("127.0.0.1:{port}").as_str()));
/// let cause = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<std::io::Error>());
/// assert_eq!(cause.map(|e| e.kind()), Some(std::io::ErrorKind::ConnectionRefused));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ReportError {
    collector: Option<String>,
    status: Option<CollectorStatus>,
    message: String,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl ReportError {
    pub(crate) fn new(message: impl Into<String>) -> ReportError {
        ReportError {
            collector: None,
            status: None,
            message: message.into(),
            source: None,
        }
    }

    /// This error, caused by `source` (an error, or one already boxed).
    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// This error, with the status the collector answered.
    pub(crate) fn with_status(mut self, status: CollectorStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// This error, naming the collector (`host:port`) it was talking to.
    pub(crate) fn at(mut self, collector: &str) -> Self {
        self.collector = Some(collector.to_owned());
        self
    }

    /// The collector (`host:port`) that was being talked to; `None` for an error before
    /// there was one (the reporter thread could not start, …).
    ///
    /// ```
    /// # use lightstep::Error;
    /// fn collector_of(error: &Error) -> Option<&str> {
    ///     match error {
    ///         Error::Transport(e) | Error::Collector(e) => e.collector(),
    ///         _ => None,
    ///     }
    /// }
    /// ```
    pub fn collector(&self) -> Option<&str> {
        self.collector.as_deref()
    }

    /// The status the collector answered with, when it answered: an HTTP status, or a gRPC
    /// code (also for the gRPC codes judged transport errors: `UNAVAILABLE`, …).
    ///
    /// ```
    /// # use lightstep::{CollectorStatus, Error};
    /// fn refused_token(error: &Error) -> bool {
    ///     match error {
    ///         Error::Collector(e) => matches!(
    ///             e.status(),
    ///             Some(CollectorStatus::Http(401) | CollectorStatus::Grpc(16))
    ///         ),
    ///         _ => false,
    ///     }
    /// }
    /// ```
    pub fn status(&self) -> Option<CollectorStatus> {
        self.status
    }

    /// What went wrong, without the collector's name.
    ///
    /// ```
    /// # fn show(error: &lightstep::ReportError) {
    /// eprintln!("{}", error.message());
    /// # }
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    fn cause(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }

    /// This error with every copy of `token` masked in its texts; a source whose chain
    /// shows the token anywhere (`Display` or `Debug`) is replaced by its masked text.
    fn redacted(mut self, token: &str) -> ReportError {
        if token.len() < 6 {
            return self;
        }
        self.message = mask(&self.message, token);
        self.collector = self.collector.map(|c| mask(&c, token));
        if let Some(source) = self.source.take() {
            self.source = Some(if shows(&*source, token) {
                Arc::new(Masked(mask(&chain(&*source), token)))
            } else {
                source
            });
        }
        self
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.collector {
            Some(collector) => write!(f, "{collector}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl fmt::Debug for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportError")
            .field("collector", &self.collector)
            .field("status", &self.status)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

/// Equal when the collector, status and message are; the sources are not compared.
impl PartialEq for ReportError {
    fn eq(&self, other: &Self) -> bool {
        self.collector == other.collector
            && self.status == other.status
            && self.message == other.message
    }
}

impl Eq for ReportError {}

impl StdError for ReportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause()
    }
}

/// The status a collector answered with.
///
/// # Examples
///
/// ```
/// use lightstep::CollectorStatus;
///
/// assert_eq!(CollectorStatus::Http(503).to_string(), "HTTP status 503");
/// assert_eq!(CollectorStatus::Grpc(8).to_string(), "gRPC status RESOURCE_EXHAUSTED (8)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CollectorStatus {
    /// An HTTP status (LightStep's HTTP transport, OTLP/HTTP, system metrics).
    Http(u16),
    /// A gRPC status code, as numbered by `google.rpc.Code` (8 `RESOURCE_EXHAUSTED`,
    /// 14 `UNAVAILABLE`, 16 `UNAUTHENTICATED`, …).
    Grpc(i32),
}

impl fmt::Display for CollectorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const GRPC: [&str; 17] = [
            "OK",
            "CANCELLED",
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "DEADLINE_EXCEEDED",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
            "UNAUTHENTICATED",
        ];
        match *self {
            CollectorStatus::Http(status) => write!(f, "HTTP status {status}"),
            CollectorStatus::Grpc(code) => {
                match usize::try_from(code).ok().and_then(|i| GRPC.get(i)) {
                    Some(name) => write!(f, "gRPC status {name} ({code})"),
                    None => write!(f, "gRPC status {code}"),
                }
            }
        }
    }
}

/// A source whose text showed the access token: its text, masked, in its place.
#[derive(Debug)]
struct Masked(String);

impl fmt::Display for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Masked {}

/// Whether `error` or any error of its source chain shows `token`.
fn shows(error: &(dyn StdError + 'static), token: &str) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error.to_string().contains(token) || format!("{error:?}").contains(token) {
            return true;
        }
        next = error.source();
    }
    false
}

/// An error and its sources, `: `-separated (a text repeated by the next is said once).
pub(crate) fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    const TOKEN: &str = "s3cret-token";

    /// An error whose `Display` is harmless and whose `Debug` shows the token.
    struct DebugLeak;

    impl fmt::Display for DebugLeak {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("nothing to see")
        }
    }

    impl fmt::Debug for DebugLeak {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "DebugLeak {{ header: {TOKEN:?} }}")
        }
    }

    impl StdError for DebugLeak {}

    /// An error whose own texts are clean, with a source that shows the token.
    #[derive(Debug)]
    struct Outer(io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the call failed")
        }
    }

    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    fn transport(source: impl StdError + Send + Sync + 'static) -> Error {
        Error::Transport(ReportError::new("it broke").with_source(source).at("c:1"))
    }

    fn texts(error: &Error) -> Vec<String> {
        let mut texts = Vec::new();
        let mut next: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(e) = next {
            texts.push(format!("{e} | {e:?}"));
            next = e.source();
        }
        texts
    }

    #[test]
    fn the_source_is_the_cause_itself_and_the_text_names_the_collector() {
        let error = transport(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(error.to_string(), "transport error: c:1: it broke");
        let io = error.source().and_then(|e| e.downcast_ref::<io::Error>());
        assert_eq!(
            io.map(io::Error::kind),
            Some(io::ErrorKind::ConnectionRefused)
        );
        let Error::Transport(detail) = &error else {
            unreachable!()
        };
        assert_eq!(
            (detail.collector(), detail.message(), detail.status()),
            (Some("c:1"), "it broke", None)
        );
        assert!(detail.source().is_some_and(|e| e.is::<io::Error>()));
        let error = Error::Collector(
            ReportError::new("HTTP status 401").with_status(CollectorStatus::Http(401)),
        );
        assert_eq!(error.to_string(), "collector error: HTTP status 401");
        assert!(error.source().is_none());
        assert!(Error::Timeout.source().is_none());
    }

    #[test]
    fn errors_compare_by_their_texts_and_clones_share_the_source() {
        let a = transport(io::Error::from(io::ErrorKind::ConnectionRefused));
        let b = transport(io::Error::other("another cause"));
        assert_eq!(a, b, "the sources are not compared");
        assert_ne!(a, Error::Transport(ReportError::new("it broke")));
        assert_ne!(
            a,
            Error::Collector(ReportError::new("it broke").at("c:1")),
            "the variant is"
        );
        assert_ne!(
            Error::Collector(ReportError::new("x").with_status(CollectorStatus::Grpc(8))),
            Error::Collector(ReportError::new("x").with_status(CollectorStatus::Grpc(14)))
        );
        let copy = a.clone();
        assert_eq!(copy, a);
        let (left, right) = (copy.source().expect("source"), a.source().expect("source"));
        assert!(std::ptr::addr_eq(left, right));
    }

    #[test]
    fn redaction_masks_the_texts_and_any_source_that_shows_the_token() {
        // In the message and the collector.
        let error = Error::Collector(ReportError::new(format!("bad token {TOKEN}")).at("c:1"));
        assert_eq!(
            error.redacted(TOKEN).to_string(),
            "collector error: c:1: bad token <redacted>"
        );
        // In a source's Display, in its Debug only, deeper in its chain: each is replaced
        // by its masked text, and the chain keeps what it said.
        for error in [
            transport(io::Error::other(format!("echo: {TOKEN}"))),
            transport(DebugLeak),
            transport(Outer(io::Error::other(format!("deeper: {TOKEN}")))),
        ] {
            assert!(texts(&error).iter().any(|t| t.contains(TOKEN)));
            let redacted = error.redacted(TOKEN);
            for text in texts(&redacted) {
                assert!(!text.contains(TOKEN), "{text}");
            }
            let source = redacted.source().expect("the source is kept, masked");
            assert!(!source.is::<io::Error>());
            assert!(!source.to_string().is_empty());
        }
        let redacted =
            transport(Outer(io::Error::other(format!("deeper: {TOKEN}")))).redacted(TOKEN);
        assert_eq!(
            redacted.source().map(|e| e.to_string()).as_deref(),
            Some("the call failed: deeper: <redacted>")
        );
        // A clean source stays as it was, downcast and all.
        let clean = transport(io::Error::from(io::ErrorKind::ConnectionRefused)).redacted(TOKEN);
        assert!(clean.source().is_some_and(|e| e.is::<io::Error>()));
        // A token of a few characters is no secret, and is found by chance in any text.
        let short = transport(io::Error::other("abc")).redacted("abc");
        assert!(short.source().is_some_and(|e| e.is::<io::Error>()));
    }

    #[test]
    fn statuses_say_their_protocol_and_code() {
        assert_eq!(CollectorStatus::Http(413).to_string(), "HTTP status 413");
        assert_eq!(
            CollectorStatus::Grpc(16).to_string(),
            "gRPC status UNAUTHENTICATED (16)"
        );
        assert_eq!(CollectorStatus::Grpc(99).to_string(), "gRPC status 99");
        assert_eq!(CollectorStatus::Grpc(-1).to_string(), "gRPC status -1");
    }
}
