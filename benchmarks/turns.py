"""Quiet cycles at the example config's intervals: each talks only to the channels whose turn came.

    python benchmarks/turns.py                 # 10,000 SKUs, 12 cycles
    python benchmarks/turns.py --skus 1000 --cycles 8

``benchmarks/run.py`` talks to every channel every cycle (they share one interval there). A
worker with config/example.toml's intervals (Shopify 30 s, Meta 60 s, Google 120 s, WooCommerce
60 s) talks to Shopify alone one cycle, to three channels the next, to all four every fourth:
the channels talked to change from one cycle to the next. This builds the same world as
``run.py`` (``cycle.build``), runs the first sync and the quiet cycles until nothing pushed is
watched any more, then ``--cycles`` quiet cycles 30 s apart with those turns. It prints each
cycle's engine CPU (the cycle's thread CPU less the fakes', as in ``run.py``) and, last, one
JSON line: ``engine_cpu_s`` (the median) and ``by_cycle``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TypedDict

from cycle import at, build, run

from sheetsync.model import ChannelName
from sheetsync.worker import run_cycle


class Turn(TypedDict):
    """One cycle's line of ``by_cycle``: the channels due and the engine's CPU time."""

    due: list[ChannelName]
    engine_cpu_s: float


#: config/example.toml's intervals, by the benchmark world's channel names.
INTERVALS = {"shopify": 30, "meta": 60, "google": 120, "woo": 60}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        world = build(args.skus, 1, Path(directory))
        channels = tuple(replace(c, interval_s=INTERVALS[c.name]) for c in world.settings.channels)
        world.settings = replace(world.settings, channels=channels)
        spacing = min(INTERVALS.values())
        run(world, "full", at(world), True, {})
        world.later(spacing)
        synced = world.clock()
        while world.clock() <= synced + spacing + max(c.max_lag_s for c in channels):
            run(world, "quiet", at(world), False, {})  # every channel: what was pushed is confirmed
            world.later(spacing)
        by_cycle: list[Turn] = []
        for tick in range(0, args.cycles * spacing, spacing):
            due = {ChannelName(name) for name, every in INTERVALS.items() if tick % every == 0}
            gc.collect()
            gc.freeze()  # the fakes' heap is the platforms', not the worker's (as run.py)
            fakes, started = world.fakes_cpu[0], time.thread_time()
            run_cycle(world.store, world.channels, world.settings, at(world), due)
            cpu = time.thread_time() - started - (world.fakes_cpu[0] - fakes)
            gc.unfreeze()
            by_cycle.append({"due": sorted(due), "engine_cpu_s": round(cpu, 3)})
            print(f"{', '.join(sorted(due)):<28} {cpu:.3f} s", flush=True)
            world.later(spacing)
    median = statistics.median(c["engine_cpu_s"] for c in by_cycle)
    print(json.dumps({"skus": args.skus, "engine_cpu_s": median, "by_cycle": by_cycle}))


if __name__ == "__main__":
    main()
