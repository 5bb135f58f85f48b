"""Checks that each portable wheel carries the licence texts of what it bundles: the project's
LICENSE and THIRD_PARTY_NOTICES.txt, and scipy-openblas32's (OpenBLAS, libgfortran with the GCC
Runtime Library Exception, libquadmath).

    python ci/check_portable_wheel_licences.py WHEEL...

Exit status 1 with the missing file or text named (ci/check_portable.sh, ci/release_portable.sh)."""
import sys
import zipfile

WANT = {"LICENSE", "THIRD_PARTY_NOTICES.txt", "LICENSE-scipy-openblas32.txt"}
OPENBLAS_MUST_MENTION = (b"GCC RUNTIME LIBRARY EXCEPTION", b"libquadmath", b"OpenBLAS")


def check(path):
    wheel = zipfile.ZipFile(path)
    names = wheel.namelist()
    have = {n.rsplit("/", 1)[-1] for n in names if ".dist-info/licenses/" in n and not n.endswith("/")}
    if WANT - have:
        sys.exit(f"FAIL: {path} lacks the licence files {sorted(WANT - have)} (has {sorted(have)})")
    text = wheel.read(next(n for n in names if n.endswith("LICENSE-scipy-openblas32.txt")))
    for needed in OPENBLAS_MUST_MENTION:
        if needed not in text:
            sys.exit(f"FAIL: {path}: LICENSE-scipy-openblas32.txt does not mention {needed.decode()}")
    print(f"licence files in {path.rsplit('/', 1)[-1]}:", ", ".join(sorted(have)))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: check_portable_wheel_licences.py WHEEL...")
    for arg in sys.argv[1:]:
        check(arg)
