//! The W3C Trace Context format: `traceparent`, with `tracestate` passed through.

use super::carrier::{Extractor, Injector};
use super::hex;
use crate::context::SpanContext;
use crate::Error;

const FORMAT: &str = "tracecontext";
const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

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
}

fn lower_hex(text: &str, digits: usize, what: &'static str) -> Result<u128, Error> {
    if text.len() != digits || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(Error::corrupted(FORMAT, TRACEPARENT, what));
    }
    hex::parse(text, digits).map_err(|e| Error::corrupted(FORMAT, TRACEPARENT, e))
}

pub(crate) fn extract(carrier: &impl Extractor) -> Result<Option<SpanContext>, Error> {
    let Some(parent) = carrier.get(TRACEPARENT) else {
        return Ok(None);
    };
    let parent = parent.trim();
    let bad = |why: &str| Error::corrupted(FORMAT, TRACEPARENT, why);
    let mut parts = parent.split('-');
    let (Some(version), Some(trace_id), Some(span_id), Some(flags)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("expected version-traceid-parentid-flags"));
    };
    let version = lower_hex(version, 2, "version must be two lower-case hex digits")?;
    if version == 0xff {
        return Err(bad("version ff is invalid"));
    }
    if version == 0 && parts.next().is_some() {
        return Err(bad("version 00 has exactly four fields"));
    }
    let trace_id = lower_hex(trace_id, 32, "trace id must be 32 lower-case hex digits")?;
    let span_id = lower_hex(span_id, 16, "parent id must be 16 lower-case hex digits")?;
    let flags = lower_hex(flags, 2, "flags must be two lower-case hex digits")?;
    if trace_id == 0 {
        return Err(bad("trace id is zero"));
    }
    if span_id == 0 {
        return Err(bad("parent id is zero"));
    }
    let mut context = SpanContext::from_ids(
        (trace_id >> 64) as u64,
        trace_id as u64,
        span_id as u64,
        flags & 1 == 1,
    );
    if let Some(state) = carrier.get(TRACESTATE) {
        let state = state.trim();
        if !state.is_empty() {
            context.tracestate = Some(state.into());
        }
    }
    Ok(Some(context))
}
