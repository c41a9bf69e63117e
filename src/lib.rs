// The front page is the README, one source for both (its Rust blocks are doctests). They
// use the optional integrations, so it is the front page when those are on, as on docs.rs
// (`all-features`); without them, a short page points to it.
#![cfg_attr(
    all(feature = "collector", feature = "tracing", feature = "opentelemetry"),
    doc = include_str!("../README.md")
)]
#![cfg_attr(
    not(all(feature = "collector", feature = "tracing", feature = "opentelemetry")),
    doc = "The LightStep distributed tracing client for Rust: blocking, runtime-free, \
           minimal.\n\nThe guide is the crate's README, which is this page when the crate \
           is documented with `--all-features` (as on docs.rs)."
)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod active;
mod compact;
mod context;
mod encode;
mod endpoint;
mod error;
mod event;
mod handoff;
// The generated gRPC service code names its codec `crate::grpc::…`.
#[cfg(feature = "grpc")]
use reporter::grpc;
mod identity;
mod ids;
mod metrics;
mod options;
#[cfg(feature = "opentelemetry")]
mod otel;
mod otlp;
mod propagation;
#[cfg(feature = "collector")]
#[cfg_attr(docsrs, doc(cfg(feature = "collector")))]
pub mod proto;
#[cfg(not(feature = "collector"))]
pub(crate) mod proto;
mod record;
mod reporter;
mod span;
mod stats;
mod tracer;
#[cfg(feature = "tracing")]
mod tracing_layer;
mod value;
mod wire;

#[cfg(feature = "collector")]
#[cfg_attr(docsrs, doc(cfg(feature = "collector")))]
pub mod collector;

pub use context::SpanContext;
pub use error::{CollectorStatus, Error, ReportError};
pub use event::{
    set_global_event_handler, BaggageDropped, ErrorEvent, ErrorKind, Event, FlushState,
    MetricsStatusReport, MissingService, StatusReport, UnsupportedValue,
};
pub use options::{Options, DEFAULT_COLLECTOR_URL};
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub use otel::OpenTelemetryExporter;
pub use propagation::{Extractor, Injector, Propagator};
pub use span::{__Tags, ActiveSpan, Span, SpanBuilder};
pub use stats::Stats;
pub use tracer::Tracer;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use tracing_layer::{tracing_layer, TracingLayer};
pub use value::Value;

use event::{emit, ErrorEvent as ErrorEventInner};

use std::sync::{Mutex, OnceLock};

static GLOBAL: OnceLock<Tracer> = OnceLock::new();
static NOOP: Tracer = Tracer::noop();
static INIT: Mutex<()> = Mutex::new(());

/// Validates `options`, starts the reporter thread and installs the global tracer.
///
/// A second call returns [`Error::AlreadyInitialized`]. Failures are also sent to the
/// event handler as [`Event::StartError`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let options = lightstep::Options::new("YourAccessToken")
///     .component_name("my-cli")
///     .close_timeout(Duration::from_secs(2));
/// # let options = options.collector_url("http://127.0.0.1:9");
/// let tracer = lightstep::init(options)?;
/// // The global tracer is installed once; `span!` and `lightstep::global()` use it.
/// assert!(!lightstep::global().is_noop());
/// assert!(matches!(
///     lightstep::init(lightstep::Options::new("YourAccessToken")),
///     Err(lightstep::Error::AlreadyInitialized)
/// ));
/// # drop(tracer);
/// # Ok::<(), lightstep::Error>(())
/// ```
pub fn init(options: Options) -> Result<Tracer, Error> {
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if GLOBAL.get().is_some() {
        emit(Event::StartError(Error::AlreadyInitialized));
        return Err(Error::AlreadyInitialized);
    }
    let inner = match tracer::Inner::start(options) {
        Ok(inner) => inner,
        Err(error) => {
            emit(Event::StartError(error.clone()));
            return Err(error);
        }
    };
    let tracer = GLOBAL.get_or_init(|| Tracer::global(Box::leak(Box::new(inner))));
    Ok(tracer.clone())
}

/// The global tracer, or a no-op tracer (spans cost almost nothing and go nowhere)
/// before [`init`].
///
/// # Examples
///
/// ```
/// // Before `init`: a no-op tracer, so libraries can trace unconditionally.
/// let tracer = lightstep::global();
/// assert!(tracer.is_noop());
/// let span = tracer.span("ignored").start();
/// assert!(!span.is_recording());
/// ```
pub fn global() -> Tracer {
    __global_ref().clone()
}

#[doc(hidden)]
/// The global tracer by reference, for `span!`.
#[inline]
pub fn __global_ref() -> &'static Tracer {
    GLOBAL.get().unwrap_or(&NOOP)
}

/// Sends the global tracer's finished spans, waiting at most its `close_timeout`.
/// A failure goes to the event handler (or, with none set, to standard error) before it
/// returns.
///
/// # Examples
///
/// ```
/// # let options = lightstep::Options::new("YourAccessToken").collector_url("http://127.0.0.1:9")
/// #     .close_timeout(std::time::Duration::from_millis(200));
/// # lightstep::set_global_event_handler(|_| {});
/// lightstep::init(options)?;
/// {
///     let _job = lightstep::span!("nightly_job");
/// }
/// // Before a long pause, say: send what is finished (failures go to the event handler).
/// lightstep::flush();
/// # Ok::<(), lightstep::Error>(())
/// ```
pub fn flush() {
    let tracer = __global_ref();
    let timeout = tracer.close_timeout();
    let deadline = tracer::deadline_after(timeout);
    if let Err(error) = tracer.flush_until(deadline, timeout) {
        report_static_failure(error);
    }
    event::drain(deadline);
}

/// Flushes and stops the global tracer, waiting at most its `close_timeout`.
/// A failure goes to the event handler (or, with none set, to standard error) before it
/// returns; calling it again returns the first call's outcome.
///
/// # Examples
///
/// ```
/// fn main() -> Result<(), lightstep::Error> {
///     # let options = lightstep::Options::new("YourAccessToken").collector_url("http://127.0.0.1:9")
///     #     .close_timeout(std::time::Duration::from_millis(200));
///     # lightstep::set_global_event_handler(|_| {});
///     lightstep::init(options)?;
///     {
///         let _main = lightstep::span!("main");
///         // … the program's work …
///     }
///     lightstep::close(); // the last spans go out, within `close_timeout`
///     assert!(lightstep::global().flush(std::time::Duration::from_secs(1)).is_err());
///     Ok(())
/// }
/// ```
pub fn close() {
    let tracer = __global_ref();
    let timeout = tracer.close_timeout();
    let deadline = tracer::deadline_after(timeout);
    if let Err(error) = tracer.close_until(deadline, timeout) {
        report_static_failure(error);
    }
    event::drain(deadline);
}

fn report_static_failure(error: Error) {
    // A refused flush raised its own event already.
    if error == Error::Closed {
        return;
    }
    emit(Event::Error(ErrorEventInner::new(
        ErrorKind::Flush(FlushState::Transport),
        error,
    )));
}
