"""A clock for fakes and the code under test: it moves only when told, so nothing really waits."""

from __future__ import annotations

import threading


class ManualClock:
    """Seconds (since the epoch, for the fakes) that move when the test says or when someone sleeps.

    Pass it as a fake's ``now`` and the adapter's ``clock``, and its :meth:`sleep` as the adapter's
    ``sleep``: a wait for a rate limit becomes a jump in time. Thread-safe, for fakes served on
    loopback.
    """

    def __init__(self, now: float = 1_795_000_000.0) -> None:
        self._lock = threading.Lock()
        self.now = now
        self.slept: list[float] = []  #: every sleep, in order

    def __call__(self) -> float:
        """The time now."""
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        """Move on by ``seconds`` at once."""
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds

    @property
    def waited(self) -> float:
        """Seconds slept in all."""
        with self._lock:
            return sum(self.slept)
