//! The B3 format: multiple `x-b3-*` headers, and the single `b3` header on extract.
//!
//! Inject writes `x-b3-traceid` as 16 hex digits (32 for a 128-bit trace id, kept whole),
//! `x-b3-spanid` as 16, `x-b3-sampled` as `1`/`0`, and baggage as `ot-baggage-*` (as the
//! Go and C++ LightStep tracers do). Extract also takes unpadded ids, which the Go and
//! Python tracers write, and zero-padded ones: 1 to 32 digits whose value fits (128 bits
//! for the trace id, 64 for span ids); `x-b3-flags: 1` (debug) means sampled, and no
//! sampling header means sampled. The single header follows the B3 spec:
//! `{traceid}-{spanid}[-{sampled}[-{parentspanid}]]` with ids of 16 to 32 digits (16 or
//! 32 as the spec writes them, or zero-padded in between), or a lone decision
//! `0`/`1`/`d`; it is read first when present.

use super::carrier::{Extractor, Injector};
use super::{excerpt, get, hex, lightstep, split_trace_id};
use crate::context::SpanContext;
use crate::Error;

const FORMAT: &str = "b3";
const TRACE_ID: &str = "x-b3-traceid";
const SPAN_ID: &str = "x-b3-spanid";
const SAMPLED: &str = "x-b3-sampled";
const FLAGS: &str = "x-b3-flags";
const SINGLE: &str = "b3";

pub(crate) fn inject(context: &SpanContext, carrier: &mut impl Injector) {
    let trace_id = if context.trace_id_high != 0 {
        format!("{:016x}{:016x}", context.trace_id_high, context.trace_id)
    } else {
        format!("{:016x}", context.trace_id)
    };
    carrier.set(TRACE_ID, trace_id);
    carrier.set(SPAN_ID, format!("{:016x}", context.span_id));
    carrier.set(SAMPLED, if context.sampled { "1" } else { "0" }.to_owned());
    lightstep::inject_baggage(context, carrier);
}

fn bad(key: &str, reason: impl Into<String>) -> Error {
    Error::corrupted(FORMAT, key, reason)
}

/// A trace id of 1 to 32 hex digits as (high, low); `padded`: at least 16 digits (the
/// single header's ids are written zero-padded).
fn parse_trace_id(text: &str, key: &str, padded: bool) -> Result<(u64, u64), Error> {
    if padded && text.len() < 16 {
        return Err(bad(
            key,
            format!(
                "trace id must have 16 or 32 hex digits, not {}",
                excerpt(text)
            ),
        ));
    }
    let id = hex::parse(text, 128).map_err(|e| bad(key, format!("{e}: {}", excerpt(text))))?;
    split_trace_id(id).map_err(|e| bad(key, e))
}

/// A span id of 1 to 32 hex digits whose value fits in 64 bits; `padded`: at least 16.
fn parse_span_id(text: &str, key: &str, padded: bool) -> Result<u64, Error> {
    if padded && text.len() < 16 {
        return Err(bad(
            key,
            format!("span id must have 16 hex digits, not {}", excerpt(text)),
        ));
    }
    hex::parse_u64(text).map_err(|e| bad(key, format!("{e}: {}", excerpt(text))))
}

/// `1`/`0` (also `true`/`false`, which old B3 implementations wrote), and `d` (debug).
fn parse_sampled(text: &str, key: &str) -> Result<bool, Error> {
    match text.trim() {
        "d" => Ok(true),
        other => lightstep::parse_sampled(other).ok_or_else(|| {
            bad(
                key,
                format!("expected 1, 0, d, true or false, not {}", excerpt(text)),
            )
        }),
    }
}

pub(crate) fn extract(carrier: &impl Extractor) -> Result<Option<SpanContext>, Error> {
    let mut decision = None;
    if let Some(single) = get(carrier, FORMAT, SINGLE)? {
        match extract_single(single)? {
            Single::Context(mut context) => {
                lightstep::extract_baggage(carrier, FORMAT, &mut context);
                return Ok(Some(context));
            }
            Single::Decision(sampled) => decision = Some(sampled),
        }
    }
    let trace_id = get(carrier, FORMAT, TRACE_ID)?;
    let span_id = get(carrier, FORMAT, SPAN_ID)?;
    let (trace_id, span_id) = match (trace_id, span_id) {
        // No ids: at most a sampling decision, which is no context.
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(bad(SPAN_ID, "missing")),
        (None, Some(_)) => return Err(bad(TRACE_ID, "missing")),
        (Some(trace_id), Some(span_id)) => (trace_id, span_id),
    };
    let (high, low) = parse_trace_id(trace_id, TRACE_ID, false)?;
    let span_id = parse_span_id(span_id, SPAN_ID, false)?;
    let debug = match get(carrier, FORMAT, FLAGS)? {
        None => false,
        Some(flags) => match flags.trim() {
            "1" => true,
            "0" => false,
            _ => {
                return Err(bad(
                    FLAGS,
                    format!("expected 1 or 0, not {}", excerpt(flags)),
                ))
            }
        },
    };
    let sampled = match get(carrier, FORMAT, SAMPLED)? {
        Some(sampled) => parse_sampled(sampled, SAMPLED)?,
        None => decision.unwrap_or(true),
    };
    let mut context = SpanContext::from_ids(high, low, span_id, debug || sampled);
    lightstep::extract_baggage(carrier, FORMAT, &mut context);
    Ok(Some(context))
}

enum Single {
    Context(SpanContext),
    /// A lone sampling decision, which carries no context.
    Decision(bool),
}

/// `{traceid}-{spanid}[-{sampled}[-{parentspanid}]]`, or a lone `0`, `1` or `d`.
fn extract_single(value: &str) -> Result<Single, Error> {
    let value = value.trim();
    if matches!(value, "0" | "1" | "d") {
        return Ok(Single::Decision(value != "0"));
    }
    let mut parts = value.split('-');
    let (Some(trace_id), Some(span_id)) = (parts.next(), parts.next()) else {
        return Err(bad(
            SINGLE,
            format!(
                "expected traceid-spanid[-sampled[-parentspanid]], not {}",
                excerpt(value)
            ),
        ));
    };
    let sampled = parts.next();
    let parent = parts.next();
    if parts.next().is_some() {
        return Err(bad(
            SINGLE,
            format!(
                "more than four fields in traceid-spanid-sampled-parentspanid: {}",
                excerpt(value)
            ),
        ));
    }
    let (high, low) = parse_trace_id(trace_id, SINGLE, true)?;
    let span_id = parse_span_id(span_id, SINGLE, true)?;
    let sampled = match sampled {
        Some("1" | "d") | None => true,
        Some("0") => false,
        Some(other) => {
            return Err(bad(
                SINGLE,
                format!("sampling state must be 1, 0 or d, not {}", excerpt(other)),
            ))
        }
    };
    if let Some(parent) = parent {
        parse_span_id(parent, SINGLE, true)?;
    }
    Ok(Single::Context(SpanContext::from_ids(
        high, low, span_id, sampled,
    )))
}
