"""Airtable only: the pace, the 30 s penalty, the monthly budget, refused values, the race, the CLI."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sheetsync_fakes.airtable import OWNER, AccessToken, AirtableCall, FakeAirtable, FieldSpec
from sheetsync_fakes.wire import HandlerAdapter, serve

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.cli import main
from sheetsync.config import AIRTABLE_TOKEN_ENV, Settings, load
from sheetsync.errors import PermanentError
from sheetsync.model import (
    AVAILABLE,
    INVENTORY_SHEET,
    LEDGER_SHEET,
    STATE_SHEET,
    STATUS_SHEET,
    CellWrite,
    ChannelName,
    LedgerEntry,
    Movement,
    Sku,
    StatusUpdate,
)
from sheetsync.stores import ArchivingStore
from sheetsync.stores.airtable import (
    CALLS_KEY,
    CALLS_ROW_LABEL,
    QUIET_WRITE_S,
    RATE_PER_SECOND,
    RATE_WINDOW_S,
    AirtableStore,
    connect,
)
from sheetsync.worker import run_cycle

from .conftest import LAYOUT, AirtableBackend

TOKEN = "patSecret.0123456789abcdef"
BASE = "appSheetsyncTest1"
CONFIG = """
[master]
kind = "airtable"
base = "{base}"
{extra}

[channels.shopify]
kind = "sandbox"
tiers = [{{ min = 3, hold = 2 }}, {{ min = 0, hold = "all" }}]
"""
NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)


class World:
    """A base with an Inventory table, the store over it, a sandbox channel, one shared clock."""

    def __init__(
        self,
        tmp_path: Path,
        skus: int = 2,
        budget: int | None = None,
        fields: list[FieldSpec] | None = None,
        start: datetime = NOW,
    ) -> None:
        self.t = start.timestamp()
        self.statuses: list[int] = []
        self.fake = FakeAirtable(tokens={TOKEN: AccessToken(OWNER)}, now=lambda: self.t)
        self.fake.create_base("Shop", base_id=BASE)
        specs = [FieldSpec("SKU", "singleLineText"), FieldSpec("Quantity", "number", {"precision": 0})]
        self.fake.create_table(BASE, INVENTORY_SHEET, specs + (fields or []))
        rows = [{"SKU": f"SKU-{i:05d}", "Quantity": 10 - i % 10} for i in range(skus)]
        self.fake.add_records(BASE, INVENTORY_SHEET, rows)
        extra = f"monthly_call_budget = {budget}" if budget else ""
        (tmp_path / "sheetsync.toml").write_text(CONFIG.format(base=BASE, extra=extra))
        self.settings: Settings = load(tmp_path / "sheetsync.toml")
        self.store = self.open(budget)
        self.channel = SandboxChannel(self.settings.channels[0].name, self.now)

    def answer(self, request: httpx.Request) -> httpx.Response:
        response = self.fake(request)
        self.statuses.append(response.status_code)
        return response

    def open(self, budget: int | None = None) -> AirtableStore:
        api, paced = connect(TOKEN, inner=HandlerAdapter(self.answer), clock=lambda: self.t, sleep=self.sleep)
        return AirtableStore(
            api, BASE, self.settings.layout, paced=paced, monthly_budget=budget, now=self.now
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def cycle(self) -> None:
        run_cycle(self.store, [self.channel], self.settings, self.now())

    def rows(self, table: str) -> list[dict[str, object]]:
        return [record["fields"] for record in self.fake.records(BASE, table)]


def test_a_cycle_pages_through_records_and_writes_only_what_changed(tmp_path: Path) -> None:
    world = World(tmp_path, skus=250)
    world.cycle()  # creates Ledger, Status and State and fills the worker fields
    assert world.fake.count("records.update") >= 25  # 250 rows, ten a request
    assert world.rows(INVENTORY_SHEET)[0] == {
        "SKU": "SKU-00000",
        "Quantity": 10,
        "Available": "10",
        "Shopify": "8",
        "Status": "OK",
        "Reason": "10 on the shelf; Shopify shows 8: tier 3+ holds 2",
        "Synced": "2026-11-27T09:00:00Z",
    }
    assert world.channel.read_levels([Sku("SKU-00009")]) == {"SKU-00009": 0}  # 1 unit, held

    world.channel.sell(Sku("SKU-00000"))
    world.t += 60
    world.cycle()  # the first sale creates the Ledger table
    world.channel.sell(Sku("SKU-00000"))
    world.fake.request_log.clear()
    world.t += 60
    world.cycle()

    counts: dict[str, int] = {}
    for logged in world.fake.request_log:
        counts[logged.operation] = counts.get(logged.operation, 0) + 1
    assert counts == {
        "webhooks.payloads": 1,  # the third read: only what changed since the second
        "records.create": 1,  # the sale's ledger record
        "records.update": 3,  # the sold row; the Status row; the State records
    }


def test_requests_keep_to_five_a_second_so_airtable_never_says_429(tmp_path: Path) -> None:
    world = World(tmp_path, skus=250)
    start = world.t
    world.cycle()

    sent = len(world.fake.request_log)
    assert 429 not in world.statuses
    # Paced, not bunched: n requests at 5 a second span at least (n - 5) / 5 seconds.
    assert world.t - start >= (sent - RATE_PER_SECOND) / RATE_PER_SECOND
    assert world.t - start <= sent * RATE_WINDOW_S / RATE_PER_SECOND + 1  # and not slower


def test_a_429_is_waited_out_for_its_30_second_penalty_and_nothing_is_lost(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.cycle()
    world.channel.sell(Sku("SKU-00000"))
    world.fake.fail_next("records.create", 429)  # the ledger append meets the penalty
    before = world.t

    world.cycle()

    assert world.t - before >= 30  # waited the penalty out rather than retrying into it
    assert [row["Movement"] for row in world.rows("Ledger")].count("SALE") == 1
    assert world.rows(INVENTORY_SHEET)[0]["Available"] == "9"


def test_a_refused_value_flags_its_row_and_names_the_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The merchant made Synced a date field: our timestamp text is refused for that one row.
    world = World(tmp_path, fields=[FieldSpec("Synced", "date", {"dateFormat": {"name": "iso"}})])
    with caplog.at_level(logging.WARNING):
        world.cycle()

    first = world.rows(INVENTORY_SHEET)[0]
    assert first["Status"] == "ERROR"
    assert "Synced" in str(first["Reason"])
    assert "INVALID_VALUE_FOR_COLUMN" in str(first["Reason"])
    assert any("Synced" in record.getMessage() for record in caplog.records)


def test_the_months_calls_are_counted_projected_and_kept_across_restarts(tmp_path: Path) -> None:
    world = World(tmp_path, budget=1_000_000)
    world.cycle()
    world.t += 60
    world.cycle()  # a quiet cycle: its writes, the count among them, wait in the store
    world.t += QUIET_WRITE_S
    world.cycle()  # and go out ten minutes after the last write

    state = {row["Key"]: row["Value"] for row in world.rows(STATE_SHEET)}
    month, _, counted = str(state[CALLS_KEY]).partition(":")
    assert month == "2026-11"
    # Every request but the Status and State writes that carry the count, which the next cycle counts.
    assert int(counted) == len(world.fake.request_log) - 2
    status = {row["Channel"]: row for row in world.rows(STATUS_SHEET)}
    assert status[CALLS_ROW_LABEL]["State"] == "OK"
    assert str(status[CALLS_ROW_LABEL]["Message"]).endswith("at this pace; budget 1,000,000")

    world.store = world.open(1_000_000)  # a restarted worker carries on from the State table
    world.t += 60
    world.cycle()
    state = {row["Key"]: row["Value"] for row in world.rows(STATE_SHEET)}
    # The restart forgot the two writes that carried the count it resumed from.
    assert int(str(state[CALLS_KEY]).partition(":")[2]) == len(world.fake.request_log) - 4


def test_past_the_budgets_pace_status_rows_slow_down_and_pushes_do_not(tmp_path: Path) -> None:
    # An hour into the month, a few dozen calls already project to far more than a thousand.
    world = World(tmp_path, budget=1000, start=datetime(2026, 11, 1, 1, tzinfo=UTC))
    world.cycle()
    status = {row["Channel"]: row for row in world.rows(STATUS_SHEET)}
    assert status[CALLS_ROW_LABEL]["State"] == "SLOW"
    shopify_synced = status["Shopify"]["Last sync"]

    world.t += 60
    world.channel.sell(Sku("SKU-00000"), 3)
    world.cycle()

    status = {row["Channel"]: row for row in world.rows(STATUS_SHEET)}
    assert status["Shopify"]["Last sync"] == shopify_synced  # not rewritten within 10 minutes
    assert world.channel.read_levels([Sku("SKU-00000")]) == {"SKU-00000": 5}  # 7 left, pushed
    world.t += timedelta(minutes=10).total_seconds()
    world.cycle()
    status = {row["Channel"]: row for row in world.rows(STATUS_SHEET)}
    assert status["Shopify"]["Last sync"] != shopify_synced


def test_a_merchant_edit_between_the_workers_read_and_write_survives(tmp_path: Path) -> None:
    world = World(tmp_path)
    first_id = world.fake.records(BASE, INVENTORY_SHEET)[0]["id"]
    edited: list[str] = []

    def merchant_types(call: AirtableCall) -> None:
        if call.operation == "records.update" and not edited:
            world.fake.set_cell(BASE, INVENTORY_SHEET, first_id, "Quantity", 20)
            edited.append(first_id)

    world.fake.before_request = merchant_types
    world.cycle()
    assert edited == [first_id]
    assert world.rows(INVENTORY_SHEET)[0]["Quantity"] == 20
    assert world.channel.read_levels([Sku("SKU-00000")]) == {"SKU-00000": 8}  # planned from the 10 it read
    world.t += 60
    world.cycle()
    assert world.channel.read_levels([Sku("SKU-00000")]) == {"SKU-00000": 18}  # the next cycle uses the edit


def test_a_wrong_token_is_one_clear_error_that_never_shows_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(tmp_path)
    api, paced = connect(
        "patWrong.token", inner=HandlerAdapter(world.fake), clock=lambda: world.t, sleep=world.sleep
    )
    store = AirtableStore(api, BASE, world.settings.layout, paced=paced)
    with caplog.at_level(logging.DEBUG), pytest.raises(PermanentError) as caught:
        store.read()
    assert str(caught.value).startswith(f"Airtable base {BASE}: Airtable refused the token (401")
    assert "patWrong" not in str(caught.value) + caplog.text


def test_a_missing_token_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    World(tmp_path)
    monkeypatch.delenv(AIRTABLE_TOKEN_ENV, raising=False)
    assert main(["sync", "--once", "--config", str(tmp_path / "sheetsync.toml")]) == 2
    assert f"${AIRTABLE_TOKEN_ENV} is empty" in capsys.readouterr().err


def test_init_prepares_the_base_and_sync_runs_over_loopback_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeAirtable(tokens={TOKEN: AccessToken(OWNER)})
    fake.create_base("Shop", base_id=BASE)
    monkeypatch.setenv(AIRTABLE_TOKEN_ENV, TOKEN)
    with serve(fake) as base_url:
        config = tmp_path / "sheetsync.toml"
        config.write_text(CONFIG.format(base=BASE, extra=f'base_url = "{base_url}"'))
        assert main(["init", "--dir", str(tmp_path), "--airtable-base", BASE]) == 0
        out = capsys.readouterr().out
        assert "created the Inventory table with SKU, Quantity" in out
        assert "created the Ledger table" in out
        assert main(["init", "--dir", str(tmp_path), "--airtable-base", BASE]) == 0
        assert "was ready; nothing changed" in capsys.readouterr().out
        fake.add_records(BASE, INVENTORY_SHEET, [{"SKU": "A-1", "Quantity": 10}])
        assert main(["sync", "--once", "--config", str(config)]) == 0
    assert "pushed shopify 1" in capsys.readouterr().out
    [row] = [r["fields"] for r in fake.records(BASE, INVENTORY_SHEET)]
    assert (row["Available"], row["Shopify"], row["Status"]) == ("10", "8", "OK")


def sale(n: int) -> LedgerEntry:
    return LedgerEntry(
        f"shopify/{1000 + n}/1", Sku("SKU-00000"), -1, Movement.SALE, NOW, ChannelName("shopify")
    )


@pytest.mark.parametrize(
    ("fault", "applied", "creates"),
    [
        # Landed, answer lost: one filtered list finds all ten, nothing is created again.
        (httpx.ReadTimeout("The read operation timed out"), True, 2),
        # A 503 before it landed: the list finds none of them, and the ten are created again.
        (None, False, 3),
    ],
)
def test_a_lost_create_lists_its_keys_before_repeating(
    tmp_path: Path, fault: Exception | None, applied: bool, creates: int
) -> None:
    world = World(tmp_path)
    world.store.append_ledger([sale(0)])
    world.store.read()
    world.fake.request_log.clear()
    entries = [sale(n) for n in range(1, 13)]  # two requests: ten, then two

    world.fake.fail_next("records.create", exception=fault, applied=applied)
    world.store.append_ledger(entries)

    assert [row["Key"] for row in world.rows(LEDGER_SHEET)] == [sale(n).key for n in range(13)]
    assert (world.fake.count("records.create"), world.fake.count("records.list")) == (creates, 1)
    [listed] = [log for log in world.fake.request_log if log.operation == "records.list"]
    formula = dict(listed.query)["filterByFormula"]
    assert formula.startswith("OR({Key}='shopify/1001/1', ")
    assert formula.count("{Key}=") == 10


def test_the_store_keeps_no_archive() -> None:
    assert not issubclass(AirtableStore, ArchivingStore)


def test_worker_fields_are_written_by_id_so_a_rename_mid_cycle_never_redirects_them(tmp_path: Path) -> None:
    backend = AirtableBackend(tmp_path)
    store = backend.make([{"SKU": "A", "Quantity": 1, "Available": "", "Notes": "fragile"}], LAYOUT)
    store.read()

    # The merchant renames the worker's field, then gives its old name to one of theirs.
    backend.rename_header(INVENTORY_SHEET, "Available", "Avail (worker)")
    backend.rename_header(INVENTORY_SHEET, "Notes", "Available")
    backend.fake.request_log.clear()
    store.write_status(StatusUpdate((CellWrite(1, Sku("A"), AVAILABLE, "7"),), (), None, {}))

    assert backend.inventory_value(1, "Avail (worker)") == "7"
    assert backend.inventory_value(1, "Available") == "fragile"  # the merchant's field, untouched
    operations = [call.operation for call in backend.fake.request_log]
    assert operations.count("records.update") == 1  # one PATCH: no 422, no row flagged one by one


def test_taking_the_lease_is_written_then_confirmed_and_holding_it_costs_nothing(tmp_path: Path) -> None:
    backend = AirtableBackend(tmp_path)
    store = backend.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    store.read()
    backend.fake.request_log.clear()

    assert store.acquire("worker-1", NOW, 120) is None
    taking = [call.operation for call in backend.fake.request_log]
    backend.fake.request_log.clear()
    store.read()
    backend.fake.request_log.clear()
    assert store.acquire("worker-1", NOW + timedelta(seconds=30), 120) is None

    # the base has no State table yet: create it and the lease record, then list it to confirm
    assert [op for op in taking if op.startswith("records.")] == ["records.create", "records.list"]
    assert backend.fake.request_log == []
