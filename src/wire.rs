//! Protobuf wire encoding of span records, written straight from `SpanRecord` into the
//! report body: no intermediate message structs, no copies of names, keys or values.
//!
//! Field numbers are those of `proto/collector.proto`; the output decodes to the same
//! `Span` that prost would encode from the generated types (a unit test checks it).

use crate::record::{LogRecord, Moment, Reference, Relationship, SpanRecord};
use crate::Value;
use std::time::{SystemTime, UNIX_EPOCH};

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

fn varint_len(value: u64) -> usize {
    // 1 byte per 7 bits, at least 1.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

pub(crate) fn put_varint(mut value: u64, buf: &mut Vec<u8>) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

fn put_key(field: u32, wire: u8, buf: &mut Vec<u8>) {
    put_varint(u64::from(field << 3 | u32::from(wire)), buf);
}

/// The size of a length-delimited field whose body is `len` bytes (fields 1–15).
pub(crate) fn len_field(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn put_len_field(field: u32, len: usize, buf: &mut Vec<u8>) {
    put_key(field, LEN, buf);
    put_varint(len as u64, buf);
}

fn str_field(text: &str) -> usize {
    if text.is_empty() {
        0
    } else {
        len_field(text.len())
    }
}

fn put_str(field: u32, text: &str, buf: &mut Vec<u8>) {
    if !text.is_empty() {
        put_len_field(field, text.len(), buf);
        buf.extend_from_slice(text.as_bytes());
    }
}

fn u64_field(value: u64) -> usize {
    if value == 0 {
        0
    } else {
        1 + varint_len(value)
    }
}

fn put_u64(field: u32, value: u64, buf: &mut Vec<u8>) {
    if value != 0 {
        put_key(field, VARINT, buf);
        put_varint(value, buf);
    }
}

/// Seconds and nanoseconds since the epoch, normalised as `google.protobuf.Timestamp`.
pub(crate) fn seconds_nanos(time: SystemTime) -> (i64, i32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos() as i32),
        Err(before) => {
            let d = before.duration();
            let (mut seconds, mut nanos) = (-(d.as_secs() as i64), -(d.subsec_nanos() as i32));
            if nanos < 0 {
                seconds -= 1;
                nanos += 1_000_000_000;
            }
            (seconds, nanos)
        }
    }
}

fn timestamp_len(time: SystemTime) -> usize {
    let (seconds, nanos) = seconds_nanos(time);
    u64_field(seconds as u64) + u64_field(nanos as u64)
}

fn put_timestamp(field: u32, time: SystemTime, buf: &mut Vec<u8>) {
    let (seconds, nanos) = seconds_nanos(time);
    put_len_field(field, timestamp_len(time), buf);
    put_u64(1, seconds as u64, buf);
    put_u64(2, nanos as u64, buf);
}

fn wall(moment: Moment) -> SystemTime {
    match moment {
        Moment::Wall(time) => time,
        // Records are normalised to wall time before they are encoded.
        Moment::Mono(_) => UNIX_EPOCH,
    }
}

fn key_value_len(key: &str, value: &Value) -> usize {
    str_field(key)
        + match value {
            Value::String(s) => len_field(s.len()),
            Value::Json(j) => len_field(j.len()),
            Value::Int(i) => 1 + varint_len(*i as u64),
            Value::Float(_) => 1 + 8,
            Value::Bool(_) => 1 + 1,
        }
}

fn put_key_value(field: u32, key: &str, value: &Value, buf: &mut Vec<u8>) {
    put_len_field(field, key_value_len(key, value), buf);
    put_str(1, key, buf);
    // A oneof member is written even when it holds its default.
    match value {
        Value::String(s) => {
            put_len_field(2, s.len(), buf);
            buf.extend_from_slice(s.as_bytes());
        }
        Value::Int(i) => {
            put_key(3, VARINT, buf);
            put_varint(*i as u64, buf);
        }
        Value::Float(x) => {
            put_key(4, FIXED64, buf);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        Value::Bool(b) => {
            put_key(5, VARINT, buf);
            buf.push(u8::from(*b));
        }
        Value::Json(j) => {
            put_len_field(6, j.len(), buf);
            buf.extend_from_slice(j.as_bytes());
        }
    }
}

fn baggage_entry_len(key: &str, value: &str) -> usize {
    str_field(key) + str_field(value)
}

fn context_len(record: &SpanRecord) -> usize {
    let context = &record.context;
    u64_field(context.trace_id())
        + u64_field(context.span_id)
        + context
            .baggage()
            .iter()
            .map(|(k, v)| len_field(baggage_entry_len(k, v)))
            .sum::<usize>()
}

fn reference_context_len(reference: &Reference) -> usize {
    u64_field(reference.trace_id) + u64_field(reference.span_id)
}

fn reference_len(reference: &Reference) -> usize {
    let relationship = match reference.relationship {
        Relationship::ChildOf => 0,
        Relationship::FollowsFrom => 2,
    };
    relationship + len_field(reference_context_len(reference))
}

fn log_len(log: &LogRecord) -> usize {
    len_field(timestamp_len(wall(log.at)))
        + log
            .fields
            .iter()
            .map(|(k, v)| len_field(key_value_len(k, v)))
            .sum::<usize>()
}

fn duration_micros(record: &SpanRecord) -> u64 {
    let duration = wall(record.finish)
        .duration_since(wall(record.start))
        .unwrap_or_default();
    duration.as_micros().min(u128::from(u64::MAX)) as u64
}

/// The encoded size of a `Span` message for `record` (normalised to wall time).
pub(crate) fn span_len(record: &SpanRecord) -> usize {
    len_field(context_len(record))
        + str_field(&record.operation)
        + record
            .references()
            .map(|r| len_field(reference_len(r)))
            .sum::<usize>()
        + len_field(timestamp_len(wall(record.start)))
        + u64_field(duration_micros(record))
        + record
            .tags
            .iter()
            .map(|(k, v)| len_field(key_value_len(k, v)))
            .sum::<usize>()
        + record
            .logs
            .iter()
            .map(|l| len_field(log_len(l)))
            .sum::<usize>()
}

/// Writes `record` as field `field` (a `Span`), given its `span_len`.
pub(crate) fn put_span(field: u32, record: &SpanRecord, len: usize, buf: &mut Vec<u8>) {
    put_len_field(field, len, buf);
    let context = &record.context;
    put_len_field(1, context_len(record), buf);
    put_u64(1, context.trace_id(), buf);
    put_u64(2, context.span_id, buf);
    for (key, value) in context.baggage() {
        put_len_field(3, baggage_entry_len(key, value), buf);
        put_str(1, key, buf);
        put_str(2, value, buf);
    }
    put_str(2, &record.operation, buf);
    for reference in record.references() {
        put_len_field(3, reference_len(reference), buf);
        if reference.relationship == Relationship::FollowsFrom {
            put_key(1, VARINT, buf);
            buf.push(1);
        }
        put_len_field(2, reference_context_len(reference), buf);
        put_u64(1, reference.trace_id, buf);
        put_u64(2, reference.span_id, buf);
    }
    put_timestamp(4, wall(record.start), buf);
    put_u64(5, duration_micros(record), buf);
    for (key, value) in record.tags.iter() {
        put_key_value(6, key, value, buf);
    }
    for log in &record.logs {
        put_len_field(7, log_len(log), buf);
        put_timestamp(1, wall(log.at), buf);
        for (key, value) in &log.fields {
            put_key_value(2, key, value, buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::SpanContext;
    use crate::encode::{key_value, timestamp};
    use crate::proto::collector as pb;
    use prost::Message;
    use std::time::Duration;

    /// The oracle: the same span built with the generated prost types.
    fn to_proto(record: &SpanRecord) -> pb::Span {
        let reference = |r: &Reference| pb::Reference {
            relationship: match r.relationship {
                Relationship::ChildOf => 0,
                Relationship::FollowsFrom => 1,
            },
            span_context: Some(pb::SpanContext {
                trace_id: r.trace_id,
                span_id: r.span_id,
                baggage: Default::default(),
            }),
        };
        pb::Span {
            span_context: Some(pb::SpanContext {
                trace_id: record.context.trace_id(),
                span_id: record.context.span_id,
                baggage: record.context.baggage().clone().into_iter().collect(),
            }),
            operation_name: record.operation.to_string(),
            references: record.references().map(reference).collect(),
            start_timestamp: Some(timestamp(wall(record.start))),
            duration_micros: duration_micros(record),
            tags: record
                .tags
                .iter()
                .map(|(k, v)| key_value(k.to_string(), v))
                .collect(),
            logs: record
                .logs
                .iter()
                .map(|l| pb::Log {
                    timestamp: Some(timestamp(wall(l.at))),
                    fields: l
                        .fields
                        .iter()
                        .map(|(k, v)| key_value(k.to_string(), v))
                        .collect(),
                })
                .collect(),
        }
    }

    fn record(seed: u64) -> SpanRecord {
        let t0 =
            UNIX_EPOCH + Duration::new(1_700_000_000 + seed, (seed as u32 * 7919) % 1_000_000_000);
        let mut context = SpanContext::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), seed + 1);
        if seed.is_multiple_of(2) {
            context.set_baggage_item("user.id".into(), format!("alice-{seed}"));
            context.set_baggage_item(String::new(), String::new());
        }
        let values = [
            Value::from("hello"),
            Value::from(String::new()),
            Value::Int(-(seed as i64)),
            Value::Int(0),
            Value::Float(0.5),
            Value::Bool(seed.is_multiple_of(3)),
            Value::Json("{\"a\":1}".into()),
        ];
        SpanRecord {
            context,
            operation: if seed.is_multiple_of(5) {
                "".into()
            } else {
                format!("op-{seed}").into()
            },
            parent: (!seed.is_multiple_of(4)).then_some(Reference {
                relationship: Relationship::ChildOf,
                trace_id: seed,
                span_id: u64::MAX - seed,
            }),
            more_references: (0..seed % 3)
                .map(|i| Reference {
                    relationship: Relationship::FollowsFrom,
                    trace_id: i,
                    span_id: i * 1000,
                })
                .collect(),
            start: Moment::Wall(t0),
            finish: Moment::Wall(t0 + Duration::from_micros(seed * 12_345)),
            tags: values
                .iter()
                .take(seed as usize % 8)
                .enumerate()
                .map(|(i, v)| (format!("k{i}").into(), v.clone()))
                .collect(),
            logs: (0..seed % 3)
                .map(|i| LogRecord {
                    at: Moment::Wall(t0 + Duration::from_millis(i)),
                    fields: vec![("".into(), values[(seed + i) as usize % 7].clone())],
                })
                .collect(),
            dropped_logs: 0,
        }
    }

    #[test]
    fn direct_encoding_decodes_to_what_prost_would_build() {
        for seed in 0..500 {
            let record = record(seed);
            let len = span_len(&record);
            let mut buf = Vec::new();
            put_span(3, &record, len, &mut buf);
            assert_eq!(buf.len(), len_field(len), "seed {seed}");
            let report = pb::ReportRequest::decode(buf.as_slice()).expect("decodes");
            let expected = to_proto(&record);
            assert_eq!(report.spans, vec![expected.clone()], "seed {seed}");
            if record.context.baggage().len() < 2 {
                // With at most one map entry the bytes are the same as prost's.
                let mut prost_bytes = Vec::new();
                prost::encoding::message::encode(3, &expected, &mut prost_bytes);
                assert_eq!(buf, prost_bytes, "seed {seed}");
            }
        }
    }

    #[test]
    fn varint_lengths() {
        for (value, len) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u64::MAX, 10),
        ] {
            assert_eq!(varint_len(value), len, "{value}");
            let mut buf = Vec::new();
            put_varint(value, &mut buf);
            assert_eq!(buf.len(), len);
        }
    }
}
