//! The record of a finished span as the reporter thread encodes it (expanded from the
//! compact record the caller handed over; see `compact`).

use crate::context::SpanContext;
use crate::Value;
use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::SystemTime;

/// A point in time as the caller took it: a raw reading of the CPU's time-stamp counter
/// (`quanta`, a few nanoseconds where an OS clock read costs 30), scaled and converted to
/// wall time on the reporter thread, or an explicit wall-clock time given by the user.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Moment {
    Mono(u64),
    Wall(SystemTime),
}

/// The counter every `Moment::Mono` is read from (calibrated once, when a tracer starts).
pub(crate) fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

impl Moment {
    #[inline]
    pub(crate) fn now() -> Moment {
        Moment::Mono(clock().raw())
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
pub(crate) fn cow_heap(text: &Cow<'static, str>) -> usize {
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
}

impl Tags {
    pub(crate) fn push(&mut self, tag: Field) {
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
}

impl SpanRecord {
    pub(crate) fn references(&self) -> impl Iterator<Item = &Reference> {
        self.parent.iter().chain(self.more_references.iter())
    }
}
