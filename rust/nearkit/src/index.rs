//! The index: creation, adding, searching, parameters, persistence.

use std::ffi::{c_void, CStr, CString};
use std::fmt;
use std::path::Path;
use std::ptr::{self, NonNull};

use nearkit_sys as sys;

use crate::error::{check, invalid, Error, ErrorKind, Result};
use crate::options::{SearchOptions, ViewOptions};
use crate::results::{RangeResult, SearchResult, StoredVectors, TuneLimits, TuneResult};
use crate::types::{c_string, static_str, Kind, Metric, VectorType};

/// A borrowed batch of vectors, row-major: float vectors as `&[f32]` (`dimension` values each) or
/// binary vectors as `&[u8]` (`dimension / 8` bytes each, least significant bit first). With the
/// `half` feature, float indexes also take `&[half::f16]`, which the library widens to f32 once
/// per call (exactly).
///
/// Every method taking vectors accepts `impl Into<Vectors>`, so slices, vectors and arrays of
/// `f32` or `u8` can be passed directly:
///
/// ```
/// use nearkit::{Index, Kind, Metric};
///
/// let floats = Index::new(Kind::FLAT, Metric::L2, 2)?;
/// let data: Vec<f32> = vec![0.0, 0.0, 1.0, 1.0];
/// floats.add(&data)?;                  // &Vec<f32>
/// floats.add(&[2.0f32, 2.0])?;         // &[f32; 2]
/// floats.add(&data[..2])?;             // &[f32]
/// assert_eq!(floats.len(), 4);
///
/// let bits = Index::new(Kind::FLAT, Metric::HAMMING, 16)?;
/// bits.add(&[0b1010_1010u8, 0xff])?;   // one 16-bit vector
/// # Ok::<(), nearkit::Error>(())
/// ```
#[derive(Copy, Clone, Debug)]
pub enum Vectors<'a> {
    /// Float vectors.
    Float32(&'a [f32]),
    /// Packed binary vectors.
    Binary(&'a [u8]),
    /// Half-precision float vectors (the `half` feature).
    #[cfg(feature = "half")]
    Float16(&'a [half::f16]),
}

impl<'a> Vectors<'a> {
    pub(crate) fn vector_type(&self) -> VectorType {
        match self {
            Vectors::Float32(_) => VectorType::FLOAT32,
            Vectors::Binary(_) => VectorType::BINARY,
            #[cfg(feature = "half")]
            Vectors::Float16(_) => VectorType::FLOAT16,
        }
    }

    fn byte_len(&self) -> usize {
        match self {
            Vectors::Float32(v) => std::mem::size_of_val(*v),
            Vectors::Binary(v) => v.len(),
            #[cfg(feature = "half")]
            Vectors::Float16(v) => std::mem::size_of_val(*v),
        }
    }

    pub(crate) fn as_ptr(&self) -> *const c_void {
        match self {
            Vectors::Float32(v) => v.as_ptr().cast(),
            Vectors::Binary(v) => v.as_ptr().cast(),
            #[cfg(feature = "half")]
            Vectors::Float16(v) => v.as_ptr().cast(),
        }
    }

    fn describe_len(&self) -> String {
        match self {
            Vectors::Float32(v) => format!("{} f32 values", v.len()),
            Vectors::Binary(v) => format!("{} bytes", v.len()),
            #[cfg(feature = "half")]
            Vectors::Float16(v) => format!("{} f16 values", v.len()),
        }
    }
}

#[cfg(feature = "half")]
impl<'a> From<&'a [half::f16]> for Vectors<'a> {
    fn from(v: &'a [half::f16]) -> Self {
        Vectors::Float16(v)
    }
}
#[cfg(feature = "half")]
impl<'a> From<&'a Vec<half::f16>> for Vectors<'a> {
    fn from(v: &'a Vec<half::f16>) -> Self {
        Vectors::Float16(v)
    }
}
#[cfg(feature = "half")]
impl<'a, const N: usize> From<&'a [half::f16; N]> for Vectors<'a> {
    fn from(v: &'a [half::f16; N]) -> Self {
        Vectors::Float16(v)
    }
}

impl<'a> From<&'a [f32]> for Vectors<'a> {
    fn from(v: &'a [f32]) -> Self {
        Vectors::Float32(v)
    }
}
impl<'a> From<&'a mut [f32]> for Vectors<'a> {
    fn from(v: &'a mut [f32]) -> Self {
        Vectors::Float32(v)
    }
}
impl<'a> From<&'a Vec<f32>> for Vectors<'a> {
    fn from(v: &'a Vec<f32>) -> Self {
        Vectors::Float32(v)
    }
}
impl<'a, const N: usize> From<&'a [f32; N]> for Vectors<'a> {
    fn from(v: &'a [f32; N]) -> Self {
        Vectors::Float32(v)
    }
}
impl<'a> From<&'a [u8]> for Vectors<'a> {
    fn from(v: &'a [u8]) -> Self {
        Vectors::Binary(v)
    }
}
impl<'a> From<&'a mut [u8]> for Vectors<'a> {
    fn from(v: &'a mut [u8]) -> Self {
        Vectors::Binary(v)
    }
}
impl<'a> From<&'a Vec<u8>> for Vectors<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Vectors::Binary(v)
    }
}
impl<'a, const N: usize> From<&'a [u8; N]> for Vectors<'a> {
    fn from(v: &'a [u8; N]) -> Self {
        Vectors::Binary(v)
    }
}

/// One named parameter of an index, as the C library describes it ([`Index::params`]).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ParamInfo {
    name: &'static str,
    flags: u32,
    minimum: f64,
    maximum: f64,
    default: f64,
    description: &'static str,
}

impl ParamInfo {
    /// The `i`-th parameter of `index` (`nearkit_index_param_describe`), or `None` past the last.
    fn describe(index: &Index, i: usize) -> Option<ParamInfo> {
        // SAFETY: nearkit_param_info is plain data; an all-zero value is valid (NULL pointers).
        let mut raw: sys::nearkit_param_info = unsafe { std::mem::zeroed() };
        raw.struct_size = std::mem::size_of::<sys::nearkit_param_info>() as u32;
        // SAFETY: `raw` is a valid, writable struct whose struct_size is set; a const call.
        if unsafe { sys::nearkit_index_param_describe(&mut raw, index.ptr(), i) } != sys::NEARKIT_OK {
            return None;
        }
        Some(ParamInfo {
            name: static_str(raw.name)?,
            flags: raw.flags,
            minimum: raw.minimum,
            maximum: raw.maximum,
            default: raw.default_value,
            description: static_str(raw.description).unwrap_or(""),
        })
    }

    /// The parameter's name, e.g. `"num_threads"`, `"nprobe"`, `"leaf_size"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The raw `NEARKIT_PARAM_FLAG_*` bits.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// A statistic: it can be read, never set.
    pub fn is_read_only(&self) -> bool {
        self.flags & sys::NEARKIT_PARAM_FLAG_READ_ONLY != 0
    }

    /// Settable only before training or adding (or at creation, with
    /// [`IndexBuilder::param`]).
    pub fn is_build(&self) -> bool {
        self.flags & sys::NEARKIT_PARAM_FLAG_BUILD != 0
    }

    /// Integer valued.
    pub fn is_integer(&self) -> bool {
        self.flags & sys::NEARKIT_PARAM_FLAG_INTEGER != 0
    }

    /// The runtime setting that trades speed for recall (`nprobe`, `ef_search`, `search_k`):
    /// the one [`Index::tune`] varies.
    pub fn is_recall(&self) -> bool {
        self.flags & sys::NEARKIT_PARAM_FLAG_RECALL != 0
    }

    /// A finer setting under the recall one (the IVF kinds' `max_codes`, 0: no limit), which
    /// [`Index::tune`] sets where one step of the recall setting jumps past the target.
    pub fn is_recall_fine(&self) -> bool {
        self.flags & sys::NEARKIT_PARAM_FLAG_RECALL_FINE != 0
    }

    /// The smallest value [`Index::set_param`] accepts.
    pub fn minimum(&self) -> f64 {
        self.minimum
    }

    /// The largest value [`Index::set_param`] accepts.
    pub fn maximum(&self) -> f64 {
        self.maximum
    }

    /// The value of a new index; `None` for a read-only statistic.
    pub fn default(&self) -> Option<f64> {
        if self.is_read_only() {
            None
        } else {
            Some(self.default)
        }
    }

    /// One line from the library saying what the parameter does (e.g. what 0 means).
    pub fn description(&self) -> &'static str {
        self.description
    }
}

/// Creation options of an index ([`Index::builder`]): threads, seed and kind-specific
/// parameters.
///
/// ```
/// use nearkit::{Index, Kind, Metric};
///
/// let index = Index::builder(Kind::by_name("flat")?, Metric::L2, 16)
///     .threads(1)
///     .seed(7)
///     .build()?;
/// assert_eq!(index.param("num_threads")?, 1.0);
/// # Ok::<(), nearkit::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "an IndexBuilder does nothing until .build() is called"]
pub struct IndexBuilder {
    kind: Kind,
    metric: Metric,
    dimension: usize,
    num_threads: u32,
    seed: u64,
    params: String,
    error: Option<Error>,
}

impl IndexBuilder {
    /// Threads for batch work; 0 (the default) uses every core.
    pub fn threads(mut self, num_threads: u32) -> IndexBuilder {
        self.num_threads = num_threads;
        self
    }

    /// Seed for randomised builds (trees, k-means). Default 42.
    pub fn seed(mut self, seed: u64) -> IndexBuilder {
        self.seed = seed;
        self
    }

    /// A kind-specific build parameter, e.g. `.param("nlist", 1024)` or `.param("leaf_size", 32)`:
    /// the names [`Index::set_param`] accepts. The C library checks names and values when the
    /// index is built; an unknown name gives [`NotFound`](ErrorKind::NotFound).
    pub fn param(mut self, name: &str, value: impl fmt::Display) -> IndexBuilder {
        let value = value.to_string();
        let bad = |s: &str| {
            s.is_empty() || s.contains(|c: char| c == ',' || c == '=' || c == '\0' || c.is_whitespace())
        };
        if self.error.is_none() && (bad(name) || bad(&value)) {
            self.error = Some(invalid(format!(
                "parameter {name:?} = {value:?}: names and values must be non-empty and hold no \
                 commas, '=', whitespace or NUL bytes"
            )));
        }
        if !self.params.is_empty() {
            self.params.push(',');
        }
        self.params.push_str(name);
        self.params.push('=');
        self.params.push_str(&value);
        self
    }

    /// Several build parameters at once, e.g. from a map: `.params([("nlist", 64), ("nprobe", 8)])`
    /// (each as with [`param`](IndexBuilder::param)).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let settings = BTreeMap::from([("num_threads", 1)]);
    /// let index = Index::builder(Kind::FLAT, Metric::L2, 8).params(&settings).build()?;
    /// assert_eq!(index.param("num_threads")?, 1.0);
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    pub fn params<I, K, V>(mut self, params: I) -> IndexBuilder
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: fmt::Display,
    {
        for (name, value) in params {
            self = self.param(name.as_ref(), value);
        }
        self
    }

    /// Creates the index.
    ///
    /// Errors: [`InvalidArgument`](ErrorKind::InvalidArgument) (bad dimension or option value),
    /// [`Unsupported`](ErrorKind::Unsupported) (kind/metric pair not supported, or a library
    /// with another ABI version), [`NotFound`](ErrorKind::NotFound) (unknown kind or parameter),
    /// [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn build(self) -> Result<Index> {
        crate::check_abi()?;
        if let Some(err) = self.error {
            return Err(err);
        }
        let dimension = u32::try_from(self.dimension)
            .map_err(|_| invalid(format!("dimension {} is too large", self.dimension)))?;
        let params = c_string("parameters", &self.params)?;
        let options = sys::nearkit_index_options {
            struct_size: std::mem::size_of::<sys::nearkit_index_options>() as u32,
            num_threads: self.num_threads,
            seed: self.seed,
            params: if self.params.is_empty() { ptr::null() } else { params.as_ptr() },
        };
        let mut raw: *mut sys::nearkit_index = ptr::null_mut();
        // SAFETY: `raw` is a valid place to write; `options` and the string it points to outlive
        // the call.
        check(unsafe {
            sys::nearkit_index_create(&mut raw, self.kind.raw(), self.metric.raw(), dimension, &options)
        })?;
        Index::from_raw(raw)
    }
}

/// A nearest-neighbour index. It owns its C handle and frees it when dropped.
///
/// Every method takes `&self`, writers included (`add`, `remove`, `compact`, `train`, `build`,
/// `set_param`): the C library guards each index with a reader-writer lock, so `Index` is `Send`
/// and `Sync` and one index can be shared (`&Index`, `Arc<Index>`) by threads that search and
/// threads that add or remove at the same time. Searches and other reads run in parallel and never
/// wait for each other; a writer runs alone, waiting for the searches under way, so each search
/// sees the collection before or after a concurrent add or remove, whole, never half of it. No
/// Rust-side lock is needed (or useful). An index cannot be used after it is dropped.
///
/// ```
/// use nearkit::{Index, Kind, Metric};
///
/// // Four 2-d points, queried for their 2 nearest neighbours.
/// let index = Index::builder(Kind::FLAT, Metric::L2, 2).threads(1).build()?;
/// index.add(&[0.0f32, 0.0, 1.0, 0.0, 0.0, 2.0, 3.0, 3.0])?;
/// index.build()?;
/// let result = index.search(&[0.9f32, 0.1], 2)?;
/// assert_eq!(result.query_ids(0), &[1, 0]);
///
/// // Save and load, to a buffer or a file.
/// let bytes = index.to_bytes()?;
/// let copy = Index::from_bytes(&bytes)?;
/// assert_eq!(copy.search(&[0.9f32, 0.1], 2)?, result);
///
/// // Writers and searches on one index from several threads.
/// std::thread::scope(|s| {
///     s.spawn(|| index.add(&[5.0f32, 5.0]).unwrap());
///     s.spawn(|| index.search(&[0.0f32, 0.0], 1).unwrap());
/// });
/// assert_eq!(index.len(), 5);
/// # Ok::<(), nearkit::Error>(())
/// ```
///
/// What the C library forbids does not compile. Using an index after it is dropped:
///
/// ```compile_fail
/// use nearkit::{Index, Kind, Metric};
///
/// let index = Index::new(Kind::FLAT, Metric::L2, 2).unwrap();
/// let view = &index;
/// drop(index); // error: cannot move out of `index` because it is borrowed
/// view.len();
/// ```
///
/// Dropping (freeing) an index other threads still use:
///
/// ```compile_fail
/// use nearkit::{Index, Kind, Metric};
///
/// let index = Index::new(Kind::FLAT, Metric::L2, 2).unwrap();
/// std::thread::scope(|s| {
///     s.spawn(|| index.search(&[0.0f32, 0.0], 1));
///     s.spawn(|| drop(index)); // error: cannot move out of `index` because it is borrowed
/// });
/// ```
pub struct Index {
    raw: NonNull<sys::nearkit_index>,
    /// The bytes a buffer view ([`Index::view_buffer`]) reads in place. A field, so it is dropped
    /// after `Drop::drop` has freed the C index: nothing reads it any more by then.
    viewed: Option<ViewedBytes>,
}

/// The memory under a buffer view: the caller's owner of the bytes, or an aligned copy of them.
enum ViewedBytes {
    Owner(#[allow(dead_code)] Box<dyn AsRef<[u8]> + Send + Sync>), // held, never read again
    Copy(#[allow(dead_code)] AlignedBytes),
}

/// A heap block of `len` bytes at a 64-byte boundary (what the library needs to use a saved
/// index's sections in place), for bytes that arrive elsewhere.
struct AlignedBytes {
    ptr: NonNull<u8>,
    layout: std::alloc::Layout,
}

impl AlignedBytes {
    const ALIGN: usize = 64;

    fn copy_of(bytes: &[u8]) -> Result<AlignedBytes> {
        let layout =
            std::alloc::Layout::from_size_align(bytes.len().max(1), AlignedBytes::ALIGN).map_err(|_| {
                Error::new(ErrorKind::OutOfMemory, "view_buffer: the bytes are too large to copy")
            })?;
        // SAFETY: the layout's size is not zero.
        let ptr = NonNull::new(unsafe { std::alloc::alloc(layout) }).ok_or_else(|| {
            Error::new(ErrorKind::OutOfMemory, "view_buffer: out of memory copying the bytes")
        })?;
        // SAFETY: the block holds at least bytes.len() bytes and does not overlap `bytes`.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr(), bytes.len()) };
        Ok(AlignedBytes { ptr, layout })
    }

    fn as_slice(&self, len: usize) -> &[u8] {
        // SAFETY: `len` bytes were copied in by copy_of (the caller passes that length back).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), len) }
    }
}

impl Drop for AlignedBytes {
    fn drop(&mut self) {
        // SAFETY: allocated in copy_of with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

// SAFETY: an owned heap block, written once before it is shared and only read afterwards.
unsafe impl Send for AlignedBytes {}
// SAFETY: as above: never written through a shared reference.
unsafe impl Sync for AlignedBytes {}

// SAFETY: the C library keeps no thread affinity for an index ("different indexes are
// independent"; errors are thread-local and read on the calling thread right after each call),
// so an index may move between threads.
unsafe impl Send for Index {}
// SAFETY: the header allows every function to run concurrently with every other on one index,
// from any threads (the library's reader-writer lock orders writers and searches), except
// nearkit_index_free, which is reached only through `Drop`, which needs ownership: no borrow, and
// so no other thread's call, can outlive it.
unsafe impl Sync for Index {}

impl Drop for Index {
    fn drop(&mut self) {
        // SAFETY: `raw` is owned by this value and no borrow of it can outlive it.
        unsafe { sys::nearkit_index_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("kind", &self.kind())
            .field("metric", &self.metric())
            .field("vector_type", &self.vector_type())
            .field("dimension", &self.dimension())
            .field("len", &self.len())
            .finish()
    }
}

impl Index {
    /// Starts creating an index of `kind` for `metric` on vectors of `dimension` (floats, or bits
    /// for binary vectors: a multiple of 8). See [`IndexBuilder`].
    pub fn builder(kind: Kind, metric: Metric, dimension: usize) -> IndexBuilder {
        IndexBuilder { kind, metric, dimension, num_threads: 0, seed: 42, params: String::new(), error: None }
    }

    /// Creates an index with default options: `Index::builder(kind, metric, dimension).build()`.
    ///
    /// ```
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::COSINE, 128)?;
    /// assert_eq!((index.dimension(), index.len()), (128, 0));
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    pub fn new(kind: Kind, metric: Metric, dimension: usize) -> Result<Index> {
        Index::builder(kind, metric, dimension).build()
    }

    fn from_raw(raw: *mut sys::nearkit_index) -> Result<Index> {
        NonNull::new(raw)
            .map(|raw| Index { raw, viewed: None })
            .ok_or_else(|| Error::new(ErrorKind::Internal, "nearkit returned success but no index"))
    }

    /// The handle for a call. Every C call goes through here, so a filter predicate calling
    /// back into the index it filters is refused (see [`Filter`](crate::Filter)).
    fn ptr(&self) -> *const sys::nearkit_index {
        crate::options::refuse_reentry(self.raw.as_ptr());
        self.raw.as_ptr()
    }

    /// The handle for a writer call (add, remove, train, build, compact, set_param). The C
    /// library takes the index's write lock inside each of them, so `&self` suffices.
    fn ptr_mut(&self) -> *mut sys::nearkit_index {
        self.ptr().cast_mut()
    }

    /// The owned handle, for a call that takes the index over (a sharded collection's
    /// add_shard); the caller forgets `self` once the call has succeeded. A buffer view's bytes
    /// are then never dropped (leaked with the forgotten value), so they stay valid for as long
    /// as the new owner keeps the index.
    pub(crate) fn owned_ptr(&self) -> *mut sys::nearkit_index {
        self.ptr_mut()
    }

    /// The number of whole vectors in `vectors`, or an error when its length is not a multiple
    /// of this index's vector size.
    fn rows(&self, vectors: &Vectors<'_>, what: &str) -> Result<usize> {
        count_rows(vectors, &Layout::of_index(self.ptr()), what)
    }

    // ---- adding, training, building -----------------------------------------------------------

    /// Adds vectors (copied); they get the ids that continue the insertion order: the i-th
    /// vector ever added gets id i (so `len()`, `len() + 1`, ... while nothing was removed). Kinds that
    /// need training accept vectors before it: [`build`](Index::build) trains and indexes them.
    ///
    /// Errors: [`InvalidArgument`](ErrorKind::InvalidArgument) (a length that is not a whole
    /// number of vectors, the wrong vector type, NaN or infinity),
    /// [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn add<'a>(&self, vectors: impl Into<Vectors<'a>>) -> Result<()> {
        let vectors = vectors.into();
        let n = self.rows(&vectors, "vectors")?;
        // SAFETY: `vectors` holds exactly n vectors of this index's size; a writer, which the library runs
        // alone.
        check(unsafe {
            sys::nearkit_index_add(
                self.ptr_mut(),
                vectors.vector_type().raw(),
                vectors.as_ptr(),
                n as u64,
                ptr::null(),
            )
        })
    }

    /// Adds vectors (copied) with the given ids, one per vector (any value but -1; duplicates
    /// are kept as given).
    ///
    /// ```
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 1)?;
    /// index.add_with_ids(&[1.0f32, 2.0], &[100, 200])?;
    /// assert_eq!(index.search(&[1.9f32], 1)?.query_ids(0), &[200]);
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    ///
    /// Errors: as [`add`](Index::add), and [`InvalidArgument`](ErrorKind::InvalidArgument) when
    /// `ids.len()` differs from the number of vectors or an id is -1.
    pub fn add_with_ids<'a>(&self, vectors: impl Into<Vectors<'a>>, ids: &[i64]) -> Result<()> {
        let vectors = vectors.into();
        let n = self.rows(&vectors, "vectors")?;
        if ids.len() != n {
            return Err(invalid(format!("{} ids given for {n} vectors", ids.len())));
        }
        // SAFETY: as in `add`; `ids` holds n values.
        check(unsafe {
            sys::nearkit_index_add(
                self.ptr_mut(),
                vectors.vector_type().raw(),
                vectors.as_ptr(),
                n as u64,
                ids.as_ptr(),
            )
        })
    }

    /// Trains kinds that learn from data (e.g. IVF centroids) on the given vectors (borrowed for
    /// the call, e.g. a sample), before or after adding; vectors already added are then indexed.
    /// A no-op for kinds that need no training.
    ///
    /// Errors: [`InvalidArgument`](ErrorKind::InvalidArgument) (also for no vectors),
    /// [`State`](ErrorKind::State) (already trained), [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn train<'a>(&self, vectors: impl Into<Vectors<'a>>) -> Result<()> {
        let vectors = vectors.into();
        let n = self.rows(&vectors, "vectors")?;
        // SAFETY: as in `add`.
        check(unsafe {
            sys::nearkit_index_train(self.ptr_mut(), vectors.vector_type().raw(), vectors.as_ptr(), n as u64)
        })
    }

    /// Makes everything added so far searchable: builds trees, and trains on the added vectors
    /// first where the kind needs training and has none. Idempotent; a no-op for kinds that need
    /// no build.
    ///
    /// Errors: [`State`](ErrorKind::State) (nothing to train on),
    /// [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn build(&self) -> Result<()> {
        // SAFETY: a writer, which the library runs alone.
        check(unsafe { sys::nearkit_index_build(self.ptr_mut()) })
    }

    // ---- removing and reading back ------------------------------------------------------------

    /// Removes every stored vector carrying one of `ids` (ids not stored and repeats are
    /// ignored) and returns how many vectors went. Searches, [`len`](Index::len) and saves no
    /// longer see them at once; the kinds reclaim their space as they go, at the latest on
    /// [`compact`](Index::compact). A removed id can be added again; implicit ids
    /// ([`add`](Index::add)) keep counting from the number of vectors ever added, so a removed
    /// implicit id is never given again.
    ///
    /// ```
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 1)?;
    /// index.add_with_ids(&[1.0f32, 2.0, 3.0], &[10, 20, 20])?;
    /// assert_eq!(index.remove(&[20, 99])?, 2); // both vectors with id 20; 99 is not stored
    /// assert_eq!(index.len(), 1);
    /// assert!(!index.contains(20) && index.contains(10));
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    ///
    /// Errors: [`Unsupported`](ErrorKind::Unsupported) (a kind that cannot remove yet),
    /// [`OutOfMemory`](ErrorKind::OutOfMemory) (nothing was removed).
    pub fn remove(&self, ids: &[i64]) -> Result<u64> {
        let mut removed = 0u64;
        // SAFETY: `removed` is a valid place to write; `ids` holds ids.len() values; a writer,
        // which the library runs alone.
        check(unsafe {
            sys::nearkit_index_remove(&mut removed, self.ptr_mut(), ids.as_ptr(), ids.len() as u64)
        })?;
        Ok(removed)
    }

    /// Reads back the stored vectors of `ids`, in order: one row per id, as the index stores it
    /// (cosine: normalised to length 1), with a found flag; an id not stored gets a row of
    /// zeros and `found = false`. Where several vectors carry one id, one of them.
    ///
    /// The result is one flat buffer (see [`StoredVectors`]), as `f32` values for float indexes
    /// and packed bytes for binary ones, so reading many ids allocates twice, not once per id.
    ///
    /// ```
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 2)?;
    /// index.add(&[1.0f32, 2.0, 3.0, 4.0])?;
    /// let got = index.get(&[1, 7])?;
    /// assert_eq!(got.float32(0), Some(&[3.0f32, 4.0][..]));
    /// assert_eq!(got.float32(1), None); // id 7 is not stored
    /// assert_eq!(got.found(), &[true, false]);
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    ///
    /// Errors: [`Unsupported`](ErrorKind::Unsupported) (a kind that cannot read back yet),
    /// [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn get(&self, ids: &[i64]) -> Result<StoredVectors> {
        let n = ids.len();
        let row_bytes = self.vector_bytes();
        let too_many =
            || Error::new(ErrorKind::OutOfMemory, format!("cannot allocate {n} vectors to read back"));
        let total = n.checked_mul(row_bytes).ok_or_else(too_many)?;
        let mut found = vec![0u8; n];
        let binary = self.vector_type() == VectorType::BINARY;
        // Typed storage from the start (no byte-to-f32 copy), zeroed so no uninitialised memory
        // is ever exposed.
        let mut floats: Vec<f32> = Vec::new();
        let mut bytes: Vec<u8> = Vec::new();
        let out: *mut c_void = if binary {
            bytes.try_reserve_exact(total).map_err(|_| too_many())?;
            bytes.resize(total, 0);
            bytes.as_mut_ptr().cast()
        } else {
            floats.try_reserve_exact(total / 4).map_err(|_| too_many())?;
            floats.resize(total / 4, 0.0);
            floats.as_mut_ptr().cast()
        };
        // SAFETY: `out` holds n rows of vector_bytes() bytes, `found` n bytes, `ids` n values; a
        // const call.
        check(unsafe {
            sys::nearkit_index_get(out, found.as_mut_ptr(), self.ptr(), ids.as_ptr(), n as u64)
        })?;
        let found = found.into_iter().map(|f| f != 0).collect();
        Ok(if binary {
            StoredVectors::from_binary(bytes, found, row_bytes)
        } else {
            StoredVectors::from_float32(floats, found, row_bytes / 4)
        })
    }

    /// True when some stored vector carries `id`.
    pub fn contains(&self, id: i64) -> bool {
        // SAFETY: a const call on a live index.
        unsafe { sys::nearkit_index_contains(self.ptr(), id) != 0 }
    }

    /// Reclaims the space of removed vectors and finishes work the kinds defer (trees rebuild
    /// over what was added or removed since their build). Never needed for correct results.
    ///
    /// Errors: [`OutOfMemory`](ErrorKind::OutOfMemory) (the index is unchanged).
    pub fn compact(&self) -> Result<()> {
        // SAFETY: a writer, which the library runs alone.
        check(unsafe { sys::nearkit_index_compact(self.ptr_mut()) })
    }

    // ---- searching ----------------------------------------------------------------------------

    /// The `k` nearest neighbours of each query, using the index's threads for a batch.
    ///
    /// Errors: [`InvalidArgument`](ErrorKind::InvalidArgument) (k = 0, a length that is not a
    /// whole number of vectors, the wrong vector type, NaN or infinity in a query),
    /// [`State`](ErrorKind::State) (not built or trained), [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn search<'a>(&self, queries: impl Into<Vectors<'a>>, k: usize) -> Result<SearchResult> {
        self.search_impl(queries.into(), k, None)
    }

    /// [`search`](Index::search) with per-call options.
    ///
    /// ```
    /// use nearkit::{Index, Kind, Metric, SearchOptions};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::IP, 2)?;
    /// index.add(&[1.0f32, 0.0, 0.0, 1.0])?;
    /// let result = index.search_with(&[0.2f32, 0.8], 1, &SearchOptions::new().threads(1))?;
    /// assert_eq!(result.query_ids(0), &[1]);
    /// assert_eq!(result.query_distances(0), &[-0.8]);
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    pub fn search_with<'a>(
        &self,
        queries: impl Into<Vectors<'a>>,
        k: usize,
        options: &SearchOptions,
    ) -> Result<SearchResult> {
        self.search_impl(queries.into(), k, Some(options))
    }

    fn search_impl(
        &self,
        queries: Vectors<'_>,
        k: usize,
        options: Option<&SearchOptions>,
    ) -> Result<SearchResult> {
        let n = self.rows(&queries, "queries")?;
        let (mut ids, mut distances) = result_buffers(n, k)?;
        self.search_raw(&queries, n, k, &mut ids, &mut distances, options)?;
        Ok(SearchResult::new(ids, distances, n, k))
    }

    /// [`search`](Index::search) into caller-provided buffers of exactly `n * k` entries each
    /// (n = number of queries), for loops that must not allocate. Returns `n`.
    ///
    /// ```
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 1)?;
    /// index.add(&[0.0f32, 1.0, 2.0])?;
    /// let (mut ids, mut distances) = ([0i64; 2], [0f32; 2]);
    /// for q in [0.1f32, 1.9] {
    ///     index.search_into(&[q], 2, &mut ids, &mut distances, None)?;
    ///     assert!(distances[0] <= distances[1]);
    /// }
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    pub fn search_into<'a>(
        &self,
        queries: impl Into<Vectors<'a>>,
        k: usize,
        ids: &mut [i64],
        distances: &mut [f32],
        options: Option<&SearchOptions>,
    ) -> Result<usize> {
        let queries = queries.into();
        let n = self.rows(&queries, "queries")?;
        let len = n.checked_mul(k).ok_or_else(|| too_large(n, k))?;
        if ids.len() != len || distances.len() != len {
            return Err(invalid(format!(
                "result buffers hold {} ids and {} distances; {n} queries with k = {k} need {len} each",
                ids.len(),
                distances.len()
            )));
        }
        self.search_raw(&queries, n, k, ids, distances, options)?;
        Ok(n)
    }

    fn search_raw(
        &self,
        queries: &Vectors<'_>,
        n: usize,
        k: usize,
        ids: &mut [i64],
        distances: &mut [f32],
        options: Option<&SearchOptions>,
    ) -> Result<()> {
        debug_assert!(ids.len() == n * k && distances.len() == n * k);
        let prepared = SearchOptions::prepare(options, self.ptr())?;
        // SAFETY: `queries` holds n vectors of this index's size; `ids` and `distances` hold
        // n * k entries each; `prepared` and what it points to outlive the call; the search is a
        // const call, allowed concurrently with others.
        let outcome = check(unsafe {
            sys::nearkit_index_search(
                ids.as_mut_ptr(),
                distances.as_mut_ptr(),
                self.ptr(),
                queries.vector_type().raw(),
                queries.as_ptr(),
                n as u64,
                k as u64,
                prepared.as_ptr(),
            )
        });
        prepared.finish(outcome)
    }

    // ---- tuning -------------------------------------------------------------------------------

    /// Finds and sets the cheapest value of the index's runtime parameter (`nprobe` for ivf_flat
    /// and ivf_binary, `ef_search` for hnsw) at which searching the sample `queries` reaches
    /// recall@k `>= target_recall`, against the exact neighbours of the index's own vectors
    /// (brute force over a copy of them). Values are tried per call, doubling then bisecting, so
    /// concurrent searches keep the old value until the end. Exact kinds return at once
    /// (`param` `None`, recall 1). Use queries like those the index will serve.
    ///
    /// ```
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 1)?;
    /// index.add(&[0.0f32, 1.0, 2.0])?;
    /// let tuned = index.tune(&[0.4f32], 1, 0.95)?;
    /// assert_eq!((tuned.param, tuned.recall), (None, 1.0));
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    ///
    /// Errors: [`InvalidArgument`](ErrorKind::InvalidArgument) (k = 0, a target outside (0, 1],
    /// no queries, the wrong vector type, NaN or infinity), [`State`](ErrorKind::State) (an empty
    /// index, or one not yet built), [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn tune<'a>(
        &self,
        queries: impl Into<Vectors<'a>>,
        k: usize,
        target_recall: f64,
    ) -> Result<TuneResult> {
        self.tune_with(queries, k, target_recall, &TuneLimits::default())
    }

    /// [`tune`](Index::tune) with limits on threads, values tried and time.
    pub fn tune_with<'a>(
        &self,
        queries: impl Into<Vectors<'a>>,
        k: usize,
        target_recall: f64,
        limits: &TuneLimits,
    ) -> Result<TuneResult> {
        let queries = queries.into();
        let n = self.rows(&queries, "queries")?;
        let options = sys::nearkit_tune_options {
            struct_size: std::mem::size_of::<sys::nearkit_tune_options>() as u32,
            num_threads: limits.threads,
            k: k as u64,
            target_recall,
            max_value: limits.max_value,
            max_seconds: limits.max_seconds,
        };
        let mut result = sys::nearkit_tune_result {
            struct_size: std::mem::size_of::<sys::nearkit_tune_result>() as u32,
            reached: 0,
            param: ptr::null(),
            value: 0.0,
            recall: 0.0,
            qps: 0.0,
            measurements: 0,
            fine_param: ptr::null(),
            fine_value: 0.0,
        };
        // SAFETY: `queries` holds n vectors of this index's size; `result` and `options` are
        // valid structs of their sizes; the call searches and then sets a parameter as a writer,
        // which the library orders against other calls.
        check(unsafe {
            sys::nearkit_index_tune(
                &mut result,
                self.ptr_mut(),
                queries.vector_type().raw(),
                queries.as_ptr(),
                n as u64,
                &options,
            )
        })?;
        Ok(TuneResult {
            param: static_str(result.param),
            value: result.value,
            recall: result.recall,
            qps: result.qps,
            reached: result.reached != 0,
            measurements: result.measurements,
            fine_param: static_str(result.fine_param),
            fine_value: result.fine_value,
        })
    }

    /// For each query, every stored vector at distance `<= radius`, nearest first.
    ///
    /// Errors: as [`search`](Index::search), and [`InvalidArgument`](ErrorKind::InvalidArgument)
    /// for a NaN radius.
    pub fn range_search<'a>(&self, queries: impl Into<Vectors<'a>>, radius: f32) -> Result<RangeResult> {
        self.range_impl(queries.into(), radius, None)
    }

    /// [`range_search`](Index::range_search) with per-call options.
    pub fn range_search_with<'a>(
        &self,
        queries: impl Into<Vectors<'a>>,
        radius: f32,
        options: &SearchOptions,
    ) -> Result<RangeResult> {
        self.range_impl(queries.into(), radius, Some(options))
    }

    fn range_impl(
        &self,
        queries: Vectors<'_>,
        radius: f32,
        options: Option<&SearchOptions>,
    ) -> Result<RangeResult> {
        let n = self.rows(&queries, "queries")?;
        let prepared = SearchOptions::prepare(options, self.ptr())?;
        let mut raw: *mut sys::nearkit_range_result = ptr::null_mut();
        // SAFETY: `raw` is a valid place to write; `queries` holds n vectors of this index's
        // size; `prepared` and what it points to outlive the call; a const call.
        let outcome = check(unsafe {
            sys::nearkit_index_range_search(
                &mut raw,
                self.ptr(),
                queries.vector_type().raw(),
                queries.as_ptr(),
                n as u64,
                radius,
                prepared.as_ptr(),
            )
        });
        // Owned first, so a result is freed even when the predicate's panic turns it into an error.
        let result = RawRange(raw);
        prepared.finish(outcome)?;
        result.to_owned(n)
    }

    // ---- introspection ------------------------------------------------------------------------

    /// The index kind.
    pub fn kind(&self) -> Kind {
        // SAFETY: a const call on a live index.
        Kind::from_raw(unsafe { sys::nearkit_index_kind(self.ptr()) })
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        // SAFETY: a const call on a live index.
        Metric::from_raw(unsafe { sys::nearkit_index_metric(self.ptr()) })
    }

    /// The vector type: [`VectorType::BINARY`] for Hamming, else [`VectorType::FLOAT32`].
    pub fn vector_type(&self) -> VectorType {
        // SAFETY: a const call on a live index.
        VectorType::from_raw(unsafe { sys::nearkit_index_vector_type(self.ptr()) })
    }

    /// The dimension given at creation (bits for binary vectors).
    pub fn dimension(&self) -> usize {
        // SAFETY: a const call on a live index.
        unsafe { sys::nearkit_index_dimension(self.ptr()) as usize }
    }

    /// Bytes one vector occupies on input: `dimension * 4` (float) or `dimension / 8` (binary).
    pub fn vector_bytes(&self) -> usize {
        // SAFETY: a const call on a live index.
        unsafe { sys::nearkit_index_vector_bytes(self.ptr()) as usize }
    }

    /// The number of vectors stored.
    pub fn len(&self) -> usize {
        // SAFETY: a const call on a live index.
        unsafe { sys::nearkit_index_count(self.ptr()) as usize }
    }

    /// True when no vector is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap memory the index holds, in bytes.
    pub fn memory_bytes(&self) -> u64 {
        // SAFETY: a const call on a live index.
        unsafe { sys::nearkit_index_memory_bytes(self.ptr()) }
    }

    /// True when the index can be searched (trained and built as its kind needs).
    pub fn is_ready(&self) -> bool {
        // SAFETY: a const call on a live index.
        unsafe { sys::nearkit_index_is_ready(self.ptr()) != 0 }
    }

    /// A human-readable description: kind, metric, sizes, parameters, and for trees their top
    /// levels.
    pub fn describe(&self) -> Result<String> {
        let mut raw: *mut std::os::raw::c_char = ptr::null_mut();
        // SAFETY: `raw` is a valid place to write; a const call.
        check(unsafe { sys::nearkit_index_describe(&mut raw, self.ptr()) })?;
        if raw.is_null() {
            return Err(Error::new(ErrorKind::Internal, "nearkit returned success but no description"));
        }
        // SAFETY: on success `raw` is a NUL-terminated string we own, freed right after copying.
        let text = unsafe { CStr::from_ptr(raw) }.to_string_lossy().into_owned();
        // SAFETY: `raw` came from nearkit_index_describe and is freed once.
        unsafe { sys::nearkit_string_free(raw) };
        Ok(text)
    }

    // ---- named parameters ---------------------------------------------------------------------

    /// The index's named parameters (settings such as `"num_threads"`, `"nprobe"`, and read-only
    /// statistics such as `"depth"`), each with its range, default and a one-line description.
    ///
    /// ```
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 8)?;
    /// for p in index.params() {
    ///     println!("{} = {} in [{}, {}]: {}", p.name(), index.param(p.name())?, p.minimum(),
    ///              p.maximum(), p.description());
    /// }
    /// let threads = index.params().into_iter().find(|p| p.name() == "num_threads").unwrap();
    /// assert!(threads.is_integer() && !threads.is_read_only());
    /// assert_eq!(threads.default(), Some(index.param("num_threads")?));
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    pub fn params(&self) -> Vec<ParamInfo> {
        // SAFETY: a const call on a live index.
        let count = unsafe { sys::nearkit_index_param_count(self.ptr()) };
        (0..count).filter_map(|i| ParamInfo::describe(self, i)).collect()
    }

    /// Reads a named parameter.
    ///
    /// Errors: [`NotFound`](ErrorKind::NotFound) for an unknown name.
    pub fn param(&self, name: &str) -> Result<f64> {
        let name = c_string("parameter name", name)?;
        let mut value = 0f64;
        // SAFETY: `value` is a valid place to write; `name` is NUL-terminated; a const call.
        check(unsafe { sys::nearkit_index_get_param(&mut value, self.ptr(), name.as_ptr()) })?;
        Ok(value)
    }

    /// Sets a named parameter.
    ///
    /// ```
    /// use nearkit::{ErrorKind, Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 8)?;
    /// index.set_param("num_threads", 2.0)?;
    /// assert_eq!(index.param("num_threads")?, 2.0);
    /// assert_eq!(index.set_param("no_such_param", 1.0).unwrap_err().kind(), ErrorKind::NotFound);
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    ///
    /// Errors: [`InvalidArgument`](ErrorKind::InvalidArgument) (NaN, out of range, not an
    /// integer where one is needed, read-only), [`NotFound`](ErrorKind::NotFound),
    /// [`State`](ErrorKind::State) (a build parameter after training or adding).
    pub fn set_param(&self, name: &str, value: f64) -> Result<()> {
        let name = c_string("parameter name", name)?;
        // SAFETY: `name` is NUL-terminated; a writer, which the library runs alone.
        check(unsafe { sys::nearkit_index_set_param(self.ptr_mut(), name.as_ptr(), value) })
    }

    // ---- persistence --------------------------------------------------------------------------

    /// Writes the index to a file (replaced if it exists), in the format every nearkit language
    /// reads.
    ///
    /// ```
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 2)?;
    /// index.add(&[1.0f32, 2.0])?;
    /// let path = std::env::temp_dir().join(format!("nearkit-doc-{}.nkx", std::process::id()));
    /// index.save(&path)?;
    /// let loaded = Index::load(&path)?;
    /// assert_eq!(loaded.len(), 1);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    ///
    /// Errors: [`Io`](ErrorKind::Io), [`InvalidArgument`](ErrorKind::InvalidArgument) (a path
    /// with a NUL byte), [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path_to_c(path.as_ref())?;
        // SAFETY: `path` is NUL-terminated; a const call.
        check(unsafe { sys::nearkit_index_save(self.ptr(), path.as_ptr()) })
    }

    /// Reads an index from a file written by any nearkit language or the `nearkit` command.
    ///
    /// Errors: [`Io`](ErrorKind::Io), [`Corrupt`](ErrorKind::Corrupt) (truncated, corrupted or
    /// foreign file), [`Unsupported`](ErrorKind::Unsupported) (a newer format version),
    /// [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn load(path: impl AsRef<Path>) -> Result<Index> {
        crate::check_abi()?;
        let path = path_to_c(path.as_ref())?;
        let mut raw: *mut sys::nearkit_index = ptr::null_mut();
        // SAFETY: `raw` is a valid place to write; `path` is NUL-terminated.
        check(unsafe { sys::nearkit_index_load(&mut raw, path.as_ptr()) })?;
        Index::from_raw(raw)
    }

    /// Serialises the index into bytes (the file format of [`save`](Index::save)).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut size = 0usize;
        // SAFETY: both outputs are valid places to write; a const call.
        check(unsafe { sys::nearkit_index_save_to_buffer(&mut data, &mut size, self.ptr()) })?;
        if data.is_null() {
            return Err(Error::new(ErrorKind::Internal, "nearkit returned success but no buffer"));
        }
        // SAFETY: on success `data` points to `size` bytes we own; they are copied, then freed
        // once.
        let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) }.to_vec();
        // SAFETY: `data` came from nearkit_index_save_to_buffer.
        unsafe { sys::nearkit_buffer_free(data) };
        Ok(bytes)
    }

    /// Reads an index from bytes made by [`to_bytes`](Index::to_bytes) (or a file's contents).
    ///
    /// Errors: as [`load`](Index::load).
    pub fn from_bytes(bytes: &[u8]) -> Result<Index> {
        crate::check_abi()?;
        let mut raw: *mut sys::nearkit_index = ptr::null_mut();
        // SAFETY: `raw` is a valid place to write; `bytes` is readable for its length.
        check(unsafe { sys::nearkit_index_load_from_buffer(&mut raw, bytes.as_ptr().cast(), bytes.len()) })?;
        Index::from_raw(raw)
    }

    /// Opens a read-only view of an index file: the file is mapped (shared through the page
    /// cache with every other process viewing it) and its stored vectors and ids are searched in
    /// place instead of being read into this process's memory (what a kind derives from them is
    /// built in memory: the file format's documentation lists it per kind). Opening checks the
    /// header and section table, not every byte; [`view_with`](Index::view_with) can verify the
    /// whole file first.
    ///
    /// A view searches like a loaded index and its runtime parameters (`nprobe`, `ef_search`, ...)
    /// stay settable, but every write (add, remove, train, build, compact, a build parameter)
    /// fails with [`State`](ErrorKind::State); [`try_clone`](Index::try_clone) gives a writable
    /// in-memory index. The mapping lives until the view is dropped: do not truncate or rewrite
    /// the file in place meanwhile ([`save`](Index::save) renames a new file over the old one,
    /// which a view survives: it keeps the old file).
    ///
    /// ```
    /// use nearkit::{ErrorKind, Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 2)?;
    /// index.add(&[0.0f32, 0.0, 1.0, 0.0, 0.0, 2.0])?;
    /// let path = std::env::temp_dir().join(format!("nearkit-view-doc-{}.nkx", std::process::id()));
    /// index.save(&path)?;
    ///
    /// let view = Index::view(&path)?;
    /// assert!(view.is_view());
    /// assert_eq!(view.search(&[0.9f32, 0.1], 2)?, index.search(&[0.9f32, 0.1], 2)?);
    /// assert_eq!(view.add(&[5.0f32, 5.0]).unwrap_err().kind(), ErrorKind::State);
    ///
    /// let writable = view.try_clone()?; // an ordinary in-memory index
    /// writable.add(&[5.0f32, 5.0])?;
    /// assert_eq!((writable.len(), view.len()), (4, 3));
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    ///
    /// Errors: [`Io`](ErrorKind::Io) (missing, not a regular file, cannot be mapped),
    /// [`Corrupt`](ErrorKind::Corrupt) (truncated, corrupted or foreign file),
    /// [`Unsupported`](ErrorKind::Unsupported) (a newer format version, or a format version 1
    /// file whose layout cannot be used in place: the message says to save it again),
    /// [`InvalidArgument`](ErrorKind::InvalidArgument) (a path with a NUL byte),
    /// [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn view(path: impl AsRef<Path>) -> Result<Index> {
        Index::view_with(path, &ViewOptions::new())
    }

    /// [`view`](Index::view) with options: `ViewOptions::new().verify(true)` checks the whole
    /// file (its checksum and every stored value) as [`load`](Index::load) does before the view
    /// is returned.
    ///
    /// Errors: as [`view`](Index::view).
    pub fn view_with(path: impl AsRef<Path>, options: &ViewOptions) -> Result<Index> {
        crate::check_abi()?;
        let path = path_to_c(path.as_ref())?;
        let options = options.to_raw();
        let mut raw: *mut sys::nearkit_index = ptr::null_mut();
        // SAFETY: `raw` is a valid place to write; `path` is NUL-terminated; `options` outlives
        // the call.
        check(unsafe { sys::nearkit_index_view(&mut raw, path.as_ptr(), &options) })?;
        Index::from_raw(raw)
    }

    /// A read-only view of a saved index's bytes in memory (what [`to_bytes`](Index::to_bytes) or
    /// [`save`](Index::save) wrote): the index takes `bytes` over (a `Vec<u8>`, `Box<[u8]>`,
    /// `Arc<[u8]>`, a memory map type, ...) and keeps it until it is dropped, searching it in
    /// place.
    ///
    /// The library uses a saved index's sections in place only when the bytes start at a 64-byte
    /// boundary (a memory map always does). Bytes elsewhere (a `Vec<u8>` usually is) are copied
    /// once into an aligned block the index owns instead, and `bytes` is dropped: still a view
    /// (read-only, no derived structure rebuilt beyond a view's), but holding a copy of the bytes.
    /// A format version 1 image cannot be viewed ([`Unsupported`](ErrorKind::Unsupported)) unless
    /// [`ViewOptions::load_if_unviewable`] loads it.
    ///
    /// ```
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 2)?;
    /// index.add(&[0.0f32, 0.0, 1.0, 0.0])?;
    /// let view = Index::view_buffer(index.to_bytes()?)?;
    /// assert!(view.is_view());
    /// assert_eq!(view.search(&[0.9f32, 0.1], 1)?, index.search(&[0.9f32, 0.1], 1)?);
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    ///
    /// Errors: [`Corrupt`](ErrorKind::Corrupt), [`Unsupported`](ErrorKind::Unsupported) (a newer
    /// format version, a format version 1 image), [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn view_buffer<B>(bytes: B) -> Result<Index>
    where
        B: AsRef<[u8]> + Send + Sync + 'static,
    {
        Index::view_buffer_with(bytes, &ViewOptions::new())
    }

    /// [`view_buffer`](Index::view_buffer) with options (verify, load_if_unviewable).
    ///
    /// Errors: as [`view_buffer`](Index::view_buffer).
    pub fn view_buffer_with<B>(bytes: B, options: &ViewOptions) -> Result<Index>
    where
        B: AsRef<[u8]> + Send + Sync + 'static,
    {
        crate::check_abi()?;
        // Boxed before the bytes are looked at: a type holding them inline (an array) would
        // move them with itself; on the heap they stay put for as long as the box lives.
        let owner: Box<dyn AsRef<[u8]> + Send + Sync> = Box::new(bytes);
        let (ptr, len) = {
            let slice = (*owner).as_ref();
            (slice.as_ptr(), slice.len())
        };
        let viewed = if (ptr as usize) % AlignedBytes::ALIGN == 0 {
            ViewedBytes::Owner(owner)
        } else {
            // SAFETY: `ptr`/`len` came from the owner's slice, which is alive here.
            let copy = AlignedBytes::copy_of(unsafe { std::slice::from_raw_parts(ptr, len) })?;
            drop(owner);
            ViewedBytes::Copy(copy)
        };
        let data = match &viewed {
            ViewedBytes::Owner(owner) => (**owner).as_ref().as_ptr(),
            ViewedBytes::Copy(copy) => copy.as_slice(len).as_ptr(),
        };
        let options = options.to_raw();
        let mut raw: *mut sys::nearkit_index = ptr::null_mut();
        // SAFETY: `raw` is a valid place to write; `data` is readable for `len` bytes and stays
        // so, unchanged, until the index is dropped (it owns `viewed`, dropped after the C index:
        // see the field); `options` outlives the call.
        check(unsafe { sys::nearkit_index_view_buffer(&mut raw, data.cast(), len, &options) })?;
        let mut index = Index::from_raw(raw)?;
        if index.is_view() {
            index.viewed = Some(viewed); // a load (load_if_unviewable) owns its copy instead
        }
        Ok(index)
    }

    /// Whether this index is a read-only view of a file ([`view`](Index::view)).
    pub fn is_view(&self) -> bool {
        // SAFETY: a const call on a live index.
        unsafe { sys::nearkit_index_is_view(self.ptr()) != 0 }
    }

    /// A new, writable in-memory index equal to this one (a view or not): the same kind,
    /// parameters, vectors and ids, giving the same answers; independent of it afterwards.
    ///
    /// Errors: [`OutOfMemory`](ErrorKind::OutOfMemory).
    #[doc(alias = "copy")]
    pub fn try_clone(&self) -> Result<Index> {
        let mut raw: *mut sys::nearkit_index = ptr::null_mut();
        // SAFETY: `raw` is a valid place to write; a const call on a live index.
        check(unsafe { sys::nearkit_index_copy(&mut raw, self.ptr()) })?;
        Index::from_raw(raw)
    }
}

/// What the vectors of an index (or of a sharded collection's shards) look like.
pub(crate) struct Layout {
    pub(crate) vector_type: VectorType,
    pub(crate) dimension: usize,
    pub(crate) vector_bytes: usize,
}

impl Layout {
    /// The layout of a live index.
    pub(crate) fn of_index(index: *const sys::nearkit_index) -> Layout {
        // SAFETY: const calls on a live index (the caller's).
        unsafe {
            Layout {
                vector_type: VectorType::from_raw(sys::nearkit_index_vector_type(index)),
                dimension: sys::nearkit_index_dimension(index) as usize,
                vector_bytes: sys::nearkit_index_vector_bytes(index) as usize,
            }
        }
    }
}

/// The number of whole vectors of `layout` in `vectors`, or an error when its length is not a
/// multiple of their size.
pub(crate) fn count_rows(vectors: &Vectors<'_>, layout: &Layout, what: &str) -> Result<usize> {
    let vector_bytes = match vectors {
        // halves: 2 bytes a dimension (a binary index refuses them in the library)
        #[cfg(feature = "half")]
        Vectors::Float16(_) => 2 * layout.dimension,
        _ => layout.vector_bytes,
    };
    let bytes = vectors.byte_len();
    if vector_bytes == 0 || bytes % vector_bytes != 0 {
        let unit = match vectors {
            Vectors::Float32(_) => format!("{} f32 values", vector_bytes / 4),
            Vectors::Binary(_) => format!("{vector_bytes} bytes"),
            #[cfg(feature = "half")]
            Vectors::Float16(_) => format!("{} f16 values", vector_bytes / 2),
        };
        return Err(invalid(format!(
            "{what} hold {}, which is not a whole number of vectors of {unit} (dimension {} of a \
             {} index)",
            vectors.describe_len(),
            layout.dimension,
            layout.vector_type
        )));
    }
    Ok(bytes / vector_bytes)
}

/// Result buffers of n x k entries, padded, or an OutOfMemory error.
pub(crate) fn result_buffers(n: usize, k: usize) -> Result<(Vec<i64>, Vec<f32>)> {
    let len = n.checked_mul(k).ok_or_else(|| too_large(n, k))?;
    let mut ids: Vec<i64> = Vec::new();
    let mut distances: Vec<f32> = Vec::new();
    ids.try_reserve_exact(len).map_err(|_| too_large(n, k))?;
    distances.try_reserve_exact(len).map_err(|_| too_large(n, k))?;
    ids.resize(len, -1);
    distances.resize(len, f32::INFINITY);
    Ok((ids, distances))
}

fn too_large(n: usize, k: usize) -> Error {
    Error::new(ErrorKind::OutOfMemory, format!("cannot allocate results for {n} queries with k = {k}"))
}

pub(crate) fn path_to_c(path: &Path) -> Result<CString> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = path
        .to_str()
        .ok_or_else(|| invalid(format!("path {} is not valid Unicode", path.display())))?
        .as_bytes()
        .to_vec();
    CString::new(bytes).map_err(|_| invalid(format!("path {:?} contains a NUL byte", path)))
}

/// A range result owned by the C library, freed on drop.
struct RawRange(*mut sys::nearkit_range_result);

impl Drop for RawRange {
    fn drop(&mut self) {
        // SAFETY: the pointer came from nearkit_index_range_search (or is NULL) and is freed once.
        unsafe { sys::nearkit_range_result_free(self.0) }
    }
}

impl RawRange {
    /// Copies the C result into owned vectors, checking its shape.
    fn to_owned(&self, n: usize) -> Result<RangeResult> {
        let broken = |what: &str| Error::new(ErrorKind::Internal, format!("malformed range result: {what}"));
        if self.0.is_null() {
            return Err(broken("NULL"));
        }
        // SAFETY: a live result.
        let count = unsafe { sys::nearkit_range_result_query_count(self.0) };
        if count != n as u64 {
            return Err(broken("wrong query count"));
        }
        let mut offsets: *const u64 = ptr::null();
        let mut ids: *const i64 = ptr::null();
        let mut distances: *const f32 = ptr::null();
        // SAFETY: all outputs are valid places to write; a live result.
        check(unsafe { sys::nearkit_range_result_get(&mut offsets, &mut ids, &mut distances, self.0) })?;
        if offsets.is_null() {
            return Err(broken("no offsets"));
        }
        // SAFETY: the result holds query_count + 1 offsets; they stay valid until it is freed.
        let offsets = unsafe { std::slice::from_raw_parts(offsets, n + 1) };
        if offsets[0] != 0 || offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(broken("offsets not increasing from 0"));
        }
        let total = usize::try_from(offsets[n]).map_err(|_| broken("too many matches"))?;
        let (ids, distances) = if total == 0 {
            (Vec::new(), Vec::new())
        } else {
            if ids.is_null() || distances.is_null() {
                return Err(broken("no ids or distances"));
            }
            // SAFETY: the result holds offsets[n] ids and distances, valid until it is freed.
            unsafe {
                (
                    std::slice::from_raw_parts(ids, total).to_vec(),
                    std::slice::from_raw_parts(distances, total).to_vec(),
                )
            }
        };
        let offsets = offsets.iter().map(|&o| o as usize).collect();
        Ok(RangeResult::new(offsets, ids, distances))
    }
}
