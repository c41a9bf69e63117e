//! The W3C Trace Context format: `traceparent`, with `tracestate` passed through.
//!
//! `traceparent` is `00-{32 hex trace id}-{16 hex parent id}-{2 hex flags}` in lower case;
//! the whole 128-bit trace id is kept (its low 64 bits are what LightStep reports) and
//! flag bit 0 is the sampling decision. Later versions are read as the spec says (the
//! first four fields, further ones ignored); version `ff`, upper-case hex, wrong lengths
//! and zero ids are errors. `tracestate` is kept verbatim when `traceparent` is valid and
//! it is printable ASCII of at most 8 KiB (otherwise it is dropped, as the spec allows),
//! and written back unchanged by children of the context. Baggage, which the W3C format
//! does not carry, travels as `ot-baggage-*` as in the other text formats.

use super::carrier::{Extractor, Injector};
use super::{excerpt, get, hex, lightstep, split_trace_id};
use crate::context::SpanContext;
use crate::Error;

const FORMAT: &str = "tracecontext";
const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
/// The longest `tracestate` passed on.
const MAX_TRACESTATE_BYTES: usize = 8 * 1024;

pub(crate) fn inject(context: &SpanContext, carrier: &mut impl Injector) {
    carrier.set(
        TRACEPARENT,
        format!(
            "00-{:016x}{:016x}-{:016x}-{:02x}",
            context.trace_id_high,
            context.trace_id,
            context.span_id,
            u8::from(context.sampled)
        ),
    );
    if let Some(state) = context.tracestate() {
        carrier.set(TRACESTATE, state.to_owned());
    }
    lightstep::inject_baggage(context, carrier);
}

fn bad(reason: impl Into<String>) -> Error {
    Error::corrupted(FORMAT, TRACEPARENT, reason)
}

fn lower_hex(text: &str, digits: usize, what: &str) -> Result<u128, Error> {
    if text.len() != digits || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad(format!(
            "{what} must be {digits} lower-case hex digits, not {}",
            excerpt(text)
        )));
    }
    hex::parse(text, 128).map_err(|e| bad(format!("{what}: {e}: {}", excerpt(text))))
}

pub(crate) fn extract(carrier: &impl Extractor) -> Result<Option<SpanContext>, Error> {
    let Some(parent) = get(carrier, FORMAT, TRACEPARENT)? else {
        return Ok(None);
    };
    let parent = parent.trim();
    let mut parts = parent.split('-');
    let (Some(version), Some(trace_id), Some(span_id), Some(flags)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!(
            "expected version-traceid-parentid-flags, not {}",
            excerpt(parent)
        )));
    };
    let version = lower_hex(version, 2, "version")?;
    if version == 0xff {
        return Err(bad("version ff is invalid"));
    }
    if version == 0 && parts.next().is_some() {
        return Err(bad("version 00 has exactly four fields"));
    }
    let trace_id = lower_hex(trace_id, 32, "trace id")?;
    let span_id = lower_hex(span_id, 16, "parent id")?;
    let flags = lower_hex(flags, 2, "flags")?;
    let (high, low) = split_trace_id(trace_id).map_err(bad)?;
    if span_id == 0 {
        return Err(bad("parent id is zero"));
    }
    let mut context = SpanContext::from_ids(high, low, span_id as u64, flags & 1 == 1);
    // An unreadable tracestate does not spoil the traceparent: it is dropped.
    if let Ok(Some(state)) = get(carrier, FORMAT, TRACESTATE) {
        let state = state.trim();
        let printable = state
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
        if !state.is_empty() && state.len() <= MAX_TRACESTATE_BYTES && printable {
            context.tracestate = Some(state.into());
        }
    }
    lightstep::extract_baggage(carrier, FORMAT, &mut context);
    Ok(Some(context))
}
