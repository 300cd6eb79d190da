"""Fault-injection campaigns: the real worker against crashes, faulty APIs and hostile input.

Each campaign drives the production code paths against the fakes of ``sheetsync_fakes`` and
returns figures (faults injected, order lines lost or doubled, units oversold by us …) that
``benchmarks/faults.py`` sums up.  The fakes never import these: they stay the independent judge.
"""
