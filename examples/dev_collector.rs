//! A development collector: prints every report it receives as a trace tree.
//!
//!     cargo run --example dev_collector                 # listens on 127.0.0.1:8360
//!     cargo run --example dev_collector -- --addr 127.0.0.1:9000
//!
//! Point a tracer at it with `LIGHTSTEP_COLLECTOR_URL=http://127.0.0.1:8360`, or an
//! OpenTelemetry SDK's OTLP/HTTP protobuf exporter at `http://127.0.0.1:8360/v1/traces`.
//! Stop it with Ctrl-C. Every request it refuses is printed too (method, path, status and
//! why): a tracer speaking another transport (LightStep's older JSON or Thrift reports) is
//! told which one to switch to.

use lightstep::collector::{render_trace_tree, LocalCollector, ReceivedReport};

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
    collector.on_refusal(|refusal| println!("── {refusal}"));
    println!(
        "dev_collector listening on {} (Ctrl-C to stop)",
        collector.url()
    );
    loop {
        std::thread::park();
    }
}

fn print_report(report: &ReceivedReport) {
    println!("── {}", report.summary());
    print!("{}", render_trace_tree(&report.request.spans));
}
