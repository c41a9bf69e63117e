//! Errors keep their cause: the `io::Error` of a refused connection, the TLS error, the
//! collector's status, reachable with `std::error::Error::source` and downcasting; they
//! stay `Clone` and comparable; and neither they nor any error in their source chain show
//! the access token, even when a collector echoes it back.
//!
//! The event handler is process-wide, so the tests that read events run one at a time.

mod common;

use common::faults::{closed_url, error_events, serial};
use common::{LoopbackServer, TOKEN, WAIT};
use lightstep::proto::collector::ReportResponse;
use lightstep::proto::google::rpc;
use lightstep::{CollectorStatus, Error, ErrorKind, Options, Tracer};
use prost::Message;
use std::error::Error as _;

/// Every error of the chain that starts at `error`, as `Display` and `Debug` texts.
fn chain_texts(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut texts = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        texts.push(format!("{error} | {error:?}"));
        next = error.source();
    }
    texts
}

fn assert_no_token(error: &(dyn std::error::Error + 'static)) {
    for text in chain_texts(error) {
        assert!(!text.contains(TOKEN), "the token shows: {text}");
    }
}

/// A collector that refuses every report with 401 and echoes the token it was sent in
/// its answer: in `ReportResponse.errors` (LightStep) or the `google.rpc.Status` (OTLP).
fn echo() -> LoopbackServer {
    LoopbackServer::start(|request| {
        let token = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Lightstep-Access-Token"))
            .map(|h| h.value.to_string())
            .unwrap_or_default();
        let text = format!("invalid access token {token}");
        let body = if request.url().starts_with("/v1/traces") {
            rpc::Status {
                code: 16,
                message: text,
            }
            .encode_to_vec()
        } else {
            ReportResponse {
                errors: vec![text],
                ..Default::default()
            }
            .encode_to_vec()
        };
        let _ = request.respond(tiny_http::Response::from_data(body).with_status_code(401));
    })
}

#[test]
fn a_refused_connection_keeps_its_io_error_as_the_source() {
    let _guard = serial();
    let url = closed_url();
    let address = url.trim_start_matches("http://").to_owned();
    let tracer = Tracer::new(Options::new(TOKEN).collector_url(url)).expect("tracer");
    tracer.span("undeliverable").start().finish();
    assert!(tracer.flush(std::time::Duration::from_secs(1)).is_err());
    let events = error_events();
    let event = events
        .iter()
        .find(|e| e.to_string().contains(&address))
        .expect("an error event for this collector");
    assert_eq!(event.kind(), ErrorKind::Connection, "{event}");
    let Error::Transport(error) = event.error() else {
        panic!("{:?}", event.error())
    };
    assert_eq!(error.collector(), Some(address.as_str()));
    assert_eq!(error.status(), None, "no collector answered");
    // Error -> io::Error, by `source` and a downcast; the event's chain starts one higher.
    let io = event
        .error()
        .source()
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .expect("the io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    let from_event = event.source().and_then(|e| e.source());
    assert!(from_event.is_some_and(|e| e.is::<std::io::Error>()));
    // The text still says what the cause said.
    assert!(
        event.error().to_string().contains(&io.to_string()),
        "{event}"
    );
}

#[test]
fn errors_stay_clone_and_comparable_and_share_their_source() {
    fn traits<T: Clone + PartialEq + Eq + std::fmt::Debug + Send + Sync + 'static>() {}
    traits::<Error>();
    traits::<lightstep::ReportError>();
    let _guard = serial();
    let url = closed_url();
    let tracer = Tracer::new(Options::new(TOKEN).collector_url(url)).expect("tracer");
    tracer.span("undeliverable").start().finish();
    assert!(tracer.flush(std::time::Duration::from_secs(1)).is_err());
    let error = error_events()
        .into_iter()
        .map(|e| e.error().clone())
        .find(|e| matches!(e, Error::Transport(_)))
        .expect("a transport error");
    let copy = error.clone();
    assert_eq!(copy, error);
    assert_ne!(copy, Error::Timeout);
    let (a, b) = (
        copy.source().expect("source"),
        error.source().expect("source"),
    );
    assert!(std::ptr::addr_eq(a, b), "clones share the source");
}

#[test]
fn a_collector_echoing_the_token_never_gets_it_shown() {
    let _guard = serial();
    let echo = echo();
    for otlp in [false, true] {
        let mut options = Options::new(TOKEN).collector_url(format!("http://{}", echo.addr));
        if otlp {
            options = options.use_otlp();
        }
        let tracer = Tracer::new(options).expect("tracer");
        tracer.span("refused").start().finish();
        let error = tracer.flush(WAIT).expect_err("401 is a refusal");
        let Error::Collector(detail) = &error else {
            panic!("{error:?}")
        };
        assert_eq!(detail.status(), Some(CollectorStatus::Http(401)), "{error}");
        assert_eq!(detail.collector(), Some(echo.addr.to_string().as_str()));
        // The echo came, and was masked.
        assert!(
            error
                .to_string()
                .contains("invalid access token <redacted>"),
            "{error}"
        );
        assert_no_token(&error);
        assert!(common::eventually(|| !error_events().is_empty()));
        for event in error_events() {
            assert_no_token(&event);
        }
    }
}

#[test]
fn a_token_in_the_collector_url_never_shows() {
    let url = format!("https://svc:{TOKEN}@127.0.0.1:1");
    let error = Tracer::new(Options::new(TOKEN).collector_url(url)).expect_err("refused");
    assert!(
        matches!(
            &error,
            Error::InvalidOption {
                option: "collector_url",
                ..
            }
        ),
        "{error:?}"
    );
    assert_no_token(&error);
}
