//! The owned record of a finished span: what the caller hands to the reporter thread.

use crate::context::SpanContext;
use crate::Value;
use std::borrow::Cow;
use std::time::SystemTime;

/// A point in time as the caller took it: a monotonic reading from the CPU's time-stamp
/// counter (`quanta`, a few nanoseconds where an OS clock read costs 30), converted to wall
/// time on the reporter thread, or an explicit wall-clock time given by the user.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Moment {
    Mono(quanta::Instant),
    Wall(SystemTime),
}

impl Moment {
    pub(crate) fn now() -> Moment {
        Moment::Mono(quanta::Instant::now())
    }
}

/// How a span relates to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relationship {
    ChildOf,
    FollowsFrom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reference {
    pub(crate) relationship: Relationship,
    pub(crate) trace_id: u64,
    pub(crate) span_id: u64,
}

pub(crate) type Field = (Cow<'static, str>, Value);
pub(crate) type Fields = Vec<Field>;

/// The heap bytes a string holds (none for a `&'static str`).
#[allow(clippy::ptr_arg)] // Borrowed or owned is the point.
fn cow_heap(text: &Cow<'static, str>) -> usize {
    match text {
        Cow::Borrowed(_) => 0,
        Cow::Owned(owned) => owned.capacity(),
    }
}

/// The heap bytes a field holds besides its own slot: its key's and its value's strings.
pub(crate) fn field_heap((key, value): &Field) -> usize {
    cow_heap(key)
        + match value {
            Value::String(text) => cow_heap(text),
            Value::Json(json) => json.capacity(),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => 0,
        }
}

/// How many tags a span keeps inline, without a heap allocation.
const INLINE_TAGS: usize = 3;

/// A span's tags: the first few inline (most spans have no more), the rest on the heap.
#[derive(Debug, Default)]
pub(crate) struct Tags {
    inline: [Option<Field>; INLINE_TAGS],
    spill: Vec<Field>,
    /// The strings' heap bytes, counted as tags arrive (see `SpanRecord::held_bytes`).
    heap: usize,
}

impl Tags {
    pub(crate) fn push(&mut self, tag: Field) {
        self.heap += field_heap(&tag);
        match self.inline.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(tag),
            None => self.spill.push(tag),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Field> {
        self.inline
            .iter()
            .map_while(Option::as_ref)
            .chain(&self.spill)
    }

    /// The heap bytes the tags hold: the spilled slots and every string.
    fn heap_bytes(&self) -> usize {
        self.heap + self.spill.capacity() * std::mem::size_of::<Field>()
    }
}

impl FromIterator<Field> for Tags {
    fn from_iter<I: IntoIterator<Item = Field>>(fields: I) -> Tags {
        let mut tags = Tags::default();
        for field in fields {
            tags.push(field);
        }
        tags
    }
}

#[derive(Debug, Clone)]
pub(crate) struct LogRecord {
    pub(crate) at: Moment,
    pub(crate) fields: Fields,
}

/// Everything recorded about one span.
#[derive(Debug)]
pub(crate) struct SpanRecord {
    pub(crate) context: SpanContext,
    pub(crate) operation: Cow<'static, str>,
    /// The first reference (almost always the only one), kept inline.
    pub(crate) parent: Option<Reference>,
    pub(crate) more_references: Vec<Reference>,
    pub(crate) start: Moment,
    pub(crate) finish: Moment,
    pub(crate) tags: Tags,
    pub(crate) logs: Vec<LogRecord>,
    /// Logs left out by `max_logs_per_span`; a summary log takes their place.
    pub(crate) dropped_logs: u64,
    /// The heap bytes of the logs' fields, counted as logs arrive.
    pub(crate) logs_heap: usize,
}

impl SpanRecord {
    pub(crate) fn references(&self) -> impl Iterator<Item = &Reference> {
        self.parent.iter().chain(self.more_references.iter())
    }

    /// The memory this record holds, its strings included: what the tracer's
    /// `max_buffered_bytes` bound counts. Read from sizes kept up to date as tags and logs
    /// arrive, so it costs a few additions, not a walk over the span.
    pub(crate) fn held_bytes(&self) -> usize {
        std::mem::size_of::<SpanRecord>()
            + cow_heap(&self.operation)
            + self.tags.heap_bytes()
            + self.more_references.capacity() * std::mem::size_of::<Reference>()
            + self.logs.capacity() * std::mem::size_of::<LogRecord>()
            + self.logs_heap
    }

    /// Appends a log, keeping the first and the newest when over `max_logs`.
    pub(crate) fn push_log(&mut self, log: LogRecord, max_logs: usize) {
        self.logs_heap += log_heap(&log);
        // One slot stays free for the summary of dropped logs.
        let keep = max_logs.saturating_sub(1).max(1);
        if self.logs.len() >= keep {
            let first = keep / 2;
            let removed = if first < self.logs.len() {
                Some(self.logs.remove(first))
            } else {
                self.logs.pop()
            };
            if let Some(removed) = removed {
                self.logs_heap -= log_heap(&removed);
            }
            self.dropped_logs += 1;
        }
        self.logs.push(log);
    }
}

#[cfg(test)]
impl SpanRecord {
    /// A record of span `span_id` (trace 1) with these tags, finished now, for tests.
    pub(crate) fn for_tests(span_id: u64, tags: Tags) -> SpanRecord {
        SpanRecord {
            context: SpanContext::new(1, span_id),
            operation: "op".into(),
            parent: None,
            more_references: Vec::new(),
            start: Moment::now(),
            finish: Moment::now(),
            tags,
            logs: Vec::new(),
            dropped_logs: 0,
            logs_heap: 0,
        }
    }
}

/// The heap bytes one log holds: its fields' slots and strings.
fn log_heap(log: &LogRecord) -> usize {
    log.fields.capacity() * std::mem::size_of::<Field>()
        + log.fields.iter().map(field_heap).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: i64) -> LogRecord {
        LogRecord {
            at: Moment::now(),
            fields: vec![("n".into(), Value::Int(n))],
        }
    }

    #[test]
    fn logs_keep_the_first_and_the_newest() {
        let mut record = SpanRecord::for_tests(2, Tags::default());
        for n in 0..100 {
            record.push_log(log(n), 10);
        }
        let kept: Vec<i64> = record
            .logs
            .iter()
            .map(|l| match l.fields[0].1 {
                Value::Int(n) => n,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(kept, vec![0, 1, 2, 3, 95, 96, 97, 98, 99]);
        assert_eq!(record.dropped_logs, 91);
    }
}
