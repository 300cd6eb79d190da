"""Airtable quiet writes: a quiet cycle's Status and State changes wait in the store, ten minutes at most."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

import pytest
from sheetsync_fakes.airtable import AirtableCall

from sheetsync.model import STATE_SHEET, STATUS_SHEET, ChannelName, Sku, StatusUpdate
from sheetsync.stores.airtable import QUIET_WRITE_S, RECONCILE_S

from .test_airtable import BASE
from .test_airtable_incremental import World

WATCH = "watch:shopify"
WRITES = {"records.update", "records.create", "records.delete"}


class Recording(World):
    """The incremental World, keeping each StatusUpdate the worker hands the store, and each write's table."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.updates: list[StatusUpdate] = []
        self.tables: list[str] = []  #: the table (id, or name when created) of each write request, in order
        self.fake.before_request = self.note

    def note(self, call: AirtableCall) -> None:
        if call.operation in WRITES:
            self.tables.append(call.table or "")

    def cycle(self) -> None:
        with patch.object(self.store, "write_status", wraps=self.store.write_status) as spy:
            super().cycle()
        self.updates.extend(call.args[0] for call in spy.call_args_list)

    def flushed(self) -> Recording:
        """Watching, and every write out: the next cycle is quiet and ten minutes from the last write."""
        self.watching()
        self.t += QUIET_WRITE_S
        self.cycle()
        self.fake.request_log.clear()
        self.tables.clear()
        return self

    def written(self) -> list[str]:
        """The tables of the write requests noted, by name, a request each."""
        tables = self.api("GET", f"/v0/meta/bases/{BASE}/tables").json()["tables"]
        names = {table["id"]: table["name"] for table in tables}
        return [names.get(table, table) for table in self.tables]

    def base_state(self) -> dict[str, object]:
        """The State as the base holds it."""
        return {r["fields"]["Key"]: r["fields"].get("Value") for r in self.fake.records(BASE, STATE_SHEET)}

    def writes(self) -> dict[str, int]:
        return {op: n for op, n in self.operations().items() if op in WRITES}


def test_a_quiet_cycle_sends_no_write_and_the_next_read_returns_what_it_would_have_written(
    tmp_path: Path,
) -> None:
    world = Recording(tmp_path).flushed()
    written = world.base_state()[WATCH]

    world.cycle()

    assert world.operations() == {"webhooks.payloads": 1}  # the read; nothing written
    held = world.updates[-1].state[WATCH]
    assert held != written  # the watch moved on (its last OK time, at least)
    assert world.base_state()[WATCH] == written
    snapshot, ops = world.read()
    assert ops == {"webhooks.payloads": 1}
    assert snapshot.state[WATCH] == held


def test_the_held_writes_go_out_after_quiet_write_s_in_one_batch(tmp_path: Path) -> None:
    world = Recording(tmp_path).flushed()
    for _ in range(int(QUIET_WRITE_S // 60) - 1):  # each a minute on: all within ten minutes of the flush
        world.cycle()
    assert not world.writes()

    world.cycle()  # ten minutes since the last write went out

    assert world.written() == [STATUS_SHEET, STATE_SHEET]  # one request a table, every held record in it
    assert world.base_state()[WATCH] == world.updates[-1].state[WATCH]
    assert world.store.read() == world.fresh()  # the base holds all the store shows


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda u: replace(u, state={**u.state, "ledger_applied": "7"}), id="ledger_applied"),
        pytest.param(lambda u: replace(u, state={**u.state, "incidents": '{"x":"y"}'}), id="incident"),
        pytest.param(
            lambda u: replace(u, state={**u.state, "read:shopify": "c-9"}), id="read mark (created)"
        ),
        pytest.param(lambda u: replace(u, channels=(replace(u.channels[0], state="LAG"),)), id="Status word"),
        pytest.param(
            lambda u: replace(u, channels=(replace(u.channels[0], message="pushed 3"),)), id="Status message"
        ),
        pytest.param(lambda u: replace(u, channels=(replace(u.channels[0], pushed=3),)), id="Status count"),
    ],
)
def test_any_other_update_goes_out_at_once_with_the_held_writes(
    tmp_path: Path, change: Callable[[StatusUpdate], StatusUpdate]
) -> None:
    world = Recording(tmp_path).flushed()
    world.cycle()  # held: the channel's times and its watch
    quiet = world.updates[-1]
    world.t += 60
    world.store.read()
    world.fake.request_log.clear()
    world.tables.clear()

    world.store.write_status(change(quiet))

    assert set(world.written()) == {STATE_SHEET, STATUS_SHEET}  # the held Status times ride along
    assert world.writes()["records.update"] == 2  # in the same PATCH a table
    assert world.base_state()[WATCH] == quiet.state[WATCH]
    assert world.store.read() == world.fresh()


def test_a_sale_writes_everything_at_once(tmp_path: Path) -> None:
    world = Recording(tmp_path).flushed()
    world.cycle()  # held
    world.channel.sell(Sku("SKU-001"))

    world.cycle()

    assert world.base_state()[WATCH] == world.updates[-1].state[WATCH]
    assert world.store.read() == world.fresh()


def test_a_restarted_worker_reads_the_last_written_values(tmp_path: Path) -> None:
    world = Recording(tmp_path).flushed()
    written = world.base_state()[WATCH]
    world.cycle()
    world.cycle()  # both held: a kill now loses them
    assert world.updates[-1].state[WATCH] != written

    world.store = world.open()  # the process restarted
    assert world.store.read().state[WATCH] == written  # a watch a few minutes old, nothing worse
    world.fake.request_log.clear()
    world.tables.clear()
    world.cycle()

    assert STATE_SHEET in world.written()  # its first write goes out at once
    assert world.base_state()[WATCH] == world.updates[-1].state[WATCH]


def test_a_worker_stopping_cleanly_sends_what_it_held_before_it_gives_the_lease_up(tmp_path: Path) -> None:
    world = Recording(tmp_path).flushed()
    world.cycle()
    held = world.updates[-1].state[WATCH]
    assert world.base_state()[WATCH] != held

    world.store.release("nobody")  # a shutdown: the lease, if held, is cleared after

    assert world.base_state()[WATCH] == held
    assert STATE_SHEET in world.written()


def test_held_writes_survive_a_listing_and_a_merchant_edit_of_the_same_record(tmp_path: Path) -> None:
    world = Recording(tmp_path).flushed()
    world.cycle()
    held = world.updates[-1].state[WATCH]
    status = {r["fields"].get("Channel"): r["id"] for r in world.fake.records(BASE, STATUS_SHEET)}
    # The payload carries every cell of the record, Last sync as the base holds it among them.
    world.fake.set_cell(BASE, STATUS_SHEET, status["Shopify"], "Control", "PAUSE")

    snapshot, ops = world.read()

    assert ops == {"webhooks.payloads": 1}
    assert snapshot.state[WATCH] == held
    assert snapshot.control.channels[ChannelName("shopify")] == "PAUSE"
    world.t += RECONCILE_S  # the reconciliation: every table listed again
    snapshot, ops = world.read()
    assert ops["meta.tables"] == 1
    assert snapshot.state[WATCH] == held
