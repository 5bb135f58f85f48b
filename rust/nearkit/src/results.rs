//! Owned search results.

/// One neighbour: its id and its distance to the query.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Neighbor {
    /// The id of the stored vector (insertion order unless ids were given).
    pub id: i64,
    /// Its distance to the query (smaller is nearer).
    pub distance: f32,
}

/// The result of a k-nearest-neighbour search ([`Index::search`](crate::Index::search)): for each
/// of [`len`](SearchResult::len) queries, [`k`](SearchResult::k) ids and distances, nearest
/// first, equal distances in increasing id order. Where the index holds fewer than `k` vectors,
/// the missing entries are id `-1` with distance `f32::INFINITY`.
///
/// Row `i` is `ids()[i * k .. (i + 1) * k]` (the same for `distances()`).
///
/// ```
/// use nearkit::{Index, Kind, Metric};
///
/// let index = Index::new(Kind::FLAT, Metric::L1, 1)?;
/// index.add(&[0.0f32, 10.0, 3.0][..])?;
/// let result = index.search(&[1.0f32, 9.0][..], 2)?; // two queries, k = 2
/// assert_eq!((result.len(), result.k()), (2, 2));
/// assert_eq!(result.query_ids(0), &[0, 2]);
/// assert_eq!(result.query_distances(1), &[1.0, 6.0]);
/// let nearest: Vec<i64> = result.iter().map(|(ids, _)| ids[0]).collect();
/// assert_eq!(nearest, [0, 1]);
/// # Ok::<(), nearkit::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SearchResult {
    ids: Vec<i64>,
    distances: Vec<f32>,
    n: usize,
    k: usize,
}

impl SearchResult {
    pub(crate) fn new(ids: Vec<i64>, distances: Vec<f32>, n: usize, k: usize) -> SearchResult {
        debug_assert_eq!(ids.len(), n * k);
        debug_assert_eq!(distances.len(), n * k);
        SearchResult { ids, distances, n, k }
    }

    /// The number of queries.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when there were no queries.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Neighbours per query.
    pub fn k(&self) -> usize {
        self.k
    }

    /// All ids, row-major (`len() * k()` entries).
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// All distances, row-major (`len() * k()` entries).
    pub fn distances(&self) -> &[f32] {
        &self.distances
    }

    /// The `k` ids of query `i`. Panics when `i >= len()`.
    pub fn query_ids(&self, i: usize) -> &[i64] {
        assert!(i < self.n, "query {i} out of range: the result holds {} queries", self.n);
        &self.ids[i * self.k..(i + 1) * self.k]
    }

    /// The `k` distances of query `i`. Panics when `i >= len()`.
    pub fn query_distances(&self, i: usize) -> &[f32] {
        assert!(i < self.n, "query {i} out of range: the result holds {} queries", self.n);
        &self.distances[i * self.k..(i + 1) * self.k]
    }

    /// The neighbours found for query `i`, nearest first, without the missing (`-1`) entries.
    /// Panics when `i >= len()`.
    pub fn neighbors(&self, i: usize) -> impl Iterator<Item = Neighbor> + '_ {
        self.query_ids(i)
            .iter()
            .zip(self.query_distances(i))
            .filter(|(&id, _)| id != -1)
            .map(|(&id, &distance)| Neighbor { id, distance })
    }

    /// The rows `(ids, distances)`, one per query.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[i64], &[f32])> + '_ {
        // chunks_exact panics on 0; with k = 0 there are no rows (k = 0 is refused anyway).
        let k = self.k.max(1);
        self.ids.chunks_exact(k).zip(self.distances.chunks_exact(k)).take(if self.k == 0 {
            0
        } else {
            self.n
        })
    }

    /// The ids and distances, row-major.
    pub fn into_parts(self) -> (Vec<i64>, Vec<f32>) {
        (self.ids, self.distances)
    }
}

/// The result of a range search ([`Index::range_search`](crate::Index::range_search)): for each
/// of [`len`](RangeResult::len) queries, every stored vector within the radius, nearest first,
/// equal distances in increasing id order.
///
/// Stored like a CSR matrix: query `i`'s matches are `ids()[offsets()[i] .. offsets()[i + 1]]`.
///
/// ```
/// use nearkit::{Index, Kind, Metric};
///
/// let index = Index::new(Kind::FLAT, Metric::L2, 1)?;
/// index.add(&[0.0f32, 1.0, 5.0][..])?;
/// let result = index.range_search(&[0.5f32, 10.0][..], 1.0)?;
/// assert_eq!(result.len(), 2);
/// assert_eq!(result.query_ids(0), &[0, 1]);
/// assert!(result.query_ids(1).is_empty());
/// assert_eq!(result.offsets(), &[0, 2, 2]);
/// # Ok::<(), nearkit::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RangeResult {
    offsets: Vec<usize>,
    ids: Vec<i64>,
    distances: Vec<f32>,
}

impl RangeResult {
    pub(crate) fn new(offsets: Vec<usize>, ids: Vec<i64>, distances: Vec<f32>) -> RangeResult {
        debug_assert!(!offsets.is_empty());
        RangeResult { offsets, ids, distances }
    }

    /// The number of queries.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// True when there were no queries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of matches over all queries.
    pub fn total(&self) -> usize {
        self.ids.len()
    }

    /// `len() + 1` offsets into [`ids`](RangeResult::ids) and
    /// [`distances`](RangeResult::distances).
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// All ids, query after query.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// All distances, query after query.
    pub fn distances(&self) -> &[f32] {
        &self.distances
    }

    /// The ids within the radius of query `i`, nearest first. Panics when `i >= len()`.
    pub fn query_ids(&self, i: usize) -> &[i64] {
        &self.ids[self.span(i)]
    }

    /// The distances of query `i`'s matches. Panics when `i >= len()`.
    pub fn query_distances(&self, i: usize) -> &[f32] {
        &self.distances[self.span(i)]
    }

    /// The matches of query `i`, nearest first. Panics when `i >= len()`.
    pub fn neighbors(&self, i: usize) -> impl Iterator<Item = Neighbor> + '_ {
        self.query_ids(i)
            .iter()
            .zip(self.query_distances(i))
            .map(|(&id, &distance)| Neighbor { id, distance })
    }

    /// The rows `(ids, distances)`, one per query.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[i64], &[f32])> + '_ {
        (0..self.len()).map(move |i| (self.query_ids(i), self.query_distances(i)))
    }

    /// The offsets, ids and distances.
    pub fn into_parts(self) -> (Vec<usize>, Vec<i64>, Vec<f32>) {
        (self.offsets, self.ids, self.distances)
    }

    fn span(&self, i: usize) -> std::ops::Range<usize> {
        assert!(i < self.len(), "query {i} out of range: the result holds {} queries", self.len());
        self.offsets[i]..self.offsets[i + 1]
    }
}

/// Vectors read back by [`Index::get`](crate::Index::get): one row per id asked for, in order,
/// in one flat buffer, with a found flag per row. A row whose id is not stored is all zeros and
/// not found.
///
/// Float indexes give `f32` rows of `dimension` values ([`float32`](StoredVectors::float32),
/// [`as_float32`](StoredVectors::as_float32)); binary indexes give packed rows of `dimension / 8`
/// bytes ([`binary`](StoredVectors::binary), [`as_binary`](StoredVectors::as_binary)); the
/// accessors of the other type return `None`.
///
/// ```
/// use nearkit::{Index, Kind, Metric};
///
/// let index = Index::new(Kind::FLAT, Metric::HAMMING, 16)?;
/// index.add_with_ids(&[0xabu8, 0xcd], &[42])?;
/// let got = index.get(&[42, 43])?;
/// assert_eq!((got.len(), got.found_count()), (2, 1));
/// assert_eq!(got.binary(0), Some(&[0xabu8, 0xcd][..]));
/// assert_eq!(got.as_binary(), Some(&[0xabu8, 0xcd, 0, 0][..]));
/// assert_eq!(got.float32(0), None); // a binary index
/// # Ok::<(), nearkit::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StoredVectors {
    values: StoredValues,
    found: Vec<bool>,
    width: usize,
}

#[derive(Clone, Debug, PartialEq)]
enum StoredValues {
    Float32(Vec<f32>),
    Binary(Vec<u8>),
}

impl StoredVectors {
    pub(crate) fn from_float32(values: Vec<f32>, found: Vec<bool>, width: usize) -> StoredVectors {
        debug_assert_eq!(values.len(), found.len() * width);
        StoredVectors { values: StoredValues::Float32(values), found, width }
    }

    pub(crate) fn from_binary(values: Vec<u8>, found: Vec<bool>, width: usize) -> StoredVectors {
        debug_assert_eq!(values.len(), found.len() * width);
        StoredVectors { values: StoredValues::Binary(values), found, width }
    }

    /// The number of rows: the number of ids asked for.
    pub fn len(&self) -> usize {
        self.found.len()
    }

    /// True when no ids were asked for.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Per row, whether its id is stored.
    pub fn found(&self) -> &[bool] {
        &self.found
    }

    /// The number of rows whose id is stored.
    pub fn found_count(&self) -> usize {
        self.found.iter().filter(|&&f| f).count()
    }

    /// Row `i` of a float index, or `None` when its id is not stored (or the index is binary).
    /// Panics when `i >= len()`.
    pub fn float32(&self, i: usize) -> Option<&[f32]> {
        let found = self.found[i];
        match &self.values {
            StoredValues::Float32(v) if found => Some(&v[i * self.width..(i + 1) * self.width]),
            _ => None,
        }
    }

    /// Row `i` of a binary index (packed bits), or `None` when its id is not stored (or the index
    /// is a float index). Panics when `i >= len()`.
    pub fn binary(&self, i: usize) -> Option<&[u8]> {
        let found = self.found[i];
        match &self.values {
            StoredValues::Binary(v) if found => Some(&v[i * self.width..(i + 1) * self.width]),
            _ => None,
        }
    }

    /// Every row of a float index, row-major (zeros where not found); `None` for a binary index.
    pub fn as_float32(&self) -> Option<&[f32]> {
        match &self.values {
            StoredValues::Float32(v) => Some(v),
            StoredValues::Binary(_) => None,
        }
    }

    /// Every row of a binary index, row-major (zeros where not found); `None` for a float index.
    pub fn as_binary(&self) -> Option<&[u8]> {
        match &self.values {
            StoredValues::Binary(v) => Some(v),
            StoredValues::Float32(_) => None,
        }
    }
}

/// What [`Index::tune`](crate::Index::tune) measured and set.
#[derive(Clone, Debug, PartialEq)]
pub struct TuneResult {
    /// The runtime parameter tuned (`"nprobe"`, `"ef_search"`); `None` for an exact kind, which
    /// has nothing to tune.
    pub param: Option<&'static str>,
    /// The value chosen and set on the index (0 for an exact kind).
    pub value: f64,
    /// recall@k measured on the sample at that value (1 for an exact kind).
    pub recall: f64,
    /// Queries per second measured at that value (0 for an exact kind: nothing is measured).
    pub qps: f64,
    /// False when no value tried reached the target (the one with the best recall is set).
    pub reached: bool,
    /// The number of values measured.
    pub measurements: u32,
    /// The finer setting chosen with `value` (`"max_codes"`, the IVF kinds' scan budget), set on
    /// the index too, where one more step of `param` would jump past the target; `None` when
    /// none was chosen (0, no limit, is set). `recall` and `qps` are measured with both.
    pub fine_param: Option<&'static str>,
    /// The finer setting's value (0 when `fine_param` is `None`).
    pub fine_value: f64,
}

/// Limits of [`Index::tune_with`](crate::Index::tune_with); 0 everywhere (the default) means
/// none.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct TuneLimits {
    /// Threads of the measuring searches (0: the index's).
    pub threads: u32,
    /// The largest value of the parameter tried (0: the parameter's own bound).
    pub max_value: f64,
    /// Stop measuring after this many seconds and choose among the values measured (0: no limit).
    pub max_seconds: f64,
}
