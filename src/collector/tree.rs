//! Rendering received spans as an indented trace tree, with their tags and logs.

use crate::proto::collector::{key_value, reference::Relationship, KeyValue, Span};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;

/// Renders spans as one tree per trace: each span under its parent, children in start
/// order, with duration, tags and logs.
///
/// # Examples
///
/// ```
/// use lightstep::collector::{render_trace_tree, LocalCollector};
/// use lightstep::{Options, Tracer};
/// use std::time::Duration;
///
/// let collector = LocalCollector::start()?;
/// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
/// {
///     let _request = tracer.span("handle_request").tag("user.id", 42).start_active();
///     let _query = tracer.span("db.query").start();
/// }
/// tracer.flush(Duration::from_secs(5))?;
/// let tree = render_trace_tree(&collector.spans());
/// println!("{tree}");
/// // trace 1f0c…
/// // └─ handle_request (…)  user.id=42
/// //    └─ db.query (…)
/// assert!(tree.contains("└─ handle_request") && tree.contains("user.id=42"));
/// assert!(tree.contains("   └─ db.query"));
/// assert_eq!(render_trace_tree(&[]), "");
/// # Ok::<(), lightstep::Error>(())
/// ```
pub fn render_trace_tree(spans: &[Span]) -> String {
    let mut traces: BTreeMap<u64, Vec<&Span>> = BTreeMap::new();
    for span in spans {
        traces.entry(trace_id(span)).or_default().push(span);
    }
    let mut out = String::new();
    for (trace, mut spans) in traces {
        spans.sort_by_key(|s| start_micros(s));
        let ids: HashSet<u64> = spans.iter().map(|s| span_id(s)).collect();
        let mut children: HashMap<Option<u64>, Vec<&Span>> = HashMap::new();
        for span in &spans {
            let parent = span
                .references
                .iter()
                .filter_map(|r| r.span_context.as_ref().map(|c| c.span_id))
                .find(|id| ids.contains(id));
            children.entry(parent).or_default().push(span);
        }
        let _ = writeln!(out, "trace {trace:016x}");
        let roots = children.get(&None).cloned().unwrap_or_default();
        let count = roots.len();
        for (i, root) in roots.into_iter().enumerate() {
            render(&mut out, root, &children, "", i + 1 == count, None);
        }
    }
    out
}

fn render(
    out: &mut String,
    span: &Span,
    children: &HashMap<Option<u64>, Vec<&Span>>,
    prefix: &str,
    last: bool,
    parent_baggage: Option<&HashMap<String, String>>,
) {
    let (branch, next) = if last {
        ("└─ ", "   ")
    } else {
        ("├─ ", "│  ")
    };
    let follows = span
        .references
        .iter()
        .any(|r| r.relationship == Relationship::FollowsFrom as i32);
    let _ = write!(
        out,
        "{prefix}{branch}{} ({}){}",
        span.operation_name,
        duration(span.duration_micros),
        if follows { " [follows from]" } else { "" }
    );
    if !span.tags.is_empty() {
        let tags: Vec<String> = span.tags.iter().map(field).collect();
        let _ = write!(out, "  {}", tags.join(" "));
    }
    out.push('\n');
    let child_prefix = format!("{prefix}{next}");
    let start = start_micros(span);
    // Baggage is shown where it changes, not on every descendant.
    let baggage = span.span_context.as_ref().map(|c| &c.baggage);
    let inherited = baggage.is_some() && baggage == parent_baggage;
    if let Some(baggage) = baggage.filter(|b| !b.is_empty() && !inherited) {
        let items: BTreeMap<_, _> = baggage.iter().collect();
        let items: Vec<String> = items.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "{child_prefix}│ baggage {}", items.join(" "));
    }
    for log in &span.logs {
        let at = log
            .timestamp
            .as_ref()
            .map(|t| t.seconds as i128 * 1_000_000 + i128::from(t.nanos / 1000))
            .unwrap_or(start);
        let fields: Vec<String> = log.fields.iter().map(field).collect();
        let _ = writeln!(
            out,
            "{child_prefix}│ log +{} {}",
            duration(u64::try_from(at - start).unwrap_or(0)),
            fields.join(" ")
        );
    }
    let kids = children
        .get(&Some(span_id(span)))
        .cloned()
        .unwrap_or_default();
    let count = kids.len();
    for (i, child) in kids.into_iter().enumerate() {
        render(out, child, children, &child_prefix, i + 1 == count, baggage);
    }
}

fn field(kv: &KeyValue) -> String {
    match &kv.value {
        Some(key_value::Value::StringValue(s)) => format!("{}={s:?}", kv.key),
        Some(key_value::Value::IntValue(i)) => format!("{}={i}", kv.key),
        Some(key_value::Value::DoubleValue(x)) => format!("{}={x}", kv.key),
        Some(key_value::Value::BoolValue(b)) => format!("{}={b}", kv.key),
        Some(key_value::Value::JsonValue(j)) => format!("{}={j}", kv.key),
        None => format!("{}=<none>", kv.key),
    }
}

fn duration(micros: u64) -> String {
    if micros >= 1_000_000 {
        format!("{:.2} s", micros as f64 / 1e6)
    } else if micros >= 1_000 {
        format!("{:.2} ms", micros as f64 / 1e3)
    } else {
        format!("{micros} µs")
    }
}

fn trace_id(span: &Span) -> u64 {
    span.span_context.as_ref().map_or(0, |c| c.trace_id)
}

fn span_id(span: &Span) -> u64 {
    span.span_context.as_ref().map_or(0, |c| c.span_id)
}

fn start_micros(span: &Span) -> i128 {
    span.start_timestamp.as_ref().map_or(0, |t| {
        t.seconds as i128 * 1_000_000 + i128::from(t.nanos / 1000)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::collector::{Reference, SpanContext};
    use crate::proto::Timestamp;

    fn span(name: &str, id: u64, parent: Option<u64>, start: i64) -> Span {
        Span {
            span_context: Some(SpanContext {
                trace_id: 7,
                span_id: id,
                baggage: Default::default(),
            }),
            operation_name: name.into(),
            references: parent
                .map(|p| Reference {
                    relationship: 0,
                    span_context: Some(SpanContext {
                        trace_id: 7,
                        span_id: p,
                        baggage: Default::default(),
                    }),
                })
                .into_iter()
                .collect(),
            start_timestamp: Some(Timestamp {
                seconds: start,
                nanos: 0,
            }),
            duration_micros: 1500,
            ..Default::default()
        }
    }

    #[test]
    fn children_sit_under_their_parents_in_start_order() {
        let spans = [
            span("b", 3, Some(1), 3),
            span("root", 1, None, 1),
            span("a", 2, Some(1), 2),
            span("a1", 4, Some(2), 2),
        ];
        let tree = render_trace_tree(&spans);
        let expected = "trace 0000000000000007\n\
                        └─ root (1.50 ms)\n   \
                           ├─ a (1.50 ms)\n   \
                           │  └─ a1 (1.50 ms)\n   \
                           └─ b (1.50 ms)\n";
        assert_eq!(tree, expected);
    }
}
