"""The adversary campaign alone: the world keeps moving while the worker works (issue 21).

    python benchmarks/adversary.py --seed 1             # one seed (2-4 seconds)
    python benchmarks/adversary.py --seeds 1-20         # several, one JSON line each (about a minute)
    python benchmarks/adversary.py --seed 7 --steps 40  # replay only the first 40 actions

Progress and, on a violation, the reproduction (seed, the schedule's prefix up to the first
violation) go to stderr; one JSON line per seed goes to stdout (the last line sums them when
several seeds run).  The exit status is 1 when any invariant was broken.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from campaigns.adversary import CYCLES, FIGURES, run_seed, violations


def seeds(text: str) -> list[int]:
    """``7``, ``1-20`` or ``1,4,9``."""
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        out += list(range(int(first), int(last or first) + 1))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the seeds; 1 when any invariant was broken."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--seeds", default=None, help="e.g. 1-20 or 1,4,9")
    parser.add_argument("--steps", type=int, default=None, help="actors stop after this many schedule lines")
    parser.add_argument("--cycles", type=int, default=CYCLES, help="cycles completed under attack")
    parser.add_argument("--history", action="store_true", help="print the whole schedule to stderr")
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0" and argv is None:
        # The product iterates sets of names: a fixed hash seed keeps the request order, so a seed replays
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)  # noqa: S606 - this same script again
    chosen = seeds(args.seeds) if args.seeds else [args.seed if args.seed is not None else 1]
    total: dict[str, Any] = {name: 0 for name in FIGURES}
    bad: list[int] = []
    started = time.perf_counter()
    for seed in chosen:
        began = time.perf_counter()
        figures, world = run_seed(seed, steps=args.steps, cycles=args.cycles)
        figures["seconds"] = round(time.perf_counter() - began, 1)
        if args.history:
            print("\n".join(world.history), file=sys.stderr)
        broken = violations(figures)
        if broken:
            bad.append(seed)
            prefix = world.tally.first_at or len(world.history)
            print(f"seed {seed}: VIOLATED {', '.join(broken)}", file=sys.stderr)
            for problem in world.tally.problems[:12]:
                print(f"  {problem}", file=sys.stderr)
            print(
                f"  reproduce: python benchmarks/adversary.py --seed {seed} --steps {prefix} --history",
                file=sys.stderr,
            )
            print("  schedule prefix (last 25 lines):", file=sys.stderr)
            for line in world.history[max(0, prefix - 25) : prefix]:
                print(f"    {line}", file=sys.stderr)
        print(json.dumps(figures), flush=True)
        for name in FIGURES:
            total[name] += figures[name]
    if len(chosen) > 1:
        total |= {
            "seeds": len(chosen),
            "violating_seeds": bad,
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(json.dumps(total), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
