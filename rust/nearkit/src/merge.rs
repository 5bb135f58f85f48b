//! Merging k-NN answers computed apart (`nearkit_merge_knn`): shards of one collection, searched
//! separately (in threads, processes or machines), give one answer as a search over their union.

use crate::error::{check, invalid, Result};
use crate::results::SearchResult;
use crate::sys;

/// The `k` nearest per query of several answers to the same queries (e.g. one
/// [`SearchResult`] per shard): nearest first, equal distances by smaller id, padded with -1 /
/// infinity, exactly as one search over the union orders them. With `unique`, an id found in
/// several parts counts once, at its least distance.
///
/// ```
/// use nearkit::{merge_knn, Index, Kind, Metric};
///
/// let (a, b) = (Index::new(Kind::FLAT, Metric::L2, 1)?, Index::new(Kind::FLAT, Metric::L2, 1)?);
/// a.add_with_ids(&[0.0f32, 2.0], &[10, 12])?;
/// b.add_with_ids(&[1.0f32, 3.0], &[11, 13])?;
/// let (ra, rb) = (a.search(&[1.2f32], 2)?, b.search(&[1.2f32], 2)?);
/// let merged = merge_knn(&[&ra, &rb], 2, false)?;
/// assert_eq!(merged.query_ids(0), &[11, 12]);
/// # Ok::<(), nearkit::Error>(())
/// ```
///
/// Errors: `InvalidArgument` when k is 0, the parts answer different numbers of queries, or a
/// distance is NaN.
pub fn merge_knn(parts: &[&SearchResult], k: usize, unique: bool) -> Result<SearchResult> {
    if k == 0 {
        return Err(invalid("k must be at least 1"));
    }
    let n = parts.first().map_or(0, |p| p.len());
    if let Some(p) = parts.iter().find(|p| p.len() != n) {
        return Err(invalid(format!("the parts answer different numbers of queries ({} and {n})", p.len())));
    }
    let len = n.checked_mul(k).ok_or_else(|| invalid("n x k results do not fit in memory"))?;
    let c_parts: Vec<sys::nearkit_knn_part> = parts
        .iter()
        .map(|p| sys::nearkit_knn_part {
            ids: p.ids().as_ptr(),
            distances: p.distances().as_ptr(),
            k: p.k() as u64,
        })
        .collect();
    let mut ids = vec![-1i64; len];
    let mut distances = vec![f32::INFINITY; len];
    let flags = if unique { sys::NEARKIT_MERGE_UNIQUE } else { 0 };
    // SAFETY: every part's buffers hold n x its k entries (a SearchResult's invariant), the
    // outputs n x k; the library reads and writes only those during the call.
    check(unsafe {
        sys::nearkit_merge_knn(
            ids.as_mut_ptr(),
            distances.as_mut_ptr(),
            n as u64,
            k as u64,
            c_parts.as_ptr(),
            c_parts.len() as u64,
            flags,
        )
    })?;
    Ok(SearchResult::new(ids, distances, n, k))
}
