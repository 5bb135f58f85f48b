//! `ndarray` input and output (the `ndarray` feature): a 2-D array of vectors in, one row per
//! vector, and 2-D arrays of ids and distances out, one row per query. Only conversions: the
//! searching is the C library's, through [`Index::add`] and [`Index::search_with`].

use ndarray::{Array2, ArrayView2, CowArray, Ix2};

use crate::error::{invalid, Result};
use crate::{Index, SearchOptions, SearchResult};

impl Index {
    /// Adds the rows of `vectors` (one float vector per row, [`dimension`](Index::dimension)
    /// columns), as [`add`](Index::add) does. Any memory layout is accepted: a view that is not
    /// row-major and contiguous (transposed, sliced with a step) is copied into one first.
    ///
    /// ```
    /// use ndarray::array;
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 2)?;
    /// index.add_array(array![[0.0f32, 0.0], [1.0, 0.0], [0.0, 2.0]].view())?;
    /// assert_eq!(index.len(), 3);
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    ///
    /// Errors: as [`add`](Index::add), and [`InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// when the number of columns is not the index's dimension.
    pub fn add_array(&self, vectors: ArrayView2<'_, f32>) -> Result<()> {
        let rows = self.row_major(&vectors, "vectors")?;
        self.add(rows.as_slice().expect("a standard-layout array is one slice"))
    }

    /// The `k` nearest neighbours of each row of `queries` (one float vector per row,
    /// [`dimension`](Index::dimension) columns), as [`search`](Index::search): the ids and the
    /// distances as `n × k` arrays, row `i` for query `i`, nearest first (missing neighbours are
    /// id -1 at distance infinity).
    ///
    /// ```
    /// use ndarray::array;
    /// use nearkit::{Index, Kind, Metric};
    ///
    /// let index = Index::new(Kind::FLAT, Metric::L2, 2)?;
    /// index.add_array(array![[0.0f32, 0.0], [1.0, 0.0], [0.0, 2.0]].view())?;
    /// let (ids, distances) = index.search_array(array![[0.9f32, 0.0], [0.0, 1.5]].view(), 2)?;
    /// assert_eq!(ids, array![[1, 0], [2, 0]]);
    /// assert_eq!(distances.dim(), (2, 2));
    /// # Ok::<(), nearkit::Error>(())
    /// ```
    ///
    /// Errors: as [`search`](Index::search), and
    /// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) when the number of columns is not
    /// the index's dimension.
    pub fn search_array(&self, queries: ArrayView2<'_, f32>, k: usize) -> Result<(Array2<i64>, Array2<f32>)> {
        let rows = self.row_major(&queries, "queries")?;
        Ok(self.search(rows.as_slice().expect("a standard-layout array is one slice"), k)?.into_arrays())
    }

    /// [`search_array`](Index::search_array) with per-call options (threads, parameters, a
    /// filter), as [`search_with`](Index::search_with).
    pub fn search_array_with(
        &self,
        queries: ArrayView2<'_, f32>,
        k: usize,
        options: &SearchOptions,
    ) -> Result<(Array2<i64>, Array2<f32>)> {
        let rows = self.row_major(&queries, "queries")?;
        let rows = rows.as_slice().expect("a standard-layout array is one slice");
        Ok(self.search_with(rows, k, options)?.into_arrays())
    }

    /// The array as one row-major slice (borrowed when it already is one), after checking that
    /// its rows are vectors of this index: a row count times `dimension` values is what the
    /// slice methods check, so a wrong column count could otherwise pass as other rows.
    fn row_major<'a>(&self, array: &'a ArrayView2<'_, f32>, what: &str) -> Result<CowArray<'a, f32, Ix2>> {
        if array.ncols() != self.dimension() {
            return Err(invalid(format!(
                "{what}: an array of {} rows × {} columns, but this index's vectors have {} values",
                array.nrows(),
                array.ncols(),
                self.dimension()
            )));
        }
        Ok(array.as_standard_layout())
    }
}

impl SearchResult {
    /// The ids and distances as `len() × k()` arrays, row `i` for query `i` (no copy: the
    /// arrays take over the buffers).
    pub fn into_arrays(self) -> (Array2<i64>, Array2<f32>) {
        let shape = (self.len(), self.k());
        let (ids, distances) = self.into_parts();
        (
            Array2::from_shape_vec(shape, ids).expect("a result holds len() × k() ids"),
            Array2::from_shape_vec(shape, distances).expect("a result holds len() × k() distances"),
        )
    }
}
