//! The safe API: versions, kinds and metrics enumerated from the library, introspection, named
//! parameters, ids, persistence.

use nearkit::{Index, Kind, Metric, SearchOptions, VectorType};

#[test]
fn versions_and_abi() {
    nearkit::check_abi().unwrap();
    assert_eq!(nearkit::abi_version(), nearkit::sys::NEARKIT_ABI_VERSION);
    let expected = format!(
        "{}.{}.{}",
        nearkit::sys::NEARKIT_VERSION_MAJOR,
        nearkit::sys::NEARKIT_VERSION_MINOR,
        nearkit::sys::NEARKIT_VERSION_PATCH
    );
    assert_eq!(nearkit::version(), expected);
    // The crates carry the C library's version.
    assert_eq!(env!("CARGO_PKG_VERSION"), expected);
}

#[test]
fn kinds_are_enumerated_from_the_library() {
    let kinds = Kind::all();
    assert!(!kinds.is_empty());
    for info in &kinds {
        assert_eq!(Kind::by_name(info.name()).unwrap(), info.kind());
        assert_eq!(Kind::by_name(&info.name().to_uppercase()).unwrap(), info.kind());
        assert_eq!(info.kind().name(), Some(info.name()));
        assert_eq!(info.kind().info().as_ref(), Some(info));
        assert!(!info.description().is_empty());
        assert!(!info.metrics().is_empty());
        assert_eq!(info.kind().to_string(), info.name());
        for m in info.metrics() {
            assert!(info.supports(m));
        }
    }
    let flat = Kind::FLAT.info().unwrap();
    assert!(flat.is_exact() && !flat.needs_training() && !flat.is_compressed());
    assert!(Kind::IVF_SQ8.info().unwrap().is_compressed());
    assert_eq!(flat.metrics(), Metric::all(), "flat supports every metric");
    assert_eq!(Kind::from_raw(999).name(), None);
    assert_eq!(Kind::from_raw(999).to_string(), "kind#999");
}

#[test]
fn metrics_are_enumerated_from_the_library() {
    let all = Metric::all();
    let names: Vec<&str> = all.iter().map(|m| m.name().unwrap()).collect();
    assert_eq!(names, ["l2", "l1", "linf", "cosine", "ip", "hamming"]);
    for m in &all {
        assert_eq!(Metric::by_name(m.name().unwrap()).unwrap(), *m);
        assert_eq!(m.to_string().parse::<Metric>().unwrap(), *m);
    }
    assert_eq!(Metric::by_name("manhattan").unwrap(), Metric::L1);
    assert_eq!(Metric::by_name("chebyshev").unwrap(), Metric::LINF);
    assert_eq!(Metric::by_name("inner_product").unwrap(), Metric::IP);
    assert_eq!(Metric::from_raw(77).name(), None);
}

#[test]
fn introspection() {
    let index = Index::builder(Kind::FLAT, Metric::COSINE, 3).threads(1).seed(9).build().unwrap();
    assert_eq!(index.kind(), Kind::FLAT);
    assert_eq!(index.metric(), Metric::COSINE);
    assert_eq!(index.vector_type(), VectorType::FLOAT32);
    assert_eq!(index.dimension(), 3);
    assert_eq!(index.vector_bytes(), 12);
    assert!(index.is_empty());
    index.add(&[1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0]).unwrap();
    assert_eq!(index.len(), 2);
    assert!(index.memory_bytes() >= 24);
    assert!(index.is_ready());
    let text = index.describe().unwrap();
    assert!(text.contains("flat") && text.contains("cosine"), "{text}");
    let dbg = format!("{index:?}");
    assert!(dbg.contains("FLAT") || dbg.contains("flat"), "{dbg}");

    let bits = Index::new(Kind::FLAT, Metric::HAMMING, 256).unwrap();
    assert_eq!(bits.vector_type(), VectorType::BINARY);
    assert_eq!(bits.vector_bytes(), 32);
}

#[test]
fn named_parameters() {
    let index = Index::builder(Kind::FLAT, Metric::L2, 4).param("num_threads", 2).build().unwrap();
    let params = index.params();
    let threads = params.iter().find(|p| p.name() == "num_threads").expect("num_threads");
    assert!(threads.is_integer() && !threads.is_read_only());
    assert!(params.iter().all(|p| !p.is_recall()));
    let ivf = Index::builder(Kind::IVF_FLAT, Metric::L2, 4).build().unwrap();
    let recall: Vec<_> = ivf.params().into_iter().filter(|p| p.is_recall()).collect();
    assert!(recall.len() == 1 && recall[0].name() == "nprobe");
    assert_eq!(index.param("num_threads").unwrap(), 2.0);
    index.set_param("num_threads", 1.0).unwrap();
    assert_eq!(index.param("num_threads").unwrap(), 1.0);
    for p in &params {
        index.param(p.name()).unwrap();
    }
    // Parameters survive a round trip.
    let copy = index.try_clone().unwrap();
    assert_eq!(copy.param("num_threads").unwrap(), 1.0);
}

#[test]
fn parameter_descriptions_of_every_kind() {
    for info in Kind::all() {
        for metric in Metric::all().into_iter().filter(|m| info.supports(*m)) {
            let dimension = if metric == Metric::HAMMING { 64 } else { 16 };
            let index = Index::new(info.kind(), metric, dimension).unwrap();
            let params = index.params();
            assert!(params[0].name() == "num_threads" && !params[0].description().is_empty());
            for p in &params {
                let what = format!("{}/{:?}/{}", info.name(), metric, p.name());
                assert!(p.minimum() <= p.maximum(), "{what}");
                assert!(!p.description().is_empty(), "{what} is described");
                match p.default() {
                    None => assert!(p.is_read_only(), "{what}"),
                    Some(default) => {
                        assert_eq!(default, index.param(p.name()).unwrap(), "{what}: a new index's value");
                        assert!(p.minimum() <= default && default <= p.maximum(), "{what}");
                    }
                }
            }
        }
    }
}

#[test]
fn custom_ids_and_binary_vectors() {
    let index = Index::new(Kind::FLAT, Metric::HAMMING, 16).unwrap();
    // Three codes: 0x0000, 0x00ff, 0xffff; duplicated ids are allowed and reported as given.
    index.add_with_ids(&[0u8, 0, 0xff, 0, 0xff, 0xff], &[7, 7, -5]).unwrap();
    let result = index.search(&[0x0fu8, 0x00], 3).unwrap();
    assert_eq!(result.query_ids(0), &[7, 7, -5]);
    assert_eq!(result.query_distances(0), &[4.0, 4.0, 12.0]);
    let within = index.range_search(&[0x0fu8, 0x00], 4.0).unwrap();
    assert_eq!(within.query_ids(0), &[7, 7]);
}

#[test]
fn results_accessors() {
    let index = Index::new(Kind::FLAT, Metric::L2, 1).unwrap();
    index.add(&[0.0f32, 1.0, 2.0, 3.0]).unwrap();
    let queries = [0.0f32, 3.0, 1.4];
    let result = index.search_with(&queries, 2, &SearchOptions::new().threads(2)).unwrap();
    assert_eq!(result.len(), 3);
    assert_eq!(result.iter().len(), 3);
    let rows: Vec<(Vec<i64>, Vec<f32>)> = result.iter().map(|(i, d)| (i.to_vec(), d.to_vec())).collect();
    assert_eq!(rows[1], (vec![3, 2], vec![0.0, 1.0]));
    let n: Vec<nearkit::Neighbor> = result.neighbors(2).collect();
    assert_eq!(n[0].id, 1);
    assert!((n[0].distance - 0.4).abs() < 1e-6);
    let (ids, dists) = result.clone().into_parts();
    assert_eq!((ids.len(), dists.len()), (6, 6));

    let range = index.range_search(&queries, 1.0).unwrap();
    assert_eq!(range.len(), 3);
    assert_eq!(range.query_ids(0), &[0, 1]);
    assert_eq!(range.query_ids(2), &[1, 2]);
    assert_eq!(range.total(), range.ids().len());
    assert_eq!(range.iter().map(|(ids, _)| ids.len()).sum::<usize>(), range.total());
    let (offsets, _, _) = range.into_parts();
    assert_eq!(offsets.len(), 4);
}

#[test]
#[should_panic(expected = "out of range")]
fn result_row_out_of_range_panics_like_a_slice() {
    let index = Index::new(Kind::FLAT, Metric::L2, 1).unwrap();
    index.add(&[0.0f32]).unwrap();
    let result = index.search(&[0.0f32], 1).unwrap();
    let _ = result.query_ids(1);
}

#[test]
fn save_and_load_every_way() {
    let dir = std::env::temp_dir().join(format!("nearkit-rust-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let index = Index::builder(Kind::FLAT, Metric::L1, 5).threads(1).build().unwrap();
    let data: Vec<f32> = (0..500).map(|i| (i as f32 * 0.37).sin()).collect();
    index.add(&data).unwrap();
    index.build().unwrap();
    let expected = index.search(&data[..50], 4).unwrap();

    let path = dir.join("index.nkx");
    index.save(&path).unwrap();
    let from_file = Index::load(&path).unwrap();
    assert_eq!(from_file.search(&data[..50], 4).unwrap(), expected);
    // A file's contents are a valid buffer and the other way round.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(Index::from_bytes(&bytes).unwrap().search(&data[..50], 4).unwrap(), expected);
    assert_eq!(index.to_bytes().unwrap(), bytes);
    // Saving replaces an existing file.
    let bigger = index.try_clone().unwrap();
    bigger.add(&data[..5]).unwrap();
    bigger.save(&path).unwrap();
    assert_eq!(Index::load(&path).unwrap().len(), 101);
    std::fs::remove_dir_all(&dir).unwrap();
}
