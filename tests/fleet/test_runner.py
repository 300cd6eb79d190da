"""One merchant's cycle under its Redis lock, its deliveries, its backoff and alerts (in process)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from openpyxl import load_workbook
from sheetsync_fakes.slack import FakeSlack
from sheetsync_fakes.wire import serve

from sheetsync.config import WorkbookMaster
from sheetsync.fleet.registry import Merchant, Registry
from sheetsync.fleet.runner import Fleet, merchant_cycle
from sheetsync.model import ChannelName, Movement, OrderLine, Sku
from sheetsync.pacing import Quotas
from sheetsync.worker import FIRST_BACKOFF_S, OUTAGE_AFTER, CycleReport


def line(order: str, quantity: int = 1) -> OrderLine:
    at = datetime(2026, 12, 5, 9, tzinfo=UTC)
    return OrderLine(ChannelName("shopify"), order, "1", Sku("A-1"), quantity, Movement.SALE, at, "")


def test_a_real_cycle_runs_per_merchant_with_a_new_fencing_token_each_time(
    client: redis.Redis, prefix: str, merchants: Callable[..., Path]
) -> None:
    fleet = Fleet(client, Registry(merchants("acme", "bolt")), prefix=prefix)
    first, second, other = fleet.cycle("acme"), fleet.cycle("acme"), fleet.cycle("bolt")
    assert (first.status, second.status, other.status) == ("ran", "ran", "ran")
    assert (first.fence, second.fence, other.fence) == (1, 2, 1)
    # The master's lease is held in the fleet's one name, whichever worker ran the cycle.
    master = fleet.registry.load("acme").settings.master
    assert isinstance(master, WorkbookMaster)
    book = load_workbook(Path(master.path))
    cells = [str(c.value) for row in book["State"].iter_rows() for c in row if c.value]
    assert any(text.startswith("fleet:acme until") for text in cells)
    assert not client.exists(fleet.key("lock", "acme"))  # given back


def test_a_merchant_whose_cycle_runs_elsewhere_is_skipped_not_run_twice(
    client: redis.Redis, prefix: str, merchants: Callable[..., Path]
) -> None:
    registry = Registry(merchants("acme", "bolt"))
    ran: list[str] = []
    meanwhile: list[str] = []
    other_worker = Fleet(client, registry, prefix=prefix, cycle=lambda m, d, q: record(m, ran))

    def busy_cycle(merchant: Merchant, delivered: Sequence[OrderLine], quotas: Quotas) -> CycleReport:
        meanwhile.append(other_worker.cycle("acme").status)  # a second worker, while this one runs
        meanwhile.append(other_worker.cycle("bolt").status)  # another merchant is not held up
        return record(merchant, ran)

    assert Fleet(client, registry, prefix=prefix, cycle=busy_cycle).cycle("acme").status == "ran"
    assert meanwhile == ["busy", "ran"]
    assert ran == ["bolt", "acme"]


def record(merchant: Merchant, ran: list[str]) -> CycleReport:
    ran.append(merchant.name)
    return CycleReport(datetime.now(UTC), 0, {}, 0, {}, False, 0, plan=None)  # type: ignore[arg-type]  # a stand-in report: no plan


def test_deliveries_count_once_wait_in_redis_and_survive_a_failed_cycle(
    client: redis.Redis, prefix: str, merchants: Callable[..., Path]
) -> None:
    seen: list[list[str]] = []
    fail = [True]

    def cycle(merchant: Merchant, delivered: Sequence[OrderLine], quotas: Quotas) -> CycleReport:
        seen.append([x.order_id for x in delivered])
        if fail.pop():
            raise RuntimeError("the sheet is unreachable")
        return record(merchant, [])

    now = [1_000.0]
    fleet = Fleet(client, Registry(merchants("acme")), prefix=prefix, cycle=cycle, clock=lambda: now[0])
    assert fleet.deliver("acme", "d-1", [line("1001"), line("1002", 2)])
    assert not fleet.deliver("acme", "d-1", [line("1001"), line("1002", 2)])  # Shopify delivers again
    assert fleet.cycle("acme").status == "failed"
    fail.append(False)
    now[0] += FIRST_BACKOFF_S
    assert fleet.cycle("acme").status == "ran"
    assert seen == [["1001", "1002"], ["1001", "1002"]]
    assert fleet._take("acme") == []


def test_a_failing_merchant_backs_off_alone_and_alerts_its_own_contact(
    client: redis.Redis, prefix: str, merchants: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken, fine = FakeSlack(), FakeSlack()
    now = [1_000.0]
    ran: list[str] = []

    def cycle(merchant: Merchant, delivered: Sequence[OrderLine], quotas: Quotas) -> CycleReport:
        if merchant.name == "broken" and not healed:
            raise PermissionError("the Google Sheet is no longer shared with the service account")
        return record(merchant, ran)

    healed = False
    with serve(broken) as broken_url, serve(fine) as fine_url:
        environ = {
            "BROKEN__SHEETSYNC__ALERTS__SLACK_WEBHOOK_URL": broken.url(broken_url),
            "FINE__SHEETSYNC__ALERTS__SLACK_WEBHOOK_URL": fine.url(fine_url),
        }
        registry = Registry(merchants("broken", "fine"), environ)
        fleet = Fleet(client, registry, prefix=prefix, cycle=cycle, clock=lambda: now[0])
        statuses = []
        for _ in range(OUTAGE_AFTER):
            statuses.append(fleet.cycle("broken").status)
            statuses.append(fleet.cycle("broken").status)  # asked again at once: it waits its backoff
            statuses.append(fleet.cycle("fine").status)
            now[0] += 3600
        assert statuses == ["failed", "backing-off", "ran"] * OUTAGE_AFTER
        assert len(broken.texts) == 1
        assert "broken: sync stopped: 3 cycles failed in a row" in broken.texts[0]
        assert "no longer shared" in broken.texts[0]
        assert fine.texts == []
        healed = True
        assert fleet.cycle("broken").status == "ran"
        assert "RECOVERED" in broken.texts[-1]
        assert fine.texts == []


def test_the_default_cycle_is_the_workers_one_cycle(
    client: redis.Redis, prefix: str, merchants: Callable[..., Path]
) -> None:
    registry = Registry(merchants("acme"))
    report = merchant_cycle(registry.load("acme"), [], Quotas())
    assert report.errors == {}
    assert set(report.pushed) == {c.name for c in registry.load("acme").settings.channels}
