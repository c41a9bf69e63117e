//! The real OpenTelemetry Python SDK and its OTLP/HTTP exporter (`otel_emit.py` of the
//! interop harness) reporting to `LocalCollector`: ids, parents, kinds, attributes, events,
//! links, status and resource survive, in the request kept whole and in the LightStep view.
//!
//! Opt-in, as `cargo test` needs no Python: `.ci/interop-otlp` sets
//! `LIGHTSTEP_INTEROP_OTEL_PYTHON` (the `setup.sh --otel` venv's python) and
//! `LIGHTSTEP_INTEROP_DIR` (the harness folder). Without them the test says so and checks
//! nothing.

use lightstep::collector::{render_trace_tree, LocalCollector};
use lightstep::proto::opentelemetry::proto::common::v1::{any_value::Value as A, KeyValue};
use lightstep::proto::opentelemetry::proto::trace::v1::{span::SpanKind, status::StatusCode, Span};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const T0: u64 = 1_700_000_000_250_000_000;
const MS: u64 = 1_000_000;

struct Peer {
    python: PathBuf,
    script: PathBuf,
}

fn peer() -> Option<Peer> {
    let python = std::env::var_os("LIGHTSTEP_INTEROP_OTEL_PYTHON")?;
    let dir = std::env::var_os("LIGHTSTEP_INTEROP_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/interop"),
        PathBuf::from,
    );
    Some(Peer {
        python: python.into(),
        script: dir.join("otel_emit.py"),
    })
}

impl Peer {
    /// Runs `otel_emit.py` against `collector` with `args`; whether every export succeeded.
    fn emit(&self, collector: &LocalCollector, args: &[&str]) -> bool {
        let output = Command::new(&self.python)
            .arg(&self.script)
            .arg("--url")
            .arg(collector.url())
            .args(["--timeout", "8"])
            .args(args)
            .output()
            .expect("otel_emit.py runs");
        eprintln!(
            "otel_emit.py {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output.status.success()
    }
}

fn value<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a A> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn string(text: &str) -> A {
    A::StringValue(text.into())
}

fn array(attributes: &[KeyValue], key: &str) -> Vec<A> {
    match value(attributes, key) {
        Some(A::ArrayValue(array)) => array
            .values
            .iter()
            .filter_map(|v| v.value.clone())
            .collect(),
        other => panic!("{key}: not an array: {other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_python_sdk_reports_to_the_local_collector() {
    let Some(peer) = peer() else {
        eprintln!("skipped: set LIGHTSTEP_INTEROP_OTEL_PYTHON (see .ci/interop-otlp)");
        return;
    };
    let collector = LocalCollector::start().unwrap();
    collector.require_token("interop-test-token");
    assert!(peer.emit(&collector, &[]), "every export succeeded");
    assert!(collector.wait_for_spans(5, Duration::from_secs(5)));

    let reports = collector.reports();
    assert_eq!(reports.len(), 1, "one batch");
    assert_eq!(reports[0].status, 200);
    let requests = collector.otlp_requests();
    let resource_spans = &requests[0].resource_spans[0];
    let resource = resource_spans.resource.as_ref().unwrap();
    for (key, expected) in [
        ("service.name", "otel-python-peer"),
        ("service.version", "1.0.0"),
        ("service.instance.id", "otel-python-peer-0001"),
        ("telemetry.sdk.language", "python"),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.version", "1.45.1"),
    ] {
        assert_eq!(
            value(&resource.attributes, key),
            Some(&string(expected)),
            "{key}"
        );
    }
    let scope_spans = &resource_spans.scope_spans[0];
    let scope = scope_spans.scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("interop.otel_emit", "1.0.0")
    );
    assert_eq!(
        value(&scope.attributes, "interop.peer"),
        Some(&string("python"))
    );

    let spans: Vec<&Span> = scope_spans.spans.iter().collect();
    let by_name = |name: &str| -> &Span {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name}"))
    };
    let trace_a = "f1e2d3c4b5a697880123456789abcdef";
    let trace_b = "0000000000000000f1e2d3c4b5a69788";
    for (name, trace, id, parent, kind) in [
        (
            "job.enqueue",
            trace_b,
            "1111111111111111",
            "",
            SpanKind::Producer,
        ),
        (
            "handle_request",
            trace_a,
            "0123456789abcdef",
            "",
            SpanKind::Server,
        ),
        (
            "db.query",
            trace_a,
            "00000000000000ff",
            "0123456789abcdef",
            SpanKind::Client,
        ),
        (
            "db.connect",
            trace_a,
            "fedcba9876543210",
            "00000000000000ff",
            SpanKind::Internal,
        ),
        (
            "job.process",
            trace_a,
            "2222222222222222",
            "0123456789abcdef",
            SpanKind::Consumer,
        ),
    ] {
        let span = by_name(name);
        assert_eq!(hex(&span.trace_id), trace, "{name}");
        assert_eq!(hex(&span.span_id), id, "{name}");
        assert_eq!(hex(&span.parent_span_id), parent, "{name}");
        assert_eq!(span.kind, kind as i32, "{name}");
    }

    let root = by_name("handle_request");
    assert_eq!(
        (root.start_time_unix_nano, root.end_time_unix_nano),
        (T0 + 100 * MS, T0 + 200 * MS)
    );
    let attributes = &root.attributes;
    assert_eq!(
        value(attributes, "http.request.method"),
        Some(&string("GET"))
    );
    assert_eq!(
        value(attributes, "http.response.status_code"),
        Some(&A::IntValue(200))
    );
    assert_eq!(
        value(attributes, "server.load"),
        Some(&A::DoubleValue(0.25))
    );
    assert_eq!(value(attributes, "cache.hit"), Some(&A::BoolValue(true)));
    assert_eq!(value(attributes, "big.int"), Some(&A::IntValue(i64::MIN)));
    assert_eq!(array(attributes, "tags"), [string("alpha"), string("beta")]);
    assert_eq!(
        array(attributes, "retry.delays_ms"),
        [A::IntValue(10), A::IntValue(-20)]
    );
    assert_eq!(
        array(attributes, "weights"),
        [A::DoubleValue(0.5), A::DoubleValue(1.5)]
    );
    assert_eq!(
        array(attributes, "flags"),
        [A::BoolValue(true), A::BoolValue(false)]
    );
    let status = root.status.clone().unwrap();
    assert_eq!(
        (status.code, status.message.as_str()),
        (StatusCode::Ok as i32, "")
    );

    let error = by_name("db.connect").status.clone().unwrap();
    assert_eq!(
        (error.code, error.message.as_str()),
        (StatusCode::Error as i32, "connection refused")
    );

    let event = &by_name("db.query").events[0];
    assert_eq!(
        (event.name.as_str(), event.time_unix_nano),
        ("db.rows_fetched", T0 + 120 * MS)
    );
    assert_eq!(value(&event.attributes, "db.rows"), Some(&A::IntValue(3)));
    assert_eq!(
        value(&event.attributes, "db.cached"),
        Some(&A::BoolValue(false))
    );
    assert_eq!(
        value(&event.attributes, "db.statement"),
        Some(&string("SELECT 1"))
    );
    assert_eq!(
        value(&event.attributes, "db.ratio"),
        Some(&A::DoubleValue(0.125))
    );

    let link = &by_name("job.process").links[0];
    assert_eq!(
        (hex(&link.trace_id), hex(&link.span_id)),
        (trace_b.to_owned(), "1111111111111111".to_owned())
    );
    assert_eq!(link.flags, 0x300, "remote, as the SDK says");
    assert_eq!(
        value(&link.attributes, "link.reason"),
        Some(&string("dequeued"))
    );
    assert_eq!(
        value(&link.attributes, "messaging.batch.index"),
        Some(&A::IntValue(0))
    );

    // The LightStep view renders the two traces (by their low 64 bits) as the SDK made
    // them: kinds, typed attributes (arrays as JSON), status, the event as a log, parents.
    let tree = render_trace_tree(&collector.spans());
    let expected = "\
trace 0123456789abcdef
└─ handle_request (100.00 ms)  span.kind=\"server\" http.request.method=\"GET\" \
http.response.status_code=200 server.load=0.25 cache.hit=true tags=[\"alpha\",\"beta\"] \
retry.delays_ms=[10,-20] weights=[0.5,1.5] flags=[true,false] big.int=-9223372036854775808 \
otel.status_code=\"OK\"
   ├─ db.query (20.00 ms)  span.kind=\"client\" db.system=\"sqlite\"
   │  │ log +10.00 ms event=\"db.rows_fetched\" db.rows=3 db.cached=false \
db.statement=\"SELECT 1\" db.ratio=0.125
   │  └─ db.connect (4.00 ms)  error=true otel.status_description=\"connection refused\"
   └─ job.process (20.00 ms) [follows from]  span.kind=\"consumer\"
trace f1e2d3c4b5a69788
└─ job.enqueue (5.00 ms)  span.kind=\"producer\" messaging.destination.name=\"jobs\"
";
    assert_eq!(tree, expected);
}

#[test]
fn the_python_sdk_meets_the_local_collectors_faults() {
    let Some(peer) = peer() else {
        eprintln!("skipped: set LIGHTSTEP_INTEROP_OTEL_PYTHON (see .ci/interop-otlp)");
        return;
    };
    // A 503 is retried by the exporter (after about a second), and the batch then lands.
    let collector = LocalCollector::start().unwrap();
    collector.fail_next(1, 503);
    assert!(peer.emit(&collector, &[]));
    let statuses: Vec<u16> = collector.reports().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 200]);
    assert_eq!(collector.span_count(), 5);

    // A wrong token is not retried: the export fails, nothing is accepted.
    let collector = LocalCollector::start().unwrap();
    collector.require_token("another-token");
    assert!(!peer.emit(&collector, &[]));
    let statuses: Vec<u16> = collector.reports().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401]);

    // Compressed and JSON bodies are refused (415): the local collector takes protobuf only.
    let collector = LocalCollector::start().unwrap();
    assert!(!peer.emit(&collector, &["--gzip"]));
    assert!(!peer.emit(&collector, &["--json"]));
    assert!(collector.reports().is_empty());

    // One request per span with the simple processor and random ids: all five arrive.
    let collector = LocalCollector::start().unwrap();
    assert!(peer.emit(&collector, &["--processor", "simple", "--random"]));
    assert_eq!(collector.reports().len(), 5);
    assert_eq!(collector.span_count(), 5);
}
