//! The event queue overflows instead of blocking: with a handler stuck on one event, the
//! queue keeps the next 4096 (its capacity) and discards the rest, the tracer never
//! waits, and once the handler is free events flow again. (Its own test binary: the
//! handler is process-wide.)

use lightstep::collector::LocalCollector;
use lightstep::{Options, Tracer};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// The capacity of the queue between the tracer and the handler's thread.
const QUEUE: usize = 4096;
const WAIT: Duration = Duration::from_secs(10);

static HANDLED: AtomicUsize = AtomicUsize::new(0);

fn handled_settles_at(count: usize) -> bool {
    let deadline = Instant::now() + WAIT;
    while HANDLED.load(SeqCst) < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Nothing more arrives than expected.
    std::thread::sleep(Duration::from_millis(300));
    HANDLED.load(SeqCst) == count
}

#[test]
fn a_stuck_handler_loses_the_events_beyond_the_queue_and_then_gets_the_next() {
    let collector = LocalCollector::start().expect("collector");
    let tracer = Tracer::new(Options::new("t").collector_url(collector.url())).expect("tracer");
    tracer.close(WAIT).expect("close");

    let (entered, in_handler) = crossbeam_channel::bounded::<()>(1);
    let (release, released) = crossbeam_channel::bounded::<()>(0);
    lightstep::set_global_event_handler(move |_| {
        if HANDLED.fetch_add(1, SeqCst) == 0 {
            // The first event: stay here until the test lets go.
            let _ = entered.try_send(());
            let _ = released.recv_timeout(WAIT);
        }
    });
    // Every flush of a closed tracer is refused with an error event, at once.
    assert!(tracer.flush(WAIT).is_err());
    in_handler
        .recv_timeout(WAIT)
        .expect("the handler gets the first event");

    let started = Instant::now();
    for _ in 0..2 * QUEUE {
        assert!(tracer.flush(WAIT).is_err());
    }
    // The tracer did not wait for the handler (it is still stuck).
    assert!(started.elapsed() < WAIT, "{:?}", started.elapsed());
    assert_eq!(HANDLED.load(SeqCst), 1);

    release.send(()).expect("the handler waits");
    assert!(
        handled_settles_at(1 + QUEUE),
        "handled {} events, expected the first and {QUEUE} queued",
        HANDLED.load(SeqCst)
    );

    // The queue is free again: the next event is delivered.
    assert!(tracer.flush(WAIT).is_err());
    assert!(
        handled_settles_at(2 + QUEUE),
        "handled {}",
        HANDLED.load(SeqCst)
    );
}
