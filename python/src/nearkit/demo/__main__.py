"""``python -m nearkit.demo explorer`` / ``python -m nearkit.demo voronoi``."""

from . import main

raise SystemExit(main())
