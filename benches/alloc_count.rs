//! Heap allocations per span on the caller's hot path (start, two tags, finish), counted
//! by a `#[global_allocator]` that tallies each thread's allocations. The producer's own
//! count is the figure (SPEC §7: at most 1 per span); allocations on all other threads
//! (our reporter, its HTTP client, the local collector; the peers' background threads)
//! are reported beside it. Spans are paced as in `hot_path` so none is dropped.
//!
//! `cargo bench --bench alloc_count`

mod common;

use common::{fast, otel::Otel, Ours, CHUNK};
use fastrace::collector::SpanContext as FastContext;
use fastrace::local::LocalSpan;
use opentelemetry::trace::{Span as _, Tracer as _};
use opentelemetry::KeyValue;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

struct Counting;

static ALL_ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THREAD_ALLOCS: Cell<u64> = const { Cell::new(0) };
    static THREAD_BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count(size: usize) {
    ALL_ALLOCS.fetch_add(1, Relaxed);
    let _ = THREAD_ALLOCS.try_with(|c| c.set(c.get() + 1));
    let _ = THREAD_BYTES.try_with(|c| c.set(c.get() + size as u64));
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting touches
// only atomics and const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: forwarded with the caller's pointer and layouts.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SPANS: u64 = 20 * CHUNK;

fn thread_counts() -> (u64, u64) {
    (THREAD_ALLOCS.with(Cell::get), THREAD_BYTES.with(Cell::get))
}

/// Runs `SPANS` spans in chunks of `CHUNK` (`body(n)` makes `n`), settling after each;
/// counts the producer's allocations inside the chunks only, and every thread's
/// allocations overall (settling included).
fn measure(name: &str, mut body: impl FnMut(u64), mut settle: impl FnMut()) {
    // Two unmeasured chunks first, so one-time set-up (thread-locals, and the blocks a
    // thread's lane reuses, which the reporter hands back after the first flush) is not
    // charged to the spans.
    for _ in 0..2 {
        body(CHUNK);
        settle();
    }
    let all_before = ALL_ALLOCS.load(Relaxed);
    let (mut allocs, mut bytes) = (0, 0);
    let mut settle_allocs = 0;
    let mut left = SPANS;
    while left > 0 {
        let n = left.min(CHUNK);
        let before = thread_counts();
        body(n);
        let after = thread_counts();
        allocs += after.0 - before.0;
        bytes += after.1 - before.1;
        settle();
        settle_allocs += thread_counts().0 - after.0;
        left -= n;
    }
    let all = ALL_ALLOCS.load(Relaxed) - all_before;
    let others = all - allocs - settle_allocs;
    let per = |x: u64| x as f64 / SPANS as f64;
    eprintln!(
        "{name}: {:.3} allocations per span on the caller's thread ({:.1} bytes), \
         {:.2} per span on other threads",
        per(allocs),
        per(bytes),
        per(others)
    );
    common::record(
        &format!("alloc/{name}"),
        &[
            ("caller_allocs_per_span", per(allocs)),
            ("caller_bytes_per_span", per(bytes)),
            ("other_threads_allocs_per_span", per(others)),
            ("spans", SPANS as f64),
        ],
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }

    // Before init: the no-op tracer.
    assert!(lightstep::global().is_noop());
    measure(
        "lightstep_noop",
        |n| {
            for _ in 0..n {
                let _span = lightstep::span!("hot", "component" => "bench", "attempt" => 42);
            }
        },
        || {},
    );

    let ours = Ours::hot();
    measure(
        "lightstep_builder",
        |n| {
            for _ in 0..n {
                let mut span = ours.tracer.span("hot").start();
                span.set_tag("component", "bench");
                span.set_tag("attempt", 42);
            }
        },
        || ours.flush(),
    );
    measure(
        "lightstep_builder_three_tags",
        |n| {
            for _ in 0..n {
                let _span = ours
                    .tracer
                    .span("hot")
                    .tag("component", "bench")
                    .tag("attempt", 42)
                    .tag("cached", true)
                    .start();
            }
        },
        || ours.flush(),
    );
    let stats = ours.finish();
    assert_eq!(stats.dropped, 0, "{stats:?}");

    common::init_global();
    measure(
        "lightstep_span_macro",
        |n| {
            for _ in 0..n {
                let _span = lightstep::span!("hot", "component" => "bench", "attempt" => 42);
            }
        },
        common::flush_global,
    );
    assert_eq!(lightstep::global().stats().dropped, 0);

    let otel = Otel::start();
    measure(
        "opentelemetry_sdk",
        |n| {
            for _ in 0..n {
                let mut span = otel.tracer.start("hot");
                span.set_attribute(KeyValue::new("component", "bench"));
                span.set_attribute(KeyValue::new("attempt", 42));
                span.end();
            }
        },
        || otel.flush(),
    );
    drop(otel);

    fast::init();
    measure(
        "fastrace",
        |n| {
            let root = fastrace::Span::root("root", FastContext::random());
            let _parent = root.set_local_parent();
            for _ in 0..n {
                let _span = LocalSpan::enter_with_local_parent("hot")
                    .with_property(|| ("component", "bench"))
                    .with_property(|| ("attempt", "42"));
            }
        },
        fast::flush,
    );
}
