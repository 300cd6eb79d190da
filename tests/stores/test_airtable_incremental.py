"""Airtable incremental reads: after the first cycles, a read is the webhook's payloads since its cursor."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from sheetsync_fakes.airtable import (
    OWNER,
    SCOPE_RECORDS_READ,
    SCOPE_RECORDS_WRITE,
    SCOPE_SCHEMA_READ,
    SCOPE_SCHEMA_WRITE,
    AccessToken,
    FakeAirtable,
    FieldSpec,
)
from sheetsync_fakes.wire import HandlerAdapter

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import Settings, load
from sheetsync.model import (
    BUNDLES_SHEET,
    INVENTORY_SHEET,
    LEDGER_SHEET,
    STATE_SHEET,
    STATUS_SHEET,
    ChannelName,
    Sku,
    Snapshot,
    StatusUpdate,
)
from sheetsync.stores.airtable import RECONCILE_S, AirtableStore, connect
from sheetsync.worker import run_cycle

from .test_airtable import BASE, TOKEN

CONFIG = """
[master]
kind = "airtable"
base = "{base}"

[channels.shopify]
kind = "sandbox"
tiers = [{{ min = 3, hold = 2 }}, {{ min = 0, hold = "all" }}]
"""
NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)
READS = {"meta.tables", "records.list"}
CATEGORIES = {"choices": [{"name": "Shoes", "color": "blueLight2"}, {"name": "Hats", "color": "redLight2"}]}


class World:
    """A base with Inventory and Bundles, the worker's store over it, a sandbox channel, one clock."""

    def __init__(self, tmp_path: Path, token: AccessToken | None = None) -> None:
        self.t = NOW.timestamp()
        self.fake = FakeAirtable(tokens={TOKEN: token or AccessToken(OWNER)}, now=lambda: self.t)
        self.fake.create_base("Shop", base_id=BASE)
        self.fake.create_table(
            BASE,
            INVENTORY_SHEET,
            [
                FieldSpec("SKU", "singleLineText"),
                FieldSpec("Quantity", "number", {"precision": 0}),
                FieldSpec("Category", "singleSelect", CATEGORIES),
            ],
        )
        self.fake.add_records(
            BASE,
            INVENTORY_SHEET,
            [{"SKU": f"SKU-{i:03d}", "Quantity": 10 + i, "Category": "Shoes"} for i in range(12)],
        )
        self.fake.create_table(
            BASE,
            BUNDLES_SHEET,
            [
                FieldSpec("Bundle", "singleLineText"),
                FieldSpec("Component", "singleLineText"),
                FieldSpec("Quantity", "number", {"precision": 0}),
            ],
        )
        self.fake.add_records(
            BASE, BUNDLES_SHEET, [{"Bundle": "SKU-011", "Component": "SKU-000", "Quantity": 2}]
        )
        (tmp_path / "sheetsync.toml").write_text(CONFIG.format(base=BASE))
        self.settings: Settings = load(tmp_path / "sheetsync.toml")
        self.store = self.open()
        self.channel = SandboxChannel(self.settings.channels[0].name, self.now)

    def open(self, reconcile_s: float = RECONCILE_S) -> AirtableStore:
        api, paced = connect(TOKEN, inner=HandlerAdapter(self.fake), clock=lambda: self.t, sleep=self.sleep)
        return AirtableStore(
            api, BASE, self.settings.layout, paced=paced, now=self.now, reconcile_s=reconcile_s
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def cycle(self) -> None:
        self.t += 60
        run_cycle(self.store, [self.channel], self.settings, self.now())

    def watching(self) -> World:
        """Two cycles: the first lists and writes, the second sets the webhook up and lists again."""
        self.cycle()
        self.cycle()
        return self

    def fresh(self) -> Snapshot:
        """What a store that has never read this base reads: every table, listed."""
        return self.open().read()

    def operations(self) -> Counter[str]:
        return Counter(entry.operation for entry in self.fake.request_log)

    def read(self) -> tuple[Snapshot, Counter[str]]:
        """The worker's store reads: what it read, and the requests that cost."""
        self.fake.request_log.clear()
        snapshot = self.store.read()
        return snapshot, self.operations()

    def ids(self, table: str) -> list[str]:
        return [record["id"] for record in self.fake.records(BASE, table)]

    def api(self, method: str, path: str) -> httpx.Response:
        """Another tool on the same base (a second passes first: it never meets the rate limit)."""
        self.t += 1.0
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return self.fake(httpx.Request(method, "https://api.airtable.com" + path, headers=headers))

    def webhooks(self) -> list[dict[str, object]]:
        return list(self.api("GET", f"/v0/bases/{BASE}/webhooks").json()["webhooks"])


def test_an_idle_read_is_one_call(tmp_path: Path) -> None:
    world = World(tmp_path).watching()

    snapshot, ops = world.read()

    assert ops == {"webhooks.payloads": 1}
    assert snapshot == world.fresh()


def test_merchant_edits_in_every_table_read_as_a_full_read_reads_them(tmp_path: Path) -> None:
    world = World(tmp_path).watching()
    inventory, bundles = world.ids(INVENTORY_SHEET), world.ids(BUNDLES_SHEET)
    status = {r["fields"].get("Channel"): r["id"] for r in world.fake.records(BASE, STATUS_SHEET)}
    world.fake.set_cell(BASE, INVENTORY_SHEET, inventory[3], "Quantity", 99)
    world.fake.set_cell(BASE, INVENTORY_SHEET, inventory[4], "Category", "Hats")  # a V2 {id, name, color}
    world.fake.set_cell(BASE, INVENTORY_SHEET, inventory[5], "Quantity", None)  # cleared
    world.fake.add_records(BASE, INVENTORY_SHEET, [{"SKU": "NEW-1", "Quantity": 7, "Category": "Hats"}])
    world.fake.delete_records(BASE, INVENTORY_SHEET, [inventory[1]])  # every row below moves up
    world.fake.set_cell(BASE, STATUS_SHEET, status["Shopify"], "Control", "PAUSE")
    world.fake.add_records(BASE, LEDGER_SHEET, [{"Key": "manual/1", "SKU": "SKU-002", "Delta": "-1"}])
    world.fake.add_records(
        BASE, BUNDLES_SHEET, [{"Bundle": "SKU-010", "Component": "SKU-002", "Quantity": 3}]
    )
    world.fake.set_cell(BASE, BUNDLES_SHEET, bundles[0], "Quantity", 4)

    snapshot, ops = world.read()

    assert ops == {"webhooks.payloads": 1}
    assert snapshot == world.fresh()
    assert snapshot.control.channels[ChannelName("shopify")] == "PAUSE"
    assert [row.cells["sku"] for row in snapshot.rows][-1] == "NEW-1"
    assert "SKU-001" not in [row.cells["sku"] for row in snapshot.rows]

    world.fake.delete_records(BASE, LEDGER_SHEET, world.ids(LEDGER_SHEET)[-1:])
    world.fake.delete_records(BASE, BUNDLES_SHEET, bundles)
    assert world.store.read() == world.fresh()


def test_the_workers_own_writes_come_back_and_leave_the_records_as_listed(tmp_path: Path) -> None:
    world = World(tmp_path).watching()
    for n in range(4):
        world.channel.sell(Sku(f"SKU-00{n}"), n + 1)
        world.cycle()  # a ledger record, the sold rows' worker fields, Status and State
        snapshot, ops = world.read()
        assert ops == {"webhooks.payloads": 1}
        assert snapshot == world.fresh()
    assert world.channel.read_levels([Sku("SKU-003")]) == {"SKU-003": 7}  # 13, 4 sold, 2 held


def test_a_deleted_webhook_falls_back_to_a_full_read_and_a_new_webhook(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(tmp_path).watching()
    (hook,) = world.webhooks()
    assert world.api("DELETE", f"/v0/bases/{BASE}/webhooks/{hook['id']}").status_code == 200
    world.fake.set_cell(BASE, INVENTORY_SHEET, world.ids(INVENTORY_SHEET)[0], "Quantity", 1)

    with caplog.at_level(logging.WARNING):
        snapshot, ops = world.read()

    assert "listing every table" in caplog.text
    assert (ops["webhooks.payloads"], ops["webhooks.create"], ops["meta.tables"]) == (1, 1, 1)
    assert snapshot == world.fresh()
    world.fake.set_cell(BASE, INVENTORY_SHEET, world.ids(INVENTORY_SHEET)[0], "Quantity", 2)
    snapshot, ops = world.read()
    assert ops == {"webhooks.payloads": 1}  # the new webhook carries on
    assert snapshot == world.fresh()


def test_an_expired_webhook_falls_back_to_a_full_read_and_a_new_webhook(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.store = world.open(reconcile_s=30 * 86400)  # only the expiry can call for a listing
    world.watching()
    world.t += timedelta(days=8).total_seconds()  # a worker stopped for a week and a day
    world.fake.set_cell(BASE, INVENTORY_SHEET, world.ids(INVENTORY_SHEET)[0], "Quantity", 1)
    assert [hook["isHookEnabled"] for hook in world.webhooks()] == [False]  # it saw none of that

    snapshot, ops = world.read()

    assert "webhooks.payloads" not in ops  # not trusted: its life is counted since the last listing
    assert (ops["webhooks.create"], ops["meta.tables"]) == (1, 1)
    assert snapshot == world.fresh()
    world.fake.set_cell(BASE, INVENTORY_SHEET, world.ids(INVENTORY_SHEET)[0], "Quantity", 2)
    snapshot, ops = world.read()
    assert ops == {"webhooks.payloads": 1}
    assert snapshot == world.fresh()


def test_a_restarted_worker_lists_everything_then_reuses_its_webhook(tmp_path: Path) -> None:
    world = World(tmp_path).watching()
    (hook,) = world.webhooks()
    world.store = world.open()  # the cursor is lost with the process
    world.cycle()  # the first read lists everything; no webhook yet
    world.fake.set_cell(BASE, INVENTORY_SHEET, world.ids(INVENTORY_SHEET)[2], "Quantity", 5)
    world.fake.request_log.clear()
    world.cycle()  # the second finds the webhook, refreshes it, and lists again

    ops = world.operations()
    assert (ops["webhooks.list"], ops["webhooks.refresh"], ops["webhooks.create"]) == (1, 1, 0)
    assert [h["id"] for h in world.webhooks()] == [hook["id"]]
    snapshot, ops = world.read()
    assert ops == {"webhooks.payloads": 1}
    assert snapshot == world.fresh()


def test_more_payloads_than_a_page_holds_fall_back_to_a_full_read(tmp_path: Path) -> None:
    world = World(tmp_path).watching()
    first = world.ids(INVENTORY_SHEET)[0]
    for quantity in range(60):  # sixty edits: sixty payloads, 50 a page
        world.fake.set_cell(BASE, INVENTORY_SHEET, first, "Quantity", quantity)

    snapshot, ops = world.read()

    assert (ops["webhooks.payloads"], ops["meta.tables"]) == (1, 1)
    assert snapshot == world.fresh()
    snapshot, ops = world.read()
    assert ops == {"webhooks.payloads": 1}  # the cursor moved past the sixty
    assert snapshot == world.fresh()


def test_a_renamed_field_lists_everything_again(tmp_path: Path) -> None:
    world = World(tmp_path).watching()
    world.fake.rename_field(BASE, INVENTORY_SHEET, "Category", "Kind")

    snapshot, ops = world.read()

    assert (ops["webhooks.payloads"], ops["meta.tables"]) == (1, 1)
    assert snapshot == world.fresh()


def test_the_reconciliation_lists_everything_every_six_hours(tmp_path: Path) -> None:
    world = World(tmp_path).watching()
    world.t += RECONCILE_S - 120
    assert world.read()[1] == {"webhooks.payloads": 1}

    world.t += 120
    snapshot, ops = world.read()

    assert (ops["webhooks.list"], ops["meta.tables"]) == (1, 1)  # its webhook checked, every table listed
    assert (ops["webhooks.create"], ops["webhooks.payloads"]) == (0, 0)
    assert snapshot == world.fresh()


def test_without_webhook_manage_every_read_lists_everything_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scopes = frozenset({SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE, SCOPE_SCHEMA_READ, SCOPE_SCHEMA_WRITE})
    world = World(tmp_path, AccessToken(OWNER, scopes=scopes))
    with caplog.at_level(logging.WARNING):
        world.watching()
    assert "webhook:manage" in caplog.text
    world.fake.request_log.clear()

    world.cycle()  # no webhook call until the next reconciliation tries again

    ops = world.operations()
    assert ops["meta.tables"] == 1
    assert not [op for op in ops if op.startswith("webhooks.")]


def test_state_records_are_written_when_they_change_and_the_call_count_every_ten_minutes(
    tmp_path: Path,
) -> None:
    world = World(tmp_path).watching()
    state = dict(world.store.read().state)
    fields = state_fields(world)

    def written(changes: dict[str, str]) -> dict[str, Any]:
        """The State records one status write sends: key -> value."""
        world.t += 60
        world.store.read()
        sent: list[dict[str, Any]] = []
        world.fake.before_request = lambda call: sent.extend(call.body["records"]) if call.body else None
        world.store.write_status(StatusUpdate((), (), None, {**state, **changes}))
        world.fake.before_request = None
        names = {field_id: name for name, field_id in fields.items()}  # updates go by id, creates by name
        keys = {r["id"]: r["fields"]["Key"] for r in world.fake.records(BASE, STATE_SHEET)}
        cells = [(r.get("id"), {names.get(k, k): v for k, v in r["fields"].items()}) for r in sent]
        return {c.get("Key") or keys[rid]: c["Value"] for rid, c in cells}  # a PATCH sends the Value alone

    assert written({"note": "one"}) == {"note": "one", "airtable_calls": ANY}
    assert written({"note": "one"}) == {}  # only the count changed: it waits
    world.t += 600
    assert written({"note": "one"}) == {"airtable_calls": ANY}  # the count alone, ten minutes on


def state_fields(world: World) -> dict[str, str]:
    """The State table's field ids by name (writes go by id)."""
    answer = world.api("GET", f"/v0/meta/bases/{BASE}/tables")
    (table,) = [t for t in answer.json()["tables"] if t["name"] == STATE_SHEET]
    return {f["name"]: f["id"] for f in table["fields"]}
