//! The golden conformance suite: every case of tests/golden/manifest.json, against every index
//! kind the library reports as exact that supports the case's metric, and against each approximate
//! kind of the manifest under its `exact_params`: k-NN and range search, directly and again after a
//! round trip through bytes and through a file. Under their `recall_params` the approximate kinds
//! must reach the manifest's recall@k floors.

mod common;

use common::{
    check_knn_row, check_range_row, read_data, recall_row, Approximate, Case, Data, Dataset, Expected,
    Manifest, TempDir, Tolerance,
};
use nearkit::{Index, Kind, KindInfo, Metric, VectorType};

/// One case with its data loaded.
struct Golden<'m> {
    case: &'m Case,
    dataset: &'m Dataset,
    metric: Metric,
    vector_type: VectorType,
    base: Data,
    queries: Data,
    expected: Expected,
}

impl<'m> Golden<'m> {
    fn load(manifest: &'m Manifest, case: &'m Case) -> Golden<'m> {
        let dataset = manifest.dataset(&case.dataset);
        let base = read_data(&dataset.base);
        let queries = read_data(&dataset.queries);
        assert_eq!(base.len(), dataset.count, "{}: base count", dataset.name);
        assert_eq!(queries.len(), dataset.query_count, "{}: query count", dataset.name);
        let expected = Expected::load(&case.expected);
        assert_eq!(expected.knn_ids.len(), dataset.query_count, "{}: expected rows", case.name);
        let metric = Metric::by_name(&case.metric).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let vector_type = match dataset.vector_type.as_str() {
            "float32" => VectorType::FLOAT32,
            "binary" => VectorType::BINARY,
            other => panic!("{}: unknown vector type {other}", dataset.name),
        };
        Golden { case, dataset, metric, vector_type, base, queries, expected }
    }

    /// An index of the kind over the base vectors, created with the index parameters `params`
    /// ("name=value,...", possibly empty) and built; `Ok(None)` when the kind takes the case's
    /// metric on the other vector type (so the case is not for it).
    fn built_index(&self, info: &KindInfo, params: &str) -> Result<Option<Index>, String> {
        let params = params
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or_else(|| panic!("index parameter {p:?} is not name=value")));
        let index = Index::builder(info.kind(), self.metric, self.dataset.dimension)
            .threads(2)
            .params(params)
            .build()
            .map_err(|e| format!("create failed: {e}"))?;
        if index.vector_type() != self.vector_type {
            return Ok(None);
        }
        index
            .add(self.base.vectors())
            .and_then(|_| index.build())
            .map_err(|e| format!("add/build failed: {e}"))?;
        if index.len() != self.dataset.count {
            return Err(format!("the index holds {} vectors, expected {}", index.len(), self.dataset.count));
        }
        Ok(Some(index))
    }
}

/// Checks an index against a case's expectations; returns the failures.
fn check(index: &Index, golden: &Golden, tol: &Tolerance, label: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let (queries, expected, k, radius) =
        (&golden.queries, &golden.expected, golden.case.k, golden.case.radius);
    let nq = queries.len();
    match index.search(queries.vectors(), k) {
        Ok(result) => {
            if result.len() != nq || result.k() != k {
                failures.push(format!(
                    "{label}: knn result is {}x{}, expected {nq}x{k}",
                    result.len(),
                    result.k()
                ));
            } else {
                for q in 0..nq {
                    if let Err(e) = check_knn_row(
                        tol,
                        &expected.knn_ids[q],
                        &expected.knn_distances[q],
                        result.query_ids(q),
                        result.query_distances(q),
                    ) {
                        failures.push(format!("{label}: knn query {q}: {e}"));
                    }
                }
            }
        }
        Err(e) => failures.push(format!("{label}: knn search failed: {e}")),
    }
    match index.range_search(queries.vectors(), radius as f32) {
        Ok(result) => {
            if result.len() != nq {
                failures.push(format!("{label}: range result has {} queries, expected {nq}", result.len()));
            } else {
                for q in 0..nq {
                    if let Err(e) = check_range_row(
                        tol,
                        radius,
                        &expected.range_ids[q],
                        &expected.range_distances[q],
                        result.query_ids(q),
                        result.query_distances(q),
                    ) {
                        failures.push(format!("{label}: range query {q}: {e}"));
                    }
                }
            }
        }
        Err(e) => failures.push(format!("{label}: range search failed: {e}")),
    }
    failures
}

/// The library's kind of one of the manifest's approximate kinds; panics when it has none.
fn approximate_kind(approximate: &Approximate) -> KindInfo {
    Kind::all().into_iter().find(|info| info.name() == approximate.kind).unwrap_or_else(|| {
        panic!("the manifest's approximate kind {} is not a kind of the library", approximate.kind)
    })
}

/// The kinds the suite runs: every exact kind, then each approximate kind of the manifest.
fn kinds_under_test(manifest: &Manifest) -> Vec<(KindInfo, Option<&Approximate>)> {
    let exact = Kind::all().into_iter().filter(|info| info.is_exact()).map(|info| (info, None));
    let approximate = manifest.approximate.iter().map(|a| (approximate_kind(a), Some(a)));
    exact.chain(approximate).collect()
}

#[test]
fn golden_manifest_every_case_every_kind() {
    let manifest = Manifest::load();
    assert!(!manifest.cases.is_empty(), "the manifest has no cases");
    let kinds = kinds_under_test(&manifest);
    let tmp = TempDir::new("golden");
    let mut failures = Vec::new();
    let (mut runs, mut exact_runs) = (0, 0);
    let mut kinds_seen = std::collections::BTreeSet::new();

    for case in &manifest.cases {
        let golden = Golden::load(&manifest, case);
        let metric = golden.metric;
        assert!(
            kinds.iter().any(|(info, a)| a.is_none() && info.supports(metric)),
            "{}: no exact kind supports metric {metric}",
            case.name
        );

        for (info, approximate) in kinds.iter().filter(|(info, _)| info.supports(metric)) {
            let params = approximate.map_or("", |a| &a.exact_params);
            let label = match approximate {
                None => format!("{} [{}]", case.name, info.name()),
                Some(_) => format!("{} [{} {params}]", case.name, info.name()),
            };
            let index = match golden.built_index(info, params) {
                Ok(Some(index)) => index,
                Ok(None) => continue, // the other vector type: not this case's
                Err(e) => {
                    failures.push(format!("{label}: {e}"));
                    continue;
                }
            };
            runs += 1;
            exact_runs += usize::from(approximate.is_none());
            kinds_seen.insert(info.name());
            failures.extend(check(&index, &golden, &manifest.tolerance, &label));

            // Round trip through bytes.
            match index.to_bytes().and_then(|bytes| Index::from_bytes(&bytes)) {
                Ok(copy) => failures.extend(check(
                    &copy,
                    &golden,
                    &manifest.tolerance,
                    &format!("{label} after to_bytes/from_bytes"),
                )),
                Err(e) => failures.push(format!("{label}: bytes round trip failed: {e}")),
            }
            // Round trip through a file.
            let path = tmp.join(&format!("{}-{}.nkx", case.name, info.name()));
            match index.save(&path).and_then(|_| Index::load(&path)) {
                Ok(copy) => failures.extend(check(
                    &copy,
                    &golden,
                    &manifest.tolerance,
                    &format!("{label} after save/load"),
                )),
                Err(e) => failures.push(format!("{label}: file round trip failed: {e}")),
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    eprintln!(
        "golden: {} cases, {runs} (case, kind) runs, kinds {:?}, {} failures",
        manifest.cases.len(),
        kinds_seen,
        failures.len()
    );
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(40).collect();
        panic!("{} golden failures (first {}):\n{:#?}", failures.len(), shown.len(), shown);
    }
    assert!(exact_runs >= manifest.cases.len(), "every case must run against at least one exact kind");
}

/// Each approximate kind of the manifest, under its `recall_params`, reaches the manifest's
/// recall@k floor on every case of a dataset listed in its `min_recall` whose metric it supports.
#[test]
fn golden_approximate_kinds_reach_recall_floors() {
    let manifest = Manifest::load();
    let mut failures = Vec::new();
    let mut runs = 0;
    for approximate in &manifest.approximate {
        let info = approximate_kind(approximate);
        let params = &approximate.recall_params;
        for case in &manifest.cases {
            let Some(&floor) = approximate.min_recall.get(&case.dataset) else { continue };
            let golden = Golden::load(&manifest, case);
            if !info.supports(golden.metric) {
                continue;
            }
            let label = format!("{} [{} {params}]", case.name, info.name());
            let index = match golden.built_index(&info, params) {
                Ok(Some(index)) => index,
                Ok(None) => continue, // the other vector type: not this case's
                Err(e) => {
                    failures.push(format!("{label}: {e}"));
                    continue;
                }
            };
            runs += 1;
            let result = match index.search(golden.queries.vectors(), case.k) {
                Ok(result) => result,
                Err(e) => {
                    failures.push(format!("{label}: knn search failed: {e}"));
                    continue;
                }
            };
            let (found, wanted) = golden
                .expected
                .knn_ids
                .iter()
                .enumerate()
                .map(|(q, exp_ids)| recall_row(exp_ids, result.query_ids(q)))
                .fold((0, 0), |(f, w), (found, wanted)| (f + found, w + wanted));
            let recall = if wanted == 0 { 1.0 } else { found as f64 / wanted as f64 };
            let detail = format!("recall@{} {recall:.3} ({found}/{wanted})", case.k);
            if recall < floor {
                failures.push(format!("{label}: {detail} is below the floor {floor} of {}", case.dataset));
            } else {
                eprintln!("{label}: {detail}, floor {floor}");
            }
        }
    }
    eprintln!("golden recall: {runs} (case, kind) runs, {} failures", failures.len());
    assert!(failures.is_empty(), "{} recall failures:\n{:#?}", failures.len(), failures);
    assert!(
        manifest.approximate.iter().all(|a| a.min_recall.is_empty()) || runs > 0,
        "no recall floor of the manifest was checked"
    );
}

/// The comparison rule itself rejects wrong results (so a passing suite means something).
#[test]
fn golden_rule_rejects_wrong_results() {
    let manifest = Manifest::load();
    let tol = &manifest.tolerance;
    let case =
        manifest.cases.iter().find(|c| c.name.starts_with("uniform_d16-l2")).expect("a uniform_d16 l2 case");
    let expected = Expected::load(&case.expected);
    let ids = &expected.knn_ids[0];
    let dists: Vec<f32> = expected.knn_distances[0].iter().map(|d| d.unwrap() as f32).collect();
    let exp_d = &expected.knn_distances[0];
    assert_eq!(check_knn_row(tol, ids, exp_d, ids, &dists), Ok(()));

    let mut wrong_id = ids.clone();
    wrong_id[0] = 1_000_000;
    assert!(check_knn_row(tol, ids, exp_d, &wrong_id, &dists).is_err());
    let mut wrong_dist = dists.clone();
    wrong_dist[3] *= 1.01;
    assert!(check_knn_row(tol, ids, exp_d, ids, &wrong_dist).is_err());
    let mut missing = ids.clone();
    missing[9] = -1;
    assert!(check_knn_row(tol, ids, exp_d, &missing, &dists).is_err());
    let mut duplicate = ids.clone();
    duplicate[1] = duplicate[0];
    assert!(check_knn_row(tol, ids, exp_d, &duplicate, &dists).is_err());

    // Range: drop a match well inside the radius, add one far outside.
    let q = (0..expected.range_ids.len())
        .find(|&q| !expected.range_ids[q].is_empty())
        .expect("a non-empty range row");
    let (rids, rd) = (&expected.range_ids[q], &expected.range_distances[q]);
    let rdf: Vec<f32> = rd.iter().map(|&d| d as f32).collect();
    assert_eq!(check_range_row(tol, case.radius, rids, rd, rids, &rdf), Ok(()));
    if rd[0] < case.radius - tol.tol(case.radius) {
        assert!(check_range_row(tol, case.radius, rids, rd, &rids[1..], &rdf[1..]).is_err());
    }
    let mut extra_ids = rids.clone();
    let mut extra_d = rdf.clone();
    extra_ids.push(1_000_000);
    extra_d.push((case.radius * 2.0 + 1.0) as f32);
    assert!(check_range_row(tol, case.radius, rids, rd, &extra_ids, &extra_d).is_err());
}

/// Every metric named in the manifest is known to the library, and the flat kind (which every
/// build has) is exact and supports all of them.
#[test]
fn golden_metrics_are_known_and_flat_covers_them() {
    let manifest = Manifest::load();
    let flat = Kind::FLAT.info().expect("the library has no flat kind");
    assert!(flat.is_exact());
    for case in &manifest.cases {
        let metric = Metric::by_name(&case.metric).unwrap();
        assert!(flat.supports(metric), "flat does not support {metric}");
    }
}
