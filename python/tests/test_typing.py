"""nearkit is a typed package (PEP 561): mypy --strict accepts a program using its documented API.

The program, typing/typed_usage.py, is checked against the installed package (mypy resolves
``import nearkit`` as the interpreter running it does) and then run, so it stays true to the API.
"""

import pathlib
import subprocess
import sys

import nearkit

EXAMPLE = pathlib.Path(__file__).resolve().parent / "typing" / "typed_usage.py"


def test_package_carries_py_typed():
    assert (pathlib.Path(nearkit.__file__).parent / "py.typed").is_file()


def mypy(args, cwd):
    # mypy is a test dependency (python/ctest_install.cmake, ci/deps-python.sh): not skipped
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-color-output", "--cache-dir",
         str(cwd / "mypy-cache"), *args],
        capture_output=True, text=True, cwd=cwd, timeout=600)


def mypy_strict(path, cwd):
    return mypy(["--strict", str(path)], cwd)


def test_mypy_strict_accepts_the_typed_example(tmp_path):
    proc = mypy_strict(EXAMPLE, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_sees_the_real_types(tmp_path):
    # the hints are not Any: misuse is caught (ids are int64 arrays, k an int, no such method)
    bad = tmp_path / "misuse.py"
    bad.write_text(
        "import numpy as np\n"
        "import nearkit\n"
        "index = nearkit.Index(dim=4)\n"
        "ids: str = index.search(np.zeros(4, np.float32), 1).ids\n"
        "index.search(np.zeros(4, np.float32), k='1')\n"
        "index.serch(np.zeros(4, np.float32), 1)\n")
    proc = mypy_strict(bad, tmp_path)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "misuse.py:4: error: Incompatible types in assignment" in out, out
    assert "misuse.py:5: error: Argument \"k\" to \"search\" of \"Index\"" in out, out
    assert "misuse.py:6: error:" in out, out


def test_the_typed_example_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and "typed_usage: ok" in proc.stdout, proc.stdout + proc.stderr


def test_the_annotated_modules_agree_with_their_code(tmp_path):
    # the package's own annotated modules (the installed ones) type-check: the hints hold inside
    proc = mypy(["-m", "nearkit", "-m", "nearkit._index", "-m", "nearkit._errors",
                 "-m", "nearkit._cli"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
