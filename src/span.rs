//! Spans: the builder, the span itself, and the scoped `ActiveSpan` guard.

use crate::active;
use crate::compact::{Body, CompactRecord};
use crate::context::SpanContext;
use crate::handoff::Handoff;
use crate::ids::next_id;
use crate::record::{LogRecord, Moment, Reference, Relationship, Stamp};
use crate::tracer::Tracer;
use crate::Value;
use std::borrow::Cow;
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::time::SystemTime;

/// Configures a span before it starts; made by [`Tracer::span`].
///
/// Without an explicit parent, a span becomes the child of the thread's active span
/// (see [`ActiveSpan`]), unless [`no_parent`](SpanBuilder::no_parent) is called.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "collector")] {
/// use lightstep::collector::LocalCollector;
/// use lightstep::{Options, Tracer};
/// use std::time::Duration;
///
/// let collector = LocalCollector::start()?;
/// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
/// let mut span = tracer
///     .span("fetch")
///     .tag("http.method", "GET")
///     .no_parent()
///     .start();
/// span.set_tag("http.status_code", 200);
/// span.finish();
/// tracer.flush(Duration::from_secs(5))?;
/// let spans = collector.spans();
/// assert_eq!(spans[0].operation_name, "fetch");
/// assert_eq!(spans[0].tags.len(), 2);
/// # }
/// # Ok::<(), lightstep::Error>(())
/// ```
#[must_use = "a span builder does nothing until `start` or `start_active` is called"]
pub struct SpanBuilder<'t> {
    tracer: &'t Tracer,
    operation: Cow<'static, str>,
    /// The record, made by the first tag or extra reference given here (its times are
    /// set by `start`); without them, `start` writes the record in place in the span.
    body: Option<Body>,
    /// The context the span inherits: the first parent given.
    parent: Option<SpanContext>,
    start: Option<SystemTime>,
    no_parent: bool,
}

impl<'t> SpanBuilder<'t> {
    #[inline]
    pub(crate) fn new(tracer: &'t Tracer, operation: Cow<'static, str>) -> Self {
        SpanBuilder {
            tracer,
            operation,
            body: None,
            parent: None,
            start: None,
            no_parent: false,
        }
    }

    /// The record, made on first need; none for the no-op tracer.
    fn body_mut(&mut self) -> Option<&mut Body> {
        if self.tracer.is_noop() {
            return None;
        }
        let operation = &mut self.operation;
        Some(self.body.get_or_insert_with(|| {
            // (A placeholder time: `start` sets the times.)
            Body::new(std::mem::take(operation), None, Moment::Mono(0))
        }))
    }

    /// Makes the span a child of `parent` (a `CHILD_OF` reference); its trace, sampling
    /// decision and baggage are inherited from the first parent given.
    ///
    /// # Examples
    ///
    /// ```
    /// let tracer = lightstep::Tracer::new(
    ///     lightstep::Options::new("token").collector_url("http://127.0.0.1:9"),
    /// )?;
    /// let parent = tracer.span("request").start();
    /// let child = tracer.span("query").child_of(parent.context()).start();
    /// assert_eq!(child.context().trace_id(), parent.context().trace_id());
    /// assert_ne!(child.context().span_id(), parent.context().span_id());
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn child_of(self, parent: &SpanContext) -> Self {
        self.reference(parent, Relationship::ChildOf)
    }

    /// Makes the span follow from `cause` (a `FOLLOWS_FROM` reference).
    ///
    /// # Examples
    ///
    /// ```
    /// let tracer = lightstep::Tracer::new(
    ///     lightstep::Options::new("token").collector_url("http://127.0.0.1:9"),
    /// )?;
    /// let enqueue = tracer.span("enqueue").start();
    /// let cause = enqueue.context().clone();
    /// drop(enqueue);
    /// // Later, perhaps on another thread: work caused by the first span, in its trace.
    /// let process = tracer.span("process").follows_from(&cause).start();
    /// assert_eq!(process.context().trace_id(), cause.trace_id());
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn follows_from(self, cause: &SpanContext) -> Self {
        self.reference(cause, Relationship::FollowsFrom)
    }

    fn reference(mut self, other: &SpanContext, relationship: Relationship) -> Self {
        if self.parent.is_none() {
            self.parent = Some(other.clone());
        }
        let reference = Reference {
            relationship,
            trace_id: other.trace_id(),
            span_id: other.span_id,
        };
        if let Some(body) = self.body_mut() {
            body.push_reference(reference);
        }
        self
    }

    /// Sets a tag from the start.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// tracer.span("query").tag("db.system", "postgresql").tag("rows", 3).start().finish();
    /// tracer.flush(Duration::from_secs(5))?;
    /// let tags: Vec<String> = collector.spans()[0].tags.iter().map(|t| t.key.clone()).collect();
    /// assert_eq!(tags, ["db.system", "rows"]);
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    #[inline]
    pub fn tag(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        if let Some(body) = self.body_mut() {
            body.push_tag(key.into(), value.into());
        }
        self
    }

    /// Uses an explicit start time instead of now.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// use std::time::SystemTime;
    /// // A span for work that began before the tracer knew of it.
    /// let began = SystemTime::now() - Duration::from_millis(250);
    /// tracer.span("queued").start_time(began).start().finish();
    /// tracer.flush(Duration::from_secs(5))?;
    /// assert!(collector.spans()[0].duration_micros >= 250_000);
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn start_time(mut self, time: SystemTime) -> Self {
        self.start = Some(time);
        self
    }

    /// Starts a root span even if the thread has an active span.
    ///
    /// # Examples
    ///
    /// ```
    /// let tracer = lightstep::Tracer::new(
    ///     lightstep::Options::new("token").collector_url("http://127.0.0.1:9"),
    /// )?;
    /// let _request = tracer.span("request").start_active();
    /// let child = tracer.span("query").start(); // a child of `request`
    /// let root = tracer.span("background").no_parent().start(); // a trace of its own
    /// assert_eq!(child.context().trace_id(), _request.context().trace_id());
    /// assert_ne!(root.context().trace_id(), _request.context().trace_id());
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn no_parent(mut self) -> Self {
        self.no_parent = true;
        self
    }

    /// Starts the span.
    ///
    /// # Examples
    ///
    /// ```
    /// let tracer = lightstep::Tracer::new(
    ///     lightstep::Options::new("token").collector_url("http://127.0.0.1:9"),
    /// )?;
    /// let span = tracer.span("work").start();
    /// assert!(span.is_recording());
    /// drop(span); // finishes it
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    #[inline]
    pub fn start(self) -> Span {
        self.start_as(false)
    }

    /// Starts the span, made the thread's active span first if `active` (so that an
    /// `ActiveSpan` is built in place around it).
    #[inline(always)]
    fn start_as(self, active: bool) -> Span {
        // (Taken apart first: passing the whole builder on would copy all of it.)
        let SpanBuilder {
            tracer,
            operation,
            body,
            parent,
            start,
            no_parent,
        } = self;
        let Some(inner) = tracer.inner() else {
            return Span::noop();
        };
        let spans = inner.spans;
        spans.count_started();
        let (context, implicit) = context_for(parent, no_parent);
        if active {
            active::push(&context);
        }
        if !context.sampled {
            return Span::unsampled(spans, context);
        }
        let start = match start {
            Some(time) => Moment::Wall(time),
            None => Moment::now(),
        };
        Span {
            spans: Some(spans),
            stage: Stage::Recording,
            context: MaybeUninit::new(context),
            body: MaybeUninit::new(match body {
                // (Written straight into the span: the usual case, no moves.)
                None => Body::new(operation, implicit, start),
                Some(mut body) => {
                    if implicit.is_some() {
                        body.parent = implicit;
                    }
                    body.start = Stamp::of(start);
                    body.finish = body.start;
                    body
                }
            }),
        }
    }

    /// Starts the span and makes it the thread's active span until the guard drops.
    ///
    /// # Examples
    ///
    /// ```
    /// let tracer = lightstep::Tracer::new(
    ///     lightstep::Options::new("token").collector_url("http://127.0.0.1:9"),
    /// )?;
    /// let request = tracer.span("request").start_active();
    /// // Started while `request` is active on this thread: its child, with no parent given.
    /// let query = tracer.span("query").start();
    /// assert_eq!(query.context().trace_id(), request.context().trace_id());
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    #[inline]
    pub fn start_active(self) -> ActiveSpan {
        ActiveSpan {
            span: self.start_as(true),
        }
    }
}

/// The context of a new span: a child of `parent`, else of the thread's active span
/// (unless `no_parent`), else the root of a new trace; with the `CHILD_OF` reference to
/// the active span when it is the parent.
#[inline(always)]
fn context_for(parent: Option<SpanContext>, no_parent: bool) -> (SpanContext, Option<Reference>) {
    let mut implicit = None;
    let parent = match parent {
        Some(parent) => Some(parent),
        None if no_parent => None,
        None => {
            let active = active::current();
            if let Some(active) = &active {
                implicit = Some(Reference {
                    relationship: Relationship::ChildOf,
                    trace_id: active.trace_id(),
                    span_id: active.span_id,
                });
            }
            active
        }
    };
    let context = match parent {
        Some(parent) => SpanContext {
            span_id: next_id(),
            ..parent
        },
        None => SpanContext {
            random_trace_id: true,
            ..SpanContext::from_ids(0, next_id(), next_id(), true)
        },
    };
    (context, implicit)
}

impl Tracer {
    /// What `span!` expands to: an active child of the thread's active span, with its
    /// tags, built in place (not through the builder, whose moves would cost more than
    /// the span).
    #[doc(hidden)]
    #[inline]
    pub fn __start_active(
        &self,
        operation: impl Into<Cow<'static, str>>,
        tags: impl FnOnce(&mut __Tags<'_>),
    ) -> ActiveSpan {
        let Some(inner) = self.inner() else {
            return ActiveSpan::__noop();
        };
        let spans = inner.spans;
        spans.count_started();
        let (context, parent) = context_for(None, false);
        active::push(&context);
        if !context.sampled {
            return ActiveSpan {
                span: Span::unsampled(spans, context),
            };
        }
        let context_span_id = context.span_id;
        // (The body first: if its tags panic, the context is still a plain value, dropped
        // as the stack unwinds.)
        ActiveSpan {
            span: Span {
                spans: Some(spans),
                stage: Stage::Recording,
                body: MaybeUninit::new(Body::with_tags(
                    operation.into(),
                    parent,
                    Moment::now(),
                    |body| {
                        // A key that panics leaves no half-started span behind.
                        let undo = Unstarted {
                            spans,
                            span_id: context_span_id,
                        };
                        tags(&mut __Tags(body));
                        std::mem::forget(undo);
                    },
                )),
                context: MaybeUninit::new(context),
            },
        }
    }
}

/// Undoes the start of a span whose tags panicked before its guard existed: off the
/// active stack, counted finished and dropped.
struct Unstarted {
    spans: &'static Handoff,
    span_id: u64,
}

impl Drop for Unstarted {
    fn drop(&mut self) {
        active::remove(self.span_id);
        self.spans.count_lost();
    }
}

/// The tags `span!` writes into its span as it is built.
#[doc(hidden)]
pub struct __Tags<'a>(&'a mut Body);

impl __Tags<'_> {
    #[doc(hidden)]
    #[inline]
    pub fn push(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        self.0.push_tag(key.into(), value.into());
    }
}

/// The stage of a span's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Being recorded: `body` holds the record.
    Recording,
    /// Part of an unsampled trace: propagated, never recorded.
    Unsampled,
    /// Finished: its record went to the reporter; its context stays for callers.
    Finished,
    /// From the no-op tracer: nothing at all.
    Noop,
}

/// The context of every no-op span.
static NOOP_CONTEXT: SpanContext = SpanContext::from_ids(0, 0, 0, false);

/// A span: a named, timed operation in a trace.
///
/// Finish it with [`finish`](Span::finish); dropping an unfinished span finishes it. A
/// span dropped unfinished while its thread unwinds from a panic is finished with the tag
/// `error = true` and a log `event = "panic"`.
///
/// ```
/// let tracer = lightstep::global();
/// let mut span = tracer.span("load_config").tag("path", "/etc/app.toml").start();
/// span.set_tag("bytes", 512);
/// span.log_event("parsed");
/// span.finish();
/// ```
pub struct Span {
    /// Where the span goes when it finishes: its tracer's hand-off, which lives as long
    /// as the process, so a span holds no counted reference. `None` for no-op spans.
    spans: Option<&'static Handoff>,
    stage: Stage,
    /// Written unless `stage` is `Noop` (a no-op span writes and drops nothing).
    context: MaybeUninit<SpanContext>,
    /// Written while `stage` is `Recording` (and only then); moved out by the finish.
    body: MaybeUninit<Body>,
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Span");
        debug
            .field("stage", &self.stage)
            .field("context", self.context());
        if let Some(body) = self.body() {
            debug.field("operation", &body.operation);
        }
        debug.finish_non_exhaustive()
    }
}

impl Span {
    #[inline]
    fn noop() -> Span {
        let mut span = MaybeUninit::<Span>::uninit();
        let at = span.as_mut_ptr();
        // SAFETY: the two fields a no-op span reads are written; the others are
        // `MaybeUninit`, valid uninitialised. (A struct literal has the compiler write a
        // template over the whole record.)
        unsafe {
            std::ptr::addr_of_mut!((*at).spans).write(None);
            std::ptr::addr_of_mut!((*at).stage).write(Stage::Noop);
            span.assume_init()
        }
    }

    fn unsampled(spans: &'static Handoff, context: SpanContext) -> Span {
        Span {
            spans: Some(spans),
            stage: Stage::Unsampled,
            context: MaybeUninit::new(context),
            body: MaybeUninit::uninit(),
        }
    }

    fn body(&self) -> Option<&Body> {
        // SAFETY: the body is written while the span is recording.
        (self.stage == Stage::Recording).then(|| unsafe { self.body.assume_init_ref() })
    }

    /// The record being written, if this span is recording.
    #[inline]
    fn recording(&mut self) -> Option<&mut Body> {
        if self.stage == Stage::Recording {
            // SAFETY: the body is written while the span is recording.
            Some(unsafe { self.body.assume_init_mut() })
        } else {
            None
        }
    }

    /// The span's context, to pass to children or to inject into a carrier.
    ///
    /// # Examples
    ///
    /// ```
    /// let tracer = lightstep::Tracer::new(
    ///     lightstep::Options::new("token").collector_url("http://127.0.0.1:9"),
    /// )?;
    /// use std::collections::HashMap;
    ///
    /// let span = tracer.span("call_backend").start();
    /// let mut headers = HashMap::new();
    /// tracer.inject(span.context(), &mut headers); // for the outgoing request
    /// let remote = tracer.extract(&headers)?.expect("a context");
    /// assert_eq!(remote.span_id(), span.context().span_id());
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn context(&self) -> &SpanContext {
        match self.stage {
            Stage::Noop => &NOOP_CONTEXT,
            // SAFETY: the context is written unless the span is a no-op one.
            _ => unsafe { self.context.assume_init_ref() },
        }
    }

    /// Whether this span will be reported.
    ///
    /// # Examples
    ///
    /// ```
    /// let tracer = lightstep::Tracer::new(
    ///     lightstep::Options::new("token").collector_url("http://127.0.0.1:9"),
    /// )?;
    /// let mut span = tracer.span("work").start();
    /// assert!(span.is_recording());
    /// if span.is_recording() {
    ///     span.set_tag("expensive", format!("{:?}", std::env::args().collect::<Vec<_>>()));
    /// }
    /// // The global tracer before `init` is a no-op: nothing is recorded.
    /// assert!(!lightstep::global().span("ignored").start().is_recording());
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn is_recording(&self) -> bool {
        self.stage == Stage::Recording
    }

    /// Sets (or adds) a tag.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// let mut span = tracer.span("request").start();
    /// span.set_tag("http.status_code", 503);
    /// span.set_tag("error", true);
    /// drop(span);
    /// tracer.flush(Duration::from_secs(5))?;
    /// let spans = collector.spans();
    /// let keys: Vec<&str> = spans[0].tags.iter().map(|t| t.key.as_str()).collect();
    /// assert_eq!(keys, ["http.status_code", "error"]);
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    #[inline]
    pub fn set_tag(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        if let Some(body) = self.recording() {
            body.push_tag(key.into(), value.into());
        }
    }

    /// Records a log with the given fields, timestamped now.
    ///
    /// ```
    /// # let mut span = lightstep::global().span("x").start();
    /// use lightstep::Value;
    /// span.log([("event", Value::from("retry")), ("attempt", Value::from(3))]);
    /// ```
    pub fn log<K, V>(&mut self, fields: impl IntoIterator<Item = (K, V)>)
    where
        K: Into<Cow<'static, str>>,
        V: Into<Value>,
    {
        let Some(spans) = self.spans else {
            return;
        };
        let (drop_logs, max_logs) = (spans.logs.drop_span_logs, spans.logs.max_logs_per_span);
        let Some(body) = self.recording().filter(|_| !drop_logs) else {
            return;
        };
        let fields = fields
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        body.push_log(
            LogRecord {
                at: Moment::now(),
                fields,
            },
            max_logs,
        );
    }

    /// Records a log with the single field `event`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// let mut span = tracer.span("request").start();
    /// span.log_event("cache_miss");
    /// drop(span);
    /// tracer.flush(Duration::from_secs(5))?;
    /// let log = &collector.spans()[0].logs[0];
    /// assert_eq!(log.fields[0].key, "event");
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn log_event(&mut self, event: impl Into<Value>) {
        self.log([("event", event.into())]);
    }

    /// Sets a baggage item, carried by this span's context to its children and across
    /// process boundaries.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// let tracer = lightstep::Tracer::new(
    ///     lightstep::Options::new("token").collector_url("http://127.0.0.1:9"),
    /// )?;
    /// let mut span = tracer.span("request").start();
    /// span.set_baggage_item("tenant", "acme");
    /// let mut headers = HashMap::new();
    /// tracer.inject(span.context(), &mut headers);
    /// assert_eq!(headers["ot-baggage-tenant"], "acme");
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn set_baggage_item(&mut self, key: impl Into<String>, value: impl Into<String>) {
        if matches!(self.stage, Stage::Recording | Stage::Unsampled) {
            // SAFETY: the context is written unless the span is a no-op one.
            let context = unsafe { self.context.assume_init_mut() };
            context.set_baggage_item(key.into(), value.into());
        }
    }

    /// One baggage item of this span's context.
    ///
    /// # Examples
    ///
    /// ```
    /// let tracer = lightstep::Tracer::new(
    ///     lightstep::Options::new("token").collector_url("http://127.0.0.1:9"),
    /// )?;
    /// let mut parent = tracer.span("request").start();
    /// parent.set_baggage_item("tenant", "acme");
    /// let child = tracer.span("query").child_of(parent.context()).start();
    /// assert_eq!(child.baggage_item("tenant"), Some("acme"));
    /// assert_eq!(child.baggage_item("missing"), None);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn baggage_item(&self, key: &str) -> Option<&str> {
        self.context().baggage_item(key)
    }

    /// Renames the operation.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// let mut span = tracer.span("request").start();
    /// span.set_operation_name("GET /users/{id}"); // once the route is known
    /// drop(span);
    /// tracer.flush(Duration::from_secs(5))?;
    /// assert_eq!(collector.spans()[0].operation_name, "GET /users/{id}");
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn set_operation_name(&mut self, name: impl Into<Cow<'static, str>>) {
        if let Some(body) = self.recording() {
            body.operation = name.into();
        }
    }

    /// Adds a `FOLLOWS_FROM` reference after the start (`tracing`'s `follows_from`).
    #[cfg(feature = "tracing")]
    pub(crate) fn add_follows_from(&mut self, cause: &SpanContext) {
        if let Some(body) = self.recording() {
            body.push_reference(Reference {
                relationship: Relationship::FollowsFrom,
                trace_id: cause.trace_id(),
                span_id: cause.span_id,
            });
        }
    }

    /// Finishes the span now. Later calls do nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// let mut span = tracer.span("work").start();
    /// span.finish();
    /// span.finish(); // does nothing
    /// span.set_tag("late", true); // ignored: the span is finished
    /// tracer.flush(Duration::from_secs(5))?;
    /// assert_eq!(collector.span_count(), 1);
    /// assert!(collector.spans()[0].tags.is_empty());
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    #[inline]
    pub fn finish(&mut self) {
        if matches!(self.stage, Stage::Recording | Stage::Unsampled) {
            self.finish_with(Moment::now());
        }
    }

    /// Finishes the span at an explicit time.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "collector")] {
    /// use lightstep::collector::LocalCollector;
    /// use lightstep::{Options, Tracer};
    /// use std::time::Duration;
    ///
    /// let collector = LocalCollector::start()?;
    /// let tracer = Tracer::new(Options::new("token").collector_url(collector.url()))?;
    /// use std::time::SystemTime;
    /// let started = SystemTime::now();
    /// let mut span = tracer.span("batch").start_time(started).start();
    /// span.finish_at(started + Duration::from_millis(40));
    /// tracer.flush(Duration::from_secs(5))?;
    /// assert_eq!(collector.spans()[0].duration_micros, 40_000);
    /// # }
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn finish_at(&mut self, time: SystemTime) {
        self.finish_with(Moment::Wall(time));
    }

    #[inline]
    fn finish_with(&mut self, finish: Moment) {
        let Some(spans) = self.spans else {
            return;
        };
        match self.stage {
            Stage::Recording => {
                self.stage = Stage::Finished;
                // SAFETY: the body was written (the span was recording); from here the
                // stage says it is gone, and it is either moved out once (into the
                // hand-off) or dropped once.
                let body = unsafe { self.body.assume_init_mut() };
                body.finish = Stamp::of(finish);
                // SAFETY: the context is written unless the span is a no-op one.
                let context = unsafe { self.context.assume_init_ref() };
                let bytes = CompactRecord::held_bytes_of(body);
                // SAFETY: the record is written whole, its body moved out of the span once,
                // here (the span no longer owns it).
                let taken = unsafe {
                    spans.finish_into(bytes, |slot| CompactRecord::write(slot, context, body))
                };
                if !taken {
                    // SAFETY: not moved out: dropped once, here.
                    unsafe { self.body.assume_init_drop() };
                }
            }
            Stage::Unsampled => {
                self.stage = Stage::Finished;
                spans.count_unsampled();
            }
            Stage::Finished | Stage::Noop => {}
        }
    }
}

impl Span {
    /// Marks the span as cut short by a panic: the tag `error = true` and a log
    /// `event = "panic"`.
    pub(crate) fn record_panic(&mut self) {
        if let Some(body) = self.recording() {
            body.push_tag("error".into(), Value::Bool(true));
            self.log_event("panic");
        }
    }

    /// Finishes the span when its owner drops it; dropped while the thread unwinds, it
    /// is marked with [`record_panic`](Span::record_panic) first.
    #[inline]
    fn finish_on_drop(&mut self) {
        if self.stage == Stage::Recording && std::thread::panicking() {
            self.record_panic();
        }
        self.finish();
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        // (The no-op span's drop is this test alone, inlined where it drops.)
        if self.stage != Stage::Noop {
            self.drop_recorded();
        }
    }
}

impl Span {
    #[inline(never)]
    fn drop_recorded(&mut self) {
        self.finish_on_drop();
        // SAFETY: the context is written unless the span is a no-op one; dropped once,
        // here, as the span goes.
        unsafe { self.context.assume_init_drop() };
    }
}

/// A span that is the thread's active span while this guard lives.
///
/// Spans started on the same thread while it is alive become its children. Dropping the
/// guard finishes the span and restores the previous active span, even when guards are
/// dropped out of order; dropped by a panic's unwinding, the span is finished with the tag
/// `error = true` and a log `event = "panic"`. Derefs to [`Span`].
///
/// ```
/// let tracer = lightstep::global();
/// let outer = tracer.span("outer").start_active();
/// let inner = tracer.span("inner").start(); // child of `outer`
/// # drop(inner); drop(outer);
/// ```
#[derive(Debug)]
#[must_use = "the span is active only while the guard lives"]
pub struct ActiveSpan {
    span: Span,
}

impl ActiveSpan {
    #[doc(hidden)]
    /// The guard `span!` returns before `init`.
    #[inline]
    pub fn __noop() -> ActiveSpan {
        ActiveSpan { span: Span::noop() }
    }

    /// Sets a baggage item, seen also by children started later on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let tracer = lightstep::Tracer::new(
    ///     lightstep::Options::new("token").collector_url("http://127.0.0.1:9"),
    /// )?;
    /// let mut request = tracer.span("request").start_active();
    /// request.set_baggage_item("tenant", "acme");
    /// let query = tracer.span("query").start(); // a child of `request`, by itself
    /// assert_eq!(query.baggage_item("tenant"), Some("acme"));
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn set_baggage_item(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.span.set_baggage_item(key, value);
        if self.span.stage != Stage::Noop {
            active::update(self.span.context());
        }
    }
}

impl Deref for ActiveSpan {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.span
    }
}

impl DerefMut for ActiveSpan {
    fn deref_mut(&mut self) -> &mut Span {
        &mut self.span
    }
}

impl Drop for ActiveSpan {
    #[inline]
    fn drop(&mut self) {
        if self.span.stage != Stage::Noop {
            active::remove(self.span.context().span_id);
        }
    }
}

/// `(a, (b, (c, ())))` from `a, b, c` (for `span!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __nest {
    () => { () };
    ($head:expr $(, $tail:expr)*) => { ($head, $crate::__nest!($($tail),*)) };
}

/// Pushes each key with the value at its place in a `__nest!` (for `span!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __push_tags {
    ($tags:ident, $values:expr; ) => { let () = $values; };
    ($tags:ident, $values:expr; $key:expr $(, $rest:expr)*) => {
        let (value, rest) = $values;
        $tags.push($key, value);
        $crate::__push_tags!($tags, rest; $($rest),*);
    };
}

/// Starts an [`ActiveSpan`] on the global tracer: a child of the thread's active span.
///
/// Before [`init`](crate::init) the global tracer is the no-op one, and `span!` builds
/// nothing: its name and tag expressions are not evaluated.
///
/// ```
/// let _request = lightstep::span!("handle_request", "user.id" => 42, "cached" => false);
/// let _query = lightstep::span!("db.query"); // child of handle_request
/// ```
#[macro_export]
macro_rules! span {
    ($name:expr $(, $key:expr => $value:expr)* $(,)?) => {{
        let tracer = $crate::__global_ref();
        if tracer.is_noop() {
            $crate::ActiveSpan::__noop()
        } else {
            // The values are evaluated before the span starts (so `?` works in them,
            // and a panic leaves nothing behind), keeping their types (so the tags'
            // kinds are known where they are written); the keys as they are written.
            let values = $crate::__nest!($($value),*);
            tracer.__start_active($name, move |_tags| {
                $crate::__push_tags!(_tags, values; $($key),*);
            })
        }
    }};
}

#[cfg(test)]
mod tests {
    use crate::{Options, Tracer};

    #[test]
    fn a_panic_while_span_tags_are_written_leaves_no_span_behind() {
        let tracer =
            Tracer::new(Options::new("token").collector_url("http://127.0.0.1:9")).expect("tracer");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _span = tracer.__start_active("doomed", |_tags| panic!("a tag key panicked"));
        }));
        assert!(panicked.is_err());
        assert!(crate::active::current().is_none(), "no phantom parent");
        let after = tracer.span("after").start();
        assert!(after.context().span_id() != 0);
        drop(after);
        let stats = tracer.stats();
        assert_eq!((stats.started, stats.finished), (2, 2));
        assert_eq!(stats.dropped + stats.pending, 2);
    }
}
