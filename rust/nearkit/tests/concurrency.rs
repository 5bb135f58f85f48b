//! Concurrency: many threads share `&Index` (scoped threads) and search, range-search, save and
//! introspect at once, with results identical to a single thread's; indexes move between
//! threads; dropping while shared does not compile (see the compile_fail doctests on `Index`).
//! Writers running alongside searches: `tests/living.rs`.

use std::sync::Arc;

use nearkit::{Index, Kind, Metric, SearchOptions};

fn assert_send_sync<T: Send + Sync>() {}

fn data(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n * dim)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32) / (1u64 << 24) as f32
        })
        .collect()
}

#[test]
fn index_is_send_and_sync() {
    assert_send_sync::<Index>();
    assert_send_sync::<nearkit::SearchResult>();
    assert_send_sync::<nearkit::RangeResult>();
    assert_send_sync::<nearkit::Error>();
}

#[test]
fn scoped_threads_share_an_index() {
    const DIM: usize = 24;
    let base = data(3000, DIM, 1);
    let queries = data(200, DIM, 2);
    for metric in [Metric::L2, Metric::COSINE, Metric::L1] {
        let index = Index::builder(Kind::FLAT, metric, DIM).threads(2).build().unwrap();
        index.add(&base).unwrap();
        index.build().unwrap();
        let reference = index.search_with(&queries, 7, &SearchOptions::new().threads(1)).unwrap();
        let range_reference = index.range_search(&queries[..10 * DIM], 0.5).unwrap();
        let bytes_reference = index.to_bytes().unwrap();

        let index = &index;
        std::thread::scope(|scope| {
            for t in 0..8 {
                let (queries, reference, range_reference, bytes_reference) =
                    (&queries, &reference, &range_reference, &bytes_reference);
                scope.spawn(move || {
                    for round in 0..15 {
                        match (t + round) % 5 {
                            // Batches, with the library's own threads inside.
                            0 => assert_eq!(&index.search(queries, 7).unwrap(), reference),
                            // Single queries, one by one.
                            1 => {
                                for q in (t..200).step_by(17) {
                                    let one = index.search(&queries[q * DIM..(q + 1) * DIM], 7).unwrap();
                                    assert_eq!(one.query_ids(0), reference.query_ids(q));
                                    assert_eq!(one.query_distances(0), reference.query_distances(q));
                                }
                            }
                            2 => assert_eq!(
                                &index.range_search(&queries[..10 * DIM], 0.5).unwrap(),
                                range_reference
                            ),
                            3 => assert_eq!(&index.to_bytes().unwrap(), bytes_reference),
                            _ => {
                                assert_eq!(index.len(), 3000);
                                assert!(index.is_ready());
                                assert!(index.describe().unwrap().contains("flat"));
                                assert_eq!(index.param("num_threads").unwrap(), 2.0);
                                // Errors stay on their own thread, with their own message.
                                let err = index.search(&queries[..DIM - 1], 1).unwrap_err();
                                assert!(err.message().contains("queries"), "{err}");
                                let err = index.search(&queries[..DIM], 0).unwrap_err();
                                assert_eq!(err.kind(), nearkit::ErrorKind::InvalidArgument);
                            }
                        }
                    }
                });
            }
        });
    }
}

#[test]
fn indexes_move_between_threads_and_arc_shares_them() {
    let base = data(500, 8, 3);
    let mut index = Index::new(Kind::FLAT, Metric::L2, 8).unwrap();
    // Built on another thread, used here.
    index = std::thread::spawn(move || {
        index.add(&base).unwrap();
        index.build().unwrap();
        index
    })
    .join()
    .unwrap();
    let index = Arc::new(index);
    let expected = index.search(&data(1, 8, 4), 3).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let index = Arc::clone(&index);
            std::thread::spawn(move || index.search(&data(1, 8, 4), 3).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), expected);
    }
    // Dropped on whichever thread holds the last reference.
    let last = Arc::clone(&index);
    drop(index);
    std::thread::spawn(move || drop(last)).join().unwrap();
}

#[test]
fn many_indexes_created_and_dropped_concurrently() {
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            scope.spawn(move || {
                for round in 0..20 {
                    let index = Index::builder(Kind::FLAT, Metric::L2, 4)
                        .threads(1)
                        .seed(t * 100 + round)
                        .build()
                        .unwrap();
                    index.add(&data(50, 4, t + round)).unwrap();
                    let copy = Index::from_bytes(&index.to_bytes().unwrap()).unwrap();
                    assert_eq!(copy.len(), 50);
                }
            });
        }
    });
}
