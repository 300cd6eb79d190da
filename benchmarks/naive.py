"""The naive baselines: a sync written as a script would, on the same fakes.

- **Strawman**: reads the sheet row by row (``worksheet.row_values(i)``: one ``values.get`` per
  row, as ``worksheet.cell()`` loops do) and updates each channel one SKU per call, every SKU,
  every cycle: ``(N + 1)`` row reads plus ``N`` updates per channel, whatever changed.
- **Fair**: one bulk read of the sheet (``worksheet.get_all_values()``: one ``values.get``), then
  one call per SKU and channel for the SKUs whose quantity changed since its last run (it keeps
  the last values it pushed): ``1 + k`` calls per channel for ``k`` changed SKUs; its first run
  pushes all ``N``. Meta gets one item update per SKU (Catalog Management), not an
  ``items_batch`` per SKU.

Neither reads orders or writes anything back, and both are handed the lookups they need (SKU →
platform id) for free, uncounted. Calls per cycle are formulas, checked against the fakes' logs
on a ``sample`` of rows; wall times are measured on the sample and, when the catalogue is larger,
extrapolated linearly (labelled as such).
"""

from __future__ import annotations

import json
import time
from typing import Any

from campaigns.platforms import LOCATION, SHEETS_EMAIL, key
from cycle import (
    META_BATCH_PER_HOUR,
    META_MANAGEMENT_PER_HOUR,
    SHEETS_PER_MINUTE,
    SHOPIFY_POINTS_PER_S,
    World,
)
from progress import log

from sheetsync.channels.meta import availability as meta_availability
from sheetsync.model import INVENTORY_SHEET, Sku, StockLevel
from sheetsync.stores.google_sheets import connect


def naive_calls(skus: int, channels: int) -> int:
    """Calls one strawman cycle makes: every row read alone, every SKU updated alone everywhere."""
    return (skus + 1) + skus * channels


def fair_calls(changed: int, channels: int) -> int:
    """Calls one fair cycle makes: one bulk read, then each changed SKU updated alone everywhere."""
    return 1 + changed * channels


def quota_floor_s(sheet_reads: int, skus: int, shopify_points: float, meta_batch: bool) -> float:
    """The least time a cycle of one call per SKU takes under the APIs' rate limits (the slowest).

    Merchant's quota is dynamic, and WooCommerce has none: neither is counted.
    """
    meta_per_hour = META_BATCH_PER_HOUR if meta_batch else META_MANAGEMENT_PER_HOUR
    return max(
        sheet_reads / SHEETS_PER_MINUTE * 60,
        skus * shopify_points / SHOPIFY_POINTS_PER_S,
        skus / meta_per_hour * 3600,
    )


def _worksheet(world: World) -> Any:
    client = connect(key(SHEETS_EMAIL), adapter=_adapter(world))
    return client.open_by_key(world.sheet).worksheet(INVENTORY_SHEET)


def _adapter(world: World) -> Any:
    from sheetsync_fakes.wire import HandlerAdapter

    return HandlerAdapter(world.fakes["sheets"])


def _free_lookups(world: World, skus: list[Sku]) -> None:
    """The platform ids each channel needs for ``skus``, looked up before the clock starts."""
    shopify, meta, google, woo = world.channels
    shopify.map_skus(skus)
    woo.map_skus(skus)
    google.refresh(skus)
    meta.read_levels(skus)  # fills the SKU → product item id map that item updates use
    # Meta allows 200 items_batch calls an hour per catalog: a strawman sending one SKU a call
    # would wait hours (see quota_floor_s); lifted so that the script's own time can be measured.
    world.fakes["meta"].batch_calls_per_hour = 10**9


def naive_cycle(world: World, sample: int) -> dict[str, Any]:
    """Run the strawman over the first ``sample`` rows; its calls and wall time, measured."""
    worksheet, marks = _begin(world, sample)
    shopify, meta, google, woo = world.channels
    log(f"strawman baseline: {sample} rows, one call per row and per SKU per channel...")
    started = time.perf_counter()
    worksheet.row_values(1)  # the header
    for row in range(2, sample + 2):
        sku, quantity = worksheet.row_values(row)[:2]
        level = StockLevel(Sku(str(sku)), int(quantity), None)
        shopify.push([StockLevel(level.sku, level.quantity, _shopify_shows(world, level.sku))])
        meta._request(  # one items_batch per SKU, no status polling
            "POST",
            "items_batch",
            data={
                "item_type": "PRODUCT_ITEM",
                "requests": json.dumps(
                    [
                        {
                            "method": "UPDATE",
                            "data": {
                                "id": level.sku,
                                "quantity_to_sell_on_facebook": level.quantity,
                                "availability": meta_availability(level.quantity),
                            },
                        }
                    ]
                ),
            },
        )
        google._patch(level.sku, "IN_STOCK" if level.quantity > 0 else "OUT_OF_STOCK")
        woo.push([level])
    wall = time.perf_counter() - started
    return _measured(world, marks, sample, wall)


def fair_cycle(world: World, sample: int) -> dict[str, Any]:
    """Run the fair script's bulk read, then its per-SKU updates of ``sample`` SKUs, timed apart."""
    worksheet, marks = _begin(world, sample)
    shopify, meta, google, woo = world.channels
    log(f"fair baseline: one bulk read, then {sample} SKUs one call per SKU per channel...")
    started = time.perf_counter()
    rows = worksheet.get_all_values()  # one values.get of the whole tab
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    for sku, quantity, *_ in rows[1 : sample + 1]:
        level = StockLevel(Sku(str(sku)), int(quantity), None)
        shopify.push([StockLevel(level.sku, level.quantity, _shopify_shows(world, level.sku))])
        meta.push_now([level])  # one item update (Catalog Management)
        google._patch(level.sku, "IN_STOCK" if level.quantity > 0 else "OUT_OF_STOCK")
        woo.push([level])
    measured = _measured(world, marks, sample, time.perf_counter() - started)
    return measured | {"read_s": read_s, "per_sku_s": measured["wall_s"] / sample}


def _begin(world: World, sample: int) -> tuple[Any, dict[str, int]]:
    """The Inventory worksheet, lookups free for ``sample`` SKUs, and each fake's log so far."""
    worksheet = _worksheet(world)
    _free_lookups(world, [Sku(s) for s in world.skus[:sample]])
    return worksheet, {api: len(fake.request_log) for api, fake in world.fakes.items()}


def _measured(world: World, marks: dict[str, int], sample: int, wall: float) -> dict[str, Any]:
    """The calls since ``marks`` per API, and Shopify's points per SKU (one set each)."""
    calls = {api: len(fake.request_log) - marks[api] for api, fake in world.fakes.items()}
    points = sum(
        entry.actual_cost or entry.requested_cost or 0
        for entry in world.fakes["shopify"].request_log[marks["shopify"] :]
    )
    return {
        "rows": sample,
        "calls": calls,
        "api_calls": sum(calls.values()),
        "wall_s": wall,
        "shopify_points_per_sku": points / sample,
    }


def _shopify_shows(world: World, sku: str) -> int:
    """What Shopify shows now (the compare-and-set baseline a script would read; not counted)."""
    fake = world.fakes["shopify"]
    with fake._lock:  # read from the platform's side, unlogged
        shop = next(iter(fake._shops.values()))
        level = shop.levels.get((world.ids["shopify"][sku], shop.location(LOCATION).gid))
        return 0 if level is None else int(level.available)
