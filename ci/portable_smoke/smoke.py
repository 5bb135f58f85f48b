"""A portable wheel, installed, searches: exact (flat) and approximate (hnsw) self-queries find
themselves. Run with the interpreter the wheel was installed for (ci/check_portable.sh,
ci/release_portable.sh)."""
import sys

import numpy as np

import nearkit

x = np.random.default_rng(0).random((300, 8), dtype=np.float32)
for kind in ("flat", "hnsw"):
    index = nearkit.Index(kind=kind, metric="l2", dim=8)
    index.add(x)
    result = index.search(x[:20], 2)
    assert result.ids[:, 0].tolist() == list(range(20)), (kind, result.ids)
print("the portable wheel searches: Python %d.%d, numpy %s, %s"
      % (sys.version_info[0], sys.version_info[1], np.__version__, nearkit.__file__))
