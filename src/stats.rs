//! Span accounting shared by the callers and the reporter thread, and its `Stats` snapshot.

use crate::handoff::{Counts, Lane, Padded};
use std::sync::atomic::{
    AtomicU64, AtomicU8,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex, MutexGuard};

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
    /// Every handle is gone and the reporter stopped: nothing more is sent.
    Gone = 3,
}

/// The lanes of the threads that finish spans (see `handoff`), and the counts of the
/// lanes that were retired.
#[derive(Debug, Default)]
struct Lanes {
    live: Vec<Arc<Lane>>,
    retired: Counts,
}

/// The live counters behind [`Stats`]: each thread's lane counts its own spans; the
/// reporter counts outcomes here; spans finished outside any lane are counted here too.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Read for every span, written at close and disable: apart from the counts, which
    /// the reporter writes as reports are accepted.
    state: Padded<AtomicU8>,
    lanes: Mutex<Lanes>,
    started: AtomicU64,
    finished: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    unsampled: AtomicU64,
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

    /// Spans dropped so far, wherever they were counted.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Acquire) + self.lane_counts().dropped
    }

    pub(crate) fn state(&self) -> State {
        match self.state.load(Relaxed) {
            0 => State::Running,
            1 => State::Closed,
            2 => State::Disabled,
            _ => State::Gone,
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

    fn locked(&self) -> MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A thread's new lane.
    pub(crate) fn register(&self, lane: Arc<Lane>) {
        self.locked().live.push(lane);
    }

    /// The live lanes, into `into` (for the reporter to drain them without the lock).
    pub(crate) fn lanes(&self, into: &mut Vec<Arc<Lane>>) {
        into.extend(self.locked().live.iter().cloned());
    }

    /// A retired lane, drained: its counts join the retired ones and it is let go of.
    pub(crate) fn fold(&self, lane: &Arc<Lane>) {
        let mut lanes = self.locked();
        if let Some(i) = lanes.live.iter().position(|l| Arc::ptr_eq(l, lane)) {
            lanes.live.swap_remove(i);
            lanes.retired.add(lane.counts.read());
        }
    }

    /// The reporter stopped: the lanes are let go of (their threads free them).
    pub(crate) fn forget_lanes(&self) {
        let mut lanes = self.locked();
        let live = std::mem::take(&mut lanes.live);
        for lane in &live {
            lanes.retired.add(lane.counts.read());
        }
    }

    #[cfg(test)]
    pub(crate) fn live_lanes(&self) -> usize {
        self.locked().live.len()
    }

    /// The counts of every lane, live and retired.
    fn lane_counts(&self) -> Counts {
        let lanes = self.locked();
        let mut counts = lanes.retired;
        for lane in &lanes.live {
            counts.add(lane.counts.read());
        }
        counts
    }

    pub(crate) fn snapshot(&self) -> Stats {
        // The outcomes are read before `finished`, so `pending` never goes negative.
        let delivered = self.delivered.load(Acquire);
        let dropped = self.dropped.load(Acquire);
        let unsampled = self.unsampled.load(Acquire);
        let lanes = self.lane_counts();
        let finished = self.finished.load(Relaxed) + lanes.finished;
        let started = self.started.load(Relaxed) + lanes.started;
        let dropped = dropped + lanes.dropped;
        let unsampled = unsampled + lanes.unsampled;
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
