"""The adversary campaign (issue 21): a short seed set, and proof that its checks see what they must."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from campaigns import adversary
from campaigns.adversary import FIGURES, World, run_seed
from campaigns.platforms import LOCATION
from sheetsync_fakes.google_sheets import SheetSpec

import sheetsync.worker as worker_module
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.core import incidents, ledger, monitor, plan, reports
from sheetsync.core.monitor import Finding, FindingKind, Pending, Watch
from sheetsync.core.plan import GuardVerdict
from sheetsync.errors import SyncError
from sheetsync.model import INVENTORY_SHEET, Sku
from sheetsync.stores._grid import column_letter
from sheetsync.stores.google_sheets import GoogleSheetsStore


@pytest.mark.parametrize("seed", [1, 3])
def test_a_short_schedule_holds_every_invariant(seed: int) -> None:
    figures, world = run_seed(seed, cycles=20)
    assert figures["cycles"] >= 20
    assert sum(figures["actions"].values()) > 5  # the world really moved
    assert figures["orders"] >= 1
    broken = {name: figures[name] for name in FIGURES if figures[name]}
    assert not broken, world.tally.problems


def test_a_seed_replays_byte_for_byte() -> None:
    """The reproduction a violation prints is only worth something if the same seed does the same."""
    first, one = run_seed(7, cycles=8)  # a kill, a restart, orders, recounts: about a second
    again, other = run_seed(7, cycles=8)
    assert one.history == other.history
    assert first == again
    assert len(one.history) > 10  # a run with something in it
    assert first["requests"] > 50


def test_a_lagging_incident_is_open_until_its_own_channel_recovers() -> None:
    """The LAG check counts a row as told while a lagging incident is open: Shopify's recovery
    does not close WooCommerce's (seed 1 at 36 cycles read it so once the schedules moved)."""
    alerts = [
        "[sheetsync] ALERT Shopify is lagging: lag p95 15m 15s is over the 15m 0s limit",
        "[sheetsync] ALERT Woo is lagging: 1 pushes not visible after 15m 0s (rows marked LAG)",
        "[sheetsync] RECOVERED Shopify is lagging: lag p95 15m 15s is over the 15m 0s limit (cleared)",
    ]

    assert adversary._lagging_now(alerts) == {"Shopify": False, "Woo": True}
    assert adversary._lagging_now([*alerts, alerts[1].replace("ALERT", "RECOVERED")]) == {
        "Shopify": False,
        "Woo": False,
    }


def test_the_campaign_catches_a_ledger_append_that_does_not_look_first() -> None:
    """Planted: the store appends without reading the Ledger's Key column (before the fix for a
    worker resuming with an old read, and for a lost answer).  Seed 12 (36 cycles) then records
    a WooCommerce cancellation's key twice; with the store as it is, it holds (docs/fault-suite.md)."""
    with mock.patch.object(GoogleSheetsStore, "_tail_keys", return_value=set()):
        figures, world = run_seed(12)
    assert figures["doubled"] >= 1, world.tally.problems
    assert any("woo/122/121-cancel is there 2 times" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_first_sync_that_reads_the_history() -> None:
    """Planted: no start line (before the fix), so the first sync counts the orders placed before
    it, which the merchant's counts already hold (the stock wiped).  Seed 1 at 4 cycles counts
    them; with the start line it holds (the short seeds above)."""
    with mock.patch.object(worker_module, "_start_line", return_value=(None, "")):
        figures, world = run_seed(1, cycles=4)
    assert figures["doubled"] >= 1, world.tally.problems
    assert any("before the first sync" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_push_overtaken_by_a_platform_edit_left_lag() -> None:
    """Planted: a push the platform's own edit overtook stays LAG for ever, and a figure above ours
    is waited for while a push is on its way (before the fixes, which make both DRIFT and set them
    back).  Seed 77 (36 cycles): a level set on the platform above ours is never set back, and
    Shopify shows 20 of AD-003 cycle after cycle, where the count allows 18."""

    def stuck(push: Pending, shown: int | None, believed: int | None, age: float, max_lag: float) -> Finding:
        return Finding(FindingKind.LAG, shown, f"pushed {push.quantity}, still shows {shown}")

    with mock.patch.multiple(monitor, _overdue=stuck, _unexplained_excess=lambda *args: False):
        figures, world = run_seed(77)
    assert figures["oversold_by_us"] >= 1, world.tally.problems
    assert any("shopify shows 20 of AD-003" in problem for problem in world.tally.problems)


def _world(tmp: str) -> World:
    return World(5, Path(tmp), cycles=1)


def test_the_checks_see_a_merchant_cell_changed_a_formula_and_a_secret() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = _world(tmp)
        world.check_merchant_cells()
        world.check_formulas()
        world.check_secrets()
        assert not world.tally.counts, world.tally.problems
        # what a buggy worker would do: write into a merchant column, a formula, a token
        world.sheets.set_values(world.sheet, "Inventory!C2", [["7"]])
        world.sheets.set_values(world.sheet, "Inventory!H2", [["=1+1"]])
        world.sheets.set_values(
            world.sheet, "Inventory!I2", [[world.secrets["woo_secret"]]], value_input_option="RAW"
        )
        world.check_merchant_cells()
        world.check_formulas()
        world.check_secrets()
        assert world.tally.counts["merchant_cells_changed"] == 1
        assert world.tally.counts["formulas_written"] == 1
        assert world.tally.counts["secrets_leaked"] >= 1


def test_the_ledger_check_counts_a_line_lost_and_a_line_doubled() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = _world(tmp)
        world.shopify.admin_set_available(adversary.SHOP, "AD-001", LOCATION, 10)
        order = world.shopify.place_order(adversary.SHOP, [("AD-001", 2)])
        world.orders.append(adversary.Order(adversary.SHOPIFY, order, world.clock()))
        world.check_ledger()
        assert world.tally.counts["lost"] == 2  # sold 2, the Ledger (absent) counts none
        short = order.rsplit("/", 1)[-1]
        header = ["Key", "Time", "Channel", "Order", "Line", "SKU", "Delta", "Movement"]
        row = [f"shopify/{short}/1", "t", "shopify", short, "1", "AD-001", "-2", "SALE"]
        world.sheets.add_sheet(world.sheet, SheetSpec("Ledger"))
        world.sheets.set_values(world.sheet, "Ledger!A1", [header, row, row], value_input_option="RAW")
        world.tally = adversary.Tally()
        world.check_ledger()
        assert world.tally.counts["doubled"] == 3  # the key twice, and 4 units counted for 2 sold
        assert world.tally.counts["lost"] == 0


def test_the_campaign_catches_a_key_printed_by_an_adapter() -> None:
    """Planted: the WooCommerce adapter names each request with query-string credentials, as its
    log line and its errors did before the fix (the key printed).  Seed 1 at 4 cycles: the secrets
    scan finds the key in the log.  (An error alone would not show: no WooCommerce call in seeds
    1-6 at 36 cycles exhausts its retries, so no adapter error reaches the log or the sheet.)"""
    init, attempt = WooCommerceChannel.__init__, WooCommerceChannel._attempt
    keys: dict[int, str] = {}

    def keeping(self: WooCommerceChannel, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        keys[id(self)] = f"consumer_key={kwargs['consumer_key']}&consumer_secret={kwargs['consumer_secret']}"

    def leaky(
        self: WooCommerceChannel, method: str, path: str, params: Any, body: Any
    ) -> tuple[httpx.Response, Any]:
        request = f"{method} {path}?{keys[id(self)]}"
        logging.getLogger("sheetsync.channels.woocommerce").debug("%s", request)
        try:
            return attempt(self, method, path, params, body)
        except SyncError as error:
            raise type(error)(f"{error} ({request})") from None

    with (
        mock.patch.object(WooCommerceChannel, "__init__", keeping),
        mock.patch.object(WooCommerceChannel, "_attempt", leaky),
    ):
        figures, world = run_seed(1, cycles=4)
    assert figures["secrets_leaked"] >= 1, world.tally.problems
    assert any(problem.startswith("secrets_leaked") and "log" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_pushed_level_never_read_back() -> None:
    """Planted: SKUs just pushed are not read back (``Watch.recent`` kept empty), as before the
    fix for the WooCommerce lost update: a sale racing our set leaves the channel above what we
    believe it shows, and our belief (the push less the sales since) says it is right, so it is
    never set again.  Seed 4 (36 cycles): Shopify shows 27 of AD-008 where 25 are left."""
    pushed = monitor.pushed

    def forgetting(*args: Any, **kwargs: Any) -> Watch:
        return dataclasses.replace(pushed(*args, **kwargs), recent={})

    with mock.patch.object(worker_module, "pushed", forgetting):
        figures, world = run_seed(4)
    assert figures["oversold_by_us"] >= 2, world.tally.problems
    assert any("shopify shows 27 of AD-008" in problem for problem in world.tally.problems)


def test_the_campaign_catches_order_edits_ignored() -> None:
    """Planted: the polled orders' current states are dropped (no EDIT rows), as before the fix
    for order edits.  Seed 7 at 8 cycles: a Shopify line edited up to 2 units counts 1."""
    new_entries = ledger.new_entries

    def no_edits(*args: Any, **kwargs: Any) -> Any:
        return new_entries(*args, **(kwargs | {"states": []}))

    with mock.patch.object(ledger, "new_entries", no_edits):
        figures, world = run_seed(7, cycles=8)
    assert figures["lost"] >= 1, world.tally.problems
    assert any(
        "shopify order 1000047 AD-003: sold 2, Ledger counts 1" in problem for problem in world.tally.problems
    )


def test_the_campaign_catches_a_lost_ledger_read_as_empty() -> None:
    """Planted: a missing Ledger is never called lost (``_lost`` says nothing), as before the fix:
    the renamed tab reads as empty, a new one is started, and the sales recorded in the old one
    are gone.  Seed 16 at 16 cycles: order lines lost, and the stuck state never alerted."""
    with mock.patch.object(worker_module, "_lost", return_value=""):
        figures, world = run_seed(16, cycles=16)
    assert figures["lost"] >= 1, world.tally.problems
    assert figures["unalerted_stuck_states"] >= 1, world.tally.problems


def test_the_campaign_catches_worker_values_written_into_a_column_inserted_mid_cycle() -> None:
    """Planted: the write places the worker's cells by the columns of the cycle's read, by A1, as
    before the fix (the critical overwrite of merchant cells).  Seed 16 (36 cycles): the merchant
    inserts a column inside a cycle, and 00123's Notes cell receives a quantity."""

    def by_the_read(self: GoogleSheetsStore, data: list[dict[str, Any]], tagged: Mapping[str, Any]) -> None:
        read = self._known_grid().columns[INVENTORY_SHEET]
        data = data + [
            {"range": f"'{INVENTORY_SHEET}'!{column_letter(read[name])}{row}", "values": [[value]]}
            for name, cells in tagged.items()
            for row, value in cells.items()
        ]
        self._http.values_batch_update(self.id, {"valueInputOption": "RAW", "data": data})

    with mock.patch.object(GoogleSheetsStore, "_write_through_tags", by_the_read):
        figures, world = run_seed(16)
    assert figures["merchant_cells_changed"] >= 1, world.tally.problems
    assert any("00123 Notes (row 14) holds 20" in problem for problem in world.tally.problems)


def test_the_campaign_catches_worker_cells_shifted_by_a_row_inserted_in_the_writes_round_trip() -> None:
    """Planted: no check of the rows after the write (``_settle_rows`` does nothing), as before the
    fix: a note row inserted while the cells are on their way shifts them a row, and the next
    cycle's volume guard takes the shifted Available column for a bad paste and holds every push.
    Seed 11 (36 cycles): the channels go on showing what was sold meanwhile, "(held)": Shopify
    shows 337 of AD-000 where 335 are left."""
    with mock.patch.object(GoogleSheetsStore, "_settle_rows", return_value=None):
        figures, world = run_seed(11)
    assert figures["oversold_by_us"] >= 1, world.tally.problems
    assert any("(held): shopify shows 337 of AD-000" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_row_left_lag_without_an_alert() -> None:
    """Planted: a channel showing less than we set waits for unseen sales for ever (never DRIFT,
    so never alerted or set back).  Seed 10 at 24 cycles: AD-010 says LAG for more than its
    channels' max_lag and two cycles with no alert; the code as it is holds (docs/fault-suite.md)."""
    observe = monitor.observe

    def waiting_for_ever(
        watch: Watch, believed: Mapping[Sku, int | None], *args: Any, **kwargs: Any
    ) -> tuple[Watch, dict[Sku, Finding]]:
        kept, findings = observe(watch, believed, *args, **kwargs)
        return kept, {
            sku: finding
            for sku, finding in findings.items()
            if sku in watch.pending
            or finding.kind is not FindingKind.DRIFT
            or finding.shown is None
            or finding.shown >= (believed.get(sku) or 0)
        }

    with mock.patch.object(worker_module, "observe", waiting_for_ever):
        figures, world = run_seed(10, cycles=24)
    assert figures["unalerted_stuck_states"] >= 1, world.tally.problems
    assert any("row AD-010 LAG" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_lease_kept_on_a_stepped_local_clock() -> None:
    """Planted: the lease is written and judged by the worker's own wall clock (before the fix,
    which uses Google's Date).  Seed 33 at 16 cycles: a worker whose clock was stepped writes while
    the lease it lost in true time is another's (on seed 2, as the campaign once stood, a second
    worker took over inside the first one's Ledger append and an order line went in twice)."""
    with mock.patch.object(GoogleSheetsStore, "_google_now", lambda self, now: now):
        figures, world = run_seed(33, cycles=16)
    assert figures["lease_violations"] >= 1, world.tally.problems
    assert any("holds the lease" in problem for problem in world.tally.problems)


def test_the_campaign_catches_woocommerce_refunds_counted_as_restocked() -> None:
    """Planted: every WooCommerce refund counts as put back in stock (before the fix, which counts
    them only when the channel says ``restock_refunds``).  Seed 2 (36 cycles): a refund whose
    buyer kept the goods hands the units back (``lost``: sold 2, the Ledger counts 1)."""
    init = WooCommerceChannel.__init__

    def restocking(self: WooCommerceChannel, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._restock_refunds = True

    with mock.patch.object(WooCommerceChannel, "__init__", restocking):
        figures, world = run_seed(2)
    assert figures["lost"] >= 1, world.tally.problems
    assert any("woo order 122 AD-008: sold 2, Ledger counts 1" in problem for problem in world.tally.problems)


def test_the_campaign_catches_an_unreadable_count_left_selling_its_old_figure() -> None:
    """Planted: a row whose Quantity cannot be read ("ten") holds nothing (before the fix, which
    holds its channels at its last good figure less the sales since).  Seed 1 at 24 cycles: AD-007's
    count typed over with a word, a sale, and WooCommerce goes on showing 30."""
    with mock.patch.object(plan, "_held", return_value=()):
        figures, world = run_seed(1, cycles=24)
    assert figures["oversold_by_us"] >= 1, world.tally.problems
    assert any("woo shows 30 of AD-007" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_best_seller_recount_held_by_the_volume_guard() -> None:
    """Planted: the volume guard trips when the units counted fall by more than ``max_drop`` (before
    the fix, which trips only on the shape of a bad paste).  Seed 17 at 33 cycles: the best seller
    AD-000 is recounted at 40, the guard holds every push, and the channels go on showing 390."""

    def on_units(parsed: Any, last: Any, max_drop: float, accept: bool, absorbed: Any = None) -> GuardVerdict:
        rows, total = len(parsed.rows), sum(row.count for row in parsed.rows)
        if last.guard_total is None or total >= last.guard_total * (1 - max_drop):
            return GuardVerdict(False, f"{rows} rows, {total} units", accept, rows, total)
        return GuardVerdict(
            not accept, f"{total} units counted (was {last.guard_total})", accept, rows, total
        )

    with mock.patch.object(worker_module, "volume_guard", on_units):
        figures, world = run_seed(17, cycles=33)
    assert figures["oversold_by_us"] >= 1, world.tally.problems
    assert any("(held): woo shows 390 of AD-000" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_sku_column_sheets_turns_into_numbers() -> None:
    """Planted: ``prepare`` leaves the SKU column's format alone (before the fix, which makes it
    Plain text), so the merchant's ``00123`` is kept as the number 123 and pushed as SKU "123".
    Seed 4 at 6 cycles: the platforms' 00123 is never set, and Shopify shows 9 where none is left."""
    with mock.patch.object(GoogleSheetsStore, "_format_columns", return_value=[]):
        figures, world = run_seed(4, cycles=6)
    assert figures["oversold_by_us"] >= 1, world.tally.problems
    assert any("shopify shows 9 of 00123" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_percentage_buffer_refused() -> None:
    """Planted: Buffers are not read again as shown (before the fix), so a ``10%`` Sheets keeps as
    0.1 reads as 0.1 units and the row is refused.  Seed 1 at 4 cycles: AD-002's valid Buffer
    flags its row (``valid_input_refused``)."""
    with mock.patch.object(GoogleSheetsStore, "_as_shown", return_value=True):
        figures, world = run_seed(1, cycles=4)
    assert figures["valid_input_refused"] >= 1, world.tally.problems
    assert any("row AD-002" in problem and "Buffer '0.1'" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_batch_that_always_fails() -> None:
    """Planted: a batch the site fails on is never halved (before the fix, which halves it until
    the product that causes it is found, flags that row and sends the rest).  Seed 22 at 14
    cycles: a WooCommerce plugin fails every save of a product, every batch holding it dies there
    cycle after cycle, its rows say nothing, and WooCommerce shows 21 of AD-001 where 3 are left
    (the channel's error is no excuse: no fault the campaign injected explains it)."""
    with mock.patch.object(worker_module, "_bisect", return_value=False):
        figures, world = run_seed(22, cycles=14)
    assert figures["oversold_by_us"] >= 1, world.tally.problems
    assert any("woo shows 21 of AD-001" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_refusal_nobody_is_told_of() -> None:
    """Planted: a channel refusing SKUs raises no incident (before the fix): the rows say ERROR
    and nobody is alerted.  Seed 22 at 14 cycles: WooCommerce refuses AD-001 for three cycles in a
    row with no alert."""
    conditions = incidents.conditions  # what the worker imported

    def untold(*args: Any) -> dict[str, str]:
        return {key: text for key, text in conditions(*args).items() if not key.startswith("refused:")}

    with mock.patch.object(worker_module, "conditions", untold):
        figures, world = run_seed(22, cycles=14)
    assert figures["unalerted_stuck_states"] >= 1, world.tally.problems
    assert any("woo refused AD-001 for 3 cycles" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_deleted_row_that_still_sells_unalerted() -> None:
    """Planted: SKUs selling with no row raise no alert (before the fix, which lists them on the
    Unmatched tab with one alert each).  Seed 5 at 14 cycles: the merchant deletes AD-009's row
    after it sold, and nobody is told within two cycles."""
    unmatched = reports.unmatched  # what the worker imported

    def silent(*args: Any) -> Any:
        return unmatched(*args)[0], {}

    with mock.patch.object(worker_module, "unmatched", silent):
        figures, world = run_seed(5, cycles=14)
    assert figures["unalerted_stuck_states"] >= 1, world.tally.problems
    assert any("AD-009 sold with no row" in problem for problem in world.tally.problems)
