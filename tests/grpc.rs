//! The gRPC transport (feature `grpc`) against the local collector's real tonic server on
//! loopback: delivery, nesting, tags, the token as metadata, flush, close, drop counting
//! and splitting under gRPC's message limit; the faults (down, stalled, `UNAVAILABLE` then
//! recovering, `UNAUTHENTICATED`, restart, bad answers, `disable`) with exact accounting
//! and bounded `close`; TLS; and applications with no runtime at all, or with their own.
//!
//! The event handler is process-wide, so the tests run one at a time.
#![cfg(feature = "grpc")]

mod common;

use common::faults::*;
use common::*;
use lightstep::collector::{Fault, LocalCollector, ReceivedReport};
use lightstep::proto::collector::key_value::Value as V;
use lightstep::{Error, ErrorKind, Event, FlushState, Options, Tracer};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// A collector and a tracer reporting to its gRPC port.
fn grpc_tracer_with(configure: impl FnOnce(Options) -> Options) -> (LocalCollector, Tracer) {
    let collector = LocalCollector::start().expect("collector");
    let options = configure(
        Options::new(TOKEN)
            .use_grpc()
            .collector_url(collector.grpc_url())
            .component_name("grpc-tests"),
    );
    (collector, Tracer::new(options).expect("tracer"))
}

fn grpc_tracer() -> (LocalCollector, Tracer) {
    grpc_tracer_with(|o| o)
}

// ---------------------------------------------------------------------------------------
// Delivery

#[test]
fn spans_arrive_over_grpc_with_the_token_as_metadata() {
    let _guard = serial();
    let (collector, tracer) = grpc_tracer_with(|o| o.tag("deployment", "canary"));
    tracer.span("one").start().finish();
    tracer.flush(WAIT).expect("first flush");
    tracer.span("two").start().finish();
    tracer.flush(WAIT).expect("second flush");
    let reports = collector.reports();
    assert_eq!(reports.len(), 2);
    for report in &reports {
        assert!(report.grpc, "the report came over HTTP");
        assert_eq!(report.status, 200);
        assert_eq!(report.token_header.as_deref(), Some(TOKEN));
        let body_token = report
            .request
            .auth
            .as_ref()
            .map(|a| a.access_token.as_str());
        assert_eq!(body_token, Some(TOKEN));
        assert_eq!(report.dropped_spans(), Some(0));
    }
    let reporter = reports[0].request.reporter.clone().expect("reporter");
    assert_eq!(
        tag(&reporter.tags, "deployment"),
        Some(&V::StringValue("canary".into()))
    );
    assert_eq!(
        tag(&reporter.tags, "lightstep.component_name"),
        Some(&V::StringValue("grpc-tests".into()))
    );
    assert_eq!(names(&collector.spans()), vec!["one", "two"]);
    let stats = tracer.stats();
    assert_eq!((stats.finished, stats.delivered, stats.dropped), (2, 2, 0));
    let statuses = || {
        events()
            .iter()
            .filter(|e| matches!(e, Event::StatusReport(_)))
            .count()
    };
    // (At least: a tracer of an earlier test may still be reporting its last spans.)
    assert!(eventually(|| statuses() >= 2), "{:?}", events());
}

#[test]
fn nesting_and_references_survive_grpc() {
    let _guard = serial();
    let (collector, tracer) = grpc_tracer();
    {
        let root = tracer.span("root").start_active();
        {
            let _a = tracer.span("a").start_active();
            let _a1 = tracer.span("a1").start_active();
        }
        let _b = tracer.span("b").start_active();
        let context = root.context().clone();
        tracer.span("later").follows_from(&context).start().finish();
        tracer.span("detached").no_parent().start().finish();
    }
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    assert_eq!(spans.len(), 6, "{:?}", names(&spans));
    let root = named(&spans, "root");
    let (a, a1, b) = (named(&spans, "a"), named(&spans, "a1"), named(&spans, "b"));
    assert!(parents(root).is_empty());
    assert_eq!(parents(a), vec![(trace_id(root), span_id(root))]);
    assert_eq!(parents(b), vec![(trace_id(root), span_id(root))]);
    assert_eq!(parents(a1), vec![(trace_id(a), span_id(a))]);
    let later = named(&spans, "later");
    assert_eq!(later.references.len(), 1);
    assert_eq!(later.references[0].relationship, 1, "FOLLOWS_FROM");
    assert_eq!(trace_id(later), trace_id(root));
    assert_ne!(trace_id(named(&spans, "detached")), trace_id(root));
}

#[test]
fn every_tag_type_keeps_its_type_over_grpc() {
    let _guard = serial();
    let (collector, tracer) = grpc_tracer();
    tracer
        .span("typed")
        .tag("s", "text")
        .tag("i", -42i64)
        .tag("f", 2.5f64)
        .tag("b", true)
        .tag("j", lightstep::Value::Json("{\"k\":1}".into()))
        .start()
        .finish();
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    let tags = &named(&spans, "typed").tags;
    assert_eq!(tag(tags, "s"), Some(&V::StringValue("text".into())));
    assert_eq!(tag(tags, "i"), Some(&V::IntValue(-42)));
    assert_eq!(tag(tags, "f"), Some(&V::DoubleValue(2.5)));
    assert_eq!(tag(tags, "b"), Some(&V::BoolValue(true)));
    assert_eq!(tag(tags, "j"), Some(&V::JsonValue("{\"k\":1}".into())));
}

#[test]
fn close_delivers_everything_then_counts_stragglers_dropped() {
    let _guard = serial();
    let (collector, tracer) = grpc_tracer_with(|o| {
        o.max_reporting_period(Duration::from_secs(600))
            .min_reporting_period(Duration::from_secs(300))
    });
    for i in 0..500 {
        tracer.span(format!("s{i}")).tag("i", i).start().finish();
    }
    let started = Instant::now();
    tracer.close(WAIT).expect("close");
    assert!(started.elapsed() < WAIT);
    assert_eq!(collector.spans().len(), 500);
    tracer.close(WAIT).expect("close is idempotent");
    tracer.span("late").start().finish();
    assert_eq!(tracer.flush(WAIT), Err(lightstep::Error::Closed));
    let stats = tracer.stats();
    assert_eq!(
        (
            stats.finished,
            stats.delivered,
            stats.dropped,
            stats.pending
        ),
        (501, 500, 1, 0)
    );
    assert!(collector.reports().iter().all(|r| r.grpc));
}

#[test]
fn a_full_buffer_drops_and_the_count_reaches_the_collector() {
    let _guard = serial();
    let (collector, tracer) = grpc_tracer_with(|o| {
        o.max_buffered_spans(4)
            .min_reporting_period(Duration::from_secs(300))
            .max_reporting_period(Duration::from_secs(600))
    });
    for _ in 0..100 {
        tracer.span("burst").start().finish();
    }
    assert!(tracer.stats().dropped >= 96, "{:?}", tracer.stats());
    tracer.flush(WAIT).expect("flush");
    let stats = tracer.stats();
    assert_eq!(stats.delivered + stats.dropped, 100, "{stats:?}");
    assert_eq!(collector.span_count() as u64, stats.delivered);
    let reported: i64 = collector
        .reports()
        .iter()
        .filter_map(ReceivedReport::dropped_spans)
        .sum();
    assert_eq!(reported as u64, stats.dropped);
}

#[test]
fn big_batches_are_split_under_the_grpc_message_limit() {
    let _guard = serial();
    // Asking for more than gRPC carries: the transport keeps reports under 4 MiB, and the
    // collector's tonic server keeps gRPC's default 4 MiB limit.
    let (collector, tracer) = grpc_tracer_with(|o| {
        o.max_report_bytes(64 * 1024 * 1024)
            .max_log_value_len(256 * 1024)
            .max_reporting_period(Duration::from_secs(600))
            .min_reporting_period(Duration::from_secs(300))
    });
    let padding = "x".repeat(200 * 1024);
    for i in 0..60 {
        let mut span = tracer.span("big").tag("i", i).start();
        span.log([("padding", lightstep::Value::from(padding.clone()))]);
    }
    tracer.flush(WAIT).expect("flush");
    let reports = collector.reports();
    let sizes: Vec<usize> = reports.iter().map(|r| r.body_bytes).collect();
    assert!(reports.len() >= 3, "{sizes:?}");
    assert!(sizes.iter().all(|&s| s < 4 * 1024 * 1024), "{sizes:?}");
    assert!(reports.iter().all(|r| r.status == 200));
    assert_eq!(collector.span_count(), 60);
    let stats = tracer.stats();
    assert_eq!((stats.delivered, stats.dropped), (60, 0));
}

#[test]
fn the_periodic_timer_and_the_last_handle_deliver() {
    let _guard = serial();
    let (collector, tracer) = grpc_tracer_with(|o| {
        o.min_reporting_period(Duration::from_millis(20))
            .max_reporting_period(Duration::from_millis(50))
    });
    tracer.span("tick").start().finish();
    assert!(collector.wait_for_spans(1, WAIT), "no periodic report");
    let span = tracer.span("last words").start();
    drop(tracer);
    drop(span); // the span held the last handle
    assert!(collector.wait_for_spans(2, WAIT));
}

#[test]
fn the_token_never_shows_in_debug_output_or_errors() {
    let _guard = serial();
    let secret = "secret-token-8d1e44";
    let collector = LocalCollector::start().expect("collector");
    collector.require_token("another-token");
    let options = Options::new(secret)
        .use_grpc()
        .collector_url(collector.grpc_url());
    assert!(!format!("{options:?}").contains(secret));
    let tracer = Tracer::new(options).expect("tracer");
    assert!(!format!("{tracer:?}").contains(secret));
    tracer.span("refused").start().finish();
    let error = tracer.flush(WAIT).expect_err("a wrong token is refused");
    assert!(!format!("{error} {error:?}").contains(secret));
    assert!(eventually(|| !error_events().is_empty()));
    for event in events() {
        let text = format!("{event} {event:?}");
        assert!(!text.contains(secret), "{text}");
    }
    let error = Tracer::new(Options::new(secret).use_grpc().collector_url("grpc://x")).unwrap_err();
    assert!(!format!("{error:?} {error}").contains(secret));
}

// ---------------------------------------------------------------------------------------
// Faults, with the accounting of the HTTP fault suite

#[test]
fn grpc_collector_down() {
    let _guard = serial();
    let mut run = Run::new(closed_url(), Wire::Grpc);
    for _ in 0..5 {
        run.burst(150);
    }
    assert_eq!(run.flushes_ok, 0);
    assert!(
        run.flush_errors.iter().all(|e| *e == Error::Timeout),
        "{:?}",
        run.flush_errors
    );
    let stats = run.finish("down", &[]);
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (750, 0, 750)
    );
    assert_eq!(stats.close, Err(Error::Timeout));
    assert_error_kinds("down", &[ErrorKind::Connection]);
}

#[test]
fn grpc_collector_stalls() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Blackhole);
    let mut run = Run::new(collector.grpc_url(), Wire::Grpc);
    for _ in 0..3 {
        run.burst(100);
    }
    assert_eq!(run.flushes_ok, 0);
    assert_eq!(run.flush_errors, vec![Error::Timeout; 3]);
    let stats = run.finish("stall", &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (0, 300));
    assert_eq!(stats.close, Err(Error::Timeout));
    assert_error_kinds("stall", &[ErrorKind::Flush(FlushState::Transport)]);
}

#[test]
fn grpc_collector_slow() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.set_fault(Fault::Slow(Duration::from_millis(10)));
    let mut run = Run::new(collector.grpc_url(), Wire::Grpc);
    for _ in 0..10 {
        run.burst(80);
    }
    assert_eq!(run.flushes_ok, 10);
    let stats = run.finish("slow", &[&collector]);
    assert_eq!((stats.delivered, stats.dropped), (800, 0));
}

#[test]
fn grpc_unavailable_then_recovers_without_duplicates() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.fail_next(3, 503); // UNAVAILABLE
    let mut run = Run::new(collector.grpc_url(), Wire::Grpc);
    for _ in 0..8 {
        run.burst(150);
    }
    let stats = run.finish("unavailable", &[&collector]);
    let reports = collector.reports();
    let refused: HashSet<u64> = reports
        .iter()
        .filter(|r| r.status == 503)
        .flat_map(|r| r.request.spans.iter().map(span_id))
        .collect();
    let accepted: HashSet<u64> = collector.spans().iter().map(span_id).collect();
    assert!(!refused.is_empty());
    assert!(
        refused.iter().all(|id| accepted.contains(id)),
        "a refused span was not resent"
    );
    assert_eq!(stats.delivered + stats.dropped, 1200);
    assert!(stats.delivered >= 1000, "{stats:?}");
    assert_eq!(stats.close, Ok(()));
    let reported: i64 = reports
        .iter()
        .filter(|r| r.status == 200)
        .filter_map(ReceivedReport::dropped_spans)
        .sum();
    assert_eq!(reported as u64, stats.dropped);
    let unavailable = error_events()
        .into_iter()
        .filter(|e| e.kind() == ErrorKind::Flush(FlushState::Transport))
        .filter(|e| e.to_string().contains("Unavailable"))
        .count();
    assert_eq!(unavailable, 3, "{:?}", error_events());
}

#[test]
fn grpc_unauthenticated_then_accepted() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.require_token("another-token");
    let mut run = Run::new(collector.grpc_url(), Wire::Grpc);
    for _ in 0..3 {
        run.burst(150);
    }
    assert_eq!(run.flushes_ok, 0);
    assert!(collector.reports().iter().all(|r| r.status == 401));
    assert!(eventually(|| error_events().iter().any(|e| {
        e.kind() == ErrorKind::Flush(FlushState::Report)
            && e.to_string().contains("Unauthenticated")
    })));
    collector.require_token(TOKEN);
    run.burst(10);
    let stats = run.finish("unauthenticated", &[&collector]);
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (460, 200, 260),
        "{stats:?}"
    );
    let reported: i64 = collector
        .reports()
        .iter()
        .filter(|r| r.status == 200)
        .filter_map(ReceivedReport::dropped_spans)
        .sum();
    assert_eq!(reported as u64, stats.dropped);
}

#[test]
fn grpc_permission_denied_is_a_report_error() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    collector.fail_next(2, 403);
    let mut run = Run::new(collector.grpc_url(), Wire::Grpc);
    for _ in 0..4 {
        run.burst(50);
    }
    let stats = run.finish("permission", &[&collector]);
    // Refused twice, kept, and delivered by the later flushes.
    assert_eq!((stats.delivered, stats.dropped), (200, 0), "{stats:?}");
    assert!(error_events().iter().any(|e| {
        e.kind() == ErrorKind::Flush(FlushState::Report)
            && e.to_string().contains("PermissionDenied")
    }));
}

#[test]
fn grpc_collector_restarts_mid_run() {
    let _guard = serial();
    let first = LocalCollector::start().expect("collector");
    let (http, grpc) = (first.addr(), first.grpc_addr());
    let mut run = Run::new(first.grpc_url(), Wire::Grpc);
    run.burst(100);
    let before_restart = first.reports();
    drop(first);
    run.burst(100);
    run.burst(100);
    let second = LocalCollector::bind_with_grpc(http, grpc).expect("the same ports again");
    run.burst(10);
    let stats = run.finish_with("restart", &[&second], &before_restart);
    assert_eq!(
        stats.delivered,
        100 + second.span_count() as u64,
        "{stats:?}"
    );
    assert_eq!(
        second.span_count(),
        200,
        "spans held while down were delivered after: {stats:?}"
    );
    assert_eq!(stats.dropped, 10);
}

#[test]
fn grpc_collector_answers_garbage() {
    let _guard = serial();
    accepted_with_a_bad_answer("garbage", Fault::Garbage, Wire::Grpc);
}

#[test]
fn grpc_collector_answers_too_much() {
    let _guard = serial();
    accepted_with_a_bad_answer(
        "huge-answer",
        Fault::HugeResponse(2 * 1024 * 1024),
        Wire::Grpc,
    );
}

#[test]
fn grpc_collector_sends_disable() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    // Only the flushes report: no timer report may split a burst.
    let mut run = Run::with(collector.grpc_url(), Wire::Grpc, |o| {
        o.min_reporting_period(Duration::from_secs(60))
            .max_reporting_period(Duration::from_secs(60))
    });
    run.burst(50);
    collector.send_disable();
    run.burst(50);
    run.burst(50);
    let stats = run.finish("disable", &[&collector]);
    assert!(eventually(|| events()
        .iter()
        .any(|e| matches!(e, Event::TracerDisabled))));
    assert_eq!((stats.delivered, stats.dropped), (100, 50), "{stats:?}");
}

// ---------------------------------------------------------------------------------------
// TLS

mod tls {
    use super::*;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::net::SocketAddr;
    use std::sync::Arc;

    /// A TLS front (ALPN `h2`) for `backend`, relaying bytes both ways, on its own runtime.
    fn tls_front(
        backend: SocketAddr,
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    ) -> SocketAddr {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server config");
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                while let Ok((client, _)) = listener.accept().await {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(client).await else {
                            return;
                        };
                        let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                    });
                }
            });
        });
        addr
    }

    #[test]
    fn a_self_signed_grpc_collector_is_refused_by_default_and_trusted_on_request() {
        let _guard = serial();
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
                .expect("certificate");
        let pem = certified.cert.pem();
        let der = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let collector = LocalCollector::start().expect("collector");
        let front = tls_front(collector.grpc_addr(), der, key);
        let url = format!("https://localhost:{}", front.port());

        let strict =
            Tracer::new(Options::new(TOKEN).use_grpc().collector_url(url.clone())).expect("tracer");
        strict.span("refused").start().finish();
        strict
            .flush(WAIT)
            .expect_err("an unknown issuer must be refused");
        assert!(
            eventually(|| error_events().iter().any(|e| {
                e.kind() == ErrorKind::Connection && e.to_string().contains("certificate")
            })),
            "no certificate error: {:?}",
            error_events()
        );
        assert_eq!(collector.span_count(), 0);

        let trusting = Tracer::new(
            Options::new(TOKEN)
                .use_grpc()
                .collector_url(url)
                .root_certificates_pem(pem),
        )
        .expect("tracer");
        trusting.span("trusted").start().finish();
        trusting.flush(WAIT).expect("flush over TLS");
        assert_eq!(names(&collector.spans()), vec!["trusted"]);
        assert!(collector.reports()[0].grpc);
        assert_eq!(collector.reports()[0].token_header.as_deref(), Some(TOKEN));
    }
}

// ---------------------------------------------------------------------------------------
// Applications with no runtime, and with their own

/// Run in a child process by `a_program_without_any_runtime_exits_cleanly`: a plain
/// program (no tokio of its own) using the global tracer over gRPC, then returning.
#[test]
fn child_program_for_the_no_runtime_test() {
    let Ok(url) = std::env::var("LIGHTSTEP_GRPC_CHILD_URL") else {
        return; // only meaningful in the child process
    };
    lightstep::init(
        Options::new(TOKEN)
            .use_grpc()
            .collector_url(url)
            .component_name("plain-program"),
    )
    .expect("init");
    for i in 0..100 {
        let _span = lightstep::span!("plain", "i" => i);
    }
    lightstep::close();
    let stats = lightstep::global().stats();
    println!(
        "child delivered {} dropped {}",
        stats.delivered, stats.dropped
    );
}

#[test]
fn a_program_without_any_runtime_exits_cleanly() {
    let _guard = serial();
    let collector = LocalCollector::start().expect("collector");
    let started = Instant::now();
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_program_for_the_no_runtime_test",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LIGHTSTEP_GRPC_CHILD_URL", collector.grpc_url())
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("child delivered 100 dropped 0"), "{stdout}");
    assert_eq!(collector.span_count(), 100);
    assert!(collector.reports().iter().all(|r| r.grpc));
    assert!(
        started.elapsed() < WAIT,
        "the child took {:?}",
        started.elapsed()
    );
}

/// Tracing inside the application's own runtime: the reporter's runtime lives on the
/// reporter thread, so nothing nests.
async fn traced_in_a_runtime(flavor: &'static str) {
    let (collector, tracer) = grpc_tracer();
    {
        let _root = tracer.span(format!("{flavor}-root")).start_active();
        tokio::task::yield_now().await;
        tracer.span(format!("{flavor}-child")).start().finish();
    }
    let worker = tracer.clone();
    tokio::spawn(async move {
        worker.span(format!("{flavor}-task")).start().finish();
    })
    .await
    .expect("task");
    // Blocking calls from async code: allowed, bounded, and no nested runtime.
    tracer.flush(WAIT).expect("flush");
    let handle = tokio::runtime::Handle::current();
    let inside = std::thread::spawn(move || {
        let _context = handle.enter();
        let tracer = Tracer::new(
            Options::new(TOKEN)
                .use_grpc()
                .collector_url("http://127.0.0.1:9"),
        )
        .expect("a tracer made inside a runtime context");
        drop(tracer);
    });
    inside.join().expect("no panic");
    tracer.close(WAIT).expect("close");
    let stats = tracer.stats();
    assert_eq!((stats.finished, stats.delivered, stats.dropped), (3, 3, 0));
    assert_eq!(collector.span_count(), 3);
    drop(tracer); // the last handle, dropped inside the runtime
}

#[tokio::test(flavor = "current_thread")]
// The guard only keeps the tests of this file apart (the event handler is global).
#[allow(clippy::await_holding_lock)]
async fn an_application_on_a_current_thread_runtime_can_use_grpc() {
    let _guard = serial();
    traced_in_a_runtime("current-thread").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The guard only keeps the tests of this file apart (the event handler is global).
#[allow(clippy::await_holding_lock)]
async fn an_application_on_a_multi_thread_runtime_can_use_grpc() {
    let _guard = serial();
    traced_in_a_runtime("multi-thread").await;
}

#[test]
fn a_runtime_the_application_builds_around_init_and_close() {
    let _guard = serial();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let collector = LocalCollector::start().expect("collector");
    let url = collector.grpc_url();
    let stats = runtime.block_on(async move {
        let tracer =
            Tracer::new(Options::new(TOKEN).use_grpc().collector_url(url)).expect("tracer");
        let mut tasks = Vec::new();
        for task in 0..4 {
            let tracer = tracer.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..250 {
                    tracer
                        .span("task")
                        .tag("task", task)
                        .tag("i", i)
                        .start()
                        .finish();
                    if i % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        tracer.close(WAIT).expect("close");
        tracer.stats()
    });
    drop(runtime);
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (1000, 1000, 0)
    );
    assert_eq!(collector.span_count(), 1000);
}

#[test]
fn resource_exhausted_for_a_size_already_taken_is_retried_not_split() {
    let _guard = serial();
    let (collector, tracer) = grpc_tracer();
    tracer.span("first").start().finish();
    tracer.span("first, too").start().finish();
    tracer.flush(WAIT).expect("taken");
    // A bare RESOURCE_EXHAUSTED for a request no bigger than one the collector took: not
    // its size (whatever its words: "received message larger than max"), so the same
    // request goes again, whole.
    collector.fail_next(1, 413);
    tracer.span("second").start().finish();
    tracer.flush(WAIT).expect("retried");
    let reports = collector.reports();
    let statuses: Vec<u16> = reports.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 413, 200]);
    assert!(reports[1].body_bytes < reports[0].body_bytes);
    let spans = |i: usize| names(&reports[i].request.spans).len();
    assert_eq!((spans(1), spans(2)), (1, 1), "sent again, whole");
    let refused = error_events()
        .into_iter()
        .find(|e| e.kind() == ErrorKind::Flush(FlushState::Report))
        .expect("an error event for the refusal");
    match refused.error() {
        Error::Collector(e) => {
            assert_eq!(e.status(), Some(lightstep::CollectorStatus::Grpc(8)));
            let status = std::error::Error::source(refused.error())
                .and_then(|s| s.downcast_ref::<tonic::Status>())
                .expect("the tonic Status as the source");
            assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(collector.span_count(), 3);
}
