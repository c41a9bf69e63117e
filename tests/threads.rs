//! Spans finished on many threads, over HTTP to a real collector: every thread's spans
//! are collected by a flush, whether the thread is busy, idle or gone; the counts are
//! exact; a span that outlives every handle of its tracer is still delivered.

mod common;

use common::*;
use lightstep::{Options, Tracer};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn flush_collects_the_spans_of_idle_and_exited_threads() {
    let (collector, tracer) = tracer();
    // An idle thread: finishes its spans, then waits (alive) without finishing more.
    let (release, wait) = mpsc::channel::<()>();
    let (ready, finished) = mpsc::channel::<()>();
    let idle = {
        let tracer = tracer.clone();
        std::thread::spawn(move || {
            for _ in 0..5 {
                tracer.span("idle").start().finish();
            }
            ready.send(()).expect("ready");
            let _ = wait.recv();
        })
    };
    finished.recv().expect("the idle thread finished its spans");
    // Threads that finish spans and exit, more spans than a block holds.
    let exited: Vec<_> = (0..3)
        .map(|_| {
            let tracer = tracer.clone();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    tracer.span("exited").start().finish();
                }
            })
        })
        .collect();
    for thread in exited {
        thread.join().expect("thread");
    }
    tracer.flush(WAIT).expect("flush");
    let spans = collector.spans();
    assert_eq!(
        spans.iter().filter(|s| s.operation_name == "idle").count(),
        5
    );
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.operation_name == "exited")
            .count(),
        300
    );
    let stats = tracer.stats();
    assert_eq!(
        (stats.started, stats.finished, stats.delivered),
        (305, 305, 305)
    );
    assert_eq!((stats.dropped, stats.pending), (0, 0));
    release.send(()).expect("release");
    idle.join().expect("thread");
}

#[test]
fn a_span_started_on_one_thread_may_finish_on_another() {
    let (collector, tracer) = tracer();
    let span = tracer.span("moved").start();
    std::thread::spawn(move || drop(span))
        .join()
        .expect("thread");
    tracer.flush(WAIT).expect("flush");
    assert_eq!(collector.span_count(), 1);
    let stats = tracer.stats();
    assert_eq!((stats.started, stats.finished, stats.delivered), (1, 1, 1));
}

#[test]
fn a_span_that_outlives_every_handle_of_its_tracer_is_delivered() {
    let collector = lightstep::collector::LocalCollector::start().expect("collector");
    let tracer = Tracer::new(Options::new("token").collector_url(collector.url())).expect("tracer");
    let span = tracer.span("outlives").start();
    drop(tracer);
    // The reporter waits for the span still open...
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(collector.span_count(), 0);
    // ...and sends it once it finishes, then stops.
    drop(span);
    assert!(
        collector.wait_for_spans(1, WAIT),
        "the last open span was not delivered"
    );
}

#[test]
fn four_threads_bursting_at_once_lose_nothing() {
    let (collector, tracer) = tracer();
    let threads: Vec<_> = (0..4)
        .map(|n| {
            let tracer = tracer.clone();
            std::thread::spawn(move || {
                for i in 0..5_000 {
                    let mut span = tracer.span("burst").start();
                    span.set_tag("thread", n);
                    span.set_tag("i", i);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    tracer.flush(WAIT).expect("flush");
    assert_eq!(collector.span_count(), 20_000);
    let stats = tracer.stats();
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (20_000, 20_000, 0)
    );
}
