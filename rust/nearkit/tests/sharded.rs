//! nearkit::ShardedIndex: flat shards answer as one flat index over the union (ids, distances,
//! ties by id), saved directories reopen equal, bad input is an error.

use nearkit::{
    ErrorKind, Filter, Index, Kind, Metric, SearchOptions, ShardedIndex, ShardedOpenOptions, VectorType,
};

const D: usize = 4;
const N: usize = 600;
const SHARDS: usize = 3;

/// Rows with many repeated values (so equal distances cross shard boundaries), ids 1000 + row.
fn rows() -> (Vec<f32>, Vec<i64>) {
    let data = (0..N * D).map(|i| ((i * 7919 + i / D) % 5) as f32).collect();
    (data, (0..N as i64).map(|r| 1000 + r).collect())
}

fn flat(data: &[f32], ids: &[i64]) -> Index {
    let index = Index::builder(Kind::FLAT, Metric::L2, D).threads(1).build().unwrap();
    index.add_with_ids(data, ids).unwrap();
    index
}

/// Row r goes to shard r % SHARDS.
fn shards(data: &[f32], ids: &[i64]) -> Vec<Index> {
    (0..SHARDS)
        .map(|s| {
            let rows: Vec<usize> = (s..ids.len()).step_by(SHARDS).collect();
            let x: Vec<f32> = rows.iter().flat_map(|&r| data[r * D..(r + 1) * D].iter().copied()).collect();
            flat(&x, &rows.iter().map(|&r| ids[r]).collect::<Vec<_>>())
        })
        .collect()
}

fn collection(data: &[f32], ids: &[i64]) -> ShardedIndex {
    let mut sharded = ShardedIndex::with_threads(2).unwrap();
    for shard in shards(data, ids) {
        sharded.add_shard(shard).unwrap();
    }
    sharded
}

#[test]
fn flat_shards_equal_one_flat_index() {
    let (data, ids) = rows();
    let queries = &data[..30 * D];
    let single = flat(&data, &ids);
    let sharded = collection(&data, &ids);
    assert_eq!(sharded.shard_count(), SHARDS);
    assert_eq!(sharded.len(), N);
    assert_eq!(sharded.dimension(), D);
    assert_eq!(sharded.metric(), Some(Metric::L2));
    assert_eq!(sharded.vector_type(), Some(VectorType::FLOAT32));
    assert!(sharded.memory_bytes() > 0);
    for k in [1, 8, N + 2] {
        assert_eq!(sharded.search(queries, k).unwrap(), single.search(queries, k).unwrap(), "k = {k}");
    }
    let allowed: Vec<i64> = (0..100).map(|i| 1000 + 5 * i).collect();
    let options = SearchOptions::new().filter(Filter::Ids(&allowed)).threads(1);
    assert_eq!(
        sharded.search_with(queries, 6, &options).unwrap(),
        single.search_with(queries, 6, &options).unwrap()
    );
    // searches share the collection across threads
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| assert_eq!(sharded.search(queries, 5).unwrap(), single.search(queries, 5).unwrap()));
        }
    });
}

#[test]
fn save_and_open_round_trip() {
    let (data, ids) = rows();
    let queries = &data[..20 * D];
    let dir = std::env::temp_dir().join(format!("nearkit-rust-sharded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let want = {
        let sharded = collection(&data, &ids);
        sharded.save(&dir).unwrap();
        sharded.search(queries, 7).unwrap()
    };
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files, ["manifest.json", "shard-00000.nkx", "shard-00001.nkx", "shard-00002.nkx"]);
    let opened = ShardedIndex::open_with_threads(&dir, 1).unwrap();
    assert_eq!((opened.shard_count(), opened.len(), opened.dimension()), (SHARDS, N, D));
    assert_eq!(opened.search(queries, 7).unwrap(), want);
    assert_eq!(Index::load(dir.join("shard-00001.nkx")).unwrap().len(), N / SHARDS);
    assert_eq!(ShardedIndex::open(dir.join("missing")).unwrap_err().kind(), ErrorKind::Io);
    std::fs::write(dir.join("manifest.json"), "not a manifest").unwrap();
    assert_eq!(ShardedIndex::open(&dir).unwrap_err().kind(), ErrorKind::Corrupt);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn open_with_views_answers_as_loaded_shards() {
    let (data, ids) = rows();
    let queries = &data[..20 * D];
    let dir = std::env::temp_dir().join(format!("nearkit-rust-sharded-view-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    collection(&data, &ids).save(&dir).unwrap();
    let loaded = ShardedIndex::open_with(&dir, &ShardedOpenOptions::new().threads(1)).unwrap();
    let viewed = ShardedIndex::open_with(&dir, &ShardedOpenOptions::new().threads(1).view(true)).unwrap();
    assert_eq!((viewed.shard_count(), viewed.len(), viewed.dimension()), (SHARDS, N, D));
    for k in [1, 7, N + 2] {
        assert_eq!(viewed.search(queries, k).unwrap(), loaded.search(queries, k).unwrap(), "k = {k}");
    }
    // the vectors stay in the mapped files: the views own a small part of the loaded heap
    assert!(
        viewed.memory_bytes() * 10 < loaded.memory_bytes(),
        "{} vs {}",
        viewed.memory_bytes(),
        loaded.memory_bytes()
    );
    drop((loaded, viewed));
    // each viewed file is still checked against its manifest entry
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let first_count = format!("\"count\": {}", N / SHARDS);
    assert!(manifest.contains(&first_count), "{manifest}");
    let wrong = manifest.replacen(&first_count, &format!("\"count\": {}", N / SHARDS + 1), 1);
    let wrong = wrong.replacen(&format!("\"count\": {N}"), &format!("\"count\": {}", N + 1), 1);
    std::fs::write(dir.join("manifest.json"), wrong).unwrap();
    let error = ShardedIndex::open_with(&dir, &ShardedOpenOptions::new().view(true)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_an_error() {
    let mut sharded = ShardedIndex::new().unwrap();
    assert_eq!((sharded.shard_count(), sharded.len(), sharded.dimension()), (0, 0, 0));
    assert_eq!(sharded.metric(), None);
    assert_eq!(sharded.search(&[0.0f32; D], 1).unwrap_err().kind(), ErrorKind::State);
    assert_eq!(
        sharded.save(std::env::temp_dir().join("nearkit-none")).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    let first = Index::new(Kind::FLAT, Metric::L2, D).unwrap();
    first.add(&[0.5f32; 3 * D]).unwrap();
    sharded.add_shard(first).unwrap();
    // a shard unlike the first is refused (and dropped: no leak, no double free under ASan/valgrind)
    let other = Index::new(Kind::FLAT, Metric::L2, D + 1).unwrap();
    assert_eq!(sharded.add_shard(other).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let cosine = Index::new(Kind::FLAT, Metric::COSINE, D).unwrap();
    assert_eq!(sharded.add_shard(cosine).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(sharded.shard_count(), 1);

    assert_eq!(sharded.search(&[0.0f32; D + 1], 1).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(sharded.search(&[0.0f32; D], 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(sharded.search(&[f32::NAN; D], 1).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(sharded.search(&[0u8; 4], 1).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let unknown = SearchOptions::new().param("no_such_param", 1.0);
    assert_eq!(sharded.search_with(&[0.0f32; D], 1, &unknown).unwrap_err().kind(), ErrorKind::NotFound);
    let padded = sharded.search(&[0.0f32; D], 5).unwrap();
    assert_eq!(padded.query_ids(0)[3..], [-1, -1]);
}
