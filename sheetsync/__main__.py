"""``python -m sheetsync``: the same entry point as the ``sheetsync`` console script."""

from sheetsync.cli import main

raise SystemExit(main())
