//! Span accounting shared by the callers and the reporter thread, and its `Stats` snapshot.

use std::sync::atomic::{
    AtomicU64, AtomicU8, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};

/// Span counts since a tracer started. Always `delivered + dropped + unsampled + pending
/// == finished`.
///
/// ```
/// let stats = lightstep::global().stats();
/// assert_eq!(stats.delivered + stats.dropped + stats.unsampled + stats.pending, stats.finished);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Spans started (sampled or not).
    pub started: u64,
    /// Spans finished (sampled or not).
    pub finished: u64,
    /// Spans the collector accepted.
    pub delivered: u64,
    /// Spans lost: buffer full, tracer closed or disabled, or undeliverable at close.
    pub dropped: u64,
    /// Spans of unsampled traces: finished, never recorded, not dropped.
    pub unsampled: u64,
    /// Finished spans still held by the tracer.
    pub pending: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Running = 0,
    Closed = 1,
    Disabled = 2,
}

/// How many cache lines the callers' counters are spread over.
const STRIPES: usize = 16;

/// The counters one group of threads bumps, alone on its cache line, so that threads
/// finishing spans at once do not fight over one line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe {
    started: AtomicU64,
    finished: AtomicU64,
}

thread_local! {
    /// This thread's stripe, handed out round-robin.
    static STRIPE: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Relaxed) % STRIPES
    };
}

fn stripe() -> usize {
    STRIPE.try_with(|i| *i).unwrap_or(0)
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    stripes: [Stripe; STRIPES],
    delivered: AtomicU64,
    dropped: AtomicU64,
    unsampled: AtomicU64,
    state: AtomicU8,
}

impl Counters {
    #[inline]
    pub(crate) fn add_started(&self) {
        self.stripes[stripe()].started.fetch_add(1, Relaxed);
    }
    #[inline]
    pub(crate) fn add_finished(&self) {
        self.stripes[stripe()].finished.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_unsampled(&self) {
        self.unsampled.fetch_add(1, Release);
    }
    pub(crate) fn add_delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Release);
    }
    pub(crate) fn add_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Release);
    }
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    pub(crate) fn state(&self) -> State {
        match self.state.load(Relaxed) {
            0 => State::Running,
            1 => State::Closed,
            _ => State::Disabled,
        }
    }

    pub(crate) fn set_state(&self, state: State) {
        self.state.store(state as u8, Relaxed);
    }

    /// Moves from running to `state`; false if the tracer was no longer running.
    pub(crate) fn leave_running(&self, state: State) -> bool {
        self.state
            .compare_exchange(State::Running as u8, state as u8, Relaxed, Relaxed)
            .is_ok()
    }

    pub(crate) fn snapshot(&self) -> Stats {
        // Read the outcomes before `finished`, so `pending` never goes negative.
        let delivered = self.delivered.load(Acquire);
        let dropped = self.dropped.load(Acquire);
        let unsampled = self.unsampled.load(Acquire);
        let finished = self.stripes.iter().map(|s| s.finished.load(Relaxed)).sum();
        let started = self.stripes.iter().map(|s| s.started.load(Relaxed)).sum();
        Stats {
            started,
            finished,
            delivered,
            dropped,
            unsampled,
            pending: finished.saturating_sub(delivered + dropped + unsampled),
        }
    }
}
