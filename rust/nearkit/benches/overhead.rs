//! Call overhead of the Rust binding against C (a benchmark, not a test).
//!
//! Per-call overhead, paired and in process. A single-query search of a 10,000-vector index
//! costs ~30 us, and the difference of two such medians, taken at different moments on a shared
//! machine, swings by several microseconds. So the overhead is measured where the C call itself
//! costs well under a microsecond, on two tiny single-thread indexes over the first 4 rows of the
//! C program's base.fvecs (flat l2; hnsw l2), each built twice: once through the raw C API
//! (`nearkit_sys`, no wrapper) and once through `Index`. Each of `ROUNDS` rounds (default 101,
//! $NEARKIT_BENCH_ROUNDS) times a block of `CALLS` single-query k = 1 searches (default 1,000,
//! $NEARKIT_BENCH_CALLS, after 50 untimed) through the raw call and the same block through the
//! binding, adjacent in time, the order alternating from round to round, both on the thread's
//! CPU clock (time spent waiting for a core while other jobs run, most of the noise on a shared
//! machine, does not count); one round gives one difference of the mean per-call times. The queries are the first 64 of queries.fvecs. This is
//! the design of the other packages' benchmarks, whose C blocks run in `bench_overhead_c --serve`
//! (bench/overhead_c.c); Rust reaches the C library at no cost, so its C blocks run in process.
//!
//! `rust_overhead_us` is the median paired difference for `Index::search` (owned result) on the
//! flat index, with its interquartile range; `rust_overhead_into_us` the same for
//! `Index::search_into` (caller's buffers); `rust_overhead_params_us` for `Index::search_with` on
//! the hnsw index with the per-call parameter ef_search = 4 (a `SearchOptions` built once, as a
//! caller keeps it, against `nearkit_search_options.params` in C): the per-call settings path.
//!
//! Batch, unchanged: the C program `bench_overhead_c DIR` ($NEARKIT_BENCH_OVERHEAD_C, else
//! build/bench_overhead_c in the repository) writes DIR/base.fvecs and DIR/queries.fvecs (10,000
//! x 32 each) and times a 10,000-query k = 10 batch on a flat l2 index with one thread (best of
//! 5); the same batch through `Index::search`, best of 3 rounds each; and in process, the raw
//! call against `Index::search` on that batch.
//!
//! Prints `name=value` lines:
//!
//! ```text
//! c_tiny_us, rust_tiny_us        medians of the blocks' mean per-call times (raw call; search)
//! rust_overhead_us               median paired difference, Index::search - raw call
//! rust_overhead_iqr_us           its interquartile range (p25..p75)
//! rust_overhead_into_us (+_iqr)  the same for Index::search_into
//! rust_overhead_params_us (+_iqr) the same for search_with(ef_search) on hnsw
//! rust_overhead_in_c_calls       rust_overhead_us / c_tiny_us (other jobs on the cores slow
//!                                both sides alike: this moves less between runs)
//! c_batch_s, rust_batch_s, rust_batch_vs_c   the batch against the C program
//! rust_paired_batch_vs_c         in process, Index::search / raw call on the batch (best of 5)
//! ```
//!
//! Target (issue 18): rust_overhead_us <= 0.2, stable within 0.5 us over three runs.
//! Run: `cargo bench -p nearkit --bench overhead` (in rust/, after building the C project).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nearkit::{sys, Index, Kind, Metric, SearchOptions};

const K: usize = 10;
const BATCH_RUNS: usize = 5;
const BATCH_ROUNDS: usize = 3;
// The paired measurement's tiny indexes: as in bench/overhead_c.c.
const TINY_N: usize = 4;
const TINY_Q: usize = 64;
const TINY_K: usize = 1;
const TINY_EF: f64 = 4.0;
const WARMUP_BLOCK: usize = 50;

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

fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s[((p * (s.len() - 1) as f64).round() as usize).min(s.len() - 1)]
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default).max(1)
}

/// The C program's batch time, from one run (it also writes the data files into `dir`).
fn run_c_batch(c_bench: &Path, dir: &Path) -> f64 {
    let out = Command::new(c_bench).arg(dir).output().expect("cannot run the C baseline");
    assert!(out.status.success(), "the C baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("c_batch_s="))
        .unwrap_or_else(|| panic!("the C baseline printed no c_batch_s: {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// An index with one thread made through the raw C API, for in-process comparison.
struct RawIndex(*mut sys::nearkit_index);

impl RawIndex {
    fn new(kind: sys::nearkit_kind, dim: usize, base: &[f32]) -> RawIndex {
        let mut raw = std::ptr::null_mut();
        let mut options: sys::nearkit_index_options = unsafe { std::mem::zeroed() };
        unsafe {
            assert_eq!(sys::nearkit_index_options_init(&mut options), sys::NEARKIT_OK);
        }
        options.num_threads = 1;
        unsafe {
            let st = sys::nearkit_index_create(&mut raw, kind, sys::NEARKIT_METRIC_L2, dim as u32, &options);
            assert_eq!(st, sys::NEARKIT_OK);
            let st = sys::nearkit_index_add(
                raw,
                sys::NEARKIT_VECTOR_FLOAT32,
                base.as_ptr().cast(),
                (base.len() / dim) as u64,
                std::ptr::null(),
            );
            assert_eq!(st, sys::NEARKIT_OK);
            assert_eq!(sys::nearkit_index_build(raw), sys::NEARKIT_OK);
        }
        RawIndex(raw)
    }

    fn search(
        &self,
        q: &[f32],
        n: usize,
        k: usize,
        ids: &mut [i64],
        distances: &mut [f32],
        options: *const sys::nearkit_search_options,
    ) {
        let st = unsafe {
            sys::nearkit_index_search(
                ids.as_mut_ptr(),
                distances.as_mut_ptr(),
                self.0,
                sys::NEARKIT_VECTOR_FLOAT32,
                q.as_ptr().cast(),
                n as u64,
                k as u64,
                options,
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

fn tiny_index(kind: Kind, dim: usize, base: &[f32]) -> Index {
    let index = Index::builder(kind, Metric::L2, dim).threads(1).build().unwrap();
    index.add(base).unwrap();
    index.build().unwrap();
    index
}

/// Seconds of CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID, as bench_overhead_c
/// times its blocks): time spent waiting for a core while other jobs run does not count.
#[cfg(target_os = "linux")]
fn thread_cpu_s() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid timespec (64-bit fields on Linux's 64-bit targets).
    assert_eq!(unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) }, 0);
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

/// Elsewhere, the monotonic clock.
#[cfg(not(target_os = "linux"))]
fn thread_cpu_s() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Mean microseconds per call of `calls` calls of `search(query)`, after WARMUP_BLOCK untimed.
fn block_us(rows: &[&[f32]], calls: usize, mut search: impl FnMut(&[f32])) -> f64 {
    for r in 0..WARMUP_BLOCK {
        search(rows[r % TINY_Q]);
    }
    let t0 = thread_cpu_s();
    for r in 0..calls {
        search(rows[(r + WARMUP_BLOCK) % TINY_Q]);
    }
    (thread_cpu_s() - t0) * 1e6 / calls as f64
}

/// Paired blocks: (per-call us of the C blocks, paired differences binding - C), the order of
/// the two blocks alternating from round to round.
fn paired(
    rounds: usize,
    c_block: &mut dyn FnMut() -> f64,
    binding_block: &mut dyn FnMut() -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let (mut c, mut diffs) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for r in 0..rounds {
        let (tc, tb) = if r % 2 == 1 {
            let tb = binding_block();
            (c_block(), tb)
        } else {
            let tc = c_block();
            (tc, binding_block())
        };
        c.push(tc);
        diffs.push(tb - tc);
    }
    (c, diffs)
}

fn print_spread(name: &str, diffs: &[f64]) {
    println!("{name}_us={:.3}", percentile(diffs, 0.5));
    println!("{name}_iqr_us={:.3}..{:.3}", percentile(diffs, 0.25), percentile(diffs, 0.75));
}

/// The three paired overhead figures on the tiny indexes.
fn measure_overheads(dim: usize, base: &[f32], queries: &[f32]) {
    let rounds = env_count("NEARKIT_BENCH_ROUNDS", 101);
    let calls = env_count("NEARKIT_BENCH_CALLS", 1000);
    let tiny = &base[..TINY_N * dim];
    let rows: Vec<&[f32]> = queries.chunks_exact(dim).take(TINY_Q).collect();
    let (raw_flat, flat) =
        (RawIndex::new(sys::NEARKIT_KIND_FLAT, dim, tiny), tiny_index(Kind::FLAT, dim, tiny));
    let (raw_hnsw, hnsw) =
        (RawIndex::new(sys::NEARKIT_KIND_HNSW, dim, tiny), tiny_index(Kind::HNSW, dim, tiny));
    let (mut ids, mut distances) = ([0i64; TINY_K], [0f32; TINY_K]);
    let mut raw_flat_block = || {
        block_us(&rows, calls, |q| raw_flat.search(q, 1, TINY_K, &mut ids, &mut distances, std::ptr::null()))
    };
    let (c, diffs) = paired(rounds, &mut raw_flat_block, &mut || {
        block_us(&rows, calls, |q| {
            black_box(flat.search(q, TINY_K).unwrap());
        })
    });
    let (mut ids2, mut distances2) = ([0i64; TINY_K], [0f32; TINY_K]);
    let (_, into_diffs) = paired(rounds, &mut raw_flat_block, &mut || {
        block_us(&rows, calls, |q| {
            flat.search_into(q, TINY_K, &mut ids2, &mut distances2, None).unwrap();
        })
    });

    let ef_name = c"ef_search";
    let ef = sys::nearkit_param_value { name: ef_name.as_ptr(), value: TINY_EF };
    let mut raw_options: sys::nearkit_search_options = unsafe { std::mem::zeroed() };
    unsafe {
        assert_eq!(sys::nearkit_search_options_init(&mut raw_options), sys::NEARKIT_OK);
    }
    raw_options.params = &ef;
    raw_options.n_params = 1;
    let with_ef = SearchOptions::new().param("ef_search", TINY_EF);
    let (mut ids3, mut distances3) = ([0i64; TINY_K], [0f32; TINY_K]);
    let (_, params_diffs) = paired(
        rounds,
        &mut || {
            block_us(&rows, calls, |q| {
                raw_hnsw.search(q, 1, TINY_K, &mut ids3, &mut distances3, &raw_options)
            })
        },
        &mut || {
            block_us(&rows, calls, |q| {
                black_box(hnsw.search_with(q, TINY_K, &with_ef).unwrap());
            })
        },
    );
    let tiny_us = percentile(&c, 0.5) + percentile(&diffs, 0.5);
    println!("c_tiny_us={:.3}", percentile(&c, 0.5));
    println!("rust_tiny_us={tiny_us:.3}");
    print_spread("rust_overhead", &diffs);
    print_spread("rust_overhead_into", &into_diffs);
    print_spread("rust_overhead_params", &params_diffs);
    println!("rust_overhead_in_c_calls={:.3}", percentile(&diffs, 0.5) / percentile(&c, 0.5));
}

/// Best of BATCH_RUNS batch searches through `Index::search`, in seconds.
fn rust_batch_s(index: &Index, queries: &[f32]) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..BATCH_RUNS {
        let t0 = Instant::now();
        let result = index.search(queries, K).unwrap();
        best = best.min(t0.elapsed().as_secs_f64());
        black_box(&result);
    }
    best
}

/// In process, the raw call against `Index::search` on the whole batch, alternating: safe / raw.
fn paired_batch_ratio(dim: usize, base: &[f32], index: &Index, queries: &[f32]) -> f64 {
    let raw = RawIndex::new(sys::NEARKIT_KIND_FLAT, dim, base);
    let n_queries = queries.len() / dim;
    let (mut all_ids, mut all_distances) = (vec![0i64; n_queries * K], vec![0f32; n_queries * K]);
    let (mut raw_batch, mut safe_batch) = (f64::INFINITY, f64::INFINITY);
    for run in 0..2 * BATCH_RUNS {
        if run % 2 == 0 {
            let t0 = Instant::now();
            raw.search(queries, n_queries, K, &mut all_ids, &mut all_distances, std::ptr::null());
            raw_batch = raw_batch.min(t0.elapsed().as_secs_f64());
        } else {
            let t0 = Instant::now();
            let result = index.search(queries, K).unwrap();
            safe_batch = safe_batch.min(t0.elapsed().as_secs_f64());
            assert_eq!(result.ids(), &all_ids[..], "the raw and the safe batch differ");
        }
    }
    safe_batch / raw_batch
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
    nearkit::check_abi().unwrap();

    let dir = std::env::temp_dir().join(format!("nearkit-rust-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut c_batch = run_c_batch(&c_bench, &dir);
    let (dim, base) = read_fvecs(&dir.join("base.fvecs"));
    let (qdim, queries) = read_fvecs(&dir.join("queries.fvecs"));
    assert_eq!(dim, qdim);

    let index = Index::builder(Kind::FLAT, Metric::L2, dim).threads(1).build().unwrap();
    index.add(&base).unwrap();
    index.build().unwrap();
    let mut rust_batch = rust_batch_s(&index, &queries);
    for _ in 1..BATCH_ROUNDS {
        c_batch = c_batch.min(run_c_batch(&c_bench, &dir));
        rust_batch = rust_batch.min(rust_batch_s(&index, &queries));
    }
    std::fs::remove_dir_all(&dir).unwrap();

    measure_overheads(dim, &base, &queries);
    println!("c_batch_s={c_batch:.6}");
    println!("rust_batch_s={rust_batch:.6}");
    println!("rust_batch_vs_c={:.4}", rust_batch / c_batch);
    println!("rust_paired_batch_vs_c={:.4}", paired_batch_ratio(dim, &base, &index, &queries));
}
