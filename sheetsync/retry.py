"""The one retry policy: a few attempts, honouring the server's Retry-After, else backing off.

Only TransientError is retried; everything else fails at once.  Sleep is injected so tests never
wait, and client libraries' own retries stay off so production and tests behave alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from sheetsync.errors import TransientError

T = TypeVar("T")

#: Attempts per call, the first included.
ATTEMPTS = 4
#: Back-off without a Retry-After: 1 s doubling to 32 s, plus up to 1 s of jitter (Google's advice).
_BACKOFF = wait_exponential_jitter(initial=1, max=32, jitter=1)
#: The longest wait a server may ask for that is waited out in-process (Google caps its advised
#: back-off at 64 s). Asked for more (WordPress's maintenance 503 says Retry-After: 600), the call
#: gives up at once: the cycle moves on and the next one tries again, rather than stalling.
MAX_WAIT_S = 64.0


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, TransientError) and error.retry_after is not None:
        return error.retry_after
    return _BACKOFF(state)


def _asks_too_long(state: RetryCallState) -> bool:
    error = state.outcome.exception() if state.outcome else None
    return isinstance(error, TransientError) and (error.retry_after or 0.0) > MAX_WAIT_S


def call(action: Callable[[], T], sleep: Callable[[float], None], attempts: int = ATTEMPTS) -> T:
    """Run ``action``, retrying TransientError up to ``attempts`` times in all; re-raise the last.

    Every wait is at most ``MAX_WAIT_S`` (a longer Retry-After re-raises at once), so one call
    sleeps at most ``(attempts - 1) * MAX_WAIT_S`` in all.
    """
    last = stop_after_attempt(attempts)
    retrying = Retrying(
        stop=lambda state: last(state) or _asks_too_long(state),
        wait=_wait,
        retry=retry_if_exception_type(TransientError),
        sleep=sleep,
        reraise=True,
    )
    return retrying(action)
