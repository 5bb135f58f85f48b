#!/usr/bin/env python3
"""Checks the core's layering from its #include lines (docs/architecture.md, "Layers").

core/ has one folder per layer, lowest first:

    base     errors, memory, the thread pool, BLAS, top-k, range results, the file format's sections
    kernels  distance kernels and their run-time dispatch
    search   shared search machinery: the driver, the row store, the inverted lists
    train    k-means (float and binary)
    codes    code formats: how a list of codes is scanned
    kinds    the index kinds, one family per file name prefix (flat, vptree, bktree, mih, ivf, ...)
    api      the public functions: argument checks, the kind table, save and load

Rules: a file includes only files of its own layer or of lower ones (through "layer/name.h"
paths, so every include says where it goes), the public header "nearkit.h", and system headers;
a kind includes no other kind's files (a family may span several files sharing a prefix); and
every C file and header of core/ sits in one of the layer folders. Exit status 1 lists each
violation.
"""
import pathlib
import re
import sys

LAYERS = ["base", "kernels", "search", "train", "codes", "kinds", "api"]
RANK = {name: i for i, name in enumerate(LAYERS)}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def family(path: pathlib.Path) -> str:
    """The kind family of a file in kinds/: its name up to the first '_' or '.'."""
    return re.split(r"[_.]", path.name, maxsplit=1)[0]


def check(core: pathlib.Path) -> list:
    problems = []
    for path in sorted(core.rglob("*")):
        if path.suffix not in (".c", ".h"):
            continue
        rel = path.relative_to(core)
        layer = rel.parts[0] if len(rel.parts) > 1 else None
        if layer not in RANK:
            problems.append(f"core/{rel}: not in a layer folder ({', '.join(LAYERS)})")
            continue
        for target in INCLUDE.findall(path.read_text(encoding="utf-8")):
            if target == "nearkit.h":
                continue
            parts = pathlib.PurePosixPath(target).parts
            if len(parts) != 2 or parts[0] not in RANK:
                problems.append(f"core/{rel}: includes \"{target}\": name it as layer/file.h")
                continue
            if not (core / target).exists():
                problems.append(f"core/{rel}: includes \"{target}\", which does not exist")
            if RANK[parts[0]] > RANK[layer]:
                problems.append(f"core/{rel}: {layer} includes {target}, of the higher layer {parts[0]}")
            if layer == "kinds" and parts[0] == "kinds" and family(pathlib.Path(parts[1])) != family(path):
                problems.append(f"core/{rel}: a kind includes another kind's file {target}")
    return problems


def main() -> int:
    core = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent / "core")
    problems = check(core)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layering violation(s); the rules are in tests/check_layers.py")
        return 1
    print(f"core/ layering holds ({len(LAYERS)} layers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
