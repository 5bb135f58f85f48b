//! Nearest-neighbour search for Rust: a safe API over nearkit's C core.
//!
//! nearkit finds the vectors nearest to a query among many: exactly (flat brute force, metric
//! trees, multi-index hashing) or approximately (IVF), over float vectors (L2, L1, L∞, cosine,
//! inner product) or binary codes (Hamming). The C core does all the work; this crate converts
//! types, owns handles and maps errors. Its sibling `nearkit-sys` compiles the core from source,
//! optimised whatever the profile, so `cargo add nearkit` is all a project needs (plus a C compiler
//! and OpenBLAS: `apt-get install libopenblas-pthread-dev` on Debian or Ubuntu; OpenBLAS is linked
//! statically when its archive is found, or dynamically with the `dynamic-blas` feature).
//!
//! ```
//! use nearkit::{Index, Kind, Metric};
//!
//! // 1,000 random 16-d vectors.
//! let dim = 16;
//! let mut state = 1u32;
//! let data: Vec<f32> = (0..1000 * dim)
//!     .map(|_| {
//!         state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
//!         (state >> 8) as f32 / (1u32 << 24) as f32
//!     })
//!     .collect();
//!
//! let index = Index::builder(Kind::by_name("flat")?, Metric::L2, dim)
//!     .threads(0) // every core
//!     .seed(42)
//!     .build()?;
//! index.add(&data)?;
//! index.build()?;
//!
//! // The 5 nearest neighbours of the first two vectors.
//! let result = index.search(&data[..2 * dim], 5)?;
//! assert_eq!(result.query_ids(0)[0], 0);
//! assert_eq!(result.query_distances(1)[0], 0.0);
//! for n in result.neighbors(1) {
//!     println!("id {} at distance {}", n.id, n.distance);
//! }
//!
//! // Everything within a radius.
//! let within = index.range_search(&data[..dim], 0.5)?;
//! assert!(within.query_ids(0).contains(&0));
//!
//! // Save, load, compare.
//! let restored = nearkit::Index::from_bytes(&index.to_bytes()?)?;
//! assert_eq!(restored.search(&data[..2 * dim], 5)?, result);
//! # Ok::<(), nearkit::Error>(())
//! ```
//!
//! # Threads
//!
//! [`Index`] is `Send` and `Sync`, and every method takes `&self`: the C library guards each
//! index with a reader-writer lock, so threads may search while others add or remove. Searches
//! and other reads run in parallel and never wait for each other; a writer (add, remove, compact,
//! train, build, set_param) runs alone, so each search sees the collection before or after a
//! concurrent write, whole. Batch searches also run in parallel inside the library, on the
//! index's `num_threads` (see [`IndexBuilder::threads`] and [`SearchOptions::threads`]).
//!
//! # Living collections
//!
//! Vectors can be removed ([`Index::remove`]), read back ([`Index::get`], [`Index::contains`])
//! and added after a build. A search can be limited to the vectors a [`Filter`] allows (a slice
//! of ids, a bitmap over an id range, or a closure) and can carry its own values of runtime
//! parameters such as `nprobe`, through [`SearchOptions`]:
//!
//! ```
//! use nearkit::{Filter, Index, Kind, Metric, SearchOptions};
//!
//! let index = Index::new(Kind::FLAT, Metric::L2, 1)?;
//! index.add_with_ids(&[0.0f32, 1.0, 2.0, 3.0], &[10, 11, 12, 13])?;
//! index.remove(&[11])?;
//! let tenant = |id: i64| id != 10;
//! let options = SearchOptions::new().filter(Filter::Predicate(&tenant));
//! assert_eq!(index.search_with(&[0.0f32], 2, &options)?.query_ids(0), &[12, 13]);
//! # Ok::<(), nearkit::Error>(())
//! ```
//!
//! # Shards
//!
//! A [`ShardedIndex`] searches indexes of any kind as one collection (the library fans the
//! search out and merges the per-shard top k; flat shards answer exactly as one flat index), and
//! [`merge_knn`] merges answers computed elsewhere, e.g. on other machines.
//!
//! # Errors
//!
//! Every fallible call returns [`Result`], whose [`Error`] has an [`ErrorKind`] (the C library's
//! status codes) and a message. Bad input (wrong slice lengths, NaN, k = 0, a corrupted file) is
//! an error, never a panic or a crash.

#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "ndarray")]
mod array;
mod error;
mod index;
mod merge;
mod options;
mod results;
mod sharded;
mod types;

use std::sync::OnceLock;

pub use error::{Error, ErrorKind, Result};
pub use index::{Index, IndexBuilder, ParamInfo, Vectors};
pub use merge::merge_knn;
pub use options::{Filter, SearchOptions, ShardedOpenOptions, ViewOptions};
pub use results::{Neighbor, RangeResult, SearchResult, StoredVectors, TuneLimits, TuneResult};
pub use sharded::ShardedIndex;
pub use types::{Kind, KindInfo, Metric, VectorType};

// The README's example runs as a doc test too.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The raw bindings this crate is built on.
pub use nearkit_sys as sys;

/// The C library's version, e.g. `"0.1.0"`.
///
/// ```
/// assert_eq!(nearkit::version().split('.').count(), 3);
/// ```
pub fn version() -> &'static str {
    // SAFETY: never NULL, static storage.
    unsafe { std::ffi::CStr::from_ptr(sys::nearkit_version_string()) }.to_str().unwrap_or("unknown")
}

/// The C library's ABI version (`nearkit_abi_version()`).
pub fn abi_version() -> u32 {
    // SAFETY: no preconditions.
    unsafe { sys::nearkit_abi_version() }
}

/// Checks that the C library linked in has the ABI version these bindings were made for
/// (`NEARKIT_ABI_VERSION`). Creating or loading an index checks it too (once per process) and
/// refuses to work with a mismatched library, with [`ErrorKind::Unsupported`].
///
/// ```
/// nearkit::check_abi()?;
/// # Ok::<(), nearkit::Error>(())
/// ```
pub fn check_abi() -> Result<()> {
    static CHECKED: OnceLock<Result<()>> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let linked = abi_version();
            if linked == sys::NEARKIT_ABI_VERSION {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "the nearkit C library has ABI version {linked} (library {}), but this crate \
                         was built for ABI version {}: rebuild nearkit-sys against a matching library",
                        version(),
                        sys::NEARKIT_ABI_VERSION
                    ),
                ))
            }
        })
        .clone()
}
