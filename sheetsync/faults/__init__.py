"""Fault-injection campaigns: the real worker against crashes, faulty APIs and hostile input.

Each campaign drives the production code paths against the fakes of ``sheetsync.testing`` and
returns figures (faults injected, order lines lost or doubled, units oversold by us …) that
``benchmarks/faults.py`` sums up.  The fakes never import these: they stay the independent judge.
"""

from __future__ import annotations

from pathlib import Path

#: The platform reference material the fakes are built from: ``../shared/reference`` beside the
#: repository (schemas, discovery documents, API definitions); campaigns run from a checkout.
REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"
