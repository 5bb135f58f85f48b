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


def test_mypy_strict_accepts_the_typed_example(tmp_path):
    # mypy is a test dependency (python/ctest_install.cmake, ci/deps-python.sh): not skipped
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-color-output", "--cache-dir",
         str(tmp_path / "mypy-cache"), str(EXAMPLE)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_typed_example_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and "typed_usage: ok" in proc.stdout, proc.stdout + proc.stderr
