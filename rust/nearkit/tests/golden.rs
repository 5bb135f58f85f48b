//! The golden conformance suite: every case of tests/golden/manifest.json, against every index
//! kind the library reports as exact that supports the case's metric, and against each approximate
//! kind of the manifest under its `exact_params`: k-NN and range search, directly and again after a
//! round trip through bytes and through a file. Under their `recall_params` the approximate kinds
//! must reach the manifest's recall@k floors. The manifest's living cases run on the same kinds:
//! remove ids, add some back, build again, search with an id-list filter, and again on a copy
//! loaded from bytes (docs/golden.md, "Living cases").

mod common;

use common::{
    check_knn_row, check_range_row, read_data, recall_row, Approximate, Case, Data, Dataset, Expected,
    LivingChanges, Manifest, TempDir, Tolerance,
};
use nearkit::{ErrorKind, Filter, Index, Kind, KindInfo, Metric, SearchOptions, VectorType};

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

/// How [`check`] runs its searches: per-call options (`None`: the plain `search` and
/// `range_search`), and all queries in one call or one query per call.
#[derive(Clone, Copy)]
struct Searches<'o, 'f> {
    options: Option<&'o SearchOptions<'f>>,
    one_per_call: bool,
}

/// The plain searches of all queries at once.
const PLAIN: Searches = Searches { options: None, one_per_call: false };

impl Searches<'_, '_> {
    /// The query ranges of the calls: `0..nq`, or one range per query.
    fn batches(&self, nq: usize) -> Vec<std::ops::Range<usize>> {
        if self.one_per_call {
            (0..nq).map(|q| q..q + 1).collect()
        } else {
            std::iter::once(0..nq).collect()
        }
    }
}

/// Checks an index against a case's expectations; returns the failures.
fn check(index: &Index, golden: &Golden, tol: &Tolerance, label: &str, how: Searches) -> Vec<String> {
    let mut failures = Vec::new();
    for batch in how.batches(golden.queries.len()) {
        check_knn(index, golden, tol, label, how, batch.clone(), &mut failures);
        check_range(index, golden, tol, label, how, batch, &mut failures);
    }
    failures
}

/// k-NN search of the queries `batch` in one call, each row compared with the expected one.
fn check_knn(
    index: &Index,
    golden: &Golden,
    tol: &Tolerance,
    label: &str,
    how: Searches,
    batch: std::ops::Range<usize>,
    failures: &mut Vec<String>,
) {
    let (expected, k) = (&golden.expected, golden.case.k);
    let queries = golden.queries.rows(batch.start, batch.end);
    let result = match how.options {
        None => index.search(queries, k),
        Some(options) => index.search_with(queries, k, options),
    };
    let result = match result {
        Ok(result) => result,
        Err(e) => return failures.push(format!("{label}: knn search of queries {batch:?} failed: {e}")),
    };
    if result.len() != batch.len() || result.k() != k {
        let (n, rk, nq) = (result.len(), result.k(), batch.len());
        return failures.push(format!("{label}: knn result is {n}x{rk}, expected {nq}x{k}"));
    }
    for (row, q) in batch.enumerate() {
        if let Err(e) = check_knn_row(
            tol,
            &expected.knn_ids[q],
            &expected.knn_distances[q],
            result.query_ids(row),
            result.query_distances(row),
        ) {
            failures.push(format!("{label}: knn query {q}: {e}"));
        }
    }
}

/// Range search of the queries `batch` in one call, each row compared with the expected one.
fn check_range(
    index: &Index,
    golden: &Golden,
    tol: &Tolerance,
    label: &str,
    how: Searches,
    batch: std::ops::Range<usize>,
    failures: &mut Vec<String>,
) {
    let (expected, radius) = (&golden.expected, golden.case.radius);
    let queries = golden.queries.rows(batch.start, batch.end);
    // The manifest's radius is a float32 value written as a double: the cast is exact.
    let result = match how.options {
        None => index.range_search(queries, radius as f32),
        Some(options) => index.range_search_with(queries, radius as f32, options),
    };
    let result = match result {
        Ok(result) => result,
        Err(e) => return failures.push(format!("{label}: range search of queries {batch:?} failed: {e}")),
    };
    if result.len() != batch.len() {
        let (n, nq) = (result.len(), batch.len());
        return failures.push(format!("{label}: range result has {n} queries, expected {nq}"));
    }
    for (row, q) in batch.enumerate() {
        if let Err(e) = check_range_row(
            tol,
            radius,
            &expected.range_ids[q],
            &expected.range_distances[q],
            result.query_ids(row),
            result.query_distances(row),
        ) {
            failures.push(format!("{label}: range query {q}: {e}"));
        }
    }
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
                Some(a) => format!("{} [{} {params}]", case.name, a.label),
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
            failures.extend(check(&index, &golden, &manifest.tolerance, &label, PLAIN));

            // Round trip through bytes.
            match index.to_bytes().and_then(|bytes| Index::from_bytes(&bytes)) {
                Ok(copy) => failures.extend(check(
                    &copy,
                    &golden,
                    &manifest.tolerance,
                    &format!("{label} after to_bytes/from_bytes"),
                    PLAIN,
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
                    PLAIN,
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

// ---- living cases (docs/golden.md, "Living cases") -------------------------------------------

/// Why a living unit stopped before its searches: the kind answered `Unsupported` (a skip while
/// the kinds gain removal and filters), or a failure.
enum Stop {
    Skip(String),
    Fail(String),
}

/// The stop for an error of `what` at `stage`: a skip when it is `Unsupported`.
fn stop(label: &str, stage: &str, what: &str, e: nearkit::Error) -> Stop {
    if e.kind() == ErrorKind::Unsupported {
        Stop::Skip(format!("SKIP {label} stage={stage}: {what} returned Unsupported ({e})"))
    } else {
        Stop::Fail(format!("{label} stage={stage}: {what} failed: {e}"))
    }
}

/// Writes a line to the process's stderr directly: unlike `eprintln!`, the test harness does not
/// capture it, so SKIP lines and the living summary show in a passing run (and in ctest's log).
fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Removes the case's ids (one call, even when empty), adds the add_back ids again with their
/// base vectors (one call), builds again and checks the count.
fn apply_living_changes(
    index: &Index,
    golden: &Golden,
    changes: &LivingChanges,
    label: &str,
) -> Result<(), Stop> {
    let removed = index.remove(&changes.remove).map_err(|e| stop(label, "remove", "remove", e))?;
    if removed != changes.remove.len() as u64 {
        let wanted = changes.remove.len();
        return Err(Stop::Fail(format!("{label} stage=remove: {removed} removed, {wanted} expected")));
    }
    let vectors = golden.base.gather(&changes.add_back);
    index
        .add_with_ids(vectors.vectors(), &changes.add_back)
        .map_err(|e| stop(label, "add_back", "add_with_ids", e))?;
    index.build().map_err(|e| stop(label, "rebuild", "build", e))?;
    check_living_count(index, golden, changes, &format!("{label} stage=original"))
}

/// The count a living index must report: base - removed + added back.
fn check_living_count(
    index: &Index,
    golden: &Golden,
    changes: &LivingChanges,
    label: &str,
) -> Result<(), Stop> {
    let wanted = golden.dataset.count - changes.remove.len() + changes.add_back.len();
    match index.len() {
        count if count == wanted => Ok(()),
        count => {
            Err(Stop::Fail(format!("{label}: count {count} after remove and add back, expected {wanted}")))
        }
    }
}

/// A copy loaded from bytes must be the same index: kind, metric, vector type, dimension, count.
fn check_loaded(index: &Index, loaded: &Index, label: &str) -> Result<(), String> {
    let (a, b) = (
        (index.kind(), index.metric(), index.vector_type(), index.dimension(), index.len()),
        (loaded.kind(), loaded.metric(), loaded.vector_type(), loaded.dimension(), loaded.len()),
    );
    if a == b {
        Ok(())
    } else {
        Err(format!("{label}: loaded (kind, metric, vector type, dimension, count) {b:?}, saved {a:?}"))
    }
}

/// What one living case did on one kind.
enum Unit {
    /// The kind takes the case's metric on the other vector type: not this case's.
    NotForKind,
    Skipped(String),
    /// Ran; the failures, if any.
    Ran(Vec<String>),
}

/// A living case on one kind: base added and built, the changes applied, the filtered searches
/// checked on the index (all queries at once, and one per call) and on a copy loaded from bytes
/// (searched on one thread).
fn run_living_on_kind(
    golden: &Golden,
    changes: &LivingChanges,
    info: &KindInfo,
    params: &str,
    tol: &Tolerance,
    label: &str,
) -> Unit {
    let index = match golden.built_index(info, params) {
        Ok(Some(index)) => index,
        Ok(None) => return Unit::NotForKind,
        Err(e) => return Unit::Ran(vec![format!("{label}: {e}")]),
    };
    match apply_living_changes(&index, golden, changes, label) {
        Ok(()) => {}
        Err(Stop::Skip(line)) => return Unit::Skipped(line),
        Err(Stop::Fail(failure)) => return Unit::Ran(vec![failure]),
    }
    let mut options = SearchOptions::new();
    if let Some(ids) = &changes.filter {
        options = options.filter(Filter::Ids(ids));
        // One query, k = 1: a kind that cannot filter yet says so here.
        if let Err(e) = index.search_with(golden.queries.rows(0, 1), 1, &options) {
            if let Stop::Skip(line) = stop(label, "original", "a filtered search_with", e) {
                return Unit::Skipped(line);
            }
        }
    }
    let how = Searches { options: Some(&options), one_per_call: false };
    let mut failures = check(&index, golden, tol, &format!("{label} stage=original"), how);
    let single = Searches { one_per_call: true, ..how };
    failures.extend(check(&index, golden, tol, &format!("{label} stage=single"), single));

    let buffer_label = format!("{label} stage=buffer");
    match index.to_bytes().and_then(|bytes| Index::from_bytes(&bytes)) {
        Ok(loaded) => {
            let same = check_loaded(&index, &loaded, &buffer_label).and_then(|_| {
                match check_living_count(&loaded, golden, changes, &buffer_label) {
                    Err(Stop::Fail(failure) | Stop::Skip(failure)) => Err(failure),
                    Ok(()) => Ok(()),
                }
            });
            match same {
                Ok(()) => {
                    let one_thread = options.clone().threads(1);
                    let how = Searches { options: Some(&one_thread), one_per_call: false };
                    failures.extend(check(&loaded, golden, tol, &buffer_label, how));
                }
                Err(failure) => failures.push(failure),
            }
        }
        Err(e) => failures.push(format!("{buffer_label}: to_bytes/from_bytes failed: {e}")),
    }
    Unit::Ran(failures)
}

/// Units of one kind: passed, failed, skipped.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// Every living case of the manifest on every kind of its metric (approximate kinds under their
/// `exact_params`): remove, add back, build again, filtered k-NN and range search compared by the
/// suite's rule, and again on a copy loaded from bytes. A kind whose remove, add after build or
/// filtered search answers `Unsupported` is reported on a SKIP line and not failed.
#[test]
fn golden_living_cases_every_kind() {
    let manifest = Manifest::load();
    assert!(!manifest.living.is_empty(), "the manifest has no living cases");
    let kinds = kinds_under_test(&manifest);
    let mut failures = Vec::new();
    let mut tallies: std::collections::BTreeMap<String, Tally> = Default::default();

    for case in &manifest.living {
        let golden = Golden::load(&manifest, case);
        let changes = LivingChanges::load(&case.expected, golden.dataset.count);
        let mut exact_runs = 0;
        for (info, approximate) in kinds.iter().filter(|(info, _)| info.supports(golden.metric)) {
            let params = approximate.map_or("", |a| &a.exact_params);
            let kind_label = match approximate {
                None => info.name().to_string(),
                Some(a) => format!("{} {params}", a.label),
            };
            let label = format!("case={} kind={kind_label}", case.name);
            let unit = run_living_on_kind(&golden, &changes, info, params, &manifest.tolerance, &label);
            let tally = tallies.entry(kind_label).or_default();
            match unit {
                Unit::NotForKind => continue,
                Unit::Skipped(line) => {
                    report(&line);
                    tally.skipped += 1;
                }
                Unit::Ran(unit_failures) if unit_failures.is_empty() => tally.passed += 1,
                Unit::Ran(unit_failures) => {
                    tally.failed += 1;
                    failures.extend(unit_failures);
                }
            }
            exact_runs += usize::from(approximate.is_none());
        }
        if exact_runs == 0 {
            failures.push(format!("case={}: no exact kind ran it (metric {})", case.name, golden.metric));
        }
    }
    let by_kind: Vec<String> = tallies
        .iter()
        .map(|(kind, t)| format!("{kind} {} passed, {} failed, {} skipped", t.passed, t.failed, t.skipped))
        .collect();
    report(&format!("golden living: {} cases; by kind: {}", manifest.living.len(), by_kind.join("; ")));
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(40).collect();
        panic!("{} golden living failures (first {}):\n{:#?}", failures.len(), shown.len(), shown);
    }
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
            let label = format!("{} [{} {params}]", case.name, approximate.label);
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
