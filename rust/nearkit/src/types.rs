//! Index kinds, metrics and vector types, as the C library enumerates them at run time.

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::c_char;
use std::str::FromStr;

use nearkit_sys as sys;

use crate::error::{check, invalid, Result};

/// Converts a NUL-terminated string in the library's static storage.
pub(crate) fn static_str(ptr: *const c_char) -> Option<&'static str> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the C library documents these strings as static storage (valid for the life of
    // the process, as the library is linked statically) and NUL-terminated.
    unsafe { CStr::from_ptr(ptr) }.to_str().ok()
}

pub(crate) fn c_string(what: &str, value: &str) -> Result<CString> {
    CString::new(value).map_err(|_| invalid(format!("{what} {value:?} contains a NUL byte")))
}

/// A distance metric. Smaller is always nearer; the value for a pair `(x, q)` is:
///
/// | metric | distance |
/// |---|---|
/// | [`L2`](Metric::L2) | Euclidean distance √Σ(xᵢ − qᵢ)² (not its square) |
/// | [`L1`](Metric::L1) | Σ\|xᵢ − qᵢ\| |
/// | [`LINF`](Metric::LINF) | max \|xᵢ − qᵢ\| |
/// | [`COSINE`](Metric::COSINE) | 1 − ⟨x, q⟩ / (\|x\| \|q\|), in [0, 2]; a zero vector counts as orthogonal |
/// | [`IP`](Metric::IP) | −⟨x, q⟩, the negated inner product |
/// | [`HAMMING`](Metric::HAMMING) | number of differing bits, on binary vectors |
///
/// Metrics are looked up by name in the C library, so names it accepts work here too:
///
/// ```
/// use nearkit::Metric;
///
/// assert_eq!(Metric::by_name("euclidean")?, Metric::L2);
/// assert_eq!("Hamming".parse::<Metric>()?, Metric::HAMMING);
/// assert_eq!(Metric::COSINE.name(), Some("cosine"));
/// assert!(Metric::all().contains(&Metric::IP));
/// # Ok::<(), nearkit::Error>(())
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Metric(i32);

impl Metric {
    /// Euclidean distance.
    pub const L2: Metric = Metric(sys::NEARKIT_METRIC_L2);
    /// Manhattan distance.
    pub const L1: Metric = Metric(sys::NEARKIT_METRIC_L1);
    /// Chebyshev distance.
    pub const LINF: Metric = Metric(sys::NEARKIT_METRIC_LINF);
    /// Cosine distance (1 − cosine similarity).
    pub const COSINE: Metric = Metric(sys::NEARKIT_METRIC_COSINE);
    /// Negated inner product.
    pub const IP: Metric = Metric(sys::NEARKIT_METRIC_IP);
    /// Hamming distance between binary vectors.
    pub const HAMMING: Metric = Metric(sys::NEARKIT_METRIC_HAMMING);

    /// Looks a metric up by name (case-insensitive; the C library's names and aliases such as
    /// `"euclidean"`, `"manhattan"`, `"chebyshev"`, `"inner_product"`).
    ///
    /// Errors: [`NotFound`](crate::ErrorKind::NotFound) for an unknown name,
    /// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) for a name with a NUL byte.
    pub fn by_name(name: &str) -> Result<Metric> {
        let name = c_string("metric name", name)?;
        let mut out: sys::nearkit_metric = 0;
        // SAFETY: `out` is a valid place to write, `name` a NUL-terminated string.
        check(unsafe { sys::nearkit_metric_from_name(&mut out, name.as_ptr()) })?;
        Ok(Metric(out))
    }

    /// Every metric the library knows, in order of their codes.
    pub fn all() -> Vec<Metric> {
        // Metric codes are bit positions of nearkit_kind_info.metric_mask, so they lie in 0..32.
        (0..32).map(Metric).filter(|m| m.name().is_some()).collect()
    }

    /// The metric's lower-case name, e.g. `"l2"`; `None` for a code the library does not know.
    pub fn name(self) -> Option<&'static str> {
        // SAFETY: nearkit_metric_name accepts any value.
        static_str(unsafe { sys::nearkit_metric_name(self.0) })
    }

    /// The C code (`NEARKIT_METRIC_*`).
    pub fn raw(self) -> i32 {
        self.0
    }

    /// The metric with the given C code; it need not be one the library knows.
    pub fn from_raw(code: i32) -> Metric {
        Metric(code)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "metric#{}", self.0),
        }
    }
}

impl fmt::Debug for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Metric({self})")
    }
}

impl FromStr for Metric {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Metric> {
        Metric::by_name(s)
    }
}

/// The type of the vectors an index holds.
///
/// ```
/// use nearkit::{Index, Kind, Metric, VectorType};
///
/// let index = Index::new(Kind::FLAT, Metric::HAMMING, 64)?;
/// assert_eq!(index.vector_type(), VectorType::BINARY);
/// # Ok::<(), nearkit::Error>(())
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct VectorType(i32);

impl VectorType {
    /// `dimension` `f32` values per vector; passed as `&[f32]`.
    pub const FLOAT32: VectorType = VectorType(sys::NEARKIT_VECTOR_FLOAT32);
    /// `dimension` bits per vector packed into `dimension / 8` bytes, least significant bit
    /// first; passed as `&[u8]`.
    pub const BINARY: VectorType = VectorType(sys::NEARKIT_VECTOR_BINARY);
    /// `dimension` IEEE half values per vector, input to float indexes only (converted to f32
    /// by the library, exactly); passed as `&[half::f16]` with the `half` feature. An index's
    /// own type is never FLOAT16.
    pub const FLOAT16: VectorType = VectorType(sys::NEARKIT_VECTOR_FLOAT16);

    /// The C code (`NEARKIT_VECTOR_*`).
    pub fn raw(self) -> i32 {
        self.0
    }

    /// The vector type with the given C code.
    pub fn from_raw(code: i32) -> VectorType {
        VectorType(code)
    }

    /// `"float32"`, `"binary"` or `"float16"` (`"unknown"` otherwise).
    pub fn name(self) -> &'static str {
        match self {
            VectorType::FLOAT32 => "float32",
            VectorType::BINARY => "binary",
            VectorType::FLOAT16 => "float16",
            _ => "unknown",
        }
    }
}

impl fmt::Display for VectorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for VectorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VectorType({})", self.name())
    }
}

/// An index kind (flat, vantage-point tree, IVF, multi-index hashing, ...).
///
/// The kinds a library has are enumerated at run time with [`Kind::all`], so a kind added to the
/// C library is usable here at once, by name:
///
/// ```
/// use nearkit::{Kind, Metric};
///
/// let flat = Kind::by_name("flat")?;
/// assert_eq!(flat, Kind::FLAT);
/// for info in Kind::all() {
///     println!("{:10} exact={} {}", info.name(), info.is_exact(), info.description());
/// }
/// assert!(flat.info().unwrap().supports(Metric::L2));
/// # Ok::<(), nearkit::Error>(())
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind(i32);

impl Kind {
    /// Exact brute force, every metric.
    pub const FLAT: Kind = Kind(sys::NEARKIT_KIND_FLAT);
    /// Exact vantage-point tree.
    pub const VPTREE: Kind = Kind(sys::NEARKIT_KIND_VPTREE);
    /// Exact Burkhard-Keller tree, Hamming.
    pub const BKTREE: Kind = Kind(sys::NEARKIT_KIND_BKTREE);
    /// Inverted file over float vectors (approximate).
    pub const IVF_FLAT: Kind = Kind(sys::NEARKIT_KIND_IVF_FLAT);
    /// Multi-index hashing, Hamming (exact unless capped).
    pub const MIH: Kind = Kind(sys::NEARKIT_KIND_MIH);
    /// Inverted file over binary vectors (approximate).
    pub const IVF_BINARY: Kind = Kind(sys::NEARKIT_KIND_IVF_BINARY);
    /// Hierarchical navigable small-world graph (approximate).
    pub const HNSW: Kind = Kind(sys::NEARKIT_KIND_HNSW);
    /// Inverted file over fp16 codes, optional exact re-rank (approximate).
    pub const IVF_FP16: Kind = Kind(sys::NEARKIT_KIND_IVF_FP16);
    /// Inverted file over bfloat16 codes, optional exact re-rank (approximate).
    pub const IVF_BF16: Kind = Kind(sys::NEARKIT_KIND_IVF_BF16);
    /// Inverted file over 8-bit scalar-quantised codes, optional exact re-rank (approximate).
    pub const IVF_SQ8: Kind = Kind(sys::NEARKIT_KIND_IVF_SQ8);
    /// Inverted file over 4-bit scalar-quantised codes, optional exact re-rank (approximate).
    pub const IVF_SQ4: Kind = Kind(sys::NEARKIT_KIND_IVF_SQ4);
    /// Inverted file over product-quantised codes (`m` bytes per vector), optional exact re-rank
    /// (approximate).
    pub const IVF_PQ: Kind = Kind(sys::NEARKIT_KIND_IVF_PQ);
    /// Inverted file over RaBitQ codes (a bit per rotated dimension), optional exact re-rank
    /// (approximate).
    pub const IVF_RABITQ: Kind = Kind(sys::NEARKIT_KIND_IVF_RABITQ);
    /// Hnsw over 8-bit scalar-quantised codes, optional exact re-rank (approximate).
    pub const HNSW_SQ8: Kind = Kind(sys::NEARKIT_KIND_HNSW_SQ8);
    /// Hnsw over fp16 codes, optional exact re-rank (approximate).
    pub const HNSW_FP16: Kind = Kind(sys::NEARKIT_KIND_HNSW_FP16);
    /// Hnsw over bfloat16 codes, optional exact re-rank (approximate).
    pub const HNSW_BF16: Kind = Kind(sys::NEARKIT_KIND_HNSW_BF16);
    /// Hnsw over 4-bit scalar-quantised codes, optional exact re-rank (approximate).
    pub const HNSW_SQ4: Kind = Kind(sys::NEARKIT_KIND_HNSW_SQ4);
    /// Brute force over fp16 codes, searchable as added, optional exact re-rank (approximate).
    pub const FLAT_FP16: Kind = Kind(sys::NEARKIT_KIND_FLAT_FP16);
    /// Brute force over bfloat16 codes, searchable as added, optional exact re-rank (approximate).
    pub const FLAT_BF16: Kind = Kind(sys::NEARKIT_KIND_FLAT_BF16);
    /// Brute force over 8-bit scalar-quantised codes, optional exact re-rank (approximate).
    pub const FLAT_SQ8: Kind = Kind(sys::NEARKIT_KIND_FLAT_SQ8);
    /// Brute force over 4-bit scalar-quantised codes, optional exact re-rank (approximate).
    pub const FLAT_SQ4: Kind = Kind(sys::NEARKIT_KIND_FLAT_SQ4);
    /// Brute force over product-quantised codes (`m`, `nbits` 8 or 4: the fast scan), optional
    /// exact re-rank (approximate).
    pub const FLAT_PQ: Kind = Kind(sys::NEARKIT_KIND_FLAT_PQ);
    /// Random-projection forest in the way of Annoy and panns: `n_trees`, `leaf_size`, `split`,
    /// `shared_projections`, and `search_k` at run time (approximate).
    pub const RPFOREST: Kind = Kind(sys::NEARKIT_KIND_RPFOREST);

    /// Looks a kind up by name (`"flat"`, `"vptree"`, ...; case-insensitive).
    ///
    /// Errors: [`NotFound`](crate::ErrorKind::NotFound) when the library has no such kind.
    pub fn by_name(name: &str) -> Result<Kind> {
        let name = c_string("kind name", name)?;
        let mut out: sys::nearkit_kind = 0;
        // SAFETY: `out` is a valid place to write, `name` a NUL-terminated string.
        check(unsafe { sys::nearkit_kind_from_name(&mut out, name.as_ptr()) })?;
        Ok(Kind(out))
    }

    /// Every kind compiled into the library.
    pub fn all() -> Vec<KindInfo> {
        // SAFETY: no preconditions.
        let count = unsafe { sys::nearkit_kind_count() };
        (0..count).filter_map(KindInfo::get).collect()
    }

    /// This kind's description, or `None` when the library does not have it.
    pub fn info(self) -> Option<KindInfo> {
        Kind::all().into_iter().find(|info| info.kind == self)
    }

    /// The kind's name, e.g. `"flat"`; `None` when the library does not have it.
    pub fn name(self) -> Option<&'static str> {
        // SAFETY: nearkit_kind_name accepts any value.
        static_str(unsafe { sys::nearkit_kind_name(self.0) })
    }

    /// The C code (`NEARKIT_KIND_*`).
    pub fn raw(self) -> i32 {
        self.0
    }

    /// The kind with the given C code; it need not be one the library has.
    pub fn from_raw(code: i32) -> Kind {
        Kind(code)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "kind#{}", self.0),
        }
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kind({self})")
    }
}

impl FromStr for Kind {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Kind> {
        Kind::by_name(s)
    }
}

/// What the library says about one index kind ([`Kind::all`], [`Kind::info`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct KindInfo {
    kind: Kind,
    name: &'static str,
    flags: u32,
    metric_mask: u32,
    description: &'static str,
}

impl KindInfo {
    fn get(i: usize) -> Option<KindInfo> {
        // SAFETY: nearkit_kind_info is plain data; an all-zero value is valid (NULL pointers).
        let mut raw: sys::nearkit_kind_info = unsafe { std::mem::zeroed() };
        raw.struct_size = std::mem::size_of::<sys::nearkit_kind_info>() as u32;
        // SAFETY: `raw` is a valid, writable struct whose struct_size is set.
        if unsafe { sys::nearkit_kind_get_info(&mut raw, i) } != sys::NEARKIT_OK {
            return None;
        }
        Some(KindInfo {
            kind: Kind(raw.kind),
            name: static_str(raw.name).unwrap_or(""),
            flags: raw.flags,
            metric_mask: raw.metric_mask,
            description: static_str(raw.description).unwrap_or(""),
        })
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Its name, e.g. `"flat"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// One line describing it.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// The raw `NEARKIT_KIND_FLAG_*` bits.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// True when its results equal the flat index's at default settings.
    pub fn is_exact(&self) -> bool {
        self.flags & sys::NEARKIT_KIND_FLAG_EXACT != 0
    }

    /// True when it must be trained (or built) before adding or searching.
    pub fn needs_training(&self) -> bool {
        self.flags & sys::NEARKIT_KIND_FLAG_NEEDS_TRAINING != 0
    }

    /// True when [`Index::build`](crate::Index::build) must run after adding, before searching.
    pub fn needs_build(&self) -> bool {
        self.flags & sys::NEARKIT_KIND_FLAG_NEEDS_BUILD != 0
    }

    /// True when it searches codes of a codec smaller than the vectors (fp16, bf16, sq8, sq4,
    /// pq): less memory, recall bounded by the codes unless the originals are kept (`refine`).
    pub fn is_compressed(&self) -> bool {
        self.flags & sys::NEARKIT_KIND_FLAG_COMPRESSED != 0
    }

    /// The raw mask: bit `1 << metric.raw()` set for each supported metric.
    pub fn metric_mask(&self) -> u32 {
        self.metric_mask
    }

    /// True when the kind supports the metric.
    pub fn supports(&self, metric: Metric) -> bool {
        (0..32).contains(&metric.0) && self.metric_mask & (1u32 << metric.0) != 0
    }

    /// The metrics the kind supports.
    pub fn metrics(&self) -> Vec<Metric> {
        (0..32).map(Metric).filter(|m| self.supports(*m)).collect()
    }
}
