//! The `Tracer` handle, and the state it shares with its reporter thread.

use crate::context::SpanContext;
use crate::encode::{Limits, ReportBuilder};
use crate::endpoint::Secret;
use crate::event::{self, emit, ErrorEvent, ErrorKind, Event, FlushState};
use crate::handoff::{handoff, Handoff, LogSettings};
use crate::identity;
use crate::ids::next_id;
use crate::options::Options;
use crate::propagation::{self, Extractor, Injector, Propagator};
use crate::reporter::core::{Core, Encoder, Settings};
use crate::reporter::{Control, Outcome, Reporter};
use crate::span::SpanBuilder;
use crate::stats::{Counters, State, Stats};
use crate::Error;
use crossbeam_channel::{bounded, Sender};
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A handle to a tracer. Cheap to clone, `Send + Sync`.
///
/// Made by [`init`](crate::init) (the global tracer), [`Tracer::new`] (a tracer of one's
/// own) or [`global`](crate::global) (the global tracer, or a no-op one before `init`).
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "collector")] {
/// use lightstep::{Options, Tracer};
/// use std::time::Duration;
///
/// # let collector = lightstep::collector::LocalCollector::start()?;
/// # let url = collector.url();
/// let tracer = Tracer::new(Options::new("YourAccessToken").collector_url(url))?;
/// let worker = {
///     let tracer = tracer.clone(); // the same tracer, on another thread
///     std::thread::spawn(move || tracer.span("background").start().finish())
/// };
/// tracer.span("main").start().finish();
/// worker.join().unwrap();
/// tracer.close(Duration::from_secs(5))?;
/// assert_eq!(tracer.stats().delivered, 2);
/// # }
/// # Ok::<(), lightstep::Error>(())
/// ```
#[derive(Clone)]
pub struct Tracer {
    handle: Handle,
}

#[derive(Clone)]
enum Handle {
    Noop,
    Global(&'static Inner),
    Owned(Arc<Inner>),
}

pub(crate) struct Inner {
    /// Where finished spans go; spans refer to it too.
    pub(crate) spans: &'static Handoff,
    control: Sender<Control>,
    /// Asks the reporter to close, by this deadline.
    close: Sender<Instant>,
    /// Whether `close` was called; its outcome, for every caller of `close`.
    close_started: AtomicBool,
    closed: Arc<Outcome>,
    counters: Arc<Counters>,
    propagators: Vec<Propagator>,
    close_timeout: Duration,
}

impl Tracer {
    /// Starts a tracer that is not the global one, with its own reporter thread.
    ///
    /// Its spans go to its collector; `span!` keeps using the global tracer. The reporter
    /// stops once every handle of this tracer is dropped and every span of it finished
    /// (it waits `close_timeout` at most for spans still open; later ones are counted
    /// dropped), after a last report bounded by `close_timeout`.
    ///
    /// A tracer's hand-off (a few hundred bytes) stays for the life of the process, so
    /// that its spans can refer to it without counting references: make tracers once,
    /// not per request. What it holds for reuse is freed when its reporter stops.
    pub fn new(options: Options) -> Result<Tracer, Error> {
        Ok(Tracer {
            handle: Handle::Owned(Arc::new(Inner::start(options)?)),
        })
    }

    pub(crate) const fn noop() -> Tracer {
        Tracer {
            handle: Handle::Noop,
        }
    }

    pub(crate) fn global(inner: &'static Inner) -> Tracer {
        Tracer {
            handle: Handle::Global(inner),
        }
    }

    pub(crate) fn inner(&self) -> Option<&Inner> {
        match &self.handle {
            Handle::Noop => None,
            Handle::Global(inner) => Some(inner),
            Handle::Owned(inner) => Some(inner),
        }
    }

    /// Whether this is the no-op tracer ([`global`](crate::global) before `init`).
    #[inline]
    pub fn is_noop(&self) -> bool {
        matches!(self.handle, Handle::Noop)
    }

    /// Begins a span named `operation`.
    ///
    /// ```
    /// let tracer = lightstep::global();
    /// let span = tracer.span("fetch").tag("url", "https://example.com").start();
    /// # drop(span);
    /// ```
    #[inline]
    pub fn span(&self, operation: impl Into<Cow<'static, str>>) -> SpanBuilder<'_> {
        SpanBuilder::new(self, operation.into())
    }

    fn propagators(&self) -> &[Propagator] {
        match self.inner() {
            Some(inner) => &inner.propagators,
            None => &[Propagator::LightStep],
        }
    }

    /// Writes `context` into `carrier` in every configured format.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let tracer = lightstep::global();
    /// let context = lightstep::SpanContext::new(0xabc, 0x12);
    /// let mut headers = HashMap::new();
    /// tracer.inject(&context, &mut headers);
    /// assert_eq!(headers["ot-tracer-traceid"], "abc");
    /// ```
    pub fn inject(&self, context: &SpanContext, carrier: &mut impl Injector) {
        propagation::inject(self.propagators(), context, carrier);
    }

    /// Reads a span context from `carrier` with the first configured format that finds
    /// one. `Ok(None)` when there is none; [`Error::SpanContextCorrupted`] (naming the
    /// format and key) when no format found a usable context but one was there, corrupt.
    pub fn extract(&self, carrier: &impl Extractor) -> Result<Option<SpanContext>, Error> {
        propagation::extract(self.propagators(), carrier)
    }

    /// `context` in the LightStep binary format (base64 of a `BinaryCarrier`); empty for
    /// a context with a zero id (the no-op tracer's).
    pub fn inject_binary(&self, context: &SpanContext) -> Vec<u8> {
        propagation::binary::inject(context)
    }

    /// Reads the LightStep binary format: base64 text, raw `BinaryCarrier` bytes (the C++
    /// tracer), or the Python tracer's length-prefixed `Format.BINARY`. Empty: `Ok(None)`.
    pub fn extract_binary(&self, carrier: &[u8]) -> Result<Option<SpanContext>, Error> {
        propagation::binary::extract(carrier)
    }

    /// Sends every span finished so far, waiting at most `timeout`.
    ///
    /// Failures that may pass (a collector that is down, overloaded, or asks to be
    /// retried later) are retried with backoff within `timeout`; the events of every
    /// attempt reach the event handler before it returns. During a `close` it waits for
    /// that close; after it, or once the tracer is disabled, it is [`Error::Closed`].
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = deadline_after(timeout);
        let result = self.flush_until(deadline, timeout);
        if result != Err(Error::Closed) {
            // (A refused flush raised only its own event, and returns it as its error.)
            event::drain(deadline);
        }
        result
    }

    pub(crate) fn flush_until(&self, deadline: Instant, timeout: Duration) -> Result<(), Error> {
        let Some(inner) = self.inner() else {
            return Ok(());
        };
        let refused_as = match inner.counters.state() {
            State::Running => None,
            State::Closed | State::Gone => Some(FlushState::Closed),
            State::Disabled => Some(FlushState::Disabled),
        };
        if let Some(state) = refused_as {
            let result = inner.await_close(deadline, false);
            if result == Err(Error::Closed) {
                // One event says so (the static `flush` adds none for this error).
                emit(Event::Error(ErrorEvent::new(
                    ErrorKind::Flush(state),
                    Error::Closed,
                )));
            }
            return result;
        }
        let work_until = work_deadline(deadline, timeout);
        inner.request(
            |reply| Control::Flush {
                deadline: work_until,
                reply,
            },
            work_until,
        )
    }

    /// Sends every pending span and stops the tracer, waiting at most `timeout`.
    ///
    /// Spans finished afterwards are counted as dropped. Every call returns the outcome
    /// of the one close: a second caller waits for the close in progress (within its own
    /// `timeout`), and a call after it returns at once.
    pub fn close(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = deadline_after(timeout);
        let result = self.close_until(deadline, timeout);
        // The last status report reaches the handler before close returns.
        event::drain(deadline);
        result
    }

    pub(crate) fn close_until(&self, deadline: Instant, timeout: Duration) -> Result<(), Error> {
        let Some(inner) = self.inner() else {
            return Ok(());
        };
        if inner.counters.leave_running(State::Closed) {
            inner.close_started.store(true, Ordering::Release);
            // A channel of its own, which flushes cannot crowd out; one close ever gets here.
            let _ = inner.close.try_send(work_deadline(deadline, timeout));
        }
        inner.await_close(deadline, true)
    }

    /// Stops recording and reporting at once; held spans are counted as dropped.
    pub fn disable(&self) {
        if let Some(inner) = self.inner() {
            if inner.counters.leave_running(State::Disabled) {
                // Never waits: the reporter also sees the state on its next turn.
                let _ = inner.control.try_send(Control::Disable);
            }
        }
    }

    /// Span counts since the tracer started.
    pub fn stats(&self) -> Stats {
        self.inner()
            .map(|inner| inner.counters.snapshot())
            .unwrap_or_default()
    }

    pub(crate) fn close_timeout(&self) -> Duration {
        self.inner()
            .map(|inner| inner.close_timeout)
            .unwrap_or(Options::DEFAULT_CLOSE_TIMEOUT)
    }
}

/// `timeout` from now; a timeout past what the clock can hold (`Duration::MAX`) is a
/// century.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// The deadline the reporter works to: a little before the caller's, so that the events
/// of its attempts reach the handler before the call returns.
fn work_deadline(deadline: Instant, timeout: Duration) -> Instant {
    deadline - (timeout / 10).min(Duration::from_millis(25))
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner() {
            None => f.write_str("Tracer(no-op)"),
            Some(inner) => f
                .debug_struct("Tracer")
                .field("state", &inner.counters.state())
                .field("stats", &inner.counters.snapshot())
                .finish_non_exhaustive(),
        }
    }
}

impl Inner {
    /// Validates the options and starts the reporter thread.
    pub(crate) fn start(options: Options) -> Result<Inner, Error> {
        options.validate()?;
        // The first reading calibrates the time-stamp counter: do it here, not in a span.
        let _ = crate::record::clock();
        // The collector URL and the token are read once, here, for every part that needs them.
        let endpoint = options.endpoint()?;
        let token = Secret::new(&options.access_token);
        let transport = crate::reporter::connect(&options, &endpoint, &token)?;
        let settings = Settings {
            min_period: options.min_reporting_period,
            max_period: options.max_reporting_period,
            report_timeout: options.report_timeout,
            max_report_bytes: transport.max_report_bytes,
            limits: Limits {
                max_log_key_len: options.max_log_key_len,
                max_log_value_len: options.max_log_value_len,
            },
        };
        let counters = Arc::new(Counters::default());
        let logs = LogSettings {
            max_logs_per_span: options.max_logs_per_span,
            drop_span_logs: options.drop_span_logs,
        };
        let (control_tx, control_rx) = bounded(16);
        let (close_tx, close_rx) = bounded(1);
        let identity = identity::reporter(&options, next_id());
        let metrics = crate::metrics::SystemMetrics::new(
            &options,
            &endpoint,
            &token,
            transport.agent.clone(),
            &identity,
        )?;
        let encoder: Box<dyn Encoder> = match options.transport {
            crate::options::Transport::Otlp => Box::new(crate::otlp::OtlpEncoder::new(&identity)),
            _ => Box::new(ReportBuilder::new(identity, &token)),
        };
        // Every report carries the reporter tags (and the token): they must leave room.
        if encoder.overhead() + 1024 > settings.max_report_bytes {
            return Err(Error::invalid(
                "max_report_bytes",
                format!(
                    "the reporter tags and token alone take {} bytes; allow at least 1 KiB more",
                    encoder.overhead()
                ),
            ));
        }
        // (Made once nothing before it can fail: it lives as long as the process.)
        let (spans_tx, spans_rx) = handoff(
            options.max_buffered_spans,
            options.max_buffered_bytes,
            Arc::clone(&counters),
            logs,
        );
        let core = Core::new(
            encoder,
            settings,
            Arc::clone(&counters),
            Arc::clone(&spans_rx.admission),
            Instant::now(),
            next_id(),
        );
        let stop = match metrics {
            Some(metrics) => Some(crate::metrics::spawn(metrics)?),
            None => None,
        };
        let closed = Arc::new(Outcome::default());
        let reporter = Reporter::new(
            spans_rx,
            control_rx,
            close_rx,
            Arc::clone(&counters),
            core,
            transport.wire,
            Arc::clone(&closed),
            stop,
            options.close_timeout,
        );
        // The thread is detached: after close it only counts stragglers as dropped, and it
        // ends when the last handle of this tracer is dropped.
        std::thread::Builder::new()
            .name("lightstep-reporter".into())
            .spawn(move || reporter.run())
            .map_err(|e| {
                let message = format!("cannot start the reporter thread: {e}");
                Error::Transport(crate::error::ReportError::new(message).with_source(e))
            })?;
        Ok(Inner {
            spans: spans_tx,
            control: control_tx,
            close: close_tx,
            close_started: AtomicBool::new(false),
            closed,
            counters,
            propagators: options.propagators,
            close_timeout: options.close_timeout,
        })
    }

    /// Hands over a span made by a bridge (started and finished elsewhere), or counts
    /// it dropped. Never blocks.
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn span_exported(&self, record: crate::compact::CompactRecord) {
        self.counters.add_started();
        self.counters.add_finished();
        if !self.spans.push_aside(record) {
            self.counters.add_dropped(1);
        }
    }

    /// The outcome of the close, when one was started: waits for it until `deadline`
    /// (a flush during the close waits too). A flush after the close, or once the tracer
    /// is disabled, is refused.
    fn await_close(&self, deadline: Instant, closing: bool) -> Result<(), Error> {
        // (A close that moved the state but has not yet said so has started all the same.)
        let started =
            self.close_started.load(Ordering::Acquire) || self.counters.state() == State::Closed;
        if !started {
            // Disabled, never closed: nothing is left to send.
            return if closing { Ok(()) } else { Err(Error::Closed) };
        }
        if !closing && self.closed.wait(Instant::now()).is_some() {
            return Err(Error::Closed);
        }
        self.closed.wait(deadline).unwrap_or(Err(Error::Timeout))
    }

    /// Sends a control request and waits for its reply until `deadline`.
    fn request(
        &self,
        make: impl FnOnce(Sender<Result<(), Error>>) -> Control,
        deadline: Instant,
    ) -> Result<(), Error> {
        let (reply_tx, reply_rx) = bounded(1);
        let timeout = deadline.saturating_duration_since(Instant::now());
        match self.control.send_timeout(make(reply_tx), timeout) {
            Ok(()) => {}
            Err(crossbeam_channel::SendTimeoutError::Timeout(_)) => return Err(Error::Timeout),
            Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return Err(Error::Closed),
        }
        match reply_rx.recv_deadline(deadline) {
            Ok(result) => result,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }
}

#[cfg(all(test, feature = "collector"))]
mod tests {
    use super::*;
    use crate::collector::LocalCollector;

    #[test]
    fn a_reporter_panic_is_contained_and_spans_are_counted_dropped() {
        let collector = LocalCollector::start().expect("collector");
        let tracer = Tracer::new(Options::new("t").collector_url(collector.url())).expect("tracer");
        tracer.span("before").start().finish();
        tracer.flush(Duration::from_secs(5)).expect("flush");
        let inner = tracer.inner().expect("a real tracer");
        inner.control.send(Control::Panic).expect("send");
        let deadline = Instant::now() + Duration::from_secs(5);
        while inner.counters.state() != State::Disabled && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(inner.counters.state(), State::Disabled);
        tracer.span("after").start().finish();
        let started = Instant::now();
        tracer.close(Duration::from_secs(1)).expect("close");
        assert!(started.elapsed() < Duration::from_millis(100));
        assert!(tracer.flush(Duration::from_secs(1)).is_err());
        let stats = tracer.stats();
        assert_eq!(
            (
                stats.finished,
                stats.delivered,
                stats.dropped,
                stats.pending
            ),
            (2, 1, 1, 0)
        );
        assert_eq!(collector.span_count(), 1);
    }
}
