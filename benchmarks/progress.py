"""Progress lines the benchmark scripts share."""

from __future__ import annotations

import sys


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the report."""
    print(message, file=sys.stderr, flush=True)
