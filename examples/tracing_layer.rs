//! Reports `tracing` spans and events to LightStep with `lightstep::tracing_layer()`, mixed
//! with the crate's own `span!` guards, and shows what the collector received.
//!
//! With no `LIGHTSTEP_ACCESS_TOKEN` set, it starts a local collector in this process and
//! prints the trace tree exactly as that collector decoded it from HTTP. With the variable
//! set, it reports to LightStep (configured by the `LIGHTSTEP_*` variables) instead.
//!
//!     cargo run --example tracing_layer --features tracing

use lightstep::collector::{render_trace_tree, LocalCollector};
use lightstep::{span, Event, Options};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn main() -> Result<(), lightstep::Error> {
    lightstep::set_global_event_handler(|event| match event {
        Event::StatusReport(report) => eprintln!(
            "[tracer] report accepted: {} spans, {} dropped",
            report.sent_spans(),
            report.dropped_spans()
        ),
        other => eprintln!("[tracer] {other}"),
    });

    let collector = match std::env::var_os("LIGHTSTEP_ACCESS_TOKEN") {
        None => Some(LocalCollector::start()?),
        Some(_) => None,
    };
    let options = match &collector {
        Some(collector) => {
            println!(
                "No LIGHTSTEP_ACCESS_TOKEN: reporting to a local collector at {}",
                collector.url()
            );
            Options::new("tracing-local").collector_url(collector.url())
        }
        None => Options::from_env()?,
    };
    let tracer = lightstep::init(options.component_name("tracing-example"))?;
    // Every `tracing` span of the process (ours and the libraries') goes to the global tracer.
    tracing_subscriber::registry()
        .with(lightstep::tracing_layer())
        .init();

    handle_request(42);

    lightstep::close();
    let stats = tracer.stats();

    if let Some(collector) = collector {
        println!(
            "\nThe collector received {} report(s):\n",
            collector.reports().len()
        );
        print!("{}", render_trace_tree(&collector.spans()));
    }
    println!("\n{stats:#?}");
    Ok(())
}

/// The application: a `span!` guard around calls into an instrumented "library".
fn handle_request(user: i64) {
    let _request = span!("handle_request", "user.id" => user);
    let profile = storage::load_profile(user);
    // A `tracing` span made here and entered on another thread: its children there nest
    // under it, and it nests under `handle_request`.
    let render = tracing::info_span!("render", template = "profile.html");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _entered = render.enter();
            tracing::info!(bytes = profile.len() as u64, "rendering");
            let _encode = span!("encode_html"); // a lightstep guard under a tracing span
            std::thread::sleep(Duration::from_millis(2));
        });
    });
}

/// A library instrumented with `tracing` only: it knows nothing of LightStep.
mod storage {
    use std::time::Duration;

    pub fn load_profile(user: i64) -> String {
        let span = tracing::info_span!("storage.load_profile", user, cache_hit = false);
        let _entered = span.enter();
        tracing::debug!(key = %format!("user:{user}"), "cache miss");
        let rows = query("SELECT * FROM users WHERE id = ?");
        tracing::info!(rows, "loaded");
        format!("profile of {user}")
    }

    fn query(statement: &str) -> u64 {
        let _span = tracing::debug_span!(
            "db.query",
            db.statement = statement,
            elapsed_ms = tracing::field::Empty
        )
        .entered();
        std::thread::sleep(Duration::from_millis(3));
        tracing::Span::current().record("elapsed_ms", 3.0_f64);
        1
    }
}
