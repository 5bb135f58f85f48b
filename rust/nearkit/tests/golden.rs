//! The golden conformance suite: every case of tests/golden/manifest.json, against every index
//! kind the library reports as exact that supports the case's metric, k-NN and range search,
//! directly and again after a round trip through bytes and through a file.

mod common;

use common::{check_knn_row, check_range_row, read_data, Expected, Manifest, TempDir, Tolerance};
use nearkit::{Index, Kind, KindInfo, Metric, VectorType};

/// Checks an index against a case's expectations; returns the failures.
fn check(
    index: &Index,
    queries: &common::Data,
    k: usize,
    radius: f64,
    expected: &Expected,
    tol: &Tolerance,
    label: &str,
) -> Vec<String> {
    let mut failures = Vec::new();
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

fn exact_kinds_for(metric: Metric) -> Vec<KindInfo> {
    Kind::all().into_iter().filter(|info| info.is_exact() && info.supports(metric)).collect()
}

#[test]
fn golden_manifest_every_case_every_exact_kind() {
    let manifest = Manifest::load();
    assert!(!manifest.cases.is_empty(), "the manifest has no cases");
    let tmp = TempDir::new("golden");
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut kinds_seen = std::collections::BTreeSet::new();

    for case in &manifest.cases {
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
        let kinds = exact_kinds_for(metric);
        assert!(!kinds.is_empty(), "{}: no exact kind supports metric {metric}", case.name);

        for info in kinds {
            let label = format!("{} [{}]", case.name, info.name());
            let mut index = match Index::builder(info.kind(), metric, dataset.dimension).threads(2).build() {
                Ok(index) => index,
                Err(e) => {
                    failures.push(format!("{label}: create failed: {e}"));
                    continue;
                }
            };
            if index.vector_type() != vector_type {
                // The kind supports the metric but on the other vector type: not this case's.
                continue;
            }
            runs += 1;
            kinds_seen.insert(info.name());
            if let Err(e) = index.add(base.vectors()).and_then(|_| index.build()) {
                failures.push(format!("{label}: add/build failed: {e}"));
                continue;
            }
            assert_eq!(index.len(), dataset.count);
            failures.extend(check(
                &index,
                &queries,
                case.k,
                case.radius,
                &expected,
                &manifest.tolerance,
                &label,
            ));

            // Round trip through bytes.
            match index.to_bytes().and_then(|bytes| Index::from_bytes(&bytes)) {
                Ok(copy) => failures.extend(check(
                    &copy,
                    &queries,
                    case.k,
                    case.radius,
                    &expected,
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
                    &queries,
                    case.k,
                    case.radius,
                    &expected,
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
    assert!(runs >= manifest.cases.len(), "every case must run against at least one kind");
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(40).collect();
        panic!("{} golden failures (first {}):\n{:#?}", failures.len(), shown.len(), shown);
    }
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
