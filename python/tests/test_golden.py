"""The golden manifest (tests/golden/manifest.json): every case, every exact index kind that supports
the case's metric, k-NN and range search, and again after a round trip through bytes and a file."""

import pytest

import nearkit

from conftest import (MANIFEST, check_knn, check_range, exact_kinds_for, golden_dataset,
                      golden_expected)


def _params():
    if MANIFEST is None:
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="no golden manifest"))]
    out = []
    for case in MANIFEST["cases"]:
        kinds = exact_kinds_for(case["metric"])
        assert kinds, f"no exact kind supports {case['metric']}"
        for kind in kinds:
            out.append(pytest.param(case, kind, id=f"{case['name']}-{kind}"))
    return out


def _check(index, case, expected, where):
    _, queries, _ = golden_dataset(case["dataset"])
    ids, distances = index.search(queries, case["k"])
    check_knn(ids, distances, expected, f"{where} knn")
    result = index.range_search(queries, case["radius"])
    check_range(result, expected, case["radius"], f"{where} range")


@pytest.mark.parametrize("case, kind", _params())
def test_golden_case(case, kind, tmp_path):
    base, _, spec = golden_dataset(case["dataset"])
    expected = golden_expected(case)
    index = nearkit.Index(kind=kind, metric=case["metric"], dim=spec["dimension"])
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
