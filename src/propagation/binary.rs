//! The LightStep binary format: a protobuf `BinaryCarrier`, base64-encoded on inject.

use super::base64;
use crate::context::SpanContext;
use crate::proto::lightstep::{BasicTracerCarrier, BinaryCarrier};
use crate::Error;
use prost::Message;

const FORMAT: &str = "lightstep binary";

/// Standard base64 (padded) of a `BinaryCarrier` with `basic_ctx` set: what the Go tracer
/// and the Python tracer's `lightstep_binary` format read.
pub(crate) fn inject(context: &SpanContext) -> Vec<u8> {
    let carrier = BinaryCarrier {
        deprecated_text_ctx: Vec::new(),
        basic_ctx: Some(BasicTracerCarrier {
            trace_id: context.trace_id,
            span_id: context.span_id,
            sampled: context.sampled,
            baggage_items: context
                .baggage()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }),
    };
    base64::encode(&carrier.encode_to_vec())
}

/// Accepts the base64 text that `inject` writes and the raw protobuf bytes the C++ tracer
/// writes. An empty carrier holds no context.
pub(crate) fn extract(carrier: &[u8]) -> Result<Option<SpanContext>, Error> {
    if carrier.trim_ascii().is_empty() {
        return Ok(None);
    }
    // A raw `BinaryCarrier` starts with a field-1 or field-2 tag (0x0a, 0x12), neither of
    // which is a base64 character.
    let decoded;
    let bytes = match carrier[0] {
        0x0a | 0x12 => carrier,
        _ => {
            decoded = base64::decode(carrier).map_err(|e| Error::corrupted(FORMAT, "base64", e))?;
            &decoded[..]
        }
    };
    let message = BinaryCarrier::decode(bytes)
        .map_err(|e| Error::corrupted(FORMAT, "protobuf", e.to_string()))?;
    let basic = message
        .basic_ctx
        .ok_or_else(|| Error::corrupted(FORMAT, "basic_ctx", "missing"))?;
    if basic.trace_id == 0 {
        return Err(Error::corrupted(FORMAT, "trace_id", "id is zero"));
    }
    if basic.span_id == 0 {
        return Err(Error::corrupted(FORMAT, "span_id", "id is zero"));
    }
    let mut context = SpanContext::new(basic.trace_id, basic.span_id).with_sampled(basic.sampled);
    for (key, value) in basic.baggage_items {
        context.set_baggage_item(key, value);
    }
    Ok(Some(context))
}
