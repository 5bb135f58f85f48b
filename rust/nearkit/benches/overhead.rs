//! Call overhead of the Rust binding against C (a benchmark, not a test).
//!
//! Runs the C baseline `bench_overhead_c DIR` (from the CMake build: $NEARKIT_BENCH_OVERHEAD_C,
//! else build/bench_overhead_c in the repository), which writes DIR/base.fvecs (10,000 x 32) and
//! DIR/queries.fvecs (10,000 x 32) and prints `c_single_us` and `c_batch_s`. Then loads the same
//! files and measures the same two things through `nearkit`: a flat L2 index with one thread,
//! the median of 2,000 single-query k = 10 searches, and the best of 5 batches of all 10,000
//! queries.
//!
//! A single search here costs ~30 us, and on a shared 2-core machine the two processes' figures
//! drift by several microseconds from run to run. So the whole comparison runs in ROUNDS rounds
//! (default 3, $NEARKIT_BENCH_ROUNDS), the C program and the Rust measurement alternating, and
//! each side reports its best round. Two in-process measurements pin the overhead down further:
//! the same search through the raw C call (`nearkit_sys`) and through `Index::search`,
//! alternating call by call on identical indexes (median of the per-pair differences), on the
//! 10,000-vector index and on a 16-vector one where the search itself costs almost nothing.
//!
//! Prints `name=value` lines:
//!
//! ```text
//! c_single_us             C program: median us of one single-query k=10 search (best round)
//! c_batch_s               C program: s of the 10,000-query batch, best of 5 (best round)
//! rust_single_us          the same through Index::search (owned result: two small allocations)
//! rust_overhead_us        rust_single_us - c_single_us
//! rust_batch_s            the batch through Index::search
//! rust_batch_vs_c         rust_batch_s / c_batch_s
//! rust_single_into_us     single query through Index::search_into (caller's buffers)
//! rust_paired_overhead_us         in-process, Index::search minus the raw C call, 10,000 vectors
//! rust_paired_into_overhead_us    the same for Index::search_into
//! rust_paired_batch_vs_c          in-process batch, Index::search / raw C call (best of 5 each)
//! rust_tiny_raw_us, rust_tiny_overhead_us   raw call time and overhead on a 16-vector index
//! ```
//!
//! Run: `cargo bench -p nearkit --bench overhead` (in rust/, after building the C project).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nearkit::{sys, Index, Kind, Metric};

const K: usize = 10;
const SINGLE_RUNS: usize = 2000;
const BATCH_RUNS: usize = 5;

fn read_fvecs(path: &Path) -> (usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let dim = i32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    let row = 4 + 4 * dim;
    assert_eq!(bytes.len() % row, 0, "{}: not a .fvecs file of dimension {dim}", path.display());
    let mut values = Vec::with_capacity(bytes.len() / row * dim);
    for chunk in bytes.chunks_exact(row) {
        assert_eq!(i32::from_le_bytes(chunk[..4].try_into().unwrap()) as usize, dim);
        values.extend(chunk[4..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())));
    }
    (dim, values)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

fn value(output: &str, name: &str) -> f64 {
    output
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("the C baseline printed no {name}: {output}"))
        .trim()
        .parse()
        .unwrap()
}

/// The C baseline's figures, from one run of the program.
fn run_c(c_bench: &Path, dir: &Path) -> (f64, f64) {
    let out = Command::new(c_bench).arg(dir).output().expect("cannot run the C baseline");
    assert!(out.status.success(), "the C baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (value(&text, "c_single_us"), value(&text, "c_batch_s"))
}

fn query(queries: &[f32], dim: usize, r: usize) -> &[f32] {
    let n = queries.len() / dim;
    &queries[(r % n) * dim..(r % n + 1) * dim]
}

/// The C program's two measurements, through the safe API: (median single us, best batch s).
fn measure_rust(index: &Index, queries: &[f32], dim: usize) -> (f64, f64) {
    let mut single = Vec::with_capacity(SINGLE_RUNS);
    for r in 0..SINGLE_RUNS {
        let q = query(queries, dim, r);
        let t0 = Instant::now();
        let result = index.search(q, K).unwrap();
        single.push(t0.elapsed().as_secs_f64());
        black_box(&result);
    }
    let mut best = f64::INFINITY;
    for _ in 0..BATCH_RUNS {
        let t0 = Instant::now();
        let result = index.search(queries, K).unwrap();
        best = best.min(t0.elapsed().as_secs_f64());
        black_box(&result);
    }
    (median(single) * 1e6, best)
}

/// A flat L2 index with one thread made through the raw C API, for in-process comparison.
struct RawIndex(*mut sys::nearkit_index);

impl RawIndex {
    fn new(dim: usize, base: &[f32]) -> RawIndex {
        let mut raw = std::ptr::null_mut();
        let mut options: sys::nearkit_index_options = unsafe { std::mem::zeroed() };
        unsafe {
            assert_eq!(sys::nearkit_index_options_init(&mut options), sys::NEARKIT_OK);
        }
        options.num_threads = 1;
        unsafe {
            let st = sys::nearkit_index_create(
                &mut raw,
                sys::NEARKIT_KIND_FLAT,
                sys::NEARKIT_METRIC_L2,
                dim as u32,
                &options,
            );
            assert_eq!(st, sys::NEARKIT_OK);
            let st = sys::nearkit_index_add(
                raw,
                sys::NEARKIT_VECTOR_FLOAT32,
                base.as_ptr().cast(),
                (base.len() / dim) as u64,
                std::ptr::null(),
            );
            assert_eq!(st, sys::NEARKIT_OK);
        }
        RawIndex(raw)
    }

    fn search(&self, q: &[f32], n: usize, ids: &mut [i64], distances: &mut [f32]) {
        let st = unsafe {
            sys::nearkit_index_search(
                ids.as_mut_ptr(),
                distances.as_mut_ptr(),
                self.0,
                sys::NEARKIT_VECTOR_FLOAT32,
                q.as_ptr().cast(),
                n as u64,
                K as u64,
                std::ptr::null(),
            )
        };
        assert_eq!(st, sys::NEARKIT_OK);
    }
}

impl Drop for RawIndex {
    fn drop(&mut self) {
        unsafe { sys::nearkit_index_free(self.0) }
    }
}

/// Alternates the raw C call and the safe API's calls query by query on identical indexes,
/// rotating which goes first (the second call of a pair finds the query in cache).
/// Returns (median raw us, median of (search - raw) us, median of (search_into - raw) us).
fn paired(raw: &RawIndex, index: &Index, queries: &[f32], dim: usize, runs: usize) -> (f64, f64, f64) {
    let (mut ids, mut distances) = (vec![0i64; K], vec![0f32; K]);
    let (mut raw_t, mut diff, mut diff_into) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..runs {
        let q = query(queries, dim, r);
        let mut t = [0f64; 3];
        for step in 0..3 {
            let which = (r + step) % 3;
            let t0 = Instant::now();
            match which {
                0 => raw.search(q, 1, &mut ids, &mut distances),
                1 => {
                    black_box(index.search(q, K).unwrap());
                }
                _ => {
                    index.search_into(q, K, &mut ids, &mut distances, None).unwrap();
                }
            }
            t[which] = t0.elapsed().as_secs_f64();
            black_box(&ids);
        }
        raw_t.push(t[0]);
        diff.push(t[1] - t[0]);
        diff_into.push(t[2] - t[0]);
    }
    (median(raw_t) * 1e6, median(diff) * 1e6, median(diff_into) * 1e6)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
    let c_bench = std::env::var_os("NEARKIT_BENCH_OVERHEAD_C")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("build").join("bench_overhead_c"));
    if !c_bench.is_file() {
        eprintln!(
            "overhead: {} not found; build it (cmake --build build --target bench_overhead_c) or set \
             NEARKIT_BENCH_OVERHEAD_C",
            c_bench.display()
        );
        std::process::exit(1);
    }
    let rounds: usize =
        std::env::var("NEARKIT_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    nearkit::check_abi().unwrap();

    let dir = std::env::temp_dir().join(format!("nearkit-rust-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut c_single, mut c_batch) = run_c(&c_bench, &dir);
    let (dim, base) = read_fvecs(&dir.join("base.fvecs"));
    let (qdim, queries) = read_fvecs(&dir.join("queries.fvecs"));
    assert_eq!(dim, qdim);

    let index = Index::builder(Kind::FLAT, Metric::L2, dim).threads(1).build().unwrap();
    index.add(&base).unwrap();
    index.build().unwrap();

    let (mut rust_single, mut rust_batch) = measure_rust(&index, &queries, dim);
    for _ in 1..rounds {
        let (s, b) = run_c(&c_bench, &dir);
        c_single = c_single.min(s);
        c_batch = c_batch.min(b);
        let (s, b) = measure_rust(&index, &queries, dim);
        rust_single = rust_single.min(s);
        rust_batch = rust_batch.min(b);
    }
    std::fs::remove_dir_all(&dir).unwrap();

    // search_into on its own, as measure_rust does for search.
    let (mut ids, mut distances) = (vec![0i64; K], vec![0f32; K]);
    let mut into = Vec::with_capacity(SINGLE_RUNS);
    for r in 0..SINGLE_RUNS {
        let q = query(&queries, dim, r);
        let t0 = Instant::now();
        index.search_into(q, K, &mut ids, &mut distances, None).unwrap();
        into.push(t0.elapsed().as_secs_f64());
        black_box(&ids);
    }
    let rust_single_into = median(into) * 1e6;

    // In process: raw C call against the safe API, alternating.
    let raw = RawIndex::new(dim, &base);
    let (_, paired_overhead, paired_into_overhead) = paired(&raw, &index, &queries, dim, SINGLE_RUNS);
    let n_queries = queries.len() / dim;
    let (mut all_ids, mut all_distances) = (vec![0i64; n_queries * K], vec![0f32; n_queries * K]);
    let (mut raw_batch, mut safe_batch) = (f64::INFINITY, f64::INFINITY);
    for run in 0..2 * BATCH_RUNS {
        // Alternate which goes first.
        if run % 2 == 0 {
            let t0 = Instant::now();
            raw.search(&queries, n_queries, &mut all_ids, &mut all_distances);
            raw_batch = raw_batch.min(t0.elapsed().as_secs_f64());
        } else {
            let t0 = Instant::now();
            let result = index.search(&queries, K).unwrap();
            safe_batch = safe_batch.min(t0.elapsed().as_secs_f64());
            assert_eq!(result.ids(), &all_ids[..], "the raw and the safe batch differ");
        }
    }

    // A 16-vector index: the search costs little, so the binding's share shows.
    let tiny_base = &base[..16 * dim];
    let tiny_raw = RawIndex::new(dim, tiny_base);
    let tiny = Index::builder(Kind::FLAT, Metric::L2, dim).threads(1).build().unwrap();
    tiny.add(tiny_base).unwrap();
    let (tiny_raw_us, tiny_overhead, tiny_into_overhead) = paired(&tiny_raw, &tiny, &queries, dim, 20_000);

    println!("c_single_us={c_single:.3}");
    println!("c_batch_s={c_batch:.6}");
    println!("rust_single_us={rust_single:.3}");
    println!("rust_overhead_us={:.3}", rust_single - c_single);
    println!("rust_batch_s={rust_batch:.6}");
    println!("rust_batch_vs_c={:.4}", rust_batch / c_batch);
    println!("rust_single_into_us={rust_single_into:.3}");
    println!("rust_paired_overhead_us={paired_overhead:.3}");
    println!("rust_paired_into_overhead_us={paired_into_overhead:.3}");
    println!("rust_paired_batch_vs_c={:.4}", safe_batch / raw_batch);
    println!("rust_tiny_raw_us={tiny_raw_us:.3}");
    println!("rust_tiny_overhead_us={tiny_overhead:.3}");
    println!("rust_tiny_into_overhead_us={tiny_into_overhead:.3}");
}
