//! The edges of configuration a user meets: collector URLs parsed strictly with errors that
//! say what is wrong and never repeat credentials, the token's whitespace, a URL that
//! already names the report path, and the one event of a flush after close.

mod common;

use common::*;
use lightstep::{Error, Event, Options, Tracer};
use std::sync::Mutex;
use std::time::Duration;

fn refusal(options: Options) -> (String, String) {
    match Tracer::new(options) {
        Err(Error::InvalidOption { option, reason }) => (option.to_owned(), reason),
        Err(other) => panic!("not an InvalidOption: {other:?}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn collector_urls_are_parsed_strictly() {
    for (url, says) in [
        ("http://[::1]x:18033", "after the IPv6 address"),
        ("http://127.0.0.1:1?x=1", "query"),
        ("http://[zz]:1", "not an IPv6 address"),
        ("http://host:1#frag", "fragment"),
        ("gopher://host:1", "http:// or https://"),
    ] {
        let (option, reason) = refusal(Options::new(TOKEN).collector_url(url));
        assert_eq!(option, "collector_url");
        assert!(reason.contains(says), "{url}: {reason}");
    }
    // The scheme in any case.
    let collector = lightstep::collector::LocalCollector::start().expect("collector");
    let url = collector.url().replace("http://", "HTTP://");
    let tracer = Tracer::new(Options::new(TOKEN).collector_url(url)).expect("HTTP:// is fine");
    tracer.span("upper").start().finish();
    tracer.flush(WAIT).expect("delivered");
    assert_eq!(collector.span_count(), 1);
}

#[test]
fn credentials_in_the_url_are_never_repeated() {
    let url = "https://svc:hunter2-secret@collector.example:443";
    let (option, reason) = refusal(Options::new(TOKEN).collector_url(url));
    assert_eq!(option, "collector_url");
    assert!(reason.contains("credentials"), "{reason}");
    assert!(!reason.contains("hunter2"), "{reason}");
    let options = Options::new(TOKEN).collector_url(url);
    assert!(!format!("{options:?}").contains(TOKEN));
    // No other test of this binary reads the environment.
    std::env::set_var("LIGHTSTEP_ACCESS_TOKEN", TOKEN);
    std::env::set_var("LIGHTSTEP_COLLECTOR_URL", url);
    let text = Options::from_env().expect_err("refused").to_string();
    assert!(
        text.contains("LIGHTSTEP_COLLECTOR_URL") && !text.contains("hunter2"),
        "{text}"
    );
}

#[test]
fn a_token_with_whitespace_around_it_is_refused() {
    for token in [" token", "token ", "token\t"] {
        let (option, reason) = refusal(Options::new(token).collector_url("http://127.0.0.1:1"));
        assert_eq!(option, "access_token");
        assert!(
            reason.contains("whitespace") || reason.contains("control"),
            "{reason}"
        );
        assert!(!reason.contains("token "), "{reason}");
    }
}

#[test]
fn a_url_that_already_names_the_report_path_gets_a_hint() {
    let (option, reason) =
        refusal(Options::new(TOKEN).collector_url("http://127.0.0.1:8360/api/v2/reports"));
    assert_eq!(option, "collector_url");
    assert!(reason.contains("http://127.0.0.1:8360"), "{reason}");
    assert!(reason.contains("adds itself"), "{reason}");
}

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
fn flush_after_close_is_one_event() {
    let collector = lightstep::collector::LocalCollector::start().expect("collector");
    lightstep::set_global_event_handler(|event| {
        if let Event::Error(error) = event {
            EVENTS.lock().unwrap().push(error.to_string());
        }
    });
    lightstep::init(
        Options::new(TOKEN)
            .collector_url(collector.url())
            .component_name("edges")
            .close_timeout(Duration::from_secs(2)),
    )
    .expect("init");
    lightstep::close();
    EVENTS.lock().unwrap().clear();
    lightstep::flush();
    let events = EVENTS.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("closed"), "{events:?}");
}
