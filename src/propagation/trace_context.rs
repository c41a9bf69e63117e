//! The W3C Trace Context format: `traceparent`, and `tracestate` checked by its grammar.
//!
//! `traceparent` is `00-{32 hex trace id}-{16 hex parent id}-{2 hex flags}` in lower case;
//! the whole 128-bit trace id is kept (its low 64 bits are what LightStep reports, or its
//! high 64 bits when the low ones are zero), flag bit 0 (`01`) is the sampling decision and
//! bit 1 (`02`, level 2's `random`) is carried to the children of the context and set on
//! the traces this crate starts. Later versions are read as the spec says (the first four
//! fields, further ones ignored); version `ff`, upper-case hex, wrong lengths, an
//! all-zero trace or parent id, and more than one `traceparent` are errors.
//!
//! `tracestate` is kept when `traceparent` is valid and every member follows the grammar
//! (see [`parse_tracestate`]); repeated headers are one list. It is written back,
//! normalised (members joined by `,` without whitespace), by children of the context. One
//! member that breaks a rule drops the whole header, as the spec asks. Baggage, which the
//! W3C format does not carry, travels as `ot-baggage-*` as in the other text formats.

use super::carrier::{Extractor, Injector};
use super::{excerpt, get, hex, lightstep, split_trace_id};
use crate::context::SpanContext;
use crate::Error;

const FORMAT: &str = "tracecontext";
const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
/// The most `tracestate` list members, across repeated headers.
const MAX_MEMBERS: usize = 32;
/// The longest key, and the longest value, of a `tracestate` member.
const MAX_KEY_CHARS: usize = 256;
const MAX_VALUE_CHARS: usize = 256;

/// Flag bits of `traceparent`.
const SAMPLED: u8 = 0x01;
const RANDOM: u8 = 0x02;

pub(crate) fn inject(context: &SpanContext, carrier: &mut impl Injector) {
    let flags = if context.sampled { SAMPLED } else { 0 }
        | if context.random_trace_id { RANDOM } else { 0 };
    carrier.set(
        TRACEPARENT,
        format!(
            "00-{:016x}{:016x}-{:016x}-{flags:02x}",
            context.trace_id_high, context.trace_id, context.span_id,
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
    // Two of them (an `http::HeaderMap` can hold both) cannot both be the parent.
    let parents = carrier
        .pairs()
        .filter(|(key, _)| key.eq_ignore_ascii_case(TRACEPARENT))
        .count();
    if parents > 1 {
        return Err(bad(format!(
            "{parents} traceparent headers; there must be one"
        )));
    }
    let parent = parent.trim_matches(is_ows);
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
    let flags = lower_hex(flags, 2, "flags")? as u8;
    let (high, low) = split_trace_id(trace_id).map_err(bad)?;
    if span_id == 0 {
        return Err(bad("parent id is zero"));
    }
    let mut context = SpanContext::from_ids(high, low, span_id as u64, flags & SAMPLED != 0);
    context.random_trace_id = flags & RANDOM != 0;
    // A tracestate that breaks the grammar does not spoil the traceparent: it is dropped.
    let headers = carrier
        .pairs()
        .filter(|(key, _)| key.eq_ignore_ascii_case(TRACESTATE))
        .map(|(_, value)| value);
    context.tracestate = parse_tracestate(headers).map(Into::into);
    lightstep::extract_baggage(carrier, FORMAT, &mut context);
    Ok(Some(context))
}

/// Optional whitespace (`OWS`): spaces and tabs.
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The `tracestate` list of one or more headers, normalised, if every member follows
/// the grammar; `None` when there is none or any member breaks a rule:
/// - a key starts with a lower-case letter or a digit, continues with `a-z 0-9 _ - * / @`
///   (so the multi-tenant `tenant@system` form) and has at most 256 characters;
/// - a value has 1 to 256 printable ASCII characters other than `,` and `=`, and does not
///   end in a space;
/// - there are at most 32 members, counted across repeated headers.
///
/// Empty members and whitespace around members are tolerated (and dropped).
pub(crate) fn parse_tracestate<'a>(headers: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut out = String::new();
    let mut members = 0;
    for header in headers {
        for member in header.split(',').map(|m| m.trim_matches(is_ows)) {
            if member.is_empty() {
                continue;
            }
            members += 1;
            let (key, value) = member.split_once('=')?;
            if members > MAX_MEMBERS || !valid_key(key) || !valid_value(value) {
                return None;
            }
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(member);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let Some(first) = bytes.first() else {
        return false;
    };
    bytes.len() <= MAX_KEY_CHARS
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b))
}

fn valid_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_VALUE_CHARS
        && bytes.last() != Some(&b' ')
        && bytes
            .iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(headers: &[&str]) -> Option<String> {
        parse_tracestate(headers.iter().copied())
    }

    #[test]
    fn tracestate_follows_the_grammar() {
        assert_eq!(state(&["foo=1,bar=2"]).as_deref(), Some("foo=1,bar=2"));
        assert_eq!(
            state(&["foo=1 \t , \t bar=2, \t baz=3"]).as_deref(),
            Some("foo=1,bar=2,baz=3")
        );
        assert_eq!(state(&["", "foo=1", ","]).as_deref(), Some("foo=1"));
        assert_eq!(
            state(&["a@b=1,0x*/_-@x=~!"]).as_deref(),
            Some("a@b=1,0x*/_-@x=~!")
        );
        assert!(state(&[&format!("{}=1", "z".repeat(256))]).is_some());
        assert!(state(&[&format!("k={}", "v".repeat(256))]).is_some());
        for bad in [
            "foo =1",
            "FOO=1",
            "foo.bar=1",
            "@foo=1,bar=2",
            "foo=bar=baz",
            "foo=,bar=3",
            "foo",
            "k=a\u{1}b",
            "k=ünïcode",
            &format!("{}=1", "z".repeat(257)),
            &format!("k={}", "v".repeat(257)),
        ] {
            assert_eq!(state(&["ok=1", bad]), None, "{bad:?}");
        }
        let members: Vec<String> = (1..=32).map(|i| format!("k{i}={i}")).collect();
        let (first, second) = members.split_at(20);
        assert!(state(&[&first.join(","), &second.join(",")]).is_some());
        assert_eq!(
            state(&[&first.join(","), &second.join(","), "k33=33"]),
            None
        );
        assert_eq!(state(&[]), None);
        assert_eq!(state(&[" , "]), None);
    }
}
