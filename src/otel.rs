//! The OpenTelemetry integration (cargo feature `opentelemetry`): an `opentelemetry_sdk`
//! span exporter that reports OpenTelemetry spans through a LightStep tracer, the Rust
//! analogue of the Go tracer's `lightstepoc` exporter.

use crate::compact::{Body, CompactRecord};
use crate::context::SpanContext;
use crate::record::{Field, LogRecord, Moment, Reference, Relationship, Stamp};
use crate::tracer::Tracer;
use crate::{Error, Value};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, KeyValue};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An [`opentelemetry_sdk::trace::SpanExporter`] that reports OpenTelemetry spans to
/// LightStep through a [`Tracer`] (cargo feature `opentelemetry`).
///
/// Give it to a tracer provider with a simple or a batch span processor. `export`
/// converts each span to a LightStep span and hands it to the tracer's reporter thread
/// without blocking, exactly as a finished LightStep span is: batching, sending, retries
/// and the `max_buffered_spans` bound are the tracer's, and a span that does not fit is
/// counted in [`Stats::dropped`](crate::Stats::dropped) and `spans.dropped`.
///
/// How a span is converted:
///
/// | OpenTelemetry | LightStep |
/// | --- | --- |
/// | trace id (128 bits) | `trace_id`: its low 64 bits; the high 64 bits, when not zero, as the tag `otel.trace_id_high` (16 hex digits) |
/// | span id | `span_id` |
/// | parent span id | a `CHILD_OF` reference (same trace) |
/// | links | `FOLLOWS_FROM` references (their attributes are not kept) |
/// | name, start and end time | operation name, start timestamp, duration |
/// | attributes | tags, typed: `bool`, `i64`, `f64` and strings as such, arrays as JSON (`json_value`) |
/// | kind | tag `span.kind`: `client`, `server`, `producer`, `consumer` (none for `internal`) |
/// | status | `Ok`: tag `otel.status_code` = `OK`; `Error`: `otel.status_code` = `ERROR`, `otel.status_description`, and `error` = `true` |
/// | events | logs at their time: `event` = the event's name, then its attributes |
/// | instrumentation scope | tag `otel.scope.name` (and `otel.scope.version`) |
/// | dropped attributes, events, links | tags `otel.dropped_attributes_count`, `otel.dropped_events_count`, `otel.dropped_links_count`, when not zero |
///
/// The resource (`service.name`, …) is not copied to each span: the tracer's
/// [`Options`](crate::Options) name the service (`component_name`) and carry reporter
/// tags.
///
/// `shutdown` (called by `SdkTracerProvider::shutdown`, after the processor's last
/// export) flushes the tracer within the given timeout and refuses later exports, but does
/// not close the tracer, which other instrumentation may share: close it with
/// [`close`](crate::close) or [`Tracer::close`]. `force_flush` flushes the tracer
/// (bounded by its `close_timeout`); the processors of `opentelemetry_sdk` 0.33 do not call
/// it from `SdkTracerProvider::force_flush`, so after that, flush the tracer itself
/// ([`flush`](crate::flush) or [`Tracer::flush`]) to send at once.
///
/// ```
/// use lightstep::{collector::LocalCollector, OpenTelemetryExporter, Options, Tracer};
/// use opentelemetry::trace::{Tracer as _, TracerProvider as _};
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use std::time::Duration;
///
/// let collector = LocalCollector::start()?;
/// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
/// let provider = SdkTracerProvider::builder()
///     .with_simple_exporter(OpenTelemetryExporter::new(tracer.clone()))
///     .build();
/// provider.tracer("my-library").in_span("checkout", |_cx| {});
/// tracer.flush(Duration::from_secs(5))?;
/// assert_eq!(collector.spans()[0].operation_name, "checkout");
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenTelemetryExporter {
    /// `None`: the global tracer, looked up at each export.
    tracer: Option<Tracer>,
    shut_down: Arc<AtomicBool>,
}

impl OpenTelemetryExporter {
    /// An exporter that reports to `tracer`.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::{collector::LocalCollector, OpenTelemetryExporter, Options, Tracer};
    /// use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// let provider = SdkTracerProvider::builder()
    ///     .with_simple_exporter(OpenTelemetryExporter::new(tracer.clone()))
    ///     .build();
    /// provider.tracer("my-library").in_span("checkout", |_cx| {});
    /// tracer.flush(Duration::from_secs(5))?;
    /// assert_eq!(collector.spans()[0].operation_name, "checkout");
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn new(tracer: Tracer) -> OpenTelemetryExporter {
        OpenTelemetryExporter {
            tracer: Some(tracer),
            shut_down: Arc::default(),
        }
    }

    /// An exporter that reports to the global tracer (looked up at each export, so it
    /// may be made before [`init`](crate::init); spans exported before then go nowhere).
    ///
    /// # Examples
    ///
    /// ```
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    ///
    /// // Made before `lightstep::init`: exports go to whatever global tracer there is then.
    /// let provider = SdkTracerProvider::builder()
    ///     .with_batch_exporter(lightstep::OpenTelemetryExporter::global())
    ///     .build();
    /// # let options = lightstep::Options::new("YourAccessToken").collector_url("http://127.0.0.1:9");
    /// lightstep::init(options)?;
    /// # drop(provider);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn global() -> OpenTelemetryExporter {
        OpenTelemetryExporter {
            tracer: None,
            shut_down: Arc::default(),
        }
    }

    fn tracer(&self) -> &Tracer {
        match &self.tracer {
            Some(tracer) => tracer,
            None => crate::__global_ref(),
        }
    }

    fn export_now(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let Some(inner) = self.tracer().inner() else {
            return Ok(());
        };
        for data in batch {
            let logs = inner.spans.logs;
            inner.span_exported(convert(data, logs.max_logs_per_span, logs.drop_span_logs));
        }
        Ok(())
    }

    fn flush(&self, timeout: Duration) -> OTelSdkResult {
        self.tracer().flush(timeout).map_err(|error| match error {
            Error::Timeout => OTelSdkError::Timeout(timeout),
            other => OTelSdkError::InternalFailure(other.to_string()),
        })
    }
}

impl SpanExporter for OpenTelemetryExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        std::future::ready(self.export_now(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.flush(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.flush(self.tracer().close_timeout())
    }
}

/// The low and high 64 bits of an OpenTelemetry trace id.
fn trace_id_halves(id: opentelemetry::trace::TraceId) -> (u64, u64) {
    let id = u128::from_be_bytes(id.to_bytes());
    (id as u64, (id >> 64) as u64)
}

fn span_id(id: opentelemetry::trace::SpanId) -> u64 {
    u64::from_be_bytes(id.to_bytes())
}

/// One OpenTelemetry span as a finished LightStep span record.
fn convert(data: SpanData, max_logs: usize, drop_logs: bool) -> CompactRecord {
    let (trace_id, trace_id_high) = trace_id_halves(data.span_context.trace_id());
    let context = SpanContext::from_ids(
        trace_id_high,
        trace_id,
        span_id(data.span_context.span_id()),
        true,
    );
    let parent =
        (data.parent_span_id != opentelemetry::trace::SpanId::INVALID).then(|| Reference {
            relationship: Relationship::ChildOf,
            trace_id,
            span_id: span_id(data.parent_span_id),
        });
    let mut references: Vec<Reference> = data
        .links
        .iter()
        .map(|link| Reference {
            relationship: Relationship::FollowsFrom,
            trace_id: trace_id_halves(link.span_context.trace_id()).0,
            span_id: span_id(link.span_context.span_id()),
        })
        .collect();
    let parent = match parent {
        Some(parent) => Some(parent),
        None if !references.is_empty() => Some(references.remove(0)),
        None => None,
    };

    let mut tags: Vec<Field> = Vec::new();
    for KeyValue { key, value, .. } in data.attributes {
        tags.push((Cow::Owned(key.as_str().to_owned()), attribute_value(value)));
    }
    if trace_id_high != 0 {
        tags.push((
            "otel.trace_id_high".into(),
            Value::from(format!("{trace_id_high:016x}")),
        ));
    }
    let kind = match data.span_kind {
        SpanKind::Client => Some("client"),
        SpanKind::Server => Some("server"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
        SpanKind::Internal => None,
    };
    if let Some(kind) = kind {
        tags.push(("span.kind".into(), Value::from(kind)));
    }
    match data.status {
        Status::Unset => {}
        Status::Ok => tags.push(("otel.status_code".into(), Value::from("OK"))),
        Status::Error { description } => {
            tags.push(("otel.status_code".into(), Value::from("ERROR")));
            if !description.is_empty() {
                tags.push(("otel.status_description".into(), Value::from(description)));
            }
            tags.push(("error".into(), Value::Bool(true)));
        }
    }
    let scope = &data.instrumentation_scope;
    if !scope.name().is_empty() {
        tags.push((
            "otel.scope.name".into(),
            Value::from(scope.name().to_owned()),
        ));
    }
    if let Some(version) = scope.version() {
        tags.push(("otel.scope.version".into(), Value::from(version.to_owned())));
    }
    for (key, count) in [
        (
            "otel.dropped_attributes_count",
            data.dropped_attributes_count,
        ),
        ("otel.dropped_events_count", data.events.dropped_count),
        ("otel.dropped_links_count", data.links.dropped_count),
    ] {
        if count > 0 {
            tags.push((key.into(), Value::from(count)));
        }
    }

    let mut body = Body::new(data.name, parent, Moment::Wall(data.start_time));
    body.finish = Stamp::of(Moment::Wall(data.end_time.max(data.start_time)));
    for (key, value) in tags {
        body.push_tag(key, value);
    }
    for reference in references {
        body.push_reference(reference);
    }
    if !drop_logs {
        for event in data.events.events {
            let mut fields = Vec::with_capacity(1 + event.attributes.len());
            fields.push(("event".into(), Value::from(event.name)));
            for KeyValue { key, value, .. } in event.attributes {
                fields.push((Cow::Owned(key.as_str().to_owned()), attribute_value(value)));
            }
            body.push_log(
                LogRecord {
                    at: Moment::Wall(event.timestamp),
                    fields,
                },
                max_logs,
            );
        }
    }
    CompactRecord::new(&context, body)
}

/// An attribute value as a tag value, keeping its type; arrays become JSON.
fn attribute_value(value: opentelemetry::Value) -> Value {
    match value {
        opentelemetry::Value::Bool(b) => Value::Bool(b),
        opentelemetry::Value::I64(i) => Value::Int(i),
        opentelemetry::Value::F64(x) => Value::Float(x),
        opentelemetry::Value::String(s) => Value::String(Cow::Owned(s.into())),
        opentelemetry::Value::Array(array) => Value::Json(array_json(&array)),
        // `Value` is non-exhaustive: a kind added later is sent as its text.
        #[allow(unreachable_patterns)]
        other => Value::String(Cow::Owned(other.to_string())),
    }
}

/// An attribute array as a JSON array.
fn array_json(array: &Array) -> String {
    fn join<T>(items: &[T], mut write: impl FnMut(&mut String, &T)) -> String {
        let mut json = String::from("[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            write(&mut json, item);
        }
        json.push(']');
        json
    }
    match array {
        Array::Bool(items) => join(items, |json, b| {
            json.push_str(if *b { "true" } else { "false" })
        }),
        Array::I64(items) => join(items, |json, i| {
            let _ = write!(json, "{i}");
        }),
        // JSON has no NaN or infinity: they become `null`.
        Array::F64(items) => join(items, |json, x| {
            if x.is_finite() {
                let _ = write!(json, "{x:?}");
            } else {
                json.push_str("null");
            }
        }),
        Array::String(items) => join(items, |json, s| json_string(json, s.as_str())),
        #[allow(unreachable_patterns)]
        other => {
            let mut json = String::new();
            json_string(&mut json, &other.to_string());
            json
        }
    }
}

/// Appends `text` as a JSON string literal.
fn json_string(json: &mut String, text: &str) {
    json.push('"');
    for c in text.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(json, "\\u{:04x}", c as u32);
            }
            c => json.push(c),
        }
    }
    json.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::StringValue;

    #[test]
    fn arrays_become_json() {
        let strings = Array::String(vec![
            StringValue::from("a\"b"),
            StringValue::from("line\nbreak"),
            StringValue::from("\u{1}"),
        ]);
        assert_eq!(array_json(&strings), r#"["a\"b","line\nbreak","\u0001"]"#);
        assert_eq!(array_json(&Array::I64(vec![1, -2])), "[1,-2]");
        assert_eq!(
            array_json(&Array::F64(vec![0.5, f64::NAN, 2.0])),
            "[0.5,null,2.0]"
        );
        assert_eq!(array_json(&Array::Bool(vec![true, false])), "[true,false]");
        assert_eq!(array_json(&Array::Bool(vec![])), "[]");
    }

    #[test]
    fn trace_ids_split_into_halves() {
        let id = opentelemetry::trace::TraceId::from_bytes(
            0x0af7651916cd43dd_8448eb211c80319c_u128.to_be_bytes(),
        );
        assert_eq!(
            trace_id_halves(id),
            (0x8448eb211c80319c, 0x0af7651916cd43dd)
        );
        let span = opentelemetry::trace::SpanId::from_bytes(0xb7ad6b7169203331_u64.to_be_bytes());
        assert_eq!(span_id(span), 0xb7ad6b7169203331);
    }
}
