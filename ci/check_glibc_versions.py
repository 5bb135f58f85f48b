"""Checks that no native file needs a glibc symbol version newer than a limit (default 2.17,
manylinux2014), as `readelf -V` lists the versions each file requires.

    python3 ci/check_glibc_versions.py [--max 2.17] [--readelf readelf] PATH...

A PATH is an ELF file, or a wheel / jar / zip / directory whose ELF files are all checked. Prints
each file's newest GLIBC_ version and exits 1 if any is newer than the limit, or if no ELF file was
found at all (so an empty artefact cannot pass)."""

import argparse
import pathlib
import re
import subprocess
import sys
import tempfile
import zipfile

ELF_MAGIC = b"\x7fELF"
GLIBC_VERSION = re.compile(r"\bName: GLIBC_([0-9]+(?:\.[0-9]+)*)\b")


def version_key(text):
    return tuple(int(part) for part in text.split("."))


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == ELF_MAGIC


def elf_files(root):
    """The ELF files of a directory tree, sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p))


def glibc_versions(readelf, path):
    """The GLIBC_ versions the file requires (its version-needs section), sorted."""
    out = subprocess.run([readelf, "-V", "--wide", str(path)], check=True, capture_output=True,
                         text=True).stdout
    needs = out.split("Version needs section", 1)
    found = set(GLIBC_VERSION.findall(needs[1])) if len(needs) == 2 else set()
    return sorted(found, key=version_key)


def check(readelf, files, limit, label_root):
    """Prints one line per file; returns the files that need a newer version than limit."""
    too_new = []
    for path in files:
        versions = glibc_versions(readelf, path)
        newest = versions[-1] if versions else "none"
        bad = bool(versions) and version_key(newest) > version_key(limit)
        name = path.relative_to(label_root) if label_root else path
        print(f"{'TOO NEW' if bad else 'ok':7} GLIBC_{newest:8} {name}")
        if bad:
            too_new.append(path)
    return too_new


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=pathlib.Path)
    parser.add_argument("--max", default="2.17", help="the newest GLIBC_ version allowed")
    parser.add_argument("--readelf", default="readelf")
    args = parser.parse_args()
    checked = 0
    failed = []
    for path in args.paths:
        if path.is_dir():
            files, root = elf_files(path), path
            checked += len(files)
            failed += check(args.readelf, files, args.max, root)
        elif zipfile.is_zipfile(path):
            with tempfile.TemporaryDirectory() as tmp:
                with zipfile.ZipFile(path) as archive:
                    archive.extractall(tmp)
                files = elf_files(pathlib.Path(tmp))
                print(f"{path.name}:")
                checked += len(files)
                failed += check(args.readelf, files, args.max, pathlib.Path(tmp))
        elif path.is_file() and is_elf(path):
            checked += 1
            failed += check(args.readelf, [path], args.max, None)
        else:
            parser.error(f"{path}: neither an ELF file, an archive nor a directory")
    if checked == 0:
        print("check_glibc_versions: no ELF file found", file=sys.stderr)
        return 1
    if failed:
        print(f"check_glibc_versions: {len(failed)} of {checked} files need a glibc newer than "
              f"{args.max}", file=sys.stderr)
        return 1
    print(f"check_glibc_versions: all {checked} files need at most GLIBC_{args.max}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
