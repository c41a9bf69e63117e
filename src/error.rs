//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong in this crate.
///
/// No variant ever carries the access token.
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
    /// Sending a report failed before the collector answered.
    Transport(String),
    /// The collector answered with an error.
    Collector(String),
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
            Error::Transport(reason) => write!(f, "transport error: {reason}"),
            Error::Collector(reason) => write!(f, "collector error: {reason}"),
            Error::Timeout => f.write_str("timed out"),
            Error::SpanTooLarge(reason) => f.write_str(reason),
            Error::Closed => f.write_str("the tracer is closed"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// This error with every copy of `token` masked, for texts that come from outside
    /// (a collector's answer may echo what it was sent). A token of a few characters
    /// would be found by chance in any text, and is no secret: it is left alone.
    pub(crate) fn redacted(self, token: &str) -> Error {
        if token.len() < 6 {
            return self;
        }
        let mask = |text: String| text.replace(token, "<redacted>");
        match self {
            Error::Transport(text) => Error::Transport(mask(text)),
            Error::Collector(text) => Error::Collector(mask(text)),
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
