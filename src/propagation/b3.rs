//! The B3 format: multiple `x-b3-*` headers, or the single `b3` header on extract.

use super::carrier::{Extractor, Injector};
use super::{hex, lightstep};
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

/// A 16- or 32-digit trace id as (high, low).
fn parse_trace_id(text: &str, key: &str) -> Result<(u64, u64), Error> {
    if text.len() != 16 && text.len() != 32 {
        return Err(Error::corrupted(
            FORMAT,
            key,
            "trace id must have 16 or 32 hex digits",
        ));
    }
    let id = hex::parse(text, 32).map_err(|e| Error::corrupted(FORMAT, key, e))?;
    if id == 0 {
        return Err(Error::corrupted(FORMAT, key, "id is zero"));
    }
    Ok(((id >> 64) as u64, id as u64))
}

fn parse_span_id(text: &str, key: &str) -> Result<u64, Error> {
    if text.len() != 16 {
        return Err(Error::corrupted(
            FORMAT,
            key,
            "span id must have 16 hex digits",
        ));
    }
    hex::parse_u64(text).map_err(|e| Error::corrupted(FORMAT, key, e))
}

fn parse_sampled(text: &str, key: &str) -> Result<bool, Error> {
    match text {
        "d" => Ok(true),
        other => lightstep::parse_sampled(other)
            .ok_or_else(|| Error::corrupted(FORMAT, key, "expected 1, 0, d, true or false")),
    }
}

pub(crate) fn extract(carrier: &impl Extractor) -> Result<Option<SpanContext>, Error> {
    let trace_id = carrier.get(TRACE_ID);
    let span_id = carrier.get(SPAN_ID);
    let mut context = match (trace_id, span_id) {
        (None, None) => match carrier.get(SINGLE) {
            Some(single) => match extract_single(single)? {
                Some(context) => context,
                None => return Ok(None),
            },
            None => return Ok(None),
        },
        (Some(_), None) => return Err(Error::corrupted(FORMAT, SPAN_ID, "missing")),
        (None, Some(_)) => return Err(Error::corrupted(FORMAT, TRACE_ID, "missing")),
        (Some(trace_id), Some(span_id)) => {
            let (high, low) = parse_trace_id(trace_id, TRACE_ID)?;
            let sampled = match (carrier.get(SAMPLED), carrier.get(FLAGS)) {
                (_, Some("1")) => true,
                (Some(sampled), _) => parse_sampled(sampled, SAMPLED)?,
                (None, _) => true,
            };
            SpanContext::from_ids(high, low, parse_span_id(span_id, SPAN_ID)?, sampled)
        }
    };
    lightstep::extract_baggage(carrier, &mut context);
    Ok(Some(context))
}

/// `{traceid}-{spanid}[-{sampled}[-{parentspanid}]]`, or a lone sampling decision
/// (`0`, `1`, `d`), which carries no context.
fn extract_single(value: &str) -> Result<Option<SpanContext>, Error> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    match parts.as_slice() {
        [decision] if ["0", "1", "d"].contains(decision) => Ok(None),
        [trace_id, span_id, rest @ ..] if rest.len() <= 2 => {
            let (high, low) = parse_trace_id(trace_id, SINGLE)?;
            let span_id = parse_span_id(span_id, SINGLE)?;
            let sampled = match rest.first() {
                Some(s) => parse_sampled(s, SINGLE)?,
                None => true,
            };
            if let Some(parent) = rest.get(1) {
                parse_span_id(parent, SINGLE)?;
            }
            Ok(Some(SpanContext::from_ids(high, low, span_id, sampled)))
        }
        _ => Err(Error::corrupted(
            FORMAT,
            SINGLE,
            "expected traceid-spanid[-sampled[-parentspanid]]",
        )),
    }
}
