//! Traces a small nested workload and shows what the collector received.
//!
//! With no `LIGHTSTEP_ACCESS_TOKEN` set, it starts a local collector in this process and
//! prints the trace tree exactly as that collector decoded it from HTTP (or from gRPC, with
//! `LIGHTSTEP_TRANSPORT=grpc` and the `grpc` feature). With the variable set, it reports to
//! LightStep (configured by the `LIGHTSTEP_*` variables) instead.
//!
//!     cargo run --example quickstart
//!     LIGHTSTEP_TRANSPORT=grpc cargo run --example quickstart --features grpc

use lightstep::collector::{render_trace_tree, LocalCollector};
use lightstep::{span, Event, Options, Value};
use std::time::Duration;

fn main() -> Result<(), lightstep::Error> {
    lightstep::set_global_event_handler(|event| match event {
        Event::StatusReport(report) => eprintln!(
            "[tracer] report accepted: {} spans, {} dropped",
            report.sent_spans(),
            report.dropped_spans()
        ),
        other => eprintln!("[tracer] {other}"),
    });

    let local = std::env::var_os("LIGHTSTEP_ACCESS_TOKEN").is_none();
    let collector = if local {
        Some(LocalCollector::start()?)
    } else {
        None
    };
    let grpc = std::env::var("LIGHTSTEP_TRANSPORT").is_ok_and(|t| t.eq_ignore_ascii_case("grpc"));
    let options = match &collector {
        Some(collector) => {
            let options = Options::new("quickstart-local");
            // Without the `grpc` feature, `use_grpc()` makes `init` say which feature to enable.
            #[cfg(feature = "grpc")]
            let (options, url) = if grpc {
                (options.use_grpc(), collector.grpc_url())
            } else {
                (options, collector.url())
            };
            #[cfg(not(feature = "grpc"))]
            let (options, url) = if grpc {
                (options.use_grpc(), collector.url())
            } else {
                (options, collector.url())
            };
            println!("No LIGHTSTEP_ACCESS_TOKEN: reporting to a local collector at {url}");
            options.collector_url(url)
        }
        None => Options::from_env()?,
    };
    let tracer = lightstep::init(options.component_name("quickstart"))?;

    workload();

    lightstep::close();
    let stats = tracer.stats();

    if let Some(collector) = collector {
        let reports = collector.reports();
        println!(
            "\nThe collector received {} report(s) over {} ({} bytes):\n",
            reports.len(),
            if reports.iter().all(|r| r.grpc) && !reports.is_empty() {
                "gRPC"
            } else {
                "HTTP"
            },
            reports.iter().map(|r| r.body_bytes).sum::<usize>()
        );
        print!("{}", render_trace_tree(&collector.spans()));
    }
    println!("\n{stats:#?}");
    Ok(())
}

/// A request handler that checks a cache, queries a database and renders a page.
fn workload() {
    let mut request = span!("handle_request", "http.method" => "GET", "user.id" => 42);
    request.set_baggage_item("tenant", "acme");
    {
        let mut cache = span!("cache.lookup", "cache.hit" => false);
        cache.log([
            ("event", Value::from("cache_miss")),
            ("key", Value::from("user:42")),
        ]);
        std::thread::sleep(Duration::from_millis(2));
    }
    {
        let _query = span!("db.query", "db.statement" => "SELECT * FROM users WHERE id = ?");
        std::thread::sleep(Duration::from_millis(5));
        let _decode = span!("db.decode_rows", "rows" => 1);
        std::thread::sleep(Duration::from_millis(1));
    }
    {
        let mut render = span!("render_page", "template" => "profile.html");
        std::thread::sleep(Duration::from_millis(3));
        render.log_event("rendered");
    }
    request.set_tag("http.status_code", 200);
}
