"""The golden manifest (tests/golden/manifest.json): every case, every exact index kind that supports
the case's metric, k-NN and range search, and again after a round trip through bytes and a file.
The manifest's approximate kinds run the same cases under their exact parameters, and must reach
the manifest's recall floors under their recall parameters.

The manifest's living cases (docs/golden.md, "Living cases") run on the same kinds: the base added
and built, ids removed, some added back, built again, then k-NN and range search with the case's
id-list filter (all queries in one call, and one query per call), and again on a copy loaded from
bytes. A kind whose remove, add after build, rebuild or filtered search raises UnsupportedError is
skipped (a SKIP line naming the stage), not failed, as the C suite does without --strict."""

import numpy as np
import pytest

import nearkit

from conftest import (MANIFEST, check_knn, check_range, check_range_row, exact_kinds_for,
                      golden_dataset, golden_expected)


def _approximate_kinds():
    """The manifest's approximate entries as (label, library kind, spec); an entry names its
    kind in "kind" when its label is not the kind's name (a kind under other build parameters)."""
    entries = MANIFEST.get("approximate", {}).get("kinds", {}) if MANIFEST else {}
    return [(label, spec.get("kind", label), spec) for label, spec in entries.items()]


def _index_params(text):
    """An index parameter string of the manifest ("nlist=16,nprobe=16") as keyword arguments
    (whole numbers as int: num_threads takes no float)."""
    return {name: int(value) if value.isdigit() else float(value)
            for name, value in (item.split("=") for item in text.split(","))}


def _supports(kind, metric):
    return metric in nearkit.kind_info(kind).metrics


def _kind_params(case):
    """A case on every exact kind of its metric, and on each approximate kind of that metric
    under its exact parameters: pytest parameters (case, kind, index parameters)."""
    kinds = exact_kinds_for(case["metric"])
    assert kinds, f"no exact kind supports {case['metric']}"
    out = [pytest.param(case, kind, {}, id=f"{case['name']}-{kind}") for kind in kinds]
    for label, kind, spec in _approximate_kinds():
        if _supports(kind, case["metric"]):
            out.append(pytest.param(case, kind, _index_params(spec["exact_params"]),
                                    id=f"{case['name']}-{label}-exact"))
    return out


def _params(section="cases"):
    """Every case of a manifest section ("cases" or "living") on every kind that runs it."""
    if MANIFEST is None or not MANIFEST.get(section):
        reason = "no golden manifest" if MANIFEST is None else f"no {section} in the manifest"
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=reason))]
    return [p for case in MANIFEST[section] for p in _kind_params(case)]


def _recall_params():
    out = []
    for label, kind, spec in _approximate_kinds():
        for case in MANIFEST["cases"]:
            floor = spec["min_recall"].get(case["dataset"])
            if floor is not None and _supports(kind, case["metric"]):
                out.append(pytest.param(case, kind, spec["recall_params"], floor,
                                        id=f"{case['name']}-{label}-recall"))
    return out


def _check(index, case, expected, where):
    _, queries, _ = golden_dataset(case["dataset"])
    ids, distances = index.search(queries, case["k"])
    check_knn(ids, distances, expected, f"{where} knn")
    result = index.range_search(queries, case["radius"])
    check_range(result, expected, case["radius"], f"{where} range")


@pytest.mark.parametrize("case, kind, params", _params())
def test_golden_case(case, kind, params, tmp_path):
    base, _, spec = golden_dataset(case["dataset"])
    expected = golden_expected(case)
    index = nearkit.Index(kind=kind, metric=case["metric"], dim=spec["dimension"], **params)
    assert index.vector_type == spec["vector_type"]
    index.add(base)
    index.build()
    _check(index, case, expected, f"{case['name']} {kind}")

    from_bytes = nearkit.from_bytes(index.to_bytes())
    _check(from_bytes, case, expected, f"{case['name']} {kind} from bytes")

    path = tmp_path / "golden.nkx"
    index.save(path)
    from_file = nearkit.load(path)
    assert from_file.kind == kind and len(from_file) == spec["count"]
    _check(from_file, case, expected, f"{case['name']} {kind} from file")


def test_manifest_covers_every_metric():
    if MANIFEST is None:
        pytest.skip("no golden manifest")
    metrics = {case["metric"] for case in MANIFEST["cases"]}
    assert metrics <= set(nearkit.metrics())


def test_approximate_kinds_exist():
    for _, kind, _ in _approximate_kinds():
        assert kind in [info.name for info in nearkit.kind_info()], f"no kind {kind} in the library"


@pytest.mark.parametrize("case, kind, params, floor", _recall_params())
def test_golden_recall(case, kind, params, floor):
    base, queries, spec = golden_dataset(case["dataset"])
    expected = golden_expected(case)["knn_ids"]
    index = nearkit.Index(kind=kind, metric=case["metric"], dim=spec["dimension"],
                          **_index_params(params))
    index.add(base)
    index.build()
    ids, _ = index.search(queries, case["k"])
    wanted = [[i for i in row if i != -1] for row in expected]
    found = sum(len(set(w) & set(row.tolist())) for w, row in zip(wanted, ids))
    recall = found / max(1, sum(len(w) for w in wanted))
    assert recall >= floor, f"{kind} ({params}): recall@{case['k']} {recall:.3f} below the floor {floor}"


# ---- living cases ---------------------------------------------------------------------------


def _living_changes(case):
    """The living case file: remove, add_back, filter (None or ids) and the expected rows."""
    return golden_expected({"expected": case["case"]})


def _skip_unsupported(case, kind, stage, call):
    """call()'s result; an UnsupportedError skips the unit with the C suite's SKIP line."""
    try:
        return call()
    except nearkit.UnsupportedError as e:
        line = f"SKIP case={case['name']} kind={kind} stage={stage}: UnsupportedError ({e})"
        print(line)
        pytest.skip(line)


def _apply_living_changes(index, case, kind, changes, base):
    """Removes the case's ids in one call, adds the add_back ids again with their base vectors
    (one call, the ids given, in the listed order) and builds again."""
    remove = np.asarray(changes["remove"], np.int64)
    removed = _skip_unsupported(case, kind, "remove", lambda: index.remove(remove))
    assert removed == len(remove), f"{case['name']} {kind} remove: {removed} removed, " \
                                   f"{len(remove)} expected"
    add_back = np.asarray(changes["add_back"], np.int64)
    _skip_unsupported(case, kind, "add_back", lambda: index.add(base[add_back], add_back))
    _skip_unsupported(case, kind, "rebuild", index.build)


def _check_living(index, case, changes, filter, where, single=False, num_threads=0):
    """Filtered k-NN and range search of all queries, in one call or (single) one per call,
    compared with the living case's expected rows."""
    _, queries, _ = golden_dataset(case["dataset"])
    k, radius = case["k"], case["radius"]
    if single:
        rows = [index.search(q, k, filter=filter, num_threads=num_threads) for q in queries]
        ids = np.concatenate([r[0] for r in rows])
        distances = np.concatenate([r[1] for r in rows])
    else:
        ids, distances = index.search(queries, k, filter=filter, num_threads=num_threads)
    check_knn(ids, distances, changes, f"{where} knn")
    if not single:
        result = index.range_search(queries, radius, filter=filter, num_threads=num_threads)
        check_range(result, changes, radius, f"{where} range")
        return
    for q, (ei, ed) in enumerate(zip(changes["range_ids"], changes["range_distances"])):
        result = index.range_search(queries[q], radius, filter=filter, num_threads=num_threads)
        assert result.query_count == 1, f"{where} range query {q}: {result.query_count} rows"
        ri, rd = result.query(0)
        check_range_row(ri, rd, ei, ed, radius, f"{where} range query {q}")


@pytest.mark.parametrize("case, kind, params", _params("living"))
def test_golden_living(case, kind, params):
    base, queries, spec = golden_dataset(case["dataset"])
    changes = _living_changes(case)
    index = nearkit.Index(kind=kind, metric=case["metric"], dim=spec["dimension"], **params)
    index.add(base)
    index.build()
    _apply_living_changes(index, case, kind, changes, base)
    count = spec["count"] - len(changes["remove"]) + len(changes["add_back"])
    assert len(index) == count, f"{case['name']} {kind}: count {len(index)}, expected {count}"

    filter = None if changes["filter"] is None else np.asarray(changes["filter"], np.int64)
    if filter is not None:
        _skip_unsupported(case, kind, "original",
                          lambda: index.search(queries[:1], 1, filter=filter))
    where = f"{case['name']} {kind}"
    _check_living(index, case, changes, filter, f"{where} original")
    _check_living(index, case, changes, filter, f"{where} single", single=True)

    loaded = nearkit.from_bytes(index.to_bytes())
    assert (loaded.kind, loaded.metric, loaded.vector_type, loaded.dim, len(loaded)) == \
        (kind, case["metric"], spec["vector_type"], spec["dimension"], count), \
        f"{where} buffer: the loaded index differs in kind, metric, vector type, dimension or count"
    assert loaded.is_ready, f"{where} buffer: the loaded index is not ready to search"
    _check_living(loaded, case, changes, filter, f"{where} buffer", num_threads=1)
