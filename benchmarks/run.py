"""End-to-end benchmark: sheetsync against a naive script, on the local fakes.

    python benchmarks/run.py            # 1,000, 10,000 and 100,000 SKUs x 4 channels
    python benchmarks/run.py --quick    # 1,000 and 10,000

Per size, in a fresh subprocess (so peak memory is that size's alone): a Google Sheet master
(the Sheets fake through gspread) and Shopify, Meta, Google Merchant and WooCommerce (their fakes
through the real adapters), all in-process on a virtual clock. It measures one full cycle and one
cycle with 1% of the SKUs changed (see benchmarks/cycle.py): API calls per API against the
minimum the APIs' batch limits allow, engine CPU time, peak RSS and wall time; then a naive
script on the same fakes (benchmarks/naive.py), in full for 1,000 rows and timed on a 1,000-row
sample beyond that (its wall time then extrapolated, and labelled so).

Writes benchmarks/RESULTS.md; the last line printed is a JSON object with the figures per size.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SIZES = (1_000, 10_000, 100_000)
QUICK = (1_000, 10_000)
#: Rows the naive script runs in full; larger catalogues are timed on this many and extrapolated.
NAIVE_SAMPLE = 1_000


def one_size(size: int, changed: float) -> dict[str, Any]:
    """Every figure for one catalogue size (run in its own process)."""
    from cycle import measure
    from naive import naive_calls, naive_cycle, quota_floor_s

    started = time.perf_counter()
    result = measure(size, changed)
    world = result.pop("world")
    sample = min(size, NAIVE_SAMPLE)
    naive = naive_cycle(world, sample)
    naive_wall = naive["wall_s"] * size / sample
    calls = naive_calls(size, len(world.channels))
    if sample == size and naive["api_calls"] != calls:
        raise RuntimeError(f"the naive script made {naive['api_calls']} calls, the formula says {calls}")
    result["naive"] = {
        "api_calls": calls,
        "wall_s": round(naive_wall, 2),
        "extrapolated": sample < size,
        "sample_rows": sample,
        "sample_wall_s": round(naive["wall_s"], 3),
        "quota_floor_s": round(quota_floor_s(size)),
    }
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["total_s"] = round(time.perf_counter() - started, 1)
    return result


def machine() -> dict[str, str]:
    """Where the figures were taken."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "arch": platform.machine(),
        "cpu": cpu,
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
    }


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue asks for, per size: calls summed over both measured cycles (full and
    1% changed), engine CPU the larger of the two; each cycle's own figures beside them.
    """
    full, changed, naive = result["full"], result["changed"], result["naive"]
    cycles = {}
    for name, cycle in (("full", full), ("changed", changed)):
        cycles[name] = {
            "api_calls": cycle["api_calls"],
            "min_api_calls": cycle["min_api_calls"],
            "api_calls_by_api": cycle["api_calls_by_api"],
            "min_api_calls_by_api": cycle["min_api_calls_by_api"],
            "engine_cpu_s": cycle["engine_cpu_s"],
            "wall_s": cycle["wall_s"],
            "calls_ratio": round(cycle["api_calls"] / naive["api_calls"], 6),
            "wall_ratio": round(cycle["wall_s"] / naive["wall_s"], 5),
        }
    return {
        "api_calls": full["api_calls"] + changed["api_calls"],
        "min_api_calls": full["min_api_calls"] + changed["min_api_calls"],
        "engine_cpu_s": max(full["engine_cpu_s"], changed["engine_cpu_s"]),
        "peak_rss_mb": result["peak_rss_mb"],
        "naive_api_calls": 2 * naive["api_calls"],  # the same two cycles, done naively
        "naive_api_calls_per_cycle": naive["api_calls"],
        "naive_wall_s_per_cycle": naive["wall_s"],
        "naive_wall_extrapolated": naive["extrapolated"],
        "naive_quota_floor_h": round(naive["quota_floor_s"] / 3600, 1),
        "full": cycles["full"],
        "changed": cycles["changed"],
        "run_s": result["total_s"],
    }


APIS = ("sheets", "shopify", "meta", "google", "woo")
API_TITLES = {"sheets": "Sheets", "shopify": "Shopify", "meta": "Meta", "google": "Merchant", "woo": "Woo"}


def table(figures: dict[str, dict[str, Any]]) -> list[str]:
    """The Markdown table: one row per size and cycle."""
    head = [
        "SKUs x 4 channels",
        "cycle",
        *(f"{API_TITLES[a]} calls (min)" for a in APIS),
        "total calls (min)",
        "engine CPU s",
        "wall s",
        "peak RSS MB",
        "naive calls",
        "naive wall s",
        "calls / naive",
        "wall / naive",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for size, f in figures.items():
        extrapolated = " (extrapolated)" if f["naive_wall_extrapolated"] else ""
        for label, key in (("full", "full"), ("1% changed", "changed")):
            c = f[key]
            ours, least = c["api_calls_by_api"], c["min_api_calls_by_api"]
            lines.append(
                "| "
                + " | ".join(
                    [
                        f"{int(size):,}",
                        label,
                        *(f"{ours.get(a, 0)} ({least.get(a, 0)})" for a in APIS),
                        f"{c['api_calls']} ({c['min_api_calls']})",
                        f"{c['engine_cpu_s']:.3f}",
                        f"{c['wall_s']:.2f}",
                        f"{f['peak_rss_mb']:.0f}",
                        f"{f['naive_api_calls_per_cycle']:,}",
                        f"{f['naive_wall_s_per_cycle']:.1f}{extrapolated}",
                        f"{c['calls_ratio']:.4f}",
                        f"{c['wall_ratio']:.4f}",
                    ]
                )
                + " |"
            )
    return lines


def growth(figures: dict[str, dict[str, Any]]) -> list[str]:
    """Engine CPU growth between consecutive sizes, against the growth in SKUs."""
    sizes = sorted(int(s) for s in figures)
    lines = []
    for small, big in itertools.pairwise(sizes):
        for label, key in (("full", "full"), ("1% changed", "changed")):
            a, b = figures[str(small)][key]["engine_cpu_s"], figures[str(big)][key]["engine_cpu_s"]
            ratio = b / a if a else float("inf")
            lines.append(
                f"- engine CPU, {label} cycle, {small:,} → {big:,} SKUs: x{ratio:.1f} "
                f"for x{big / small:.0f} the SKUs"
            )
    return lines


def markdown(figures: dict[str, dict[str, Any]], where: dict[str, str], command: str) -> str:
    return "\n".join(
        [
            "# Benchmark results",
            "",
            f"`{command}` on {where['date']}: {where['arch']}, {where['cpu']} ({where['cpus']} CPUs), "
            f"Python {where['python']}. Generated by benchmarks/run.py; do not edit by hand.",
            "",
            *table(figures),
            "",
            *growth(figures),
            "",
            "How to read it:",
            "",
            "- **calls (min)**: API calls counted in the fakes' request logs, and in brackets the fewest",
            "  the APIs' documented batch limits allow for the same work (benchmarks/cycle.py,",
            "  `least_calls`): Sheets 1 batchGet + 1 SKU-column re-read (deliberate: a row the merchant",
            "  moved never gets another SKU's numbers) + 1 batchUpdate (+1 append with ledger rows);",
            "  Shopify 249 SKUs a read (the 1,000-point query cost cap), 250 a set; Meta 3,000 a",
            "  batch plus the status polls Meta's asynchronous processing needs (2 a batch for the",
            "  fake's 2 s), 100 SKUs a read (the filter travels in the URL); Merchant one call per",
            "  availability flip (no batch method; an HTTP batch still counts each inner call), the",
            "  product list once in pages of 1,000; WooCommerce 100 a batch and a page. Every cycle",
            "  reads orders once per selling channel and reads back the SKUs whose push is unseen.",
            "- **full**: a fresh worker's first cycle: every SKU audited on every channel and pushed.",
            "- **1% changed**: after a settle cycle, 1% of the SKUs changed (merchant edits, half",
            "  to 0, plus 10 orders on Shopify and 10 on WooCommerce).",
            "- **engine CPU**: the cycle's CPU time minus the time inside store and channel calls",
            "  (where the clients and the in-process fakes run): parsing, ledger, planning for 4",
            "  channels, monitoring, status cells.",
            "- **wall**: the whole cycle on in-process fakes (no network, no rate-limit waits).",
            "- **peak RSS**: the whole benchmark process for that size, fakes and catalogue included.",
            "- **naive**: a script reading the sheet row by row and updating each channel one SKU per",
            "  call: (N + 1) + 4N calls, whatever changed. Its wall time is measured on 1,000 rows",
            "  and extrapolated linearly above that.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 SKUs only")
    parser.add_argument("--sizes", type=int, nargs="+", help="catalogue sizes (default: 1,000 to 100,000)")
    parser.add_argument("--changed", type=float, default=0.01, help="share of SKUs changed")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child: one size, JSON out
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.changed)))
        return
    sizes = args.sizes or (QUICK if args.quick else SIZES)
    started = time.perf_counter()
    figures: dict[str, dict[str, Any]] = {}
    details: dict[str, Any] = {}
    for size in sizes:
        child = subprocess.run(  # noqa: S603 - this interpreter, this script
            [sys.executable, __file__, "--one", str(size), "--changed", str(args.changed)],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        details[str(size)] = result
        figures[str(size)] = headline(result)
        print(f"{size} SKUs done in {result['total_s']} s", file=sys.stderr, flush=True)
    where = machine()
    command = "python benchmarks/run.py" + (" --quick" if args.quick else "")
    report = markdown(figures, where, command)
    if not args.no_write:
        RESULTS.write_text(report)
    show(figures, where)
    print(
        json.dumps(
            {
                "sizes": figures,
                "machine": where,
                "elapsed_s": round(time.perf_counter() - started, 1),
                "details": details,
            }
        )
    )


def show(figures: dict[str, dict[str, Any]], where: dict[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    lines = table(figures)
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    shown = Table(title=f"sheetsync vs naive, {where['date']}, {where['arch']} {where['cpu']}")
    for column in head:
        shown.add_column(column)
    for line in lines[2:]:
        shown.add_row(*(c.strip() for c in line.strip("|").split("|")))
    console = Console(width=250)
    console.print(shown)
    for line in growth(figures):
        console.print(line)


if __name__ == "__main__":
    main()
