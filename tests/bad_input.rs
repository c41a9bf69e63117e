//! Hostile values from the application: huge keys and values, thousands of tags and
//! logs, strange characters. Clear outcomes, no panic, exact accounting.

mod common;

use common::*;
use lightstep::proto::collector::key_value::Value as V;
use lightstep::Value;

#[test]
fn huge_and_strange_tags_and_logs_are_sent_or_counted() {
    let (collector, tracer) = tracer();
    let huge = "界".repeat(200_000); // 600 kB
    {
        let mut span = tracer.span(huge.clone()).start();
        span.set_tag(huge.clone(), huge.clone());
        span.log([(huge.clone(), Value::from(huge.clone()))]);
        span.log([
            ("nan", Value::Float(f64::NAN)),
            ("inf", Value::Float(f64::INFINITY)),
        ]);
        span.log([
            ("", Value::from("")),
            ("\u{0}\u{ffff}", Value::from("\u{1F600}\n\t")),
        ]);
    }
    {
        let mut span = tracer.span("many").start();
        for i in 0..10_000 {
            span.set_tag(format!("tag.{i}"), i);
        }
        for i in 0..5_000 {
            span.log_event(format!("log {i}"));
        }
    }
    {
        // Bigger than max_report_bytes on its own: dropped and counted, not sent.
        let mut span = tracer.span("oversized").start();
        span.set_tag("blob", "x".repeat(5 * 1024 * 1024));
    }
    tracer.flush(WAIT).expect("flush");
    let stats = tracer.stats();
    assert_eq!(
        (stats.finished, stats.delivered, stats.dropped),
        (3, 2, 1),
        "{stats:?}"
    );
    let spans = collector.spans();
    let first = spans
        .iter()
        .find(|s| s.operation_name == huge)
        .expect("huge span");
    // Log keys and values were cut; the tag was sent whole.
    // Cut on a char boundary, "…" included, as long as fits: one more char would not.
    let cut_right = |text: &str, max: usize| {
        let kept = text
            .strip_suffix('…')
            .unwrap_or_else(|| panic!("not cut: {text}"));
        text.len() <= max && text.len() + '界'.len_utf8() > max && huge.starts_with(kept)
    };
    let field = &first.logs[0].fields[0];
    assert!(cut_right(&field.key, 256), "{} bytes", field.key.len());
    assert!(
        matches!(&field.value, Some(V::StringValue(s)) if cut_right(s, 1024)),
        "{:?}",
        field.value.as_ref().map(|v| format!("{v:?}").len())
    );
    assert!(matches!(tag(&first.tags, &huge), Some(V::StringValue(s)) if s == &huge));
    assert_eq!(
        tag(&first.logs[1].fields, "nan"),
        Some(&V::StringValue("NaN".into()))
    );
    let many = named(&spans, "many");
    assert_eq!(many.tags.len(), 10_000);
    assert_eq!(many.logs.len(), 500);
    let reported: i64 = collector
        .reports()
        .iter()
        .filter_map(|r| r.dropped_spans())
        .sum();
    assert_eq!(reported, 1);
}
