//! A local LightStep collector (cargo feature `collector`): a real HTTP server on
//! loopback that decodes reports with this crate's protobuf types and keeps them.
//!
//! It serves tests, examples, and users checking their own instrumentation.
//!
//! ```
//! use lightstep::collector::LocalCollector;
//! use std::time::Duration;
//!
//! let collector = LocalCollector::start().unwrap();
//! let tracer = lightstep::Tracer::new(
//!     lightstep::Options::new("any-token").collector_url(collector.url()),
//! ).unwrap();
//! tracer.span("hello").start().finish();
//! tracer.flush(Duration::from_secs(5)).unwrap();
//! assert_eq!(collector.spans()[0].operation_name, "hello");
//! ```

mod tree;

pub use tree::render_trace_tree;

use crate::encode::timestamp;
use crate::proto::collector::{Command, ReportRequest, ReportResponse};
use prost::Message;
use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// The largest request body accepted.
const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// One report as the collector received it.
#[derive(Debug, Clone)]
pub struct ReceivedReport {
    /// The decoded request body.
    pub request: ReportRequest,
    /// The `Lightstep-Access-Token` header, if one was sent.
    pub token_header: Option<String>,
    /// The request body exactly as received.
    pub body: Vec<u8>,
    /// The size of the request body in bytes.
    pub body_bytes: usize,
    /// The HTTP status the collector answered with.
    pub status: u16,
}

impl ReceivedReport {
    /// The `spans.dropped` count the report carried.
    pub fn dropped_spans(&self) -> Option<i64> {
        use crate::proto::collector::metrics_sample::Value;
        let metrics = self.request.internal_metrics.as_ref()?;
        metrics
            .counts
            .iter()
            .find(|c| c.name == "spans.dropped")
            .map(|c| match c.value {
                Some(Value::IntValue(n)) => n,
                Some(Value::DoubleValue(x)) => x as i64,
                None => 0,
            })
    }
}

#[derive(Default)]
struct Behaviour {
    required_token: Option<String>,
    /// Answer this many reports with `fail_status` before accepting.
    failures_left: usize,
    fail_status: u16,
    disable: bool,
}

#[derive(Default)]
struct Received {
    reports: Vec<ReceivedReport>,
}

type ReportCallback = Box<dyn Fn(&ReceivedReport) + Send>;

struct Shared {
    received: Mutex<Received>,
    arrived: Condvar,
    behaviour: Mutex<Behaviour>,
    on_report: Mutex<Option<ReportCallback>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A collector listening on a local port.
///
/// Dropping it stops the server.
pub struct LocalCollector {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LocalCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCollector")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LocalCollector {
    /// Starts a collector on a free port of 127.0.0.1.
    pub fn start() -> Result<LocalCollector, crate::Error> {
        LocalCollector::bind("127.0.0.1:0")
    }

    /// Starts a collector on the given address.
    pub fn bind(addr: impl ToSocketAddrs) -> Result<LocalCollector, crate::Error> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| crate::Error::Transport(format!("cannot listen: {e}")))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| crate::Error::Transport("not an IP listener".into()))?;
        let server = Arc::new(server);
        let shared = Arc::new(Shared {
            received: Mutex::new(Received::default()),
            arrived: Condvar::new(),
            behaviour: Mutex::new(Behaviour::default()),
            on_report: Mutex::new(None),
        });
        let thread = {
            let server = Arc::clone(&server);
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("lightstep-local-collector".into())
                .spawn(move || serve(&server, &shared))
                .map_err(|e| crate::Error::Transport(format!("cannot start: {e}")))?
        };
        Ok(LocalCollector {
            addr,
            server,
            shared,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to give [`Options::collector_url`](crate::Options::collector_url).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers 401 to reports that carry another token (in the header or the body).
    pub fn require_token(&self, token: impl Into<String>) {
        lock(&self.shared.behaviour).required_token = Some(token.into());
    }

    /// Answers the next `count` reports with HTTP `status` (keeping them as received).
    pub fn fail_next(&self, count: usize, status: u16) {
        let mut behaviour = lock(&self.shared.behaviour);
        behaviour.failures_left = count;
        behaviour.fail_status = status;
    }

    /// Sends the `disable` command in every response from now on.
    pub fn send_disable(&self) {
        lock(&self.shared.behaviour).disable = true;
    }

    /// Calls `callback` for each report as it arrives (on the collector's thread).
    pub fn on_report(&self, callback: impl Fn(&ReceivedReport) + Send + 'static) {
        *lock(&self.shared.on_report) = Some(Box::new(callback));
    }

    /// Every report received so far, in arrival order.
    pub fn reports(&self) -> Vec<ReceivedReport> {
        lock(&self.shared.received).reports.clone()
    }

    /// The spans of every accepted report, in arrival order.
    pub fn spans(&self) -> Vec<crate::proto::collector::Span> {
        lock(&self.shared.received)
            .reports
            .iter()
            .filter(|r| r.status == 200)
            .flat_map(|r| r.request.spans.iter().cloned())
            .collect()
    }

    /// Waits until at least `count` spans were accepted, or `timeout` passes.
    pub fn wait_for_spans(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut received = lock(&self.shared.received);
        loop {
            let have: usize = received
                .reports
                .iter()
                .filter(|r| r.status == 200)
                .map(|r| r.request.spans.len())
                .sum();
            if have >= count {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            received = match self.shared.arrived.wait_timeout(received, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Drop for LocalCollector {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(server: &tiny_http::Server, shared: &Shared) {
    for mut request in server.incoming_requests() {
        let (status, body) = handle(&mut request, shared);
        let header =
            tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/octet-stream"[..]);
        let mut response = tiny_http::Response::from_data(body).with_status_code(status);
        if let Ok(header) = header {
            response = response.with_header(header);
        }
        let _ = request.respond(response);
    }
}

fn handle(request: &mut tiny_http::Request, shared: &Shared) -> (u16, Vec<u8>) {
    let received_at = SystemTime::now();
    if request.url().split('?').next() != Some("/api/v2/reports") {
        return (404, error_response("no such path", received_at));
    }
    if *request.method() != tiny_http::Method::Post {
        return (405, error_response("reports are POSTed", received_at));
    }
    let mut body = Vec::new();
    if let Err(e) = request
        .as_reader()
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(&mut body)
    {
        return (
            400,
            error_response(&format!("cannot read body: {e}"), received_at),
        );
    }
    if body.len() as u64 > MAX_BODY_BYTES {
        return (413, error_response("body too large", received_at));
    }
    let report = match ReportRequest::decode(body.as_slice()) {
        Ok(report) => report,
        Err(e) => {
            return (
                400,
                error_response(&format!("not a ReportRequest: {e}"), received_at),
            )
        }
    };
    let token_header = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Lightstep-Access-Token"))
        .map(|h| h.value.as_str().to_owned());
    let (status, response) = {
        let mut behaviour = lock(&shared.behaviour);
        let body_token = report
            .auth
            .as_ref()
            .map(|a| a.access_token.as_str())
            .unwrap_or("");
        let token_ok = match &behaviour.required_token {
            None => true,
            Some(required) => {
                let header_ok = token_header.as_deref().is_none_or(|t| t == required);
                let body_ok = body_token.is_empty() || body_token == required;
                header_ok && body_ok && (token_header.is_some() || !body_token.is_empty())
            }
        };
        if !token_ok {
            (401, error_response("invalid access token", received_at))
        } else if behaviour.failures_left > 0 {
            behaviour.failures_left -= 1;
            let status = behaviour.fail_status;
            (status, error_response("injected failure", received_at))
        } else {
            let response = ReportResponse {
                commands: if behaviour.disable {
                    vec![Command {
                        disable: true,
                        dev_mode: false,
                    }]
                } else {
                    Vec::new()
                },
                receive_timestamp: Some(timestamp(received_at)),
                transmit_timestamp: Some(timestamp(SystemTime::now())),
                ..Default::default()
            };
            (200, response.encode_to_vec())
        }
    };
    let received = ReceivedReport {
        request: report,
        token_header,
        body_bytes: body.len(),
        body,
        status,
    };
    if let Some(callback) = lock(&shared.on_report).as_ref() {
        callback(&received);
    }
    lock(&shared.received).reports.push(received);
    shared.arrived.notify_all();
    (status, response)
}

fn error_response(reason: &str, received_at: SystemTime) -> Vec<u8> {
    ReportResponse {
        errors: vec![reason.to_owned()],
        receive_timestamp: Some(timestamp(received_at)),
        transmit_timestamp: Some(timestamp(SystemTime::now())),
        ..Default::default()
    }
    .encode_to_vec()
}
