//! Living collections (issue 15): remove, read back, contains, compact; filtered k-NN and range
//! search (ids, bitmap, predicate) against a fresh index of the allowed vectors; per-call
//! parameters; writers and searches sharing one index from many threads, every search checked
//! against a serial replay; bad input. A kind that cannot remove or read back yet
//! (`Unsupported`) is skipped with a message.

use std::sync::atomic::{AtomicUsize, Ordering};

use nearkit::{ErrorKind, Filter, Index, Kind, Metric, Result, SearchOptions, SearchResult};

const DIM: usize = 8;

fn data(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
    (0..n * dim)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32) / (1u64 << 24) as f32
        })
        .collect()
}

fn row(v: &[f32], i: usize) -> &[f32] {
    &v[i * DIM..(i + 1) * DIM]
}

/// `Some(value)`, or `None` with a message when the kind does not support the call yet.
fn supported<T>(what: &str, kind: Kind, result: Result<T>) -> Option<T> {
    match result {
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            eprintln!("skipped: {what} on {:?}: {e}", kind.name());
            None
        }
        other => Some(other.unwrap()),
    }
}

fn flat(vectors: &[f32], ids: &[i64]) -> Index {
    let index = Index::builder(Kind::FLAT, Metric::L2, DIM).threads(1).build().unwrap();
    index.add_with_ids(vectors, ids).unwrap();
    index
}

/// A flat index of the vectors whose ids `keep` allows: the truth a filter or a removal must
/// reproduce.
fn flat_of(vectors: &[f32], ids: &[i64], keep: impl Fn(i64) -> bool) -> Index {
    let (mut kept, mut kept_ids) = (Vec::new(), Vec::new());
    for (i, &id) in ids.iter().enumerate() {
        if keep(id) {
            kept.extend_from_slice(row(vectors, i));
            kept_ids.push(id);
        }
    }
    flat(&kept, &kept_ids)
}

// ---- remove, get, contains, compact --------------------------------------------------------------

#[test]
fn remove_get_contains_on_every_float_kind() {
    let base = data(600, DIM, 1);
    let ids: Vec<i64> = (0..600).map(|i| 1000 + i).collect();
    for info in Kind::all().into_iter().filter(|k| k.supports(Metric::L2)) {
        let kind = info.kind();
        let mut builder = Index::builder(kind, Metric::L2, DIM).threads(1);
        // Compressed codes read back decoded; with their originals kept (refine), exactly.
        let probe = Index::builder(kind, Metric::L2, DIM).build().unwrap();
        if probe.param("refine").is_ok() {
            builder = builder.param("refine", 1);
        }
        let index = builder.build().unwrap();
        index.add_with_ids(&base, &ids).unwrap();
        index.build().unwrap();
        // Absent ids and repeats are ignored; the count is of vectors removed.
        let Some(removed) = supported("remove", kind, index.remove(&[1000, 1001, 1001, 5, 1599])) else {
            continue;
        };
        assert_eq!(removed, 3, "{:?}", info.name());
        assert_eq!(index.len(), 597);
        assert!(!index.contains(1000) && !index.contains(1599) && index.contains(1002));
        assert_eq!(index.remove(&[]).unwrap(), 0);

        if let Some(got) = supported("get", kind, index.get(&[1002, 1000, 1598])) {
            assert_eq!(got.len(), 3);
            assert_eq!(got.found(), &[true, false, true]);
            assert_eq!(got.float32(0), Some(row(&base, 2)));
            assert_eq!(got.float32(1), None);
            assert_eq!(got.float32(2), Some(row(&base, 598)));
            assert_eq!(&got.as_float32().unwrap()[DIM..2 * DIM], &[0.0; DIM]);
            assert!(got.binary(0).is_none() && got.as_binary().is_none());
            assert!(index.get(&[]).unwrap().is_empty());
        }

        // Remove then add the same id: it is back, with its new vector.
        index.add_with_ids(row(&base, 0), &[1599]).unwrap();
        assert!(index.contains(1599));
        assert_eq!(index.len(), 598);
        index.compact().unwrap();
        assert_eq!(index.len(), 598);

        // Results equal a fresh index of the rest (exact kinds: bit for bit).
        if info.is_exact() {
            let (mut rest, mut rest_ids) = (Vec::new(), Vec::new());
            for (i, &id) in ids.iter().enumerate().take(599).skip(2) {
                rest.extend_from_slice(row(&base, i));
                rest_ids.push(id);
            }
            rest.extend_from_slice(row(&base, 0));
            rest_ids.push(1599);
            let fresh = flat(&rest, &rest_ids);
            let queries = data(10, DIM, 2);
            assert_eq!(
                index.search(&queries, 7).unwrap(),
                fresh.search(&queries, 7).unwrap(),
                "{:?}",
                info.name()
            );
            // And after a round trip through bytes.
            let loaded = Index::from_bytes(&index.to_bytes().unwrap()).unwrap();
            assert_eq!(loaded.len(), 598);
            assert_eq!(loaded.search(&queries, 7).unwrap(), fresh.search(&queries, 7).unwrap());
        }

        // Removing everything leaves an empty index whose searches find nothing.
        index.remove(&ids).unwrap();
        assert!(index.is_empty(), "{:?}", info.name());
        let none = index.search(row(&base, 3), 2).unwrap();
        assert_eq!(none.query_ids(0), &[-1, -1]);
    }
}

#[test]
fn implicit_ids_are_never_given_twice() {
    let index = Index::new(Kind::FLAT, Metric::L2, DIM).unwrap();
    index.add(&data(4, DIM, 3)).unwrap();
    if supported("remove", Kind::FLAT, index.remove(&[3])).is_none() {
        return;
    }
    index.add(&data(1, DIM, 4)).unwrap();
    assert!(index.contains(4) && !index.contains(3));
}

#[test]
fn get_reads_binary_and_cosine_vectors_as_stored() {
    let index = Index::new(Kind::FLAT, Metric::HAMMING, 16).unwrap();
    index.add_with_ids(&[1u8, 2, 3, 4], &[7, 8]).unwrap();
    if let Some(got) = supported("get", Kind::FLAT, index.get(&[8, 9])) {
        assert_eq!(got.binary(0), Some(&[3u8, 4][..]));
        assert_eq!(got.binary(1), None);
        assert_eq!(got.as_binary(), Some(&[3u8, 4, 0, 0][..]));
        assert!(got.float32(0).is_none());
    }
    let cosine = Index::new(Kind::FLAT, Metric::COSINE, 2).unwrap();
    cosine.add(&[3.0f32, 4.0]).unwrap();
    if let Some(got) = supported("get", Kind::FLAT, cosine.get(&[0])) {
        let v = got.float32(0).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6, "{v:?}");
    }
}

// ---- filters ---------------------------------------------------------------------------------

/// Every `step`-th id of 0 .. n allowed, as ids, a bitmap and a predicate.
fn check_filters_at(index: &Index, base: &[f32], ids: &[i64], queries: &[f32], allowed: &[i64]) {
    let allow = |id: i64| allowed.binary_search(&id).is_ok();
    let truth = flat_of(base, ids, allow);
    let k = 10;
    let expected = truth.search(queries, k).unwrap();
    let expected_range = truth.range_search(queries, 0.6).unwrap();

    let first = ids[0];
    let len = ids.len() as u64;
    let mut bits = vec![0u8; ids.len().div_ceil(8)];
    for &id in allowed {
        let i = (id - first) as usize;
        bits[i / 8] |= 1 << (i % 8);
    }
    let calls = AtomicUsize::new(0);
    let predicate = |id: i64| {
        calls.fetch_add(1, Ordering::Relaxed);
        allow(id)
    };
    let filters =
        [Filter::Ids(allowed), Filter::Bitmap { first, bits: &bits, len }, Filter::Predicate(&predicate)];
    for filter in filters {
        let options = SearchOptions::new().filter(filter);
        let got = index.search_with(queries, k, &options).unwrap();
        assert_eq!(got, expected, "{filter:?} with {} allowed", allowed.len());
        let got = index.range_search_with(queries, 0.6, &options).unwrap();
        assert_eq!(got, expected_range, "range, {filter:?} with {} allowed", allowed.len());
    }
    assert!(calls.load(Ordering::Relaxed) > 0 || allowed.is_empty() || index.is_empty());
}

#[test]
fn filters_on_flat_equal_a_fresh_index_of_the_allowed() {
    let n = 2000;
    let base = data(n, DIM, 5);
    let first = 10_000i64;
    let ids: Vec<i64> = (0..n as i64).map(|i| first + i).collect();
    let index = Index::builder(Kind::FLAT, Metric::L2, DIM).threads(2).build().unwrap();
    index.add_with_ids(&base, &ids).unwrap();
    let queries = data(12, DIM, 6);
    // 50%, 10%, 1%, 0.1% and nothing.
    for step in [2usize, 10, 100, 1000] {
        let allowed: Vec<i64> = ids.iter().copied().step_by(step).collect();
        check_filters_at(&index, &base, &ids, &queries, &allowed);
    }
    check_filters_at(&index, &base, &ids, &queries, &[]);
    let nothing =
        index.search_with(&queries[..DIM], 3, &SearchOptions::new().filter(Filter::Ids(&[]))).unwrap();
    assert_eq!(nothing.query_ids(0), &[-1, -1, -1]);
}

#[test]
fn filters_ignore_unknown_ids_and_ids_outside_the_bitmap() {
    let index = flat(&data(5, DIM, 7), &[0, 1, 2, 3, 4]);
    let q = data(1, DIM, 8);
    let r = index.search_with(&q, 5, &SearchOptions::new().filter(Filter::Ids(&[99, 2, 2, -5]))).unwrap();
    assert_eq!(r.query_ids(0), &[2, -1, -1, -1, -1]);
    // Bits for ids 3 .. 11: only 3 and 4 exist; bits past len do not count.
    let bits = [0xffu8, 0xff];
    let r = index
        .search_with(&q, 5, &SearchOptions::new().filter(Filter::Bitmap { first: 3, bits: &bits, len: 1 }))
        .unwrap();
    assert_eq!(r.query_ids(0), &[3, -1, -1, -1, -1]);
}

#[test]
fn a_panicking_predicate_is_an_error_not_an_unwind_through_c() {
    let index = Index::builder(Kind::FLAT, Metric::L2, DIM).threads(2).build().unwrap();
    index.add(&data(500, DIM, 9)).unwrap();
    let boom = |id: i64| {
        if id == 250 {
            panic!("no id 250 here");
        }
        true
    };
    let options = SearchOptions::new().filter(Filter::Predicate(&boom));
    let err = index.search_with(&data(4, DIM, 10), 3, &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("no id 250 here"), "{err}");
    let err = index.range_search_with(&data(4, DIM, 10), 1.0, &options).unwrap_err();
    assert!(err.message().contains("panicked"), "{err}");
    // The index is unharmed.
    assert_eq!(index.search(&data(1, DIM, 10), 1).unwrap().len(), 1);
}

#[test]
fn a_predicate_calling_into_its_own_index_is_refused_not_deadlocked() {
    let index = Index::builder(Kind::FLAT, Metric::L2, DIM).threads(1).build().unwrap();
    index.add(&data(50, DIM, 11)).unwrap();
    let other = flat(&data(3, DIM, 12), &[0, 1, 2]);
    // Another index is fine.
    let uses_other = |id: i64| other.contains(id);
    let r =
        index.search_with(&data(1, DIM, 13), 5, &SearchOptions::new().filter(Filter::Predicate(&uses_other)));
    assert_eq!(r.unwrap().query_ids(0).iter().filter(|&&id| id >= 0).count(), 3);
    // The same index is not.
    let index_ref = &index;
    let reentrant = |_id: i64| !index_ref.is_empty();
    let err = index
        .search_with(&data(1, DIM, 13), 5, &SearchOptions::new().filter(Filter::Predicate(&reentrant)))
        .unwrap_err();
    assert!(err.message().contains("deadlock"), "{err}");
}

// ---- per-call parameters -----------------------------------------------------------------------

#[test]
fn per_call_nprobe_is_each_calls_own() {
    let base = data(3000, DIM, 14);
    let queries = data(40, DIM, 15);
    let index =
        Index::builder(Kind::IVF_FLAT, Metric::L2, DIM).threads(1).param("nlist", 32).build().unwrap();
    index.add(&base).unwrap();
    index.build().unwrap();
    // The truth for nprobe = p: a copy whose own nprobe is p.
    let with_own = |p: f64| {
        let copy = index.try_clone().unwrap();
        copy.set_param("nprobe", p).unwrap();
        copy.search(&queries, 10).unwrap()
    };
    let (narrow, wide) = (with_own(1.0), with_own(32.0));
    assert_ne!(narrow, wide, "nprobe 1 and 32 should differ on this data");
    let before = index.param("nprobe").unwrap();
    let per_call =
        |p: f64| index.search_with(&queries, 10, &SearchOptions::new().param("nprobe", p)).unwrap();
    assert_eq!(per_call(1.0), narrow);
    assert_eq!(per_call(32.0), wide);
    assert_eq!(index.param("nprobe").unwrap(), before, "a per-call value does not stick");
    // Two threads at once, each with its own value.
    std::thread::scope(|s| {
        for (p, expected) in [(1.0, &narrow), (32.0, &wide)] {
            let per_call = &per_call;
            s.spawn(move || {
                for _ in 0..20 {
                    assert_eq!(&per_call(p), expected);
                }
            });
        }
    });
}

// ---- writers and searches at once --------------------------------------------------------------

/// One writer adds and removes batches while readers search (unfiltered and filtered): every
/// result equals the result on one of the collection's states in the writer's order (never half
/// a batch), and each reader sees those states in order.
#[test]
fn writers_and_searches_share_one_index() {
    const BASE: usize = 800;
    const BATCH: usize = 80;
    const ROUNDS: usize = 6;
    let all = data(BASE + ROUNDS * BATCH, DIM, 16);
    let all_ids: Vec<i64> = (0..all.len() as i64 / DIM as i64).collect();
    let queries = data(6, DIM, 17);
    let even = |id: i64| id % 2 == 0;

    let index = Index::builder(Kind::FLAT, Metric::L2, DIM).threads(1).build().unwrap();
    index.add_with_ids(&all[..BASE * DIM], &all_ids[..BASE]).unwrap();
    if supported("remove", Kind::FLAT, index.remove(&[i64::MAX])).is_none() {
        return;
    }

    // The serial replay: state s holds ids lo .. hi.
    let mut states = vec![(0usize, BASE)];
    for r in 0..ROUNDS {
        states.push((r * BATCH, BASE + (r + 1) * BATCH)); // after the add
        states.push(((r + 1) * BATCH, BASE + (r + 1) * BATCH)); // after the remove
    }
    let replay: Vec<(SearchResult, SearchResult)> = states
        .iter()
        .map(|&(lo, hi)| {
            let truth = flat_of(&all, &all_ids, |id| (lo as i64..hi as i64).contains(&id));
            let filtered = flat_of(&all, &all_ids, |id| (lo as i64..hi as i64).contains(&id) && even(id));
            (truth.search(&queries, 5).unwrap(), filtered.search(&queries, 5).unwrap())
        })
        .collect();

    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let index = &index;
        s.spawn(|| {
            for r in 0..ROUNDS {
                let (from, to) = (BASE + r * BATCH, BASE + (r + 1) * BATCH);
                index.add_with_ids(&all[from * DIM..to * DIM], &all_ids[from..to]).unwrap();
                let removed = index.remove(&all_ids[r * BATCH..(r + 1) * BATCH]).unwrap();
                assert_eq!(removed, BATCH as u64);
            }
            done.store(true, Ordering::Release);
        });
        for reader in 0..3 {
            let (replay, queries, done) = (&replay, &queries, &done);
            s.spawn(move || {
                let mut seen = 0usize;
                let mut searches = 0;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let filtered = reader == 2;
                    let got = if filtered {
                        index.search_with(queries, 5, &SearchOptions::new().filter(Filter::Predicate(&even)))
                    } else {
                        index.search(queries, 5)
                    }
                    .unwrap();
                    let state = (seen..replay.len())
                        .find(|&s| if filtered { replay[s].1 == got } else { replay[s].0 == got })
                        .unwrap_or_else(|| {
                            panic!("reader {reader}: a result of no state at or after {seen}")
                        });
                    seen = state;
                    searches += 1;
                    if finished {
                        break;
                    }
                }
                assert_eq!(seen, replay.len() - 1, "reader {reader} ends on the last state");
                assert!(searches > 0);
            });
        }
    });
    assert_eq!(index.len(), BASE);
}

// ---- bad input ---------------------------------------------------------------------------------

#[test]
fn bad_filters_and_parameters_are_errors() {
    let index = flat(&data(20, DIM, 18), &(0..20).collect::<Vec<_>>());
    let q = data(1, DIM, 19);
    // A bitmap shorter than its len would be read out of bounds: refused before the call.
    let short = [0xffu8];
    let err = index
        .search_with(&q, 1, &SearchOptions::new().filter(Filter::Bitmap { first: 0, bits: &short, len: 9 }))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("bitmap"), "{err}");
    let err = index
        .range_search_with(
            &q,
            1.0,
            &SearchOptions::new().filter(Filter::Bitmap { first: 0, bits: &[], len: 1 }),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // Parameter names: a NUL byte, an unknown name, a build parameter, a bad value.
    let err = index.search_with(&q, 1, &SearchOptions::new().param("np\0robe", 1.0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = index.search_with(&q, 1, &SearchOptions::new().param("no_such_param", 1.0)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotFound | ErrorKind::InvalidArgument), "{err}");
    let ivf = Index::builder(Kind::IVF_FLAT, Metric::L2, DIM).param("nlist", 4).build().unwrap();
    ivf.add(&data(100, DIM, 20)).unwrap();
    ivf.build().unwrap();
    assert!(ivf.search_with(&q, 1, &SearchOptions::new().param("nlist", 8.0)).is_err());
    assert!(ivf.search_with(&q, 1, &SearchOptions::new().param("nprobe", f64::NAN)).is_err());
    assert!(ivf.search_with(&q, 1, &SearchOptions::new().param("nprobe", -1.0)).is_err());
    // The same options still work with a good value.
    assert!(ivf.search_with(&q, 1, &SearchOptions::new().param("nprobe", 2.0)).is_ok());
    // Removing id -1 (never stored) and ids that were never added removes nothing.
    if let Some(removed) = supported("remove", Kind::FLAT, index.remove(&[-1, 12345, i64::MIN])) {
        assert_eq!(removed, 0);
        assert_eq!(index.len(), 20);
    }
    assert!(!index.contains(-1));
}
