//! The local collector's OTLP/HTTP receiver: `POST /v1/traces` with a protobuf
//! `ExportTraceServiceRequest`, judged by the same behaviour as LightStep reports (token,
//! `fail_next`, faults), answered with an `ExportTraceServiceResponse` (or a
//! `google.rpc.Status` when refused), and kept both as received and converted to the
//! LightStep view of spans, so `spans()`, `wait_for_spans` and `render_trace_tree` work
//! for OpenTelemetry senders as for LightStep tracers.

use super::{lock, Fault, ReceivedReport, Shared, Verdict};
use crate::encode::timestamp;
use crate::proto::collector::{
    key_value, reference::Relationship, KeyValue, Log, Reference, ReportRequest, Reporter, Span,
    SpanContext,
};
use crate::proto::google::rpc;
use crate::proto::opentelemetry::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use crate::proto::opentelemetry::proto::common::v1::KeyValue as OtlpKeyValue;
use crate::proto::opentelemetry::proto::common::v1::{any_value, AnyValue};
use crate::proto::opentelemetry::proto::trace::v1::{
    span::SpanKind, status::StatusCode, Span as OtlpSpan,
};
use prost::Message;
use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where OTLP/HTTP trace requests arrive.
pub(crate) const PATH: &str = "/v1/traces";

/// An OTLP request as the collector received it (see [`ReceivedReport::otlp`]).
///
/// # Examples
///
/// ```
/// use lightstep::collector::LocalCollector;
/// use lightstep::{Options, Tracer};
/// use std::time::Duration;
///
/// let collector = LocalCollector::start()?;
/// let tracer = Tracer::new(Options::new("t").use_otlp().collector_url(collector.url()))?;
/// tracer.span("over OTLP").start().finish();
/// tracer.flush(Duration::from_secs(5))?;
/// let otlp = collector.reports()[0].otlp.clone().expect("an OTLP request");
/// let spans = &otlp.request.resource_spans[0].scope_spans[0].spans;
/// assert_eq!(spans[0].name, "over OTLP");
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReceivedOtlp {
    /// The decoded request, whole: 128-bit trace ids, kinds, flags, trace state, links,
    /// resource and scope. [`ReceivedReport::request`] holds its LightStep view.
    pub request: ExportTraceServiceRequest,
    /// How many of its spans the answer rejected as a partial success
    /// ([`LocalCollector::reject_next_spans`](super::LocalCollector::reject_next_spans));
    /// the view leaves them out.
    pub rejected_spans: usize,
}

impl Shared {
    /// Decodes, judges and keeps one OTLP/HTTP request.
    pub(crate) fn receive_otlp(
        &self,
        body: &[u8],
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        token_header: Option<String>,
    ) -> Verdict {
        let media_type = content_type
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase());
        if !matches!(
            media_type.as_deref(),
            Some("application/x-protobuf" | "application/protobuf")
        ) {
            return refusal(
                415,
                "only OTLP/HTTP protobuf (application/x-protobuf) is accepted",
            );
        }
        if content_encoding.is_some_and(|e| !e.eq_ignore_ascii_case("identity")) {
            return refusal(415, "compressed bodies are not accepted");
        }
        let request = match ExportTraceServiceRequest::decode(body) {
            Ok(request) => request,
            Err(e) => return refusal(400, &format!("not an ExportTraceServiceRequest: {e}")),
        };
        let mut view = match lightstep_view(&request) {
            Ok(view) => view,
            Err(reason) => return refusal(400, &reason),
        };
        let (status, reason, rejected, fault, headers) = {
            let mut behaviour = lock(&self.behaviour);
            // OTLP carries the token in the header only.
            let token_ok = match &behaviour.required_token {
                None => true,
                Some(required) => token_header.as_deref() == Some(required.as_str()),
            };
            let (status, reason, headers) = behaviour.judge(token_ok, body.len());
            let rejected = if status == 200 {
                let rejected = behaviour.spans_to_reject.min(view.spans.len());
                behaviour.spans_to_reject -= rejected;
                rejected
            } else {
                0
            };
            (status, reason, rejected, behaviour.fault.clone(), headers)
        };
        let response = if status != 200 {
            error_body(status, reason)
        } else if rejected > 0 {
            let total = view.spans.len();
            view.spans.truncate(total - rejected);
            ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans: rejected as i64,
                    error_message: format!("rejected {rejected} of {total} spans (injected)"),
                }),
            }
            .encode_to_vec()
        } else {
            ExportTraceServiceResponse::default().encode_to_vec()
        };
        let received = ReceivedReport {
            request: view,
            token_header,
            body: body.to_vec(),
            body_bytes: body.len(),
            status,
            grpc: false,
            otlp: Some(ReceivedOtlp {
                request,
                rejected_spans: rejected,
            }),
        };
        self.keep(received, reason);
        Verdict {
            status,
            body: response,
            reason: reason.to_owned(),
            fault,
            headers,
        }
    }
}

fn refusal(status: u16, reason: &str) -> Verdict {
    Verdict {
        status,
        body: error_body(status, reason),
        reason: reason.to_owned(),
        fault: Fault::None,
        headers: Vec::new(),
    }
}

/// The body of a refusal, as OTLP/HTTP asks: a `google.rpc.Status` with the gRPC code
/// that stands for the HTTP status.
fn error_body(status: u16, reason: &str) -> Vec<u8> {
    let code = match status {
        400 | 415 => 3,
        401 => 16,
        403 => 7,
        404 => 5,
        408 => 4,
        413 | 429 => 8,
        500 => 13,
        501 => 12,
        502..=504 => 14,
        _ => 2,
    };
    rpc::Status {
        code,
        message: reason.to_owned(),
    }
    .encode_to_vec()
}

/// The LightStep view of an OTLP request: the first resource's attributes as reporter
/// tags (with `lightstep.component_name` from `service.name`), and every span with its
/// parent as a CHILD_OF reference, links as FOLLOWS_FROM (CHILD_OF when the link says
/// `opentracing.ref_type=child_of`), the kind as a `span.kind` tag, status ERROR as
/// `error=true`, events as logs whose `event` field is the event's name. The low 64 bits
/// of each trace id are the view's trace id.
fn lightstep_view(request: &ExportTraceServiceRequest) -> Result<ReportRequest, String> {
    let mut tags: Vec<KeyValue> = request
        .resource_spans
        .first()
        .and_then(|r| r.resource.as_ref())
        .map(|resource| resource.attributes.iter().map(tag).collect())
        .unwrap_or_default();
    let service = tags.iter().find_map(|t| match &t.value {
        Some(key_value::Value::StringValue(name)) if t.key == "service.name" => Some(name.clone()),
        _ => None,
    });
    if let Some(service) = service {
        if !tags.iter().any(|t| t.key == "lightstep.component_name") {
            tags.push(string_tag("lightstep.component_name", service));
        }
    }
    let mut spans = Vec::new();
    for resource_spans in &request.resource_spans {
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                spans.push(view_span(span)?);
            }
        }
    }
    Ok(ReportRequest {
        reporter: Some(Reporter {
            reporter_id: 0,
            tags,
        }),
        spans,
        ..Default::default()
    })
}

fn id64(name: &str, what: &str, bytes: &[u8]) -> Result<u64, String> {
    let id: [u8; 8] = bytes
        .try_into()
        .map_err(|_| format!("span `{name}`: {what} is {} bytes, not 8", bytes.len()))?;
    Ok(u64::from_be_bytes(id))
}

/// The low 64 bits of a 16-byte trace id.
fn trace_id_low(name: &str, bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() != 16 {
        return Err(format!(
            "span `{name}`: trace_id is {} bytes, not 16",
            bytes.len()
        ));
    }
    id64(name, "trace_id", &bytes[8..])
}

fn view_span(span: &OtlpSpan) -> Result<Span, String> {
    let name = &span.name;
    let trace_id = trace_id_low(name, &span.trace_id)?;
    let context = |trace_id, span_id| SpanContext {
        trace_id,
        span_id,
        baggage: Default::default(),
    };
    let mut references = Vec::new();
    if !span.parent_span_id.is_empty() {
        references.push(Reference {
            relationship: Relationship::ChildOf as i32,
            span_context: Some(context(
                trace_id,
                id64(name, "parent_span_id", &span.parent_span_id)?,
            )),
        });
    }
    for link in &span.links {
        let child_of = link.attributes.iter().any(|kv| {
            kv.key == "opentracing.ref_type"
                && matches!(
                    kv.value.as_ref().and_then(|v| v.value.as_ref()),
                    Some(any_value::Value::StringValue(t)) if t == "child_of"
                )
        });
        let relationship = if child_of {
            Relationship::ChildOf
        } else {
            Relationship::FollowsFrom
        };
        references.push(Reference {
            relationship: relationship as i32,
            span_context: Some(context(
                trace_id_low(name, &link.trace_id)?,
                id64(name, "link span_id", &link.span_id)?,
            )),
        });
    }
    let mut tags = Vec::with_capacity(span.attributes.len() + 2);
    let kind = match SpanKind::try_from(span.kind) {
        Ok(SpanKind::Client) => Some("client"),
        Ok(SpanKind::Server) => Some("server"),
        Ok(SpanKind::Producer) => Some("producer"),
        Ok(SpanKind::Consumer) => Some("consumer"),
        _ => None,
    };
    if let Some(kind) = kind {
        tags.push(string_tag("span.kind", kind.to_owned()));
    }
    tags.extend(span.attributes.iter().map(tag));
    if let Some(status) = &span.status {
        match StatusCode::try_from(status.code) {
            Ok(StatusCode::Error) => tags.push(KeyValue {
                key: "error".into(),
                value: Some(key_value::Value::BoolValue(true)),
            }),
            Ok(StatusCode::Ok) => tags.push(string_tag("otel.status_code", "OK".into())),
            _ => {}
        }
        if !status.message.is_empty() {
            tags.push(string_tag(
                "otel.status_description",
                status.message.clone(),
            ));
        }
    }
    let logs = span
        .events
        .iter()
        .map(|event| Log {
            timestamp: Some(timestamp(time(event.time_unix_nano))),
            fields: std::iter::once(string_tag("event", event.name.clone()))
                .chain(event.attributes.iter().map(tag))
                .collect(),
        })
        .collect();
    let duration = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano);
    Ok(Span {
        span_context: Some(context(trace_id, id64(name, "span_id", &span.span_id)?)),
        operation_name: name.clone(),
        references,
        start_timestamp: Some(timestamp(time(span.start_time_unix_nano))),
        duration_micros: duration / 1000,
        tags,
        logs,
    })
}

fn time(unix_nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(unix_nanos)
}

fn string_tag(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(key_value::Value::StringValue(value)),
    }
}

/// An attribute as a tag: scalars keep their type; arrays and key-value lists become
/// JSON (`json_value`), bytes their hex digits.
fn tag(attribute: &OtlpKeyValue) -> KeyValue {
    use any_value::Value as A;
    use key_value::Value as V;
    let value = attribute.value.as_ref().and_then(|v| v.value.as_ref());
    let value = match value {
        None => None,
        Some(A::StringValue(s)) => Some(V::StringValue(s.clone())),
        Some(A::BoolValue(b)) => Some(V::BoolValue(*b)),
        Some(A::IntValue(i)) => Some(V::IntValue(*i)),
        Some(A::DoubleValue(x)) => Some(V::DoubleValue(*x)),
        Some(A::BytesValue(bytes)) => Some(V::StringValue(hex(bytes))),
        Some(other) => {
            let mut text = String::new();
            json(Some(other), &mut text);
            Some(V::JsonValue(text))
        }
    };
    KeyValue {
        key: attribute.key.clone(),
        value,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

fn json(value: Option<&any_value::Value>, out: &mut String) {
    use any_value::Value as A;
    match value {
        None => out.push_str("null"),
        Some(A::StringValue(s)) => json_string(s, out),
        Some(A::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(A::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(A::DoubleValue(x)) if x.is_finite() => {
            let _ = write!(out, "{x}");
        }
        // JSON has no NaN or infinity.
        Some(A::DoubleValue(x)) => json_string(&x.to_string(), out),
        Some(A::BytesValue(bytes)) => json_string(&hex(bytes), out),
        Some(A::ArrayValue(array)) => {
            out.push('[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json(item.value.as_ref(), out);
            }
            out.push(']');
        }
        Some(A::KvlistValue(list)) => {
            out.push('{');
            for (i, kv) in list.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(&kv.key, out);
                out.push(':');
                json(
                    kv.value.as_ref().and_then(|v: &AnyValue| v.value.as_ref()),
                    out,
                );
            }
            out.push('}');
        }
    }
}

fn json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::render_trace_tree;
    use crate::context::SpanContext;
    use crate::otlp::OtlpEncoder;
    use crate::proto::opentelemetry::proto::common::v1::{ArrayValue, KeyValueList};
    use crate::record::{LogRecord, Moment, Reference, Relationship as Rel, SpanRecord};
    use crate::{identity, wire, Options, Value};

    fn at(micros: u64) -> Moment {
        Moment::Wall(
            UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_micros(micros),
        )
    }

    fn record(name: &str, id: u64, parent: Option<(Rel, u64)>, start: u64) -> SpanRecord {
        SpanRecord {
            context: SpanContext::new(0x7, id).with_trace_id_high(0xabc),
            operation: name.to_owned().into(),
            parent: parent.map(|(relationship, span_id)| Reference {
                relationship,
                trace_id: 0x7,
                span_id,
            }),
            more_references: Vec::new(),
            start: at(start),
            finish: at(start + 1500),
            tags: Default::default(),
            logs: Vec::new(),
            dropped_logs: 0,
        }
    }

    /// A small trace whose tags and logs both protocols carry alike.
    fn trace() -> Vec<SpanRecord> {
        let mut root = record("root", 1, None, 0);
        root.tags.push(("http.status_code".into(), Value::Int(200)));
        root.tags.push(("ratio".into(), Value::Float(0.25)));
        let mut child = record("child", 2, Some((Rel::ChildOf, 1)), 100);
        child.tags.push(("cache.hit".into(), Value::Bool(false)));
        child.logs.push(LogRecord {
            at: at(600),
            fields: vec![
                ("event".into(), Value::from("fetched")),
                ("rows".into(), Value::Int(3)),
            ],
        });
        let later = record("later", 3, Some((Rel::FollowsFrom, 1)), 2000);
        vec![root, child, later]
    }

    #[test]
    fn our_otlp_spans_have_the_same_lightstep_view_as_our_lightstep_spans() {
        let reporter = identity::reporter(&Options::new("t").component_name("shop"), 9);
        let encoder = OtlpEncoder::new(&reporter);
        let spans: Vec<(SpanRecord, usize)> = trace()
            .into_iter()
            .map(|r| {
                let len = encoder.span_len(&r);
                (r, len)
            })
            .collect();
        let request = ExportTraceServiceRequest::decode(encoder.encode(&spans).as_slice()).unwrap();
        let view = lightstep_view(&request).unwrap();
        let lightstep: Vec<Span> = spans
            .iter()
            .map(|(r, _)| {
                let mut bytes = Vec::new();
                wire::put_span(1, r, wire::span_len(r), &mut bytes);
                // Field 1, then the length prefix: the `Span` follows.
                let mut body = &bytes[..];
                prost::encoding::decode_key(&mut body).unwrap();
                prost::encoding::decode_varint(&mut body).unwrap();
                Span::decode(body).unwrap()
            })
            .collect();
        assert_eq!(view.spans, lightstep);
        assert_eq!(
            render_trace_tree(&view.spans),
            render_trace_tree(&lightstep)
        );
        let tags = view.reporter.unwrap().tags;
        assert_eq!(tags[0], string_tag("service.name", "shop".into()));
        assert!(tags.contains(&string_tag("lightstep.component_name", "shop".into())));
    }

    fn otlp_span(name: &str) -> OtlpSpan {
        OtlpSpan {
            trace_id: vec![0xab; 16],
            span_id: vec![0x01; 8],
            name: name.into(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_002_500_000,
            ..Default::default()
        }
    }

    fn request(spans: Vec<OtlpSpan>) -> ExportTraceServiceRequest {
        use crate::proto::opentelemetry::proto::trace::v1::{ResourceSpans, ScopeSpans};
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn the_view_carries_kind_status_events_and_structured_attributes() {
        use crate::proto::opentelemetry::proto::trace::v1::{span::Event, Status};
        let value = |v| Some(AnyValue { value: Some(v) });
        let mut span = otlp_span("GET /cart");
        span.kind = SpanKind::Server as i32;
        span.status = Some(Status {
            message: "boom".into(),
            code: StatusCode::Error as i32,
        });
        span.attributes = vec![
            OtlpKeyValue {
                key: "list".into(),
                value: value(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(any_value::Value::StringValue("a\"b".into())),
                        },
                        AnyValue {
                            value: Some(any_value::Value::DoubleValue(f64::INFINITY)),
                        },
                        AnyValue { value: None },
                    ],
                })),
            },
            OtlpKeyValue {
                key: "map".into(),
                value: value(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![OtlpKeyValue {
                        key: "n".into(),
                        value: value(any_value::Value::IntValue(-1)),
                    }],
                })),
            },
            OtlpKeyValue {
                key: "raw".into(),
                value: value(any_value::Value::BytesValue(vec![0xde, 0xad])),
            },
        ];
        span.events = vec![Event {
            time_unix_nano: 1_700_000_000_001_000_000,
            name: "retry".into(),
            ..Default::default()
        }];
        let view = lightstep_view(&request(vec![span])).unwrap();
        let tags = &view.spans[0].tags;
        let json = |key: &str, text: &str| KeyValue {
            key: key.into(),
            value: Some(key_value::Value::JsonValue(text.into())),
        };
        assert_eq!(
            tags,
            &vec![
                string_tag("span.kind", "server".into()),
                json("list", r#"["a\"b","inf",null]"#),
                json("map", r#"{"n":-1}"#),
                string_tag("raw", "dead".into()),
                KeyValue {
                    key: "error".into(),
                    value: Some(key_value::Value::BoolValue(true)),
                },
                string_tag("otel.status_description", "boom".into()),
            ]
        );
        assert_eq!(view.spans[0].duration_micros, 2500);
        let log = &view.spans[0].logs[0];
        assert_eq!(log.fields, vec![string_tag("event", "retry".into())]);
        assert_eq!(log.timestamp.unwrap().nanos, 1_000_000);
    }

    #[test]
    fn malformed_ids_are_refused_with_a_reason() {
        let mut short_trace = otlp_span("a");
        short_trace.trace_id = vec![1; 8];
        let mut long_span = otlp_span("b");
        long_span.span_id = vec![1; 9];
        let mut bad_parent = otlp_span("c");
        bad_parent.parent_span_id = vec![1; 3];
        for (span, expected) in [
            (short_trace, "span `a`: trace_id is 8 bytes, not 16"),
            (long_span, "span `b`: span_id is 9 bytes, not 8"),
            (bad_parent, "span `c`: parent_span_id is 3 bytes, not 8"),
        ] {
            assert_eq!(lightstep_view(&request(vec![span])).unwrap_err(), expected);
        }
    }
}
