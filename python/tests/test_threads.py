"""Concurrency: the GIL is released during C calls, a thread pool searching one index gives the
serial results, and closing or writing while others search never crashes."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import nearkit


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(99)
    base = rng.standard_normal((20000, 32)).astype(np.float32)
    queries = rng.standard_normal((400, 32)).astype(np.float32)
    return base, queries


@pytest.fixture
def index(data):
    base, _ = data
    ix = nearkit.Index(kind="flat", metric="l2", dim=32, num_threads=1)
    ix.add(base)
    ix.build()
    return ix


def test_thread_pool_gives_serial_results(index, data):
    _, queries = data
    serial_ids, serial_dist = index.search(queries, 10)
    chunks = [queries[i:i + 10] for i in range(0, len(queries), 10)]
    singles = list(queries[:60])
    with ThreadPoolExecutor(max_workers=4) as pool:
        chunk_results = list(pool.map(lambda q: index.search(q, 10), chunks))
        single_results = list(pool.map(lambda q: index.search(q, 10), singles))
        range_results = list(pool.map(lambda q: index.range_search(q, 6.0), chunks))
    np.testing.assert_array_equal(np.vstack([r[0] for r in chunk_results]), serial_ids)
    np.testing.assert_array_equal(np.vstack([r[1] for r in chunk_results]), serial_dist)
    np.testing.assert_array_equal(np.vstack([r[0] for r in single_results]), serial_ids[:60])
    serial_range = index.range_search(queries, 6.0)
    got = np.concatenate([r.ids for r in range_results])
    np.testing.assert_array_equal(got, serial_range.ids)


def test_gil_is_released_during_search(index, data):
    """While one thread is inside a long C search, another Python thread keeps running."""
    _, queries = data
    big = np.tile(queries, (10, 1))  # 4000 queries x 20000 vectors on one thread
    state = {"in_call": False, "ticks_during_call": 0, "done": False}

    def worker():
        state["in_call"] = True
        index.search(big, 10)
        state["in_call"] = False
        state["done"] = True

    t = threading.Thread(target=worker)
    t.start()
    deadline = time.monotonic() + 120
    while not state["done"] and time.monotonic() < deadline:
        if state["in_call"]:
            state["ticks_during_call"] += 1
        time.sleep(0.0005)
    t.join()
    # With the GIL held for the whole search this loop could not run while the search did.
    assert state["ticks_during_call"] > 20, state


def test_input_buffer_cannot_be_resized_while_a_search_reads_it(index, data):
    """The binding holds the caller's buffer (Python buffer protocol) for the whole C call, with
    the GIL released: the owner cannot resize or free it meanwhile (BufferError), so the search
    reads what it was given."""
    from nearkit import lowlevel as ll

    _, queries = data
    big = np.tile(queries, (10, 1))
    want_ids, want_dist = index.search(big, 5)
    raw = bytearray(big.tobytes())
    ids = np.empty((len(big), 5), np.int64)
    dist = np.empty((len(big), 5), np.float32)
    state = {"in_call": False, "done": False}

    def worker():
        state["in_call"] = True
        try:
            ll.nkpy_search(index._h, ll.NEARKIT_VECTOR_FLOAT32, raw, 5, 0, ids, dist)
        finally:
            state["done"] = True

    t = threading.Thread(target=worker)
    t.start()
    refused = 0
    while not state["done"]:
        if state["in_call"]:
            try:
                raw.extend(b"\0" * 4096)  # would reallocate the buffer under the search
                del raw[-4096:]
            except BufferError:
                refused += 1
        time.sleep(0.001)
    t.join()
    assert refused > 0, "no resize was attempted while the search ran"
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(dist, want_dist)


def test_parallel_threads_use_several_cores(data):
    """Two threads searching at once take clearly less than twice one thread's time.

    Uses l1, which runs the library's compute-bound SIMD kernels on one core per call (l2 batches
    go through a memory-bound sgemm that gains little from a second core).
    """
    import os

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core")
    base, queries = data
    ix = nearkit.Index(kind="flat", metric="l1", dim=32, num_threads=1)
    ix.add(base)
    work = queries

    def one():
        ix.search(work, 10, num_threads=1)

    one()
    best_serial = best_parallel = float("inf")
    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            t0 = time.perf_counter()
            one()
            one()
            best_serial = min(best_serial, time.perf_counter() - t0)
            t0 = time.perf_counter()
            list(pool.map(lambda _: one(), range(2)))
            best_parallel = min(best_parallel, time.perf_counter() - t0)
    # Lenient: other processes share the machine; a held GIL would give parallel ~ serial.
    if best_parallel > 0.85 * best_serial:
        pytest.xfail(f"no parallel speed-up measured (serial {best_serial:.3f}s, parallel "
                     f"{best_parallel:.3f}s): machine busy?")


def test_writers_and_readers_are_serialised(data):
    """add() from one thread while others search: no crash, searches see a consistent index."""
    base, queries = data
    ix = nearkit.Index(kind="flat", metric="l2", dim=32, num_threads=1)
    ix.add(base[:1000])
    errors = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                ids, dist = ix.search(queries[:5], 5)
                assert (ids >= 0).all() and (ids < 20000).all()
                assert (np.diff(dist, axis=1) >= 0).all()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(1000, 20000, 1000):
        ix.add(base[i:i + 1000])
        ix.num_threads = 1
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(ix) == 20000


def test_close_while_searching(data):
    """close() waits for running calls; later calls fail cleanly with ClosedIndexError."""
    base, queries = data
    for _ in range(5):
        ix = nearkit.Index(kind="flat", metric="l2", dim=32, num_threads=1)
        ix.add(base)
        outcomes = []
        start = threading.Barrier(5)

        def searcher():
            start.wait()
            for _ in range(20):
                try:
                    ids, _ = ix.search(queries[:50], 10)
                    assert ids.shape == (50, 10) and (ids >= 0).all()
                    outcomes.append("ok")
                except nearkit.ClosedIndexError:
                    outcomes.append("closed")

        threads = [threading.Thread(target=searcher) for _ in range(4)]
        for t in threads:
            t.start()
        start.wait()
        time.sleep(0.01)
        ix.close()
        for t in threads:
            t.join()
        assert len(outcomes) == 80 and set(outcomes) <= {"ok", "closed"}
        with pytest.raises(nearkit.ClosedIndexError):
            ix.search(queries[:1], 1)


def test_many_indexes_in_parallel(data):
    base, queries = data

    def build_and_search(seed):
        ix = nearkit.Index(kind="flat", metric="l1", dim=32, num_threads=1, seed=seed)
        ix.add(base[:2000])
        ix.build()
        ids, _ = ix.search(queries[:20], 3)
        ix.close()
        return ids

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(build_and_search, range(8)))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_garbage_collection_during_searches(data):
    """Dropping the last reference of indexes in many threads frees them safely."""
    base, queries = data

    def cycle(i):
        ix = nearkit.Index(dim=32, num_threads=1)
        ix.add(base[:500])
        ids, _ = ix.search(queries[i:i + 1], 1)
        del ix
        return ids[0, 0]

    with ThreadPoolExecutor(4) as pool:
        assert len(list(pool.map(cycle, range(100)))) == 100
