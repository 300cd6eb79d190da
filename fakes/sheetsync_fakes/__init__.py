"""Faithful in-memory fakes of the external APIs, spoken to over the real wire format.

Not part of the product: the tests, the benchmarks, the fault campaigns and the demo's Google
Sheets mode use them. ``REFERENCE`` holds the public API material they are checked against,
reduced to facts (see ``reference/README.md`` for each file's source and checksum).
"""

from pathlib import Path

#: Schemas, discovery documents, recorded exchanges and documented examples, inside this package.
REFERENCE = Path(__file__).resolve().parent / "reference"
