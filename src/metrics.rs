//! System metrics (`Options::system_metrics`, Linux only): the process's CPU time, RSS and
//! thread count and the host's memory, read from `/proc` on the reporter thread and sent
//! to LightStep's metrics ingest endpoint (`POST …/metrics`, an `IngestRequest`), as the
//! Go tracer's metrics reporter did.

use crate::encode::{key_value, timestamp};
use crate::endpoint::{Endpoint, Secret};
use crate::error::{CollectorStatus, ReportError};
use crate::event::{emit, ErrorEvent, ErrorKind, Event, FlushState, MetricsStatusReport};
use crate::ids::next_id;
use crate::options::Options;
use crate::proto::collector as pb;
use crate::proto::google::protobuf::Duration as PbDuration;
use crate::proto::metrics::{metric_point, IngestRequest, IngestResponse, MetricKind, MetricPoint};
use crate::reporter::http;
use crate::{Error, Value};
use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use prost::Message;
use std::time::{Duration, Instant, SystemTime};

/// Where metrics go when reports go to LightStep's own collectors (the Go and Python
/// tracers' default).
pub(crate) const DEFAULT_METRICS_URL: &str = "https://ingest.lightstep.com:443/metrics";

/// Default for `Options::system_metrics_interval` (the Go tracer's measurement frequency).
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The ingest service drops points that cover more than this; a longer gap (failed
/// sends, a suspended process) starts a new interval instead.
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// The bound on one metrics request (the Go tracer's), below `report_timeout` if that is
/// shorter: the reporter thread is busy meanwhile.
const MAX_TIMEOUT: Duration = Duration::from_secs(5);

/// The metric names sent, in order (`runtime.rust.*` after the Go tracer's
/// `runtime.go.*` and the Python tracer's `runtime.python.*`).
pub(crate) const CPU_USER: &str = "runtime.rust.cpu.user";
pub(crate) const CPU_SYS: &str = "runtime.rust.cpu.sys";
pub(crate) const MEM_RSS: &str = "runtime.rust.mem.rss";
pub(crate) const THREAD_COUNT: &str = "runtime.rust.thread_count";
pub(crate) const MEM_TOTAL: &str = "mem.total";
pub(crate) const MEM_AVAILABLE: &str = "mem.available";

/// Clock ticks per second in `/proc/self/stat` (`USER_HZ`, 100 on every Linux
/// architecture in use).
const USER_HZ: f64 = 100.0;

/// One reading of the process and the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// CPU time spent in user mode by the process, in seconds.
    pub(crate) cpu_user: f64,
    /// CPU time spent in the kernel for the process, in seconds.
    pub(crate) cpu_sys: f64,
    /// Resident set size, in bytes.
    pub(crate) rss: u64,
    /// Threads of the process.
    pub(crate) threads: u64,
    /// The host's memory, in bytes.
    pub(crate) mem_total: u64,
    /// The host's memory available for new work without swapping, in bytes.
    pub(crate) mem_available: u64,
}

/// Reads a sample from `/proc`; `None` where there is none to read.
pub(crate) fn read_sample() -> Option<Sample> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
        parse_sample(&stat, &status, &meminfo)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// A sample from the text of `/proc/self/stat`, `/proc/self/status` and `/proc/meminfo`.
pub(crate) fn parse_sample(stat: &str, status: &str, meminfo: &str) -> Option<Sample> {
    let (cpu_user, cpu_sys) = parse_stat(stat)?;
    let rss = kilobytes(status, "VmRSS:")?;
    let threads = field(status, "Threads:")?.parse().ok()?;
    let mem_total = kilobytes(meminfo, "MemTotal:")?;
    let mem_available = kilobytes(meminfo, "MemAvailable:")?;
    Some(Sample {
        cpu_user,
        cpu_sys,
        rss,
        threads,
        mem_total,
        mem_available,
    })
}

/// User and system CPU seconds from `/proc/self/stat` (`utime` and `stime`, fields 14
/// and 15). The command name, field 2, is in parentheses and may hold spaces and
/// parentheses itself: the fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(f64, f64)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11); // from field 3, `state`
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime as f64 / USER_HZ, stime as f64 / USER_HZ))
}

/// The value after `key` on the line that starts with it.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .map(str::trim)
}

/// A `… kB` value, in bytes.
fn kilobytes(text: &str, key: &str) -> Option<u64> {
    let value = field(text, key)?;
    let number = value.strip_suffix("kB").unwrap_or(value).trim();
    number.parse::<u64>().ok()?.checked_mul(1024)
}

/// Where the metrics of a tracer reporting to `collector` go.
pub(crate) fn metrics_url(collector: &Endpoint) -> String {
    if matches!(
        collector.host(),
        "collector.lightstep.com" | "collector-grpc.lightstep.com"
    ) {
        return DEFAULT_METRICS_URL.to_owned();
    }
    collector.url("/metrics")
}

/// The reporter thread's metrics state: when the next sample is due, and the reading the
/// next report's counters are measured from.
pub(crate) struct SystemMetrics {
    agent: ureq::Agent,
    url: String,
    /// `host:port`, for messages.
    collector: String,
    token: Secret,
    timeout: Duration,
    interval: Duration,
    reporter: pb::Reporter,
    labels: Vec<pb::KeyValue>,
    /// The last reading sent (or the first taken), and when it was taken.
    baseline: Option<(Sample, SystemTime)>,
    next: Instant,
    /// Whether an unreadable `/proc` was reported already (it is, once).
    proc_failure_reported: bool,
}

impl SystemMetrics {
    /// The metrics state for a tracer, or `None` when `system_metrics` is off or there is
    /// no `/proc` to read.
    pub(crate) fn new(
        options: &Options,
        collector: &Endpoint,
        token: &Secret,
        agent: Option<ureq::Agent>,
        span_reporter: &pb::Reporter,
    ) -> Result<Option<SystemMetrics>, Error> {
        if !options.system_metrics || !cfg!(target_os = "linux") {
            return Ok(None);
        }
        let url = metrics_url(collector);
        // The span transport's HTTP agent when it has one (its connection pool and TLS
        // settings), else one made with the same settings.
        let agent = match agent {
            Some(agent) => agent,
            None => http::http_agent(options)?,
        };
        let tag = |key: &str| span_reporter.tags.iter().find(|kv| kv.key == key).cloned();
        let labels: Vec<pb::KeyValue> = [
            "lightstep.component_name",
            "lightstep.hostname",
            "service.version",
        ]
        .into_iter()
        .filter_map(tag)
        .collect();
        let mut tags = vec![
            key_value("lightstep.reporter_platform".into(), &Value::from("rust")),
            key_value(
                "lightstep.reporter_platform_version".into(),
                &Value::from(crate::identity::PLATFORM_VERSION),
            ),
            key_value(
                "lightstep.reporter_version".into(),
                &Value::from(crate::identity::TRACER_VERSION),
            ),
        ];
        tags.extend(labels.iter().cloned());
        Ok(Some(SystemMetrics {
            agent,
            url,
            collector: collector.authority(),
            token: token.clone(),
            timeout: options.report_timeout.min(MAX_TIMEOUT),
            interval: options.system_metrics_interval,
            reporter: pb::Reporter {
                reporter_id: span_reporter.reporter_id,
                tags,
            },
            labels,
            baseline: None,
            // The first sample, taken as soon as the reporter thread runs, is the baseline.
            next: Instant::now(),
            proc_failure_reported: false,
        }))
    }

    /// When the next sample is due.
    pub(crate) fn due(&self) -> Instant {
        self.next
    }

    /// Takes a sample and, once there is a baseline, sends the metrics since it.
    pub(crate) fn run(&mut self, now: Instant) {
        self.next = now + self.interval;
        let taken_at = SystemTime::now();
        let Some(sample) = read_sample() else {
            if !std::mem::replace(&mut self.proc_failure_reported, true) {
                emit(Event::Error(ErrorEvent::new(
                    ErrorKind::Flush(FlushState::Transport),
                    Error::Transport(ReportError::new(
                        "system metrics: /proc could not be read; no metrics are sent",
                    )),
                )));
            }
            return;
        };
        let Some((baseline, since)) = self.baseline else {
            self.baseline = Some((sample, taken_at));
            return;
        };
        let covered = taken_at.duration_since(since).unwrap_or_default();
        if covered.is_zero() || covered > MAX_INTERVAL {
            self.baseline = Some((sample, taken_at));
            return;
        }
        let request = self.request(&baseline, since, &sample, taken_at);
        let count = request.points.len() as u64;
        match self.send(&request.encode_to_vec()) {
            Ok(()) => {
                self.baseline = Some((sample, taken_at));
                emit(Event::MetricsStatusReport(MetricsStatusReport {
                    sent_metrics: count,
                }));
            }
            // The baseline stays: the next report covers this interval too.
            Err((kind, error)) => emit(Event::Error(ErrorEvent::new(kind, error))),
        }
    }

    /// The report of `sample`, its counters measured from `baseline`.
    pub(crate) fn request(
        &self,
        baseline: &Sample,
        since: SystemTime,
        sample: &Sample,
        taken_at: SystemTime,
    ) -> IngestRequest {
        let covered = taken_at.duration_since(since).unwrap_or_default();
        let counter = |name: &str, value: f64| MetricPoint {
            kind: MetricKind::Counter as i32,
            metric_name: name.to_owned(),
            start: Some(timestamp(since)),
            duration: Some(PbDuration {
                seconds: covered.as_secs() as i64,
                nanos: covered.subsec_nanos() as i32,
            }),
            labels: self.labels.clone(),
            value: Some(metric_point::Value::DoubleValue(value.max(0.0))),
        };
        let gauge = |name: &str, value: u64| MetricPoint {
            kind: MetricKind::Gauge as i32,
            metric_name: name.to_owned(),
            start: Some(timestamp(taken_at)),
            duration: None,
            labels: self.labels.clone(),
            value: Some(metric_point::Value::DoubleValue(value as f64)),
        };
        IngestRequest {
            idempotency_key: idempotency_key(),
            reporter: Some(self.reporter.clone()),
            points: vec![
                counter(CPU_USER, sample.cpu_user - baseline.cpu_user),
                counter(CPU_SYS, sample.cpu_sys - baseline.cpu_sys),
                gauge(MEM_RSS, sample.rss),
                gauge(THREAD_COUNT, sample.threads),
                gauge(MEM_TOTAL, sample.mem_total),
                gauge(MEM_AVAILABLE, sample.mem_available),
            ],
        }
    }

    fn send(&self, body: &[u8]) -> Result<(), (ErrorKind, Error)> {
        let token = self.token.expose();
        let answer = http::post(
            &self.agent,
            &self.url,
            token,
            http::PROTOBUF,
            body,
            self.timeout,
        )
        .map_err(|failure| {
            let failure = failure.at(&self.collector);
            (failure.kind, failure.error.redacted(token))
        })?;
        let (status, response) = (answer.status, answer.body);
        if status != 200 {
            return Err((
                ErrorKind::Flush(FlushState::Report),
                Error::Collector(
                    ReportError::new(format!("system metrics: HTTP status {status}"))
                        .with_status(CollectorStatus::Http(status))
                        .at(&self.collector),
                ),
            ));
        }
        // The response is empty by protocol; anything else is only worth a note.
        match response.map(|bytes| IngestResponse::decode(bytes.as_slice())) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                emit(Event::Error(ErrorEvent::new(
                    ErrorKind::Flush(FlushState::Transport),
                    Error::Collector(
                        ReportError::new(format!(
                            "system metrics: the response is not an IngestResponse: {e}"
                        ))
                        .with_source(e)
                        .at(&self.collector),
                    ),
                )));
                Ok(())
            }
            Err(_) => Ok(()),
        }
    }
}

/// Runs `metrics` on a thread of their own (`lightstep-metrics`), so that a slow metrics
/// request never delays span reports; it stops when the returned sender is dropped.
pub(crate) fn spawn(mut metrics: SystemMetrics) -> Result<Sender<()>, Error> {
    let (stop, stopped) = bounded::<()>(0);
    std::thread::Builder::new()
        .name("lightstep-metrics".into())
        .spawn(move || loop {
            match stopped.recv_deadline(metrics.due()) {
                Err(RecvTimeoutError::Timeout) => metrics.run(Instant::now()),
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        })
        .map_err(|e| {
            let message = format!("cannot start the metrics thread: {e}");
            Error::Transport(ReportError::new(message).with_source(e))
        })?;
    Ok(stop)
}

/// A random key per report: 30 random bytes in lower-case base32 (as the Go tracer).
fn idempotency_key() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = Vec::with_capacity(32);
    for _ in 0..4 {
        bytes.extend_from_slice(&next_id().to_le_bytes());
    }
    bytes.truncate(30);
    let mut key = String::with_capacity(48);
    for chunk in bytes.chunks(5) {
        let bits = chunk
            .iter()
            .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
        for i in (0..8).rev() {
            key.push(char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize]));
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1234 0 5 0 \
                        250 75 0 0 20 0 7 0 123456 10485760 512 18446744073709551615 0 0";
    const STATUS: &str = "Name:\tmy prog\nUmask:\t0022\nState:\tS (sleeping)\n\
                          VmPeak:\t  20000 kB\nVmRSS:\t    2172 kB\nThreads:\t7\n";
    const MEMINFO: &str = "MemTotal:       24684096 kB\nMemFree:        13885652 kB\n\
                           MemAvailable:   23256916 kB\nBuffers:          123 kB\n";

    #[test]
    fn a_sample_is_parsed_from_proc_text() {
        let sample = parse_sample(STAT, STATUS, MEMINFO).expect("sample");
        assert_eq!(
            sample,
            Sample {
                cpu_user: 2.5,
                cpu_sys: 0.75,
                rss: 2172 * 1024,
                threads: 7,
                mem_total: 24684096 * 1024,
                mem_available: 23256916 * 1024,
            }
        );
    }

    #[test]
    fn broken_proc_text_gives_no_sample() {
        assert!(parse_sample("", STATUS, MEMINFO).is_none());
        assert!(parse_sample("1 (x) S 1 2", STATUS, MEMINFO).is_none());
        assert!(parse_sample(STAT, "Threads:\tmany\nVmRSS:\t1 kB\n", MEMINFO).is_none());
        assert!(parse_sample(STAT, STATUS, "MemTotal: 1 kB\n").is_none());
        assert!(parse_sample(
            STAT,
            STATUS,
            "MemTotal: 99999999999999999999 kB\nMemAvailable: 1 kB"
        )
        .is_none());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_can_be_sampled() {
        let sample = read_sample().expect("/proc is readable");
        assert!(sample.threads >= 1, "{sample:?}");
        assert!(
            sample.rss > 0 && sample.rss < sample.mem_total,
            "{sample:?}"
        );
        assert!(sample.mem_available <= sample.mem_total, "{sample:?}");
        assert!(
            sample.cpu_user >= 0.0 && sample.cpu_sys >= 0.0,
            "{sample:?}"
        );
    }

    #[test]
    fn metrics_go_to_ingest_or_beside_a_custom_collector() {
        assert_eq!(
            metrics_url(&Endpoint::parse(crate::DEFAULT_COLLECTOR_URL).unwrap()),
            DEFAULT_METRICS_URL
        );
        assert_eq!(
            metrics_url(&Endpoint::parse("https://collector-grpc.lightstep.com:443").unwrap()),
            DEFAULT_METRICS_URL
        );
        assert_eq!(
            metrics_url(&Endpoint::parse("http://127.0.0.1:8360").unwrap()),
            "http://127.0.0.1:8360/metrics"
        );
        assert_eq!(
            metrics_url(&Endpoint::parse("https://satellite.internal/base/").unwrap()),
            "https://satellite.internal:443/base/metrics"
        );
    }

    #[test]
    fn idempotency_keys_are_random_base32() {
        let a = idempotency_key();
        let b = idempotency_key();
        assert_eq!(a.len(), 48);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)));
        assert_ne!(a, b);
    }
}
