//! The compact record a span writes while it runs and hands to the reporter thread, which
//! expands it into a [`SpanRecord`] for encoding.
//!
//! The common span (a static name, up to three tags with static keys and static-string,
//! integer, float or boolean values, one parent) is held inline without a heap
//! allocation; everything else (owned strings, more tags, logs, more references) goes to
//! one boxed [`Extension`], made on first need.

use crate::context::{Baggage, SpanContext};
use crate::record::{
    cow_heap, field_heap, Field, LogRecord, Moment, Reference, SpanRecord, Stamp, Tags,
};
use crate::Value;
use std::borrow::Cow;
use std::fmt;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Arc;

/// How many tags a span keeps inline.
const INLINE_TAGS: usize = 3;

/// A tag value that needs no heap (what most tags hold), in 16 bytes: a static string's
/// address and length, or a number's bits.
#[derive(Clone, Copy)]
struct Inline {
    word: Word,
    len: u32,
    kind: Kind,
}

#[derive(Clone, Copy)]
union Word {
    text: *const u8,
    bits: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
}

// SAFETY: an `Inline` holds either plain bits or the address of a `&'static str`, which
// any thread may read.
unsafe impl Send for Inline {}
// SAFETY: as above.
unsafe impl Sync for Inline {}

impl Inline {
    const EMPTY: Inline = Inline {
        word: Word { bits: 0 },
        len: 0,
        kind: Kind::Bool,
    };

    #[inline]
    fn of(value: &Value) -> Option<Inline> {
        let (word, len, kind) = match value {
            Value::String(Cow::Borrowed(text)) => (
                Word {
                    text: text.as_ptr(),
                },
                u32::try_from(text.len()).ok()?,
                Kind::Str,
            ),
            Value::Int(n) => (Word { bits: *n as u64 }, 0, Kind::Int),
            Value::Float(x) => (Word { bits: x.to_bits() }, 0, Kind::Float),
            Value::Bool(b) => (
                Word {
                    bits: u64::from(*b),
                },
                0,
                Kind::Bool,
            ),
            Value::String(Cow::Owned(_)) | Value::Json(_) => return None,
        };
        Some(Inline { word, len, kind })
    }

    fn value(self) -> Value {
        // SAFETY: the field read is the one `of` wrote for this kind; a `Str` is the
        // address and length of a `&'static str`.
        unsafe {
            match self.kind {
                Kind::Str => Value::String(Cow::Borrowed(std::str::from_utf8_unchecked(
                    std::slice::from_raw_parts(self.word.text, self.len as usize),
                ))),
                Kind::Int => Value::Int(self.word.bits as i64),
                Kind::Float => Value::Float(f64::from_bits(self.word.bits)),
                Kind::Bool => Value::Bool(self.word.bits != 0),
            }
        }
    }
}

impl fmt::Debug for Inline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value().fmt(f)
    }
}

/// The rare parts of a span, boxed so the common span stays small.
#[derive(Debug, Default)]
pub(crate) struct Extension {
    /// Tags after the inline ones (once one tag lands here, every later one does, so
    /// the order of the tags is kept).
    pub(crate) tags: Vec<Field>,
    pub(crate) more_references: Vec<Reference>,
    pub(crate) logs: Vec<LogRecord>,
    /// Logs left out by `max_logs_per_span`; a summary log takes their place.
    pub(crate) dropped_logs: u64,
    /// The heap bytes of the strings of the tags and logs, counted as they arrive.
    heap: usize,
}

impl Extension {
    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Extension>()
            + self.heap
            + self.tags.capacity() * std::mem::size_of::<Field>()
            + self.more_references.capacity() * std::mem::size_of::<Reference>()
            + self.logs.capacity() * std::mem::size_of::<LogRecord>()
    }
}

/// The recorded part of a span, without its context (the span keeps that for its
/// callers, and adds it at the finish).
#[derive(Debug)]
pub(crate) struct Body {
    pub(crate) operation: Cow<'static, str>,
    /// The first reference (almost always the only one).
    pub(crate) parent: Option<Reference>,
    pub(crate) start: Stamp,
    pub(crate) finish: Stamp,
    keys: [&'static str; INLINE_TAGS],
    values: [Inline; INLINE_TAGS],
    inline: u8,
    /// The context's flags, set when the record is made (kept here, in the body's spare
    /// bytes, rather than in the record).
    sampled: bool,
    random_trace_id: bool,
    extension: Option<Box<Extension>>,
}

impl Body {
    #[inline]
    pub(crate) fn new(
        operation: Cow<'static, str>,
        parent: Option<Reference>,
        start: Moment,
    ) -> Body {
        Body {
            operation,
            parent,
            start: Stamp::of(start),
            finish: Stamp::of(start),
            keys: [""; INLINE_TAGS],
            values: [Inline::EMPTY; INLINE_TAGS],
            inline: 0,
            sampled: true,
            random_trace_id: false,
            extension: None,
        }
    }

    /// A body with these tags.
    #[inline]
    pub(crate) fn with_tags(
        operation: Cow<'static, str>,
        parent: Option<Reference>,
        start: Moment,
        tags: impl FnOnce(&mut Body),
    ) -> Body {
        let mut body = Body::new(operation, parent, start);
        tags(&mut body);
        body
    }

    /// The extension, made on first need.
    pub(crate) fn extension(&mut self) -> &mut Extension {
        self.extension.get_or_insert_with(Default::default)
    }

    // (Inlined where a tag's kinds are known, the matches below fold away.)
    #[inline(always)]
    pub(crate) fn push_tag(&mut self, key: Cow<'static, str>, value: Value) {
        let slot = usize::from(self.inline);
        if slot < INLINE_TAGS && self.extension.as_ref().is_none_or(|e| e.tags.is_empty()) {
            if let (Cow::Borrowed(key), Some(inline)) = (&key, Inline::of(&value)) {
                self.keys[slot] = key;
                self.values[slot] = inline;
                self.inline += 1;
                return;
            }
        }
        self.push_spilled((key, value));
    }

    #[cold]
    fn push_spilled(&mut self, tag: Field) {
        let extension = self.extension();
        extension.heap += field_heap(&tag);
        extension.tags.push(tag);
    }

    /// Appends a log, keeping the first and the newest when over `max_logs`.
    pub(crate) fn push_log(&mut self, log: LogRecord, max_logs: usize) {
        let extension = self.extension();
        extension.heap += log_heap(&log);
        // One slot stays free for the summary of dropped logs.
        let keep = max_logs.saturating_sub(1).max(1);
        if extension.logs.len() >= keep {
            let first = keep / 2;
            let removed = if first < extension.logs.len() {
                Some(extension.logs.remove(first))
            } else {
                extension.logs.pop()
            };
            if let Some(removed) = removed {
                extension.heap -= log_heap(&removed);
            }
            extension.dropped_logs += 1;
        }
        extension.logs.push(log);
    }

    /// Adds a reference after the first.
    pub(crate) fn push_reference(&mut self, reference: Reference) {
        match self.parent {
            None => self.parent = Some(reference),
            Some(_) => self.extension().more_references.push(reference),
        }
    }
}

/// A finished span on its way to the reporter: its context (the ids, and the shared
/// baggage and `tracestate`, if any) and its body.
#[derive(Debug)]
pub(crate) struct CompactRecord {
    trace_id_high: u64,
    trace_id: u64,
    span_id: u64,
    baggage: Option<Arc<Baggage>>,
    tracestate: Option<Arc<str>>,
    pub(crate) body: Body,
}

impl CompactRecord {
    /// The record of a span of `context`.
    #[cfg(any(test, feature = "opentelemetry"))]
    pub(crate) fn new(context: &SpanContext, body: Body) -> CompactRecord {
        let mut slot = MaybeUninit::uninit();
        let body = std::mem::ManuallyDrop::new(body);
        // SAFETY: the body is read once, here, and not dropped (it is moved into the slot,
        // which `write` initialises whole).
        unsafe {
            CompactRecord::write(&mut slot, context, &*body);
            slot.assume_init()
        }
    }

    /// Writes the record of a span of `context` and `body` into `slot`, moving the body
    /// (without building the record elsewhere first).
    ///
    /// # Safety
    ///
    /// `body` is valid for reads and is not used (nor dropped) by its owner afterwards.
    #[inline(always)]
    pub(crate) unsafe fn write(
        slot: &mut MaybeUninit<CompactRecord>,
        context: &SpanContext,
        body: *const Body,
    ) {
        let at = slot.as_mut_ptr();
        // SAFETY: every field of the slot is written once, from valid values; the body is
        // moved in (this function's contract). Nothing here can panic between the writes
        // (an `Arc` clone aborts on overflow).
        unsafe {
            ptr::addr_of_mut!((*at).trace_id_high).write(context.trace_id_high);
            ptr::addr_of_mut!((*at).trace_id).write(context.trace_id);
            ptr::addr_of_mut!((*at).span_id).write(context.span_id);
            ptr::addr_of_mut!((*at).baggage).write(context.baggage.clone());
            ptr::addr_of_mut!((*at).tracestate).write(context.tracestate.clone());
            ptr::copy_nonoverlapping(body, ptr::addr_of_mut!((*at).body), 1);
            (*at).body.sampled = context.sampled;
            (*at).body.random_trace_id = context.random_trace_id;
        }
    }

    #[cfg(test)]
    pub(crate) fn span_id(&self) -> u64 {
        self.span_id
    }

    /// The memory this record holds, its strings included: what the tracer's
    /// `max_buffered_bytes` bound counts. A few additions, not a walk over the span.
    /// (Baggage and `tracestate` are shared with the span's context and its children,
    /// and not counted.)
    #[inline]
    pub(crate) fn held_bytes(&self) -> usize {
        CompactRecord::held_bytes_of(&self.body)
    }

    /// What a record of `body` holds (see `held_bytes`), before it is made.
    #[inline]
    pub(crate) fn held_bytes_of(body: &Body) -> usize {
        std::mem::size_of::<CompactRecord>()
            + cow_heap(&body.operation)
            + body.extension.as_ref().map_or(0, |e| e.heap_bytes())
    }

    /// The record the encoders read, on the reporter thread.
    pub(crate) fn expand(self) -> SpanRecord {
        let CompactRecord {
            trace_id_high,
            trace_id,
            span_id,
            baggage,
            tracestate,
            body,
        } = self;
        let inline = usize::from(body.inline);
        let mut tags: Tags = body.keys[..inline]
            .iter()
            .zip(&body.values[..inline])
            .map(|(key, value)| (Cow::Borrowed(*key), value.value()))
            .collect();
        let extension = body.extension.map(|e| *e).unwrap_or_default();
        for tag in extension.tags {
            tags.push(tag);
        }
        let context = SpanContext {
            random_trace_id: body.random_trace_id,
            baggage,
            tracestate,
            ..SpanContext::from_ids(trace_id_high, trace_id, span_id, body.sampled)
        };
        SpanRecord {
            context,
            operation: body.operation,
            parent: body.parent,
            more_references: extension.more_references,
            start: body.start.moment(),
            finish: body.finish.moment(),
            tags,
            logs: extension.logs,
            dropped_logs: extension.dropped_logs,
        }
    }
}

/// The heap bytes one log holds: its fields' slots and strings.
pub(crate) fn log_heap(log: &LogRecord) -> usize {
    log.fields.capacity() * std::mem::size_of::<Field>()
        + log.fields.iter().map(field_heap).sum::<usize>()
}

#[cfg(test)]
impl CompactRecord {
    /// A record of span `span_id` (trace 1) with these tags, finished now, for tests.
    pub(crate) fn for_tests(span_id: u64, tags: Vec<Field>) -> CompactRecord {
        let mut body = Body::new("op".into(), None, Moment::now());
        for (key, value) in tags {
            body.push_tag(key, value);
        }
        CompactRecord::new(&SpanContext::new(1, span_id), body)
    }
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
    fn the_common_span_is_small_and_inline() {
        assert!(
            std::mem::size_of::<Inline>() <= 16,
            "{}",
            std::mem::size_of::<Inline>()
        );
        let record = CompactRecord::for_tests(
            2,
            vec![
                ("a".into(), Value::from("x")),
                ("b".into(), Value::Int(1)),
                ("c".into(), Value::Bool(true)),
            ],
        );
        assert!(
            record.body.extension.is_none(),
            "three static tags need no heap"
        );
        assert_eq!(record.held_bytes(), std::mem::size_of::<CompactRecord>());
    }

    #[test]
    fn baggage_and_tracestate_travel_with_the_record_without_a_box() {
        let mut context = SpanContext::new(1, 2);
        context.set_baggage_item("tenant".into(), "acme".into());
        context.tracestate = Some(Arc::from("vendor=1"));
        context.random_trace_id = true;
        let body = Body::new("op".into(), None, Moment::now());
        let predicted = CompactRecord::held_bytes_of(&body);
        let record = CompactRecord::new(&context, body);
        assert!(record.body.extension.is_none(), "no allocation for them");
        assert_eq!(record.held_bytes(), predicted);
        assert_eq!(predicted, std::mem::size_of::<CompactRecord>());
        assert_eq!(record.expand().context, context);

        let unsampled = SpanContext::new(1, 3).with_sampled(false);
        let body = Body::new("op".into(), None, Moment::now());
        assert_eq!(
            CompactRecord::new(&unsampled, body).expand().context,
            unsampled
        );
    }

    #[test]
    fn inline_values_come_back_as_given() {
        let values = [
            Value::from("static text"),
            Value::Int(-42),
            Value::Float(2.5),
            Value::Bool(true),
            Value::Bool(false),
        ];
        let mut body = Body::new("op".into(), None, Moment::now());
        for value in &values[..3] {
            body.push_tag("k".into(), value.clone());
        }
        let mut more = Body::new("op".into(), None, Moment::now());
        for value in &values[3..] {
            more.push_tag("k".into(), value.clone());
        }
        let mut got: Vec<Value> = Vec::new();
        for body in [body, more] {
            assert!(body.extension.is_none());
            let record = CompactRecord::new(&SpanContext::new(1, 2), body).expand();
            got.extend(record.tags.iter().map(|(_, v)| v.clone()));
        }
        assert_eq!(got, values);
    }

    #[test]
    fn tags_keep_their_order_across_inline_and_spilled() {
        let record = CompactRecord::for_tests(
            2,
            vec![
                ("a".into(), Value::Int(1)),
                ("b".into(), Value::from("owned".to_string())),
                ("c".into(), Value::Int(3)),
                ("d".into(), Value::Int(4)),
                ("e".into(), Value::Int(5)),
            ],
        );
        let bytes = record.held_bytes();
        assert!(bytes > std::mem::size_of::<CompactRecord>() + 5, "{bytes}");
        let expanded = record.expand();
        let keys: Vec<&str> = expanded.tags.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);
        assert_eq!(
            expanded.tags.iter().nth(1).map(|(_, v)| v.clone()),
            Some(Value::from("owned"))
        );
    }

    #[test]
    fn logs_keep_the_first_and_the_newest() {
        let mut body = Body::new("op".into(), None, Moment::now());
        for n in 0..100 {
            body.push_log(log(n), 10);
        }
        let record = CompactRecord::new(&SpanContext::new(1, 2), body).expand();
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
