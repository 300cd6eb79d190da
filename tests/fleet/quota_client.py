"""One worker process's requests for the shared-quota tests: ``quota_client.py KIND URL MODE COUNT``.

KIND ``emag`` pushes offers (COUNT pushes), ``airtable`` lists a base's table and ``sheets`` reads
a spreadsheet (COUNT requests), each through the real adapter on the fake at URL. MODE ``shared``
paces through the fleet's Redis allowances, ``local`` through the process's own. Every process
waits on the same start signal in Redis, so that all of them send at once.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

from google.auth.transport.requests import AuthorizedSession, Request
from redis import Redis

from sheetsync.channels.emag import EmagChannel
from sheetsync.fleet.quotas import RedisQuotas
from sheetsync.model import ChannelName, Sku, StockLevel
from sheetsync.pacing import Quotas
from sheetsync.stores import airtable, google_sheets


def emag(url: str, quotas: Quotas | None) -> Callable[[], None]:
    channel = EmagChannel(
        ChannelName("emag"),
        site="ro",
        username=os.environ["EMAG_USER"],
        password=os.environ["EMAG_PASSWORD"],
        base_url=url,
        quotas=quotas,
    )

    def push() -> None:
        results = channel.push([StockLevel(Sku("1"), 5), StockLevel(Sku("2"), 5)])
        assert all(result.ok for result in results), results

    return push


def airtable_list(url: str, quotas: Quotas | None) -> Callable[[], None]:
    base = os.environ["AIRTABLE_BASE"]
    api, _ = airtable.connect(os.environ["AIRTABLE_TOKEN"], base=base, base_url=url, quotas=quotas)
    table = api.table(base, "Inventory")

    def list_records() -> None:
        table.all()  # one request: the table holds fewer records than a page

    return list_records


def sheets_read(url: str, quotas: Quotas | None) -> Callable[[], None]:
    client = google_sheets.connect(
        json.loads(os.environ["SHEETS_KEY"]), base_url=url, quotas=quotas or Quotas()
    )
    session = client.http_client.session
    assert isinstance(session, AuthorizedSession)  # connect() signs the client in with one
    session.credentials.refresh(Request())  # signed in before the start
    sheet = os.environ["SHEETS_ID"]

    def read() -> None:
        client.http_client.values_get(sheet, "Inventory!A1")

    return read


KINDS = {"emag": emag, "airtable": airtable_list, "sheets": sheets_read}


def main(kind: str, url: str, mode: str, count: int) -> None:
    # It waits up to 60 s on blpop: redis-py 8 reads with a 5 s socket timeout unless told not to.
    shared = Redis.from_url(os.environ["SHEETSYNC_REDIS_URL"], socket_timeout=None)
    prefix = os.environ["SHEETSYNC_FLEET_PREFIX"]
    send = KINDS[kind](url, RedisQuotas(shared, prefix) if mode == "shared" else None)
    shared.rpush(prefix + "ready", os.getpid())
    shared.blpop([prefix + "go"], timeout=60)
    for _ in range(count):
        send()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
