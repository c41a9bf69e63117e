//! The compact record a span writes while it runs and hands to the reporter thread, which
//! expands it into a [`SpanRecord`] for encoding.
//!
//! The common span (a static name, up to three tags with static keys and static-string,
//! integer, float or boolean values, one parent) is held inline without a heap
//! allocation; everything else (owned strings, more tags, logs, more references) goes to
//! one boxed [`Extension`], made on first need.

use crate::context::SpanContext;
use crate::record::{cow_heap, field_heap, Field, LogRecord, Moment, Reference, SpanRecord, Tags};
use crate::Value;
use std::borrow::Cow;

/// How many tags a span keeps inline.
const INLINE_TAGS: usize = 3;

/// A tag value that needs no heap: what most tags hold.
#[derive(Debug, Clone, Copy)]
enum Inline {
    Str(&'static str),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Inline {
    #[inline]
    fn of(value: &Value) -> Option<Inline> {
        match value {
            Value::String(Cow::Borrowed(text)) => Some(Inline::Str(text)),
            Value::Int(n) => Some(Inline::Int(*n)),
            Value::Float(x) => Some(Inline::Float(*x)),
            Value::Bool(b) => Some(Inline::Bool(*b)),
            Value::String(Cow::Owned(_)) | Value::Json(_) => None,
        }
    }

    fn value(self) -> Value {
        match self {
            Inline::Str(text) => Value::String(Cow::Borrowed(text)),
            Inline::Int(n) => Value::Int(n),
            Inline::Float(x) => Value::Float(x),
            Inline::Bool(b) => Value::Bool(b),
        }
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
    pub(crate) start: Moment,
    pub(crate) finish: Moment,
    keys: [&'static str; INLINE_TAGS],
    values: [Inline; INLINE_TAGS],
    inline: u8,
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
            start,
            finish: start,
            keys: [""; INLINE_TAGS],
            values: [Inline::Bool(false); INLINE_TAGS],
            inline: 0,
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

/// A finished span on its way to the reporter: its context and its body.
#[derive(Debug)]
pub(crate) struct CompactRecord {
    pub(crate) context: SpanContext,
    pub(crate) body: Body,
}

impl CompactRecord {
    /// The memory this record holds, its strings included: what the tracer's
    /// `max_buffered_bytes` bound counts. A few additions, not a walk over the span.
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
        let CompactRecord { context, body } = self;
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
        SpanRecord {
            context,
            operation: body.operation,
            parent: body.parent,
            more_references: extension.more_references,
            start: body.start,
            finish: body.finish,
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
        CompactRecord {
            context: SpanContext::new(1, span_id),
            body,
        }
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
            std::mem::size_of::<Inline>() <= 24,
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
        let record = CompactRecord {
            context: SpanContext::new(1, 2),
            body,
        }
        .expand();
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
