"""End-to-end benchmark: sheetsync against two naive scripts, on the local fakes.

    python benchmarks/run.py            # 1,000, 10,000 and 100,000 SKUs x 4 channels
    python benchmarks/run.py --quick    # 1,000 and 10,000

Per size, in a fresh subprocess (so peak memory is that size's alone): a Google Sheet master
(the Sheets fake through gspread) and Shopify, Meta, Google Merchant and WooCommerce (their fakes
through the real adapters), all in-process on virtual clocks. It measures a fresh worker's full
cycle, a cycle with 1% of the SKUs changed, an idle cycle (nothing changed, after settling) and
one audit period of idle cycles (see benchmarks/cycle.py): API calls per API against the minimum
the APIs' documented limits allow, engine CPU time (the worker's, parsing the sheet included),
peak RSS and wall time; the steady state per cycle (the audit's share included) projected over a
month against each plan's quota; and, in a run of its own with the worker in a process apart
from the fakes, the worker's peak resident set. Then two naive scripts on the same fakes
(benchmarks/naive.py), timed on a 1,000-row sample and extrapolated beyond it (labelled so).

Writes benchmarks/RESULTS.md unless --quick or --no-write; the last line printed is a JSON object
with the figures per size.
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
#: Rows the naive scripts run in full; larger catalogues are timed on this many and extrapolated.
NAIVE_SAMPLE = 1_000


def one_size(size: int, changed: float) -> dict[str, Any]:
    """Every figure for one catalogue size (run in its own process)."""
    from cycle import MONTH_S, measure, worker_memory
    from naive import fair_calls, fair_cycle, naive_calls, naive_cycle, quota_floor_s

    started = time.perf_counter()
    worker_mb = worker_memory(size, changed)  # first: the worker is forked from this process
    result = measure(size, changed) | {"worker_rss_mb": worker_mb}
    world = result.pop("world")
    channels = len(world.channels)
    sample = min(size, NAIVE_SAMPLE)
    strawman = naive_cycle(world, sample)
    fair = fair_cycle(world, sample)
    for name, ran, formula in (
        ("strawman", strawman, naive_calls(sample, channels)),
        ("fair", fair, fair_calls(sample, channels)),
    ):
        if ran["api_calls"] != formula:
            raise RuntimeError(f"the {name} script made {ran['api_calls']} calls, the formula says {formula}")
    points = fair["shopify_points_per_sku"]
    edits, spacing = result["sheet_edits"], result["steady"]["cycle_spacing_s"]

    def fair_figures(skus: int) -> dict[str, Any]:
        return {
            "changed_skus": skus,
            "api_calls": fair_calls(skus, channels),
            "wall_s": round(fair["read_s"] + fair["per_sku_s"] * skus, 2),
            "quota_floor_s": round(quota_floor_s(1, skus, points, meta_batch=False)),
        }

    result["naive"] = {
        "sample_rows": sample,
        "extrapolated": sample < size,
        "strawman": {
            "api_calls": naive_calls(size, channels),
            "wall_s": round(strawman["wall_s"] * size / sample, 2),
            "sample_wall_s": round(strawman["wall_s"], 3),
            "quota_floor_s": round(quota_floor_s(size + 1, size, points, meta_batch=True)),
        },
        "fair": {
            "full": fair_figures(size),
            "changed": fair_figures(edits),
            "idle": fair_figures(0),
            # Idle, its one bulk read a cycle is all it spends; each changed SKU adds a call per channel.
            "month_calls_by_api": {"sheets": round(MONTH_S / spacing)},
            "shopify_points_per_sku": round(points, 1),
        },
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


CYCLES = (
    ("full", "full"),
    ("1% changed", "changed"),
    ("busy", "busy"),
    ("idle", "idle"),
    ("steady (audit share)", "steady"),
)
#: The cycles the naive scripts and the growth between sizes are given for.
HEADLINE = tuple((label, key) for label, key in CYCLES if key in ("full", "changed", "idle"))


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue asks for, per size: engine CPU (full, 1% changed, idle), peak RSS,
    calls per API per cycle (and the minimum), and per month against each plan's quota.
    """
    cycles = {key: result[key] for _, key in CYCLES}
    steady = result["steady"]
    return {
        "engine_cpu_s": {key: c["engine_cpu_s"] for key, c in cycles.items()},
        "calls_cpu_ms_by_call": {key: c["calls_cpu_ms_by_call"] for key, c in cycles.items()},
        "peak_rss_mb": result["peak_rss_mb"],
        "worker_rss_mb": result["worker_rss_mb"],
        "calls_per_cycle": {key: c["api_calls_by_api"] for key, c in cycles.items()},
        "min_calls_per_cycle": {key: c["min_api_calls_by_api"] for key, c in cycles.items()},
        "wall_s": {key: c["wall_s"] for key, c in cycles.items() if "wall_s" in c},
        "received_kb_per_cycle": {key: c["received_kb_by_api"] for key, c in cycles.items()},
        "received_gb_per_month": steady["month_received_gb_by_api"],
        "cycles_per_month": steady["month_cycles"],
        "calls_per_month": steady["month_calls_by_api"],
        "quota_per_month": steady["month"],
        "naive": result["naive"],
        "run_s": result["total_s"],
    }


APIS = ("sheets", "shopify", "meta", "google", "woo")
API_TITLES = {"sheets": "Sheets", "shopify": "Shopify", "meta": "Meta", "google": "Merchant", "woo": "Woo"}


def rows(head: list[str], body: list[list[str]]) -> list[str]:
    """A Markdown table."""
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(line) + " |" for line in body),
    ]


def number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def table(figures: dict[str, dict[str, Any]]) -> list[str]:
    """Calls per cycle: one row per size and cycle."""
    head = [
        "SKUs x 4 channels",
        "cycle",
        *(f"{API_TITLES[a]} calls (min)" for a in APIS),
        "total calls (min)",
        "Sheets KB read",
        "engine CPU s",
        "wall s",
        "peak RSS MB",
        "worker MB",
    ]
    body = []
    for size, f in figures.items():
        for label, key in CYCLES:
            ours, least = f["calls_per_cycle"][key], f["min_calls_per_cycle"][key]
            body.append(
                [
                    f"{int(size):,}",
                    label,
                    *(f"{number(ours.get(a, 0))} ({number(least.get(a, 0))})" for a in APIS),
                    f"{number(sum(ours.values()))} ({number(sum(least.values()))})",
                    f"{f['received_kb_per_cycle'][key]['sheets']:,.0f}",
                    f"{f['engine_cpu_s'][key]:.3f}",
                    f"{f['wall_s'][key]:.2f}" if key in f["wall_s"] else "",
                    f"{f['peak_rss_mb']:.0f}",
                    f"{f['worker_rss_mb']:.0f}",
                ]
            )
    return rows(head, body)


def month_table(figures: dict[str, dict[str, Any]]) -> list[str]:
    """A month of steady state per quota, one row per size and quota."""
    head = ["SKUs", "quota", "plan's allowance", "used a month", "allowance a month", "share used"]
    body = []
    for size, f in figures.items():
        for group, m in f["quota_per_month"].items():
            body.append(
                [
                    f"{int(size):,}",
                    group,
                    m["plan"],
                    f"{m['used']:,} {m['unit']}",
                    "n/a" if m["quota"] is None else f"{m['quota']:,}",
                    "n/a" if m["share"] is None else f"{m['share']:.2%}",
                ]
            )
    return rows(head, body)


def naive_table(figures: dict[str, dict[str, Any]]) -> list[str]:
    """The naive scripts' calls, wall time and quota floor per cycle."""
    head = ["SKUs", "script", "cycle", "calls", "wall s", "quota floor"]
    body = []
    for size, f in figures.items():
        naive = f["naive"]
        extrapolated = " (extrapolated)" if naive["extrapolated"] else ""
        cycles = [("strawman", "any", naive["strawman"])]
        cycles += [("fair", label, naive["fair"][key]) for label, key in HEADLINE]
        for script, label, c in cycles:
            body.append(
                [
                    f"{int(size):,}",
                    script,
                    label,
                    f"{c['api_calls']:,}",
                    f"{c['wall_s']:.1f}{extrapolated if c['api_calls'] > 1 else ''}",
                    hours(c["quota_floor_s"]),
                ]
            )
    return rows(head, body)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def growth(figures: dict[str, dict[str, Any]]) -> list[str]:
    """Engine CPU growth between consecutive sizes, against the growth in SKUs."""
    sizes = sorted(int(s) for s in figures)
    lines = []
    for small, big in itertools.pairwise(sizes):
        for label, key in HEADLINE:
            a, b = figures[str(small)]["engine_cpu_s"][key], figures[str(big)]["engine_cpu_s"][key]
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
            "## Calls and CPU per cycle",
            "",
            *table(figures),
            "",
            *growth(figures),
            "",
            "## A month at the default intervals, against each plan's quota",
            "",
            *month_table(figures),
            "",
            "## The naive scripts",
            "",
            *naive_table(figures),
            "",
            "How to read it (docs/benchmarks.md says more):",
            "",
            "- **calls (min)**: API calls counted in the fakes' request logs, and in brackets the fewest",
            "  the APIs' documented limits allow for the same work (benchmarks/cycle.py, `least_calls`,",
            "  with the limits and their pages): Shopify 249 SKUs a read (the 1,000-point query cost",
            "  cap) and 250 a set; Meta 5,000 a batch (what the adapter sends),",
            "  each batch's status asked once at the next push, 100 SKUs a read (no documented cap: an",
            "  assumption); Merchant one call per availability flip; WooCommerce 100 a batch and a page.",
            "- **full**: a fresh worker's first cycle: every SKU audited on every channel and pushed.",
            "- **1% changed**: 1% of the SKUs changed (merchant edits, half to 0, plus 10 orders on",
            "  Shopify and 10 on WooCommerce).",
            "- **busy**: the minute after the 1% cycle: 10 orders on each shop and 10 recounts; it",
            "  reads the Inventory the 1% cycle wrote, as every cycle does on a busy day.",
            "- **idle**: nothing changed, every push settled and no longer watched.",
            "- **steady (audit share)**: the mean cycle over one audit period of idle cycles",
            "  (`audit_every` over the interval): the full read-back of every channel counted in.",
            "- **Sheets KB read**: the bytes of the Sheets API's answers to the worker (its reads of",
            "  the master, mostly; a month of them at the default interval is `received_gb_per_month`).",
            "- **engine CPU**: the worker's CPU in the cycle: everything but the fakes' own work, so",
            "  parsing the sheet, building and decoding requests, ledger, planning, monitoring.",
            "- **peak RSS**: the whole process's, the fakes' catalogues and the naive scripts included.",
            "  **worker MB**: the worker's own process's peak resident set (the interpreter and its",
            "  libraries included) over a full, a settle, a 1% changed and an idle cycle, run apart",
            "  from the fakes (`cycle.worker_memory`): its requests reach them through a pipe.",
            "- **a month**: the steady cycle's use of each quota times the cycles in 30 days at the",
            "  default interval; what trading changes adds on top (the 1% cycle less the idle one, each",
            "  time). Shopify counts the cost points the fake charged.",
            "- **naive**: the strawman reads the sheet row by row and updates every SKU one call at a",
            "  time; the fair script reads the sheet in one call and updates only the SKUs whose",
            "  quantity changed (it cannot see orders), one call per SKU and channel. Quota floor: the",
            "  least time those calls take within Sheets', Shopify's and Meta's limits.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 and 10,000 SKUs only; RESULTS.md is left as it is"
    )
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
    if not (args.quick or args.no_write):  # RESULTS.md holds the full run's figures only
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

    console = Console(width=250)
    for title, lines in (
        ("calls and CPU per cycle", table(figures)),
        ("a month at the default intervals", month_table(figures)),
        ("the naive scripts", naive_table(figures)),
    ):
        shown = Table(title=f"sheetsync, {title}: {where['date']}, {where['arch']} {where['cpu']}")
        for column in lines[0].strip("|").split("|"):
            shown.add_column(column.strip())
        for line in lines[2:]:
            shown.add_row(*(c.strip() for c in line.strip("|").split("|")))
        console.print(shown)
    for line in growth(figures):
        console.print(line)


if __name__ == "__main__":
    main()
