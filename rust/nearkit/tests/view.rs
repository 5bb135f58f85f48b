//! Read-only views of saved files: `Index::view`, `view_with`, `is_view`, `try_clone`.

use std::path::{Path, PathBuf};

use nearkit::{ErrorKind, Index, Kind, Metric, ViewOptions};

const N: usize = 400;
const DIM: usize = 16;
const K: usize = 7;

fn random(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed;
    (0..n * DIM)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

/// A directory of its own for each test, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("nearkit-view-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Saves a built index of `kind` over N random vectors in `dir`; returns the file.
fn saved(dir: &Path, kind: &str) -> PathBuf {
    let file = dir.join(format!("{kind}.nkx"));
    let index = Index::builder(Kind::by_name(kind).unwrap(), Metric::L2, DIM).seed(5).build().unwrap();
    index.add(&random(N, 3)).unwrap();
    index.build().unwrap();
    index.save(&file).unwrap();
    file
}

#[test]
fn a_view_answers_as_the_loaded_index_and_refuses_writes() {
    let dir = TempDir::new("answers");
    let queries = random(20, 9);
    for kind in ["flat", "hnsw", "ivf_flat"] {
        let file = saved(&dir.0, kind);
        let loaded = Index::load(&file).unwrap();
        let view = Index::view(&file).unwrap();
        assert!(view.is_view(), "{kind}");
        assert!(!loaded.is_view());
        assert_eq!(view.kind(), loaded.kind());
        assert_eq!(view.len(), N);
        let expected = loaded.search(&queries, K).unwrap();
        assert_eq!(view.search(&queries, K).unwrap(), expected, "{kind}");

        let err = view.add(&random(1, 1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::State, "{kind}: {err}");
        assert!(err.message().contains("view"), "{err}");
        assert_eq!(view.remove(&[0, 1]).unwrap_err().kind(), ErrorKind::State);
        assert_eq!(view.compact().unwrap_err().kind(), ErrorKind::State);
        assert_eq!(view.len(), N, "a refused write leaves the view as it was");

        let copy = view.try_clone().unwrap();
        assert!(!copy.is_view());
        assert_eq!(copy.search(&queries, K).unwrap(), expected, "{kind}");
        assert_eq!(copy.remove(&[0, 1]).unwrap(), 2);
        copy.add(&random(3, 4)).unwrap();
        assert_eq!(copy.len(), N + 1);
        assert_eq!(view.len(), N, "the copy is independent of the view");

        let verified = Index::view_with(&file, &ViewOptions::new().verify(true)).unwrap();
        assert!(verified.is_view());
        assert_eq!(verified.search(&queries, K).unwrap(), expected, "{kind}");
    }
}

#[test]
fn runtime_parameters_stay_settable_on_a_view() {
    let dir = TempDir::new("params");
    let view = Index::view(saved(&dir.0, "hnsw")).unwrap();
    view.set_param("ef_search", 77.0).unwrap();
    assert_eq!(view.param("ef_search").unwrap(), 77.0);
    assert_eq!(view.set_param("M", 8.0).unwrap_err().kind(), ErrorKind::State);
}

#[test]
fn a_missing_file_or_a_directory_is_an_io_error() {
    let dir = TempDir::new("missing");
    let err = Index::view(dir.0.join("missing.nkx")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.message().contains("missing.nkx"), "{err}");
    assert_eq!(Index::view(&dir.0).unwrap_err().kind(), ErrorKind::Io);
    assert_eq!(Index::view("a\0b").unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn a_truncated_damaged_or_foreign_file_is_corrupt() {
    let dir = TempDir::new("corrupt");
    let good = std::fs::read(saved(&dir.0, "flat")).unwrap();
    let bad = dir.0.join("bad.nkx");
    for len in [0, 7, 64, good.len() / 2, good.len() - 1] {
        std::fs::write(&bad, &good[..len]).unwrap();
        for verify in [false, true] {
            let err = Index::view_with(&bad, &ViewOptions::new().verify(verify)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corrupt, "truncated to {len}: {err}");
        }
    }
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x5a; // in the stored vectors: only a verifying open reads them
    std::fs::write(&bad, &flipped).unwrap();
    let err = Index::view_with(&bad, &ViewOptions::new().verify(true)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    std::fs::write(&bad, b"not an index at all, just some text").unwrap();
    assert_eq!(Index::view(&bad).unwrap_err().kind(), ErrorKind::Corrupt);
}
