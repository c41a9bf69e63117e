//! A local LightStep collector (cargo feature `collector`): a real HTTP server on
//! loopback that decodes reports with this crate's protobuf types and keeps them. With the
//! `grpc` feature it also serves `CollectorService/Report` over gRPC on a second port
//! (`LocalCollector::grpc_url`), with the same store of reports and the same faults.
//!
//! It also accepts system metrics (`POST /metrics`, [`Options::system_metrics`]) and
//! keeps them apart ([`LocalCollector::metrics`]), and OpenTelemetry's OTLP/HTTP protobuf
//! (`POST /v1/traces`) from any OpenTelemetry SDK or Collector: those requests are kept
//! whole ([`ReceivedReport::otlp`], [`LocalCollector::otlp_requests`]) and as the same
//! LightStep view of spans, so [`LocalCollector::spans`] and [`render_trace_tree`] show
//! them as they show LightStep reports.
//!
//! It serves tests, examples, and users checking their own instrumentation.
//!
//! [`Options::system_metrics`]: crate::Options::system_metrics
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

#[cfg(feature = "grpc")]
mod grpc;
mod http;
mod otlp;
mod tree;

pub use otlp::ReceivedOtlp;
pub use tree::render_trace_tree;

use crate::encode::timestamp;
use crate::proto::collector::{Command, ReportRequest, ReportResponse};
use crate::proto::metrics::{IngestRequest, IngestResponse};
use crate::proto::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
use http::{Reply, Request, Server};
use prost::Message;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// One report as the collector received it.
///
/// # Examples
///
/// ```
/// use lightstep::collector::LocalCollector;
/// use lightstep::{Options, Tracer};
/// use std::time::Duration;
///
/// let collector = LocalCollector::start()?;
/// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
/// tracer.span("work").start().finish();
/// tracer.flush(Duration::from_secs(5))?;
/// let report = &collector.reports()[0];
/// assert_eq!(report.status, 200);
/// assert_eq!(report.token_header.as_deref(), Some("token"));
/// assert_eq!(report.request.spans.len(), 1);
/// assert_eq!(report.body.len(), report.body_bytes);
/// assert!(!report.grpc);
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReceivedReport {
    /// The decoded request body.
    pub request: ReportRequest,
    /// The `Lightstep-Access-Token` header (gRPC: the `lightstep-access-token` metadata),
    /// if one was sent.
    pub token_header: Option<String>,
    /// The request body exactly as received.
    pub body: Vec<u8>,
    /// The size of the request body in bytes.
    pub body_bytes: usize,
    /// The HTTP status the collector answered with (200: the spans were accepted). Over
    /// gRPC: 200 for `OK`, otherwise the HTTP status whose gRPC code was answered (see
    /// [`LocalCollector::fail_next`]).
    pub status: u16,
    /// Whether the report came over gRPC rather than HTTP.
    pub grpc: bool,
    /// Set when the report came as OTLP (`POST /v1/traces`): the request whole; `request`
    /// then holds its LightStep view (no `auth`, no internal metrics).
    pub otlp: Option<ReceivedOtlp>,
}

impl ReceivedReport {
    /// The `spans.dropped` count the report carried; `None` when it carried none (the
    /// Python tracer sends no internal metrics), which is not a count of 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// tracer.span("work").start().finish();
    /// tracer.flush(Duration::from_secs(5))?;
    /// assert_eq!(collector.reports()[0].dropped_spans(), Some(0));
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn dropped_spans(&self) -> Option<i64> {
        use crate::proto::collector::metrics_sample::Value;
        let metrics = self.request.internal_metrics.as_ref()?;
        metrics
            .counts
            .iter()
            .find(|c| c.name == "spans.dropped")
            .and_then(|c| match c.value {
                Some(Value::IntValue(n)) => Some(n),
                Some(Value::DoubleValue(x)) => Some(x as i64),
                None => None,
            })
    }

    /// One line about the report, as `dev_collector` prints it: the reporter's component
    /// name, the spans, the body size, the `spans.dropped` count (`no count` when the
    /// report carried none) and the status answered.
    ///
    /// ```
    /// use lightstep::collector::ReceivedReport;
    /// let report = ReceivedReport {
    ///     request: Default::default(),
    ///     token_header: None,
    ///     body: Vec::new(),
    ///     body_bytes: 0,
    ///     status: 200,
    ///     grpc: false,
    ///     otlp: None,
    /// };
    /// assert_eq!(
    ///     report.summary(),
    ///     "report from ?: 0 spans, 0 bytes, spans.dropped=no count, answered 200"
    /// );
    /// ```
    pub fn summary(&self) -> String {
        use crate::proto::collector::key_value::Value;
        let component = self
            .request
            .reporter
            .iter()
            .flat_map(|r| r.tags.iter())
            .find(|t| t.key == "lightstep.component_name")
            .and_then(|t| match &t.value {
                Some(Value::StringValue(name)) => Some(name.as_str()),
                _ => None,
            })
            .unwrap_or("?");
        let accounting = match (&self.otlp, self.dropped_spans()) {
            (Some(otlp), _) => format!("OTLP, rejected {}", otlp.rejected_spans),
            (None, Some(count)) => format!("spans.dropped={count}"),
            (None, None) => "spans.dropped=no count".to_owned(),
        };
        format!(
            "report from {component}: {} spans, {} bytes, {accounting}, answered {}",
            self.request.spans.len(),
            self.body_bytes,
            self.status
        )
    }
}

/// A request the collector refused: what was asked, and how and why it was answered.
///
/// Every refusal is kept ([`LocalCollector::refusals`]) and passed to the callback set
/// with [`LocalCollector::on_refusal`]: a path it does not serve (404, also for the older
/// LightStep transports, named in the reason), a method other than `POST` (405), a JSON
/// report (415), an unreadable request (400), and reports or metrics it answered with an
/// error status (a bad token, [`fail_next`](LocalCollector::fail_next), a body that does
/// not decode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The request method (empty if the request line could not be read).
    pub method: String,
    /// The request path (over gRPC, the method's path).
    pub path: String,
    /// The HTTP status answered (over gRPC, the one its status code stands for).
    pub status: u16,
    /// Why, as the answer said.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused {} {}: {} {}",
            if self.method.is_empty() {
                "?"
            } else {
                &self.method
            },
            if self.path.is_empty() {
                "?"
            } else {
                &self.path
            },
            self.status,
            self.reason
        )
    }
}

/// One metrics report (`POST /metrics`, [`Options::system_metrics`](crate::Options::system_metrics))
/// as the collector received it.
///
/// # Examples
///
/// ```
/// use lightstep::collector::LocalCollector;
/// use lightstep::{Options, Tracer};
/// use std::time::Duration;
///
/// let collector = LocalCollector::start()?;
/// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
/// # let tracer = Tracer::new(Options::new("token").collector_url(collector.url())
/// #     .system_metrics(true).system_metrics_interval(Duration::from_millis(20)))?;
/// // With `Options::system_metrics(true)`, the reporter thread posts samples.
/// if cfg!(target_os = "linux") {
///     let deadline = std::time::Instant::now() + Duration::from_secs(10);
///     while collector.metrics().is_empty() && std::time::Instant::now() < deadline {
///         std::thread::sleep(Duration::from_millis(10));
///     }
///     let metrics = &collector.metrics()[0];
///     assert_eq!(metrics.status, 200);
///     assert_eq!(metrics.request.points.len(), 6);
/// }
/// # drop(tracer);
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReceivedMetrics {
    /// The decoded `lightstep.metrics.IngestRequest`.
    pub request: IngestRequest,
    /// The `Lightstep-Access-Token` header, if one was sent.
    pub token_header: Option<String>,
    /// The HTTP status the collector answered with (200: accepted; 401 when
    /// [`require_token`](LocalCollector::require_token) refused the token).
    pub status: u16,
}

impl ReceivedMetrics {
    /// The value of the point named `name`, if the report has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// # let tracer = Tracer::new(Options::new("token").collector_url(collector.url())
    /// #     .system_metrics(true).system_metrics_interval(Duration::from_millis(20)))?;
    /// if cfg!(target_os = "linux") {
    ///     let deadline = std::time::Instant::now() + Duration::from_secs(10);
    ///     while collector.metrics().is_empty() && std::time::Instant::now() < deadline {
    ///         std::thread::sleep(Duration::from_millis(10));
    ///     }
    ///     let metrics = &collector.metrics()[0];
    ///     assert!(metrics.value("runtime.rust.thread_count") >= Some(2.0));
    ///     assert_eq!(metrics.value("no.such.metric"), None);
    /// }
    /// # drop(tracer);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn value(&self, name: &str) -> Option<f64> {
        use crate::proto::metrics::metric_point::Value;
        self.request
            .points
            .iter()
            .find(|p| p.metric_name == name)
            .and_then(|p| match p.value {
                Some(Value::DoubleValue(x)) => Some(x),
                Some(Value::Uint64Value(n)) => Some(n as f64),
                None => None,
            })
    }
}

/// A misbehaviour the collector can be told to show, for testing a tracer against it.
///
/// Over gRPC, `Blackhole` is a call that is never answered, `Slow`, `Garbage` and
/// `HugeResponse` are as over HTTP, and `Truncated` and `Reset` do not apply.
///
/// # Examples
///
/// ```
/// use lightstep::collector::LocalCollector;
/// use lightstep::{Options, Tracer};
/// use std::time::Duration;
///
/// let collector = LocalCollector::start()?;
/// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
/// use lightstep::collector::Fault;
///
/// // A collector that answers slowly: a report bounded by `report_timeout` fails.
/// collector.set_fault(Fault::Slow(Duration::from_secs(2)));
/// let impatient = Tracer::new(
///     Options::new("token")
///         .collector_url(collector.url())
///         .report_timeout(Duration::from_millis(100)),
/// )?;
/// impatient.span("work").start().finish();
/// assert!(impatient.flush(Duration::from_secs(5)).is_err());
/// # drop(tracer);
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Behave.
    None,
    /// Accept connections but never read or answer.
    Blackhole,
    /// Wait this long before each answer.
    Slow(Duration),
    /// Answer 200 with a body that is not a `ReportResponse` (the report is kept).
    Garbage,
    /// Answer 200 but hang up halfway through the response body (the report is kept).
    Truncated,
    /// Answer 200 with a response body of this many bytes (the report is kept).
    HugeResponse(usize),
    /// Hang up on each request without reading it (the peer sees a reset).
    Reset,
}

struct Behaviour {
    fault: Fault,
    required_token: Option<String>,
    /// Answer this many reports with `fail_status` (and `fail_headers`) before accepting.
    failures_left: usize,
    fail_status: u16,
    fail_headers: Vec<(String, String)>,
    /// Answer 413 to reports bigger than this.
    max_request_bytes: Option<usize>,
    disable: bool,
    /// OTLP: reject this many more spans, as partial successes.
    spans_to_reject: usize,
}

impl Behaviour {
    /// The status (200: accepted), reason and extra headers to answer a request with,
    /// by the token check, the size limit and the injected failures, in that order.
    pub(crate) fn judge(
        &mut self,
        token_ok: bool,
        body_len: usize,
    ) -> (u16, &'static str, Vec<(String, String)>) {
        if !token_ok {
            (401, "invalid access token", Vec::new())
        } else if self.max_request_bytes.is_some_and(|max| body_len > max) {
            // (Worded as grpc-go words it; the tracer judges the bare status, not its text.)
            (
                413,
                "received message larger than max (this collector's limit)",
                Vec::new(),
            )
        } else if self.failures_left > 0 {
            self.failures_left -= 1;
            (
                self.fail_status,
                "injected failure",
                self.fail_headers.clone(),
            )
        } else {
            (200, "", Vec::new())
        }
    }
}

type ReportCallback = Box<dyn Fn(&ReceivedReport) + Send>;
type RefusalCallback = Box<dyn Fn(&Refusal) + Send>;

struct Shared {
    received: Mutex<Vec<ReceivedReport>>,
    metrics: Mutex<Vec<ReceivedMetrics>>,
    arrived: Condvar,
    behaviour: Mutex<Behaviour>,
    on_report: Mutex<Option<ReportCallback>>,
    refusals: Mutex<Vec<Refusal>>,
    on_refusal: Mutex<Option<RefusalCallback>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A collector listening on a local port.
///
/// Dropping it stops the server and closes its connections.
///
/// # Examples
///
/// ```
/// use lightstep::collector::LocalCollector;
/// use lightstep::{Options, Tracer};
/// use std::time::Duration;
///
/// let collector = LocalCollector::start()?;
/// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
/// tracer.span("hello").start().finish();
/// tracer.close(Duration::from_secs(5))?;
/// assert_eq!(collector.spans()[0].operation_name, "hello");
/// # Ok::<(), lightstep::Error>(())
/// ```
pub struct LocalCollector {
    shared: Arc<Shared>,
    server: Server,
    #[cfg(feature = "grpc")]
    grpc: grpc::GrpcServer,
}

impl std::fmt::Debug for LocalCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("LocalCollector");
        debug.field("addr", &self.server.addr());
        #[cfg(feature = "grpc")]
        debug.field("grpc_addr", &self.grpc.addr());
        debug.finish_non_exhaustive()
    }
}

impl LocalCollector {
    /// Starts a collector on a free port of 127.0.0.1.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// assert!(collector.url().starts_with("http://127.0.0.1:"));
    /// # drop(tracer);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn start() -> Result<LocalCollector, crate::Error> {
        LocalCollector::bind("127.0.0.1:0")
    }

    /// Starts a collector on the given address (and, with the `grpc` feature, its gRPC
    /// server on a free port of the same IP address).
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    ///
    /// // A fixed port, for a program configured with LIGHTSTEP_COLLECTOR_URL (port 0: any free one).
    /// let collector = LocalCollector::bind("127.0.0.1:0")?;
    /// assert_eq!(collector.addr().ip().to_string(), "127.0.0.1");
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> Result<LocalCollector, crate::Error> {
        let listener = TcpListener::bind(addr).map_err(cannot_listen)?;
        #[cfg(feature = "grpc")]
        let grpc = {
            let ip = listener.local_addr().map_err(cannot_listen)?.ip();
            TcpListener::bind((ip, 0)).map_err(cannot_listen)?
        };
        LocalCollector::serve(
            listener,
            #[cfg(feature = "grpc")]
            grpc,
        )
    }

    /// Starts a collector with its HTTP server on `http` and its gRPC server on `grpc`
    /// (to restart one on the same ports, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    ///
    /// let first = LocalCollector::bind_with_grpc("127.0.0.1:0", "127.0.0.1:0")?;
    /// let (http, grpc) = (first.addr(), first.grpc_addr());
    /// drop(first);
    /// // A collector restarted on the same ports: tracers keep their URLs.
    /// let second = LocalCollector::bind_with_grpc(http, grpc)?;
    /// assert_eq!((second.addr(), second.grpc_addr()), (http, grpc));
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    #[cfg(feature = "grpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
    pub fn bind_with_grpc(
        http: impl ToSocketAddrs,
        grpc: impl ToSocketAddrs,
    ) -> Result<LocalCollector, crate::Error> {
        let http = TcpListener::bind(http).map_err(cannot_listen)?;
        let grpc = TcpListener::bind(grpc).map_err(cannot_listen)?;
        LocalCollector::serve(http, grpc)
    }

    fn serve(
        listener: TcpListener,
        #[cfg(feature = "grpc")] grpc_listener: TcpListener,
    ) -> Result<LocalCollector, crate::Error> {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            metrics: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            behaviour: Mutex::new(Behaviour {
                fault: Fault::None,
                required_token: None,
                failures_left: 0,
                fail_status: 503,
                fail_headers: Vec::new(),
                max_request_bytes: None,
                disable: false,
                spans_to_reject: 0,
            }),
            on_report: Mutex::new(None),
            refusals: Mutex::new(Vec::new()),
            on_refusal: Mutex::new(None),
        });
        let server = Server::start(listener, Arc::clone(&shared) as Arc<dyn http::Handler>)
            .map_err(cannot_listen)?;
        #[cfg(feature = "grpc")]
        let grpc =
            grpc::GrpcServer::start(grpc_listener, Arc::clone(&shared)).map_err(cannot_listen)?;
        Ok(LocalCollector {
            shared,
            server,
            #[cfg(feature = "grpc")]
            grpc,
        })
    }

    /// The address it listens on.
    ///
    /// # Examples
    ///
    /// ```
    /// let collector = lightstep::collector::LocalCollector::start()?;
    /// assert!(collector.addr().ip().is_loopback());
    /// assert_ne!(collector.addr().port(), 0);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The URL to give [`Options::collector_url`](crate::Options::collector_url).
    ///
    /// # Examples
    ///
    /// ```
    /// let collector = lightstep::collector::LocalCollector::start()?;
    /// assert_eq!(collector.url(), format!("http://{}", collector.addr()));
    /// let options = lightstep::Options::new("token").collector_url(collector.url());
    /// # drop(options);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The address its gRPC server listens on.
    ///
    /// # Examples
    ///
    /// ```
    /// let collector = lightstep::collector::LocalCollector::start()?;
    /// assert_ne!(collector.grpc_addr().port(), collector.addr().port());
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    #[cfg(feature = "grpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc.addr()
    }

    /// The URL to give [`Options::collector_url`](crate::Options::collector_url) with
    /// [`Options::use_grpc`](crate::Options::use_grpc) (plaintext HTTP/2).
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").use_grpc().collector_url(collector.grpc_url()))?;
    /// tracer.span("over-grpc").start().finish();
    /// tracer.flush(Duration::from_secs(10))?;
    /// assert!(collector.reports()[0].grpc);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    #[cfg(feature = "grpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr())
    }

    /// Shows `fault` from now on (for new connections, in the case of
    /// [`Fault::Blackhole`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// use lightstep::collector::Fault;
    ///
    /// collector.set_fault(Fault::Garbage); // 200, with a body that is not a ReportResponse
    /// tracer.span("kept").start().finish();
    /// let _ = tracer.flush(Duration::from_secs(5));
    /// collector.set_fault(Fault::None);
    /// assert_eq!(collector.reports()[0].request.spans.len(), 1);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn set_fault(&self, fault: Fault) {
        lock(&self.shared.behaviour).fault = fault;
    }

    /// Answers 401 (gRPC: `UNAUTHENTICATED`) to reports that carry another token (in the
    /// header or metadata, or in the body).
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// collector.require_token("the-right-token");
    /// tracer.span("refused").start().finish();
    /// assert!(tracer.flush(Duration::from_secs(5)).is_err());
    /// assert_eq!(collector.reports()[0].status, 401);
    /// assert_eq!(collector.span_count(), 0);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn require_token(&self, token: impl Into<String>) {
        lock(&self.shared.behaviour).required_token = Some(token.into());
    }

    /// Answers the next `count` reports with HTTP `status` (keeping them as received).
    ///
    /// Over gRPC the status becomes its gRPC code as gRPC maps HTTP statuses: 401
    /// `UNAUTHENTICATED`, 403 `PERMISSION_DENIED`, 404 `UNIMPLEMENTED`, 429, 502, 503 and
    /// 504 `UNAVAILABLE`, 400 and 500 `INTERNAL`, 408 `DEADLINE_EXCEEDED`, 413
    /// `RESOURCE_EXHAUSTED`, any other `UNKNOWN`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// collector.fail_next(1, 503);
    /// tracer.span("retried").start().finish();
    /// tracer.flush(Duration::from_secs(5))?; // refused once, retried, accepted
    /// let statuses: Vec<u16> = collector.reports().iter().map(|r| r.status).collect();
    /// assert_eq!(statuses, [503, 200]);
    /// assert_eq!(collector.span_count(), 1);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn fail_next(&self, count: usize, status: u16) {
        self.fail_next_with(count, status, &[]);
    }

    /// As [`fail_next`](LocalCollector::fail_next), with extra response headers over HTTP:
    /// `Retry-After` to ask for a wait, `Location` to redirect.
    ///
    /// ```
    /// # let collector = lightstep::collector::LocalCollector::start().unwrap();
    /// collector.fail_next_with(1, 429, &[("Retry-After", "1")]);
    /// ```
    pub fn fail_next_with(&self, count: usize, status: u16, headers: &[(&str, &str)]) {
        let mut behaviour = lock(&self.shared.behaviour);
        behaviour.failures_left = count;
        behaviour.fail_status = status;
        behaviour.fail_headers = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
    }

    /// Answers 413 (gRPC: `RESOURCE_EXHAUSTED`) to every report whose body is bigger than
    /// `bytes` (keeping it as received); `None` takes any size.
    pub fn limit_request_bytes(&self, bytes: Option<usize>) {
        lock(&self.shared.behaviour).max_request_bytes = bytes;
    }

    /// Answers OTLP requests with a partial success that rejects their last spans, until
    /// `count` spans were rejected (OTLP only: the LightStep protocol has no partial
    /// success). Rejected spans are left out of [`spans`](LocalCollector::spans).
    pub fn reject_next_spans(&self, count: usize) {
        lock(&self.shared.behaviour).spans_to_reject = count;
    }

    /// Sends the `disable` command in every response from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// collector.send_disable();
    /// tracer.span("last").start().finish();
    /// tracer.flush(Duration::from_secs(5))?; // accepted, with the `disable` command
    /// tracer.span("never-sent").start().finish();
    /// assert!(tracer.flush(Duration::from_secs(5)).is_err()); // the tracer is disabled
    /// assert_eq!(collector.span_count(), 1);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn send_disable(&self) {
        lock(&self.shared.behaviour).disable = true;
    }

    /// Calls `callback` for each report as it arrives (on the collector's thread).
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// let (sizes, received) = std::sync::mpsc::channel();
    /// collector.on_report(move |report| {
    ///     let _ = sizes.send(report.body_bytes);
    /// });
    /// tracer.span("work").start().finish();
    /// tracer.flush(Duration::from_secs(5))?;
    /// assert!(received.recv_timeout(Duration::from_secs(5)).is_ok_and(|bytes| bytes > 0));
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn on_report(&self, callback: impl Fn(&ReceivedReport) + Send + 'static) {
        *lock(&self.shared.on_report) = Some(Box::new(callback));
    }

    /// Calls `callback` for each request the collector refuses, as it refuses it (on the
    /// collector's thread); see [`Refusal`].
    pub fn on_refusal(&self, callback: impl Fn(&Refusal) + Send + 'static) {
        *lock(&self.shared.on_refusal) = Some(Box::new(callback));
    }

    /// Every request refused so far, in order; see [`Refusal`].
    pub fn refusals(&self) -> Vec<Refusal> {
        lock(&self.shared.refusals).clone()
    }

    /// Every report received so far, in arrival order.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// assert!(collector.reports().is_empty());
    /// tracer.span("work").start().finish();
    /// tracer.flush(Duration::from_secs(5))?;
    /// let reports = collector.reports();
    /// assert_eq!(reports.len(), 1);
    /// assert_eq!(reports[0].request.spans[0].operation_name, "work");
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn reports(&self) -> Vec<ReceivedReport> {
        lock(&self.shared.received).clone()
    }

    /// Every metrics report (`POST /metrics`) received so far, in arrival order.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// // Span reports are not metrics: system metrics are off by default.
    /// tracer.span("work").start().finish();
    /// tracer.close(Duration::from_secs(5))?;
    /// assert!(collector.metrics().is_empty());
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn metrics(&self) -> Vec<ReceivedMetrics> {
        lock(&self.shared.metrics).clone()
    }

    /// Every OTLP request (`POST /v1/traces`) received so far, as decoded, in arrival
    /// order, whatever it was answered.
    pub fn otlp_requests(&self) -> Vec<ExportTraceServiceRequest> {
        lock(&self.shared.received)
            .iter()
            .filter_map(|r| r.otlp.as_ref().map(|otlp| otlp.request.clone()))
            .collect()
    }

    /// The spans of every accepted report, in arrival order.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// {
    ///     let parent = tracer.span("parent").start();
    ///     tracer.span("child").child_of(parent.context()).start().finish();
    /// }
    /// tracer.flush(Duration::from_secs(5))?;
    /// let names: Vec<String> = collector.spans().into_iter().map(|s| s.operation_name).collect();
    /// assert_eq!(names, ["child", "parent"]); // finish order
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn spans(&self) -> Vec<crate::proto::collector::Span> {
        lock(&self.shared.received)
            .iter()
            .filter(|r| r.status == 200)
            .flat_map(|r| r.request.spans.iter().cloned())
            .collect()
    }

    /// The number of spans in accepted reports.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// for _ in 0..3 {
    ///     tracer.span("work").start().finish();
    /// }
    /// tracer.flush(Duration::from_secs(5))?;
    /// assert_eq!(collector.span_count(), 3);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn span_count(&self) -> usize {
        accepted_spans(&lock(&self.shared.received))
    }

    /// Waits until at least `count` spans were accepted, or `timeout` passes.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// tracer.span("work").start().finish();
    /// // No flush: the reporter thread sends on its own timer.
    /// assert!(collector.wait_for_spans(1, Duration::from_secs(10)));
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn wait_for_spans(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut received = lock(&self.shared.received);
        loop {
            if accepted_spans(&received) >= count {
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

fn accepted_spans(reports: &[ReceivedReport]) -> usize {
    reports
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.request.spans.len())
        .sum()
}

impl http::Handler for Shared {
    fn blackhole(&self) -> bool {
        lock(&self.behaviour).fault == Fault::Blackhole
    }

    fn before_body(&self, head: &Request) -> Option<Reply> {
        if let Some((status, reason)) = other_transport(head) {
            self.refuse(&head.method, &head.path, status, reason);
            return Some(Reply::Text(status, reason.to_owned()));
        }
        let now = SystemTime::now();
        if !matches!(
            head.path.split('?').next(),
            Some("/api/v2/reports" | METRICS_PATH | otlp::PATH)
        ) {
            self.refuse(&head.method, &head.path, 404, "no such path");
            return Some(Reply::Respond(404, error_response("no such path", now)));
        }
        if head.method != "POST" {
            self.refuse(&head.method, &head.path, 405, "reports are POSTed");
            return Some(Reply::Respond(
                405,
                error_response("reports are POSTed", now),
            ));
        }
        (lock(&self.behaviour).fault == Fault::Reset).then_some(Reply::Reset)
    }

    fn unreadable(&self, method: &str, path: &str, reason: &str) {
        self.refuse(method, path, 400, reason);
    }

    fn handle(&self, request: &Request) -> Reply {
        let token_header = request.header("Lightstep-Access-Token").map(str::to_owned);
        if request.path.split('?').next() == Some(METRICS_PATH) {
            let (status, body) = self.receive_metrics(&request.body, token_header);
            if status != 200 {
                let reason = match status {
                    400 => "not an IngestRequest",
                    _ => "invalid access token",
                };
                self.refuse(&request.method, &request.path, status, reason);
            }
            return Reply::Respond(status, body);
        }
        let verdict = if request.path.split('?').next() == Some(otlp::PATH) {
            let content_type = request.header("Content-Type");
            let encoding = request.header("Content-Encoding");
            self.receive_otlp(&request.body, content_type, encoding, token_header)
        } else {
            self.receive(&request.body, token_header, false)
        };
        match verdict.fault {
            Fault::Slow(delay) => {
                std::thread::sleep(delay);
                Reply::RespondWith(verdict.status, verdict.headers, verdict.body)
            }
            Fault::Garbage if verdict.status == 200 => Reply::Respond(200, vec![0xff; 32]),
            Fault::Truncated if verdict.status == 200 => Reply::Truncate(verdict.body),
            Fault::HugeResponse(size) if verdict.status == 200 => Reply::Huge(size),
            _ => Reply::RespondWith(verdict.status, verdict.headers, verdict.body),
        }
    }
}

/// Where metrics reports arrive: `{collector_url}/metrics`.
const METRICS_PATH: &str = "/metrics";

/// The older LightStep transports, which this collector does not serve: their requests
/// are answered with the transport to switch to.
fn other_transport(head: &Request) -> Option<(u16, &'static str)> {
    const JSON: &str = "JSON reports (LightStep's older JSON transport) are not served here: \
        switch the tracer to protobuf over HTTP (POST /api/v2/reports, \
        Content-Type: application/octet-stream)";
    const THRIFT: &str = "Thrift reports (LightStep's older Thrift transport, \
        /_rpc/v1/reports/binary) are not served here: switch the tracer to protobuf over \
        HTTP (POST /api/v2/reports; in the Python tracer, use_thrift=False, use_http=True)";
    let json = head.header("Content-Type").is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    match head.path.split('?').next() {
        Some("/api/v0/reports") => Some((404, JSON)),
        Some("/_rpc/v1/reports/binary") => Some((404, THRIFT)),
        Some("/api/v2/reports") if json => Some((415, JSON)),
        _ => None,
    }
}

impl Shared {
    /// Keeps a refusal and passes it to the callback.
    fn refuse(&self, method: &str, path: &str, status: u16, reason: &str) {
        let refusal = Refusal {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            reason: reason.to_owned(),
        };
        if let Some(callback) = lock(&self.on_refusal).as_ref() {
            callback(&refusal);
        }
        lock(&self.refusals).push(refusal);
    }

    /// Decodes and keeps a metrics report; the status and body to answer with.
    fn receive_metrics(&self, body: &[u8], token_header: Option<String>) -> (u16, Vec<u8>) {
        let Ok(request) = IngestRequest::decode(body) else {
            return (400, b"not an IngestRequest".to_vec());
        };
        let required = lock(&self.behaviour).required_token.clone();
        let status = match (&required, &token_header) {
            (Some(required), Some(sent)) if sent != required => 401,
            (Some(_), None) => 401,
            _ => 200,
        };
        lock(&self.metrics).push(ReceivedMetrics {
            request,
            token_header,
            status,
        });
        self.arrived.notify_all();
        (status, IngestResponse {}.encode_to_vec())
    }
}

/// How the collector answers one report, whatever carried it.
pub(crate) struct Verdict {
    /// 200 (accepted), or the HTTP status of the refusal.
    pub(crate) status: u16,
    /// The encoded `ReportResponse`.
    pub(crate) body: Vec<u8>,
    /// Why it was refused (empty when accepted); the gRPC status message.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) reason: String,
    /// The fault to show while answering.
    pub(crate) fault: Fault,
    /// Extra HTTP headers of the answer.
    pub(crate) headers: Vec<(String, String)>,
}

impl Shared {
    /// Decodes a report body, judges it by the current behaviour, and keeps it (unless it
    /// is not a `ReportRequest`).
    pub(crate) fn receive(&self, body: &[u8], token_header: Option<String>, grpc: bool) -> Verdict {
        let received_at = SystemTime::now();
        let report = match ReportRequest::decode(body) {
            Ok(report) => report,
            Err(e) => {
                let reason = format!("not a ReportRequest: {e}");
                self.refuse("POST", report_path(grpc), 400, &reason);
                return Verdict {
                    status: 400,
                    body: error_response(&reason, received_at),
                    reason,
                    fault: Fault::None,
                    headers: Vec::new(),
                };
            }
        };
        let (status, reason, response, fault, headers) = {
            let mut behaviour = lock(&self.behaviour);
            let body_token = report.auth.as_ref().map_or("", |a| a.access_token.as_str());
            let token_ok = match &behaviour.required_token {
                None => true,
                Some(required) => {
                    // The C++ tracer sends the token in the body only.
                    let header_ok = token_header.as_deref().is_none_or(|t| t == required);
                    let body_ok = body_token.is_empty() || body_token == required;
                    header_ok && body_ok && (token_header.is_some() || !body_token.is_empty())
                }
            };
            let (status, reason, headers) = behaviour.judge(token_ok, body.len());
            let response = if status == 200 {
                let commands = if behaviour.disable {
                    vec![Command {
                        disable: true,
                        dev_mode: false,
                    }]
                } else {
                    Vec::new()
                };
                ReportResponse {
                    commands,
                    receive_timestamp: Some(timestamp(received_at)),
                    transmit_timestamp: Some(timestamp(SystemTime::now())),
                    ..Default::default()
                }
                .encode_to_vec()
            } else {
                error_response(reason, received_at)
            };
            (status, reason, response, behaviour.fault.clone(), headers)
        };
        let received = ReceivedReport {
            request: report,
            token_header,
            body_bytes: body.len(),
            body: body.to_vec(),
            status,
            grpc,
            otlp: None,
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

impl Shared {
    /// Keeps a report as received: its refusal (if it was refused) and the report itself,
    /// with the `on_report` callback and a wake-up for whoever waits for spans.
    pub(crate) fn keep(&self, received: ReceivedReport, reason: &str) {
        if received.status != 200 {
            let path = match (&received.otlp, received.grpc) {
                (Some(_), _) => otlp::PATH,
                (None, grpc) => report_path(grpc),
            };
            self.refuse("POST", path, received.status, reason);
        }
        if let Some(callback) = lock(&self.on_report).as_ref() {
            callback(&received);
        }
        lock(&self.received).push(received);
        self.arrived.notify_all();
    }
}

/// The path a report came to, for a [`Refusal`].
fn report_path(grpc: bool) -> &'static str {
    if grpc {
        "/lightstep.collector.CollectorService/Report"
    } else {
        "/api/v2/reports"
    }
}

fn cannot_listen(e: std::io::Error) -> crate::Error {
    crate::Error::Transport(
        crate::error::ReportError::new(format!("cannot listen: {e}")).with_source(e),
    )
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
