//! Disabling a tracer, by `Tracer::disable()` or by the collector's `disable` command:
//! recording stops at once, the spans it still holds are counted dropped (never sent),
//! later spans are dropped too, `flush` is refused, and one `TracerDisabled` event says so.
//!
//! The event handler is process-wide, so these tests run one at a time.

mod common;

use common::*;
use lightstep::{ErrorKind, Event, FlushState};
use std::time::Duration;

fn disabled_events() -> usize {
    recorded()
        .iter()
        .filter(|e| matches!(e, Event::TracerDisabled))
        .count()
}

#[test]
fn disable_drops_the_held_spans_and_everything_after() {
    let _guard = recording();
    // Reports only on flush or close, so the spans stay held until `disable`.
    let (collector, tracer) = tracer_with(|o| {
        o.min_reporting_period(Duration::from_secs(300))
            .max_reporting_period(Duration::from_secs(600))
    });
    for i in 0..25 {
        tracer.span("held").tag("i", i).start().finish();
    }
    assert_eq!(tracer.stats().pending, 25);

    tracer.disable();
    // A span finished afterwards is dropped at once, on the caller's thread.
    tracer.span("after").start().finish();
    assert!(
        eventually(|| tracer.stats().dropped == 26 && tracer.stats().pending == 0),
        "{:?}",
        tracer.stats()
    );
    assert!(eventually(|| disabled_events() == 1), "{:?}", recorded());

    // Flush is refused, close has nothing to send: had `disable` kept the held spans,
    // close would deliver them now.
    let error = tracer.flush(WAIT).unwrap_err();
    assert!(matches!(error, lightstep::Error::Closed), "{error}");
    assert!(
        eventually(|| recorded().iter().any(|e| matches!(
            e,
            Event::Error(e) if e.kind() == ErrorKind::Flush(FlushState::Disabled)
        ))),
        "{:?}",
        recorded()
    );
    tracer.close(WAIT).expect("close after disable");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(collector.span_count(), 0);
    assert!(collector
        .reports()
        .iter()
        .all(|r| r.request.spans.is_empty()));
    let stats = tracer.stats();
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (26, 0, 26)
    );

    // A second disable changes nothing and says nothing.
    tracer.disable();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(disabled_events(), 1);
}

#[test]
fn the_collector_disable_command_drops_the_spans_held_while_it_was_on_its_way() {
    let _guard = recording();
    let (collector, tracer) = tracer();
    collector.send_disable();
    // The collector holds its answer to the first report until the test has finished
    // more spans, which the tracer then holds when the `disable` command arrives.
    let (arrived_tx, arrived) = crossbeam_channel::bounded::<()>(1);
    let (go, go_rx) = crossbeam_channel::bounded::<()>(1);
    collector.on_report(move |_| {
        let _ = arrived_tx.try_send(());
        let _ = go_rx.recv_timeout(WAIT);
    });
    tracer.span("first").start().finish();
    let flusher = {
        let tracer = tracer.clone();
        std::thread::spawn(move || tracer.flush(WAIT))
    };
    arrived
        .recv_timeout(WAIT)
        .expect("the first report arrives");
    for i in 0..10 {
        tracer.span("held").tag("i", i).start().finish();
    }
    go.send(()).expect("collector waits");
    // The report that carried the command was accepted: its span is delivered.
    flusher
        .join()
        .expect("flush thread")
        .expect("the first report is accepted");
    assert!(eventually(|| disabled_events() == 1), "{:?}", recorded());
    assert!(
        eventually(|| tracer.stats().dropped == 10 && tracer.stats().pending == 0),
        "{:?}",
        tracer.stats()
    );
    tracer.span("later").start().finish();
    tracer.close(WAIT).expect("close after disable");
    std::thread::sleep(Duration::from_millis(200));

    assert_eq!(names(&collector.spans()), vec!["first"]);
    assert_eq!(
        collector.reports().len(),
        1,
        "nothing is sent after disable"
    );
    let stats = tracer.stats();
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (12, 1, 11)
    );
    assert_eq!(disabled_events(), 1);
}
