//! The `ndarray` feature: 2-D arrays give the results of the same vectors as slices, whatever
//! their memory layout, and a wrong number of columns is an error.
#![cfg(feature = "ndarray")]

use ndarray::{s, Array2, ShapeBuilder};
use nearkit::{ErrorKind, Filter, Index, Kind, Metric, SearchOptions};

fn data(n: usize, dim: usize) -> Vec<f32> {
    let mut state = 7u32;
    (0..n * dim)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32
        })
        .collect()
}

fn index_of(rows: &[f32], dim: usize) -> Index {
    let index = Index::new(Kind::FLAT, Metric::L2, dim).unwrap();
    index.add(rows).unwrap();
    index
}

#[test]
fn arrays_give_the_results_of_slices() {
    let dim = 8;
    let rows = data(200, dim);
    let queries = data(7, dim);
    let index = index_of(&rows, dim);
    let expected = index.search(&queries, 5).unwrap();

    let q = Array2::from_shape_vec((7, dim), queries.clone()).unwrap();
    let (ids, distances) = index.search_array(q.view(), 5).unwrap();
    assert_eq!((ids.dim(), distances.dim()), ((7, 5), (7, 5)));
    for i in 0..7 {
        assert_eq!(ids.row(i).to_vec(), expected.query_ids(i));
        assert_eq!(distances.row(i).to_vec(), expected.query_distances(i));
    }
    assert_eq!(expected.clone().into_arrays(), (ids, distances));

    // Column-major and strided views are copied into row-major order first.
    let fortran = Array2::from_shape_vec(
        (7, dim).f(),
        Array2::from_shape_vec((7, dim), queries.clone()).unwrap().t().iter().copied().collect(),
    )
    .unwrap();
    assert_eq!(fortran, q);
    assert_eq!(index.search_array(fortran.view(), 5).unwrap(), expected.clone().into_arrays());
    let mut doubled = Array2::<f32>::zeros((14, dim));
    doubled.slice_mut(s![..;2, ..]).assign(&q);
    assert_eq!(index.search_array(doubled.slice(s![..;2, ..]), 5).unwrap(), expected.into_arrays());
}

#[test]
fn add_array_equals_add() {
    let dim = 4;
    let rows = data(50, dim);
    let from_slice = index_of(&rows, dim);
    let from_array = Index::new(Kind::FLAT, Metric::L2, dim).unwrap();
    let array = Array2::from_shape_vec((50, dim), rows.clone()).unwrap();
    // Transposed twice: a column-major view of the same rows.
    let column_major = array.t().to_owned();
    from_array.add_array(column_major.t()).unwrap();
    assert_eq!(from_array.len(), 50);
    let queries = Array2::from_shape_vec((3, dim), data(3, dim)).unwrap();
    assert_eq!(
        from_array.search_array(queries.view(), 4).unwrap(),
        from_slice.search_array(queries.view(), 4).unwrap()
    );
}

#[test]
fn options_and_missing_neighbours() {
    let index = index_of(&[0.0, 1.0, 2.0], 1);
    let queries = Array2::from_shape_vec((1, 1), vec![0.0f32]).unwrap();
    let only_two = SearchOptions::new().filter(Filter::Ids(&[2]));
    let (ids, distances) = index.search_array_with(queries.view(), 2, &only_two).unwrap();
    assert_eq!(ids.row(0).to_vec(), [2, -1]);
    assert_eq!(distances[[0, 0]], 2.0);
    assert_eq!(distances[[0, 1]], f32::INFINITY);

    let none = Array2::<f32>::zeros((0, 1));
    let (ids, distances) = index.search_array(none.view(), 3).unwrap();
    assert_eq!((ids.dim(), distances.dim()), ((0, 3), (0, 3)));
}

#[test]
fn wrong_shapes_and_values_are_errors() {
    let index = index_of(&data(10, 6), 6);
    // 2 × 3 holds the values of one 6-d vector: refused, not read as one query.
    let wrong = Array2::<f32>::zeros((2, 3));
    let err = index.search_array(wrong.view(), 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("3 columns"), "{err}");
    assert_eq!(index.add_array(wrong.view()).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(index.len(), 10);

    let mut nan = Array2::<f32>::zeros((1, 6));
    nan[[0, 3]] = f32::NAN;
    assert_eq!(index.search_array(nan.view(), 1).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        index.search_array(Array2::zeros((1, 6)).view(), 0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}
