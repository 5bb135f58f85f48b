//! nearkit::merge_knn: shards' answers merged equal one flat index's over the union, ties by id.

use nearkit::{merge_knn, ErrorKind, Index, Kind, Metric};

#[test]
fn shards_merged_equal_the_union() {
    let (n, d) = (600usize, 4usize);
    let rows: Vec<f32> = (0..n * d).map(|i| ((i * 7919 + i / d) % 5) as f32).collect();
    let queries: Vec<f32> = rows[..20 * d].to_vec();
    let all = Index::new(Kind::FLAT, Metric::L2, d).unwrap();
    all.add(&rows[..]).unwrap();
    let want = all.search(&queries[..], 8).unwrap();
    let mut answers = Vec::new();
    for s in 0..3 {
        let shard = Index::new(Kind::FLAT, Metric::L2, d).unwrap();
        let (mut x, mut ids) = (Vec::new(), Vec::new());
        for i in (s..n).step_by(3) {
            x.extend_from_slice(&rows[i * d..(i + 1) * d]);
            ids.push(i as i64);
        }
        shard.add_with_ids(&x[..], &ids).unwrap();
        answers.push(shard.search(&queries[..], 8).unwrap());
    }
    let parts: Vec<_> = answers.iter().collect();
    let got = merge_knn(&parts, 8, false).unwrap();
    assert_eq!(got.ids(), want.ids());
    assert_eq!(got.distances(), want.distances());
    let twice = merge_knn(&[&want, &want], 8, true).unwrap();
    assert_eq!(twice.ids(), want.ids());
}

#[test]
fn bad_input_is_an_error() {
    let a = Index::new(Kind::FLAT, Metric::L2, 1).unwrap();
    a.add(&[0.0f32, 1.0]).unwrap();
    let one = a.search(&[0.5f32], 1).unwrap();
    let two = a.search(&[0.5f32, 0.7], 1).unwrap();
    assert_eq!(merge_knn(&[&one], 0, false).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(merge_knn(&[&one, &two], 1, false).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(merge_knn(&[], 3, false).unwrap().len(), 0);
}
