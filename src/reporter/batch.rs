//! The reporter's batch: spans waiting for the collector, oldest first, readied for
//! encoding a request at a time and taken off the front as reports are accepted.

use crate::encode::{normalize, Clock, Limits};
use crate::handoff::Finished;
use crate::record::SpanRecord;
use crate::wire;
use std::collections::vec_deque::{self, VecDeque};

/// One span waiting for the collector.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) record: SpanRecord,
    /// The encoded length of its span message, once readied (see [`Batch::prepare`]).
    pub(crate) len: usize,
    /// The bytes the span was admitted for (released when it leaves the tracer).
    pub(crate) held_bytes: usize,
}

impl Entry {
    /// The bytes it adds to a request: its field key, length and message.
    pub(crate) fn size(&self) -> usize {
        wire::len_field(self.len)
    }
}

/// Spans waiting, oldest first. Taking spans off the front moves none of the others.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    entries: VecDeque<Entry>,
    /// The first `prepared` entries are readied for encoding.
    prepared: usize,
}

/// What readying spans found.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// Values that could not be sent as given (`log_encoder.errors`).
    pub(crate) encoding_errors: u64,
    /// Spans too big for any report, taken out of the batch.
    pub(crate) oversized: Vec<Entry>,
}

impl Batch {
    pub(crate) fn push(&mut self, finished: Finished) {
        self.entries.push_back(Entry {
            record: finished.record,
            len: 0,
            held_bytes: finished.held_bytes,
        });
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Readies waiting spans for encoding — wall-clock times, log limits, encoded length
    /// by `span_len` — until those ready at the front fill `budget` bytes. Spans whose
    /// size is over `limit` can go in no report: they are taken out and returned.
    pub(crate) fn prepare(
        &mut self,
        budget: usize,
        limit: usize,
        limits: Limits,
        span_len: &dyn Fn(&SpanRecord) -> usize,
    ) -> Prepared {
        let mut found = Prepared::default();
        let mut ready: usize = self.entries.range(..self.prepared).map(Entry::size).sum();
        if ready > budget {
            return found;
        }
        let clock = Clock::now();
        let mut end = self.prepared;
        let mut oversized = false;
        while end < self.entries.len() && ready <= budget {
            let entry = &mut self.entries[end];
            found.encoding_errors += normalize(&mut entry.record, &clock, limits);
            entry.len = span_len(&entry.record);
            if entry.size() > limit {
                oversized = true;
            } else {
                ready += entry.size();
            }
            end += 1;
        }
        if oversized {
            // Rare: take the spans too big for any report out of the readied range.
            let rest = self.entries.split_off(end);
            let readied = std::mem::take(&mut self.entries);
            for entry in readied {
                if entry.size() > limit {
                    found.oversized.push(entry);
                } else {
                    self.entries.push_back(entry);
                }
            }
            end = self.entries.len();
            self.entries.extend(rest);
        }
        self.prepared = end;
        found
    }

    /// How many spans from the front go in the next request: as many readied ones as fit
    /// in `budget` bytes (at least one, if any is ready), at most `max`.
    pub(crate) fn request_len(&self, budget: usize, max: usize) -> usize {
        let mut used = 0;
        self.entries
            .range(..self.prepared)
            .take_while(|entry| {
                used += entry.size();
                used <= budget
            })
            .count()
            .max(1)
            .min(self.prepared)
            .min(max)
    }

    /// The first `count` spans.
    pub(crate) fn front(&self, count: usize) -> vec_deque::Iter<'_, Entry> {
        self.entries.range(..count.min(self.entries.len()))
    }

    /// Takes the first `count` spans off (delivered or given up); the bytes they were
    /// held for.
    pub(crate) fn pop_front(&mut self, count: usize) -> usize {
        let count = count.min(self.len());
        self.prepared = self.prepared.saturating_sub(count);
        self.entries.drain(..count).map(|e| e.held_bytes).sum()
    }

    /// Takes every span off; how many, and the bytes they were held for.
    pub(crate) fn clear(&mut self) -> (usize, usize) {
        let count = self.len();
        let bytes = self.pop_front(count);
        (count, bytes)
    }
}
