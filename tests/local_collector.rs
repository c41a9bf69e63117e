//! The local collector as another tracer (or a curious user) meets it, over real HTTP:
//! every refused request is reported, the older LightStep transports are told which one
//! to use, and a report without a `spans.dropped` count says so.

use lightstep::collector::{LocalCollector, Refusal};
use lightstep::proto::collector::{
    metrics_sample, InternalMetrics, MetricsSample, ReportRequest, Span,
};
use prost::Message;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `body` to `path`; the status, content type and body of the answer.
fn post(
    collector: &LocalCollector,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut response = agent()
        .post(format!("{}{path}", collector.url()))
        .header("Content-Type", content_type)
        .send(body)
        .expect("an answer");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.body_mut().read_to_vec().expect("a body");
    (response.status().as_u16(), content_type, body)
}

fn watched() -> (LocalCollector, Arc<Mutex<Vec<Refusal>>>) {
    let collector = LocalCollector::start().unwrap();
    let seen: Arc<Mutex<Vec<Refusal>>> = Arc::default();
    let sink = Arc::clone(&seen);
    collector.on_refusal(move |refusal| sink.lock().unwrap().push(refusal.clone()));
    (collector, seen)
}

fn report(spans: usize) -> ReportRequest {
    ReportRequest {
        spans: (0..spans)
            .map(|i| Span {
                operation_name: format!("op{i}"),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn every_refused_request_is_reported() {
    let (collector, seen) = watched();
    let protobuf = "application/octet-stream";
    assert_eq!(post(&collector, "/nowhere", protobuf, b"x").0, 404);
    let status = agent()
        .get(format!("{}/api/v2/reports", collector.url()))
        .call()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 405);
    assert_eq!(
        post(&collector, "/api/v2/reports", protobuf, &[0xff; 8]).0,
        400
    );
    collector.fail_next(1, 503);
    let body = report(1).encode_to_vec();
    assert_eq!(post(&collector, "/api/v2/reports", protobuf, &body).0, 503);
    collector.require_token("right");
    assert_eq!(post(&collector, "/api/v2/reports", protobuf, &body).0, 401);
    assert_eq!(post(&collector, "/metrics", protobuf, &[0xff; 8]).0, 400);
    // A request that cannot even be read.
    let mut raw = std::net::TcpStream::connect(collector.addr()).unwrap();
    raw.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    raw.write_all(b"GARBAGE\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = raw.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let refusals = collector.refusals();
    let summary: Vec<(&str, &str, u16)> = refusals
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.status))
        .collect();
    assert_eq!(
        summary,
        [
            ("POST", "/nowhere", 404),
            ("GET", "/api/v2/reports", 405),
            ("POST", "/api/v2/reports", 400),
            ("POST", "/api/v2/reports", 503),
            ("POST", "/api/v2/reports", 401),
            ("POST", "/metrics", 400),
            ("", "", 400),
        ]
    );
    assert!(
        refusals[2].reason.contains("not a ReportRequest"),
        "{:?}",
        refusals[2]
    );
    assert_eq!(refusals[3].reason, "injected failure");
    assert_eq!(refusals[4].reason, "invalid access token");
    assert!(refusals[6].reason.contains("malformed request line"));
    // The callback saw the same, and each says what and why when printed.
    assert_eq!(*seen.lock().unwrap(), refusals);
    assert_eq!(
        refusals[0].to_string(),
        "refused POST /nowhere: 404 no such path"
    );
    assert!(refusals[6].to_string().starts_with("refused ? ?: 400"));
}

#[test]
fn older_lightstep_transports_are_told_which_one_to_use() {
    let (collector, seen) = watched();
    let cases = [
        ("/api/v2/reports", "application/json", 415, "JSON"),
        (
            "/api/v2/reports",
            "Application/JSON; charset=utf-8",
            415,
            "JSON",
        ),
        ("/api/v0/reports", "application/json", 404, "JSON"),
        (
            "/_rpc/v1/reports/binary",
            "application/octet-stream",
            404,
            "Thrift",
        ),
    ];
    for (path, content_type, status, transport) in cases {
        let (got, answered_as, body) = post(&collector, path, content_type, b"{}");
        let text = String::from_utf8(body).expect("a text answer");
        assert_eq!(got, status, "{path} {content_type}: {text}");
        assert!(answered_as.starts_with("text/plain"), "{answered_as}");
        assert!(text.contains(transport), "{text}");
        assert!(
            text.contains("switch the tracer to protobuf over HTTP")
                && text.contains("POST /api/v2/reports"),
            "names the transport to use: {text}"
        );
    }
    let refusals = seen.lock().unwrap().clone();
    assert_eq!(refusals.len(), cases.len());
    assert!(refusals
        .iter()
        .all(|r| r.reason.contains("switch the tracer")));
    // Protobuf at the same path is still a report.
    let (status, _, _) = post(
        &collector,
        "/api/v2/reports",
        "application/octet-stream",
        &report(2).encode_to_vec(),
    );
    assert_eq!(status, 200);
    assert_eq!(collector.span_count(), 2);
}

#[test]
fn a_report_without_a_dropped_count_shows_no_count() {
    let collector = LocalCollector::start().unwrap();
    let with_count = |value| ReportRequest {
        internal_metrics: Some(InternalMetrics {
            counts: vec![MetricsSample {
                name: "spans.dropped".into(),
                value,
            }],
            ..Default::default()
        }),
        ..report(1)
    };
    let bodies = [
        report(1),
        with_count(None),
        with_count(Some(metrics_sample::Value::IntValue(0))),
        with_count(Some(metrics_sample::Value::IntValue(7))),
    ];
    for body in &bodies {
        let (status, _, _) = post(
            &collector,
            "/api/v2/reports",
            "application/octet-stream",
            &body.encode_to_vec(),
        );
        assert_eq!(status, 200);
    }
    let reports = collector.reports();
    let counts: Vec<Option<i64>> = reports.iter().map(|r| r.dropped_spans()).collect();
    assert_eq!(counts, [None, None, Some(0), Some(7)]);
    let shown: Vec<String> = reports.iter().map(|r| r.summary()).collect();
    assert!(shown[0].contains("spans.dropped=no count"), "{}", shown[0]);
    assert!(shown[1].contains("spans.dropped=no count"), "{}", shown[1]);
    assert!(shown[2].contains("spans.dropped=0,"), "{}", shown[2]);
    assert!(shown[3].contains("spans.dropped=7,"), "{}", shown[3]);
    assert!(
        shown[0].starts_with("report from ?: 1 spans, "),
        "{}",
        shown[0]
    );
}
