"""The golden manifest (tests/golden/manifest.json): every case, every exact index kind that supports
the case's metric, k-NN and range search, and again after a round trip through bytes and a file.
The manifest's approximate kinds run the same cases under their exact parameters, and must reach
the manifest's recall floors under their recall parameters."""

import pytest

import nearkit

from conftest import (MANIFEST, check_knn, check_range, exact_kinds_for, golden_dataset,
                      golden_expected)


def _approximate_kinds():
    return MANIFEST.get("approximate", {}).get("kinds", {}) if MANIFEST else {}


def _index_params(text):
    """An index parameter string of the manifest ("nlist=16,nprobe=16") as keyword arguments."""
    return {name: float(value) for name, value in (item.split("=") for item in text.split(","))}


def _supports(kind, metric):
    return metric in nearkit.kind_info(kind).metrics


def _params():
    if MANIFEST is None:
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason="no golden manifest"))]
    out = []
    for case in MANIFEST["cases"]:
        kinds = exact_kinds_for(case["metric"])
        assert kinds, f"no exact kind supports {case['metric']}"
        for kind in kinds:
            out.append(pytest.param(case, kind, {}, id=f"{case['name']}-{kind}"))
        for kind, spec in _approximate_kinds().items():
            if _supports(kind, case["metric"]):
                out.append(pytest.param(case, kind, _index_params(spec["exact_params"]),
                                        id=f"{case['name']}-{kind}-exact"))
    return out


def _recall_params():
    out = []
    for kind, spec in _approximate_kinds().items():
        for case in MANIFEST["cases"]:
            floor = spec["min_recall"].get(case["dataset"])
            if floor is not None and _supports(kind, case["metric"]):
                out.append(pytest.param(case, kind, spec["recall_params"], floor,
                                        id=f"{case['name']}-{kind}-recall"))
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
    for kind in _approximate_kinds():
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
