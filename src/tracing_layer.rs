//! The `tracing` integration (cargo feature `tracing`): a `tracing_subscriber::Layer` that
//! turns `tracing` spans into LightStep spans and `tracing` events into span logs.

use crate::active;
use crate::context::SpanContext;
use crate::span::Span;
use crate::tracer::Tracer;
use crate::Value;
use std::borrow::Cow;
use std::fmt;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// A [`tracing_subscriber::Layer`] that reports `tracing` spans to LightStep (cargo
/// feature `tracing`).
///
/// - Every `tracing` span (yours, and those of the libraries you call) becomes a LightStep
///   span named after it, started when the `tracing` span is created and finished when
///   it closes (its last handle is dropped).
/// - Its fields become tags, keeping their type: `i64`, `u64` (above `i64::MAX`: a
///   string), `i128`/`u128` likewise, `f64`, `bool` and `&str` as such, errors and `Debug`
///   values as their text. Fields recorded later (`Span::record`) are added as tags.
/// - An event (`info!`, `warn!`, …) inside a span becomes a log of that span, with the
///   fields `level` (`"INFO"`, …), `message` and the event's own fields, typed as above.
///   An `ERROR` event also sets the span's `error` tag to `true` (the OpenTracing
///   convention LightStep shows). Events outside any span are not reported.
/// - A span that a panic unwinds through (exited, or closed, while its thread unwinds) is
///   finished with the tag `error = true` and a log `event = "panic"`, as a
///   [`Span`](crate::Span) dropped by a panic is. A span that outlives the panic (another
///   handle to it, on another thread) is marked only if it was entered on the panicking
///   thread.
/// - The parent comes from `tracing`'s span tree: an explicit `parent:`, or else the
///   current span, or none for `parent: None`. `follows_from` becomes a `FOLLOWS_FROM`
///   reference.
/// - `tracing` spans and [`span!`](crate::span!) guards nest with each other in either
///   order: while a `tracing` span is entered, it is the thread's active span, so spans
///   started with `span!` or [`SpanBuilder`](crate::SpanBuilder) on that thread become its
///   children; and a `tracing` span created while an [`ActiveSpan`](crate::ActiveSpan) is
///   the innermost active span becomes the child of that span. A `tracing` span may be
///   created on one thread and entered on another: it is the active span of whichever
///   thread has entered it.
///
/// Events go to the innermost *`tracing`* span: an event inside a `span!` guard that is
/// itself inside a `tracing` span is logged on the `tracing` span.
///
/// The layer holds nothing per span besides the LightStep span in the registry's span
/// extensions, and finishing hands the span to the reporter thread without blocking, as
/// for every span.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
///
/// // Before `lightstep::init`, the global tracer is a no-op: the layer reports nothing.
/// let subscriber = tracing_subscriber::registry().with(lightstep::tracing_layer());
/// tracing::subscriber::with_default(subscriber, || {
///     let request = tracing::info_span!("handle_request", user.id = 42_i64, cached = false);
///     let _entered = request.enter();
///     tracing::info!(rows = 3_u64, "query done"); // a log of `handle_request`
///     let _db = lightstep::span!("db.query");     // a child of `handle_request`
/// });
/// ```
#[derive(Clone, Debug)]
pub struct TracingLayer {
    /// `None`: the global tracer, looked up as each span starts (so the layer may be
    /// installed before [`init`](crate::init)).
    tracer: Option<Tracer>,
}

/// A layer that reports to the global tracer: see [`TracingLayer`].
///
/// It may be installed before [`init`](crate::init): spans created before then go
/// nowhere, and every span created after it is reported.
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt;
/// use tracing_subscriber::util::SubscriberInitExt;
///
/// lightstep::init(lightstep::Options::new("YourAccessToken").component_name("my-cli"))?;
/// tracing_subscriber::registry().with(lightstep::tracing_layer()).init();
/// tracing::info_span!("startup").in_scope(|| tracing::info!("ready"));
/// lightstep::close();
/// # Ok::<(), lightstep::Error>(())
/// ```
pub fn tracing_layer() -> TracingLayer {
    TracingLayer::global()
}

impl TracingLayer {
    /// A layer that reports to `tracer` (a tracer of one's own, say, from
    /// [`Tracer::new`]).
    ///
    /// ```
    /// use lightstep::{collector::LocalCollector, Options, Tracer, TracingLayer};
    /// use std::time::Duration;
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// let subscriber = tracing_subscriber::registry().with(TracingLayer::new(tracer.clone()));
    /// tracing::subscriber::with_default(subscriber, || {
    ///     tracing::info_span!("load", path = "/etc/app.toml").in_scope(|| {
    ///         tracing::warn!(bytes = 512_i64, "config is large");
    ///     });
    /// });
    /// tracer.flush(Duration::from_secs(5))?;
    /// let spans = collector.spans();
    /// assert_eq!(spans[0].operation_name, "load");
    /// assert_eq!(spans[0].logs.len(), 1);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn new(tracer: Tracer) -> TracingLayer {
        TracingLayer {
            tracer: Some(tracer),
        }
    }

    /// A layer that reports to the global tracer, as [`tracing_layer`] makes.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let subscriber = tracing_subscriber::registry().with(lightstep::TracingLayer::global());
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let _span = tracing::info_span!("before_init").entered(); // goes nowhere: no tracer yet
    /// });
    /// ```
    pub fn global() -> TracingLayer {
        TracingLayer { tracer: None }
    }

    fn tracer(&self) -> &Tracer {
        match &self.tracer {
            Some(tracer) => tracer,
            None => crate::__global_ref(),
        }
    }
}

/// What the layer keeps in a `tracing` span's extensions.
struct Reported {
    span: Span,
    /// Whether a panic was seen unwinding through the span (it is marked once).
    panicked: bool,
}

impl Reported {
    /// Marks the span (once) as cut short by a panic.
    fn panicked_now(&mut self) {
        if !self.panicked {
            self.panicked = true;
            self.span.record_panic();
        }
    }

    /// The context to make active while the `tracing` span is entered, if it has one.
    fn active_context(&self) -> Option<&SpanContext> {
        let context = self.span.context();
        (context.span_id != 0).then_some(context)
    }
}

fn context_of<S>(ctx: &Context<'_, S>, id: &Id) -> Option<SpanContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = ctx.span(id)?;
    let extensions = span.extensions();
    extensions
        .get::<Reported>()
        .and_then(Reported::active_context)
        .cloned()
}

impl<S> Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let tracer = self.tracer();
        if tracer.is_noop() {
            return;
        }
        let Some(registered) = ctx.span(id) else {
            return;
        };
        let mut builder = tracer.span(attrs.metadata().name());
        if attrs.is_root() {
            builder = builder.no_parent();
        } else if let Some(parent) = attrs.parent().and_then(|p| context_of(&ctx, p)) {
            builder = builder.child_of(&parent);
        }
        // Otherwise the parent is the thread's active span: the innermost of the entered
        // `tracing` spans (see `on_enter`) and the `ActiveSpan` guards.
        let mut span = builder.start();
        attrs.record(&mut TagVisitor { span: &mut span });
        registered.extensions_mut().insert(Reported {
            span,
            panicked: false,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(registered) = ctx.span(id) else {
            return;
        };
        let mut extensions = registered.extensions_mut();
        if let Some(reported) = extensions.get_mut::<Reported>() {
            values.record(&mut TagVisitor {
                span: &mut reported.span,
            });
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let Some(cause) = context_of(&ctx, follows) else {
            return;
        };
        let Some(registered) = ctx.span(id) else {
            return;
        };
        let mut extensions = registered.extensions_mut();
        if let Some(reported) = extensions.get_mut::<Reported>() {
            reported.span.add_follows_from(&cause);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(registered) = ctx.event_span(event) else {
            return;
        };
        let mut extensions = registered.extensions_mut();
        let Some(reported) = extensions.get_mut::<Reported>() else {
            return;
        };
        if !reported.span.is_recording() {
            return;
        }
        let level = *event.metadata().level();
        let mut fields = LogVisitor {
            fields: Vec::with_capacity(4),
        };
        fields
            .fields
            .push(("level".into(), Value::from(level.as_str())));
        event.record(&mut fields);
        reported.span.log(fields.fields);
        if level == Level::ERROR {
            reported.span.set_tag("error", true);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(context) = context_of(&ctx, id) {
            active::push(&context);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(registered) = ctx.span(id) else {
            return;
        };
        if std::thread::panicking() {
            // Exited by the unwinding of a panic on this thread: the panic went through
            // this span.
            if let Some(reported) = registered.extensions_mut().get_mut::<Reported>() {
                reported.panicked_now();
            }
        }
        let extensions = registered.extensions();
        if let Some(context) = extensions
            .get::<Reported>()
            .and_then(Reported::active_context)
        {
            active::remove(context.span_id);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(registered) = ctx.span(&id) else {
            return;
        };
        // Taken out of the extensions before finishing, so no lock is held meanwhile.
        let reported = registered.extensions_mut().remove::<Reported>();
        if let Some(mut reported) = reported {
            // Its last handle dropped by a panic's unwinding (without being entered).
            if std::thread::panicking() {
                reported.panicked_now();
            }
            reported.span.finish();
        }
    }
}

/// A field's value as a tag or log value, keeping its type.
fn debug_value(value: &dyn fmt::Debug) -> Value {
    Value::String(Cow::Owned(format!("{value:?}")))
}

/// Records fields as tags of a span.
struct TagVisitor<'a> {
    span: &'a mut Span,
}

impl Visit for TagVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.span.set_tag(field.name(), value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.span.set_tag(field.name(), value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.span.set_tag(field.name(), value);
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.span.set_tag(field.name(), value);
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.span.set_tag(field.name(), value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.span.set_tag(field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.span.set_tag(field.name(), value.to_owned());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.span.set_tag(field.name(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.span.set_tag(field.name(), debug_value(value));
    }
}

/// Collects an event's fields as the fields of a log.
struct LogVisitor {
    fields: Vec<(Cow<'static, str>, Value)>,
}

impl LogVisitor {
    fn push(&mut self, field: &Field, value: impl Into<Value>) {
        self.fields
            .push((Cow::Borrowed(field.name()), value.into()));
    }
}

impl Visit for LogVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value);
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, value);
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_owned());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // The message is `format_args!`, whose `Debug` is its text.
        self.push(field, debug_value(value));
    }
}
