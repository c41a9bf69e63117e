//! The per-thread stack of active spans, which gives new spans their implicit parent.
//!
//! The stack holds the ids and flags of each active span in a fixed array of plain
//! values (a thread-local without a destructor, so reaching it costs no check), and
//! spills to a vector past [`INLINE`] levels. The rare parts of a context (baggage and
//! `tracestate`) are kept aside, keyed by span id, and only for the spans that have them.

use crate::context::{Baggage, SpanContext};
use std::cell::{Cell, RefCell, UnsafeCell};
use std::sync::Arc;

/// Levels held without the heap.
const INLINE: usize = 16;

/// An active span, without its shared parts.
#[derive(Clone, Copy)]
struct Entry {
    trace_id_high: u64,
    trace_id: u64,
    span_id: u64,
    sampled: bool,
    random_trace_id: bool,
    /// Whether its baggage or `tracestate` is kept in `SHARED`.
    shared: bool,
}

const EMPTY: Entry = Entry {
    trace_id_high: 0,
    trace_id: 0,
    span_id: 0,
    sampled: false,
    random_trace_id: false,
    shared: false,
};

impl Entry {
    #[inline]
    fn of(context: &SpanContext) -> Entry {
        Entry {
            trace_id_high: context.trace_id_high,
            trace_id: context.trace_id,
            span_id: context.span_id,
            sampled: context.sampled,
            random_trace_id: context.random_trace_id,
            shared: context.baggage.is_some() || context.tracestate.is_some(),
        }
    }
}

/// The first `INLINE` levels. Only this thread reaches it, and no reference into it
/// outlives a call of this module.
struct Inline {
    len: Cell<usize>,
    entries: UnsafeCell<[Entry; INLINE]>,
}

/// The shared parts of an active context that has them.
struct Shared {
    span_id: u64,
    baggage: Option<Arc<Baggage>>,
    tracestate: Option<Arc<str>>,
}

thread_local! {
    static STACK: Inline = const {
        Inline { len: Cell::new(0), entries: UnsafeCell::new([EMPTY; INLINE]) }
    };
    /// The levels past `INLINE`, in order.
    static DEEP: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    static SHARED: RefCell<Vec<Shared>> = const { RefCell::new(Vec::new()) };
}

/// Reads level `i` (below the stack's length).
#[inline(never)]
fn get(stack: &Inline, i: usize) -> Option<Entry> {
    if i < INLINE {
        // SAFETY: this thread's own array, not borrowed elsewhere (see `Inline`).
        Some(unsafe { (*stack.entries.get())[i] })
    } else {
        DEEP.try_with(|deep| deep.borrow().get(i - INLINE).copied())
            .ok()
            .flatten()
    }
}

/// Writes level `i` (at most the stack's length: level `len` is a push); false if it
/// could not (the thread's locals are being torn down).
#[inline(never)]
fn set(stack: &Inline, i: usize, entry: Entry) -> bool {
    if i < INLINE {
        // SAFETY: as in `get`.
        unsafe { (*stack.entries.get())[i] = entry };
        return true;
    }
    DEEP.try_with(|deep| {
        let mut deep = deep.borrow_mut();
        match deep.get_mut(i - INLINE) {
            Some(slot) => *slot = entry,
            None => deep.push(entry),
        }
    })
    .is_ok()
}

/// The innermost active span of this thread.
#[inline]
pub(crate) fn current() -> Option<SpanContext> {
    let entry = STACK
        .try_with(|stack| match stack.len.get() {
            0 => None,
            // SAFETY: as in `get`.
            len @ 1..=INLINE => Some(unsafe { (*stack.entries.get())[len - 1] }),
            len => get(stack, len - 1),
        })
        .ok()
        .flatten()?;
    let mut context = SpanContext::from_ids(
        entry.trace_id_high,
        entry.trace_id,
        entry.span_id,
        entry.sampled,
    );
    context.random_trace_id = entry.random_trace_id;
    if entry.shared {
        add_shared(&mut context);
    }
    Some(context)
}

#[cold]
fn add_shared(context: &mut SpanContext) {
    let _ = SHARED.try_with(|shared| {
        if let Some(found) = shared
            .borrow()
            .iter()
            .rev()
            .find(|s| s.span_id == context.span_id)
        {
            context.baggage = found.baggage.clone();
            context.tracestate = found.tracestate.clone();
        }
    });
}

/// Makes `context` the thread's active span.
#[inline]
pub(crate) fn push(context: &SpanContext) {
    let entry = Entry::of(context);
    let _ = STACK.try_with(|stack| {
        let len = stack.len.get();
        if len < INLINE {
            // SAFETY: as in `get`.
            unsafe { (*stack.entries.get())[len] = entry };
        } else if !set(stack, len, entry) {
            return;
        }
        stack.len.set(len + 1);
        if entry.shared {
            keep_shared(context, false);
        }
    });
}

/// Keeps the shared parts of `context`: one entry per stack entry (a span entered twice
/// has two), or, with `replace`, in place of the newest entry for its span.
#[cold]
fn keep_shared(context: &SpanContext, replace: bool) {
    let _ = SHARED.try_with(|shared| {
        let mut shared = shared.borrow_mut();
        let parts = Shared {
            span_id: context.span_id,
            baggage: context.baggage.clone(),
            tracestate: context.tracestate.clone(),
        };
        let newest = shared
            .iter_mut()
            .rev()
            .find(|s| s.span_id == context.span_id);
        match newest {
            Some(slot) if replace => *slot = parts,
            _ => shared.push(parts),
        }
    });
}

#[cold]
fn forget_shared(span_id: u64) {
    let _ = SHARED.try_with(|shared| {
        let mut shared = shared.borrow_mut();
        if let Some(i) = shared.iter().rposition(|s| s.span_id == span_id) {
            shared.remove(i);
        }
    });
}

/// Replaces the entry for `context.span_id` in place (after its baggage changed).
pub(crate) fn update(context: &SpanContext) {
    let _ = STACK.try_with(|stack| {
        let len = stack.len.get();
        if let Some(i) = (0..len)
            .rev()
            .find(|&i| get(stack, i).is_some_and(|e| e.span_id == context.span_id))
        {
            let entry = Entry::of(context);
            if entry.shared {
                let was_shared = get(stack, i).is_some_and(|e| e.shared);
                keep_shared(context, was_shared);
            }
            set(stack, i, entry);
        }
    });
}

/// Removes the entry for `span_id`, wherever it is: guards dropped out of order leave the
/// rest of the stack as it was. (Out of line: kept out of the guards' inlined drops,
/// which the no-op guard's drop shares.)
#[inline(never)]
pub(crate) fn remove(span_id: u64) {
    let _ = STACK.try_with(|stack| {
        let len = stack.len.get();
        if len == 0 {
            return;
        }
        if len <= INLINE {
            // SAFETY: as in `get`.
            let top = unsafe { (*stack.entries.get())[len - 1] };
            if top.span_id == span_id {
                stack.len.set(len - 1);
                if top.shared {
                    forget_shared(span_id);
                }
                return;
            }
        }
        remove_slow(stack, len, span_id);
    });
}

/// Removes `span_id` from below the top, or from a stack past `INLINE` levels.
#[cold]
fn remove_slow(stack: &Inline, len: usize, span_id: u64) {
    let Some(i) = (0..len)
        .rev()
        .find(|&i| get(stack, i).is_some_and(|e| e.span_id == span_id))
    else {
        return;
    };
    if get(stack, i).is_some_and(|e| e.shared) {
        forget_shared(span_id);
    }
    for j in i..len - 1 {
        if let Some(next) = get(stack, j + 1) {
            set(stack, j, next);
        }
    }
    if len > INLINE {
        let _ = DEEP.try_with(|deep| deep.borrow_mut().truncate(len - 1 - INLINE));
    }
    stack.len.set(len - 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many contexts' shared parts this thread keeps aside.
    fn kept_aside() -> usize {
        SHARED.with(|shared| shared.borrow().len())
    }

    #[test]
    fn out_of_order_removal_keeps_the_rest() {
        push(&SpanContext::new(1, 10));
        push(&SpanContext::new(1, 20));
        push(&SpanContext::new(1, 30));
        remove(20);
        assert_eq!(current().map(|c| c.span_id), Some(30));
        remove(30);
        assert_eq!(current().map(|c| c.span_id), Some(10));
        remove(10);
        assert!(current().is_none());
        remove(99); // unknown ids are ignored
    }

    #[test]
    fn a_deep_stack_spills_and_unwinds_in_any_order() {
        let depth = 3 * INLINE as u64;
        for id in 1..=depth {
            push(&SpanContext::new(7, id));
        }
        assert_eq!(current().map(|c| c.span_id), Some(depth));
        // One from the array, one from the spill, then the rest from the top down.
        remove(5);
        remove(INLINE as u64 + 5);
        let mut seen = Vec::new();
        while let Some(top) = current() {
            seen.push(top.span_id);
            remove(top.span_id);
        }
        let expected: Vec<u64> = (1..=depth)
            .rev()
            .filter(|&id| id != 5 && id != INLINE as u64 + 5)
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn baggage_and_tracestate_come_back_with_their_span() {
        let mut outer = SpanContext::new(1, 10);
        outer.set_baggage_item("tenant".into(), "acme".into());
        outer.tracestate = Some(Arc::from("vendor=1"));
        push(&outer);
        let inner = SpanContext::new(1, 11);
        push(&inner);
        let top = current().expect("inner");
        assert!(top.baggage.is_none() && top.tracestate.is_none());
        remove(11);
        let top = current().expect("outer");
        assert_eq!(top.baggage_item("tenant"), Some("acme"));
        assert_eq!(top.tracestate.as_deref(), Some("vendor=1"));
        // Changed baggage replaces the kept one.
        outer.set_baggage_item("tenant".into(), "other".into());
        update(&outer);
        assert_eq!(
            current().expect("outer").baggage_item("tenant"),
            Some("other")
        );
        remove(10);
        assert!(current().is_none());
        assert_eq!(kept_aside(), 0);
    }

    #[test]
    fn a_span_entered_twice_keeps_its_baggage_until_both_are_left() {
        // (What a `tracing` span re-entered on its own thread does.)
        let mut context = SpanContext::new(3, 30);
        context.set_baggage_item("tenant".into(), "acme".into());
        push(&context);
        push(&context);
        remove(30);
        let top = current().expect("still entered once");
        assert_eq!(top.span_id, 30);
        assert_eq!(top.baggage_item("tenant"), Some("acme"));
        remove(30);
        assert!(current().is_none());
        assert_eq!(kept_aside(), 0);
    }

    #[test]
    fn a_context_that_gains_baggage_while_active_keeps_it() {
        let mut context = SpanContext::new(2, 20);
        push(&context);
        context.set_baggage_item("k".into(), "v".into());
        update(&context);
        assert_eq!(current().expect("active").baggage_item("k"), Some("v"));
        remove(20);
        assert_eq!(kept_aside(), 0);
    }
}
