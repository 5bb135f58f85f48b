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

// ---- load_if_unviewable ----------------------------------------------------------------------

/// A format version 1 file (saved before views): its vectors are not aligned for use in place.
fn version_1_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus/format1-flat-l2-d8-added.nkx1")
}

fn queries_of_8(n: usize) -> Vec<f32> {
    (0..n * 8).map(|i| ((i * 37) % 11) as f32 - 5.0).collect()
}

#[test]
fn an_unviewable_file_is_unsupported_or_loaded_with_the_option() {
    let file = version_1_file();
    let err = Index::view(&file).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.message().contains("re-save"), "{err}");
    let loaded = Index::load(&file).unwrap();
    let fallback = ViewOptions::new().load_if_unviewable(true);
    assert!(fallback.loads_if_unviewable() && !ViewOptions::new().loads_if_unviewable());
    let index = Index::view_with(&file, &fallback).unwrap();
    assert!(!index.is_view());
    let q = queries_of_8(5);
    assert_eq!(index.search(&q, 3).unwrap(), loaded.search(&q, 3).unwrap());
    index.add(&q[..8]).unwrap(); // a load: writable
    assert_eq!(index.len(), loaded.len() + 1);

    let dir = TempDir::new("fallback");
    let viewable = Index::view_with(saved(&dir.0, "flat"), &fallback).unwrap();
    assert!(viewable.is_view(), "a viewable file is still viewed");
}

#[test]
fn an_unviewable_but_damaged_file_stays_corrupt() {
    let dir = TempDir::new("damaged-v1");
    let mut bytes = std::fs::read(version_1_file()).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x5a; // the stored checksum, which an unverified view never reads
    let bad = dir.0.join("bad.nkx");
    std::fs::write(&bad, &bytes).unwrap();
    let err = Index::view_with(&bad, &ViewOptions::new().load_if_unviewable(true)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.message().contains("checksum"), "{err}");
    let err = Index::view_buffer_with(bytes, &ViewOptions::new().load_if_unviewable(true)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
}

// ---- view_buffer -----------------------------------------------------------------------------

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Bytes at a chosen distance past a 64-byte boundary of a heap block, telling when they are
/// dropped.
struct Placed {
    block: Vec<u8>,
    start: usize,
    len: usize,
    dropped: Arc<AtomicBool>,
}

impl Placed {
    fn new(bytes: &[u8], misalign: usize) -> (Placed, Arc<AtomicBool>) {
        let mut block = vec![0u8; bytes.len() + 128];
        let start = (64 - block.as_ptr() as usize % 64) % 64 + misalign;
        block[start..start + bytes.len()].copy_from_slice(bytes);
        let dropped = Arc::new(AtomicBool::new(false));
        (Placed { block, start, len: bytes.len(), dropped: dropped.clone() }, dropped)
    }
}

impl AsRef<[u8]> for Placed {
    fn as_ref(&self) -> &[u8] {
        &self.block[self.start..self.start + self.len]
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[test]
fn view_buffer_keeps_aligned_bytes_and_copies_the_others() {
    let dir = TempDir::new("buffer");
    let file = saved(&dir.0, "hnsw");
    let bytes = std::fs::read(&file).unwrap();
    let queries = random(20, 9);
    let expected = Index::load(&file).unwrap().search(&queries, K).unwrap();

    // aligned: used in place, the owner kept until the index is dropped
    let (placed, dropped) = Placed::new(&bytes, 0);
    let view = Index::view_buffer(placed).unwrap();
    assert!(view.is_view());
    assert!(!dropped.load(Ordering::SeqCst), "the index holds the bytes it reads");
    let view = std::thread::spawn(move || {
        assert_eq!(view.search(&queries, K).unwrap(), expected); // Send: searched on another thread
        view
    })
    .join()
    .unwrap();
    assert_eq!(view.add(&random(1, 1)).unwrap_err().kind(), ErrorKind::State);
    drop(view);
    assert!(dropped.load(Ordering::SeqCst), "released with the index");

    // elsewhere: copied into an aligned block, the owner released at once; still a view
    let (placed, dropped) = Placed::new(&bytes, 8);
    let view = Index::view_buffer_with(placed, &ViewOptions::new().verify(true)).unwrap();
    assert!(view.is_view() && dropped.load(Ordering::SeqCst));
    assert_eq!(
        view.search(&random(20, 9), K).unwrap(),
        Index::load(&file).unwrap().search(&random(20, 9), K).unwrap()
    );

    // a Vec, an Arc<[u8]> and a boxed slice all do
    assert!(Index::view_buffer(bytes.clone()).unwrap().is_view());
    assert!(Index::view_buffer(Arc::<[u8]>::from(bytes.clone())).unwrap().is_view());
    assert_eq!(Index::view_buffer(bytes.into_boxed_slice()).unwrap().len(), N);
}

#[test]
fn view_buffer_of_a_version_1_image_needs_the_option_and_damage_is_corrupt() {
    let bytes = std::fs::read(version_1_file()).unwrap();
    let err = Index::view_buffer(bytes.clone()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let (placed, dropped) = Placed::new(&bytes, 0);
    let index = Index::view_buffer_with(placed, &ViewOptions::new().load_if_unviewable(true)).unwrap();
    assert!(!index.is_view());
    assert!(dropped.load(Ordering::SeqCst), "a load keeps no reference to the bytes");
    assert_eq!(index.len(), Index::load(version_1_file()).unwrap().len());

    let err = Index::view_buffer(bytes[..bytes.len() / 2].to_vec()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(Index::view_buffer(Vec::new()).unwrap_err().kind(), ErrorKind::Corrupt);
}
