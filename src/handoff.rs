//! The hand-off of finished spans from the callers' threads to the reporter thread.
//!
//! Every thread that finishes spans of a tracer gets a lane of its own: a chain of
//! blocks of [`BLOCK`] slots that only that thread writes and only the reporter reads.
//! A span is published with one release store (no lock, no read-modify-write), its
//! counts are bumped by their only writer, and a new block is linked every `BLOCK`
//! spans (taken from a small pool of emptied blocks, so a steady flow allocates
//! nothing). The reporter drains every lane on each turn and on every flush and close,
//! so the spans of idle threads are collected too; a thread that exits retires its
//! lane, which the reporter drains a last time and folds into the tracer's counts.
//!
//! Memory stays bounded by an admission count of the spans and bytes held (queued or in
//! the reporter's batch, until delivered or dropped). A lane reserves room from it in
//! chunks and spends it span by span, so the shared count is touched once per chunk;
//! the chunks are small against the bounds (1 span when the bound is under 1 024), so
//! what idle lanes keep reserved is a sliver of them. A span that finds no room is
//! counted dropped.
//!
//! Spans that cannot use a lane (finished while the thread's locals are being torn
//! down, or handed over whole by a bridge) take a side queue under a lock.

use crate::compact::CompactRecord;
use crate::stats::{Counters, State};
use crossbeam_channel::{Receiver, Sender};
use std::cell::{Cell, RefCell, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use Ordering::{Acquire, Relaxed, Release};

/// A finished span as the reporter keeps it, with the bytes it was admitted for.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) record: crate::record::SpanRecord,
    pub(crate) held_bytes: usize,
}

impl Finished {
    /// The record the encoders read, expanded on the reporter thread.
    pub(crate) fn from_compact(record: CompactRecord) -> Finished {
        let held_bytes = record.held_bytes();
        Finished {
            record: record.expand(),
            held_bytes,
        }
    }
}

/// A value alone on its cache lines (two, for the adjacent-line prefetcher), so that
/// what one thread writes does not slow what others read.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Spans per block of a lane.
const BLOCK: usize = 64;

/// Emptied blocks kept for reuse, per tracer (about 1 MiB at most).
const POOL_BLOCKS: usize = 64;

/// What the tracer holds, against its bounds.
#[derive(Debug)]
pub(crate) struct Admission {
    spans: AtomicUsize,
    bytes: AtomicUsize,
    max_spans: usize,
    max_bytes: usize,
    /// Half of each bound: the reporter is woken when one is crossed.
    half_spans: usize,
    half_bytes: usize,
}

impl Admission {
    pub(crate) fn new(max_spans: usize, max_bytes: usize) -> Admission {
        Admission {
            spans: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_spans,
            max_bytes,
            half_spans: max_spans.div_ceil(2),
            half_bytes: max_bytes / 2,
        }
    }

    /// Counts `spans` and `bytes` more as held, if they fit: the totals with them, or
    /// `None` (nothing counted) when they do not.
    fn reserve(&self, spans: usize, bytes: usize) -> Option<(usize, usize)> {
        let held_spans = self.spans.fetch_add(spans, Relaxed) + spans;
        let held_bytes = self.bytes.fetch_add(bytes, Relaxed).saturating_add(bytes);
        if held_spans > self.max_spans || held_bytes > self.max_bytes {
            self.release(spans, bytes);
            return None;
        }
        Some((held_spans, held_bytes))
    }

    /// Spans that left the tracer (delivered or dropped), or room a lane gave back.
    pub(crate) fn release(&self, spans: usize, bytes: usize) {
        self.spans.fetch_sub(spans, Relaxed);
        self.bytes.fetch_sub(bytes, Relaxed);
    }

    /// The spans and bytes held (or reserved) now.
    pub(crate) fn held(&self) -> (usize, usize) {
        (self.spans.load(Relaxed), self.bytes.load(Relaxed))
    }

    /// Whether half of either bound is taken: the reporter should send early.
    pub(crate) fn half_full(&self) -> bool {
        let (spans, bytes) = self.held();
        spans >= self.half_spans || bytes >= self.half_bytes
    }

    /// Whether a reservation that brought the totals to `held` crossed half a bound.
    fn crossed_half(&self, (spans, bytes): (usize, usize), added: (usize, usize)) -> bool {
        (spans >= self.half_spans && spans - added.0 < self.half_spans)
            || (bytes >= self.half_bytes && bytes - added.1 < self.half_bytes)
    }
}

/// A block of slots; `len` of them written, each published by the store of `len`.
struct Block {
    slots: [UnsafeCell<MaybeUninit<CompactRecord>>; BLOCK],
    len: AtomicUsize,
    /// The next block, set once this one is full.
    next: AtomicPtr<Block>,
}

impl Block {
    fn new() -> Box<Block> {
        Box::new(Block {
            slots: std::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
            len: AtomicUsize::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
        })
    }
}

/// Span counts of one lane, each written by the lane's thread alone (a load and a
/// store, no read-modify-write) and read by anyone.
#[derive(Debug, Default)]
pub(crate) struct LaneCounts {
    started: AtomicU64,
    finished: AtomicU64,
    unsampled: AtomicU64,
    dropped: AtomicU64,
}

/// A copy of the counts of lanes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) started: u64,
    pub(crate) finished: u64,
    pub(crate) unsampled: u64,
    pub(crate) dropped: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, other: Counts) {
        self.started += other.started;
        self.finished += other.finished;
        self.unsampled += other.unsampled;
        self.dropped += other.dropped;
    }
}

#[inline]
fn bump(counter: &AtomicU64, ordering: Ordering) {
    counter.store(counter.load(Relaxed) + 1, ordering);
}

impl LaneCounts {
    /// The counts; the outcomes are read before `finished`, so they never exceed it.
    pub(crate) fn read(&self) -> Counts {
        let dropped = self.dropped.load(Acquire);
        let unsampled = self.unsampled.load(Acquire);
        Counts {
            finished: self.finished.load(Relaxed),
            started: self.started.load(Relaxed),
            unsampled,
            dropped,
        }
    }
}

/// The lane's writer state, touched by its thread alone.
struct Writer {
    block: *mut Block,
    /// Room reserved from the admission count and not yet spent.
    credit_spans: usize,
    credit_bytes: usize,
}

/// The lane's reader state, touched by the reporter thread alone.
struct Reader {
    block: *mut Block,
    taken: usize,
}

/// One thread's spans of one tracer.
pub(crate) struct Lane {
    writer: UnsafeCell<Writer>,
    /// The first block, made by the first span finished (a thread that only starts spans,
    /// or only unsampled ones, holds none).
    first: AtomicPtr<Block>,
    /// (Apart from what the lane's thread writes for every span.)
    reader: Padded<UnsafeCell<Reader>>,
    pub(crate) counts: LaneCounts,
    /// The thread exited: nothing more will be written.
    retired: AtomicBool,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("counts", &self.counts)
            .field("retired", &self.retired)
            .finish_non_exhaustive()
    }
}

// SAFETY: `writer` is used only by the lane's own thread (through the thread-local that
// owns the lane, or its destructor), `reader` only by the reporter thread (the one
// `HandoffReceiver`); slots are handed from one to the other by the release store of a
// block's `len` (or `next`) and its acquire load. Everything else is atomic.
unsafe impl Sync for Lane {}
// SAFETY: as above; the raw pointers are to blocks the lane owns.
unsafe impl Send for Lane {}

impl Lane {
    fn new() -> Lane {
        Lane {
            writer: UnsafeCell::new(Writer {
                block: ptr::null_mut(),
                credit_spans: 0,
                credit_bytes: 0,
            }),
            first: AtomicPtr::new(ptr::null_mut()),
            reader: Padded(UnsafeCell::new(Reader {
                block: ptr::null_mut(),
                taken: 0,
            })),
            counts: LaneCounts::default(),
            retired: AtomicBool::new(false),
        }
    }

    /// Counts a span started on this lane's thread.
    #[inline]
    pub(crate) fn count_started(&self) {
        bump(&self.counts.started, Relaxed);
    }

    /// Counts a span of an unsampled trace finished on this lane's thread.
    #[inline]
    pub(crate) fn count_unsampled(&self) {
        bump(&self.counts.finished, Relaxed);
        bump(&self.counts.unsampled, Release);
    }

    /// Takes every published span, in order, recycling the blocks read to the end.
    ///
    /// # Safety
    /// Only the reporter thread (the one `HandoffReceiver`) may call this.
    unsafe fn drain(&self, pool: &Mutex<Vec<Box<Block>>>, take: &mut impl FnMut(CompactRecord)) {
        // SAFETY: the reader state is the reporter's alone (the caller's promise).
        let reader = unsafe { &mut *self.reader.get() };
        if reader.block.is_null() {
            reader.block = self.first.load(Acquire);
            if reader.block.is_null() {
                return;
            }
        }
        loop {
            // SAFETY: the reader's block is alive: only the reader frees blocks, and
            // only once it has moved past them.
            let block = unsafe { &*reader.block };
            let len = block.len.load(Acquire);
            while reader.taken < len {
                let slot = reader.taken;
                reader.taken += 1;
                // SAFETY: slot < len was written and published by the writer (acquire
                // above), and is read once: `taken` has moved past it.
                take(unsafe { (*block.slots[slot].get()).assume_init_read() });
            }
            if len < BLOCK {
                return;
            }
            let next = block.next.load(Acquire);
            if next.is_null() {
                return;
            }
            // SAFETY: the writer moved on to `next` and never touches this block again;
            // every slot of it was taken.
            let done = unsafe { Box::from_raw(reader.block) };
            reader.block = next;
            reader.taken = 0;
            recycle(pool, done);
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        let reader = self.reader.0.get_mut();
        let (mut block, mut taken) = match reader.block.is_null() {
            false => (reader.block, reader.taken),
            true => (*self.first.get_mut(), 0),
        };
        while !block.is_null() {
            // SAFETY: the lane is dropped once both ends are gone; every block from the
            // reader's on is still owned by it, its slots from `taken` to `len` written.
            let mut owned = unsafe { Box::from_raw(block) };
            let len = *owned.len.get_mut();
            for slot in &mut owned.slots[taken..len] {
                // SAFETY: written and never taken.
                unsafe { slot.get_mut().assume_init_drop() };
            }
            block = *owned.next.get_mut();
            taken = 0;
        }
    }
}

fn recycle(pool: &Mutex<Vec<Box<Block>>>, mut block: Box<Block>) {
    *block.len.get_mut() = 0;
    *block.next.get_mut() = ptr::null_mut();
    let mut pool = lock(pool);
    if pool.len() < POOL_BLOCKS {
        pool.push(block);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How the spans of a tracer keep logs (read where spans are written).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogSettings {
    pub(crate) max_logs_per_span: usize,
    pub(crate) drop_span_logs: bool,
}

/// The callers' end of a tracer's hand-off (one per tracer, for the life of the
/// process: lanes and spans refer to it without counting references).
pub(crate) struct Handoff {
    pub(crate) logs: LogSettings,
    pub(crate) admission: Arc<Admission>,
    counters: Arc<Counters>,
    /// Room a lane reserves at a time.
    chunk_spans: usize,
    chunk_bytes: usize,
    /// (These two are written now and then; the fields above are read for every span.)
    side: Padded<Mutex<Vec<CompactRecord>>>,
    pool: Padded<Mutex<Vec<Box<Block>>>>,
    /// Wakes the reporter when half a bound is crossed (it sleeps until its timer
    /// otherwise, so a finished span costs its caller no system call).
    wake: Sender<()>,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("admission", &self.admission)
            .finish_non_exhaustive()
    }
}

/// The reporter's end.
pub(crate) struct HandoffReceiver {
    handoff: &'static Handoff,
    pub(crate) wake: Receiver<()>,
    pub(crate) admission: Arc<Admission>,
    /// The lanes being drained (reused, so a drain allocates nothing).
    scratch: Vec<Arc<Lane>>,
}

/// A hand-off bounded by `max_spans` spans and `max_bytes` bytes. Its callers' end lives
/// as long as the process (spans refer to it without counting references).
pub(crate) fn handoff(
    max_spans: usize,
    max_bytes: usize,
    counters: Arc<Counters>,
    logs: LogSettings,
) -> (&'static Handoff, HandoffReceiver) {
    let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
    let admission = Arc::new(Admission::new(max_spans, max_bytes));
    // Small bounds are counted exactly, a span at a time.
    let chunk_spans = (max_spans / 1024).clamp(1, BLOCK);
    // (A chunk of bytes is room for a chunk of small spans, twice over.)
    let chunk_bytes = if chunk_spans == 1 {
        0
    } else {
        (max_bytes / 1024).min(2 * chunk_spans * std::mem::size_of::<CompactRecord>())
    };
    let handoff: &'static Handoff = Box::leak(Box::new(Handoff {
        logs,
        admission: Arc::clone(&admission),
        counters,
        chunk_spans,
        chunk_bytes,
        side: Padded(Mutex::new(Vec::new())),
        pool: Padded(Mutex::new(Vec::new())),
        wake: wake_tx,
    }));
    let receiver = HandoffReceiver {
        handoff,
        wake: wake_rx,
        admission,
        scratch: Vec::new(),
    };
    (handoff, receiver)
}

thread_local! {
    /// The hand-off this thread used last and its lane there: the fast path.
    static LAST: Cell<(*const Handoff, *const Lane)> =
        const { Cell::new((ptr::null(), ptr::null())) };
    /// Every lane of this thread, retired when it exits.
    static LANES: ThreadLanes = const { ThreadLanes(RefCell::new(Vec::new())) };
}

struct ThreadLanes(RefCell<Vec<(&'static Handoff, Arc<Lane>)>>);

impl Drop for ThreadLanes {
    fn drop(&mut self) {
        let _ = LAST.try_with(|last| last.set((ptr::null(), ptr::null())));
        for (handoff, lane) in self.0.get_mut().drain(..) {
            // SAFETY: this is the lanes' thread, exiting.
            unsafe { handoff.retire(&lane) };
        }
    }
}

impl Handoff {
    /// This thread's lane, made on first use; `None` while the thread's locals are
    /// being torn down.
    #[inline]
    fn lane(&'static self) -> Option<&'static Lane> {
        let (owner, lane) = LAST.get();
        if ptr::eq(owner, self) {
            // SAFETY: `LAST` points at a lane held by this thread's `LANES`, which
            // clears `LAST` before it lets go of its lanes. (The `'static` is a promise
            // kept by callers: the lane is used only within the calling frame.)
            return Some(unsafe { &*lane });
        }
        self.lane_slow()
    }

    #[cold]
    fn lane_slow(&'static self) -> Option<&'static Lane> {
        if self.counters.state() == State::Gone {
            // Its reporter stopped and let go of its lanes: a new one would never be
            // drained (the span is counted on the tracer's own counters).
            return None;
        }
        let lane = LANES
            .try_with(|lanes| {
                let mut lanes = lanes.0.try_borrow_mut().ok()?;
                let lane = match lanes.iter().find(|(owner, _)| ptr::eq(*owner, self)) {
                    Some((_, lane)) => Arc::as_ptr(lane),
                    None => {
                        // Lanes of tracers whose reporter is gone are let go of here.
                        lanes.retain(|(owner, lane)| {
                            let gone = owner.counters.state() == State::Gone;
                            if gone {
                                // SAFETY: this is the lane's thread; it lets go of it.
                                unsafe { owner.retire(lane) };
                            }
                            !gone
                        });
                        let lane = Arc::new(Lane::new());
                        self.counters.register(Arc::clone(&lane));
                        let ptr = Arc::as_ptr(&lane);
                        lanes.push((self, lane));
                        ptr
                    }
                };
                LAST.set((self, lane));
                Some(lane)
            })
            .ok()
            .flatten()?;
        // SAFETY: as in `lane`.
        Some(unsafe { &*lane })
    }

    /// Counts a span started on this thread.
    #[inline]
    pub(crate) fn count_started(&'static self) {
        match self.lane() {
            Some(lane) => lane.count_started(),
            None => self.counters.add_started(),
        }
    }

    /// Counts a span of an unsampled trace finished on this thread.
    #[inline]
    pub(crate) fn count_unsampled(&'static self) {
        match self.lane() {
            Some(lane) => lane.count_unsampled(),
            None => {
                self.counters.add_finished();
                self.counters.add_unsampled();
            }
        }
    }

    /// Counts a span that started but cannot finish (a `span!` tag expression panicked
    /// before its guard existed) as finished and dropped.
    #[cold]
    pub(crate) fn count_lost(&'static self) {
        match self.lane() {
            Some(lane) => {
                bump(&lane.counts.finished, Relaxed);
                bump(&lane.counts.dropped, Release);
            }
            None => {
                self.counters.add_finished();
                self.counters.add_dropped(1);
            }
        }
    }

    /// Hands over the finished span `make` builds, of `bytes`, or counts it dropped (the
    /// tracer is not running, or holds all it may). `make` is called only when the span
    /// is taken: true then. Never blocks.
    #[cfg(test)]
    pub(crate) fn finish(
        &'static self,
        bytes: usize,
        make: impl FnOnce() -> CompactRecord,
    ) -> bool {
        // SAFETY: the closure initialises the slot.
        unsafe {
            self.finish_into(bytes, |slot| {
                slot.write(make());
            })
        }
    }

    /// As `finish`, with `fill` writing the record straight into its slot: a span's
    /// record is written once, where the reporter reads it.
    ///
    /// # Safety
    ///
    /// `fill` must initialise the record it is given.
    #[inline]
    pub(crate) unsafe fn finish_into(
        &'static self,
        bytes: usize,
        fill: impl FnOnce(&mut MaybeUninit<CompactRecord>),
    ) -> bool {
        let Some(lane) = self.lane() else {
            // SAFETY: `fill` initialises the record (this function's contract).
            return self.finish_aside(unsafe { filled(fill) });
        };
        bump(&lane.counts.finished, Relaxed);
        // SAFETY: this is the lane's own thread (it came from this thread's locals).
        let writer = unsafe { &mut *lane.writer.get() };
        let admitted = self.counters.state() == State::Running
            && ((writer.credit_spans > 0 && writer.credit_bytes >= bytes)
                || self.refill(writer, bytes));
        if !admitted {
            bump(&lane.counts.dropped, Release);
            return false;
        }
        writer.credit_spans -= 1;
        writer.credit_bytes -= bytes;
        let block = writer.block;
        // SAFETY: the writer's block, if any, is alive (the reader frees a block only
        // after the writer moved on from it) and only this thread writes it.
        let len = if block.is_null() {
            BLOCK
        } else {
            unsafe { (*block).len.load(Relaxed) }
        };
        if len < BLOCK {
            // SAFETY: as above; slot `len` is unwritten and unpublished (the reader stops
            // at `len`) until `fill` has initialised it.
            unsafe {
                fill(&mut *(*block).slots[len].get());
                (*block).len.store(len + 1, Release);
            }
        } else {
            // SAFETY: `fill` initialises the record (this function's contract).
            self.next_block(lane, writer, unsafe { filled(fill) });
        }
        true
    }

    /// Starts a block with `record`, after the full one (or as the lane's first).
    #[cold]
    fn next_block(&self, lane: &Lane, writer: &mut Writer, record: CompactRecord) {
        let mut next = lock(&self.pool).pop().unwrap_or_else(Block::new);
        next.slots[0].get_mut().write(record);
        *next.len.get_mut() = 1;
        let next = Box::into_raw(next);
        // Publishes the new block with its first span. (The full block is reached through
        // a raw pointer: once `next` is stored, the reader may recycle it.)
        let full = writer.block;
        if full.is_null() {
            lane.first.store(next, Release);
        } else {
            // SAFETY: the full block is alive until this store publishes its successor.
            unsafe { (*full).next.store(next, Release) };
        }
        writer.block = next;
    }

    /// Reserves room for a span of `bytes` (and, while there is plenty, for the next
    /// ones); false when the bounds leave none.
    #[cold]
    fn refill(&self, writer: &mut Writer, bytes: usize) -> bool {
        let need_spans = usize::from(writer.credit_spans == 0);
        let need_bytes = bytes.saturating_sub(writer.credit_bytes);
        // Only what ran out is topped up, so a lane never holds more than a chunk of
        // each (plus one span's bytes).
        let chunk = (
            if need_spans > 0 { self.chunk_spans } else { 0 },
            if need_bytes > 0 {
                self.chunk_bytes.max(need_bytes)
            } else {
                0
            },
        );
        for ask in [chunk, (need_spans, need_bytes)] {
            if let Some(held) = self.admission.reserve(ask.0, ask.1) {
                writer.credit_spans += ask.0;
                writer.credit_bytes += ask.1;
                if self.admission.crossed_half(held, ask) {
                    let _ = self.wake.try_send(());
                }
                return true;
            }
        }
        false
    }

    /// A lane's thread exited: its unspent room goes back, and the reporter may fold it.
    ///
    /// # Safety
    /// Only the lane's own thread may call this, once it writes to the lane no more.
    unsafe fn retire(&self, lane: &Lane) {
        // SAFETY: the caller's promise.
        let writer = unsafe { &mut *lane.writer.get() };
        self.admission
            .release(writer.credit_spans, writer.credit_bytes);
        writer.credit_spans = 0;
        writer.credit_bytes = 0;
        lane.retired.store(true, Release);
    }

    /// A span finished where no lane can be had: through the side queue.
    #[cold]
    fn finish_aside(&self, record: CompactRecord) -> bool {
        self.counters.add_finished();
        let taken = self.push_aside(record);
        if !taken {
            self.counters.add_dropped(1);
        }
        // (Taken or dropped, the record was moved in.)
        true
    }

    /// Hands over a span made elsewhere (a bridge's), already counted finished; false
    /// (and the span is dropped) when the tracer is not running or holds all it may.
    pub(crate) fn push_aside(&self, record: CompactRecord) -> bool {
        if self.counters.state() != State::Running {
            return false;
        }
        let bytes = record.held_bytes();
        let Some(held) = self.admission.reserve(1, bytes) else {
            return false;
        };
        lock(&self.side).push(record);
        if self.admission.crossed_half(held, (1, bytes)) {
            let _ = self.wake.try_send(());
        }
        true
    }
}

impl HandoffReceiver {
    /// Takes every span handed over so far, from every lane and the side queue.
    pub(crate) fn drain(&mut self, mut take: impl FnMut(CompactRecord)) {
        let handoff = self.handoff;
        let aside = std::mem::take(&mut *lock(&handoff.side));
        aside.into_iter().for_each(&mut take);
        handoff.counters.lanes(&mut self.scratch);
        for lane in self.scratch.drain(..) {
            let retired = lane.retired.load(Acquire);
            // SAFETY: this is the one receiver, used by the reporter thread alone.
            unsafe { lane.drain(&handoff.pool, &mut take) };
            if retired {
                // Everything it wrote was visible once `retired` was: it is empty now.
                handoff.counters.fold(&lane);
            }
        }
    }

    /// Frees what the tracer keeps for reuse, when its reporter stops.
    pub(crate) fn release_pool(&self) {
        lock(&self.handoff.pool).clear();
    }

    #[cfg(test)]
    pub(crate) fn handoff(&self) -> &'static Handoff {
        self.handoff
    }
}

/// The record `fill` writes, made on the stack (for the paths that write no lane slot).
///
/// # Safety
///
/// `fill` must initialise the record it is given.
#[cold]
unsafe fn filled(fill: impl FnOnce(&mut MaybeUninit<CompactRecord>)) -> CompactRecord {
    let mut record = MaybeUninit::uninit();
    fill(&mut record);
    // SAFETY: initialised by `fill` (this function's contract).
    unsafe { record.assume_init() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    const LOGS: LogSettings = LogSettings {
        max_logs_per_span: 10,
        drop_span_logs: false,
    };

    fn record(tag_bytes: usize) -> CompactRecord {
        let tags = if tag_bytes > 0 {
            vec![("big".into(), Value::from("x".repeat(tag_bytes)))]
        } else {
            Vec::new()
        };
        CompactRecord::for_tests(2, tags)
    }

    /// Finishes `record` as a span does.
    fn finish(tx: &'static Handoff, record: CompactRecord) {
        tx.finish(record.held_bytes(), || record);
    }

    fn drained(rx: &mut HandoffReceiver) -> Vec<CompactRecord> {
        let mut out = Vec::new();
        rx.drain(|record| out.push(record));
        out
    }

    fn release(rx: &HandoffReceiver, records: &[CompactRecord]) {
        let bytes = records.iter().map(CompactRecord::held_bytes).sum();
        rx.admission.release(records.len(), bytes);
    }

    #[test]
    fn the_bytes_bound_counts_the_strings() {
        let small = record(0).held_bytes();
        let big = record(4096).held_bytes();
        assert!(big >= small + 4096, "{small} {big}");
        let counters = Arc::new(Counters::default());
        let (tx, mut rx) = handoff(1000, 3 * big, Arc::clone(&counters), LOGS);
        for _ in 0..4 {
            finish(tx, record(4096));
        }
        assert_eq!(counters.snapshot().dropped, 1, "a fourth is over the bytes");
        assert_eq!(rx.admission.held(), (3, 3 * big));
        let first = drained(&mut rx);
        assert_eq!(first.len(), 3);
        release(&rx, &first);
        finish(tx, record(4096));
        assert_eq!(drained(&mut rx).len(), 1, "room again");
    }

    #[test]
    fn the_span_bound_holds_and_crossing_half_wakes_the_reporter() {
        let counters = Arc::new(Counters::default());
        let (tx, mut rx) = handoff(4, usize::MAX, Arc::clone(&counters), LOGS);
        finish(tx, record(0));
        assert!(rx.wake.try_recv().is_err(), "no wake below half");
        finish(tx, record(0));
        assert!(rx.wake.try_recv().is_ok(), "woken at half");
        for _ in 0..3 {
            finish(tx, record(0));
        }
        assert!(rx.admission.half_full());
        let stats = counters.snapshot();
        assert_eq!((stats.finished, stats.dropped, stats.pending), (5, 1, 4));
        assert_eq!(drained(&mut rx).len(), 4);
    }

    #[test]
    fn spans_cross_blocks_in_order_and_blocks_are_reused() {
        let counters = Arc::new(Counters::default());
        let (tx, mut rx) = handoff(1_000_000, usize::MAX, Arc::clone(&counters), LOGS);
        for round in 0..3u64 {
            for n in 0..(3 * BLOCK as u64 + 5) {
                finish(
                    tx,
                    CompactRecord::for_tests(round * 1000 + n + 1, Vec::new()),
                );
            }
            let ids: Vec<u64> = drained(&mut rx).iter().map(|r| r.span_id()).collect();
            let want: Vec<u64> = (0..(3 * BLOCK as u64 + 5))
                .map(|n| round * 1000 + n + 1)
                .collect();
            assert_eq!(ids, want);
        }
        assert!(
            !lock(&rx.handoff().pool).is_empty(),
            "emptied blocks are kept"
        );
    }

    #[test]
    fn spans_of_idle_and_exited_threads_are_collected_and_counted() {
        let counters = Arc::new(Counters::default());
        let (tx, mut rx) = handoff(1_000_000, usize::MAX, Arc::clone(&counters), LOGS);
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let idle = std::thread::spawn(move || {
            for _ in 0..10 {
                finish(tx, record(0));
            }
            let _ = wait.recv(); // idle, alive, until told
        });
        let exited = std::thread::spawn(move || {
            for _ in 0..(BLOCK + 7) {
                finish(tx, record(0));
            }
        });
        exited.join().expect("thread");
        // (The idle thread may still be finishing: wait for its ten.)
        let mut got = 0;
        for _ in 0..1000 {
            got += drained(&mut rx).len();
            if got == 10 + BLOCK + 7 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(got, 10 + BLOCK + 7);
        go.send(()).expect("send");
        idle.join().expect("thread");
        drained(&mut rx);
        let stats = counters.snapshot();
        assert_eq!(stats.finished, (10 + BLOCK + 7) as u64);
        assert_eq!(
            counters.live_lanes(),
            0,
            "both lanes folded once retired and drained"
        );
        let (spans, _) = rx.admission.held();
        assert_eq!(
            spans, got,
            "the exited threads' unspent room was given back"
        );
    }

    #[test]
    fn a_span_is_refused_when_the_tracer_is_not_running() {
        let counters = Arc::new(Counters::default());
        let (tx, mut rx) = handoff(10, usize::MAX, Arc::clone(&counters), LOGS);
        counters.set_state(State::Closed);
        finish(tx, record(0));
        assert!(drained(&mut rx).is_empty());
        assert_eq!(counters.snapshot().dropped, 1);
    }

    #[test]
    fn a_busy_lane_keeps_at_most_a_chunk_of_room() {
        let counters = Arc::new(Counters::default());
        let (tx, mut rx) = handoff(200_000, 80 << 20, Arc::clone(&counters), LOGS);
        for _ in 0..150 {
            for _ in 0..1000 {
                finish(tx, record(0));
            }
            let got = drained(&mut rx);
            release(&rx, &got); // delivered
        }
        let (spans, bytes) = rx.admission.held();
        assert!(spans <= tx.chunk_spans, "{spans} spans of room kept");
        assert!(bytes <= tx.chunk_bytes, "{bytes} bytes of room kept");
        assert!(!rx.admission.half_full(), "nothing is held");
    }

    #[test]
    fn big_spans_do_not_pile_up_room_for_spans() {
        let counters = Arc::new(Counters::default());
        let (tx, mut rx) = handoff(4096, 64 << 20, Arc::clone(&counters), LOGS);
        for _ in 0..200 {
            for _ in 0..10 {
                finish(tx, record(70 * 1024));
            }
            let got = drained(&mut rx);
            release(&rx, &got);
        }
        let (spans, _) = rx.admission.held();
        assert!(spans <= tx.chunk_spans, "{spans} spans of room kept");
    }

    #[test]
    fn a_stopped_tracer_gets_no_new_lanes() {
        let counters = Arc::new(Counters::default());
        let (gone, _rx) = handoff(1000, usize::MAX, Arc::clone(&counters), LOGS);
        counters.set_state(State::Gone);
        counters.forget_lanes();
        for _ in 0..100 {
            finish(gone, record(0));
            // Another tracer's first span lets go of the stopped one's lane, if any.
            let (other, _orx) = handoff(1000, usize::MAX, Arc::new(Counters::default()), LOGS);
            finish(other, record(0));
        }
        assert_eq!(counters.live_lanes(), 0);
        let stats = counters.snapshot();
        assert_eq!((stats.finished, stats.dropped), (100, 100));
    }

    #[test]
    fn a_thread_that_only_starts_spans_holds_no_block() {
        let counters = Arc::new(Counters::default());
        let (tx, mut rx) = handoff(1000, usize::MAX, Arc::clone(&counters), LOGS);
        tx.count_started();
        let lanes = {
            let mut lanes = Vec::new();
            counters.lanes(&mut lanes);
            lanes
        };
        assert_eq!(lanes.len(), 1);
        assert!(lanes[0].first.load(Acquire).is_null());
        assert!(drained(&mut rx).is_empty());
        finish(tx, record(0));
        assert!(!lanes[0].first.load(Acquire).is_null());
        assert_eq!(drained(&mut rx).len(), 1);
    }
}
