//! The span context: the part of a span that crosses process boundaries.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub(crate) type Baggage = BTreeMap<String, String>;

static NO_BAGGAGE: Baggage = BTreeMap::new();

/// Identifies a span within its trace, and carries the trace's baggage.
///
/// Cloning is cheap: the baggage is shared.
///
/// ```
/// let tracer = lightstep::global(); // a no-op tracer before `init`
/// let span = tracer.span("work").start();
/// let context = span.context();
/// assert!(context.span_id() != 0 || !context.sampled());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SpanContext {
    pub(crate) trace_id_high: u64,
    pub(crate) trace_id: u64,
    pub(crate) span_id: u64,
    pub(crate) sampled: bool,
    /// The W3C level-2 `random` trace flag: the trace id's low 56 bits are random. Set on
    /// the traces this crate starts, and carried from a `traceparent` that has it.
    pub(crate) random_trace_id: bool,
    pub(crate) baggage: Option<Arc<Baggage>>,
    /// The W3C `tracestate` received with this trace (checked and normalised), passed on.
    pub(crate) tracestate: Option<Arc<str>>,
}

impl SpanContext {
    /// A context from its parts, for tests and for bridging other tracers.
    ///
    /// `trace_id` is the low 64 bits of the trace id, the part LightStep reports.
    ///
    /// # Examples
    ///
    /// ```
    /// // A parent from another tracing system, for a span of this one.
    /// let parent = lightstep::SpanContext::new(0xf1e2d3c4b5a69788, 0xff);
    /// assert_eq!((parent.trace_id(), parent.span_id()), (0xf1e2d3c4b5a69788, 0xff));
    /// assert!(parent.sampled());
    /// let tracer = lightstep::global();
    /// let _child = tracer.span("child").child_of(&parent).start();
    /// ```
    pub fn new(trace_id: u64, span_id: u64) -> SpanContext {
        SpanContext::from_ids(0, trace_id, span_id, true)
    }

    pub(crate) const fn from_ids(
        trace_id_high: u64,
        trace_id: u64,
        span_id: u64,
        sampled: bool,
    ) -> SpanContext {
        SpanContext {
            trace_id_high,
            trace_id,
            span_id,
            sampled,
            random_trace_id: false,
            baggage: None,
            tracestate: None,
        }
    }

    /// The trace id as reported to LightStep: the low 64 bits of a 128-bit id, or its
    /// upper 64 bits when the low ones are all zero (a valid W3C id, which LightStep's
    /// 64-bit, non-zero ids cannot show otherwise).
    ///
    /// # Examples
    ///
    /// ```
    /// let context = lightstep::SpanContext::new(42, 7);
    /// assert_eq!(context.trace_id(), 42);
    /// ```
    #[inline]
    pub fn trace_id(&self) -> u64 {
        if self.trace_id != 0 {
            self.trace_id
        } else {
            self.trace_id_high
        }
    }

    /// The upper 64 bits of a 128-bit trace id received through B3 or W3C; 0 otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::{Options, Propagator, Tracer};
    /// use std::collections::HashMap;
    ///
    /// let tracer = Tracer::new(
    ///     Options::new("token").collector_url("http://127.0.0.1:9").propagators(&[Propagator::TraceContext]),
    /// )?;
    /// let mut headers = HashMap::new();
    /// headers.insert(
    ///     "traceparent".to_string(),
    ///     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string(),
    /// );
    /// let context = tracer.extract(&headers)?.expect("a context");
    /// assert_eq!(context.trace_id_high(), 0x0af7651916cd43dd);
    /// assert_eq!(context.trace_id(), 0x8448eb211c80319c);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn trace_id_high(&self) -> u64 {
        self.trace_id_high
    }

    /// The span id.
    ///
    /// # Examples
    ///
    /// ```
    /// let context = lightstep::SpanContext::new(42, 7);
    /// assert_eq!(context.span_id(), 7);
    /// ```
    pub fn span_id(&self) -> u64 {
        self.span_id
    }

    /// Whether spans in this trace are recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// let context = lightstep::SpanContext::new(42, 7);
    /// assert!(context.sampled());
    /// assert!(!context.with_sampled(false).sampled());
    /// ```
    pub fn sampled(&self) -> bool {
        self.sampled
    }

    /// The baggage items carried by this context.
    ///
    /// # Examples
    ///
    /// ```
    /// let context = lightstep::SpanContext::new(42, 7)
    ///     .with_baggage_item("tenant", "acme")
    ///     .with_baggage_item("user.id", "alice");
    /// let keys: Vec<&str> = context.baggage().keys().map(String::as_str).collect();
    /// assert_eq!(keys, ["tenant", "user.id"]);
    /// ```
    pub fn baggage(&self) -> &BTreeMap<String, String> {
        self.baggage.as_deref().unwrap_or(&NO_BAGGAGE)
    }

    /// One baggage item.
    ///
    /// # Examples
    ///
    /// ```
    /// let context = lightstep::SpanContext::new(42, 7).with_baggage_item("tenant", "acme");
    /// assert_eq!(context.baggage_item("tenant"), Some("acme"));
    /// assert_eq!(context.baggage_item("missing"), None);
    /// ```
    pub fn baggage_item(&self, key: &str) -> Option<&str> {
        self.baggage().get(key).map(String::as_str)
    }

    /// The W3C `tracestate` received with this trace, if any: its members joined by `,`,
    /// without the whitespace and empty members a header may have.
    ///
    /// # Examples
    ///
    /// ```
    /// use lightstep::{Options, Propagator, Tracer};
    /// use std::collections::HashMap;
    ///
    /// let tracer = Tracer::new(
    ///     Options::new("token").collector_url("http://127.0.0.1:9").propagators(&[Propagator::TraceContext]),
    /// )?;
    /// let headers = HashMap::from([
    ///     ("traceparent".to_string(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string()),
    ///     ("tracestate".to_string(), "vendor=opaque".to_string()),
    /// ]);
    /// let context = tracer.extract(&headers)?.expect("a context");
    /// assert_eq!(context.tracestate(), Some("vendor=opaque"));
    /// assert_eq!(lightstep::SpanContext::new(1, 2).tracestate(), None);
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// This context with the upper 64 bits of a 128-bit trace id set (0: a 64-bit id),
    /// as B3 and W3C Trace Context carry them; LightStep reports only [`trace_id`].
    ///
    /// ```
    /// let context = lightstep::SpanContext::new(0x2, 0x3).with_trace_id_high(0x1);
    /// assert_eq!((context.trace_id_high(), context.trace_id()), (0x1, 0x2));
    /// ```
    ///
    /// [`trace_id`]: SpanContext::trace_id
    pub fn with_trace_id_high(mut self, trace_id_high: u64) -> SpanContext {
        self.trace_id_high = trace_id_high;
        self
    }

    /// This context with `sampled` set as given.
    ///
    /// # Examples
    ///
    /// ```
    /// // A parent whose trace is not sampled: its children are not recorded either.
    /// let tracer = lightstep::Tracer::new(
    ///     lightstep::Options::new("token").collector_url("http://127.0.0.1:9"),
    /// )?;
    /// let parent = lightstep::SpanContext::new(42, 7);
    /// assert!(tracer.span("child").child_of(&parent).start().is_recording());
    /// let parent = parent.with_sampled(false);
    /// assert!(!tracer.span("child").child_of(&parent).start().is_recording());
    /// # Ok::<(), lightstep::Error>(())
    /// ```
    pub fn with_sampled(mut self, sampled: bool) -> SpanContext {
        self.sampled = sampled;
        self
    }

    /// This context with one more baggage item.
    ///
    /// # Examples
    ///
    /// ```
    /// let context = lightstep::SpanContext::new(42, 7).with_baggage_item("tenant", "acme");
    /// assert_eq!(context.baggage_item("tenant"), Some("acme"));
    /// ```
    pub fn with_baggage_item(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_baggage_item(key.into(), value.into());
        self
    }

    pub(crate) fn set_baggage_item(&mut self, key: String, value: String) {
        Arc::make_mut(self.baggage.get_or_insert_with(Default::default)).insert(key, value);
    }
}

impl fmt::Debug for SpanContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("SpanContext");
        if self.trace_id_high != 0 {
            s.field(
                "trace_id_high",
                &format_args!("{:016x}", self.trace_id_high),
            );
        }
        s.field("trace_id", &format_args!("{:016x}", self.trace_id))
            .field("span_id", &format_args!("{:016x}", self.span_id))
            .field("sampled", &self.sampled)
            .field("random_trace_id", &self.random_trace_id)
            .field("baggage", self.baggage())
            .field("tracestate", &self.tracestate)
            .finish()
    }
}
