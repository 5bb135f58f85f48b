//! Sharded collections (`nearkit_sharded_*`, experimental in the C library): indexes searched as
//! one, their per-shard top k merged by the library.

use std::fmt;
use std::mem::ManuallyDrop;
use std::path::Path;
use std::ptr::{self, NonNull};

use nearkit_sys as sys;

use crate::error::{check, Error, ErrorKind, Result};
use crate::index::{count_rows, path_to_c, result_buffers, Index, Layout, Vectors};
use crate::options::{SearchOptions, ShardedOpenOptions};
use crate::results::SearchResult;
use crate::types::{Metric, VectorType};

/// Indexes (shards) of any kind searched as one collection: every search runs on each shard and
/// the library merges their top k, so flat shards answer exactly as one flat index over the union
/// (ids, distances, and equal distances by smaller id). Ids are global: each vector keeps the id
/// it has in its shard, so keep them unique across shards. Every shard has the first one's metric,
/// dimension and vector type.
///
/// On disk a collection is a directory ([`save`](ShardedIndex::save)): one index file per shard
/// and `manifest.json`, which every nearkit package opens ([`open`](ShardedIndex::open)).
///
/// ```
/// use nearkit::{Index, Kind, Metric, ShardedIndex};
///
/// let (a, b) = (Index::new(Kind::FLAT, Metric::L2, 1)?, Index::new(Kind::FLAT, Metric::L2, 1)?);
/// a.add_with_ids(&[0.0f32, 2.0], &[10, 12])?;
/// b.add_with_ids(&[1.0f32, 3.0], &[11, 13])?;
/// let mut shards = ShardedIndex::new()?;
/// shards.add_shard(a)?; // the collection owns the index from here on
/// shards.add_shard(b)?;
/// assert_eq!((shards.shard_count(), shards.len()), (2, 4));
/// assert_eq!(shards.search(&[1.2f32], 2)?.query_ids(0), &[11, 12]);
/// # Ok::<(), nearkit::Error>(())
/// ```
///
/// Searches take `&self` and may run from many threads at once (`ShardedIndex` is `Send` and
/// `Sync`); [`add_shard`](ShardedIndex::add_shard) takes `&mut self`, so a collection is built,
/// then shared.
pub struct ShardedIndex {
    raw: NonNull<sys::nearkit_sharded>,
}

// SAFETY: the collection keeps no thread affinity; errors are thread-local and read on the
// calling thread right after each call.
unsafe impl Send for ShardedIndex {}
// SAFETY: the header makes a collection as thread-safe as an index: searches, saves and
// introspection run concurrently (add_shard, a writer, needs `&mut self` here), and
// nearkit_sharded_free is reached only through `Drop`, which needs ownership.
unsafe impl Sync for ShardedIndex {}

impl Drop for ShardedIndex {
    fn drop(&mut self) {
        // SAFETY: `raw` is owned by this value; freeing it frees every shard it took over.
        unsafe { sys::nearkit_sharded_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for ShardedIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedIndex")
            .field("shard_count", &self.shard_count())
            .field("metric", &self.metric())
            .field("dimension", &self.dimension())
            .field("len", &self.len())
            .finish()
    }
}

impl ShardedIndex {
    /// An empty collection whose searches use every core (see [`with_threads`](Self::with_threads)).
    pub fn new() -> Result<ShardedIndex> {
        ShardedIndex::with_threads(0)
    }

    /// An empty collection whose searches use `num_threads` threads when a call sets none
    /// (0: every core).
    pub fn with_threads(num_threads: u32) -> Result<ShardedIndex> {
        crate::check_abi()?;
        let options = sharded_options(num_threads);
        let mut raw: *mut sys::nearkit_sharded = ptr::null_mut();
        // SAFETY: `raw` is a valid place to write; `options` is initialised.
        check(unsafe { sys::nearkit_sharded_create(&mut raw, &options) })?;
        ShardedIndex::from_raw(raw)
    }

    /// Opens the collection [`save`](Self::save) wrote in the directory `path` (here or in any
    /// other nearkit package), each shard checked against its manifest entry.
    ///
    /// Errors: [`Io`](ErrorKind::Io) (no manifest, a shard file missing),
    /// [`Corrupt`](ErrorKind::Corrupt) (a manifest that is not one, a shard unlike its entry),
    /// [`Unsupported`](ErrorKind::Unsupported) (a newer manifest version),
    /// [`OutOfMemory`](ErrorKind::OutOfMemory).
    pub fn open(path: impl AsRef<Path>) -> Result<ShardedIndex> {
        ShardedIndex::open_with_threads(path, 0)
    }

    /// [`open`](Self::open) with the threads of a search that sets none (0: every core).
    pub fn open_with_threads(path: impl AsRef<Path>, num_threads: u32) -> Result<ShardedIndex> {
        ShardedIndex::open_with(path, &ShardedOpenOptions::new().threads(num_threads))
    }

    /// [`open`](Self::open) with options: the threads of a search that sets none, and whether
    /// every shard file is opened as a read-only view (mapped and shared through the page cache
    /// with the other processes serving the same directory, instead of read into memory; each
    /// file is still checked against its manifest entry).
    ///
    /// ```no_run
    /// use nearkit::{ShardedIndex, ShardedOpenOptions};
    ///
    /// let sharded = ShardedIndex::open_with("collection/", &ShardedOpenOptions::new().view(true))?;
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    ///
    /// Errors: as [`open`](Self::open)'s.
    pub fn open_with(path: impl AsRef<Path>, options: &ShardedOpenOptions) -> Result<ShardedIndex> {
        crate::check_abi()?;
        let path = path_to_c(path.as_ref())?;
        let mut c_options = sharded_options(options.num_threads());
        c_options.view_shards = i32::from(options.views());
        let mut raw: *mut sys::nearkit_sharded = ptr::null_mut();
        // SAFETY: `raw` is a valid place to write; `path` is NUL-terminated; `c_options` is
        // initialised.
        check(unsafe { sys::nearkit_sharded_open(&mut raw, path.as_ptr(), &c_options) })?;
        ShardedIndex::from_raw(raw)
    }

    fn from_raw(raw: *mut sys::nearkit_sharded) -> Result<ShardedIndex> {
        NonNull::new(raw)
            .map(|raw| ShardedIndex { raw })
            .ok_or_else(|| Error::new(ErrorKind::Internal, "nearkit returned success but no collection"))
    }

    fn ptr(&self) -> *const sys::nearkit_sharded {
        self.raw.as_ptr()
    }

    /// Appends `shard` as the next shard. The collection takes the index over, without a copy:
    /// it is freed with the collection. On an error (a metric, dimension or vector type unlike
    /// the first shard's: [`InvalidArgument`](ErrorKind::InvalidArgument)) the index is dropped.
    pub fn add_shard(&mut self, shard: Index) -> Result<()> {
        // Not dropped here on success: the collection frees it (nearkit_sharded_add_shard).
        let shard = ManuallyDrop::new(shard);
        // SAFETY: both handles are live and owned; on success the collection owns the index and
        // `shard` is never used or dropped again; on failure it is dropped below, once.
        let outcome = check(unsafe { sys::nearkit_sharded_add_shard(self.raw.as_ptr(), shard.owned_ptr()) });
        if outcome.is_err() {
            drop(ManuallyDrop::into_inner(shard));
        }
        outcome
    }

    /// The number of shards.
    pub fn shard_count(&self) -> usize {
        // SAFETY: a const call on a live collection.
        unsafe { sys::nearkit_sharded_shard_count(self.ptr()) as usize }
    }

    /// The vectors of every shard together.
    pub fn len(&self) -> usize {
        // SAFETY: a const call on a live collection.
        unsafe { sys::nearkit_sharded_count(self.ptr()) as usize }
    }

    /// True when no shard holds a vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shards' dimension (bits for binary vectors); 0 before the first shard.
    pub fn dimension(&self) -> usize {
        // SAFETY: a const call on a live collection.
        unsafe { sys::nearkit_sharded_dimension(self.ptr()) as usize }
    }

    /// The shards' metric; `None` before the first shard.
    pub fn metric(&self) -> Option<Metric> {
        (self.shard_count() > 0)
            // SAFETY: a const call on a live collection.
            .then(|| Metric::from_raw(unsafe { sys::nearkit_sharded_metric(self.ptr()) }))
    }

    /// The shards' vector type; `None` before the first shard.
    pub fn vector_type(&self) -> Option<VectorType> {
        (self.shard_count() > 0)
            // SAFETY: a const call on a live collection.
            .then(|| VectorType::from_raw(unsafe { sys::nearkit_sharded_vector_type(self.ptr()) }))
    }

    /// Heap memory of every shard together, in bytes.
    pub fn memory_bytes(&self) -> u64 {
        // SAFETY: a const call on a live collection.
        unsafe { sys::nearkit_sharded_memory_bytes(self.ptr()) }
    }

    /// The `k` nearest of every shard's vectors for each query, as [`Index::search`] returns
    /// them.
    ///
    /// Errors: those of [`Index::search`], and [`State`](ErrorKind::State) while there is no
    /// shard.
    pub fn search<'a>(&self, queries: impl Into<Vectors<'a>>, k: usize) -> Result<SearchResult> {
        self.search_impl(queries.into(), k, None)
    }

    /// [`search`](Self::search) with per-call options: a filter and parameters go to every shard
    /// (a parameter some shard's kind lacks is [`NotFound`](ErrorKind::NotFound)).
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
        let Some(first) = self.first_shard() else {
            return Err(self.search_error());
        };
        let n = count_rows(&queries, &Layout::of_index(first), "queries")?;
        let (mut ids, mut distances) = result_buffers(n, k)?;
        // No index to guard against a predicate's re-entry: the shards are unreachable from Rust
        // (a predicate may search the collection itself: searches only read).
        let prepared = SearchOptions::prepare(options, ptr::null())?;
        // SAFETY: `queries` holds n vectors of the shards' size; `ids` and `distances` hold
        // n * k entries each; `prepared` and what it points to outlive the call; a const call.
        let outcome = check(unsafe {
            sys::nearkit_sharded_search(
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
        prepared.finish(outcome)?;
        Ok(SearchResult::new(ids, distances, n, k))
    }

    /// The first shard, borrowed (it lives as long as the collection); `None` with no shard.
    fn first_shard(&self) -> Option<*const sys::nearkit_index> {
        // SAFETY: a const call on a live collection.
        let first = unsafe { sys::nearkit_sharded_shard(self.ptr(), 0) };
        (!first.is_null()).then_some(first)
    }

    /// The library's error for a search of a collection without shards.
    fn search_error(&self) -> Error {
        // SAFETY: n = 0 queries: no buffer is read or written.
        let status = unsafe {
            sys::nearkit_sharded_search(
                ptr::null_mut(),
                ptr::null_mut(),
                self.ptr(),
                sys::NEARKIT_VECTOR_FLOAT32,
                ptr::null(),
                0,
                1,
                ptr::null(),
            )
        };
        check(status).err().unwrap_or_else(|| Error::new(ErrorKind::State, "the collection has no shard"))
    }

    /// Writes the collection to the directory `path` (created when missing): each shard as
    /// `shard-NNNNN.nkx`, then `manifest.json`.
    ///
    /// Errors: [`InvalidArgument`](ErrorKind::InvalidArgument) (no shard), [`Io`](ErrorKind::Io).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path_to_c(path.as_ref())?;
        // SAFETY: `path` is NUL-terminated; a const call.
        check(unsafe { sys::nearkit_sharded_save(self.ptr(), path.as_ptr()) })
    }
}

/// The C options with the library's defaults (nearkit_sharded_options_init, so a field the
/// header appends later keeps its default here) and `num_threads`.
fn sharded_options(num_threads: u32) -> sys::nearkit_sharded_options {
    // SAFETY: the struct is plain integers, so all zeroes is a valid value, and `init` writes its
    // size and every default through a valid pointer.
    let mut options: sys::nearkit_sharded_options = unsafe { std::mem::zeroed() };
    // SAFETY: `options` is a valid, writable struct of the header's size.
    unsafe { sys::nearkit_sharded_options_init(&mut options) };
    options.num_threads = num_threads;
    options
}
