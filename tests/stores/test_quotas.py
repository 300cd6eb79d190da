"""The HTTP stores draw every request from the allowances of the ``Quotas`` they are given.

The ground truth is each fake's request log: every request it received was first taken from the
base's (Airtable) or the service account's (Google Sheets) allowance, by the account names that
let ``sheetsync.fleet`` share them between workers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pyrate_limiter import AbstractBucket, InMemoryBucket, Rate, StateBucket, TokenBucket
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.google_sheets import FakeSheets
from sheetsync_fakes.wire import HandlerAdapter

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import AIRTABLE_TOKEN_ENV, SERVICE_ACCOUNT_ENV, load
from sheetsync.model import Sku
from sheetsync.pacing import Pacer, Quotas, token_rate
from sheetsync.stores.airtable import RATE_PER_SECOND, RATE_WINDOW_S, AirtableStore
from sheetsync.stores.airtable import connect as connect_airtable
from sheetsync.stores.google_sheets import (
    PROJECT_REQUESTS_PER_MINUTE,
    QUOTA_BURST,
    QUOTA_WINDOW_S,
    USER_REQUESTS_PER_MINUTE,
    GoogleSheetsStore,
    connect,
)
from sheetsync.worker import open_store, run_cycle

from .conftest import _KEY, SERVICE_ACCOUNT
from .test_airtable import BASE, TOKEN, World
from .test_google_sheets import CONFIG, shop

PROJECT = "shop-project"  #: the test key's project (its e-mail's)
#: What Google counts as read requests (developers.google.com/sheets/api/limits); the rest write.
READS = {
    "spreadsheets.get",
    "spreadsheets.values.get",
    "spreadsheets.values.batchGet",
    "spreadsheets.developerMetadata.search",
}


class RecordingQuotas(Quotas):
    """In-process allowances that count, per account, the requests taken and the drains."""

    def __init__(self) -> None:
        self.windows: dict[str, tuple[int, float]] = {}  #: account → (limit, interval)
        self.buckets: dict[str, tuple[float, int]] = {}  #: account → (per second, burst)
        self.taken: Counter[str] = Counter()
        self.drained: Counter[str] = Counter()

    def window(
        self,
        account: str,
        limit: int,
        interval_s: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> Pacer:
        self.windows[account] = (limit, interval_s)
        rate = Rate(limit, round(interval_s * 1000))
        return _Recorded(account, InMemoryBucket([rate]), rate, clock, sleep, self)

    def token_bucket(
        self,
        account: str,
        per_second: float,
        burst: int,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> Pacer:
        self.buckets[account] = (per_second, burst)
        rate = token_rate(per_second, burst)
        return _Recorded(account, StateBucket([rate], TokenBucket()), rate, clock, sleep, self)


class _Recorded(Pacer):
    def __init__(
        self,
        account: str,
        bucket: AbstractBucket,
        rate: Rate,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        into: RecordingQuotas,
    ) -> None:
        super().__init__(bucket, rate, clock, sleep)
        self._account, self._into = account, into

    def take(self) -> float:
        waiting = super().take()
        if not waiting:
            self._into.taken[self._account] += 1
        return waiting

    def drain(self) -> None:
        super().drain()
        self._into.drained[self._account] += 1


def test_every_airtable_request_is_taken_from_its_bases_and_its_tokens_allowances(tmp_path: Path) -> None:
    world = World(tmp_path)
    quotas = RecordingQuotas()
    api, paced = connect_airtable(
        TOKEN,
        base=BASE,
        inner=HandlerAdapter(world.answer),
        quotas=quotas,
        clock=lambda: world.t,
        sleep=world.sleep,
    )
    world.store = AirtableStore(api, BASE, world.settings.layout, paced=paced, now=world.now)
    world.fake.request_log.clear()
    world.cycle()

    sent = len(world.fake.request_log)
    (token_account,) = (account for account in quotas.windows if account.startswith("airtable:token:"))
    assert TOKEN not in token_account  # the token is hashed: a Redis key is no place for a secret
    assert quotas.taken == {f"airtable:{BASE}": sent, token_account: sent}
    assert quotas.windows[f"airtable:{BASE}"] == (RATE_PER_SECOND, RATE_WINDOW_S)
    assert quotas.drained == {f"airtable:{BASE}": 1}  # this second assumed spent at the start

    world.channel.sell(Sku("SKU-00000"))
    world.fake.fail_next("records.create", 429)
    world.cycle()
    assert quotas.drained == {f"airtable:{BASE}": 2}  # the 429 emptied the base's allowance too


def test_every_sheets_request_is_taken_from_its_accounts_read_or_write_allowances(tmp_path: Path) -> None:
    fake, clock = FakeSheets(), ManualClock()
    sheet = shop(fake)
    (tmp_path / "sheetsync.toml").write_text(CONFIG.format(sheet=sheet, extra=""))
    settings = load(tmp_path / "sheetsync.toml")
    quotas = RecordingQuotas()
    client = connect(_KEY, adapter=HandlerAdapter(fake), quotas=quotas, clock=clock, sleep=clock.sleep)
    store = GoogleSheetsStore(client, sheet, settings.layout, account=SERVICE_ACCOUNT, sleep=clock.sleep)
    channel = SandboxChannel(settings.channels[0].name, lambda: datetime(2026, 11, 27, 9, tzinfo=UTC))
    for minute in range(2):  # the first cycle creates the tabs; the second appends a sale
        run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, minute, tzinfo=UTC))
        channel.sell(Sku("A-1"))

    sheets = [logged for logged in fake.request_log if logged.path.startswith("/v4/")]
    reads = sum(1 for logged in sheets if logged.operation in READS)
    assert 0 < reads < len(sheets)
    user = f"sheets:{PROJECT}:{SERVICE_ACCOUNT}"
    assert quotas.taken == {
        f"{user}:read": reads,
        f"sheets:{PROJECT}:read": reads,
        f"{user}:write": len(sheets) - reads,
        f"sheets:{PROJECT}:write": len(sheets) - reads,
    }
    # A burst, then the rest of the minute's quota: never more than the quota in any minute.
    per_second, burst = quotas.buckets[f"{user}:read"]
    assert burst + per_second * QUOTA_WINDOW_S == USER_REQUESTS_PER_MINUTE
    per_second, burst = quotas.buckets[f"sheets:{PROJECT}:write"]
    assert (burst, burst + per_second * QUOTA_WINDOW_S) == (QUOTA_BURST, PROJECT_REQUESTS_PER_MINUTE)


def test_open_store_hands_the_quotas_to_either_store(tmp_path: Path) -> None:
    airtable = tmp_path / "airtable"
    airtable.mkdir()
    (airtable / "sheetsync.toml").write_text(
        f'[master]\nkind = "airtable"\nbase = "{BASE}"\n\n[channels.shop]\nkind = "sandbox"\n'
    )
    quotas = RecordingQuotas()
    open_store(load(airtable / "sheetsync.toml"), {AIRTABLE_TOKEN_ENV: TOKEN}, quotas)
    assert f"airtable:{BASE}" in quotas.windows

    (tmp_path / "sheetsync.toml").write_text(CONFIG.format(sheet="1sheet", extra=""))
    quotas = RecordingQuotas()
    open_store(load(tmp_path / "sheetsync.toml"), {SERVICE_ACCOUNT_ENV: json.dumps(_KEY)}, quotas)
    assert f"sheets:{PROJECT}:{SERVICE_ACCOUNT}:write" in quotas.buckets
