"""The fault suite's summary: crashes, API faults, hostile input and secrets, in one table.

    python benchmarks/faults.py --seed 1 [--quick]

Runs the campaigns of ``campaigns``: crash-anywhere (``crash``), API faults (``api``),
hostile input (``hostile``), the secrets scan (``crash.secrets_scan``) and the adversary
(``adversary``: actors working while the worker works).  Progress goes to
stderr; the table, then one JSON line (always the last line), go to stdout.  The exit status
is 1 when any order line was lost or doubled, a channel showed more than the stock, or a secret
leaked.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from campaigns.adversary import adversary_campaign
from campaigns.api import api_fault_campaign
from campaigns.crash import crash_campaign, secrets_scan
from campaigns.hostile import hostile_campaign
from rich.console import Console
from rich.table import Table

#: Figures summed over the campaigns, in the JSON line.
SUMMED = ("crashes", "faults", "hostile_inputs", "lost", "doubled", "oversold_by_us", "kills")
#: Any of these non-zero fails the run.
FATAL = (
    "lost",
    "doubled",
    "oversold_by_us",
    "secrets_leaked",
    "merchant_cells_changed",
    "formulas_written",
    "unalerted_stuck_states",
    "valid_input_refused",
    "lease_violations",
    "unrecovered_after_fix",
)
#: Figures reported as they are (0 is expected, but they do not fail the run).
WATCHED = ("unconverged", "overwritten_edits")

err = Console(stderr=True)


def progress(line: str) -> None:
    """A progress line on stderr."""
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {line}", highlight=False)


def campaigns(quick: bool) -> list[tuple[str, Callable[[int], Mapping[str, Any]]]]:
    """(title, campaign taking the seed) of every campaign, in the order run."""
    return [
        ("crash-anywhere", partial(crash_campaign, quick=quick, progress=progress)),
        ("API faults", partial(api_fault_campaign, cycles=12 if quick else 40)),
        ("hostile input", hostile_campaign),
        ("secrets", partial(secrets_scan, progress=progress)),
        ("adversary", partial(adversary_campaign, cycles=16 if quick else 36)),
    ]


def run(seed: int, quick: bool) -> tuple[list[tuple[str, str, dict[str, int]]], dict[str, Any]]:
    """Run every campaign; (title, state, figures) per campaign, and the summary."""
    rows: list[tuple[str, str, dict[str, int]]] = []
    started = time.perf_counter()
    for title, campaign in campaigns(quick):
        progress(f"{title}: running")
        began = time.perf_counter()
        try:
            figures = campaign(seed)
        except Exception as error:  # a campaign that cannot run is a failure to report, not a crash
            progress(f"{title}: FAILED to run: {error!r}")
            rows.append((title, f"failed: {type(error).__name__}", {}))
            continue
        numbers = {k: int(v) for k, v in dict(figures).items() if isinstance(v, int | float)}
        progress(f"{title}: done in {time.perf_counter() - began:.1f} s: {numbers}")
        rows.append((title, f"{time.perf_counter() - began:.1f} s", numbers))
    summary: dict[str, Any] = {key: sum(f.get(key, 0) for _, _, f in rows) for key in SUMMED}
    for key in (*FATAL, *WATCHED):
        if key in SUMMED:
            continue
        summary[key] = sum(f.get(key, 0) for _, _, f in rows)
    acting = sorted({k for _, _, f in rows for k in f if k.startswith("actions_")})
    summary["actions"] = {k.removeprefix("actions_"): sum(f.get(k, 0) for _, _, f in rows) for k in acting}
    summary["failed"] = [title for title, state, _ in rows if state.startswith("failed")]
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return rows, summary


def table(rows: list[tuple[str, str, dict[str, int]]], summary: Mapping[str, Any]) -> Table:
    """One column per campaign and the total, one row per figure; the fatal ones red when not 0."""
    figures = [*SUMMED, *(k for k in FATAL if k not in SUMMED), *WATCHED]
    figures += sorted({k for _, _, f in rows for k in f} - set(figures))
    grid = Table(title="sheetsync fault suite")
    grid.add_column("figure", no_wrap=True)
    for title, _, _ in rows:
        grid.add_column(title, justify="right", no_wrap=True)
    grid.add_column("total", justify="right", style="bold")

    def cell(key: str, value: int | None) -> str:
        if value is None:
            return "-"
        return f"[bold red]{value}[/]" if value and key in FATAL else str(value)

    grid.add_row("run", *(state for _, state, _ in rows), f"{summary['seconds']} s", end_section=True)
    for key in figures:
        total = cell(key, summary[key]) if key in summary else ""
        grid.add_row(key.replace("_", " "), *(cell(key, f.get(key)) for _, _, f in rows), total)
    return grid


def main(argv: list[str] | None = None) -> int:
    """Run the suite; 1 when an order line was lost or doubled, stock oversold, or a secret leaked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="one crash boundary of each kind")
    args = parser.parse_args(argv)
    rows, summary = run(args.seed, args.quick)
    out = Console()
    out.width = max(out.width, 100)  # a pipe reports 80 columns: too few for five campaigns
    out.print(table(rows, summary))
    bad = [key for key in FATAL if summary.get(key)]
    if summary["failed"]:
        bad.append("failed")
    print(json.dumps(summary), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
