//! Tracer configuration: the `Options` builder, its defaults, validation and `from_env`.

use crate::endpoint::Endpoint;
use crate::propagation::Propagator;
use crate::{Error, Value};
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// The LightStep public collector.
pub const DEFAULT_COLLECTOR_URL: &str = "https://collector.lightstep.com:443";

/// LightStep's gRPC endpoint, used when `collector_url` is left at its default with gRPC
/// (the Go tracer's `collector-grpc.lightstep.com`).
pub(crate) const DEFAULT_GRPC_COLLECTOR_URL: &str = "https://collector-grpc.lightstep.com:443";

/// How reports travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Http,
    Grpc,
    Otlp,
}

/// Configuration of a tracer, built with chained setters.
///
/// ```
/// use std::time::Duration;
/// let options = lightstep::Options::new("YourAccessToken")
///     .component_name("my-cli")
///     .tag("deployment", "canary")
///     .max_reporting_period(Duration::from_secs(5));
/// // The token never shows in `Debug` output.
/// assert!(!format!("{options:?}").contains("YourAccessToken"));
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) access_token: String,
    pub(crate) component_name: Option<String>,
    pub(crate) collector_url: String,
    pub(crate) tags: Vec<(Cow<'static, str>, Value)>,
    pub(crate) transport: Transport,
    pub(crate) max_buffered_spans: usize,
    pub(crate) max_buffered_bytes: usize,
    pub(crate) min_reporting_period: Duration,
    pub(crate) max_reporting_period: Duration,
    pub(crate) report_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) max_log_key_len: usize,
    pub(crate) max_log_value_len: usize,
    pub(crate) max_logs_per_span: usize,
    pub(crate) drop_span_logs: bool,
    pub(crate) propagators: Vec<Propagator>,
    pub(crate) root_certificates_pem: Option<Vec<u8>>,
    pub(crate) max_report_bytes: usize,
    pub(crate) system_metrics: bool,
    pub(crate) system_metrics_interval: Duration,
    pub(crate) report_command_line: bool,
}

impl Options {
    /// Default for [`max_buffered_spans`](Options::max_buffered_spans).
    pub const DEFAULT_MAX_BUFFERED_SPANS: usize = 200_000;
    /// Default for [`max_buffered_bytes`](Options::max_buffered_bytes): 80 MiB.
    pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 80 * 1024 * 1024;
    /// Default for [`min_reporting_period`](Options::min_reporting_period).
    pub const DEFAULT_MIN_REPORTING_PERIOD: Duration = Duration::from_millis(500);
    /// Default for [`max_reporting_period`](Options::max_reporting_period).
    pub const DEFAULT_MAX_REPORTING_PERIOD: Duration = Duration::from_millis(2500);
    /// Default for [`report_timeout`](Options::report_timeout).
    pub const DEFAULT_REPORT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default for [`close_timeout`](Options::close_timeout).
    pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default for [`max_report_bytes`](Options::max_report_bytes): the collector's limit.
    pub const DEFAULT_MAX_REPORT_BYTES: usize = 4 * 1024 * 1024;
    /// Default for [`system_metrics_interval`](Options::system_metrics_interval): 30 s.
    pub const DEFAULT_SYSTEM_METRICS_INTERVAL: Duration = crate::metrics::DEFAULT_INTERVAL;

    /// Options with the given access token and every other setting at its default.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = lightstep::Options::new("YourAccessToken");
    /// # drop(options);
    /// ```
    pub fn new(access_token: impl Into<String>) -> Options {
        Options {
            access_token: access_token.into(),
            component_name: None,
            collector_url: DEFAULT_COLLECTOR_URL.to_owned(),
            tags: Vec::new(),
            transport: Transport::Http,
            max_buffered_spans: Self::DEFAULT_MAX_BUFFERED_SPANS,
            max_buffered_bytes: Self::DEFAULT_MAX_BUFFERED_BYTES,
            min_reporting_period: Self::DEFAULT_MIN_REPORTING_PERIOD,
            max_reporting_period: Self::DEFAULT_MAX_REPORTING_PERIOD,
            report_timeout: Self::DEFAULT_REPORT_TIMEOUT,
            close_timeout: Self::DEFAULT_CLOSE_TIMEOUT,
            max_log_key_len: 256,
            max_log_value_len: 1024,
            max_logs_per_span: 500,
            drop_span_logs: false,
            propagators: vec![Propagator::LightStep],
            root_certificates_pem: None,
            max_report_bytes: Self::DEFAULT_MAX_REPORT_BYTES,
            system_metrics: false,
            system_metrics_interval: Self::DEFAULT_SYSTEM_METRICS_INTERVAL,
            report_command_line: false,
        }
    }

    /// Options read from the `LIGHTSTEP_*` environment variables, defaults elsewhere.
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `LIGHTSTEP_ACCESS_TOKEN` | the access token |
    /// | `LIGHTSTEP_COMPONENT_NAME` | [`component_name`](Options::component_name) |
    /// | `LIGHTSTEP_COLLECTOR_URL` | [`collector_url`](Options::collector_url) |
    /// | `LIGHTSTEP_TRANSPORT` | `http`, `grpc` or `otlp` |
    /// | `LIGHTSTEP_PROPAGATORS` | comma list of `lightstep`, `b3`, `tracecontext` |
    /// | `LIGHTSTEP_TAGS` | reporter tags as `k=v,k=v` |
    ///
    /// A bad value is an [`Error::InvalidOption`] naming the variable: a token that is
    /// missing (LightStep's collector needs one) or bad names `LIGHTSTEP_ACCESS_TOKEN`, and
    /// `LIGHTSTEP_TRANSPORT=grpc` in a build without the `grpc` feature names
    /// `LIGHTSTEP_TRANSPORT`.
    ///
    /// # Examples
    ///
    /// ```
    /// // LIGHTSTEP_ACCESS_TOKEN=… LIGHTSTEP_COMPONENT_NAME=checkout ./app
    /// # std::env::set_var("LIGHTSTEP_ACCESS_TOKEN", "YourAccessToken");
    /// let options = lightstep::Options::from_env()?;
    /// // Settings the environment does not cover can still be added.
    /// let options = options.max_buffered_spans(50_000);
    /// # drop(options);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn from_env() -> Result<Options, Error> {
        Options::from_lookup(|name| std::env::var_os(name))
    }

    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Options, Error> {
        let var = |name: &'static str| -> Result<Option<String>, Error> {
            match lookup(name) {
                None => Ok(None),
                Some(raw) => raw
                    .into_string()
                    .map(Some)
                    .map_err(|_| Error::invalid(name, "not valid UTF-8")),
            }
        };
        let mut options = Options::new(var("LIGHTSTEP_ACCESS_TOKEN")?.unwrap_or_default());
        if let Some(name) = var("LIGHTSTEP_COMPONENT_NAME")? {
            options = options.component_name(name);
        }
        if let Some(url) = var("LIGHTSTEP_COLLECTOR_URL")? {
            Endpoint::parse(&url).map_err(|e| Error::invalid("LIGHTSTEP_COLLECTOR_URL", e))?;
            options = options.collector_url(url);
        }
        if let Some(transport) = var("LIGHTSTEP_TRANSPORT")? {
            options = match transport.trim().to_ascii_lowercase().as_str() {
                "http" => options.use_http(),
                #[cfg(not(feature = "grpc"))]
                "grpc" => return Err(Error::invalid("LIGHTSTEP_TRANSPORT", GRPC_UNAVAILABLE)),
                #[cfg(feature = "grpc")]
                "grpc" => options.use_grpc(),
                "otlp" => options.use_otlp(),
                _ => {
                    return Err(Error::invalid(
                        "LIGHTSTEP_TRANSPORT",
                        "expected `http`, `grpc` or `otlp`",
                    ))
                }
            };
        }
        if let Some(list) = var("LIGHTSTEP_PROPAGATORS")? {
            let mut propagators = Vec::new();
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let propagator = name.parse::<Propagator>().map_err(|_| {
                    Error::invalid(
                        "LIGHTSTEP_PROPAGATORS",
                        format!(
                            "unknown propagator `{name}` (expected lightstep, b3 or tracecontext)"
                        ),
                    )
                })?;
                propagators.push(propagator);
            }
            if propagators.is_empty() {
                return Err(Error::invalid(
                    "LIGHTSTEP_PROPAGATORS",
                    "no propagator named",
                ));
            }
            options.propagators = propagators;
        }
        if let Some(tags) = var("LIGHTSTEP_TAGS")? {
            for pair in tags.split(',').filter(|p| !p.trim().is_empty()) {
                let Some((key, value)) = pair.split_once('=') else {
                    return Err(Error::invalid(
                        "LIGHTSTEP_TAGS",
                        format!("`{pair}` is not of the form key=value"),
                    ));
                };
                let key = key.trim();
                if key.is_empty() {
                    return Err(Error::invalid("LIGHTSTEP_TAGS", "a tag has an empty key"));
                }
                options = options.tag(key.to_owned(), value.trim().to_owned());
            }
        }
        // The token's own checks, named after the variable it came from.
        match options.validate() {
            Err(Error::InvalidOption {
                option: "access_token",
                reason,
            }) => Err(Error::invalid("LIGHTSTEP_ACCESS_TOKEN", reason)),
            _ => Ok(options),
        }
    }

    /// The service name reported as `lightstep.component_name`. Default: the executable's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = lightstep::Options::new("YourAccessToken").component_name("checkout");
    /// # drop(options);
    /// ```
    pub fn component_name(mut self, name: impl Into<String>) -> Self {
        self.component_name = Some(name.into());
        self
    }

    /// Where reports go: `https://host[:port]` (TLS, verified) or `http://host[:port]`
    /// (plaintext). Default [`DEFAULT_COLLECTOR_URL`].
    ///
    /// # Examples
    ///
    /// ```
    /// // A satellite on this host, plaintext.
    /// let options = lightstep::Options::new("YourAccessToken").collector_url("http://127.0.0.1:8360");
    /// let tracer = lightstep::Tracer::new(options)?;
    /// # drop(tracer);
    /// // A URL the tracer cannot use is refused when it starts.
    /// let bad = lightstep::Options::new("YourAccessToken").collector_url("ftp://example.com");
    /// assert!(matches!(
    ///     lightstep::Tracer::new(bad),
    ///     Err(lightstep::Error::InvalidOption { option: "collector_url", .. })
    /// ));
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn collector_url(mut self, url: impl Into<String>) -> Self {
        self.collector_url = url.into();
        self
    }

    /// A reporter tag, sent with every report (`lightstep.guid` is refused at init).
    ///
    /// # Examples
    ///
    /// ```
    /// let options = lightstep::Options::new("YourAccessToken")
    ///     .tag("deployment", "canary")
    ///     .tag("build", 1234);
    /// # drop(options);
    /// ```
    pub fn tag(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// Report with protobuf over HTTP (the default).
    ///
    /// # Examples
    ///
    /// ```
    /// // Whatever LIGHTSTEP_TRANSPORT says, report over HTTP.
    /// let options = lightstep::Options::from_env()
    ///     .unwrap_or_else(|_| lightstep::Options::new("YourAccessToken"))
    ///     .use_http();
    /// # drop(options);
    /// ```
    pub fn use_http(mut self) -> Self {
        self.transport = Transport::Http;
        self
    }

    /// Report with OTLP: `ExportTraceServiceRequest` protobuf over HTTP/1.1, POSTed to
    /// `{collector_url}/v1/traces` with `Content-Type: application/x-protobuf` and the
    /// token in `Lightstep-Access-Token` — what LightStep's OTLP ingest, its satellites and
    /// every OpenTelemetry Collector (OTLP receiver) take. Left at its default,
    /// `collector_url` becomes `https://ingest.lightstep.com:443`. Everything but the wire
    /// is as with the other transports; see the README's "OTLP" section for the mapping.
    ///
    /// ```
    /// let options = lightstep::Options::new("YourAccessToken").use_otlp();
    /// # drop(options);
    /// ```
    pub fn use_otlp(mut self) -> Self {
        self.transport = Transport::Otlp;
        self
    }

    /// Report with protobuf over gRPC (`lightstep.collector.CollectorService/Report`, the
    /// token as `lightstep-access-token` metadata); needs the cargo feature `grpc`, and
    /// without it `init` and `Tracer::new` refuse these options with an
    /// [`Error::InvalidOption`] naming the feature. The tonic client runs on a private
    /// runtime inside the reporter thread: the application needs no async runtime (and may
    /// run its own). A `collector_url` for gRPC has no path; left at its default, gRPC goes
    /// to `https://collector-grpc.lightstep.com:443`, LightStep's gRPC endpoint (as in the
    /// Go tracer). TLS as for HTTP (`https://`, `root_certificates_pem`); a new connection
    /// every 5 minutes (± 20 %), so a long-lived process follows a load-balanced pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = lightstep::Options::new("YourAccessToken")
    ///     .use_grpc()
    ///     .collector_url("http://127.0.0.1:8360");
    /// let started = lightstep::Tracer::new(options);
    /// // Without the `grpc` cargo feature, the tracer says which feature to enable.
    /// if cfg!(not(feature = "grpc")) {
    ///     let error = started.unwrap_err();
    ///     assert!(error.to_string().contains("grpc"), "{error}");
    /// }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn use_grpc(mut self) -> Self {
        self.transport = Transport::Grpc;
        self
    }

    /// The most finished spans the tracer holds before dropping (and counting) new ones.
    /// Default [`DEFAULT_MAX_BUFFERED_SPANS`](Options::DEFAULT_MAX_BUFFERED_SPANS).
    ///
    /// # Examples
    ///
    /// ```
    /// // A memory-constrained process: hold at most 10 000 finished spans.
    /// let options = lightstep::Options::new("YourAccessToken").max_buffered_spans(10_000);
    /// # drop(options);
    /// ```
    pub fn max_buffered_spans(mut self, spans: usize) -> Self {
        self.max_buffered_spans = spans;
        self
    }

    /// The most memory the finished spans held by the tracer may take, their strings
    /// included, before new ones are dropped (and counted). Default
    /// [`DEFAULT_MAX_BUFFERED_BYTES`](Options::DEFAULT_MAX_BUFFERED_BYTES), 80 MiB.
    ///
    /// The tracer holds a span from its finish until the collector accepts it (or it is
    /// dropped); it is dropped when holding it would pass this bound or
    /// [`max_buffered_spans`](Options::max_buffered_spans). Nothing is reserved up front.
    ///
    /// ```
    /// // A service with big tags and little memory to spare.
    /// let options = lightstep::Options::new("YourAccessToken").max_buffered_bytes(8 << 20);
    /// # drop(options);
    /// ```
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = bytes;
        self
    }

    /// Reports are never sent more often than this, except on flush and close.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = lightstep::Options::new("YourAccessToken")
    ///     .min_reporting_period(Duration::from_secs(1))
    ///     .max_reporting_period(Duration::from_secs(10));
    /// # drop(options);
    /// ```
    pub fn min_reporting_period(mut self, period: Duration) -> Self {
        self.min_reporting_period = period;
        self
    }

    /// Pending spans are sent at least this often.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// // Spans reach LightStep within a second of finishing.
    /// let options = lightstep::Options::new("YourAccessToken")
    ///     .min_reporting_period(Duration::from_millis(200))
    ///     .max_reporting_period(Duration::from_secs(1));
    /// # drop(options);
    /// ```
    pub fn max_reporting_period(mut self, period: Duration) -> Self {
        self.max_reporting_period = period;
        self
    }

    /// The bound on one request to the collector (connect, send and read; for gRPC also
    /// the call's deadline).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = lightstep::Options::new("YourAccessToken").report_timeout(Duration::from_secs(3));
    /// # drop(options);
    /// ```
    pub fn report_timeout(mut self, timeout: Duration) -> Self {
        self.report_timeout = timeout;
        self
    }

    /// The bound on [`close`](crate::close) for the global tracer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// // A CLI that must exit quickly: `lightstep::close()` waits at most 500 ms.
    /// let options = lightstep::Options::new("YourAccessToken")
    ///     .collector_url("http://127.0.0.1:9")
    ///     .close_timeout(Duration::from_millis(500));
    /// lightstep::init(options)?;
    /// let started = std::time::Instant::now();
    /// lightstep::close();
    /// assert!(started.elapsed() < Duration::from_secs(5));
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Log field keys longer than this many bytes are cut (on a char boundary, with "…").
    ///
    /// # Examples
    ///
    /// ```
    /// let options = lightstep::Options::new("YourAccessToken")
    ///     .max_log_key_len(64)
    ///     .max_log_value_len(4096);
    /// # drop(options);
    /// ```
    pub fn max_log_key_len(mut self, len: usize) -> Self {
        self.max_log_key_len = len;
        self
    }

    /// Log field values longer than this many bytes are cut (on a char boundary, with "…").
    ///
    /// # Examples
    ///
    /// ```
    /// // Room for stack traces in log values.
    /// let options = lightstep::Options::new("YourAccessToken").max_log_value_len(16 * 1024);
    /// # drop(options);
    /// ```
    pub fn max_log_value_len(mut self, len: usize) -> Self {
        self.max_log_value_len = len;
        self
    }

    /// A span keeps at most this many logs: the first and the newest, plus one log saying
    /// how many were dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = lightstep::Options::new("YourAccessToken").max_logs_per_span(50);
    /// # drop(options);
    /// ```
    pub fn max_logs_per_span(mut self, logs: usize) -> Self {
        self.max_logs_per_span = logs;
        self
    }

    /// Discard every span log.
    ///
    /// # Examples
    ///
    /// ```
    /// // Logs may hold personal data: send spans without them.
    /// let options = lightstep::Options::new("YourAccessToken").drop_span_logs(true);
    /// # drop(options);
    /// ```
    pub fn drop_span_logs(mut self, drop: bool) -> Self {
        self.drop_span_logs = drop;
        self
    }

    /// The propagation formats used by inject (all of them) and extract (the first that
    /// finds a context). Default `[Propagator::LightStep]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::{Options, Propagator, Tracer};
    /// use std::collections::HashMap;
    ///
    /// // Speak W3C Trace Context and B3 with the services around, LightStep's own format too.
    /// let tracer = Tracer::new(
    ///     Options::new("YourAccessToken")
    ///         .collector_url("http://127.0.0.1:9")
    ///         .propagators(&[Propagator::TraceContext, Propagator::B3, Propagator::LightStep]),
    /// )?;
    /// let span = tracer.span("call").start();
    /// let mut headers = HashMap::new();
    /// tracer.inject(span.context(), &mut headers);
    /// assert!(headers.contains_key("traceparent"));
    /// assert!(headers.contains_key("x-b3-traceid"));
    /// assert!(headers.contains_key("ot-tracer-traceid"));
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn propagators(mut self, propagators: &[Propagator]) -> Self {
        self.propagators = propagators.to_vec();
        self
    }

    /// Trust these PEM certificates (instead of the built-in web roots) for `https://`.
    ///
    /// # Examples
    ///
    /// ```
    /// // A satellite with a certificate from the company's own authority.
    /// # let ca_pem = b"-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n".to_vec();
    /// let options = lightstep::Options::new("YourAccessToken")
    ///     .collector_url("https://satellite.internal:8443")
    ///     .root_certificates_pem(ca_pem);
    /// # drop(options);
    /// ```
    pub fn root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates_pem = Some(pem.into());
        self
    }

    /// The largest request body sent; bigger batches are split. Default 4 MiB. With gRPC
    /// it is at most 4 MiB − 4 KiB, under gRPC's default 4 MiB message limit.
    ///
    /// # Examples
    ///
    /// ```
    /// // A proxy in front of the collector limits request bodies to 1 MiB.
    /// let options = lightstep::Options::new("YourAccessToken").max_report_bytes(1024 * 1024);
    /// # drop(options);
    /// ```
    pub fn max_report_bytes(mut self, bytes: usize) -> Self {
        self.max_report_bytes = bytes;
        self
    }

    /// Report runtime metrics of the process and host (default: off). Linux only: on other
    /// systems the option is accepted and does nothing.
    ///
    /// Every [`system_metrics_interval`](Options::system_metrics_interval) (30 s), the
    /// reporter thread reads `/proc/self/stat`, `/proc/self/status` and `/proc/meminfo`
    /// and sends, in one `lightstep.metrics.IngestRequest` (protobuf), over HTTP to
    /// `https://ingest.lightstep.com:443/metrics` (when `collector_url` is LightStep's
    /// collector, as by default) or else to `{collector_url}/metrics`, with the
    /// `Lightstep-Access-Token` header:
    ///
    /// | metric | kind | value |
    /// | --- | --- | --- |
    /// | `runtime.rust.cpu.user` | counter | user CPU seconds of the process over the interval |
    /// | `runtime.rust.cpu.sys` | counter | system CPU seconds of the process over the interval |
    /// | `runtime.rust.mem.rss` | gauge | resident set size, bytes |
    /// | `runtime.rust.thread_count` | gauge | threads of the process |
    /// | `mem.total` | gauge | the host's memory, bytes |
    /// | `mem.available` | gauge | the host's available memory, bytes |
    ///
    /// Each sent report is an [`Event::MetricsStatusReport`](crate::Event::MetricsStatusReport)
    /// with the number of points sent; a failure is an error event, and the next report
    /// covers the missed interval. The caller's thread never does any of this.
    ///
    /// ```
    /// let options = lightstep::Options::new("YourAccessToken").system_metrics(true);
    /// # drop(options);
    /// ```
    pub fn system_metrics(mut self, enabled: bool) -> Self {
        self.system_metrics = enabled;
        self
    }

    /// How often [`system_metrics`](Options::system_metrics) are sampled and sent. Default
    /// [`DEFAULT_SYSTEM_METRICS_INTERVAL`](Options::DEFAULT_SYSTEM_METRICS_INTERVAL)
    /// (30 s); from 10 ms (for tests) to 10 minutes (the ingest service drops points that
    /// cover more).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = lightstep::Options::new("YourAccessToken")
    ///     .system_metrics(true)
    ///     .system_metrics_interval(Duration::from_secs(60));
    /// # drop(options);
    /// // More than 10 minutes is refused.
    /// let too_long = lightstep::Options::new("YourAccessToken")
    ///     .system_metrics(true)
    ///     .system_metrics_interval(Duration::from_secs(3600));
    /// assert!(lightstep::Tracer::new(too_long).is_err());
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn system_metrics_interval(mut self, interval: Duration) -> Self {
        self.system_metrics_interval = interval;
        self
    }

    /// Whether to send the process's command line as the reporter tag
    /// `lightstep.command_line` (with any copy of the access token masked). Default
    /// `false`: a command line can carry secrets (`--password hunter2`), and they would
    /// go to the collector with every report.
    pub fn report_command_line(mut self, report: bool) -> Self {
        self.report_command_line = report;
        self
    }

    /// The collector to report to, parsed: `collector_url`, or for gRPC left at its
    /// default, LightStep's gRPC endpoint.
    pub(crate) fn endpoint(&self) -> Result<Endpoint, Error> {
        let url = match self.transport {
            Transport::Grpc if self.collector_url == DEFAULT_COLLECTOR_URL => {
                DEFAULT_GRPC_COLLECTOR_URL
            }
            Transport::Otlp if self.collector_url == DEFAULT_COLLECTOR_URL => {
                crate::reporter::otlp::DEFAULT_OTLP_URL
            }
            _ => self.collector_url.as_str(),
        };
        Endpoint::parse(url).map_err(|e| Error::invalid("collector_url", e))
    }

    /// Checks every setting; called by `init` and `Tracer::new`.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let endpoint = self.endpoint()?;
        if self.access_token.trim().is_empty() && endpoint.host().ends_with(".lightstep.com") {
            return Err(Error::invalid(
                "access_token",
                "an access token is required to report to the LightStep collector",
            ));
        }
        if self.access_token.chars().any(|c| c.is_control()) {
            return Err(Error::invalid(
                "access_token",
                "contains control characters",
            ));
        }
        if self.access_token.trim() != self.access_token {
            // Trimmed in a header but not in the body, it would be two tokens.
            return Err(Error::invalid(
                "access_token",
                "has leading or trailing whitespace",
            ));
        }
        #[cfg(not(feature = "grpc"))]
        if self.transport == Transport::Grpc {
            return Err(grpc_unavailable());
        }
        if self.max_buffered_spans == 0 {
            return Err(Error::invalid("max_buffered_spans", "must be at least 1"));
        }
        if self.max_buffered_spans > 1 << 24 {
            return Err(Error::invalid(
                "max_buffered_spans",
                "must be at most 16777216",
            ));
        }
        if self.max_buffered_bytes < 64 * 1024 {
            return Err(Error::invalid(
                "max_buffered_bytes",
                "must be at least 64 KiB",
            ));
        }
        for (name, value) in [
            ("min_reporting_period", self.min_reporting_period),
            ("max_reporting_period", self.max_reporting_period),
            ("report_timeout", self.report_timeout),
            ("close_timeout", self.close_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::invalid(name, "must be longer than zero"));
            }
            if value > Duration::from_secs(24 * 3600) {
                return Err(Error::invalid(name, "must be at most one day"));
            }
        }
        if self.min_reporting_period > self.max_reporting_period {
            return Err(Error::invalid(
                "min_reporting_period",
                "must not exceed max_reporting_period",
            ));
        }
        if self.max_log_key_len < 4 || self.max_log_value_len < 4 {
            return Err(Error::invalid(
                "max_log_key_len",
                "log key and value limits must be at least 4 bytes",
            ));
        }
        if self.max_logs_per_span < 2 {
            return Err(Error::invalid("max_logs_per_span", "must be at least 2"));
        }
        if self.system_metrics_interval < Duration::from_millis(10)
            || self.system_metrics_interval > crate::metrics::MAX_INTERVAL
        {
            return Err(Error::invalid(
                "system_metrics_interval",
                "must be from 10 ms to 10 minutes",
            ));
        }
        if self.max_report_bytes < 1024 {
            return Err(Error::invalid("max_report_bytes", "must be at least 1024"));
        }
        if self.propagators.is_empty() {
            return Err(Error::invalid(
                "propagators",
                "at least one propagator is needed",
            ));
        }
        for (key, _) in &self.tags {
            if key.is_empty() {
                return Err(Error::invalid("tag", "a reporter tag has an empty key"));
            }
            if key == "lightstep.guid" {
                return Err(Error::invalid(
                    "tag",
                    "`lightstep.guid` is set by the tracer and cannot be a tag",
                ));
            }
        }
        if let Some(name) = &self.component_name {
            if name.trim().is_empty() {
                return Err(Error::invalid("component_name", "must not be empty"));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field(
                "access_token",
                &if self.access_token.is_empty() {
                    "<empty>"
                } else {
                    "<redacted>"
                },
            )
            .field("component_name", &self.component_name)
            .field("collector_url", &self.collector_url)
            .field("tags", &self.tags)
            .field("transport", &self.transport)
            .field("max_buffered_spans", &self.max_buffered_spans)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .field("min_reporting_period", &self.min_reporting_period)
            .field("max_reporting_period", &self.max_reporting_period)
            .field("report_timeout", &self.report_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("max_log_key_len", &self.max_log_key_len)
            .field("max_log_value_len", &self.max_log_value_len)
            .field("max_logs_per_span", &self.max_logs_per_span)
            .field("drop_span_logs", &self.drop_span_logs)
            .field("propagators", &self.propagators)
            .field(
                "root_certificates_pem",
                &self.root_certificates_pem.as_ref().map(|pem| pem.len()),
            )
            .field("max_report_bytes", &self.max_report_bytes)
            .field("system_metrics", &self.system_metrics)
            .field("system_metrics_interval", &self.system_metrics_interval)
            .field("report_command_line", &self.report_command_line)
            .finish()
    }
}

/// The refusal of `use_grpc()` in a build without the `grpc` feature.
#[cfg(not(feature = "grpc"))]
pub(crate) fn grpc_unavailable() -> Error {
    Error::invalid("use_grpc", GRPC_UNAVAILABLE)
}

/// Why gRPC cannot be used in a build without the `grpc` feature.
#[cfg(not(feature = "grpc"))]
const GRPC_UNAVAILABLE: &str = "the gRPC transport needs the cargo feature `grpc` of the `lightstep` crate, which this build lacks \
     (enable it in Cargo.toml: `lightstep = { version = \"0.1\", features = [\"grpc\"] }`)";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Options, Error> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Options::from_lookup(|name| map.get(name).map(Into::into))
    }

    #[test]
    fn environment_is_read() {
        let options = env(&[
            ("LIGHTSTEP_ACCESS_TOKEN", "tok"),
            ("LIGHTSTEP_COMPONENT_NAME", "svc"),
            ("LIGHTSTEP_COLLECTOR_URL", "http://127.0.0.1:1"),
            ("LIGHTSTEP_TRANSPORT", "HTTP"),
            ("LIGHTSTEP_PROPAGATORS", "b3, lightstep"),
            ("LIGHTSTEP_TAGS", "a=1, b = two"),
        ])
        .unwrap();
        assert_eq!(options.access_token, "tok");
        assert_eq!(options.component_name.as_deref(), Some("svc"));
        assert_eq!(
            options.propagators,
            vec![Propagator::B3, Propagator::LightStep]
        );
        assert_eq!(options.tags.len(), 2);
        assert_eq!(
            options.tags[1],
            ("b".into(), Value::from("two".to_string()))
        );
        options.validate().unwrap();
    }

    #[test]
    fn bad_environment_names_the_variable_not_the_token() {
        for (name, value) in [
            ("LIGHTSTEP_TRANSPORT", "carrier-pigeon"),
            ("LIGHTSTEP_PROPAGATORS", "zipkin"),
            ("LIGHTSTEP_PROPAGATORS", ","),
            ("LIGHTSTEP_TAGS", "novalue"),
            ("LIGHTSTEP_TAGS", "=v"),
            ("LIGHTSTEP_COLLECTOR_URL", "collector:443"),
        ] {
            let err =
                env(&[("LIGHTSTEP_ACCESS_TOKEN", "secret-token"), (name, value)]).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(name), "{text}");
            assert!(!text.contains("secret-token"), "{text}");
        }
    }

    #[test]
    fn a_missing_or_bad_token_names_its_variable() {
        for pairs in [
            &[][..],
            &[("LIGHTSTEP_ACCESS_TOKEN", " ")][..],
            &[("LIGHTSTEP_ACCESS_TOKEN", "secret\u{7}token")][..],
            &[
                ("LIGHTSTEP_ACCESS_TOKEN", "secret\ntoken"),
                ("LIGHTSTEP_COLLECTOR_URL", "http://127.0.0.1:1"),
            ][..],
        ] {
            let err = env(pairs).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidOption {
                        option: "LIGHTSTEP_ACCESS_TOKEN",
                        ..
                    }
                ),
                "{pairs:?}: {err:?}"
            );
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        // A local collector needs no token.
        env(&[("LIGHTSTEP_COLLECTOR_URL", "http://127.0.0.1:1")]).unwrap();
    }

    #[cfg(not(feature = "grpc"))]
    #[test]
    fn a_transport_not_compiled_in_names_its_variable() {
        let err = env(&[
            ("LIGHTSTEP_ACCESS_TOKEN", "t"),
            ("LIGHTSTEP_TRANSPORT", "grpc"),
        ])
        .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::InvalidOption {
                    option: "LIGHTSTEP_TRANSPORT",
                    reason,
                } if reason.contains("feature `grpc`")
            ),
            "{err:?}"
        );
    }

    #[test]
    fn validation_refuses_absurd_values() {
        let ok = || Options::new("t");
        ok().validate().unwrap();
        let cases: Vec<(Options, &str)> = vec![
            (Options::new(""), "access_token"),
            (Options::new(" token"), "access_token"),
            (Options::new("token\n"), "access_token"),
            (ok().max_buffered_bytes(1024), "max_buffered_bytes"),
            (ok().collector_url("nope"), "collector_url"),
            (ok().max_buffered_spans(0), "max_buffered_spans"),
            (ok().tag("lightstep.guid", "x"), "tag"),
            (
                ok().min_reporting_period(Duration::ZERO),
                "min_reporting_period",
            ),
            (
                ok().max_reporting_period(Duration::from_secs(1 << 40)),
                "max_reporting_period",
            ),
            (
                ok().min_reporting_period(Duration::from_secs(9)),
                "min_reporting_period",
            ),
            (ok().report_timeout(Duration::ZERO), "report_timeout"),
            (ok().max_report_bytes(10), "max_report_bytes"),
            (
                ok().system_metrics_interval(Duration::ZERO),
                "system_metrics_interval",
            ),
            (
                ok().system_metrics_interval(Duration::from_secs(3600)),
                "system_metrics_interval",
            ),
            (ok().propagators(&[]), "propagators"),
            (ok().component_name(" "), "component_name"),
        ];
        for (options, option) in cases {
            match options.validate() {
                Err(Error::InvalidOption { option: got, .. }) => assert_eq!(got, option),
                other => panic!("{option}: {other:?}"),
            }
        }
        // An empty token is fine for a collector of one's own.
        Options::new("")
            .collector_url("http://127.0.0.1:9")
            .validate()
            .unwrap();
    }

    #[test]
    fn use_grpc_is_refused_only_without_the_feature() {
        let result = Options::new("t").use_grpc().validate();
        #[cfg(feature = "grpc")]
        result.unwrap();
        #[cfg(not(feature = "grpc"))]
        match result {
            Err(Error::InvalidOption { option, reason }) => {
                assert_eq!(option, "use_grpc");
                assert!(reason.contains("feature `grpc`"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
