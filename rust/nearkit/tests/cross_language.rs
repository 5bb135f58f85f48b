//! Index files cross languages: an index the `nearkit` command writes loads in Rust and gives
//! identical results (ids and distances bit for bit), and an index Rust saves is searched by the
//! command with identical results.
//!
//! The command is $NEARKIT_CLI (ctest sets it), else build/nearkit in the repository. Without
//! either (a plain `cargo test` before the C build), these tests say so and pass.

mod common;

use std::path::Path;

use common::{cli, golden_dir, read_data, read_fvecs_rows, read_ivecs_rows, run, s, TempDir};
use nearkit::{Index, Kind, Metric, SearchResult};

/// Runs `nearkit search --k K` and reads its ids and distances. The command writes
/// min(k, index size) columns (it has no padding to print); Rust pads to k with -1 / +inf.
fn cli_knn(
    cli: &Path,
    dir: &TempDir,
    index: &Path,
    queries: &Path,
    k: usize,
    stored: usize,
    tag: &str,
) -> (Vec<i64>, Vec<f32>) {
    let ids = dir.join(&format!("{tag}.ids.ivecs"));
    let dists = dir.join(&format!("{tag}.dist.fvecs"));
    run(
        cli,
        &[
            "search",
            "--k",
            &k.to_string(),
            "--threads",
            "1",
            "--out",
            s(&ids),
            "--distances",
            s(&dists),
            s(index),
            s(queries),
        ],
    );
    let id_rows = read_ivecs_rows(&ids);
    let dist_rows = read_fvecs_rows(&dists);
    let columns = k.min(stored);
    assert!(id_rows.iter().all(|r| r.len() == columns) && dist_rows.iter().all(|r| r.len() == columns));
    // Pad as the library does, so that whole rows compare.
    let pad_ids =
        id_rows.iter().flat_map(|r| r.iter().copied().chain(std::iter::repeat(-1).take(k - columns)));
    let pad_dists = dist_rows
        .iter()
        .flat_map(|r| r.iter().copied().chain(std::iter::repeat(f32::INFINITY).take(k - columns)));
    (pad_ids.collect(), pad_dists.collect())
}

/// Runs `nearkit search --radius R` and reads its id rows.
fn cli_range(
    cli: &Path,
    dir: &TempDir,
    index: &Path,
    queries: &Path,
    radius: f32,
    tag: &str,
) -> Vec<Vec<i64>> {
    let ids = dir.join(&format!("{tag}.range.ivecs"));
    run(
        cli,
        &[
            "search",
            "--radius",
            &format!("{radius:?}"),
            "--threads",
            "1",
            "--out",
            s(&ids),
            s(index),
            s(queries),
        ],
    );
    read_ivecs_rows(&ids)
}

fn assert_identical(rust: &SearchResult, cli: &(Vec<i64>, Vec<f32>), what: &str) {
    assert_eq!(rust.ids(), &cli.0[..], "{what}: ids differ");
    let rust_bits: Vec<u32> = rust.distances().iter().map(|d| d.to_bits()).collect();
    let cli_bits: Vec<u32> = cli.1.iter().map(|d| d.to_bits()).collect();
    assert_eq!(rust_bits, cli_bits, "{what}: distances differ");
}

/// One round: the command builds from `base`, Rust loads; Rust builds and saves, the command
/// searches; every result is identical.
fn round(dataset: &str, metric: &str, k: usize, radius: f32) {
    let Some(cli) = cli() else {
        eprintln!("skipped: no nearkit command (set NEARKIT_CLI or build the repository into build/)");
        return;
    };
    let dir = TempDir::new("xlang");
    let golden = golden_dir().join("data");
    let ext = if metric == "hamming" { "bvecs" } else { "fvecs" };
    let base_path = golden.join(format!("{dataset}.base.{ext}"));
    let queries_path = golden.join(format!("{dataset}.queries.{ext}"));
    let base = read_data(&base_path);
    let queries = read_data(&queries_path);
    let tag = format!("{dataset}-{metric}");

    // The command writes, Rust reads.
    let cli_index = dir.join(&format!("{tag}.cli.nkx"));
    run(
        &cli,
        &["build", "--kind", "flat", "--metric", metric, "--threads", "1", s(&base_path), s(&cli_index)],
    );
    let loaded = Index::load(&cli_index).expect("Rust cannot load the command's index");
    assert_eq!(loaded.kind(), Kind::FLAT);
    assert_eq!(loaded.metric(), Metric::by_name(metric).unwrap());
    assert_eq!(loaded.len(), base.len());
    let from_cli_file = loaded.search(queries.vectors(), k).unwrap();
    let cli_on_cli_file =
        cli_knn(&cli, &dir, &cli_index, &queries_path, k, base.len(), &format!("{tag}-cli"));
    assert_identical(&from_cli_file, &cli_on_cli_file, "Rust vs command on the command's file");

    // Rust writes, the command reads.
    let own = Index::builder(Kind::FLAT, Metric::by_name(metric).unwrap(), loaded.dimension())
        .threads(1)
        .build()
        .unwrap();
    own.add(base.vectors()).unwrap();
    own.build().unwrap();
    let rust_index = dir.join(&format!("{tag}.rust.nkx"));
    own.save(&rust_index).unwrap();
    let own_result = own.search(queries.vectors(), k).unwrap();
    assert_eq!(own_result, from_cli_file, "Rust's own index vs the command's");
    let cli_on_rust_file =
        cli_knn(&cli, &dir, &rust_index, &queries_path, k, base.len(), &format!("{tag}-rust"));
    assert_identical(&own_result, &cli_on_rust_file, "command on Rust's file vs Rust");
    let info = run(&cli, &["info", s(&rust_index)]);
    assert!(info.contains("flat"), "nearkit info does not describe Rust's file: {info}");

    // Range search agrees too (ids, in order).
    let rust_range = loaded.range_search(queries.vectors(), radius).unwrap();
    let cli_range_rows = cli_range(&cli, &dir, &rust_index, &queries_path, radius, &tag);
    assert_eq!(cli_range_rows.len(), rust_range.len());
    for (q, row) in cli_range_rows.iter().enumerate() {
        assert_eq!(rust_range.query_ids(q), &row[..], "{tag}: range query {q} differs");
    }
    assert!(rust_range.total() > 0, "{tag}: the radius finds nothing; pick a larger one");

    // A buffer made in Rust is a valid file for the command too.
    let via_bytes = dir.join(&format!("{tag}.bytes.nkx"));
    std::fs::write(&via_bytes, own.to_bytes().unwrap()).unwrap();
    let cli_on_bytes = cli_knn(&cli, &dir, &via_bytes, &queries_path, k, base.len(), &format!("{tag}-bytes"));
    assert_identical(&own_result, &cli_on_bytes, "command on Rust's to_bytes()");
}

#[test]
fn cross_language_l2() {
    round("clustered_d16", "l2", 10, 0.7);
}

#[test]
fn cross_language_cosine() {
    round("uniform_d128", "cosine", 5, 0.8);
}

#[test]
fn cross_language_l1_missing_neighbours() {
    // k larger than the index: missing neighbours (-1, +inf) must cross languages too.
    round("tiny_5", "l1", 8, 3.0);
}

#[test]
fn cross_language_hamming() {
    round("binary256", "hamming", 10, 105.0);
}
