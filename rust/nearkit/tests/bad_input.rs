//! Bad input of every kind gives an `Err` with the right kind and a clear message: never a
//! panic, a crash or silent garbage.

use nearkit::{ErrorKind, Index, Kind, Metric, SearchOptions, Vectors};

fn flat(metric: Metric, dim: usize) -> Index {
    Index::builder(Kind::FLAT, metric, dim).threads(1).build().unwrap()
}

fn filled(dim: usize, n: usize) -> Index {
    let index = flat(Metric::L2, dim);
    let data: Vec<f32> = (0..n * dim).map(|i| (i % 97) as f32 * 0.25).collect();
    index.add(&data).unwrap();
    index.build().unwrap();
    index
}

#[track_caller]
fn expect_err<T: std::fmt::Debug>(
    result: nearkit::Result<T>,
    kind: ErrorKind,
    words: &[&str],
) -> nearkit::Error {
    let err = result.expect_err("expected an error");
    assert_eq!(err.kind(), kind, "wrong kind for error: {err}");
    assert!(!err.message().is_empty(), "empty message");
    let text = err.to_string();
    assert!(text.starts_with(kind.name()), "Display lacks the kind: {text}");
    let lower = text.to_lowercase();
    for w in words {
        assert!(lower.contains(&w.to_lowercase()), "message {text:?} does not mention {w:?}");
    }
    err
}

// ---- creation ---------------------------------------------------------------------------------

#[test]
fn bad_creation_arguments() {
    expect_err(Index::new(Kind::FLAT, Metric::L2, 0), ErrorKind::InvalidArgument, &["dimension"]);
    expect_err(Index::new(Kind::FLAT, Metric::HAMMING, 12), ErrorKind::InvalidArgument, &[]);
    expect_err(Index::new(Kind::FLAT, Metric::from_raw(999), 4), ErrorKind::InvalidArgument, &[]).kind();
    expect_err(Index::new(Kind::from_raw(999), Metric::L2, 4), ErrorKind::NotFound, &[]);
    expect_err(Index::new(Kind::FLAT, Metric::L2, usize::MAX), ErrorKind::InvalidArgument, &["dimension"]);
}

#[test]
fn unsupported_kind_metric_pair() {
    // Any kind of the library that lacks a metric must refuse it with UNSUPPORTED.
    for info in Kind::all() {
        for metric in Metric::all() {
            if !info.supports(metric) {
                let err = Index::new(info.kind(), metric, 64).expect_err("unsupported pair accepted");
                assert_eq!(err.kind(), ErrorKind::Unsupported, "{} {metric}: {err}", info.name());
            }
        }
    }
}

#[test]
fn unknown_names() {
    expect_err(Kind::by_name("no-such-kind"), ErrorKind::NotFound, &[]);
    expect_err(Metric::by_name("no-such-metric"), ErrorKind::NotFound, &[]);
    expect_err(Kind::by_name("fl\0at"), ErrorKind::InvalidArgument, &["NUL"]);
    expect_err(Metric::by_name(""), ErrorKind::NotFound, &[]);
    expect_err("bogus".parse::<Metric>(), ErrorKind::NotFound, &[]);
}

#[test]
fn bad_build_parameters() {
    let b = || Index::builder(Kind::FLAT, Metric::L2, 4);
    expect_err(b().param("no_such_param", 3).build(), ErrorKind::NotFound, &["no_such_param"]);
    expect_err(b().param("num_threads", "x").build(), ErrorKind::InvalidArgument, &[]);
    expect_err(b().param("num_threads", f64::NAN).build(), ErrorKind::InvalidArgument, &[]);
    expect_err(b().param("num_threads", -1).build(), ErrorKind::InvalidArgument, &[]);
    // Separators inside a name or value would change the parameter string: refused here.
    expect_err(b().param("num_threads", "1,leaf_size=2").build(), ErrorKind::InvalidArgument, &["commas"]);
    expect_err(b().param("a b", 1).build(), ErrorKind::InvalidArgument, &["whitespace"]);
    expect_err(b().param("", 1).build(), ErrorKind::InvalidArgument, &[]);
    expect_err(b().param("x\0", 1).build(), ErrorKind::InvalidArgument, &["NUL"]);
    // A valid one works.
    let index = b().param("num_threads", 3).build().unwrap();
    assert_eq!(index.param("num_threads").unwrap(), 3.0);
}

// ---- adding -----------------------------------------------------------------------------------

#[test]
fn add_wrong_lengths_and_types() {
    let index = flat(Metric::L2, 4);
    expect_err(index.add(&[1.0f32, 2.0, 3.0]), ErrorKind::InvalidArgument, &["3 f32 values", "dimension 4"]);
    expect_err(index.add(&[0u8; 16]), ErrorKind::InvalidArgument, &[]); // bytes into a float index
    expect_err(index.add_with_ids(&[1.0f32; 8], &[1]), ErrorKind::InvalidArgument, &["1 ids", "2 vectors"]);
    expect_err(index.add_with_ids(&[1.0f32; 4], &[-1]), ErrorKind::InvalidArgument, &[]);
    expect_err(index.train(&[1.0f32; 5]), ErrorKind::InvalidArgument, &[]);
    assert_eq!(index.len(), 0, "a failed add must add nothing");
    // An empty slice is a no-op.
    index.add(&[] as &[f32]).unwrap();
    assert_eq!(index.len(), 0);

    let bits = flat(Metric::HAMMING, 64);
    expect_err(bits.add(&[0u8; 7]), ErrorKind::InvalidArgument, &["7 bytes", "8 bytes"]);
    expect_err(bits.add(&[0.0f32; 2]), ErrorKind::InvalidArgument, &[]); // floats into a binary index
    bits.add(&[0u8; 16]).unwrap();
    assert_eq!(bits.len(), 2);
}

#[test]
fn add_nan_and_infinity() {
    let index = flat(Metric::L2, 2);
    expect_err(index.add(&[1.0f32, f32::NAN]), ErrorKind::InvalidArgument, &[]);
    expect_err(index.add(&[f32::INFINITY, 0.0]), ErrorKind::InvalidArgument, &[]);
    expect_err(index.add(&[0.0, 0.0, f32::NEG_INFINITY, 0.0]), ErrorKind::InvalidArgument, &[]);
    assert_eq!(index.len(), 0);
}

// ---- searching --------------------------------------------------------------------------------

#[test]
fn search_k_zero_and_lengths() {
    let index = filled(4, 20);
    expect_err(index.search(&[0.0f32; 4], 0), ErrorKind::InvalidArgument, &[]);
    expect_err(index.range_search(&[0.0f32; 4], f32::NAN), ErrorKind::InvalidArgument, &[]);
    expect_err(index.search(&[0.0f32; 5], 1), ErrorKind::InvalidArgument, &["queries", "5 f32 values"]);
    expect_err(index.range_search(&[0.0f32; 3], 1.0), ErrorKind::InvalidArgument, &["queries"]);
    expect_err(index.search(&[0u8; 16], 1), ErrorKind::InvalidArgument, &[]);
    expect_err(index.search(&[f32::NAN, 0.0, 0.0, 0.0], 1), ErrorKind::InvalidArgument, &[]);
    expect_err(index.range_search(&[0.0, f32::INFINITY, 0.0, 0.0], 1.0), ErrorKind::InvalidArgument, &[]);
    // No queries: an empty result.
    let empty = index.search(&[] as &[f32], 3).unwrap();
    assert!(empty.is_empty() && empty.ids().is_empty());
    let empty = index.range_search(&[] as &[f32], 3.0).unwrap();
    assert!(empty.is_empty() && empty.total() == 0);
}

#[test]
fn k_larger_than_the_index() {
    let index = filled(2, 3);
    let result = index.search(&[0.0f32, 0.0], 5).unwrap();
    assert_eq!(&result.query_ids(0)[3..], &[-1, -1]);
    assert!(result.query_distances(0)[3..].iter().all(|d| *d == f32::INFINITY));
    assert_eq!(result.neighbors(0).count(), 3);
    // An empty index: every entry is missing.
    let empty = flat(Metric::L2, 2);
    let result = empty.search(&[0.0f32, 0.0], 2).unwrap();
    assert_eq!(result.ids(), &[-1, -1]);
}

#[test]
fn absurd_k_is_an_error_not_an_abort() {
    let index = filled(2, 3);
    expect_err(index.search(&[0.0f32; 4], usize::MAX), ErrorKind::OutOfMemory, &["k ="]);
    expect_err(index.search(&[0.0f32; 2], usize::MAX / 4), ErrorKind::OutOfMemory, &[]);
    // Within every size limit but beyond any address space: the allocation fails, reported as an
    // error naming k (never an abort), and the index keeps working.
    let k = 1usize << 45;
    expect_err(index.search(&[0.0f32; 2], k), ErrorKind::OutOfMemory, &[&format!("k = {k}")]);
    assert_eq!(index.search(&[0.0f32; 2], 5).unwrap().ids().len(), 5);
}

#[test]
fn search_into_buffer_sizes() {
    let index = filled(2, 10);
    let (mut ids, mut dist) = (vec![0i64; 6], vec![0f32; 6]);
    assert_eq!(index.search_into(&[0.0f32; 6], 2, &mut ids, &mut dist, None).unwrap(), 3);
    expect_err(
        index.search_into(&[0.0f32; 6], 3, &mut ids, &mut dist, None),
        ErrorKind::InvalidArgument,
        &["need 9"],
    );
    expect_err(
        index.search_into(&[0.0f32; 2], 2, &mut ids[..2], &mut dist[..1], None),
        ErrorKind::InvalidArgument,
        &[],
    );
    let opts = SearchOptions::new().threads(1);
    expect_err(
        index.search_into(&[0.0f32; 2], 0, &mut [], &mut [], Some(&opts)),
        ErrorKind::InvalidArgument,
        &[],
    );
}

// ---- parameters -------------------------------------------------------------------------------

#[test]
fn bad_runtime_parameters() {
    let index = flat(Metric::L2, 4);
    expect_err(index.param("no_such_param"), ErrorKind::NotFound, &[]);
    expect_err(index.set_param("no_such_param", 1.0), ErrorKind::NotFound, &[]);
    expect_err(index.set_param("num_threads", f64::NAN), ErrorKind::InvalidArgument, &[]);
    expect_err(index.set_param("num_threads", -3.0), ErrorKind::InvalidArgument, &[]);
    expect_err(index.set_param("num_threads", 1.5), ErrorKind::InvalidArgument, &[]);
    expect_err(index.set_param("num\0threads", 1.0), ErrorKind::InvalidArgument, &["NUL"]);
    for p in index.params() {
        if p.is_read_only() {
            let value = index.param(p.name()).unwrap();
            expect_err(index.set_param(p.name(), value), ErrorKind::InvalidArgument, &[]);
        }
    }
}

// ---- files and buffers ------------------------------------------------------------------------

#[test]
fn corrupted_and_truncated_buffers() {
    let index = filled(3, 50);
    let bytes = index.to_bytes().unwrap();
    expect_err(Index::from_bytes(&[]), ErrorKind::Corrupt, &[]);
    expect_err(Index::from_bytes(b"definitely not an index"), ErrorKind::Corrupt, &[]);
    // Truncation at many points, including every one of the first 64 bytes.
    let cuts: Vec<usize> = (0..bytes.len().min(64)).chain((64..bytes.len()).step_by(37)).collect();
    for cut in cuts {
        let err = Index::from_bytes(&bytes[..cut]).expect_err("a truncated buffer loaded");
        assert!(matches!(err.kind(), ErrorKind::Corrupt | ErrorKind::Io), "cut {cut}: {err}");
    }
    // Byte flips anywhere.
    let mut state = 12345u64;
    for _ in 0..200 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let pos = (state >> 33) as usize % bytes.len();
        let mut broken = bytes.clone();
        broken[pos] ^= 1 << ((state >> 20) % 8);
        match Index::from_bytes(&broken) {
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Unsupported),
                "flip at {pos}: unexpected {e}"
            ),
            Ok(_) => panic!("a buffer with a flipped bit at {pos} loaded"),
        }
    }
    // The intact buffer still loads.
    assert_eq!(Index::from_bytes(&bytes).unwrap().len(), 50);
}

#[test]
fn bad_files() {
    let dir = std::env::temp_dir().join(format!("nearkit-rust-badfiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    expect_err(Index::load(dir.join("does-not-exist.nkx")), ErrorKind::Io, &[]);
    expect_err(Index::load(&dir), ErrorKind::Io, &[]); // a directory
    expect_err(Index::load("with\0nul"), ErrorKind::InvalidArgument, &["NUL"]);

    let index = filled(3, 50);
    expect_err(index.save(dir.join("no-such-dir").join("x.nkx")), ErrorKind::Io, &[]);
    expect_err(index.save("a\0b"), ErrorKind::InvalidArgument, &["NUL"]);

    let good = dir.join("good.nkx");
    index.save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.join("truncated.nkx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    expect_err(Index::load(&truncated), ErrorKind::Corrupt, &[]);
    let foreign = dir.join("foreign.nkx");
    std::fs::write(&foreign, b"P5\n2 2\n255\n\x00\x01\x02\x03").unwrap();
    expect_err(Index::load(&foreign), ErrorKind::Corrupt, &[]);
    let empty = dir.join("empty.nkx");
    std::fs::write(&empty, b"").unwrap();
    expect_err(Index::load(&empty), ErrorKind::Corrupt, &[]);
    assert_eq!(Index::load(&good).unwrap().len(), 50);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- errors -----------------------------------------------------------------------------------

#[test]
fn error_values() {
    let err = Index::new(Kind::FLAT, Metric::L2, 0).unwrap_err();
    assert_eq!(err.status(), nearkit::sys::NEARKIT_ERR_INVALID_ARGUMENT);
    assert_eq!(err.kind().name(), "INVALID_ARGUMENT");
    let as_dyn: &dyn std::error::Error = &err;
    assert!(as_dyn.to_string().contains(err.message()));
    let io: std::io::Error = err.clone().into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    // Every status the header defines maps to a kind and back, with the C library's name.
    for code in 1..=8 {
        let kind = ErrorKind::from_status(code).unwrap();
        assert_eq!(kind.status(), code);
        assert_ne!(kind.name(), "UNKNOWN");
        assert!(!matches!(kind, ErrorKind::Other(_)));
    }
    assert_eq!(ErrorKind::from_status(12345), Some(ErrorKind::Other(12345)));
    assert_eq!(ErrorKind::Other(12345).name(), "UNKNOWN");
    // A failure on one thread leaves the next successful call's result alone.
    let index = filled(2, 5);
    assert!(index.search(&[0.0f32], 1).is_err());
    assert!(index.search(&[0.0f32, 0.0], 1).is_ok());
}

#[test]
fn vectors_conversions() {
    let v = vec![1.0f32; 4];
    assert!(matches!(Vectors::from(&v), Vectors::Float32(s) if s.len() == 4));
    let b = [1u8; 8];
    assert!(matches!(Vectors::from(&b), Vectors::Binary(s) if s.len() == 8));
}
