//! Propagation across processes, as `examples/http_service.rs` does it: a client injects
//! into real HTTP request headers (ureq), a server on loopback (tiny_http) extracts from
//! them and continues the trace, and both report to a local collector, which must see the
//! server's span as a child of the client's.

mod common;

use common::LoopbackServer;
use lightstep::collector::LocalCollector;
use lightstep::proto::collector::Span as ReportedSpan;
use lightstep::{Options, Propagator, SpanContext, Tracer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

fn tracer(collector: &LocalCollector, name: &str, propagators: &[Propagator]) -> Tracer {
    Tracer::new(
        Options::new("t")
            .collector_url(collector.url())
            .component_name(name)
            .propagators(propagators),
    )
    .expect("tracer starts")
}

/// The server of the example: extracts the caller's context from the request headers and
/// opens a child span; answers with what it extracted, or 400 for a corrupt carrier.
fn server(tracer: Tracer) -> LoopbackServer {
    LoopbackServer::start(move |request| handle(request, &tracer))
}

fn handle(request: tiny_http::Request, tracer: &Tracer) {
    let headers: HashMap<String, String> = request
        .headers()
        .iter()
        .map(|h| (h.field.to_string(), h.value.to_string()))
        .collect();
    let (status, body) = match tracer.extract(&headers) {
        Ok(parent) => {
            let builder = tracer.span("server").tag("span.kind", "server");
            let span = match &parent {
                Some(parent) => builder.child_of(parent).start(),
                None => builder.start(),
            };
            let context = span.context();
            let body = format!(
                "found={} trace_high={:x} trace={:x} span={:x} sampled={} recording={} user={}",
                parent.is_some(),
                context.trace_id_high(),
                context.trace_id(),
                context.span_id(),
                context.sampled(),
                span.is_recording(),
                context.baggage_item("user").unwrap_or("-"),
            );
            (200, body)
        }
        Err(error) => (400, error.to_string()),
    };
    let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status));
}

/// The client of the example: injects `context` into the headers of a GET.
fn call(
    addr: SocketAddr,
    tracer: &Tracer,
    context: Option<&SpanContext>,
    extra: &[(&str, &str)],
) -> (u16, HashMap<String, String>) {
    let mut headers = HashMap::new();
    if let Some(context) = context {
        tracer.inject(context, &mut headers);
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(format!("http://{addr}/price"));
    for (key, value) in headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied())
    {
        request = request.header(key, value);
    }
    let mut response = request.call().expect("the server answers");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("a body");
    let fields = if status == 200 {
        body.split(' ')
            .filter_map(|f| f.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    } else {
        HashMap::from([("error".to_owned(), body)])
    };
    (status, fields)
}

fn reported<'a>(spans: &'a [ReportedSpan], name: &str, trace_id: u64) -> Vec<&'a ReportedSpan> {
    spans
        .iter()
        .filter(|s| {
            s.operation_name == name
                && s.span_context.as_ref().map(|c| c.trace_id) == Some(trace_id)
        })
        .collect()
}

#[test]
fn the_server_span_is_a_child_of_the_client_span_in_every_format() {
    let stacks: [(&[Propagator], &[Propagator]); 5] = [
        (&[Propagator::LightStep], &[Propagator::LightStep]),
        (&[Propagator::B3], &[Propagator::B3]),
        (&[Propagator::TraceContext], &[Propagator::TraceContext]),
        // A client that writes all three, a server that reads only one of them.
        (
            &[
                Propagator::TraceContext,
                Propagator::B3,
                Propagator::LightStep,
            ],
            &[Propagator::LightStep],
        ),
        (
            &[Propagator::LightStep, Propagator::B3],
            &[Propagator::TraceContext, Propagator::B3],
        ),
    ];
    for (client_stack, server_stack) in stacks {
        let what = format!("client {client_stack:?}, server {server_stack:?}");
        let collector = LocalCollector::start().unwrap();
        let client = tracer(&collector, "client", client_stack);
        let server_tracer = tracer(&collector, "server", server_stack);
        let server = server(server_tracer.clone());

        let mut span = client.span("client").tag("span.kind", "client").start();
        span.set_baggage_item("user", "alice");
        let sent = span.context().clone();
        let (status, answer) = call(server.addr, &client, Some(&sent), &[]);
        assert_eq!(status, 200, "{what}");
        assert_eq!(answer["found"], "true", "{what}");
        assert_eq!(answer["trace"], format!("{:x}", sent.trace_id()), "{what}");
        assert_eq!(answer["user"], "alice", "{what}: baggage crossed");
        span.finish();
        drop(server);

        client.flush(TIMEOUT).unwrap();
        server_tracer.flush(TIMEOUT).unwrap();
        assert!(collector.wait_for_spans(2, TIMEOUT), "{what}");
        let spans = collector.spans();
        let [client_span] = reported(&spans, "client", sent.trace_id())[..] else {
            panic!("{what}: one client span in {spans:?}")
        };
        let [server_span] = reported(&spans, "server", sent.trace_id())[..] else {
            panic!("{what}: one server span in the client's trace: {spans:?}")
        };
        assert!(
            client_span.references.is_empty(),
            "{what}: the client span is a root"
        );
        let [reference] = &server_span.references[..] else {
            panic!("{what}: one reference: {server_span:?}")
        };
        assert_eq!(reference.relationship, 0, "{what}: CHILD_OF");
        let parent = reference.span_context.as_ref().expect("a parent context");
        assert_eq!(
            (parent.trace_id, parent.span_id),
            (sent.trace_id(), sent.span_id()),
            "{what}: the reference names the client span"
        );
        let server_context = server_span.span_context.as_ref().unwrap();
        assert_eq!(
            format!("{:x}", server_context.span_id),
            answer["span"],
            "{what}"
        );
        assert_ne!(server_context.span_id, sent.span_id(), "{what}");
        assert_eq!(server_context.baggage["user"], "alice", "{what}");
        let stats = server_tracer.stats();
        assert_eq!((stats.delivered, stats.dropped, stats.unsampled), (1, 0, 0));
    }
}

#[test]
fn a_128_bit_trace_id_crosses_in_b3_and_w3c() {
    for propagator in [Propagator::B3, Propagator::TraceContext] {
        let collector = LocalCollector::start().unwrap();
        let client = tracer(&collector, "client", &[propagator]);
        let server_tracer = tracer(&collector, "server", &[propagator]);
        let server = server(server_tracer.clone());
        // A caller upstream of the client used a 128-bit trace id.
        let upstream = SpanContext::new(0x8448eb211c80319c, 0xb7ad6b7169203331)
            .with_trace_id_high(0x0af7651916cd43dd);
        let span = client.span("client").child_of(&upstream).start();
        let (status, answer) = call(server.addr, &client, Some(span.context()), &[]);
        assert_eq!(status, 200);
        assert_eq!(answer["trace_high"], "af7651916cd43dd", "{propagator}");
        assert_eq!(answer["trace"], "8448eb211c80319c", "{propagator}");
        drop(span);
        drop(server);
        client.flush(TIMEOUT).unwrap();
        server_tracer.flush(TIMEOUT).unwrap();
        assert!(collector.wait_for_spans(2, TIMEOUT));
        // LightStep gets the low 64 bits.
        let spans = collector.spans();
        assert_eq!(reported(&spans, "server", 0x8448eb211c80319c).len(), 1);
        assert_eq!(reported(&spans, "client", 0x8448eb211c80319c).len(), 1);
    }
}

#[test]
fn an_unsampled_caller_is_honoured_and_counted_apart() {
    for propagator in [
        Propagator::LightStep,
        Propagator::B3,
        Propagator::TraceContext,
    ] {
        let collector = LocalCollector::start().unwrap();
        let client = tracer(&collector, "client", &[propagator]);
        let server_tracer = tracer(&collector, "server", &[propagator]);
        let server = server(server_tracer.clone());
        let upstream = SpanContext::new(0x5eed, 0x1).with_sampled(false);
        let span = client.span("client").child_of(&upstream).start();
        assert!(!span.is_recording());
        let (status, answer) = call(server.addr, &client, Some(span.context()), &[]);
        assert_eq!(status, 200);
        assert_eq!(answer["found"], "true");
        assert_eq!(answer["sampled"], "false", "{propagator}");
        assert_eq!(answer["recording"], "false", "{propagator}");
        drop(span);

        // A sampled request afterwards, so there is something to wait for.
        let span = client.span("client").start();
        assert_eq!(call(server.addr, &client, Some(span.context()), &[]).0, 200);
        drop(span);
        drop(server);
        client.flush(TIMEOUT).unwrap();
        server_tracer.flush(TIMEOUT).unwrap();
        assert!(collector.wait_for_spans(2, TIMEOUT));

        for stats in [client.stats(), server_tracer.stats()] {
            assert_eq!(stats.finished, 2, "{propagator}: {stats:?}");
            assert_eq!(stats.unsampled, 1, "{propagator}: {stats:?}");
            assert_eq!(stats.dropped, 0, "{propagator}: not dropped: {stats:?}");
            assert_eq!(stats.delivered, 1, "{propagator}: {stats:?}");
        }
        let spans = collector.spans();
        assert_eq!(spans.len(), 2, "only the sampled trace was reported");
        assert!(reported(&spans, "server", 0x5eed).is_empty());
        let dropped: i64 = collector
            .reports()
            .iter()
            .filter_map(|r| r.dropped_spans())
            .sum();
        assert_eq!(
            dropped, 0,
            "{propagator}: the collector was told of no drops"
        );
    }
}

#[test]
fn the_server_answers_a_corrupt_carrier_with_a_clear_error_and_roots_a_bare_request() {
    let collector = LocalCollector::start().unwrap();
    let client = tracer(&collector, "client", &[Propagator::LightStep]);
    let server_tracer = tracer(&collector, "server", &[Propagator::LightStep]);
    let server = server(server_tracer.clone());

    let (status, answer) = call(
        server.addr,
        &client,
        None,
        &[
            ("OT-Tracer-TraceId", "zz"),
            ("OT-Tracer-SpanId", "1"),
            ("OT-Tracer-Sampled", "true"),
        ],
    );
    assert_eq!(status, 400);
    let error = &answer["error"];
    assert!(
        error.contains("lightstep") && error.contains("ot-tracer-traceid"),
        "the error names the format and the key: {error}"
    );

    // Headers in any case are read.
    let (status, answer) = call(
        server.addr,
        &client,
        None,
        &[
            ("OT-Tracer-TraceId", "abc"),
            ("OT-Tracer-SpanId", "def"),
            ("OT-Tracer-Sampled", "1"),
            ("OT-Baggage-User", "bob"),
        ],
    );
    assert_eq!(status, 200);
    assert_eq!((&*answer["trace"], &*answer["user"]), ("abc", "bob"));

    // No trace headers: a new trace.
    let (status, answer) = call(server.addr, &client, None, &[]);
    assert_eq!(status, 200);
    assert_eq!(answer["found"], "false");
    drop(server);
    server_tracer.flush(TIMEOUT).unwrap();
    assert!(collector.wait_for_spans(2, TIMEOUT));
    let spans = collector.spans();
    let trace = u64::from_str_radix(&answer["trace"], 16).unwrap();
    let [root] = reported(&spans, "server", trace)[..] else {
        panic!("one root span: {spans:?}")
    };
    assert!(root.references.is_empty());
    let [child] = reported(&spans, "server", 0xabc)[..] else {
        panic!("one child span: {spans:?}")
    };
    assert_eq!(
        child.references[0].span_context.as_ref().unwrap().span_id,
        0xdef
    );
}
