//! The local collector as an OTLP/HTTP receiver: real protobuf `POST /v1/traces` requests
//! over loopback, the answers OTLP/HTTP asks for, what it keeps, and its faults.

use lightstep::collector::{render_trace_tree, Fault, LocalCollector};
use lightstep::proto::collector::key_value::Value as V;
use lightstep::proto::google::rpc;
use lightstep::proto::opentelemetry::proto::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use lightstep::proto::opentelemetry::proto::common::v1::{any_value, AnyValue, KeyValue};
use lightstep::proto::opentelemetry::proto::resource::v1::Resource;
use lightstep::proto::opentelemetry::proto::trace::v1::{
    span::{Event, Link, SpanKind},
    ResourceSpans, ScopeSpans, Span,
};
use prost::Message;
use std::time::Duration;

const PROTOBUF: &str = "application/x-protobuf";

fn post(collector: &LocalCollector, body: &[u8], headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut request = agent.post(format!("{}/v1/traces", collector.url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).expect("the collector answers");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().expect("a body"))
}

fn post_protobuf(
    collector: &LocalCollector,
    request: &ExportTraceServiceRequest,
) -> (u16, Vec<u8>) {
    post(
        collector,
        &request.encode_to_vec(),
        &[
            ("Content-Type", PROTOBUF),
            ("Lightstep-Access-Token", "tok"),
        ],
    )
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
    }
}

fn span(name: &str, id: u8, parent: Option<u8>, start_ms: u64) -> Span {
    let mut trace_id = vec![0xf1; 8];
    trace_id.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
    Span {
        trace_id,
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: parent
            .map(|p| vec![0, 0, 0, 0, 0, 0, 0, p])
            .unwrap_or_default(),
        name: name.into(),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: 1_700_000_000_000_000_000 + start_ms * 1_000_000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + (start_ms + 2) * 1_000_000,
        ..Default::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", "cart")],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn response(body: &[u8]) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse::decode(body).expect("an ExportTraceServiceResponse")
}

fn rpc_status(body: &[u8]) -> rpc::Status {
    rpc::Status::decode(body).expect("a google.rpc.Status")
}

#[test]
fn otlp_requests_are_kept_whole_and_as_the_lightstep_view() {
    let collector = LocalCollector::start().unwrap();
    let mut root = span("GET /cart", 1, None, 0);
    root.kind = SpanKind::Server as i32;
    root.attributes = vec![string("http.route", "/cart")];
    let mut child = span("load", 2, Some(1), 1);
    child.events = vec![Event {
        time_unix_nano: child.start_time_unix_nano + 500_000,
        name: "cache.miss".into(),
        attributes: vec![string("key", "user:7")],
        dropped_attributes_count: 0,
    }];
    let mut queued = span("queued", 3, None, 5);
    queued.links = vec![Link {
        trace_id: root.trace_id.clone(),
        span_id: root.span_id.clone(),
        ..Default::default()
    }];
    let sent = request(vec![root, child, queued]);
    let (status, body) = post_protobuf(&collector, &sent);
    assert_eq!(status, 200);
    assert_eq!(response(&body).partial_success, None);

    assert!(collector.wait_for_spans(3, Duration::from_secs(5)));
    assert_eq!(collector.otlp_requests(), vec![sent]);
    let reports = collector.reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].token_header.as_deref(), Some("tok"));
    assert!(!reports[0].grpc);
    assert_eq!(reports[0].otlp.as_ref().map(|o| o.rejected_spans), Some(0));
    let tags = &reports[0].request.reporter.as_ref().unwrap().tags;
    assert!(tags
        .iter()
        .any(|t| t.key == "lightstep.component_name"
            && t.value == Some(V::StringValue("cart".into()))));

    let spans = collector.spans();
    assert_eq!(spans.len(), 3);
    let context = spans[1].span_context.as_ref().unwrap();
    assert_eq!((context.trace_id, context.span_id), (7, 2));
    let tree = render_trace_tree(&spans);
    assert_eq!(
        tree,
        "trace 0000000000000007\n\
         └─ GET /cart (2.00 ms)  span.kind=\"server\" http.route=\"/cart\"\n   \
            ├─ load (2.00 ms)\n   \
            │  │ log +500 µs event=\"cache.miss\" key=\"user:7\"\n   \
            └─ queued (2.00 ms) [follows from]\n",
    );
}

#[test]
fn faults_and_the_token_apply_to_otlp_requests() {
    let collector = LocalCollector::start().unwrap();
    let one = request(vec![span("a", 1, None, 0)]);

    collector.fail_next(1, 503);
    let (status, body) = post_protobuf(&collector, &one);
    assert_eq!(status, 503);
    assert_eq!(
        rpc_status(&body),
        rpc::Status {
            code: 14,
            message: "injected failure".into()
        }
    );
    assert_eq!(post_protobuf(&collector, &one).0, 200);
    // The refused request is kept, but its spans are not counted as accepted.
    assert_eq!(collector.reports().len(), 2);
    assert_eq!(collector.span_count(), 1);

    collector.require_token("right");
    let (status, body) = post(
        &collector,
        &one.encode_to_vec(),
        &[
            ("Content-Type", PROTOBUF),
            ("Lightstep-Access-Token", "wrong"),
        ],
    );
    assert_eq!((status, rpc_status(&body).code), (401, 16));
    let (status, _) = post(
        &collector,
        &one.encode_to_vec(),
        &[("Content-Type", PROTOBUF)],
    );
    assert_eq!(
        status, 401,
        "OTLP has no token in the body: the header is needed"
    );
    let (status, _) = post(
        &collector,
        &one.encode_to_vec(),
        &[
            ("content-type", PROTOBUF),
            ("lightstep-access-token", "right"),
        ],
    );
    assert_eq!(status, 200);

    collector.set_fault(Fault::Garbage);
    let (status, body) = post(
        &collector,
        &one.encode_to_vec(),
        &[
            ("Content-Type", PROTOBUF),
            ("Lightstep-Access-Token", "right"),
        ],
    );
    assert_eq!(status, 200);
    assert!(ExportTraceServiceResponse::decode(body.as_slice()).is_err());
}

#[test]
fn partial_successes_reject_spans_as_asked() {
    let collector = LocalCollector::start().unwrap();
    collector.reject_next_spans(3);
    let two = || request(vec![span("a", 1, None, 0), span("b", 2, Some(1), 1)]);
    let rejected = |body: &[u8]| {
        response(body)
            .partial_success
            .map(|p| (p.rejected_spans, p.error_message))
    };
    let (status, body) = post_protobuf(&collector, &two());
    assert_eq!(status, 200);
    assert_eq!(
        rejected(&body),
        Some((2, "rejected 2 of 2 spans (injected)".into()))
    );
    let (_, body) = post_protobuf(&collector, &two());
    assert_eq!(
        rejected(&body),
        Some((1, "rejected 1 of 2 spans (injected)".into()))
    );
    let (_, body) = post_protobuf(&collector, &two());
    assert_eq!(rejected(&body), None);
    // Accepted: 0 + 1 + 2 spans; the requests themselves are kept whole.
    assert_eq!(collector.span_count(), 3);
    let names: Vec<String> = collector
        .spans()
        .into_iter()
        .map(|s| s.operation_name)
        .collect();
    assert_eq!(names, ["a", "a", "b"]);
    let kept: Vec<usize> = collector
        .reports()
        .iter()
        .map(|r| r.otlp.as_ref().map_or(0, |o| o.rejected_spans))
        .collect();
    assert_eq!(kept, [2, 1, 0]);
    assert!(collector
        .otlp_requests()
        .iter()
        .all(|r| r.resource_spans[0].scope_spans[0].spans.len() == 2));
}

#[test]
fn what_is_not_otlp_protobuf_is_refused_with_a_reason() {
    let collector = LocalCollector::start().unwrap();
    let good = request(vec![span("a", 1, None, 0)]).encode_to_vec();
    let mut short_id = span("short", 1, None, 0);
    short_id.span_id = vec![1, 2, 3];
    let short_id = request(vec![short_id]).encode_to_vec();
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: [(&[u8], Headers, u16, &str); 5] = [
        (
            b"{}",
            &[("Content-Type", "application/json")],
            415,
            "application/x-protobuf",
        ),
        (&good, &[], 415, "application/x-protobuf"),
        (
            &good,
            &[("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")],
            415,
            "compressed",
        ),
        (
            &[0xff; 16],
            &[("Content-Type", PROTOBUF)],
            400,
            "not an ExportTraceServiceRequest",
        ),
        (
            &short_id,
            &[("Content-Type", "application/x-protobuf; charset=binary")],
            400,
            "span `short`: span_id is 3 bytes, not 8",
        ),
    ];
    for (body, headers, expected, reason) in cases {
        let (status, answer) = post(&collector, body, headers);
        assert_eq!(status, expected, "{headers:?}");
        let message = rpc_status(&answer).message;
        assert!(message.contains(reason), "{message}");
    }
    assert!(collector.reports().is_empty());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = agent
        .get(format!("{}/v1/traces", collector.url()))
        .call()
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
}
