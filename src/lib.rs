//! The LightStep distributed tracing client for Rust: blocking, runtime-free, minimal.
//!
//! Finished spans leave the caller's thread through a bounded channel, without blocking
//! and without touching the network; one reporter thread (`lightstep-reporter`) batches
//! them into protobuf reports and sends them over HTTP (or gRPC, with the `grpc` feature,
//! on a private runtime inside that thread). Every span is either delivered or
//! counted as dropped ([`Tracer::stats`], [`Event::StatusReport`]).
//!
//! ```no_run
//! fn main() -> Result<(), lightstep::Error> {
//!     lightstep::set_global_event_handler(|event| match event {
//!         lightstep::Event::StatusReport(r) => eprintln!("dropped {}", r.dropped_spans()),
//!         lightstep::Event::Error(e) => eprintln!("tracer error: {e}"),
//!         other => eprintln!("tracer: {other}"),
//!     });
//!     lightstep::init(lightstep::Options::new("YourAccessToken").component_name("my-cli"))?;
//!     {
//!         let _req = lightstep::span!("handle_request", "user.id" => 42, "cached" => false);
//!         let _db = lightstep::span!("db.query"); // child of handle_request, by itself
//!     }
//!     lightstep::close(); // flushes; bounded by close_timeout
//!     Ok(())
//! }
//! ```
//!
//! Cargo features: `collector` (a local collector for tests and debugging, with fault
//! injection: `collector::LocalCollector`), `http` (`Injector`/`Extractor` for
//! `http::HeaderMap`), `grpc` (the gRPC transport, [`Options::use_grpc`]), `tracing`
//! (a `tracing_subscriber` layer, `TracingLayer`) and `opentelemetry` (an
//! `opentelemetry_sdk` span exporter, `OpenTelemetryExporter`).
//!
//! # `tracing` (feature `tracing`)
//!
//! `lightstep::tracing_layer()` is a `tracing_subscriber::Layer` that reports the spans
//! made with `tracing`'s macros — yours and your libraries' — to the global tracer
//! (`TracingLayer::new(tracer)` reports to a tracer of your own). Span fields become
//! typed tags, events inside a span become its logs (with `level` and `message`), the
//! parent comes from `tracing`'s span tree, and `tracing` spans and [`span!`] guards nest
//! in either order.
//!
//! ```
//! # #[cfg(feature = "tracing")] {
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry().with(lightstep::tracing_layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     let _request = tracing::info_span!("handle_request", user.id = 42_i64).entered();
//!     tracing::info!(cached = false, "cache miss"); // a log of handle_request
//!     let _db = lightstep::span!("db.query");       // a child of handle_request
//! });
//! # }
//! ```
//!
//! # OpenTelemetry (feature `opentelemetry`)
//!
//! `OpenTelemetryExporter` is an `opentelemetry_sdk` (0.33) span exporter, the Rust
//! analogue of the Go tracer's `lightstepoc`: with it, a tracer provider's spans are
//! converted (ids, parent, links, attributes, status, kind, events) and handed to a
//! LightStep tracer's reporter thread without blocking.
//!
//! ```
//! # #[cfg(feature = "opentelemetry")] {
//! use opentelemetry::trace::{Tracer as _, TracerProvider as _};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//!
//! let provider = SdkTracerProvider::builder()
//!     .with_batch_exporter(lightstep::OpenTelemetryExporter::global())
//!     .build();
//! provider.tracer("my-library").in_span("checkout", |_cx| { /* … */ });
//! let _ = provider.shutdown(); // flushes the tracer; close it with lightstep::close()
//! # }
//! ```
//!
//! # System metrics
//!
//! [`Options::system_metrics`] (off by default; Linux only, accepted and inert elsewhere)
//! has the reporter thread sample the process's CPU time, RSS and threads and the host's
//! memory from `/proc` every 30 s and send them to LightStep's metrics ingest endpoint,
//! with an [`Event::MetricsStatusReport`] for each report.
//!
//! ```no_run
//! let options = lightstep::Options::new("YourAccessToken").system_metrics(true);
//! lightstep::init(options)?;
//! # Ok::<(), lightstep::Error>(())
//! ```
#![warn(missing_docs)]

mod active;
mod context;
mod encode;
mod error;
mod event;
#[cfg(feature = "grpc")]
mod grpc;
mod identity;
mod ids;
mod metrics;
mod options;
#[cfg(feature = "opentelemetry")]
mod otel;
mod propagation;
pub mod proto;
mod record;
mod reporter;
mod span;
mod stats;
mod tracer;
#[cfg(feature = "tracing")]
mod tracing_layer;
mod transport;
mod value;
mod wire;

#[cfg(feature = "collector")]
pub mod collector;

pub use context::SpanContext;
pub use error::Error;
pub use event::{
    set_global_event_handler, BaggageDropped, ErrorEvent, ErrorKind, Event, FlushState,
    MetricsStatusReport, MissingService, StatusReport, UnsupportedValue,
};
pub use options::{Options, DEFAULT_COLLECTOR_URL};
#[cfg(feature = "opentelemetry")]
pub use otel::OpenTelemetryExporter;
pub use propagation::{Extractor, Injector, Propagator};
pub use span::{ActiveSpan, Span, SpanBuilder};
pub use stats::Stats;
pub use tracer::Tracer;
#[cfg(feature = "tracing")]
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
/// Failures go to the event handler.
pub fn flush() {
    let tracer = __global_ref();
    if let Err(error) = tracer.flush(tracer.close_timeout()) {
        report_static_failure(error);
    }
}

/// Flushes and stops the global tracer, waiting at most its `close_timeout`.
/// Failures go to the event handler; calling it again does nothing.
pub fn close() {
    let tracer = __global_ref();
    if let Err(error) = tracer.close(tracer.close_timeout()) {
        report_static_failure(error);
    }
}

fn report_static_failure(error: Error) {
    let state = match error {
        Error::Closed => FlushState::Closed,
        _ => FlushState::Transport,
    };
    emit(Event::Error(ErrorEventInner::new(
        ErrorKind::Flush(state),
        error,
    )));
}

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
