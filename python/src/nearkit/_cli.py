"""The ``nearkit`` console script: runs the C command-line program the wheel carries.

The program (``nearkit/_bin/nearkit``, built from ``cli/`` with the core and OpenBLAS linked in) is
the same one the C build makes; this entry point only finds it and replaces the Python process
with it (``os.execv``), so its exit status, signals and standard streams are the program's own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn, Optional, Sequence

#: Where the wheel puts the program, next to this module.
PROGRAM = Path(__file__).resolve().parent / "_bin" / "nearkit"


def main(argv: Optional[Sequence[str]] = None) -> NoReturn:
    """Executes the nearkit program with ``argv`` (default: this process's arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not os.access(PROGRAM, os.X_OK):
        sys.stderr.write(f"nearkit: the command-line program is missing from the package "
                         f"({PROGRAM}); reinstall nearkit from a wheel\n")
        raise SystemExit(127)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(PROGRAM, [str(PROGRAM), *args])


if __name__ == "__main__":  # python -m nearkit._cli
    main()
