"""The retry policy: bounded, honours Retry-After, never retries a permanent error."""

from __future__ import annotations

import pytest

from sheetsync import retry
from sheetsync.errors import PermanentError, TransientError


class Flaky:
    def __init__(self, *errors: Exception) -> None:
        self.errors, self.calls = list(errors), 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_retries_transient_errors_waiting_what_the_server_asks() -> None:
    slept: list[float] = []
    action = Flaky(TransientError("429", retry_after=30), TransientError("503"))
    assert retry.call(action, slept.append) == "ok"
    assert action.calls == 3
    assert slept[0] == 30
    assert 2 <= slept[1] <= 3  # second back-off: 2 s plus up to 1 s of jitter


def test_gives_up_after_the_last_attempt() -> None:
    slept: list[float] = []
    action = Flaky(*(TransientError(f"503 #{n}") for n in range(10)))
    with pytest.raises(TransientError, match="503 #3"):
        retry.call(action, slept.append)
    assert action.calls == retry.ATTEMPTS
    assert len(slept) == retry.ATTEMPTS - 1


def test_never_retries_a_permanent_error() -> None:
    action = Flaky(PermanentError("403: share the sheet"))
    with pytest.raises(PermanentError):
        retry.call(action, lambda _: None)
    assert action.calls == 1
