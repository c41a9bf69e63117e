//! The OpenTelemetry protocol (OTLP) form of span records: the
//! `ExportTraceServiceRequest` body of `POST {collector_url}/v1/traces`, sized exactly so
//! requests stay under `max_report_bytes`, and the judgement of the collector's answer.
//!
//! The mapping from the LightStep model (README, "OTLP"): the reporter becomes the
//! resource, `span.kind` and `error` tags become the span kind and status, logs become
//! events, the first CHILD_OF reference becomes the parent and every other reference a link.
// The reporter's OTLP transport plugs this in; until then only the tests use it.
#![cfg_attr(not(test), allow(dead_code))]

use crate::encode::truncate;
use crate::identity::TRACER_VERSION;
use crate::proto::collector as pb;
use crate::proto::google::rpc;
use crate::proto::opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
use crate::proto::opentelemetry::proto::common::v1::{
    any_value, AnyValue, InstrumentationScope, KeyValue,
};
use crate::proto::opentelemetry::proto::resource::v1::Resource;
use crate::proto::opentelemetry::proto::trace::v1::{
    span::{Event, Link, SpanKind},
    status::StatusCode,
    Span, Status,
};
use crate::record::{Field, LogRecord, Moment, Reference, Relationship, SpanRecord};
use crate::Value;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message;
use std::collections::HashSet;
use std::time::UNIX_EPOCH;

/// `telemetry.sdk.name` and the instrumentation scope's name: this crate.
pub(crate) const SDK_NAME: &str = "lightstep";
/// `Span.flags`: the W3C `sampled` trace flag.
const FLAG_SAMPLED: u32 = 0x01;
/// The attribute a link carries to say which OpenTracing reference it stands for.
const REF_TYPE: &str = "opentracing.ref_type";
/// The longest collector message kept from an answer.
const MAX_MESSAGE_BYTES: usize = 1024;
/// The most bytes a length prefix takes (a varint of a `u64`).
const MAX_LEN_PREFIX: usize = 10;

/// Builds `ExportTraceServiceRequest` bodies: one `ResourceSpans` (the reporter) holding
/// one `ScopeSpans` (this crate) holding the spans.
pub(crate) struct OtlpEncoder {
    /// `ResourceSpans.resource` (field 1), encoded with its key and length.
    resource: Vec<u8>,
    /// `ScopeSpans.scope` (field 1), encoded with its key and length.
    scope: Vec<u8>,
}

impl OtlpEncoder {
    /// From the reporter identity (`crate::identity::reporter`): the component name (its
    /// `lightstep.component_name` tag) and the reporter tags.
    pub(crate) fn new(reporter: &pb::Reporter) -> OtlpEncoder {
        let mut resource = Resource::default();
        let component = reporter.tags.iter().find_map(|tag| match &tag.value {
            Some(pb::key_value::Value::StringValue(name))
                if tag.key == "lightstep.component_name" =>
            {
                Some(name.clone())
            }
            _ => None,
        });
        let mut push = |key: &str, value: any_value::Value| {
            // The first of a key wins: `service.name` is the component name whatever the
            // tags say, and a user's tag wins over the `telemetry.sdk.*` defaults.
            if !resource.attributes.iter().any(|kv| kv.key == key) {
                resource.attributes.push(KeyValue {
                    key: key.to_owned(),
                    value: Some(AnyValue { value: Some(value) }),
                });
            }
        };
        push(
            "service.name",
            any_value::Value::StringValue(component.unwrap_or_else(|| "unknown_service".into())),
        );
        for tag in &reporter.tags {
            if let Some(value) = &tag.value {
                push(&tag.key, reporter_value(value));
            }
        }
        for (key, value) in [
            ("telemetry.sdk.name", SDK_NAME),
            ("telemetry.sdk.language", "rust"),
            ("telemetry.sdk.version", TRACER_VERSION),
        ] {
            push(key, any_value::Value::StringValue(value.to_owned()));
        }
        let scope = InstrumentationScope {
            name: SDK_NAME.to_owned(),
            version: TRACER_VERSION.to_owned(),
            ..Default::default()
        };
        let mut encoder = OtlpEncoder {
            resource: Vec::new(),
            scope: Vec::new(),
        };
        prost::encoding::message::encode(1, &resource, &mut encoder.resource);
        prost::encoding::message::encode(1, &scope, &mut encoder.scope);
        encoder
    }

    /// The bytes a request takes besides its spans (each span adds
    /// `wire::len_field(span_len)`): the resource, the scope, and the keys and length
    /// prefixes of the two messages around the spans, at their largest.
    pub(crate) fn overhead(&self) -> usize {
        2 * (1 + MAX_LEN_PREFIX) + self.resource.len() + self.scope.len()
    }

    /// The encoded length of one span's `Span` message (not counting its field key and
    /// length prefix).
    pub(crate) fn span_len(&self, record: &SpanRecord) -> usize {
        span(record).encoded_len()
    }

    /// The request body for these spans, each given with its `span_len`.
    pub(crate) fn encode(&self, spans: &[(SpanRecord, usize)]) -> Vec<u8> {
        let spans: Vec<Span> = spans
            .iter()
            .map(|(record, len)| {
                let span = span(record);
                debug_assert_eq!(span.encoded_len(), *len, "span_len of `{}`", span.name);
                span
            })
            .collect();
        // Lengths come from the messages themselves, so the body is valid protobuf even
        // if a given length were stale.
        let spans_len: usize = spans.iter().map(|s| field_len(s.encoded_len())).sum();
        let scope_spans_len = self.scope.len() + spans_len;
        let resource_spans_len = self.resource.len() + field_len(scope_spans_len);
        let mut body = Vec::with_capacity(field_len(resource_spans_len));
        // ExportTraceServiceRequest.resource_spans = 1
        put_len(1, resource_spans_len, &mut body);
        body.extend_from_slice(&self.resource);
        // ResourceSpans.scope_spans = 2
        put_len(2, scope_spans_len, &mut body);
        body.extend_from_slice(&self.scope);
        for span in &spans {
            // ScopeSpans.spans = 2
            put_len(2, span.encoded_len(), &mut body);
            span.encode_raw(&mut body);
        }
        body
    }
}

/// The size of a length-delimited field (numbers 1–15) whose body is `len` bytes.
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn put_len(field: u32, len: usize, body: &mut Vec<u8>) {
    encode_key(field, WireType::LengthDelimited, body);
    encode_varint(len as u64, body);
}

fn reporter_value(value: &pb::key_value::Value) -> any_value::Value {
    use pb::key_value::Value as V;
    match value {
        V::StringValue(s) | V::JsonValue(s) => any_value::Value::StringValue(s.clone()),
        V::IntValue(i) => any_value::Value::IntValue(*i),
        V::DoubleValue(x) => any_value::Value::DoubleValue(*x),
        V::BoolValue(b) => any_value::Value::BoolValue(*b),
    }
}

fn any_value(value: &Value) -> AnyValue {
    let value = match value {
        Value::String(s) => any_value::Value::StringValue(s.to_string()),
        // OTLP has no JSON type: the document goes as a string.
        Value::Json(j) => any_value::Value::StringValue(j.clone()),
        Value::Int(i) => any_value::Value::IntValue(*i),
        Value::Float(x) => any_value::Value::DoubleValue(*x),
        Value::Bool(b) => any_value::Value::BoolValue(*b),
    };
    AnyValue { value: Some(value) }
}

fn key_value(key: &str, value: &Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(any_value(value)),
    }
}

/// The fields with each key once, at its last value (OTLP keys are unique; a key set
/// twice keeps its last value, as OpenTelemetry's `set_attribute` does), in order.
fn last_of_each_key<'a>(fields: impl Iterator<Item = &'a Field>) -> Vec<&'a Field> {
    let all: Vec<&Field> = fields.collect();
    if all.len() <= 16 {
        return all
            .iter()
            .enumerate()
            .filter(|(i, (key, _))| !all[i + 1..].iter().any(|(later, _)| later == key))
            .map(|(_, field)| *field)
            .collect();
    }
    let mut seen = HashSet::with_capacity(all.len());
    let mut kept: Vec<&Field> = all
        .iter()
        .rev()
        .filter(|(key, _)| seen.insert(key.as_ref()))
        .copied()
        .collect();
    kept.reverse();
    kept
}

fn kind_of(tag: &str) -> Option<SpanKind> {
    [
        ("client", SpanKind::Client),
        ("server", SpanKind::Server),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
    ]
    .into_iter()
    .find(|(name, _)| tag.eq_ignore_ascii_case(name))
    .map(|(_, kind)| kind)
}

fn unix_nanos(moment: Moment) -> u64 {
    match moment {
        Moment::Wall(time) => time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos().min(u128::from(u64::MAX)) as u64),
        // Records are normalised to wall time before they are encoded.
        Moment::Mono(_) => 0,
    }
}

fn trace_id(high: u64, low: u64) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&high.to_be_bytes());
    id.extend_from_slice(&low.to_be_bytes());
    id
}

/// The `Span` message for one record.
fn span(record: &SpanRecord) -> Span {
    let context = &record.context;
    let mut kind = SpanKind::Internal;
    let mut error = false;
    let mut attributes = Vec::new();
    for (key, value) in last_of_each_key(record.tags.iter()) {
        match (key.as_ref(), value) {
            ("span.kind", Value::String(name)) if kind_of(name).is_some() => {
                kind = kind_of(name).unwrap_or(SpanKind::Internal);
            }
            ("error", Value::Bool(set)) => error = *set,
            _ => attributes.push(key_value(key, value)),
        }
    }
    // The parent: the first CHILD_OF reference within the same trace. Every other
    // reference is a link.
    let parent = record
        .references()
        .position(|r| r.relationship == Relationship::ChildOf && r.trace_id == context.trace_id);
    let links = record
        .references()
        .enumerate()
        .filter(|(i, _)| Some(*i) != parent)
        .map(|(_, reference)| link(record, reference))
        .collect();
    let mut dropped_events = record.dropped_logs;
    let mut events = Vec::with_capacity(record.logs.len());
    for log in &record.logs {
        match dropped_summary(log) {
            Some(count) => dropped_events += count,
            None => events.push(event(log)),
        }
    }
    let status = error.then(|| Status {
        message: error_message(record).unwrap_or_default(),
        code: StatusCode::Error as i32,
    });
    let start = unix_nanos(record.start);
    Span {
        trace_id: trace_id(context.trace_id_high, context.trace_id),
        span_id: context.span_id.to_be_bytes().to_vec(),
        trace_state: context.tracestate().unwrap_or_default().to_owned(),
        parent_span_id: parent
            .and_then(|i| record.references().nth(i))
            .map(|r| r.span_id.to_be_bytes().to_vec())
            .unwrap_or_default(),
        flags: if context.sampled { FLAG_SAMPLED } else { 0 },
        name: record.operation.to_string(),
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: unix_nanos(record.finish).max(start),
        attributes,
        dropped_attributes_count: 0,
        events,
        dropped_events_count: u32::try_from(dropped_events).unwrap_or(u32::MAX),
        links,
        dropped_links_count: 0,
        status,
    }
}

fn link(record: &SpanRecord, reference: &Reference) -> Link {
    // A reference carries the low 64 bits of its trace id; within the span's own trace
    // the upper half is the span's.
    let high = if reference.trace_id == record.context.trace_id {
        record.context.trace_id_high
    } else {
        0
    };
    let ref_type = match reference.relationship {
        Relationship::ChildOf => "child_of",
        Relationship::FollowsFrom => "follows_from",
    };
    Link {
        trace_id: trace_id(high, reference.trace_id),
        span_id: reference.span_id.to_be_bytes().to_vec(),
        attributes: vec![key_value(REF_TYPE, &Value::from(ref_type))],
        ..Default::default()
    }
}

/// The count in the summary log `normalize` puts in place of dropped logs.
fn dropped_summary(log: &LogRecord) -> Option<u64> {
    match log.fields.as_slice() {
        [(event, Value::String(name)), (count_key, Value::Int(count))]
            if event == "event" && name == "dropped logs" && count_key == "dropped_logs" =>
        {
            u64::try_from(*count).ok()
        }
        _ => None,
    }
}

/// A log as an event: named by its `event` field, else its `message` field, else "log";
/// the field that names it is not repeated among its attributes.
fn event(log: &LogRecord) -> Event {
    let fields = last_of_each_key(log.fields.iter());
    let naming = fields
        .iter()
        .position(|(key, _)| key == "event")
        .or_else(|| fields.iter().position(|(key, _)| key == "message"));
    let name = naming.map_or_else(|| "log".to_owned(), |i| fields[i].1.to_string());
    Event {
        time_unix_nano: unix_nanos(log.at),
        name,
        attributes: fields
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != naming)
            .map(|(_, (key, value))| key_value(key, value))
            .collect(),
        dropped_attributes_count: 0,
    }
}

/// The status message of a span with `error = true`: the `message` of its last log whose
/// `event` is "error" (the OpenTracing convention for an error log).
fn error_message(record: &SpanRecord) -> Option<String> {
    record.logs.iter().rev().find_map(|log| {
        let is_error = log
            .fields
            .iter()
            .any(|(k, v)| k == "event" && matches!(v, Value::String(s) if s == "error"));
        let message = log.fields.iter().find(|(k, _)| k == "message");
        match (is_error, message) {
            (true, Some((_, value))) => Some(value.to_string()),
            _ => None,
        }
    })
}

/// What an OTLP/HTTP collector answered to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OtlpAnswer {
    /// 2xx with an `ExportTraceServiceResponse`: the spans were taken, except
    /// `rejected_spans` of them (a partial success), with the collector's message.
    Accepted {
        rejected_spans: u64,
        message: String,
    },
    /// 2xx, but the body is no `ExportTraceServiceResponse`: the spans were taken (the
    /// status says so), the answer could not be read.
    Unreadable { status: u16, error: String },
    /// Any other status, with the message of its `google.rpc.Status` body (or its text).
    /// `retryable` as the OTLP/HTTP specification says: 429, 502, 503 and 504 only.
    Refused {
        status: u16,
        message: String,
        retryable: bool,
    },
}

/// Judges an OTLP/HTTP answer from its status and body.
pub(crate) fn interpret_response(status: u16, body: &[u8]) -> OtlpAnswer {
    if (200..300).contains(&status) {
        return match ExportTraceServiceResponse::decode(body) {
            Ok(response) => {
                let partial = response.partial_success.unwrap_or_default();
                OtlpAnswer::Accepted {
                    rejected_spans: u64::try_from(partial.rejected_spans).unwrap_or(0),
                    message: truncate(&partial.error_message, MAX_MESSAGE_BYTES),
                }
            }
            Err(e) => OtlpAnswer::Unreadable {
                status,
                error: format!("not an ExportTraceServiceResponse: {e}"),
            },
        };
    }
    let message = match rpc::Status::decode(body) {
        Ok(rpc_status) if !rpc_status.message.is_empty() => rpc_status.message,
        // A proxy's plain-text or HTML page, say.
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    };
    OtlpAnswer::Refused {
        status,
        message: truncate(&message, MAX_MESSAGE_BYTES),
        retryable: matches!(status, 429 | 502 | 503 | 504),
    }
}

/// A wall-clock time as a record carries it once normalised; for tests.
#[cfg(test)]
fn wall(seconds: u64, nanos: u32) -> Moment {
    Moment::Wall(UNIX_EPOCH + std::time::Duration::new(seconds, nanos))
}

#[cfg(test)]
impl OtlpEncoder {
    /// The body for `records`, sized by `span_len` as the reporter does.
    fn encode_records(&self, records: Vec<SpanRecord>) -> Vec<u8> {
        let spans: Vec<(SpanRecord, usize)> = records
            .into_iter()
            .map(|r| {
                let len = self.span_len(&r);
                (r, len)
            })
            .collect();
        self.encode(&spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::SpanContext;
    use crate::identity;
    use crate::proto::opentelemetry::proto::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceRequest,
    };
    use crate::record::Tags;
    use crate::Options;
    use std::sync::Arc;

    fn record(name: &str, context: SpanContext) -> SpanRecord {
        SpanRecord {
            context,
            operation: name.to_owned().into(),
            parent: None,
            more_references: Vec::new(),
            start: wall(1_700_000_000, 250_000_000),
            finish: wall(1_700_000_000, 750_000_000),
            tags: Tags::default(),
            logs: Vec::new(),
            dropped_logs: 0,
        }
    }

    fn encoder() -> OtlpEncoder {
        let options = Options::new("secret-token").component_name("checkout");
        OtlpEncoder::new(&identity::reporter(&options, 0xabc))
    }

    fn decode(body: &[u8]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(body).expect("our body decodes")
    }

    /// The one span of a request holding `record`.
    fn encoded(record: SpanRecord) -> Span {
        let request = decode(&encoder().encode_records(vec![record]));
        assert_eq!(request.resource_spans.len(), 1);
        let scope_spans = &request.resource_spans[0].scope_spans;
        assert_eq!(scope_spans.len(), 1);
        assert_eq!(scope_spans[0].spans.len(), 1);
        scope_spans[0].spans[0].clone()
    }

    fn string(value: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        })
    }

    fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    #[test]
    fn resource_is_the_component_then_reporter_tags_then_the_sdk() {
        let options = Options::new("secret-token")
            .component_name("checkout")
            .tag("service.name", "not-this")
            .tag("team", "payments")
            .tag("shard", 7);
        let reporter = identity::reporter(&options, 0xabc);
        let body =
            OtlpEncoder::new(&reporter).encode_records(vec![record("op", SpanContext::new(1, 2))]);
        let request = decode(&body);
        let resource = request.resource_spans[0].resource.clone().unwrap();
        let keys: Vec<&str> = resource
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(keys[..3], ["service.name", "team", "shard"]);
        assert_eq!(resource.attributes[0].value, string("checkout"));
        assert_eq!(
            attribute(&resource.attributes, "shard"),
            Some(&any_value::Value::IntValue(7))
        );
        // The tracer's own reporter tags follow the user's, then the SDK's.
        assert!(keys.contains(&"lightstep.component_name"));
        assert_eq!(
            attribute(&resource.attributes, "lightstep.guid"),
            Some(&any_value::Value::StringValue("abc".into()))
        );
        assert_eq!(
            keys[keys.len() - 3..],
            [
                "telemetry.sdk.name",
                "telemetry.sdk.language",
                "telemetry.sdk.version"
            ]
        );
        let sdk: Vec<_> = resource.attributes[keys.len() - 3..]
            .iter()
            .map(|kv| kv.value.clone())
            .collect();
        assert_eq!(
            sdk,
            [string("lightstep"), string("rust"), string(TRACER_VERSION)]
        );
        assert_eq!(keys.iter().filter(|k| **k == "service.name").count(), 1);
        // The token is not among them.
        assert!(!body.windows(12).any(|w| w == b"secret-token"));
        let scope = request.resource_spans[0].scope_spans[0]
            .scope
            .clone()
            .unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("lightstep", TRACER_VERSION)
        );
    }

    #[test]
    fn trace_ids_are_kept_whole_with_the_tracestate_and_sampled_flag() {
        let mut context = SpanContext::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210)
            .with_trace_id_high(0xf1e2_d3c4_b5a6_9788);
        context.tracestate = Some(Arc::from("ls=queue-7,congo=t61rcWkgMzE"));
        let span = encoded(record("op", context));
        assert_eq!(
            span.trace_id,
            [
                0xf1, 0xe2, 0xd3, 0xc4, 0xb5, 0xa6, 0x97, 0x88, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
                0xcd, 0xef
            ]
        );
        assert_eq!(
            span.span_id,
            [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10]
        );
        assert_eq!(span.trace_state, "ls=queue-7,congo=t61rcWkgMzE");
        assert_eq!(span.flags, 0x01);
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.name, "op");
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_250_000_000);
        assert_eq!(span.end_time_unix_nano, 1_700_000_000_750_000_000);

        // A 64-bit id: the upper half is zeros, not missing.
        let span = encoded(record("op", SpanContext::new(5, 6)));
        assert_eq!(
            span.trace_id,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]
        );
        assert!(span.trace_state.is_empty());
    }

    #[test]
    fn span_kind_comes_from_the_span_kind_tag() {
        for (tag, kind) in [
            (Some("client"), SpanKind::Client),
            (Some("server"), SpanKind::Server),
            (Some("producer"), SpanKind::Producer),
            (Some("Consumer"), SpanKind::Consumer),
            (None, SpanKind::Internal),
            (Some("batch"), SpanKind::Internal),
        ] {
            let mut r = record("op", SpanContext::new(1, 2));
            if let Some(tag) = tag {
                r.tags.push(("span.kind".into(), Value::from(tag)));
            }
            let span = encoded(r);
            assert_eq!(span.kind, kind as i32, "{tag:?}");
            // A kind OTLP has is not repeated as an attribute; another value is kept.
            let kept = attribute(&span.attributes, "span.kind");
            match tag {
                Some("batch") => {
                    assert_eq!(kept, Some(&any_value::Value::StringValue("batch".into())))
                }
                _ => assert_eq!(kept, None, "{tag:?}"),
            }
        }
    }

    #[test]
    fn error_true_is_status_error_with_the_error_logs_message() {
        let mut r = record("op", SpanContext::new(1, 2));
        r.tags.push(("error".into(), Value::Bool(true)));
        r.logs.push(LogRecord {
            at: wall(1_700_000_000, 500_000_000),
            fields: vec![
                ("event".into(), Value::from("error")),
                ("message".into(), Value::from("connection refused")),
            ],
        });
        let span = encoded(r);
        assert_eq!(
            span.status,
            Some(Status {
                message: "connection refused".into(),
                code: StatusCode::Error as i32
            })
        );
        assert_eq!(attribute(&span.attributes, "error"), None);

        let mut r = record("op", SpanContext::new(1, 2));
        r.tags.push(("error".into(), Value::Bool(true)));
        assert_eq!(encoded(r).status.unwrap().message, "");

        let mut r = record("op", SpanContext::new(1, 2));
        r.tags.push(("error".into(), Value::Bool(false)));
        let span = encoded(r);
        assert_eq!(span.status, None, "unset");
        assert!(span.attributes.is_empty());

        // Only a boolean is a status; any other value stays an attribute.
        let mut r = record("op", SpanContext::new(1, 2));
        r.tags.push(("error".into(), Value::from("timeout")));
        let span = encoded(r);
        assert_eq!(span.status, None);
        assert_eq!(
            attribute(&span.attributes, "error"),
            Some(&any_value::Value::StringValue("timeout".into()))
        );
    }

    #[test]
    fn logs_become_events_named_by_event_or_message() {
        let mut r = record("op", SpanContext::new(1, 2));
        let log = |nanos, fields: Vec<Field>| LogRecord {
            at: wall(1_700_000_000, nanos),
            fields,
        };
        r.logs.push(log(
            300_000_000,
            vec![
                ("event".into(), Value::from("cache.miss")),
                ("key".into(), Value::from("user:7")),
                ("tries".into(), Value::Int(3)),
            ],
        ));
        r.logs.push(log(
            400_000_000,
            vec![
                ("message".into(), Value::from("retrying")),
                ("delay_ms".into(), Value::Float(12.5)),
            ],
        ));
        r.logs
            .push(log(500_000_000, vec![("ok".into(), Value::Bool(true))]));
        r.logs.push(log(
            600_000_000,
            vec![
                ("message".into(), Value::from("both")),
                ("event".into(), Value::from("named.by.event")),
            ],
        ));
        let events = encoded(r).events;
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["cache.miss", "retrying", "log", "named.by.event"]);
        assert_eq!(events[0].time_unix_nano, 1_700_000_000_300_000_000);
        let keys: Vec<&str> = events[0]
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(keys, ["key", "tries"]);
        assert_eq!(
            attribute(&events[0].attributes, "tries"),
            Some(&any_value::Value::IntValue(3))
        );
        assert_eq!(
            attribute(&events[1].attributes, "delay_ms"),
            Some(&any_value::Value::DoubleValue(12.5))
        );
        assert_eq!(attribute(&events[1].attributes, "message"), None);
        assert_eq!(
            attribute(&events[2].attributes, "ok"),
            Some(&any_value::Value::BoolValue(true))
        );
        assert_eq!(
            attribute(&events[3].attributes, "message"),
            Some(&any_value::Value::StringValue("both".into()))
        );
    }

    #[test]
    fn child_of_is_the_parent_and_other_references_are_links() {
        let context = SpanContext::new(0x10, 0x20).with_trace_id_high(0x99);
        let mut r = record("op", context);
        r.parent = Some(Reference {
            relationship: Relationship::FollowsFrom,
            trace_id: 0x10,
            span_id: 0x30,
        });
        r.more_references = vec![
            Reference {
                relationship: Relationship::ChildOf,
                trace_id: 0x10,
                span_id: 0x40,
            },
            Reference {
                relationship: Relationship::ChildOf,
                trace_id: 0x10,
                span_id: 0x50,
            },
            // A CHILD_OF across traces cannot be a parent: it becomes a link.
            Reference {
                relationship: Relationship::ChildOf,
                trace_id: 0x77,
                span_id: 0x60,
            },
        ];
        let span = encoded(r);
        assert_eq!(span.parent_span_id, 0x40u64.to_be_bytes());
        let links: Vec<(Vec<u8>, Vec<u8>, Option<&any_value::Value>)> = span
            .links
            .iter()
            .map(|l| {
                (
                    l.trace_id.clone(),
                    l.span_id.clone(),
                    attribute(&l.attributes, REF_TYPE),
                )
            })
            .collect();
        let same_trace = trace_id(0x99, 0x10);
        let follows = any_value::Value::StringValue("follows_from".into());
        let child = any_value::Value::StringValue("child_of".into());
        assert_eq!(
            links,
            [
                (
                    same_trace.clone(),
                    0x30u64.to_be_bytes().to_vec(),
                    Some(&follows)
                ),
                (same_trace, 0x50u64.to_be_bytes().to_vec(), Some(&child)),
                (
                    trace_id(0, 0x77),
                    0x60u64.to_be_bytes().to_vec(),
                    Some(&child)
                ),
            ]
        );
        assert_eq!(span.dropped_links_count, 0);

        // A plain child: a parent, no links.
        let mut r = record("op", SpanContext::new(0x10, 0x20));
        r.parent = Some(Reference {
            relationship: Relationship::ChildOf,
            trace_id: 0x10,
            span_id: 0x30,
        });
        let span = encoded(r);
        assert_eq!(span.parent_span_id, 0x30u64.to_be_bytes());
        assert!(span.links.is_empty());
    }

    #[test]
    fn attributes_keep_their_types_and_a_repeated_key_its_last_value() {
        let mut r = record("op", SpanContext::new(1, 2));
        for (key, value) in [
            ("s", Value::from("text")),
            ("i", Value::Int(i64::MIN)),
            ("f", Value::Float(-0.25)),
            ("b", Value::Bool(false)),
            ("j", Value::Json("{\"a\":[1,2]}".into())),
            ("s", Value::from("again")),
            ("nan", Value::Float(f64::NAN)),
        ] {
            r.tags.push((key.into(), value));
        }
        let span = encoded(r);
        let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["i", "f", "b", "j", "s", "nan"]);
        use any_value::Value as V;
        assert_eq!(
            attribute(&span.attributes, "i"),
            Some(&V::IntValue(i64::MIN))
        );
        assert_eq!(
            attribute(&span.attributes, "f"),
            Some(&V::DoubleValue(-0.25))
        );
        assert_eq!(attribute(&span.attributes, "b"), Some(&V::BoolValue(false)));
        assert_eq!(
            attribute(&span.attributes, "j"),
            Some(&V::StringValue("{\"a\":[1,2]}".into()))
        );
        assert_eq!(
            attribute(&span.attributes, "s"),
            Some(&V::StringValue("again".into()))
        );
        assert!(
            matches!(attribute(&span.attributes, "nan"), Some(V::DoubleValue(x)) if x.is_nan())
        );
        assert_eq!(span.dropped_attributes_count, 0);

        // Many tags take the other path of `last_of_each_key`, with the same result.
        let mut r = record("op", SpanContext::new(1, 2));
        for n in 0..40 {
            r.tags.push((format!("k{}", n % 20).into(), Value::Int(n)));
        }
        let span = encoded(r);
        assert_eq!(span.attributes.len(), 20);
        assert_eq!(span.attributes[0].key, "k0");
        assert_eq!(attribute(&span.attributes, "k0"), Some(&V::IntValue(20)));
    }

    #[test]
    fn dropped_logs_are_the_dropped_events_count() {
        let mut r = record("op", SpanContext::new(1, 2));
        for n in 0..10 {
            r.push_log(
                LogRecord {
                    at: wall(1_700_000_000, n),
                    fields: vec![("n".into(), Value::Int(i64::from(n)))],
                },
                4,
            );
        }
        let dropped = r.dropped_logs;
        assert!(dropped > 0);
        crate::encode::normalize(
            &mut r,
            &crate::encode::Clock::now(),
            crate::encode::Limits {
                max_log_key_len: 256,
                max_log_value_len: 1024,
            },
        );
        let kept = r.logs.len() - 1; // less the summary `normalize` added
        let span = encoded(r);
        assert_eq!(u64::from(span.dropped_events_count), dropped);
        assert_eq!(span.events.len(), kept);
        assert!(span.events.iter().all(|e| e.name == "log"));
    }

    #[test]
    fn baggage_is_not_sent() {
        let context = SpanContext::new(1, 2).with_baggage_item("user.id", "alice-in-baggage");
        let body = encoder().encode_records(vec![record("op", context)]);
        assert!(!body.windows(16).any(|w| w == b"alice-in-baggage"));
        assert!(!body.windows(7).any(|w| w == b"user.id"));
    }

    #[test]
    fn span_len_is_exact_and_overhead_bounds_the_rest() {
        let encoder = encoder();
        let mut records = Vec::new();
        // Sizes around the one- and two-byte length prefixes, and a large one.
        for (n, size) in [0usize, 1, 90, 127, 128, 300, 16_383, 16_384, 200_000]
            .into_iter()
            .enumerate()
        {
            let mut r = record("op", SpanContext::new(n as u64 + 1, 9));
            r.tags
                .push(("blob".into(), Value::String("x".repeat(size).into())));
            records.push(r);
        }
        let spans: Vec<(SpanRecord, usize)> = records
            .into_iter()
            .map(|r| {
                let len = encoder.span_len(&r);
                (r, len)
            })
            .collect();
        let lens: Vec<usize> = spans.iter().map(|(_, len)| *len).collect();
        let body = encoder.encode(&spans);
        let request = decode(&body);
        let decoded = &request.resource_spans[0].scope_spans[0].spans;
        let decoded_lens: Vec<usize> = decoded.iter().map(Message::encoded_len).collect();
        assert_eq!(decoded_lens, lens);
        let budget = encoder.overhead()
            + lens
                .iter()
                .map(|len| crate::wire::len_field(*len))
                .sum::<usize>();
        assert!(body.len() <= budget, "{} > {budget}", body.len());
        // The bound is tight: only the unused room of the two length prefixes is spare.
        assert!(
            budget - body.len() <= 2 * MAX_LEN_PREFIX,
            "{}",
            budget - body.len()
        );
        // An empty request is valid too.
        let empty = decode(&encoder.encode(&[]));
        assert!(empty.resource_spans[0].scope_spans[0].spans.is_empty());
    }

    #[test]
    fn answers_are_judged_as_otlp_http_says() {
        let accepted = ExportTraceServiceResponse::default().encode_to_vec();
        assert_eq!(
            interpret_response(200, &accepted),
            OtlpAnswer::Accepted {
                rejected_spans: 0,
                message: String::new()
            }
        );
        assert_eq!(
            interpret_response(200, b""),
            OtlpAnswer::Accepted {
                rejected_spans: 0,
                message: String::new()
            }
        );
        let partial = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "3 spans too old".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            interpret_response(200, &partial),
            OtlpAnswer::Accepted {
                rejected_spans: 3,
                message: "3 spans too old".into()
            }
        );
        assert!(matches!(
            interpret_response(200, &[0xff; 8]),
            OtlpAnswer::Unreadable { status: 200, .. }
        ));
        let status = rpc::Status {
            code: 14,
            message: "overloaded".into(),
        }
        .encode_to_vec();
        for (code, retryable) in [
            (429, true),
            (502, true),
            (503, true),
            (504, true),
            (500, false),
            (400, false),
            (401, false),
            (413, false),
        ] {
            assert_eq!(
                interpret_response(code, &status),
                OtlpAnswer::Refused {
                    status: code,
                    message: "overloaded".into(),
                    retryable
                }
            );
        }
        assert_eq!(
            interpret_response(502, b"Bad Gateway\n"),
            OtlpAnswer::Refused {
                status: 502,
                message: "Bad Gateway".into(),
                retryable: true
            }
        );
        let long = "x".repeat(10_000);
        match interpret_response(400, long.as_bytes()) {
            OtlpAnswer::Refused { message, .. } => assert!(message.len() <= MAX_MESSAGE_BYTES),
            other => panic!("{other:?}"),
        }
    }
}

/// The sending half of the OTLP interop check (`.ci/interop-otlp`): with
/// `LIGHTSTEP_INTEROP_OTLP_URL` set, POSTs a request built by `OtlpEncoder` to
/// `{url}/v1/traces` (the real `opentelemetry-proto` decoder of `otlp_collector.py`, which
/// the script then checks field by field) and judges the answer with `interpret_response`
/// as `LIGHTSTEP_INTEROP_OTLP_EXPECT` says (`accepted`, `partial:N` or `refused:STATUS`).
/// Without the variable it checks nothing and says so: `cargo test` runs no Python.
#[cfg(test)]
mod interop {
    use super::*;
    use crate::context::SpanContext;
    use crate::record::Tags;
    use crate::{identity, Options};
    use std::sync::Arc;

    const T0: u64 = 1_700_000_000; // seconds; every time is T0 + some milliseconds

    fn at(ms: u64) -> Moment {
        Moment::Wall(UNIX_EPOCH + std::time::Duration::from_millis(T0 * 1000 + ms))
    }

    fn log(ms: u64, fields: Vec<Field>) -> LogRecord {
        LogRecord { at: at(ms), fields }
    }

    /// The spans the checker expects: every mapping rule of README's OTLP table.
    pub(super) fn records() -> Vec<SpanRecord> {
        let high = 0xf1e2_d3c4_b5a6_9788;
        let trace = 0x0123_4567_89ab_cdef;
        let mut root_context = SpanContext::new(trace, 0x1111_1111_1111_1111)
            .with_trace_id_high(high)
            .with_baggage_item("user.id", "alice");
        root_context.tracestate = Some(Arc::from("ls=queue-7,congo=t61rcWkgMzE"));
        let child = |span_id| SpanContext::new(trace, span_id).with_trace_id_high(high);
        let reference = |relationship, span_id| Reference {
            relationship,
            trace_id: trace,
            span_id,
        };
        let tags = |tags: Vec<(&'static str, Value)>| -> Tags {
            tags.into_iter().map(|(k, v)| (k.into(), v)).collect()
        };
        let checkout = SpanRecord {
            context: root_context,
            operation: "checkout".into(),
            parent: None,
            more_references: Vec::new(),
            start: at(0),
            finish: at(200),
            tags: tags(vec![
                ("span.kind", Value::from("server")),
                ("http.method", Value::from("POST")),
                ("big.int", Value::Int(i64::MIN)),
                ("ratio", Value::Float(0.25)),
                ("cache.hit", Value::Bool(true)),
                ("order", Value::Json("{\"items\":2}".into())),
                ("error", Value::Bool(true)),
            ]),
            logs: vec![log(
                150,
                vec![
                    ("event".into(), Value::from("error")),
                    ("message".into(), Value::from("card declined")),
                ],
            )],
            dropped_logs: 0,
        };
        let charge = SpanRecord {
            context: child(0x2222_2222_2222_2222),
            operation: "charge".into(),
            parent: Some(reference(Relationship::ChildOf, 0x1111_1111_1111_1111)),
            more_references: Vec::new(),
            start: at(10),
            finish: at(120),
            tags: tags(vec![("span.kind", Value::from("client"))]),
            logs: vec![
                log(
                    20,
                    vec![
                        ("event".into(), Value::from("retry")),
                        ("attempt".into(), Value::Int(2)),
                        ("idempotent".into(), Value::Bool(false)),
                        ("backoff_s".into(), Value::Float(0.125)),
                        ("gateway".into(), Value::from("eu-1")),
                    ],
                ),
                log(30, vec![("message".into(), Value::from("giving up"))]),
                log(
                    40,
                    vec![
                        ("event".into(), Value::from("dropped logs")),
                        ("dropped_logs".into(), Value::Int(7)),
                    ],
                ),
            ],
            dropped_logs: 0,
        };
        let audit = SpanRecord {
            context: child(0x3333_3333_3333_3333),
            operation: "audit".into(),
            parent: Some(reference(Relationship::FollowsFrom, 0x1111_1111_1111_1111)),
            more_references: Vec::new(),
            start: at(210),
            finish: at(215),
            tags: tags(vec![
                ("span.kind", Value::from("producer")),
                ("queue", Value::from("audit")),
            ]),
            logs: Vec::new(),
            dropped_logs: 0,
        };
        vec![checkout, charge, audit]
    }

    #[test]
    fn interop_otlp_post() {
        let Ok(url) = std::env::var("LIGHTSTEP_INTEROP_OTLP_URL") else {
            eprintln!("interop_otlp_post: LIGHTSTEP_INTEROP_OTLP_URL not set; nothing sent");
            return;
        };
        let expect = std::env::var("LIGHTSTEP_INTEROP_OTLP_EXPECT").unwrap_or("accepted".into());
        let options = Options::new("interop-test-token")
            .component_name("rust-interop")
            .tag("deployment", "canary");
        let encoder = OtlpEncoder::new(&identity::reporter(&options, 0x5eed));
        let spans: Vec<(SpanRecord, usize)> = records()
            .into_iter()
            .map(|r| {
                let len = encoder.span_len(&r);
                (r, len)
            })
            .collect();
        let body = encoder.encode(&spans);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build()
            .into();
        let mut response = agent
            .post(format!("{}/v1/traces", url.trim_end_matches('/')))
            .header("Content-Type", "application/x-protobuf")
            .header("Lightstep-Access-Token", "interop-test-token")
            .send(&body[..])
            .expect("the collector answers");
        let status = response.status().as_u16();
        let answer = response.body_mut().read_to_vec().expect("a body");
        let answer = interpret_response(status, &answer);
        eprintln!("interop_otlp_post: {} bytes, {answer:?}", body.len());
        match expect.split_once(':') {
            None if expect == "accepted" => assert_eq!(
                answer,
                OtlpAnswer::Accepted {
                    rejected_spans: 0,
                    message: String::new()
                }
            ),
            Some(("partial", n)) => match answer {
                OtlpAnswer::Accepted {
                    rejected_spans,
                    message,
                } => {
                    assert_eq!(rejected_spans.to_string(), n);
                    assert!(message.contains("rejected"), "{message}");
                }
                other => panic!("expected a partial success, got {other:?}"),
            },
            Some(("refused", code)) => match answer {
                OtlpAnswer::Refused {
                    status,
                    message,
                    retryable,
                } => {
                    assert_eq!(status.to_string(), code);
                    assert!(!message.is_empty());
                    assert_eq!(retryable, matches!(status, 429 | 502 | 503 | 504));
                }
                other => panic!("expected a refusal, got {other:?}"),
            },
            _ => panic!(
                "LIGHTSTEP_INTEROP_OTLP_EXPECT={expect}: accepted, partial:N or refused:STATUS"
            ),
        }
    }
}
