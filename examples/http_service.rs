//! One trace across two services: an HTTP client injects its span context into the
//! request headers, and an HTTP server extracts it and continues the trace.
//!
//! Both run in this process for the sake of the example, but share nothing except HTTP
//! over loopback: each has its own tracer (component `frontend` or `backend`), and both
//! report to a local collector, which then prints what it received: one trace, with the
//! server's spans under the client's.
//!
//!     cargo run --example http_service
//!
//! The server builds a plain `HashMap` from the request headers, so this needs no cargo
//! feature; with the `http` feature, an `http::HeaderMap` is a carrier too.

use lightstep::collector::{render_trace_tree, LocalCollector};
use lightstep::{Options, Propagator, SpanContext, Tracer};
use std::collections::HashMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The formats both services speak: inject writes all three, extract takes the first found.
const PROPAGATORS: &[Propagator] = &[
    Propagator::TraceContext,
    Propagator::B3,
    Propagator::LightStep,
];

fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let collector = LocalCollector::start()?;
    let options = |service: &str| {
        Options::new("example-token")
            .collector_url(collector.url())
            .component_name(service)
            .propagators(PROPAGATORS)
    };
    let frontend = Tracer::new(options("frontend"))?;
    let backend = Tracer::new(options("backend"))?;

    // The backend: a synchronous HTTP server on a free loopback port.
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0")?);
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or("the server is not on an IP address")?;
    let serving = {
        let (server, backend) = (Arc::clone(&server), backend.clone());
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                handle(request, &backend);
            }
        })
    };

    // The frontend: one checkout, which asks the backend for two prices.
    let agent = ureq::Agent::new_with_defaults();
    {
        let mut checkout = frontend.span("checkout").tag("span.kind", "client").start();
        checkout.set_baggage_item("customer", "acme");
        for item in ["sku-1", "sku-2"] {
            let call = frontend
                .span("GET /price")
                .child_of(checkout.context())
                .tag("item", item)
                .start();
            let price = get(
                &agent,
                addr,
                &format!("/price/{item}"),
                call.context(),
                &frontend,
            )?;
            println!("{item} costs {price}");
        }
    }

    // A caller that decided not to sample its trace: the backend honours that, so its
    // span is counted as unsampled and never reported.
    let unsampled = SpanContext::new(0x5eed, 0x1).with_sampled(false);
    let call = frontend.span("GET /price").child_of(&unsampled).start();
    get(&agent, addr, "/price/sku-3", call.context(), &frontend)?;
    drop(call);

    server.unblock();
    serving.join().map_err(|_| "the server thread panicked")?;
    frontend.close(Duration::from_secs(5))?;
    backend.close(Duration::from_secs(5))?;

    println!("\nWhat the collector received from both services:\n");
    print!("{}", render_trace_tree(&collector.spans()));
    println!("\nfrontend: {:?}", frontend.stats());
    println!("backend:  {:?}", backend.stats());
    Ok(())
}

/// The client side: inject the caller's context into the request headers.
fn get(
    agent: &ureq::Agent,
    addr: SocketAddr,
    path: &str,
    context: &SpanContext,
    tracer: &Tracer,
) -> Result<String, Box<dyn Error + Send + Sync>> {
    let mut headers = HashMap::new();
    tracer.inject(context, &mut headers);
    if path.ends_with("sku-1") {
        let mut sorted: Vec<_> = headers.iter().collect();
        sorted.sort();
        println!("headers sent with {path}:");
        for (key, value) in sorted {
            println!("  {key}: {value}");
        }
    }
    let mut request = agent.get(format!("http://{addr}{path}"));
    for (key, value) in &headers {
        request = request.header(key.as_str(), value.as_str());
    }
    Ok(request.call()?.body_mut().read_to_string()?)
}

/// The server side: extract the caller's context from the headers and continue its trace.
fn handle(request: tiny_http::Request, tracer: &Tracer) {
    let headers: HashMap<String, String> = request
        .headers()
        .iter()
        .map(|h| (h.field.to_string(), h.value.to_string()))
        .collect();
    let operation = format!("{} {}", request.method(), request.url());
    let span = tracer.span(operation).tag("span.kind", "server");
    let mut span = match tracer.extract(&headers) {
        Ok(Some(parent)) => span.child_of(&parent).start_active(),
        Ok(None) => span.start_active(), // no caller context: a new trace
        Err(error) => {
            // A corrupt carrier: say so, and start a new trace rather than fail.
            eprintln!("bad trace headers: {error}");
            span.tag("propagation.error", error.to_string())
                .start_active()
        }
    };
    let customer = span
        .baggage_item("customer")
        .unwrap_or("anonymous")
        .to_owned();
    {
        // A child of the handler's span, through the thread's active span.
        let _query = tracer.span("db.query").tag("customer", customer).start();
        std::thread::sleep(Duration::from_millis(2));
    }
    span.set_tag("http.status_code", 200);
    let _ = request.respond(tiny_http::Response::from_string("4.20 EUR"));
}
