"""The naive baseline: a sync written as a typical script would, on the same fakes.

It reads the sheet row by row (``worksheet.row_values(i)``: one ``values.get`` per row, as
``worksheet.cell()`` loops do) and updates each channel one SKU per call. It keeps no memory, so
a cycle with 1% changed costs what a full one does. To flatter it, the lookups it would need
(SKU → platform id) are handed to it for free and not counted, and it writes nothing back.

Calls per cycle are a formula: ``(N + 1)`` row reads (the header row, then one per SKU) plus
``N`` updates per channel. The wall time is measured in full on a ``sample`` of rows and, when
the catalogue is larger, extrapolated linearly to N (labelled as such).
"""

from __future__ import annotations

import json
import time
from typing import Any

from campaigns.platforms import LOCATION, SHEETS_EMAIL, key
from cycle import World
from progress import log

from sheetsync.channels.meta import availability as meta_availability
from sheetsync.model import INVENTORY_SHEET, Sku, StockLevel
from sheetsync.stores.google_sheets import connect


def naive_calls(skus: int, channels: int) -> int:
    """Calls one naive cycle makes: every row read alone, every SKU updated alone everywhere."""
    return (skus + 1) + skus * channels


#: Meta's Catalog Batch limit for one user, calls an hour per catalog (https://developers.facebook.com/docs/graph-api/overview/rate-limiting#catalog).
META_BATCH_PER_HOUR = 200
#: Google Sheets read requests a minute per user (https://developers.google.com/sheets/api/limits).
SHEETS_READS_PER_MINUTE = 60


def quota_floor_s(skus: int) -> float:
    """The least time the naive script's calls take under the APIs' rate limits (the slowest API)."""
    meta = skus / META_BATCH_PER_HOUR * 3600
    sheets = (skus + 1) / SHEETS_READS_PER_MINUTE * 60
    return max(meta, sheets)


def naive_cycle(world: World, sample: int) -> dict[str, Any]:
    """Run the naive script over the first ``sample`` rows; its calls and wall time, measured."""
    from sheetsync_fakes.wire import HandlerAdapter

    sheets = world.fakes["sheets"]
    client = connect(key(SHEETS_EMAIL), adapter=HandlerAdapter(sheets))
    worksheet = client.open_by_key(world.sheet).worksheet(INVENTORY_SHEET)
    shopify, meta, google, woo = world.channels
    shopify.map_skus([Sku(s) for s in world.skus[:sample]])  # the ids, for free (not counted)
    woo.map_skus([Sku(s) for s in world.skus[:sample]])
    google.refresh([Sku(s) for s in world.skus[:sample]])
    # Meta allows 200 items_batch calls an hour per catalog: a script sending one SKU a call
    # would wait hours (see quota_floor_s); lifted here so the script's own time can be measured.
    world.fakes["meta"].batch_calls_per_hour = 10**9
    marks = {api: len(fake.request_log) for api, fake in world.fakes.items()}
    log(f"naive baseline: {sample} rows, one call per row and per SKU per channel...")
    started = time.perf_counter()
    worksheet.row_values(1)  # the header
    for row in range(2, sample + 2):
        sku, quantity = worksheet.row_values(row)[:2]
        level = StockLevel(Sku(str(sku)), int(quantity), None)
        shopify_level = StockLevel(level.sku, level.quantity, _shopify_shows(world, level.sku))
        shopify.push([shopify_level])
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
    calls = {api: len(fake.request_log) - marks[api] for api, fake in world.fakes.items()}
    return {"rows": sample, "calls": calls, "api_calls": sum(calls.values()), "wall_s": wall}


def _shopify_shows(world: World, sku: str) -> int:
    """What Shopify shows now (the compare-and-set baseline a script would read; not counted)."""
    fake = world.fakes["shopify"]
    with fake._lock:  # read from the platform's side, unlogged
        shop = next(iter(fake._shops.values()))
        level = shop.levels.get((world.ids["shopify"][sku], shop.location(LOCATION).gid))
        return 0 if level is None else int(level.available)
