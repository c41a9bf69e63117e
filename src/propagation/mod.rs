//! Propagation: writing span contexts into carriers and reading them back, in the
//! LightStep, B3 and W3C Trace Context formats.

pub(crate) mod b3;
pub(crate) mod base64;
pub(crate) mod binary;
pub(crate) mod carrier;
pub(crate) mod hex;
pub(crate) mod lightstep;
pub(crate) mod trace_context;

pub use carrier::{Extractor, Injector};

use crate::context::SpanContext;
use crate::Error;
use std::str::FromStr;

/// A propagation format for text carriers (maps, HTTP headers).
///
/// A tracer injects with every propagator it has and extracts with the first one that
/// finds a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Propagator {
    /// `ot-tracer-traceid`, `ot-tracer-spanid`, `ot-tracer-sampled`, `ot-baggage-*`.
    LightStep,
    /// `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled` (and the single `b3` header on extract).
    B3,
    /// W3C `traceparent` and `tracestate`.
    TraceContext,
}

impl FromStr for Propagator {
    type Err = Error;

    /// Parses `lightstep`, `b3` or `tracecontext` (also `w3c`), ignoring case.
    fn from_str(name: &str) -> Result<Propagator, Error> {
        match name.trim().to_ascii_lowercase().as_str() {
            "lightstep" | "ls" => Ok(Propagator::LightStep),
            "b3" => Ok(Propagator::B3),
            "tracecontext" | "w3c" => Ok(Propagator::TraceContext),
            _ => Err(Error::invalid(
                "propagators",
                format!("unknown propagator `{name}`"),
            )),
        }
    }
}

pub(crate) fn inject(
    propagators: &[Propagator],
    context: &SpanContext,
    carrier: &mut impl Injector,
) {
    if context.span_id == 0 {
        return; // the no-op tracer's context: nothing to propagate
    }
    for propagator in propagators {
        match propagator {
            Propagator::LightStep => lightstep::inject(context, carrier),
            Propagator::B3 => b3::inject(context, carrier),
            Propagator::TraceContext => trace_context::inject(context, carrier),
        }
    }
}

pub(crate) fn extract(
    propagators: &[Propagator],
    carrier: &impl Extractor,
) -> Result<Option<SpanContext>, Error> {
    for propagator in propagators {
        let found = match propagator {
            Propagator::LightStep => lightstep::extract(carrier)?,
            Propagator::B3 => b3::extract(carrier)?,
            Propagator::TraceContext => trace_context::extract(carrier)?,
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}
