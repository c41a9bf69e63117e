//! Span accounting shared by the callers and the reporter thread, and its `Stats` snapshot.

use std::sync::atomic::{
    AtomicU64, AtomicU8,
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

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    started: AtomicU64,
    finished: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    unsampled: AtomicU64,
    state: AtomicU8,
}

impl Counters {
    pub(crate) fn add_started(&self) {
        self.started.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_finished(&self) {
        self.finished.fetch_add(1, Relaxed);
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
        let finished = self.finished.load(Relaxed);
        let started = self.started.load(Relaxed);
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
