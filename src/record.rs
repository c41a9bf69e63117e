//! The record of a finished span as the reporter thread encodes it (expanded from the
//! compact record the caller handed over; see `compact`).

use crate::context::SpanContext;
use crate::Value;
use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// A [`Moment`] in 8 bytes, as a running span keeps its times: a counter reading, or
/// (the top bit set) a wall-clock time in nanoseconds from the Unix epoch, signed in the
/// other 63 bits (about 146 years either side of 1970; times beyond are clamped).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp(u64);

const WALL: u64 = 1 << 63;
/// The furthest wall time from the epoch a stamp holds, in nanoseconds.
const WALL_RANGE: i128 = (1 << 62) - 1;

impl Stamp {
    /// The time of `moment`.
    #[inline]
    pub(crate) fn of(moment: Moment) -> Stamp {
        match moment {
            // (A counter reading's top bit is clear: 2^63 ticks are decades of uptime.)
            Moment::Mono(raw) => Stamp(raw & !WALL),
            Moment::Wall(time) => Stamp::wall(time),
        }
    }

    #[cold]
    fn wall(time: SystemTime) -> Stamp {
        let nanos = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_nanos() as i128,
            Err(before) => -(before.duration().as_nanos() as i128),
        };
        let nanos = nanos.clamp(-WALL_RANGE, WALL_RANGE) as i64;
        Stamp(WALL | (nanos as u64 & !WALL))
    }

    /// The moment this stamp holds.
    pub(crate) fn moment(self) -> Moment {
        if self.0 & WALL == 0 {
            return Moment::Mono(self.0);
        }
        // Sign-extends the 63 bits below the flag.
        let nanos = ((self.0 << 1) as i64) >> 1;
        let offset = Duration::from_nanos(nanos.unsigned_abs());
        Moment::Wall(if nanos >= 0 {
            UNIX_EPOCH + offset
        } else {
            UNIX_EPOCH - offset
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn wall_of(stamp: Stamp) -> SystemTime {
        match stamp.moment() {
            Moment::Wall(time) => time,
            Moment::Mono(_) => panic!("a wall time came back as a counter reading"),
        }
    }

    #[test]
    fn stamps_keep_wall_times_either_side_of_the_epoch() {
        for time in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            UNIX_EPOCH - Duration::from_millis(1500),
            UNIX_EPOCH - Duration::new(3_000_000_000, 1),
        ] {
            assert_eq!(wall_of(Stamp::of(Moment::Wall(time))), time);
        }
        // Beyond the range: clamped, not wrapped.
        let far = UNIX_EPOCH + Duration::from_secs(400 * 365 * 86_400);
        let kept = wall_of(Stamp::of(Moment::Wall(far)));
        assert!(kept > UNIX_EPOCH + Duration::from_secs(140 * 365 * 86_400));
        assert!(kept < far);
    }

    #[test]
    fn stamps_keep_counter_readings() {
        let raw = clock().raw();
        assert!(matches!(Stamp::of(Moment::Mono(raw)).moment(), Moment::Mono(r) if r == raw));
    }
}
