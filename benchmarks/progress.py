"""Progress lines and memory samples the benchmark scripts share."""

from __future__ import annotations

import resource
import sys
import threading
from pathlib import Path
from typing import Self


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the report."""
    print(message, file=sys.stderr, flush=True)


def rss_bytes() -> int:
    """This process's resident set now (Linux), else its peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * resource.getpagesize()


class RssSampler:
    """Samples this process's RSS every 10 ms in a thread while in use: the peak above the start."""

    def __init__(self) -> None:
        self.baseline = rss_bytes()
        self.peak_rss = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    @property
    def growth_mb(self) -> float:
        """The peak above the resident set at the start, in MB."""
        return round((self.peak_rss - self.baseline) / 2**20, 1)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.sample()

    def sample(self) -> None:
        """Take one sample now (the thread does every 10 ms)."""
        self.peak_rss = max(self.peak_rss, rss_bytes())

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
