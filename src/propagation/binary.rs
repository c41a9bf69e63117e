//! The LightStep binary format: a protobuf `BinaryCarrier`, base64-encoded on inject.
//!
//! Inject writes what the Go tracer and the Python tracer's `lightstep_binary` format
//! read: standard base64 (padded) of a `BinaryCarrier` with `basic_ctx` set (ids as
//! little-endian fixed64, baggage items in key order, so the output is deterministic).
//! Extract accepts, besides that text:
//! - the raw `BinaryCarrier` bytes the C++ tracer writes (they start with a field-1 or
//!   field-2 tag, `0x0a`/`0x12`, which no base64 text starts with);
//! - the Python tracer's OpenTracing `Format.BINARY`: a 4-byte big-endian length, then a
//!   `TracerState` message with the fields of `BasicTracerCarrier` (it starts with `0x00`,
//!   which neither of the others does).
//!
//! An empty carrier (or one holding an empty message) is `Ok(None)`; anything else that
//! does not decode, lacks `basic_ctx`, or has a zero id is an error; baggage past the
//! limits is dropped, in key order, with an event. Only the 64-bit trace id LightStep
//! reports travels in this format.

use super::BaggageBudget;
use crate::context::SpanContext;
use crate::proto::lightstep::{BasicTracerCarrier, BinaryCarrier};
use crate::Error;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{DecodeError, Engine};
use prost::Message;

const FORMAT: &str = "lightstep binary";

/// Standard base64 (RFC 4648 §4): written padded; read padded or not, and with the unused
/// bits of the last symbol ignored, as the Go and Python tracers' decoders do.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes base64 text with surrounding ASCII whitespace. Padding, when there is any,
/// must be whole (`Zg==`, not `Zg=`).
fn decode_base64(text: &[u8]) -> Result<Vec<u8>, String> {
    let text = text.trim_ascii();
    if text.ends_with(b"=") && !text.len().is_multiple_of(4) {
        return Err("bad base64 padding".to_owned());
    }
    BASE64.decode(text).map_err(|e| match e {
        DecodeError::InvalidByte(at, b'=') => format!("bad base64 padding at byte {at}"),
        DecodeError::InvalidByte(at, _) => format!("not base64 (byte {at})"),
        DecodeError::InvalidLength(_) => "bad base64 length".to_owned(),
        DecodeError::InvalidLastSymbol { offset, .. } => {
            format!("bad base64 symbol at byte {offset}")
        }
        DecodeError::InvalidPadding => "bad base64 padding".to_owned(),
    })
}

/// Standard base64 (padded) of a `BinaryCarrier` with `basic_ctx` set; empty for a
/// context with a zero id (the no-op tracer's), which carries nothing.
pub(crate) fn inject(context: &SpanContext) -> Vec<u8> {
    if !super::is_valid(context) {
        return Vec::new();
    }
    BASE64.encode(encode_carrier(context)).into_bytes()
}

/// The protobuf bytes, written by hand so baggage comes out in key order (prost's map is a
/// `HashMap`, whose order changes from run to run).
fn encode_carrier(context: &SpanContext) -> Vec<u8> {
    let mut basic = Vec::with_capacity(32);
    basic.push(0x09); // field 1, fixed64
    basic.extend_from_slice(&context.trace_id().to_le_bytes());
    basic.push(0x11); // field 2, fixed64
    basic.extend_from_slice(&context.span_id.to_le_bytes());
    if context.sampled {
        basic.extend_from_slice(&[0x18, 0x01]); // field 3, varint true
    }
    for (key, value) in context.baggage() {
        let mut entry = Vec::with_capacity(key.len() + value.len() + 8);
        put_bytes(&mut entry, 0x0a, key.as_bytes());
        put_bytes(&mut entry, 0x12, value.as_bytes());
        put_bytes(&mut basic, 0x22, &entry); // field 4, map entry
    }
    let mut carrier = Vec::with_capacity(basic.len() + 4);
    put_bytes(&mut carrier, 0x12, &basic); // BinaryCarrier.basic_ctx = 2
    carrier
}

fn put_bytes(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    let mut n = bytes.len() as u64;
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(bytes);
}

/// Whether `carrier` can only be base64 text (with surrounding whitespace).
fn looks_like_base64(carrier: &[u8]) -> bool {
    carrier
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"+/=".contains(&b) || b.is_ascii_whitespace())
}

pub(crate) fn extract(carrier: &[u8]) -> Result<Option<SpanContext>, Error> {
    let basic = match carrier.first() {
        None => return Ok(None),
        // The Python tracer's length-prefixed `TracerState`.
        Some(0x00) => {
            let Some((length, message)) = carrier.split_first_chunk::<4>() else {
                return Err(Error::corrupted(
                    FORMAT,
                    "length",
                    "a 4-byte length prefix is cut short",
                ));
            };
            let length = u32::from_be_bytes(*length);
            if usize::try_from(length).ok() != Some(message.len()) {
                return Err(Error::corrupted(
                    FORMAT,
                    "length",
                    format!(
                        "the length prefix says {length} bytes, {} follow",
                        message.len()
                    ),
                ));
            }
            if message.is_empty() {
                return Ok(None);
            }
            BasicTracerCarrier::decode(message)
                .map_err(|e| Error::corrupted(FORMAT, "protobuf", e.to_string()))?
        }
        // Raw `BinaryCarrier` bytes, as the C++ tracer writes them.
        Some(0x0a | 0x12) if !looks_like_base64(carrier) => decode_carrier(carrier)?,
        Some(_) => {
            if carrier.trim_ascii().is_empty() {
                return Ok(None);
            }
            let bytes = decode_base64(carrier).map_err(|e| {
                let start = String::from_utf8_lossy(&carrier[..carrier.len().min(40)]);
                Error::corrupted(FORMAT, "base64", format!("{e}: {}", super::excerpt(&start)))
            })?;
            if bytes.is_empty() {
                return Ok(None);
            }
            decode_carrier(&bytes)?
        }
    };
    if basic.trace_id == 0 {
        return Err(Error::corrupted(FORMAT, "trace_id", "id is zero"));
    }
    if basic.span_id == 0 {
        return Err(Error::corrupted(FORMAT, "span_id", "id is zero"));
    }
    let mut context = SpanContext::from_ids(0, basic.trace_id, basic.span_id, basic.sampled);
    // Protobuf maps have no order: read the items in key order, so the ones kept within
    // the baggage limits are always the same.
    let mut items: Vec<(String, String)> = basic.baggage_items.into_iter().collect();
    items.sort_unstable();
    let mut budget = BaggageBudget::default();
    for (key, value) in items {
        if budget.admit(&key, &value) {
            context.set_baggage_item(key, value);
        }
    }
    budget.report(FORMAT);
    Ok(Some(context))
}

fn decode_carrier(bytes: &[u8]) -> Result<BasicTracerCarrier, Error> {
    let message = BinaryCarrier::decode(bytes)
        .map_err(|e| Error::corrupted(FORMAT, "protobuf", e.to_string()))?;
    message
        .basic_ctx
        .ok_or_else(|| Error::corrupted(FORMAT, "basic_ctx", "missing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_standard_padded_and_read_leniently() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(BASE64.encode(plain), coded);
            assert_eq!(decode_base64(coded.as_bytes()).unwrap(), plain.as_bytes());
        }
        assert_eq!(decode_base64(b"Zm8").unwrap(), b"fo");
        assert_eq!(decode_base64(b" Zm8=\r\n").unwrap(), b"fo");
        for (bad, reason) in [
            (&b"Z"[..], "length"),
            (b"Zm9v!", "not base64"),
            (b"Zg=", "padding"),
            (b"Z===", "padding"),
            (b"Zm=9", "padding"),
        ] {
            let error = decode_base64(bad).unwrap_err();
            assert!(error.contains(reason), "{bad:?}: {error}");
        }
    }

    #[test]
    fn hand_encoding_matches_prost() {
        let context = SpanContext::from_ids(0, 0xf1e2d3c4b5a69788, 0xff, true)
            .with_baggage_item("k", "v")
            .with_baggage_item("empty", "")
            .with_baggage_item("long", "x".repeat(300));
        let ours = encode_carrier(&context);
        let decoded = BinaryCarrier::decode(ours.as_slice()).unwrap();
        let basic = decoded.basic_ctx.unwrap();
        assert_eq!(basic.trace_id, 0xf1e2d3c4b5a69788);
        assert_eq!(basic.span_id, 0xff);
        assert!(basic.sampled);
        assert_eq!(basic.baggage_items.len(), 3);
        assert_eq!(basic.baggage_items["long"].len(), 300);
        assert_eq!(basic.baggage_items["empty"], "");
        let unsampled = encode_carrier(&context.with_sampled(false));
        assert!(
            !BinaryCarrier::decode(unsampled.as_slice())
                .unwrap()
                .basic_ctx
                .unwrap()
                .sampled
        );
    }

    #[test]
    fn no_op_context_writes_nothing() {
        assert!(inject(&SpanContext::from_ids(0, 0, 0, false)).is_empty());
        assert_eq!(extract(b""), Ok(None));
    }
}
