"""The wheel installs the ``nearkit`` command-line program as a console script (nearkit._cli)."""

import os
import pathlib
import subprocess
import sys

import pytest

import nearkit
from nearkit import _cli

SCRIPT = pathlib.Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin") / "nearkit"


def test_program_is_in_the_package():
    assert _cli.PROGRAM.parent.parent == pathlib.Path(nearkit.__file__).resolve().parent
    assert os.access(_cli.PROGRAM, os.X_OK), _cli.PROGRAM


def test_console_script_runs_the_program():
    assert SCRIPT.is_file(), f"pip put no console script at {SCRIPT}"
    out = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"nearkit {nearkit.__version__} "), out.stdout


def test_exit_status_and_streams_are_the_programs():
    out = subprocess.run([str(SCRIPT), "no-such-command"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and out.stderr and not out.stdout.strip()
    kinds = subprocess.run([str(SCRIPT), "kinds"], capture_output=True, text=True, timeout=60)
    assert kinds.returncode == 0 and "flat" in kinds.stdout


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "nearkit._cli", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and nearkit.__version__ in out.stdout, out.stderr


def test_missing_program_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(_cli, "PROGRAM", tmp_path / "nearkit")
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["--version"])
    assert exit_info.value.code == 127
    assert "command-line program is missing" in capsys.readouterr().err
