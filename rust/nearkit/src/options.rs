//! Per-call search options: threads, a filter and parameter values for one call, and how they
//! are handed to the C library (the predicate trampoline and its panic barrier).

use std::any::Any;
use std::cell::Cell;
use std::ffi::{c_void, CString};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use nearkit_sys as sys;

use crate::error::{invalid, Error, Result};

/// Which stored vectors a search may return ([`SearchOptions::filter`]). The search then answers
/// as an index holding only the allowed vectors would: exact kinds return exactly the filtered
/// top-k, approximate kinds keep their recall on that truth and return `min(k, allowed)`
/// neighbours. Range search filters the same way. Everything is borrowed for the call only.
///
/// ```
/// use nearkit::{Filter, Index, Kind, Metric, SearchOptions};
///
/// let index = Index::new(Kind::FLAT, Metric::L2, 1)?;
/// index.add(&[0.0f32, 1.0, 2.0, 3.0])?;
/// let q = [0.0f32];
///
/// // An allow-list of ids (any order, repeats and unknown ids are fine).
/// let r = index.search_with(&q, 2, &SearchOptions::new().filter(Filter::Ids(&[3, 1])))?;
/// assert_eq!(r.query_ids(0), &[1, 3]);
///
/// // A bitmap over ids first .. first + len: bit i (bit i % 8 of byte i / 8) allows first + i.
/// let bits = [0b0000_0110u8]; // ids 1 and 2
/// let bitmap = Filter::Bitmap { first: 0, bits: &bits, len: 8 };
/// assert_eq!(index.search_with(&q, 4, &SearchOptions::new().filter(bitmap))?.query_ids(0),
///            &[1, 2, -1, -1]);
///
/// // Any `Fn(i64) -> bool + Sync`, called from the search's threads.
/// let even = |id: i64| id % 2 == 0;
/// let r = index.search_with(&q, 4, &SearchOptions::new().filter(Filter::Predicate(&even)))?;
/// assert_eq!(r.query_ids(0), &[0, 2, -1, -1]);
/// # Ok::<(), nearkit::Error>(())
/// ```
///
/// Ids and bitmaps are the fast path: the library compiles them into its own lookup. A
/// predicate is called at most once per stored vector and call, concurrently from the search's
/// threads. It must not call into the index it filters (that would deadlock: the search holds
/// the index's lock); doing so panics inside the predicate, which the search reports as an
/// error. A predicate that panics allows nothing more and the search returns
/// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the panic; the panic never
/// unwinds through the C library.
#[derive(Copy, Clone)]
pub enum Filter<'a> {
    /// Only these ids.
    Ids(&'a [i64]),
    /// Id `first + i` is allowed when bit `i` of `bits` is set, for `i < len`; ids outside
    /// `first .. first + len` are not. `bits` must hold at least `len` bits.
    Bitmap {
        /// The id of bit 0.
        first: i64,
        /// The bits, least significant first within each byte.
        bits: &'a [u8],
        /// The number of bits that count.
        len: u64,
    },
    /// Ids for which the function returns true.
    Predicate(&'a (dyn Fn(i64) -> bool + Sync)),
}

impl fmt::Debug for Filter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Ids(ids) => f.debug_tuple("Ids").field(&ids.len()).finish(),
            Filter::Bitmap { first, len, .. } => {
                f.debug_struct("Bitmap").field("first", first).field("len", len).finish()
            }
            Filter::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

impl Filter<'_> {
    fn check(&self) -> Result<()> {
        if let Filter::Bitmap { bits, len, .. } = self {
            let available = (bits.len() as u64).saturating_mul(8);
            if *len > available {
                return Err(invalid(format!(
                    "bitmap filter: len is {len} bits but the slice holds only {available}"
                )));
            }
        }
        Ok(())
    }
}

/// Per-call search options ([`Index::search_with`](crate::Index::search_with),
/// [`Index::range_search_with`](crate::Index::range_search_with)): threads, a [`Filter`] and
/// values of the index's runtime parameters for this call only.
///
/// ```
/// use nearkit::{Filter, SearchOptions};
///
/// let allowed = [1i64, 5, 9];
/// let options = SearchOptions::new()
///     .threads(1)
///     .param("nprobe", 4.0)
///     .filter(Filter::Ids(&allowed));
/// assert_eq!(options.num_threads(), 1);
/// ```
///
/// Parameters set here (`"nprobe"`, mih's `"max_radius"`, ...: an index's settable, non-build
/// parameters) override the index's for this call only, so threads searching one index may each
/// use their own; the library checks names and ranges when the search runs.
#[derive(Clone, Default)]
pub struct SearchOptions<'a> {
    num_threads: u32,
    filter: Option<Filter<'a>>,
    params: Vec<(CString, f64)>,
    error: Option<Error>,
}

impl fmt::Debug for SearchOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchOptions")
            .field("num_threads", &self.num_threads)
            .field("filter", &self.filter)
            .field("params", &self.params)
            .finish()
    }
}

impl<'a> SearchOptions<'a> {
    /// The defaults: the index's own thread count and parameters, no filter.
    pub fn new() -> SearchOptions<'a> {
        SearchOptions::default()
    }

    /// Threads for this batch; 0 (the default) uses the index's `num_threads`.
    pub fn threads(mut self, num_threads: u32) -> SearchOptions<'a> {
        self.num_threads = num_threads;
        self
    }

    /// The thread count set with [`threads`](SearchOptions::threads).
    pub fn num_threads(&self) -> u32 {
        self.num_threads
    }

    /// Considers only the vectors `filter` allows (replacing an earlier filter).
    pub fn filter(mut self, filter: Filter<'a>) -> SearchOptions<'a> {
        self.filter = Some(filter);
        self
    }

    /// A runtime parameter's value for this call, e.g. `.param("nprobe", 16.0)` (replacing an
    /// earlier value of the same name). A name with a NUL byte makes the search fail with
    /// [`InvalidArgument`](crate::ErrorKind::InvalidArgument).
    pub fn param(mut self, name: &str, value: f64) -> SearchOptions<'a> {
        match CString::new(name) {
            Ok(name) => {
                self.params.retain(|(n, _)| *n != name);
                self.params.push((name, value));
            }
            Err(_) => {
                self.error
                    .get_or_insert_with(|| invalid(format!("parameter name {name:?} contains a NUL byte")));
            }
        }
        self
    }

    /// The C form of these options for one call; `None` for all defaults.
    pub(crate) fn prepare<'o>(
        options: Option<&'o SearchOptions<'a>>,
        index: *const sys::nearkit_index,
    ) -> Result<Prepared<'o>> {
        let Some(options) = options else {
            return Ok(Prepared::none());
        };
        if let Some(err) = &options.error {
            return Err(err.clone());
        }
        let params: Vec<sys::nearkit_param_value> = options
            .params
            .iter()
            .map(|(name, value)| sys::nearkit_param_value { name: name.as_ptr(), value: *value })
            .collect();
        let mut predicate = None;
        let filter = match &options.filter {
            None => None,
            Some(filter) => {
                filter.check()?;
                Some(Box::new(raw_filter(filter, index, &mut predicate)))
            }
        };
        let mut raw = sys::nearkit_search_options {
            struct_size: std::mem::size_of::<sys::nearkit_search_options>() as u32,
            num_threads: options.num_threads,
            filter: ptr::null(),
            params: if params.is_empty() { ptr::null() } else { params.as_ptr() },
            n_params: params.len() as u64,
        };
        if let Some(filter) = &filter {
            raw.filter = &**filter;
        }
        Ok(Prepared { raw: Some(raw), _params: params, _filter: filter, predicate })
    }
}

/// The C filter for `filter`; a predicate's state goes into `predicate`, which must outlive the
/// call (the filter's context points at it).
fn raw_filter<'o>(
    filter: &Filter<'o>,
    index: *const sys::nearkit_index,
    predicate: &mut Option<Box<PredicateState<'o>>>,
) -> sys::nearkit_filter {
    let mut raw = sys::nearkit_filter {
        struct_size: std::mem::size_of::<sys::nearkit_filter>() as u32,
        type_: sys::NEARKIT_FILTER_NONE,
        ids: ptr::null(),
        n_ids: 0,
        bitmap: ptr::null(),
        bitmap_first: 0,
        bitmap_bits: 0,
        predicate: None,
        context: ptr::null_mut(),
    };
    match *filter {
        Filter::Ids(ids) => {
            raw.type_ = sys::NEARKIT_FILTER_IDS;
            raw.ids = ids.as_ptr();
            raw.n_ids = ids.len() as u64;
        }
        Filter::Bitmap { first, bits, len } => {
            raw.type_ = sys::NEARKIT_FILTER_BITMAP;
            raw.bitmap = bits.as_ptr();
            raw.bitmap_first = first;
            raw.bitmap_bits = len;
        }
        Filter::Predicate(f) => {
            let state = predicate.insert(Box::new(PredicateState {
                f,
                index,
                panicked: AtomicBool::new(false),
                panic: Mutex::new(None),
            }));
            raw.type_ = sys::NEARKIT_FILTER_PREDICATE;
            raw.predicate = Some(call_predicate);
            raw.context = (&**state as *const PredicateState<'o>).cast_mut().cast::<c_void>();
        }
    }
    raw
}

/// Search options in C form, with everything their pointers reach. The pointed-to data lives in
/// heap allocations owned here (a vector, boxes), so moving this value keeps the pointers valid.
pub(crate) struct Prepared<'o> {
    raw: Option<sys::nearkit_search_options>,
    _params: Vec<sys::nearkit_param_value>,
    _filter: Option<Box<sys::nearkit_filter>>,
    predicate: Option<Box<PredicateState<'o>>>,
}

impl Prepared<'_> {
    fn none() -> Self {
        Prepared { raw: None, _params: Vec::new(), _filter: None, predicate: None }
    }

    /// The options pointer to pass to the C call (NULL for defaults).
    pub(crate) fn as_ptr(&self) -> *const sys::nearkit_search_options {
        self.raw.as_ref().map_or(ptr::null(), |o| o as *const _)
    }

    /// The call's outcome: a panic inside the predicate takes precedence over the C status (the
    /// predicate then allowed nothing, so the result is incomplete).
    pub(crate) fn finish(self, outcome: Result<()>) -> Result<()> {
        if let Some(state) = &self.predicate {
            if state.panicked.load(Ordering::Acquire) {
                let payload = state.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
                return Err(invalid(format!(
                    "the filter predicate panicked: {}",
                    payload.as_deref().map_or("(no message)".into(), panic_message)
                )));
            }
        }
        outcome
    }
}

/// What the trampoline needs: the closure, the index it filters (to refuse re-entry) and the
/// first panic.
struct PredicateState<'o> {
    f: &'o (dyn Fn(i64) -> bool + Sync),
    index: *const sys::nearkit_index,
    panicked: AtomicBool,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

thread_local! {
    /// The index whose filter predicate this thread is running, or NULL.
    static FILTERING: Cell<*const sys::nearkit_index> = const { Cell::new(ptr::null()) };
}

/// Panics when the calling thread is inside a filter predicate of `index`: a call into that
/// index from there would wait for the search that is calling the predicate. The panic is caught
/// by the predicate's trampoline and reported as the search's error.
pub(crate) fn refuse_reentry(index: *const sys::nearkit_index) {
    if FILTERING.with(Cell::get) == index {
        panic!("a filter predicate called into the index it filters (that would deadlock)");
    }
}

/// The C predicate: runs the closure behind a panic barrier (no unwinding into C) with the
/// re-entry guard set; after a panic it allows nothing.
unsafe extern "C" fn call_predicate(context: *mut c_void, id: i64) -> i32 {
    // SAFETY: `context` is the PredicateState set in `raw_filter`, alive for the whole call
    // (owned by the Prepared the caller holds); it is only read here (Sync: atomics, a mutex and
    // a `Sync` closure).
    let state = unsafe { &*(context as *const PredicateState<'_>) };
    if state.panicked.load(Ordering::Relaxed) {
        return 0;
    }
    let outer = FILTERING.with(|f| f.replace(state.index));
    let verdict = catch_unwind(AssertUnwindSafe(|| (state.f)(id)));
    FILTERING.with(|f| f.set(outer));
    match verdict {
        Ok(allowed) => i32::from(allowed),
        Err(payload) => {
            let mut first = state.panic.lock().unwrap_or_else(|e| e.into_inner());
            if first.is_none() {
                *first = Some(payload);
            }
            state.panicked.store(true, Ordering::Release);
            0
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a non-string panic payload)".to_string()
    }
}

/// How [`Index::view_with`](crate::Index::view_with) opens a file.
///
/// ```
/// let options = nearkit::ViewOptions::new().verify(true);
/// assert!(options.verifies());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewOptions {
    verify: bool,
    load_if_unviewable: bool,
}

impl ViewOptions {
    /// The defaults: check the header and section table only.
    pub fn new() -> ViewOptions {
        ViewOptions::default()
    }

    /// `true`: check the file's checksum over every byte and every stored value, as
    /// [`Index::load`](crate::Index::load) does (reads the whole file once). `false` (the
    /// default): the header and section table only, every length bounded by the file.
    pub fn verify(mut self, verify: bool) -> ViewOptions {
        self.verify = verify;
        self
    }

    /// The setting of [`verify`](ViewOptions::verify).
    pub fn verifies(&self) -> bool {
        self.verify
    }

    /// `true`: an index whose layout cannot be used in place (a format version 1 file, saved
    /// before views) is loaded into memory instead of refused with
    /// [`Unsupported`](crate::ErrorKind::Unsupported); the result is then not a view
    /// ([`Index::is_view`](crate::Index::is_view) is `false`; it is writable). Only that case
    /// falls back: a damaged file is still [`Corrupt`](crate::ErrorKind::Corrupt), a missing one
    /// [`Io`](crate::ErrorKind::Io). Default `false`.
    pub fn load_if_unviewable(mut self, load: bool) -> ViewOptions {
        self.load_if_unviewable = load;
        self
    }

    /// The setting of [`load_if_unviewable`](ViewOptions::load_if_unviewable).
    pub fn loads_if_unviewable(&self) -> bool {
        self.load_if_unviewable
    }

    /// The C library's options struct.
    pub(crate) fn to_raw(&self) -> sys::nearkit_view_options {
        sys::nearkit_view_options {
            struct_size: std::mem::size_of::<sys::nearkit_view_options>() as u32,
            verify: i32::from(self.verify),
            load_if_unviewable: i32::from(self.load_if_unviewable),
        }
    }
}

/// How [`ShardedIndex::open_with`](crate::ShardedIndex::open_with) opens a saved collection.
///
/// ```
/// let options = nearkit::ShardedOpenOptions::new().view(true).threads(2);
/// assert!(options.views());
/// assert_eq!(options.num_threads(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardedOpenOptions {
    num_threads: u32,
    view: bool,
}

impl ShardedOpenOptions {
    /// The defaults: every shard loaded, searches on every core.
    pub fn new() -> ShardedOpenOptions {
        ShardedOpenOptions::default()
    }

    /// The threads of a search that sets none (0, the default: every core).
    pub fn threads(mut self, num_threads: u32) -> ShardedOpenOptions {
        self.num_threads = num_threads;
        self
    }

    /// `true`: every shard file is opened as a read-only view (as [`Index::view`](crate::Index::view),
    /// unverified): mapped, so the processes serving one directory share its pages through the
    /// page cache, and opening costs little whatever its size. `false` (the default): loaded.
    pub fn view(mut self, view: bool) -> ShardedOpenOptions {
        self.view = view;
        self
    }

    /// The setting of [`threads`](ShardedOpenOptions::threads).
    pub fn num_threads(&self) -> u32 {
        self.num_threads
    }

    /// The setting of [`view`](ShardedOpenOptions::view).
    pub fn views(&self) -> bool {
        self.view
    }
}
