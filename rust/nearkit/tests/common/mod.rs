//! Shared helpers of the integration tests: TEXMEX readers, the golden manifest and its
//! comparison rule, the `nearkit` command, temporary directories.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// The repository root (this crate lives in rust/nearkit).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// tests/golden, or $NEARKIT_GOLDEN_DIR.
pub fn golden_dir() -> PathBuf {
    std::env::var_os("NEARKIT_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests").join("golden"))
}

/// Vectors read from a .fvecs (float32) or .bvecs (uint8) file.
pub enum Data {
    Float { dim: usize, values: Vec<f32> },
    Binary { bytes_per_vector: usize, values: Vec<u8> },
}

impl Data {
    pub fn len(&self) -> usize {
        match self {
            Data::Float { dim, values } => values.len() / dim,
            Data::Binary { bytes_per_vector, values } => values.len() / bytes_per_vector,
        }
    }

    pub fn vectors(&self) -> nearkit::Vectors<'_> {
        match self {
            Data::Float { values, .. } => nearkit::Vectors::Float32(values),
            Data::Binary { values, .. } => nearkit::Vectors::Binary(values),
        }
    }

    /// Rows `from..to` as vectors.
    pub fn rows(&self, from: usize, to: usize) -> nearkit::Vectors<'_> {
        match self {
            Data::Float { dim, values } => nearkit::Vectors::Float32(&values[from * dim..to * dim]),
            Data::Binary { bytes_per_vector: b, values } => {
                nearkit::Vectors::Binary(&values[from * b..to * b])
            }
        }
    }

    /// The rows of `ids`, in that order, as vectors of their own.
    pub fn gather(&self, ids: &[i64]) -> Data {
        match self {
            Data::Float { dim, values } => Data::Float {
                dim: *dim,
                values: ids
                    .iter()
                    .flat_map(|&id| &values[id as usize * dim..(id as usize + 1) * dim])
                    .copied()
                    .collect(),
            },
            Data::Binary { bytes_per_vector: b, values } => Data::Binary {
                bytes_per_vector: *b,
                values: ids
                    .iter()
                    .flat_map(|&id| &values[id as usize * b..(id as usize + 1) * b])
                    .copied()
                    .collect(),
            },
        }
    }
}

/// Reads TEXMEX rows: per row a little-endian int32 count, then that many elements of
/// `elem_size` bytes. Returns (count per row, concatenated element bytes).
fn read_vecs(path: &Path, elem_size: usize) -> (usize, Vec<u8>, usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut pos = 0;
    let mut dim = None;
    let mut out = Vec::new();
    let mut rows = 0;
    while pos < bytes.len() {
        assert!(pos + 4 <= bytes.len(), "{}: truncated row header", path.display());
        let d = i32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
        assert!(d > 0, "{}: bad row length {d}", path.display());
        let d = d as usize;
        if let Some(prev) = dim {
            assert_eq!(prev, d, "{}: rows of different lengths", path.display());
        }
        dim = Some(d);
        pos += 4;
        let n = d * elem_size;
        assert!(pos + n <= bytes.len(), "{}: truncated row", path.display());
        out.extend_from_slice(&bytes[pos..pos + n]);
        pos += n;
        rows += 1;
    }
    (dim.unwrap_or(0), out, rows)
}

pub fn read_fvecs(path: &Path) -> Data {
    let (dim, bytes, _) = read_vecs(path, 4);
    let values = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    Data::Float { dim, values }
}

pub fn read_bvecs(path: &Path) -> Data {
    let (bytes_per_vector, values, _) = read_vecs(path, 1);
    Data::Binary { bytes_per_vector, values }
}

/// Reads .fvecs or .bvecs by extension.
pub fn read_data(path: &Path) -> Data {
    match path.extension().and_then(|e| e.to_str()) {
        Some("fvecs") => read_fvecs(path),
        Some("bvecs") => read_bvecs(path),
        _ => panic!("unknown vector file type: {}", path.display()),
    }
}

/// Reads .ivecs rows (possibly of different lengths) as i64.
pub fn read_ivecs_rows(path: &Path) -> Vec<Vec<i64>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut rows = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let d = i32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 4;
        let row = bytes[pos..pos + 4 * d]
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
            .collect();
        pos += 4 * d;
        rows.push(row);
    }
    rows
}

/// Reads .fvecs rows (possibly of different lengths).
pub fn read_fvecs_rows(path: &Path) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut rows = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let d = i32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 4;
        let row = bytes[pos..pos + 4 * d]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        pos += 4 * d;
        rows.push(row);
    }
    rows
}

// ---- the golden manifest ----------------------------------------------------------------------

pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

impl Tolerance {
    pub fn tol(&self, d: f64) -> f64 {
        self.atol + self.rtol * d.abs()
    }
}

pub struct Dataset {
    pub name: String,
    pub vector_type: String,
    pub dimension: usize,
    pub base: PathBuf,
    pub queries: PathBuf,
    pub count: usize,
    pub query_count: usize,
}

pub struct Case {
    pub name: String,
    pub dataset: String,
    pub metric: String,
    pub k: usize,
    pub radius: f64,
    pub expected: PathBuf,
}

/// An entry of the manifest's "approximate" section.
pub struct Approximate {
    /// The entry's name in the manifest.
    pub label: String,
    /// The library kind: the entry's "kind", or its label when it has none.
    pub kind: String,
    /// Index parameters ("name=value,...") under which the kind must pass every case exactly.
    pub exact_params: String,
    /// Index parameters under which its recall@k must reach `min_recall`.
    pub recall_params: String,
    /// Recall@k floor per dataset name; datasets not listed are not checked for recall.
    pub min_recall: BTreeMap<String, f64>,
}

pub struct Manifest {
    pub tolerance: Tolerance,
    pub datasets: Vec<Dataset>,
    pub cases: Vec<Case>,
    /// The living cases (docs/golden.md, "Living cases"), each as a [`Case`] whose `expected` is
    /// its `living/<name>.json` (the expected rows share the layout of `expected/<case>.json`;
    /// [`LivingChanges::load`] reads the changes from the same file). Empty when the manifest
    /// has no "living" list.
    pub living: Vec<Case>,
    pub approximate: Vec<Approximate>,
}

impl Manifest {
    pub fn load() -> Manifest {
        let dir = golden_dir();
        let path = dir.join("manifest.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let json: Value = serde_json::from_str(&text).expect("manifest.json is not JSON");
        assert_eq!(json["format"], 1, "unknown manifest format");
        let cmp = &json["comparison"];
        let tolerance = Tolerance {
            rtol: cmp["distance_rtol"].as_f64().expect("distance_rtol"),
            atol: cmp["distance_atol"].as_f64().expect("distance_atol"),
        };
        let datasets = json["datasets"]
            .as_object()
            .expect("datasets")
            .iter()
            .map(|(name, d)| Dataset {
                name: name.clone(),
                vector_type: d["vector_type"].as_str().expect("vector_type").to_string(),
                dimension: d["dimension"].as_u64().expect("dimension") as usize,
                base: dir.join(d["base"].as_str().expect("base")),
                queries: dir.join(d["queries"].as_str().expect("queries")),
                count: d["count"].as_u64().expect("count") as usize,
                query_count: d["query_count"].as_u64().expect("query_count") as usize,
            })
            .collect();
        let cases = json["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| Case {
                name: c["name"].as_str().expect("name").to_string(),
                dataset: c["dataset"].as_str().expect("dataset").to_string(),
                metric: c["metric"].as_str().expect("metric").to_string(),
                k: c["k"].as_u64().expect("k") as usize,
                radius: c["radius"].as_f64().expect("radius"),
                expected: dir.join(c["expected"].as_str().expect("expected")),
            })
            .collect();
        let living = json.get("living").map_or_else(Vec::new, |list| {
            list.as_array()
                .expect("living must be an array")
                .iter()
                .map(|c| Case {
                    name: c["name"].as_str().expect("living name").to_string(),
                    dataset: c["dataset"].as_str().expect("living dataset").to_string(),
                    metric: c["metric"].as_str().expect("living metric").to_string(),
                    k: c["k"].as_u64().expect("living k") as usize,
                    radius: c["radius"].as_f64().expect("living radius"),
                    expected: dir.join(c["case"].as_str().expect("living case")),
                })
                .collect()
        });
        let approximate = json.get("approximate").map_or_else(Vec::new, |section| {
            section["kinds"]
                .as_object()
                .expect("approximate.kinds")
                .iter()
                .map(|(label, a)| Approximate {
                    label: label.clone(),
                    kind: a
                        .get("kind")
                        .map_or_else(|| label.clone(), |k| k.as_str().expect("kind").to_string()),
                    exact_params: a["exact_params"].as_str().expect("exact_params").to_string(),
                    recall_params: a["recall_params"].as_str().expect("recall_params").to_string(),
                    min_recall: a["min_recall"]
                        .as_object()
                        .expect("min_recall")
                        .iter()
                        .map(|(dataset, floor)| (dataset.clone(), floor.as_f64().expect("min_recall floor")))
                        .collect(),
                })
                .collect()
        });
        let manifest = Manifest { tolerance, datasets, cases, living, approximate };
        for a in &manifest.approximate {
            for (dataset, floor) in &a.min_recall {
                assert!(
                    manifest.datasets.iter().any(|d| &d.name == dataset) && (0.0..=1.0).contains(floor),
                    "approximate kind {}: min_recall[{dataset}] = {floor} must name a dataset and be in [0, 1]",
                    a.kind
                );
            }
        }
        manifest
    }

    pub fn dataset(&self, name: &str) -> &Dataset {
        self.datasets.iter().find(|d| d.name == name).unwrap_or_else(|| panic!("no dataset {name}"))
    }
}

/// Expected results of one case: rows of ids and distances (None = null = +infinity).
pub struct Expected {
    pub knn_ids: Vec<Vec<i64>>,
    pub knn_distances: Vec<Vec<Option<f64>>>,
    pub range_ids: Vec<Vec<i64>>,
    pub range_distances: Vec<Vec<f64>>,
}

impl Expected {
    pub fn load(path: &Path) -> Expected {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let json: Value = serde_json::from_str(&text).expect("expected file is not JSON");
        let ids = |key: &str| -> Vec<Vec<i64>> {
            json[key]
                .as_array()
                .unwrap_or_else(|| panic!("{key}"))
                .iter()
                .map(|row| row.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect())
                .collect()
        };
        let dists = |key: &str| -> Vec<Vec<Option<f64>>> {
            json[key]
                .as_array()
                .unwrap_or_else(|| panic!("{key}"))
                .iter()
                .map(|row| row.as_array().unwrap().iter().map(Value::as_f64).collect())
                .collect()
        };
        Expected {
            knn_ids: ids("knn_ids"),
            knn_distances: dists("knn_distances"),
            range_ids: ids("range_ids"),
            range_distances: dists("range_distances")
                .into_iter()
                .map(|row| row.into_iter().map(|d| d.expect("null range distance")).collect())
                .collect(),
        }
    }
}

/// The changes of a living case (`living/<name>.json`): ids to remove (ascending), ids to add
/// back with their base vectors (in this order), and the allow-list of the searches (`None` for
/// JSON null: no filter; an empty list allows nothing).
pub struct LivingChanges {
    pub remove: Vec<i64>,
    pub add_back: Vec<i64>,
    pub filter: Option<Vec<i64>>,
}

impl LivingChanges {
    /// Reads the changes; every id must lie in `0..count` (the dataset's base).
    pub fn load(path: &Path, count: usize) -> LivingChanges {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let json: Value = serde_json::from_str(&text).expect("living case file is not JSON");
        let ids = |key: &str| -> Vec<i64> {
            let list =
                json[key].as_array().unwrap_or_else(|| panic!("{}: {key} is no array", path.display()));
            list.iter()
                .map(|v| match v.as_i64() {
                    Some(id) if (0..count as i64).contains(&id) => id,
                    _ => panic!("{}: {key} holds {v}, not an id in [0, {count})", path.display()),
                })
                .collect()
        };
        let filter = match json.get("filter") {
            Some(Value::Null) => None,
            Some(_) => Some(ids("filter")),
            None => panic!("{}: no \"filter\" (null for no filter)", path.display()),
        };
        LivingChanges { remove: ids("remove"), add_back: ids("add_back"), filter }
    }
}

/// Checks one k-NN row with the manifest's rule; Err describes the first violation.
pub fn check_knn_row(
    tol: &Tolerance,
    exp_ids: &[i64],
    exp_d: &[Option<f64>],
    ids: &[i64],
    d: &[f32],
) -> Result<(), String> {
    if ids.len() != exp_ids.len() || d.len() != exp_ids.len() {
        return Err(format!("row has {} entries, expected {}", ids.len(), exp_ids.len()));
    }
    for j in 0..exp_ids.len() {
        // (1) missing positions agree.
        if (exp_ids[j] == -1) != (ids[j] == -1) {
            return Err(format!("position {j}: id {} where {} was expected", ids[j], exp_ids[j]));
        }
        if exp_ids[j] == -1 {
            if d[j] != f32::INFINITY {
                return Err(format!("position {j}: missing neighbour has distance {}, not +inf", d[j]));
            }
            continue;
        }
        // (2) distances agree position by position.
        let e = exp_d[j]
            .ok_or_else(|| format!("position {j}: expected id {} has a null distance", exp_ids[j]))?;
        if (d[j] as f64 - e).abs() > tol.tol(e) {
            return Err(format!("position {j}: distance {} where {e} was expected (id {})", d[j], ids[j]));
        }
    }
    // (3) ids, up to ties at the boundary.
    let Some(dk) = exp_d.iter().flatten().copied().reduce(f64::max) else { return Ok(()) };
    let bound = dk - tol.tol(dk);
    for (j, &id) in exp_ids.iter().enumerate() {
        if id != -1 && exp_d[j].is_some_and(|e| e < bound) && !ids.contains(&id) {
            return Err(format!("expected id {id} (distance {:?}) is missing", exp_d[j]));
        }
    }
    for (j, &id) in ids.iter().enumerate() {
        if id == -1 {
            continue;
        }
        if !exp_ids.contains(&id) && (d[j] as f64) < bound {
            return Err(format!("unexpected id {id} at distance {} < {bound}", d[j]));
        }
        if ids[..j].contains(&id) {
            return Err(format!("id {id} appears twice"));
        }
    }
    Ok(())
}

/// Recall of one k-NN row: (expected ids other than -1 found among the actual ids, expected ids
/// other than -1).
pub fn recall_row(exp_ids: &[i64], ids: &[i64]) -> (usize, usize) {
    let wanted = exp_ids.iter().filter(|&&id| id != -1);
    (wanted.clone().filter(|id| ids.contains(id)).count(), wanted.count())
}

/// Checks one range row with the manifest's rule.
pub fn check_range_row(
    tol: &Tolerance,
    radius: f64,
    exp_ids: &[i64],
    exp_d: &[f64],
    ids: &[i64],
    d: &[f32],
) -> Result<(), String> {
    if ids.len() != d.len() {
        return Err("ids and distances differ in length".into());
    }
    let lo = radius - tol.tol(radius);
    let hi = radius + tol.tol(radius);
    for (&id, &e) in exp_ids.iter().zip(exp_d) {
        match ids.iter().position(|&a| a == id) {
            Some(p) if (d[p] as f64 - e).abs() > tol.tol(e) => {
                return Err(format!("id {id}: distance {} where {e} was expected", d[p]));
            }
            None if e < lo => return Err(format!("expected id {id} (distance {e}) is missing")),
            _ => {}
        }
    }
    for (j, (&id, &dist)) in ids.iter().zip(d).enumerate() {
        let inside_tolerance = (lo..=hi).contains(&(dist as f64));
        if !exp_ids.contains(&id) && !inside_tolerance {
            return Err(format!("unexpected id {id} at distance {dist}, radius {radius}"));
        }
        if j > 0 && d[j - 1] > dist {
            return Err(format!("distances not non-decreasing at position {j}"));
        }
        if ids[..j].contains(&id) {
            return Err(format!("id {id} appears twice"));
        }
    }
    Ok(())
}

// ---- the nearkit command ----------------------------------------------------------------------

/// The `nearkit` command: $NEARKIT_CLI (set by ctest; must exist then), else the repository's
/// build/nearkit if it was built; None otherwise.
pub fn cli() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NEARKIT_CLI") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "NEARKIT_CLI={} does not exist", path.display());
        return Some(path);
    }
    let default = repo_root().join("build").join("nearkit");
    default.is_file().then_some(default)
}

/// Runs the command with arguments; panics with its stderr on failure.
pub fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("NEARKIT_PROGRESS", "0")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {:?} failed ({}): {}",
        program.display(),
        args,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nearkit-rust-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create a temporary directory");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn s(path: &Path) -> &str {
    path.to_str().expect("non-UTF-8 path")
}
