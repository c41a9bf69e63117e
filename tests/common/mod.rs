//! Helpers shared by the integration tests: a tracer wired to a local collector,
//! look-ups into what the collector received, a recorder of the tracer's events, and a
//! small HTTP server on loopback.
#![allow(dead_code)]

pub mod faults;

use lightstep::collector::LocalCollector;
use lightstep::proto::collector::{key_value::Value as V, KeyValue, Span};
use lightstep::{Event, Options, Tracer};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

pub const TOKEN: &str = "test-token-5f2c9e";
pub const WAIT: Duration = Duration::from_secs(10);

/// A collector on loopback and a tracer reporting to it.
pub fn tracer_with(configure: impl FnOnce(Options) -> Options) -> (LocalCollector, Tracer) {
    let collector = LocalCollector::start().expect("collector starts");
    let options = configure(
        Options::new(TOKEN)
            .collector_url(collector.url())
            .component_name("tests"),
    );
    let tracer = Tracer::new(options).expect("tracer starts");
    (collector, tracer)
}

pub fn tracer() -> (LocalCollector, Tracer) {
    tracer_with(|o| o)
}

pub fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.operation_name == name)
        .unwrap_or_else(|| panic!("no span named {name} among {:?}", names(spans)))
}

pub fn names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|s| s.operation_name.as_str()).collect()
}

pub fn span_id(span: &Span) -> u64 {
    span.span_context.as_ref().expect("span context").span_id
}

pub fn trace_id(span: &Span) -> u64 {
    span.span_context.as_ref().expect("span context").trace_id
}

/// The (trace id, span id) of every CHILD_OF reference.
pub fn parents(span: &Span) -> Vec<(u64, u64)> {
    span.references
        .iter()
        .filter(|r| r.relationship == 0)
        .map(|r| {
            let c = r.span_context.as_ref().expect("reference context");
            (c.trace_id, c.span_id)
        })
        .collect()
}

pub fn tag<'a>(fields: &'a [KeyValue], key: &str) -> Option<&'a V> {
    fields
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// Polls `condition` until it holds or `WAIT` passes.
pub fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

/// Waits until `count` (of events recorded) stops changing for 100 ms; panics if it is
/// still changing after `WAIT`, rather than hanging the test run.
pub fn settle(count: impl Fn() -> usize) {
    let deadline = std::time::Instant::now() + WAIT;
    let mut last = count();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = count();
        if now == last {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the count never settled within {WAIT:?} (last {last}, now {now})"
        );
        last = now;
    }
}

static SERIAL: Mutex<()> = Mutex::new(());
static EVENTS: Mutex<Vec<Event>> = Mutex::new(Vec::new());

/// Takes the lock that runs the tests reading events one at a time (the event handler
/// is process-wide) and starts recording events afresh.
pub fn recording() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    record_events();
    // Events of earlier tests' tracers may still be on their way: let them land first.
    settle(|| recorded().len());
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clear();
    guard
}

/// Installs the handler that records every event (`recording` does, first).
pub fn record_events() {
    lightstep::set_global_event_handler(|event| {
        EVENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
    });
}

/// The events recorded since `recording`.
pub fn recorded() -> Vec<Event> {
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// An HTTP server on a free loopback port, answering each request with `handle` on a
/// thread of its own; stopped (and its thread joined) when dropped.
pub struct LoopbackServer {
    pub addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl LoopbackServer {
    pub fn start(mut handle: impl FnMut(tiny_http::Request) + Send + 'static) -> LoopbackServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("listen"));
        let addr = server.server_addr().to_ip().expect("an IP address");
        let thread = {
            let server = Arc::clone(&server);
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    handle(request);
                }
            })
        };
        LoopbackServer {
            addr,
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let joined = thread.join();
            if !std::thread::panicking() {
                joined.expect("the server thread ends");
            }
        }
    }
}
