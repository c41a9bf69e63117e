//! A development collector: prints every report it receives as a trace tree.
//!
//!     cargo run --example dev_collector                 # listens on 127.0.0.1:8360
//!     cargo run --example dev_collector -- --addr 127.0.0.1:9000
//!
//! Point a tracer at it with `LIGHTSTEP_COLLECTOR_URL=http://127.0.0.1:8360`, or an
//! OpenTelemetry SDK's OTLP/HTTP protobuf exporter at `http://127.0.0.1:8360/v1/traces`.
//! Stop it with Ctrl-C.

use lightstep::collector::{render_trace_tree, LocalCollector, ReceivedReport};
use lightstep::proto::collector::key_value::Value;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8360");
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("usage: dev_collector [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let collector = match LocalCollector::bind(addr.as_str()) {
        Ok(collector) => collector,
        Err(e) => {
            eprintln!("dev_collector: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    collector.on_report(print_report);
    println!(
        "dev_collector listening on {} (Ctrl-C to stop)",
        collector.url()
    );
    loop {
        std::thread::park();
    }
}

fn print_report(report: &ReceivedReport) {
    let request = &report.request;
    let component = request
        .reporter
        .iter()
        .flat_map(|r| r.tags.iter())
        .find(|t| t.key == "lightstep.component_name")
        .and_then(|t| match &t.value {
            Some(Value::StringValue(name)) => Some(name.as_str()),
            _ => None,
        })
        .unwrap_or("?");
    let accounting = match &report.otlp {
        Some(otlp) => format!("OTLP, rejected {}", otlp.rejected_spans),
        None => format!("spans.dropped={}", report.dropped_spans().unwrap_or(0)),
    };
    println!(
        "── report from {component}: {} spans, {} bytes, {accounting}, answered {}",
        request.spans.len(),
        report.body_bytes,
        report.status
    );
    print!("{}", render_trace_tree(&request.spans));
}
