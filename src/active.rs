//! The per-thread stack of active spans, which gives new spans their implicit parent.

use crate::context::SpanContext;
use std::cell::RefCell;

thread_local! {
    static STACK: RefCell<Vec<SpanContext>> = const { RefCell::new(Vec::new()) };
}

/// The innermost active span of this thread.
#[inline]
pub(crate) fn current() -> Option<SpanContext> {
    STACK
        .try_with(|stack| stack.borrow().last().cloned())
        .ok()
        .flatten()
}

/// Makes `context` the thread's active span.
#[inline]
pub(crate) fn push(context: SpanContext) {
    let _ = STACK.try_with(|stack| {
        let mut stack = stack.borrow_mut();
        if stack.capacity() == 0 {
            // Room for the usual depth at once, not a growth per level.
            stack.reserve(16);
        }
        stack.push(context);
    });
}

/// Replaces the entry for `context.span_id` in place (after its baggage changed).
pub(crate) fn update(context: &SpanContext) {
    let _ = STACK.try_with(|stack| {
        let mut stack = stack.borrow_mut();
        if let Some(entry) = stack
            .iter_mut()
            .rev()
            .find(|c| c.span_id == context.span_id)
        {
            *entry = context.clone();
        }
    });
}

/// Removes the entry for `span_id`, wherever it is: guards dropped out of order leave the
/// rest of the stack as it was.
#[inline]
pub(crate) fn remove(span_id: u64) {
    let _ = STACK.try_with(|stack| {
        let mut stack = stack.borrow_mut();
        if stack.last().is_some_and(|top| top.span_id == span_id) {
            stack.pop();
        } else if let Some(i) = stack.iter().rposition(|c| c.span_id == span_id) {
            stack.remove(i);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_removal_keeps_the_rest() {
        push(SpanContext::new(1, 10));
        push(SpanContext::new(1, 20));
        push(SpanContext::new(1, 30));
        remove(20);
        assert_eq!(current().map(|c| c.span_id), Some(30));
        remove(30);
        assert_eq!(current().map(|c| c.span_id), Some(10));
        remove(10);
        assert!(current().is_none());
        remove(99); // unknown ids are ignored
    }
}
