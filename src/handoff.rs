//! The hand-off of finished spans from the callers' threads to the reporter thread.
//!
//! An admission count of the spans and bytes held sits in front of a queue that grows on
//! demand (crossbeam's unbounded channel, which allocates a block per 31 spans as it
//! grows and nothing up front). A finished span is admitted if the tracer holds fewer
//! than `max_buffered_spans` spans and `max_buffered_bytes` bytes with it; otherwise it is
//! counted dropped. It stays held — queued, then in the reporter's batch — until it is
//! delivered or dropped, when the reporter releases it. So a burst is absorbed up to the
//! memory bound whatever the reporter is doing, and the caller never waits.

use crate::record::SpanRecord;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// A finished span on its way to the reporter, with the bytes it was admitted for.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) record: SpanRecord,
    pub(crate) held_bytes: usize,
}

/// What the tracer holds, against its bounds.
#[derive(Debug)]
pub(crate) struct Admission {
    spans: AtomicUsize,
    bytes: AtomicUsize,
    max_spans: usize,
    max_bytes: usize,
    /// Half of each bound: the reporter is woken when one is crossed.
    half_spans: usize,
    half_bytes: usize,
}

impl Admission {
    pub(crate) fn new(max_spans: usize, max_bytes: usize) -> Admission {
        Admission {
            spans: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_spans,
            max_bytes,
            half_spans: max_spans.div_ceil(2),
            half_bytes: max_bytes / 2,
        }
    }

    /// Counts one more span of `bytes` as held, if it fits: the spans and bytes held with
    /// it, or `None` (nothing counted) when it does not.
    #[inline]
    fn admit(&self, bytes: usize) -> Option<(usize, usize)> {
        let spans = self.spans.fetch_add(1, Relaxed) + 1;
        let held = self.bytes.fetch_add(bytes, Relaxed) + bytes;
        if spans > self.max_spans || held > self.max_bytes {
            self.release(1, bytes);
            return None;
        }
        Some((spans, held))
    }

    /// Spans that left the tracer (delivered or dropped) free their room.
    pub(crate) fn release(&self, spans: usize, bytes: usize) {
        self.spans.fetch_sub(spans, Relaxed);
        self.bytes.fetch_sub(bytes, Relaxed);
    }

    /// The spans and bytes held now.
    pub(crate) fn held(&self) -> (usize, usize) {
        (self.spans.load(Relaxed), self.bytes.load(Relaxed))
    }

    /// Whether half of either bound is taken: the reporter should send early.
    pub(crate) fn half_full(&self) -> bool {
        let (spans, bytes) = self.held();
        spans >= self.half_spans || bytes >= self.half_bytes
    }
}

/// The callers' end.
#[derive(Debug)]
pub(crate) struct HandoffSender {
    queue: Sender<Finished>,
    /// Wakes the reporter when half a bound is crossed (it sleeps until its timer
    /// otherwise, so a finished span costs its caller no system call).
    wake: Sender<()>,
    admission: Arc<Admission>,
}

/// The reporter's end.
#[derive(Debug)]
pub(crate) struct HandoffReceiver {
    queue: Receiver<Finished>,
    pub(crate) wake: Receiver<()>,
    pub(crate) admission: Arc<Admission>,
}

/// A hand-off bounded by `max_spans` spans and `max_bytes` bytes.
pub(crate) fn handoff(max_spans: usize, max_bytes: usize) -> (HandoffSender, HandoffReceiver) {
    let (queue_tx, queue_rx) = crossbeam_channel::unbounded();
    let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
    let admission = Arc::new(Admission::new(max_spans, max_bytes));
    (
        HandoffSender {
            queue: queue_tx,
            wake: wake_tx,
            admission: Arc::clone(&admission),
        },
        HandoffReceiver {
            queue: queue_rx,
            wake: wake_rx,
            admission,
        },
    )
}

impl HandoffSender {
    /// Hands `record` over; false (and the record is dropped) when the tracer holds all
    /// it may, or the reporter is gone. Never blocks.
    #[inline]
    pub(crate) fn push(&self, record: SpanRecord) -> bool {
        let held_bytes = record.held_bytes();
        let Some((spans, bytes)) = self.admission.admit(held_bytes) else {
            return false;
        };
        if self.queue.send(Finished { record, held_bytes }).is_err() {
            self.admission.release(1, held_bytes);
            return false;
        }
        let (half_spans, half_bytes) = (self.admission.half_spans, self.admission.half_bytes);
        if spans == half_spans || (bytes >= half_bytes && bytes - held_bytes < half_bytes) {
            let _ = self.wake.try_send(());
        }
        true
    }
}

impl HandoffReceiver {
    /// The next queued span, if any.
    pub(crate) fn try_recv(&self) -> Option<Finished> {
        self.queue.try_recv().ok()
    }

    /// How many spans are queued (not yet taken by the reporter).
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The queue, for `select!`.
    pub(crate) fn queue(&self) -> &Receiver<Finished> {
        &self.queue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Tags;
    use crate::Value;

    fn record(tag_bytes: usize) -> SpanRecord {
        let mut tags = Tags::default();
        if tag_bytes > 0 {
            tags.push(("big".into(), Value::from("x".repeat(tag_bytes))));
        }
        SpanRecord::for_tests(2, tags)
    }

    #[test]
    fn the_bytes_bound_counts_the_strings() {
        let small = record(0).held_bytes();
        let big = record(4096).held_bytes();
        assert!(big >= small + 4096, "{small} {big}");
        let (tx, rx) = handoff(1000, 3 * big);
        for _ in 0..3 {
            assert!(tx.push(record(4096)), "room for three");
        }
        assert!(!tx.push(record(4096)), "a fourth is over the bytes");
        assert_eq!(rx.admission.held(), (3, 3 * big));
        let first = rx.try_recv().expect("queued");
        rx.admission.release(1, first.held_bytes);
        assert!(tx.push(record(4096)), "room again");
    }

    #[test]
    fn the_span_bound_holds_and_crossing_half_wakes_the_reporter() {
        let (tx, rx) = handoff(4, usize::MAX);
        assert!(tx.push(record(0)), "1");
        assert!(rx.wake.try_recv().is_err(), "no wake below half");
        assert!(tx.push(record(0)), "2");
        assert!(rx.wake.try_recv().is_ok(), "woken at half");
        assert!(tx.push(record(0)), "3");
        assert!(tx.push(record(0)), "4");
        assert!(!tx.push(record(0)));
        assert_eq!(rx.queued(), 4);
        assert!(rx.admission.half_full());
    }

    #[test]
    fn a_span_is_refused_when_the_reporter_is_gone() {
        let (tx, rx) = handoff(10, usize::MAX);
        drop(rx);
        assert!(!tx.push(record(0)));
    }
}
