"""One worker process's eMAG pushes for the shared-quota test: ``quota_client.py URL MODE PUSHES``.

MODE ``shared`` paces through the fleet's Redis allowance, ``local`` through the adapter's own.
Every process waits on the same start signal in Redis, so that all of them push at once.
"""

from __future__ import annotations

import os
import sys

from redis import Redis

from sheetsync.channels.emag import EmagChannel
from sheetsync.fleet.quotas import RedisQuotas
from sheetsync.model import ChannelName, Sku, StockLevel


def main(url: str, mode: str, pushes: int) -> None:
    shared = Redis.from_url(os.environ["SHEETSYNC_REDIS_URL"])
    prefix = os.environ["SHEETSYNC_FLEET_PREFIX"]
    channel = EmagChannel(
        ChannelName("emag"),
        site="ro",
        username=os.environ["EMAG_USER"],
        password=os.environ["EMAG_PASSWORD"],
        base_url=url,
        quotas=RedisQuotas(shared, prefix) if mode == "shared" else None,
    )
    shared.rpush(prefix + "ready", os.getpid())
    shared.blpop([prefix + "go"], timeout=60)
    for _ in range(pushes):
        results = channel.push([StockLevel(Sku("1"), 5), StockLevel(Sku("2"), 5)])
        assert all(result.ok for result in results), results
    channel.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
