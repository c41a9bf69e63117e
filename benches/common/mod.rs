//! Shared set-up for the benchmarks: the tracers under test (ours reporting to a real
//! `LocalCollector` over loopback, `opentelemetry_sdk` with its batch processor and an
//! exporter that discards, `fastrace` with a reporter that discards), the pacing that
//! keeps drops out of the measurements, and the side file where figures that criterion
//! does not produce (drop counts, allocations, end-to-end rates) are written for
//! `benches/collect.py`.
#![allow(dead_code)] // every bench binary uses a different part of this module

use criterion::Criterion;
use lightstep::collector::LocalCollector;
use lightstep::{Options, Stats, Tracer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// Spans timed in one go before the pacing step. Far below our tracers' bounds, at
/// `opentelemetry_sdk`'s default batch queue (2048), and below
/// `fastrace`'s per-root span queue (10240), so no tracer under test can drop a span
/// within a chunk however slow its background thread is.
pub const CHUNK: u64 = 2048;

/// `max_buffered_spans` for the hot-path tracers: large, as the brief asks; pacing keeps
/// the buffer far from full anyway.
pub const LARGE_BUFFER: usize = 1_000_000;

/// How long a flush may take before the benchmark gives up.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Criterion settings shared by every group: sized so the whole `cargo bench` stays
/// within a few minutes on a 2-core machine.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .nresamples(20_000)
}

/// Runs `iters` iterations as timed chunks of at most `chunk` (`body(n)` runs `n`), and
/// calls `settle` after each chunk, untimed: it lets the tracer's background thread
/// catch up, so that every span of the next chunk meets an empty queue.
pub fn paced(
    iters: u64,
    chunk: u64,
    mut body: impl FnMut(u64),
    mut settle: impl FnMut(),
) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(chunk);
        let start = Instant::now();
        body(n);
        timed += start.elapsed();
        settle();
        left -= n;
    }
    timed
}

/// Settings for a group whose benchmarks are paced with untimed flushes.
///
/// Criterion 0.8 budgets `iter_custom` benchmarks by wall-clock time (its warm-up and
/// its iteration plan use the time the routine takes, not the time it reports), so the
/// untimed flushes count against these budgets: they bound both the run time and the
/// number of spans a `LocalCollector` ends up keeping.
pub fn paced_group(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(40)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
}

/// Our tracer reporting to its own local collector over loopback.
pub struct Ours {
    pub tracer: Tracer,
    pub collector: LocalCollector,
}

impl Ours {
    /// A collector on a free loopback port and a tracer reporting to it.
    pub fn start(configure: impl FnOnce(Options) -> Options) -> Ours {
        let collector = LocalCollector::start().expect("local collector");
        let options = configure(Options::new("bench").collector_url(collector.url()));
        let tracer = Tracer::new(options).expect("tracer");
        Ours { tracer, collector }
    }

    /// The hot-path tracer: default options but a large buffer.
    pub fn hot() -> Ours {
        Ours::start(|o| o.max_buffered_spans(LARGE_BUFFER))
    }

    pub fn flush(&self) {
        self.tracer
            .flush(FLUSH_TIMEOUT)
            .expect("flush to the local collector");
    }

    /// Flushes, then stops the tracer and the collector; returns the final counts.
    pub fn finish(self) -> Stats {
        self.flush();
        let stats = self.tracer.stats();
        let _ = self.tracer.close(FLUSH_TIMEOUT);
        drop(self.tracer);
        drop(self.collector);
        stats
    }
}

/// One of our tracers (with its collector) at a time, replaced by a fresh pair once it
/// has finished `rotate_at` spans, so that what the collector keeps stays bounded without
/// paying for a new tracer in every criterion sample.
pub struct Rotating {
    current: Option<Ours>,
    configure: fn(Options) -> Options,
    rotate_at: u64,
    tally: Tally,
}

impl Rotating {
    /// Spans a tracer finishes before it is replaced.
    pub const ROTATE_AT: u64 = 1_000_000;

    pub fn new(configure: fn(Options) -> Options) -> Rotating {
        Rotating {
            current: None,
            configure,
            rotate_at: Self::ROTATE_AT,
            tally: Tally::default(),
        }
    }

    /// The hot-path configuration: a large buffer.
    pub fn hot() -> Rotating {
        Rotating::new(|o| o.max_buffered_spans(LARGE_BUFFER))
    }

    /// The current tracer (call it outside the timed part: it may start a new one).
    pub fn get(&mut self) -> &Ours {
        let spent = self
            .current
            .as_ref()
            .is_some_and(|ours| ours.tracer.stats().finished >= self.rotate_at);
        if spent {
            if let Some(old) = self.current.take() {
                self.tally.add_stats(&old.finish());
            }
        }
        let configure = self.configure;
        self.current.get_or_insert_with(|| Ours::start(configure))
    }

    /// Stops the current tracer and records the accounting of all of them under `name`.
    pub fn report(mut self, name: &str) {
        if let Some(old) = self.current.take() {
            self.tally.add_stats(&old.finish());
        }
        self.tally.report(name);
    }
}

/// Installs the global tracer (for `span!`) once per process, reporting to a local
/// collector that lives until the process ends.
pub fn init_global() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let collector = Box::leak(Box::new(LocalCollector::start().expect("local collector")));
        lightstep::init(
            Options::new("bench")
                .collector_url(collector.url())
                .max_buffered_spans(LARGE_BUFFER),
        )
        .expect("init the global tracer");
    });
}

pub fn flush_global() {
    lightstep::global()
        .flush(FLUSH_TIMEOUT)
        .expect("flush the global tracer");
}

/// Span accounting of one benchmark across all of criterion's calls, written to the
/// side file when the benchmark is done.
#[derive(Default)]
pub struct Tally {
    pub finished: AtomicU64,
    pub delivered: AtomicU64,
    pub dropped: AtomicU64,
}

impl Tally {
    pub fn add(&self, finished: u64, delivered: u64, dropped: u64) {
        self.finished.fetch_add(finished, Relaxed);
        self.delivered.fetch_add(delivered, Relaxed);
        self.dropped.fetch_add(dropped, Relaxed);
    }

    pub fn add_stats(&self, stats: &Stats) {
        self.add(stats.finished, stats.delivered, stats.dropped);
    }

    /// Adds the difference between two snapshots of one tracer.
    pub fn add_delta(&self, before: &Stats, after: &Stats) {
        self.add(
            after.finished - before.finished,
            after.delivered - before.delivered,
            after.dropped - before.dropped,
        );
    }

    /// Prints the counts and records them under `name` in the side file.
    pub fn report(&self, name: &str) {
        let finished = self.finished.load(Relaxed);
        let delivered = self.delivered.load(Relaxed);
        let dropped = self.dropped.load(Relaxed);
        eprintln!("{name}: {finished} spans finished, {delivered} delivered, {dropped} dropped");
        record(
            name,
            &[
                ("finished", finished as f64),
                ("delivered", delivered as f64),
                ("dropped", dropped as f64),
            ],
        );
    }
}

/// Where figures outside criterion's estimates go: next to criterion's own output.
pub fn extra_dir() -> PathBuf {
    let criterion = if let Some(home) = std::env::var_os("CRITERION_HOME") {
        PathBuf::from(home)
    } else if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        PathBuf::from(target).join("criterion")
    } else {
        // (`cargo bench` runs each benchmark in the package's own directory, `benches/`:
        // the workspace's target directory is one up.)
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
    };
    criterion.join("lightstep-extra")
}

/// Records named figures in `lightstep-extra/<name>.json` (one file per name, replaced
/// on each run), where `benches/collect.py` finds them.
pub fn record(name: &str, figures: &[(&str, f64)]) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = extra_dir();
    std::fs::create_dir_all(&dir).expect("create the side-file directory");
    let path = dir.join(format!("{}.json", sanitize(name)));
    let mut body = String::from("{\n");
    let fields: BTreeMap<&str, f64> = figures.iter().copied().collect();
    let count = fields.len();
    for (i, (key, value)) in fields.into_iter().enumerate() {
        let value = if value.is_finite() { value } else { -1.0 };
        let comma = if i + 1 < count { "," } else { "" };
        body.push_str(&format!("  \"{key}\": {value}{comma}\n"));
    }
    body.push_str("}\n");
    std::fs::write(&path, body).expect("write the side file");
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

// ----- opentelemetry_sdk -------------------------------------------------------------

pub mod otel {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::Arc;

    /// An exporter that only counts what it is given, so drops can be told apart.
    #[derive(Debug, Clone, Default)]
    pub struct CountingExporter(pub Arc<AtomicU64>);

    impl SpanExporter for CountingExporter {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.fetch_add(batch.len() as u64, Relaxed);
            Ok(())
        }
    }

    /// `SdkTracerProvider` with its `BatchSpanProcessor` (default settings) in front of
    /// the counting exporter.
    pub struct Otel {
        pub provider: SdkTracerProvider,
        pub tracer: SdkTracer,
        pub exported: Arc<AtomicU64>,
    }

    impl Otel {
        pub fn start() -> Otel {
            let exporter = CountingExporter::default();
            let exported = Arc::clone(&exporter.0);
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .build();
            let tracer = provider.tracer("bench");
            Otel {
                provider,
                tracer,
                exported,
            }
        }

        pub fn flush(&self) {
            self.provider.force_flush().expect("otel force_flush");
        }

        pub fn exported(&self) -> u64 {
            self.exported.load(Relaxed)
        }
    }

    impl Drop for Otel {
        fn drop(&mut self) {
            let _ = self.provider.shutdown();
        }
    }
}

// ----- fastrace ----------------------------------------------------------------------

pub mod fast {
    use fastrace::collector::{Config, Reporter, SpanRecord};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::Once;

    static REPORTED: AtomicU64 = AtomicU64::new(0);

    struct CountingReporter;

    impl Reporter for CountingReporter {
        fn report(&mut self, spans: Vec<SpanRecord>) {
            REPORTED.fetch_add(spans.len() as u64, Relaxed);
        }
    }

    /// Installs fastrace's global collector with a reporter that counts and discards.
    pub fn init() {
        static INIT: Once = Once::new();
        INIT.call_once(|| fastrace::set_reporter(CountingReporter, Config::default()));
    }

    /// Spans handed to the reporter so far (roots included).
    pub fn reported() -> u64 {
        REPORTED.load(Relaxed)
    }

    pub fn flush() {
        fastrace::flush();
    }
}
