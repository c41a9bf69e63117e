//! Propagation: writing span contexts into carriers and reading them back, in the
//! LightStep, B3 and W3C Trace Context formats, and the LightStep binary format.
//!
//! Extraction never panics on any input. It answers `Ok(None)` when the carrier holds no
//! context of the format, and [`Error::SpanContextCorrupted`] (naming the format and the
//! key) when it holds one that cannot be read: a missing companion key, a malformed or
//! zero id, or an id or sampling value that is not text. Only the ids decide whether a
//! context is usable: baggage beyond [`MAX_BAGGAGE_ITEMS`] items or [`MAX_BAGGAGE_BYTES`]
//! bytes is dropped, the context kept, and an [`Event::BaggageDropped`] emitted.

pub(crate) mod b3;
pub(crate) mod binary;
pub(crate) mod carrier;
pub(crate) mod hex;
pub(crate) mod lightstep;
pub(crate) mod trace_context;

pub use carrier::{Extractor, Injector};

use crate::context::SpanContext;
use crate::event::{BaggageDropped, Event};
use crate::Error;
use std::fmt;
use std::str::FromStr;

/// The most baggage items an extracted context keeps; more are dropped.
pub(crate) const MAX_BAGGAGE_ITEMS: usize = 1024;

/// The most bytes of baggage (keys plus values) an extracted context keeps; items past
/// it are dropped. Baggage travels with every request of a trace, so a hostile caller
/// must not be able to make it arbitrarily large.
pub(crate) const MAX_BAGGAGE_BYTES: usize = 64 * 1024;

/// A propagation format for text carriers (maps, HTTP headers).
///
/// A tracer injects with every propagator it has ([`Options::propagators`], or
/// `LIGHTSTEP_PROPAGATORS`) and extracts with the first one, in order, that finds a
/// context. A carrier that none of them can read is an error only when none of them finds
/// a context; `Ok(None)` when it simply holds none.
///
/// Baggage travels as `ot-baggage-<key>` headers in every text format (B3 and W3C Trace
/// Context define none of their own, and the Go and C++ LightStep tracers do the same for
/// B3), so a stack shares one set of baggage headers.
///
/// ```
/// use lightstep::Propagator;
/// let stack: Vec<Propagator> = "tracecontext, b3"
///     .split(',')
///     .map(str::parse)
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert_eq!(stack, [Propagator::TraceContext, Propagator::B3]);
/// assert_eq!(Propagator::B3.to_string(), "b3");
/// ```
///
/// [`Options::propagators`]: crate::Options::propagators
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Propagator {
    /// `ot-tracer-traceid`, `ot-tracer-spanid` (written as unpadded lower-case hex, 64
    /// bits; read with leading zeros too, up to 32 digits, when the value fits in 64
    /// bits), `ot-tracer-sampled` (`true`/`false`; `1`/`0` also read), `ot-baggage-*`.
    LightStep,
    /// `x-b3-traceid` (16 or 32 hex digits; 1 to 32 read, zero-padded or not),
    /// `x-b3-spanid` (16 digits; 1 to 32 read when the value fits in 64 bits), `x-b3-sampled`
    /// (`1`/`0`), `ot-baggage-*`; the single `b3` header is read too.
    B3,
    /// W3C `traceparent` (version `00`, with the level-2 `random` flag) and `tracestate`
    /// (passed on when it follows the grammar, dropped whole otherwise),
    /// `ot-baggage-*`.
    TraceContext,
}

impl Propagator {
    /// The name [`FromStr`] reads and `LIGHTSTEP_PROPAGATORS` lists.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::Propagator;
    /// assert_eq!(Propagator::TraceContext.name(), "tracecontext");
    /// assert_eq!(Propagator::TraceContext.name().parse(), Ok(Propagator::TraceContext));
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Propagator::LightStep => "lightstep",
            Propagator::B3 => "b3",
            Propagator::TraceContext => "tracecontext",
        }
    }
}

impl fmt::Display for Propagator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Propagator {
    type Err = Error;

    /// Parses `lightstep` (also `ls`), `b3` or `tracecontext` (also `w3c`), ignoring case
    /// and surrounding spaces.
    fn from_str(name: &str) -> Result<Propagator, Error> {
        match name.trim().to_ascii_lowercase().as_str() {
            "lightstep" | "ls" => Ok(Propagator::LightStep),
            "b3" => Ok(Propagator::B3),
            "tracecontext" | "w3c" => Ok(Propagator::TraceContext),
            _ => Err(Error::invalid(
                "propagators",
                format!(
                    "unknown propagator `{}` (expected lightstep, b3 or tracecontext)",
                    excerpt(name)
                ),
            )),
        }
    }
}

/// Writes `context` with every propagator. A context with a zero id (the no-op tracer's)
/// writes nothing.
pub(crate) fn inject(
    propagators: &[Propagator],
    context: &SpanContext,
    carrier: &mut impl Injector,
) {
    if !is_valid(context) {
        return;
    }
    for propagator in propagators {
        match propagator {
            Propagator::LightStep => lightstep::inject(context, carrier),
            Propagator::B3 => b3::inject(context, carrier),
            Propagator::TraceContext => trace_context::inject(context, carrier),
        }
    }
}

/// Reads a context with the first propagator that finds one. When none does, the first
/// error met (if any) is the answer: a carrier is only corrupt if nothing in it is usable.
pub(crate) fn extract(
    propagators: &[Propagator],
    carrier: &impl Extractor,
) -> Result<Option<SpanContext>, Error> {
    let mut first_error = None;
    for propagator in propagators {
        let found = match propagator {
            Propagator::LightStep => lightstep::extract(carrier),
            Propagator::B3 => b3::extract(carrier),
            Propagator::TraceContext => trace_context::extract(carrier),
        };
        match found {
            Ok(Some(context)) => return Ok(Some(context)),
            Ok(None) => {}
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(None),
    }
}

/// Whether a context can be propagated: a non-zero trace id and span id.
pub(crate) fn is_valid(context: &SpanContext) -> bool {
    context.trace_id() != 0 && context.span_id != 0
}

/// The value of `key`, or an error if the key is there with a value that is not text.
pub(crate) fn get<'c>(
    carrier: &'c impl Extractor,
    format: &'static str,
    key: &str,
) -> Result<Option<&'c str>, Error> {
    match carrier.get(key) {
        Some(value) => Ok(Some(value)),
        None if carrier.has_non_text_value(key) => {
            Err(Error::corrupted(format, key, "value is not UTF-8 text"))
        }
        None => Ok(None),
    }
}

/// A short, printable quotation of a carrier value for an error message.
pub(crate) fn excerpt(value: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

/// Splits a 128-bit trace id into (high, low) halves; only an all-zero id is refused. (A
/// zero low half is reported to LightStep as the high half: see
/// [`SpanContext::trace_id`].)
pub(crate) fn split_trace_id(id: u128) -> Result<(u64, u64), &'static str> {
    if id == 0 {
        return Err("trace id is zero");
    }
    Ok(((id >> 64) as u64, id as u64))
}

/// Counts baggage against the limits as an extracted context's items are read; what
/// would pass them is dropped (the ids alone decide whether a context is usable), and
/// [`report`](BaggageBudget::report) says so with an [`Event::BaggageDropped`].
#[derive(Default)]
pub(crate) struct BaggageBudget {
    items: usize,
    bytes: usize,
    dropped: usize,
    reason: Option<&'static str>,
}

impl BaggageBudget {
    /// Whether one more item (of this key and value) fits within the limits; if not, it
    /// is counted dropped.
    pub(crate) fn admit(&mut self, key: &str, value: &str) -> bool {
        let size = key.len().saturating_add(value.len());
        let reason = if self.items >= MAX_BAGGAGE_ITEMS {
            "more than 1024 baggage items"
        } else if self.bytes.saturating_add(size) > MAX_BAGGAGE_BYTES {
            "more than 65536 bytes of baggage"
        } else {
            self.items += 1;
            self.bytes += size;
            return true;
        };
        self.dropped += 1;
        self.reason.get_or_insert(reason);
        false
    }

    /// Emits an [`Event::BaggageDropped`] if any item was dropped.
    pub(crate) fn report(self, format: &'static str) {
        if let Some(reason) = self.reason {
            crate::event::emit(Event::BaggageDropped(BaggageDropped {
                format,
                dropped_items: self.dropped,
                kept_items: self.items,
                reason,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in [
            Propagator::LightStep,
            Propagator::B3,
            Propagator::TraceContext,
        ] {
            assert_eq!(p.to_string().parse::<Propagator>(), Ok(p));
        }
        assert_eq!(" W3C ".parse::<Propagator>(), Ok(Propagator::TraceContext));
        assert!("zipkin".parse::<Propagator>().is_err());
    }

    #[test]
    fn excerpts_are_short_and_quoted() {
        assert_eq!(excerpt("ab"), "\"ab\"");
        assert_eq!(excerpt(&"x".repeat(100)), format!("{:?}…", "x".repeat(40)));
    }

    #[test]
    fn trace_ids_split_unless_all_zero() {
        assert_eq!(split_trace_id(5), Ok((0, 5)));
        assert_eq!(split_trace_id((7 << 64) | 5), Ok((7, 5)));
        assert!(split_trace_id(0).is_err());
        assert_eq!(split_trace_id(7 << 64), Ok((7, 0)));
    }
}
