//! An event handler that blocks forever neither stops reporting nor blocks the caller.
//! (Its own test binary: the handler's thread stays blocked until the process ends.)

mod common;

use common::*;
use std::time::{Duration, Instant};

#[test]
fn a_blocked_handler_cannot_stall_the_tracer() {
    let (release, blocked) = crossbeam_channel::bounded::<()>(0);
    lightstep::set_global_event_handler(move |_| {
        let _ = blocked.recv(); // never released while the test runs
    });
    let (collector, tracer) = tracer();
    let started = Instant::now();
    for round in 0..20 {
        for i in 0..50 {
            tracer
                .span(format!("round-{round}"))
                .tag("i", i)
                .start()
                .finish();
        }
        tracer
            .flush(Duration::from_secs(2))
            .expect("flush despite the handler");
    }
    let close_started = Instant::now();
    tracer.close(Duration::from_millis(300)).expect("close");
    assert!(close_started.elapsed() < Duration::from_millis(350));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(collector.span_count(), 1000);
    assert_eq!(tracer.stats().delivered, 1000);
    drop(release);
}
