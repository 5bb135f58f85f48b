"""nearkit.ShardedIndex: shards searched as one collection, merged exactly by the C library."""

import json

import numpy as np
import pytest

import nearkit
from nearkit._sharded import manifest_shard_count, open_shard, write_manifest


def _data(n=600, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4, size=(n, d)).astype(np.float32)  # many ties


def _shards(base, parts, kind="flat"):
    out = []
    for p in range(parts):
        index = nearkit.Index(kind, "l2", base.shape[1])
        index.add(base[p::parts], np.arange(p, base.shape[0], parts))
        index.build()
        out.append(index)
    return out


def test_equals_one_flat_index_with_ties():
    base, queries = _data(), _data(40, seed=1)
    want = nearkit.Index("flat", "l2", 6)
    want.add(base)
    sharded = nearkit.ShardedIndex(_shards(base, 3))
    assert sharded.shard_count == 3 and len(sharded) == 600 and sharded.dim == 6
    for q in (queries, queries[0]):
        got, expected = sharded.search(q, 9), want.search(q, 9)
        np.testing.assert_array_equal(got.ids, expected.ids)
        np.testing.assert_array_equal(got.distances, expected.distances)
    assert sharded.memory_bytes > 0


def test_filters_go_to_every_shard():
    """Ids, a boolean mask and a callable over the collection's global ids: the filtered k
    nearest of one flat index; a callable's exception is the call's."""
    base, queries = _data(), _data(30, seed=2)
    want = nearkit.Index("flat", "l2", 6)
    want.add(base)
    sharded = nearkit.ShardedIndex(_shards(base, 3))
    allowed = np.arange(5, 600, 7)
    mask = np.zeros(600, dtype=bool)
    mask[allowed] = True
    for f in (allowed, mask, lambda i: i % 7 == 5):
        got, expected = sharded.search(queries, 6, filter=f), want.search(queries, 6, filter=f)
        np.testing.assert_array_equal(got.ids, expected.ids)
        np.testing.assert_array_equal(got.distances, expected.distances)

    def refuse(i):
        raise KeyError(i)

    with pytest.raises(KeyError):
        sharded.search(queries, 6, filter=refuse)


def test_save_open_and_the_manifest(tmp_path):
    base, queries = _data(), _data(10, seed=2)
    sharded = nearkit.ShardedIndex(_shards(base, 2, kind="vptree"))
    sharded.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["count"] == 600 and [s["count"] for s in manifest["shards"]] == [300, 300]
    assert manifest_shard_count(tmp_path) == 2
    again = nearkit.ShardedIndex.open(tmp_path)
    np.testing.assert_array_equal(again.search(queries, 5).ids, sharded.search(queries, 5).ids)
    viewed = nearkit.ShardedIndex.open(tmp_path, view=True)  # shards mapped, not read
    np.testing.assert_array_equal(viewed.search(queries, 5).distances,
                                  sharded.search(queries, 5).distances)
    shard = open_shard(tmp_path, 1)
    assert len(shard) == 300 and shard.kind == "vptree"
    shard.save(tmp_path / "copy.nkx")
    write_manifest(tmp_path, ["copy.nkx"])
    assert len(nearkit.ShardedIndex.open(tmp_path)) == 300


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_open_shard_as_a_view_is_checked_like_a_load(tmp_path, kind):
    base, queries = _data(), _data(10, seed=3)
    nearkit.ShardedIndex(_shards(base, 3, kind=kind)).save(tmp_path)
    for i in range(3):
        loaded, viewed = open_shard(tmp_path, i), open_shard(tmp_path, i, view=True)
        assert viewed.is_view and not loaded.is_view and viewed.kind == kind
        assert viewed.memory_bytes < loaded.memory_bytes
        got, want = viewed.search(queries, 5), loaded.search(queries, 5)
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.distances, want.distances)
    with pytest.raises(nearkit.InvalidArgumentError, match="lists 3 shards"):
        open_shard(tmp_path, 3, view=True)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["shards"][1]["file"], manifest["shards"][2]["file"] = "shard-00002.nkx", "shard-00001.nkx"
    manifest["shards"][2]["count"] += 1  # shard-00001.nkx holds 200, listed as 201
    manifest["shards"][0]["count"] -= 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    for view in (False, True):  # the same check for a view as for a load
        with pytest.raises(nearkit.CorruptIndexError, match="shard 0 .*199"):
            open_shard(tmp_path, 0, view=view)
    assert len(open_shard(tmp_path, 1, view=True)) == 200
    manifest["metric"] = "ip"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(nearkit.CorruptIndexError, match="the manifest says 200 ip 6-d"):
        open_shard(tmp_path, 1, view=True)
    (tmp_path / "shard-00001.nkx").unlink()
    with pytest.raises(nearkit.NearkitIOError):
        open_shard(tmp_path, 2, view=True)


def test_errors():
    with pytest.raises(nearkit.StateError):
        nearkit.ShardedIndex().search(np.zeros(3), 1)
    with pytest.raises(nearkit.InvalidArgumentError):
        nearkit.ShardedIndex([nearkit.Index("flat", "l2", 3), nearkit.Index("flat", "l2", 4)])
    with pytest.raises(TypeError):
        nearkit.ShardedIndex([object()])
    sharded = nearkit.ShardedIndex([nearkit.Index("flat", "l2", 3)])
    with pytest.raises(nearkit.InvalidArgumentError):
        sharded.search(np.zeros(4), 1)


def test_bad_directories(tmp_path):
    with pytest.raises(nearkit.NearkitIOError):
        nearkit.ShardedIndex.open(tmp_path)
    (tmp_path / "manifest.json").write_text("{\"format\": \"nearkit-sharded\"")
    with pytest.raises(nearkit.CorruptIndexError):
        nearkit.ShardedIndex.open(tmp_path)
    with pytest.raises(nearkit.InvalidArgumentError):
        write_manifest(tmp_path, ["../elsewhere.nkx"])
    with pytest.raises(nearkit.NearkitIOError):
        write_manifest(tmp_path, ["missing.nkx"])


def test_handed_over_without_a_copy():
    """copy=False: the shards move in (each Index closed afterwards), with the same answers; a
    shard the collection refuses stays open and the caller's."""
    base, queries = _data(), _data(20, seed=3)
    want = nearkit.ShardedIndex(_shards(base, 3)).search(queries, 5)
    shards = _shards(base, 3)
    moved = nearkit.ShardedIndex(shards, copy=False)
    got = moved.search(queries, 5)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.distances, want.distances)
    for shard in shards:
        with pytest.raises(nearkit.ClosedIndexError):
            shard.search(queries, 1)
    other = nearkit.Index("flat", "l2", 5)  # another dimension: refused
    other.add(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(nearkit.InvalidArgumentError):
        nearkit.ShardedIndex([_shards(base, 1)[0], other], copy=False)
    assert len(other) == 2 and other.search(np.zeros(5, dtype=np.float32), 1).ids[0, 0] == 0


def test_add_shard_to_an_empty_collection():
    """An empty collection takes its type and dimension from the first shard added."""
    base, queries = _data(), _data(10, seed=4)
    want = nearkit.ShardedIndex(_shards(base, 2)).search(queries, 4)
    grown = nearkit.ShardedIndex()
    assert grown.shard_count == 0
    first, second = _shards(base, 2)
    grown.add_shard(first)
    grown.add_shard(second, copy=False)
    assert grown.shard_count == 2 and grown.dim == 6 and grown.metric == "l2"
    np.testing.assert_array_equal(grown.search(queries, 4).ids, want.ids)
    assert len(first) == 300  # copied: still the caller's
    with pytest.raises(nearkit.ClosedIndexError):
        len(second)
    with pytest.raises(TypeError):
        grown.add_shard("not an index")
