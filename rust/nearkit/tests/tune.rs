//! Index::tune (issue 16, part 4): the cheapest runtime setting reaching a recall@k target on a
//! sample, set on the index; exact kinds have nothing to tune; bad input.

use std::collections::HashSet;

use nearkit::{ErrorKind, Index, Kind, Metric, TuneLimits};

const DIM: usize = 24;
const N: usize = 6000;
const NQ: usize = 200;

/// Points around 30 centres, overlapping so that a query's neighbours spread over lists.
fn clustered(n: usize, seed: u64) -> Vec<f32> {
    clustered_around(n, seed, 30, 12.0)
}

fn clustered_around(n: usize, seed: u64, clusters: usize, spread: f64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
    let mut rand = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f64) / (1u64 << 24) as f64
    };
    let centres: Vec<f64> = (0..clusters * DIM).map(|_| rand() * 20.0 - 10.0).collect();
    let mut x = Vec::with_capacity(n * DIM);
    for _ in 0..n {
        let c = ((rand() * clusters as f64) as usize).min(clusters - 1);
        for j in 0..DIM {
            x.push((centres[c * DIM + j] + (rand() - 0.5) * 2.0 * spread) as f32);
        }
    }
    x
}

fn recall(index: &Index, flat: &Index, queries: &[f32], k: usize) -> f64 {
    let got = index.search(queries, k).unwrap();
    let want = flat.search(queries, k).unwrap();
    let nq = queries.len() / DIM;
    let mut hits = 0;
    for q in 0..nq {
        let truth: HashSet<i64> = want.query_ids(q).iter().copied().collect();
        hits += got.query_ids(q).iter().filter(|id| truth.contains(id)).count();
    }
    hits as f64 / (nq * k) as f64
}

fn reaches_the_target(kind: &str, param: &str, params: &[(&str, u32)]) {
    let Ok(kind) = Kind::by_name(kind) else {
        eprintln!("skipped: {kind} is not in this library");
        return;
    };
    let x = clustered(N + 2 * NQ, 5);
    let (base, rest) = x.split_at(N * DIM);
    let (sample, held_out) = rest.split_at(NQ * DIM);
    let mut builder = Index::builder(kind, Metric::L2, DIM).threads(1);
    for (name, value) in params {
        builder = builder.param(name, value);
    }
    let index = builder.build().unwrap();
    index.add(base).unwrap();
    index.build().unwrap();
    let flat = Index::new(Kind::FLAT, Metric::L2, DIM).unwrap();
    flat.add(base).unwrap();
    let r = index.tune(sample, 10, 0.95).unwrap();
    assert_eq!(r.param, Some(param));
    assert!(r.reached && r.recall >= 0.95 && r.qps > 0.0 && r.measurements >= 1, "{r:?}");
    assert_eq!(index.param(param).unwrap(), r.value);
    match r.fine_param {
        Some(fine) => assert_eq!(index.param(fine).unwrap(), r.fine_value),
        None => assert_eq!(r.fine_value, 0.0),
    }
    assert!((recall(&index, &flat, held_out, 10) - r.recall).abs() < 0.03, "{r:?}");
}

#[test]
fn ivf_flat_reaches_the_target() {
    reaches_the_target("ivf_flat", "nprobe", &[("nlist", 80)]);
}

#[test]
fn hnsw_reaches_the_target() {
    reaches_the_target("hnsw", "ef_search", &[("M", 8), ("ef_construction", 40)]);
}

/// A few large lists: one more list jumps past the target, so the tuner keeps nprobe and cuts
/// the last list short with max_codes.
#[test]
fn finer_setting_cuts_the_last_list() {
    let x = clustered_around(6300, 11, 12, 9.0);
    let (base, sample) = x.split_at(6000 * DIM);
    let index =
        Index::builder(Kind::IVF_FLAT, Metric::L2, DIM).threads(1).param("nlist", 12).build().unwrap();
    index.add(base).unwrap();
    index.build().unwrap();
    let budget = index.params().into_iter().find(|p| p.name() == "max_codes").unwrap();
    assert!(budget.is_recall_fine() && !budget.is_recall() && budget.is_integer());
    let mut chosen = 0;
    for target in [0.6, 0.8, 0.9] {
        let r = index.tune(sample, 10, target).unwrap();
        assert!(r.reached && r.recall >= target, "{r:?}");
        assert_eq!(index.param("max_codes").unwrap(), r.fine_value);
        if let Some(fine) = r.fine_param {
            assert_eq!(fine, "max_codes");
            assert!(r.fine_value >= 1.0, "{r:?}");
            chosen += 1;
        }
    }
    assert!(chosen >= 1);
}

#[test]
fn exact_kinds_have_nothing_to_tune() {
    let x = clustered(100, 6);
    let index = Index::new(Kind::FLAT, Metric::L2, DIM).unwrap();
    index.add(&x).unwrap();
    let r = index.tune(&x[..DIM * 5], 5, 0.9).unwrap();
    assert_eq!((r.param, r.recall, r.reached), (None, 1.0, true));
}

#[test]
fn bad_input() {
    let x = clustered(500, 7);
    let sample = &x[..20 * DIM];
    let index = Index::builder(Kind::IVF_FLAT, Metric::L2, DIM).param("nlist", 8).build().unwrap();
    let kind_of = |r: nearkit::Result<nearkit::TuneResult>| r.unwrap_err().kind();
    assert_eq!(kind_of(index.tune(sample, 10, 0.9)), ErrorKind::State); // empty
    index.add(&x).unwrap();
    assert_eq!(kind_of(index.tune(sample, 10, 0.9)), ErrorKind::State); // not trained
    index.build().unwrap();
    for target in [0.0, 1.5, f64::NAN] {
        assert_eq!(kind_of(index.tune(sample, 10, target)), ErrorKind::InvalidArgument);
    }
    assert_eq!(kind_of(index.tune(sample, 0, 0.9)), ErrorKind::InvalidArgument);
    assert_eq!(kind_of(index.tune(&sample[..DIM + 1], 10, 0.9)), ErrorKind::InvalidArgument);
    assert_eq!(kind_of(index.tune(&[0u8; 3][..], 10, 0.9)), ErrorKind::InvalidArgument);
    let limits = TuneLimits { max_value: 2.0, ..TuneLimits::default() };
    let r = index.tune_with(sample, 10, 1.0, &limits).unwrap();
    assert!(!r.reached && r.value == 2.0);
}
