"""A small program using nearkit's documented API, fully annotated: test_typing.py checks it with
``mypy --strict`` (nearkit is a typed package: py.typed) and also runs it."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import nearkit


def nearest(index: nearkit.Index, queries: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    result: nearkit.SearchResult = index.search(queries, k)
    ids, distances = result  # ids first (faiss's order is D, I)
    checked: NDArray[np.float32] = result.distances
    assert distances is checked
    return ids


def main() -> None:
    version: str = nearkit.__version__
    names: list[str] = nearkit.kinds()
    info: nearkit.KindInfo = nearkit.kind_info("flat")
    every: list[nearkit.KindInfo] = nearkit.kind_info()
    assert info.exact and info.supports("euclidean") and len(every) == len(names) and version
    assert nearkit.metric_name("euclidean") in nearkit.metrics()

    rng = np.random.default_rng(0)
    base: NDArray[np.float32] = rng.random((200, 8), dtype=np.float32)
    with nearkit.Index(kind="flat", metric="l2", dim=8, num_threads=1) as index:
        index.add(base)
        index.add(base[:2], ids=[1000, 1001])
        ids = nearest(index, base[:3], 2)
        assert ids[0, 0] == 0
        filtered = index.search(base[0], 1, filter=lambda i: i >= 100)
        assert int(filtered.ids[0, 0]) >= 100
        masked = index.search(base[:1], 1, filter=np.arange(200) >= 150)
        assert int(masked.ids[0, 0]) >= 150
        in_range: nearkit.RangeResult = index.range_search(base[:2], 0.5)
        first_ids, first_distances = in_range.query(0)
        assert in_range.query_count == 2 and first_ids.size == first_distances.size
        vectors, found = index.get([0, 5, 99999], return_found=True)
        assert found.tolist() == [True, True, False] and vectors.shape == (3, 8)
        assert index.remove([1000, 1001]) == 2 and 1000 not in index and index.contains(0)
        count: int = index.ntotal
        assert count == len(index) == 200 and index.is_ready and not index.closed
        merged = nearkit.merge_knn([ids, ids], [base[:3, :2], base[:3, :2]], 2, unique=True)
        assert merged.ids.shape == (3, 2)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "flat.nk"
            index.save(path)
            loaded: nearkit.Index = nearkit.load(path)
            assert loaded.kind == "flat" and loaded.dim == 8
        clone: nearkit.Index = pickle.loads(pickle.dumps(index))
        assert nearkit.from_bytes(clone.to_bytes()).ntotal == 200
        assert "flat" in index.describe() or index.memory_bytes > 0

    hnsw = nearkit.Index(kind="hnsw", metric="cosine", dim=8, M=8)
    hnsw.add(base)
    hnsw.ef_search = 32
    params: nearkit.Params = hnsw.params
    params["ef_search"] = 40
    assert hnsw.get_param("ef_search") == 40 and params.describe("ef_search").integer
    settings: dict[str, float] = dict(params)
    assert "ef_search" in settings
    tuned: nearkit.TuneResult = hnsw.tune(base[:20], k=5, target_recall=0.9)
    assert tuned.param == "ef_search" and tuned.recall >= 0.0
    hnsw.search(base[:2], 5, ef_search=64)
    hnsw.close()
    try:
        hnsw.search(base[:1], 1)
    except nearkit.ClosedIndexError as error:
        message: str = str(error)
        assert message
    try:
        nearkit.Index(kind="flat", metric="l2", dim=8).search(np.zeros(3, np.float32), 1)
    except nearkit.InvalidArgumentError:
        pass
    print("typed_usage: ok")


if __name__ == "__main__":
    main()
