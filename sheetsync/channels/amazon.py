"""Amazon Selling Partner API: merchant-fulfilled quantities out, merchant-fulfilled orders in.

Every call goes to the region's SP-API host (``https://sellingpartnerapi-na.amazon.com``, ``-eu``,
``-fe``) with an LWA access token in the ``x-amz-access-token`` header. What the adapter
guarantees (the facts it follows are kept in
``sheetsync_fakes/reference/marketplaces/amazon-sp-api/``; see docs/api-notes.md):

- **Sign-in (LWA).** The app's client id and secret and the seller's refresh token are exchanged
  at ``https://api.amazon.com/auth/o2/token`` (form fields ``grant_type=refresh_token``,
  ``refresh_token``, ``client_id``, ``client_secret``) for an access token, kept until 30 s
  before ``expires_in`` runs out (1800 s when the answer leaves it out), as Amazon's reference
  client does. LWA's error codes (``invalid_grant``, ``invalid_client`` …) are permanent and
  named; the secrets never are.
- **SKUs.** An Amazon listing is keyed by the seller's SKU. Writing stock needs the listing's
  product type, and an FBA listing's stock is Amazon's to count, so a push first knows each SKU
  through ``searchListingsItems`` (20 SKUs a call, ``identifiers`` with ``identifiersType=SKU``,
  ``includedData=summaries,fulfillmentAvailability``). What it learns is cached, and every
  :meth:`AmazonChannel.read_levels` refreshes it. A SKU Amazon does not list in the marketplace
  is refused in its row; an FBA SKU (its ``fulfillmentAvailability`` names an ``AMAZON_*``
  channel and no ``DEFAULT``) is refused in its row with a message saying Amazon counts it.
- **Pushes.** At most :data:`PATCH_MAX` SKUs (the ``patchListingsItem`` burst, 5) are patched one
  by one: ``replace /attributes/fulfillment_availability`` with ``[{"fulfillment_channel_code":
  "DEFAULT", "quantity": n}]``. That costs one call a SKU, fits the burst (no wait), answers at
  once, and leaves the scarce feed submissions for large pushes. An answer 200 with ``status:
  INVALID`` is a refusal naming its ERROR issues; a 400 refuses that SKU only. More SKUs go in
  one ``JSON_LISTINGS_FEED`` (up to 25,000 messages, ``limits.max_batch``): createFeedDocument,
  the document PUT to its presigned URL (no token sent there), createFeed, getFeed polled on the
  injected clock until DONE, FATAL or CANCELLED, then getFeedDocument and the processing report,
  whose ERROR issues refuse their SKUs (by ``messageId``). A push of n SKUs costs n patches, or
  ``4 + polls`` SP-API calls and two document transfers per 25,000 SKUs.
- **Feeds still processing.** A feed not finished after ``settle_s`` leaves its SKUs ``ok`` with
  a message starting ``LAG:``; the next push polls it again, and an error found then is reported
  on that SKU's next push (:attr:`AmazonChannel.late_errors`).
- **Pacing.** Each operation has its own token bucket with the rate and burst of the models'
  usage plans (:data:`USAGE_PLANS`; a seller may be granted more: pass ``usage_plans``), and
  JSON_LISTINGS_FEED submissions are kept to 5 in any 5 minutes (Amazon's limit for that feed
  type). A wait longer than :data:`sheetsync.retry.MAX_WAIT_S` is not slept through: the call
  fails as transient and the next cycle tries again. A 429 (``QuotaExceeded``, with no
  Retry-After) empties that bucket and waits for one token, per retry.py.
- **Orders.** ``searchOrders`` of the Orders API 2026-01-01 (v0 is deprecated and ends on
  2027-03-27) with ``lastUpdatedAfter`` = the cursor less an overlap, ``fulfilledBy=MERCHANT``
  (Amazon's own stock is Amazon's), ``includedData=FULFILLMENT,CANCELLATION``, 100 a page,
  following ``pagination.nextToken`` with every other parameter repeated. Order items come with
  each order. Cursors are ``<UTC lastUpdatedTime>#<zero-padded order id>``, the form of
  ``core.ledger.start_cursor``.
- **What holds stock.** Orders in PENDING_AVAILABILITY, PENDING, UNSHIPPED, PARTIALLY_SHIPPED and
  SHIPPED: each item is a SALE of ``quantityOrdered``, line id = ``orderItemId``. A CANCELLED
  order: the SALEs and a RESTOCK ``<item>-cancel`` each (a pair that nets to zero when the order
  was never counted). An item cancelled inside a live order (its ``cancellation`` shows a
  ``cancellationExecution``) takes 0 units in the order's :class:`~sheetsync.model.OrderState`,
  from which the core writes the EDIT. Every order read gives its state.
- **Odd quantities.** A ``quantityOrdered`` that is not a whole number of at least 1 (on an item
  not cancelled) is an :class:`~sheetsync.model.OddLine`, never counted.
- **Not covered:** customer returns (neither Orders model shows them), prices, FBA quantities
  (read only), several marketplaces in one channel.
- **Secrets.** The client secret and refresh token travel only in the LWA form body, the access
  token only in its header; messages, logs and exceptions name the seller and the marketplace.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from sheetsync import retry
from sheetsync.channels import _http, refuse_oversized
from sheetsync.errors import ConfigError, PermanentError, TransientError
from sheetsync.model import (
    ChannelLimits,
    ChannelName,
    Movement,
    OddLine,
    OrderBatch,
    OrderLine,
    OrderState,
    PushOutcome,
    Sku,
    StockLevel,
)
from sheetsync.pacing import Allowance, Pacer, Quotas, Spending

logger = logging.getLogger(__name__)

Json = Any  # a decoded JSON value; shapes are checked where they are read

#: SP-API hosts per region (Amazon's reference client).
REGIONS: Mapping[str, str] = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
#: Login with Amazon's token endpoint.
LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"  # noqa: S105 - a URL, not a password
#: The models' default usage plans: operation → (requests a second, burst).
USAGE_PLANS: Mapping[str, tuple[float, int]] = {
    "searchListingsItems": (5.0, 5),
    "getListingsItem": (5.0, 10),
    "patchListingsItem": (5.0, 5),
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    "searchOrders": (0.0056, 20),
}
#: JSON_LISTINGS_FEED submissions: at most this many in any this many seconds (per region).
FEED_SUBMISSIONS = (5, 300.0)
#: Messages a JSON_LISTINGS_FEED takes (25,000 since the 2026-01-22 schema; 10,000 before).
MAX_FEED_MESSAGES = 25_000
#: Up to this many SKUs are patched one by one (the patchListingsItem burst); more go in a feed.
PATCH_MAX = 5
#: SKUs per searchListingsItems call (``identifiers`` takes at most 20).
SEARCH_BATCH = 20
#: Orders per searchOrders page (``maxResultsPerPage`` at most 100).
ORDERS_PER_PAGE = 100
#: LWA: the lifetime assumed when ``expires_in`` is missing, and how early a token is renewed.
TOKEN_FALLBACK_S = 1800.0
TOKEN_EARLY_S = 30.0
#: How far before the cursor orders are read again: equal timestamps, late commits.
ORDERS_OVERLAP = timedelta(minutes=10)
#: Feed polling: first poll after this many seconds, then doubling up to the maximum.
FEED_FIRST_POLL_S = 60.0
FEED_POLL_MAX_S = 120.0
#: How long a push waits for its feed before leaving it open (LAG) for the next push.
SETTLE_S = 600.0
#: An open feed not finished after this long is given up on (its SKUs are reported unconfirmed).
FEED_GIVE_UP_S = 6 * 3600.0
#: Where merchant-fulfilled stock lives in ``fulfillment_availability``.
DEFAULT_CHANNEL = "DEFAULT"
#: The feed document's content type.
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
#: Fulfilment statuses whose items hold stock; CANCELLED puts it back.
HOLDING = frozenset({"PENDING_AVAILABILITY", "PENDING", "UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"})
CANCELLED = "CANCELLED"
#: When no cursor is given: Amazon returns orders of the last two years.
HISTORY = timedelta(days=730)

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_ID_WIDTH = 20  #: order ids are zero-padded in cursors, like the other channels'
_DONE = frozenset({"DONE", "FATAL", "CANCELLED"})


def order_cursor(modified: datetime, order_id: str) -> str:
    """A cursor that sorts in time order, ties broken by order id: ``2026-03-01T10:00:00Z#0123-…``."""
    return f"{modified.astimezone(UTC).strftime(_TIME_FORMAT)}#{order_id.zfill(_ID_WIDTH)}"


def _cursor_time(cursor: str) -> datetime:
    try:
        return datetime.strptime(cursor.partition("#")[0], _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise PermanentError(
            f"Amazon order cursor {cursor!r} is not a time like 2026-03-01T10:00:00Z"
        ) from None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _parse_time(text: Json) -> datetime | None:
    """An ISO 8601 time from Amazon (``2024-12-25T10:30:00Z``, with or without fractions)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _whole(value: Json) -> int | None:
    """A quantity as a whole number (``2``, ``2.0``); None for ``1.5``, text, null, true."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _errors(body: Json) -> str:
    """What an SP-API ErrorList (or LWA error) says, as one line: ``QuotaExceeded: You exceeded…``."""
    if not isinstance(body, dict):
        return ""
    said = []
    for error in body.get("errors") or ():
        if isinstance(error, dict):
            text = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
            if error.get("details"):
                text += f" ({error['details']})"
            said.append(text)
    return "; ".join(said)


def _issues(issues: Json) -> str:
    """The ERROR issues of a listings answer or a processing report, as one line."""
    said = [
        f"{issue.get('code', '')} {issue.get('message', '')}".strip()
        for issue in issues or ()
        if isinstance(issue, dict) and issue.get("severity") == "ERROR"
    ]
    return "; ".join(dict.fromkeys(said))


@dataclass(frozen=True, slots=True)
class Listing:
    """What a push needs to know of one SKU's listing in the marketplace."""

    product_type: str
    fba: bool  #: fulfilled by Amazon: its stock is Amazon's count, never pushed
    quantity: int | None  #: what ``fulfillmentAvailability`` shows (None: never stocked)


@dataclass(slots=True)
class _OpenFeed:
    feed_id: str
    skus: dict[int, Sku]  #: messageId → SKU
    since: float


@dataclass(slots=True)
class _Read:
    lines: list[OrderLine] = field(default_factory=list)
    odd: list[OddLine] = field(default_factory=list)


class AmazonChannel:
    """One seller's merchant-fulfilled offers in one Amazon marketplace, as a Channel and an OrderSource.

    Args:
        name: the channel's name in the sheet and the ledger.
        region: ``na``, ``eu`` or ``fe``: the SP-API host of the marketplace's region.
        marketplace_id: the marketplace (``ATVPDKIKX0DER`` for amazon.com …).
        seller_id: the seller's id (merchant token), as listings and feeds take it.
        client_id: the SP-API app's LWA client id.
        client_secret: its client secret; only ever sent, never shown.
        refresh_token: the refresh token the seller's authorization gave; only ever sent.
        patch_max: pushes of at most this many SKUs are patched one by one, larger ones go in a feed.
        settle_s: how long a push waits for its feed to be processed.
        feed_first_poll_s: when the first getFeed is made after createFeed.
        max_feed_messages: messages per feed (``limits.max_batch``).
        usage_plans: operation → (rate, burst) where the seller's plan differs from the models'.
        base_url: where the SP-API is, instead of the region's host (the local fake).
        token_url: where LWA is (the local fake).
        client: an httpx client to send with; else one is made with ``transport``. The adapter
            closes only a client it made.
        sleep: how to wait (pacing, polling, retries); tests pass one that moves a fake clock.
        clock: seconds on a monotonic clock (pacing, token expiry, polling).
        now: the time now, for the first order read without a cursor.
        overlap: how far before the cursor orders are read again.
        quotas: where the seller's request allowances are kept (shared across workers by
            ``sheetsync.fleet``); by default, in this adapter.

    Raises:
        ConfigError: an unknown region, an empty id, or a ``patch_max`` / ``max_feed_messages``
            out of range.
    """

    def __init__(
        self,
        name: ChannelName,
        *,
        region: str,
        marketplace_id: str,
        seller_id: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        patch_max: int = PATCH_MAX,
        settle_s: float = SETTLE_S,
        feed_first_poll_s: float = FEED_FIRST_POLL_S,
        max_feed_messages: int = MAX_FEED_MESSAGES,
        usage_plans: Mapping[str, tuple[float, int]] | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        overlap: timedelta = ORDERS_OVERLAP,
        quotas: Quotas | None = None,
    ) -> None:
        if region not in REGIONS:
            raise ConfigError(f"Amazon region {region!r} is not one of {', '.join(REGIONS)}")
        for what, value in (("marketplace_id", marketplace_id), ("seller_id", seller_id)):
            if not value.strip():
                raise ConfigError(f"Amazon {what} is empty")
        if not 0 <= patch_max <= 5 * PATCH_MAX:
            raise ConfigError(f"Amazon patch_max must be 0..{5 * PATCH_MAX}, not {patch_max}")
        if not 1 <= max_feed_messages <= MAX_FEED_MESSAGES:
            raise ConfigError(
                f"Amazon max_feed_messages must be 1..{MAX_FEED_MESSAGES}, not {max_feed_messages}"
            )
        self.name = name
        self.limits = ChannelLimits(max_batch=max_feed_messages, typical_lag_s=feed_first_poll_s)
        self.region = region
        self.marketplace_id = marketplace_id
        self.seller_id = seller_id
        self.patch_max = patch_max
        self._root = (base_url or REGIONS[region]).rstrip("/")
        self._token_url = token_url or LWA_TOKEN_URL
        self._login = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._who = f"Amazon seller {seller_id} ({marketplace_id})"
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, timeout=httpx.Timeout(30.0, connect=10.0))
        self._sleep, self._clock, self._now = sleep, clock, now
        self._settle_s, self._first_poll_s = settle_s, feed_first_poll_s
        self._overlap = overlap
        plans = {**USAGE_PLANS, **(usage_plans or {})}
        quotas = quotas or Quotas()
        # Usage plans count per selling partner and operation; feed submissions per seller and region.
        account = f"amazon:{region}:{seller_id}"
        self._plans = plans
        self._buckets: dict[str, Pacer] = {
            op: quotas.token_bucket(f"{account}:{op}", rate, burst, clock, sleep)
            for op, (rate, burst) in plans.items()
        }
        self._submissions = quotas.window(f"{account}:feeds", *FEED_SUBMISSIONS, clock, sleep)
        self._token: str | None = None
        self._token_until = 0.0
        self._listings: dict[Sku, Listing] = {}
        self._open: list[_OpenFeed] = []
        #: SKU → why Amazon refused it after its push returned (reported on its next push)
        self.late_errors: dict[Sku, str] = {}
        self.calls: dict[str, int] = {}  #: SP-API requests sent, per operation (for benchmarks)
        self._spending = Spending()  # the same, since the worker last asked
        # line key → (line cursor, cursor of the first call that delivered it); see orders_since
        self._delivered: dict[str, tuple[str, str]] = {}

    def close(self) -> None:
        """Close the HTTP client if this adapter made it."""
        if self._owns_client:
            self._client.close()

    # -- Metered --

    def allowances(self) -> Sequence[Allowance]:
        """Each operation's usage plan: its restore rate."""
        return tuple(
            Allowance(operation, f"{operation} calls", rate, f"{rate:g} a second")
            for operation, (rate, _) in self._plans.items()
        )

    def take_spent(self) -> Mapping[str, int]:
        """SP-API requests sent since the last call, by operation."""
        return self._spending.take()

    # -- Channel --

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Set the merchant-fulfilled quantity of each SKU; one outcome per level.

        ``expected`` is not enforced: Amazon has no conditional write. A sale that lands between
        our read and our write still reaches the ledger through the orders.

        Raises:
            PermanentError: more than ``limits.max_batch`` levels, refused credentials or access.
            TransientError: Amazon unreachable, failing or throttling after every retry.
        """
        refuse_oversized(self.name, self.limits, len(levels))
        if self._open:
            self._check_open()
        refused: dict[Sku, str] = {}
        wanted: dict[Sku, int] = {}  # the last level of a SKU wins
        for level in levels:
            if level.quantity < 0:
                refused[level.sku] = (
                    f"{level.quantity} units for SKU {level.sku} not sent: Amazon takes 0 or more"
                )
            else:
                wanted[level.sku] = level.quantity
                refused.pop(level.sku, None)
        listings = self._know(wanted)
        sendable: dict[Sku, tuple[str, int]] = {}
        for sku, quantity in wanted.items():
            listing = listings.get(sku)
            if listing is None:
                refused[sku] = f"Amazon lists no SKU {sku} in marketplace {self.marketplace_id}"
            elif listing.fba:
                refused[sku] = (
                    f"SKU {sku} is fulfilled by Amazon (FBA): Amazon counts its stock, so sheetsync "
                    "reads it but never pushes it; take it off this channel or make the offer "
                    "merchant-fulfilled"
                )
            else:
                sendable[sku] = (listing.product_type, quantity)
        lagging: dict[Sku, str] = {}
        if 0 < len(sendable) <= self.patch_max:
            for sku, (product_type, quantity) in sendable.items():
                verdict = self._patch(sku, product_type, quantity)
                if verdict is not None:
                    refused[sku] = verdict
        elif sendable:
            done, verdicts, feed_id = self._feed(sendable)
            refused.update(verdicts)
            if not done:
                lagging = {
                    sku: f"LAG: Amazon accepted feed {feed_id} for SKU {sku} but has not processed it yet"
                    for sku in sendable
                    if sku not in verdicts
                }
        outcomes = [self._outcome(level.sku, refused, lagging) for level in levels]
        if levels:
            logger.info("%s: set %d of %d quantities", self.name, sum(o.ok for o in outcomes), len(outcomes))
        return outcomes

    def _outcome(self, sku: Sku, refused: Mapping[Sku, str], lagging: Mapping[Sku, str]) -> PushOutcome:
        if sku in refused:
            self.late_errors.pop(sku, None)  # this push's own refusal is the fresher word
            return PushOutcome(sku, False, refused[sku])
        late = self.late_errors.pop(sku, None)
        if late is not None:
            return PushOutcome(sku, False, f"an earlier push failed after it returned: {late}")
        return PushOutcome(sku, True, lagging.get(sku, ""))

    def read_levels(self, skus: Collection[Sku]) -> Mapping[Sku, int]:
        """The quantity each listing shows: merchant-fulfilled (DEFAULT), or Amazon's count for FBA.

        SKUs Amazon does not list, and listings never stocked, are absent.
        """
        found = self._search(list(dict.fromkeys(skus)))
        return {sku: listing.quantity for sku, listing in found.items() if listing.quantity is not None}

    def map_skus(self, skus: Collection[Sku]) -> Mapping[Sku, str]:
        """SKU → product type of the listings Amazon has, looked up once and cached (a warm-up)."""
        return {sku: listing.product_type for sku, listing in self._know(skus).items()}

    def _know(self, skus: Collection[Sku]) -> dict[Sku, Listing]:
        missing = [sku for sku in skus if sku not in self._listings]
        if missing:
            self._search(missing)
        return {sku: self._listings[sku] for sku in skus if sku in self._listings}

    def _search(self, skus: Sequence[Sku]) -> dict[Sku, Listing]:
        """``searchListingsItems`` by SKU, 20 a call (a SKU with a comma: ``getListingsItem``)."""
        found: dict[Sku, Listing] = {}
        plain = [sku for sku in skus if "," not in sku and sku.strip()]
        for start in range(0, len(plain), SEARCH_BATCH):
            chunk = plain[start : start + SEARCH_BATCH]
            params = {
                "marketplaceIds": self.marketplace_id,
                "identifiers": ",".join(chunk),
                "identifiersType": "SKU",
                "includedData": "summaries,fulfillmentAvailability",
                "pageSize": str(SEARCH_BATCH),
            }
            answer = self._call(
                "searchListingsItems", "GET", f"/listings/2021-08-01/items/{self._seller}", params
            )
            for item in answer.get("items") or ():
                self._learn(item, set(chunk), found)
        for sku in skus:
            if "," in sku:
                params = {
                    "marketplaceIds": self.marketplace_id,
                    "includedData": "summaries,fulfillmentAvailability",
                }
                path = f"/listings/2021-08-01/items/{self._seller}/{quote(sku, safe='')}"
                answer = self._call("getListingsItem", "GET", path, params, accept=(200, 404))
                if answer:
                    self._learn(answer, {sku}, found)
        for sku in skus:
            if sku not in found:
                self._listings.pop(sku, None)
        return found

    def _learn(self, item: Json, asked: set[Sku], found: dict[Sku, Listing]) -> None:
        if not isinstance(item, dict) or item.get("sku") not in asked:
            return
        sku = Sku(item["sku"])
        summaries = [
            s
            for s in item.get("summaries") or ()
            if isinstance(s, dict) and s.get("marketplaceId") == self.marketplace_id
        ]
        if not summaries:
            return  # listed in other marketplaces only
        channels: dict[str, int | None] = {}
        for entry in item.get("fulfillmentAvailability") or ():
            if isinstance(entry, dict) and isinstance(entry.get("fulfillmentChannelCode"), str):
                channels[entry["fulfillmentChannelCode"]] = _whole(entry.get("quantity"))
        fba = DEFAULT_CHANNEL not in channels and any(code.startswith("AMAZON") for code in channels)
        quantity = channels.get(DEFAULT_CHANNEL)
        if fba:
            counts = [q for code, q in channels.items() if code.startswith("AMAZON") and q is not None]
            quantity = sum(counts) if counts else None
        listing = Listing(str(summaries[0].get("productType") or ""), fba, quantity)
        found[sku] = self._listings[sku] = listing

    @property
    def _seller(self) -> str:
        return quote(self.seller_id, safe="")

    # -- the two ways to write stock --

    @staticmethod
    def _patches(quantity: int) -> list[Json]:
        return [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": DEFAULT_CHANNEL, "quantity": quantity}],
            }
        ]

    def _patch(self, sku: Sku, product_type: str, quantity: int) -> str | None:
        """``patchListingsItem``; the refusal text, or None when Amazon accepted it."""
        path = f"/listings/2021-08-01/items/{self._seller}/{quote(sku, safe='')}"
        params = {"marketplaceIds": self.marketplace_id, "includedData": "issues"}
        body = {"productType": product_type, "patches": self._patches(quantity)}
        answer, status = self._call_status(
            "patchListingsItem", "PATCH", path, params, body, accept=(200, 400)
        )
        if status == 400:
            return f"Amazon refused SKU {sku}: {_errors(answer) or 'HTTP 400'}"
        if not isinstance(answer, dict) or answer.get("status") != "ACCEPTED":
            state = answer.get("status") if isinstance(answer, dict) else None
            issues = _issues(answer.get("issues")) if isinstance(answer, dict) else ""
            return f"Amazon refused SKU {sku} ({state}): {issues or 'no reason given'}"
        return None

    def _feed(self, items: Mapping[Sku, tuple[str, int]]) -> tuple[bool, dict[Sku, str], str]:
        """One JSON_LISTINGS_FEED for ``items``: (processed?, SKU → refusal, feed id)."""
        while waiting := self._submissions.take():
            if waiting <= retry.MAX_WAIT_S:
                self._sleep(waiting)
                continue
            raise TransientError(
                f"{self._who}: Amazon takes {FEED_SUBMISSIONS[0]} listings feeds in "
                f"{FEED_SUBMISSIONS[1]:.0f} s; the next one can go in {waiting:.0f} s (next cycle)",
                waiting,
            )
        skus = dict(enumerate(items, start=1))
        document = {
            "header": {"sellerId": self.seller_id, "version": "2.0", "issueLocale": "en_US"},
            "messages": [
                {
                    "messageId": message_id,
                    "sku": sku,
                    "operationType": "PATCH",
                    "productType": items[sku][0],
                    "patches": self._patches(items[sku][1]),
                }
                for message_id, sku in skus.items()
            ],
        }
        created = self._call(
            "createFeedDocument",
            "POST",
            "/feeds/2021-06-30/documents",
            None,
            {"contentType": FEED_CONTENT_TYPE},
            accept=(201,),
        )
        document_id, url = created.get("feedDocumentId"), created.get("url")
        if not isinstance(document_id, str) or not isinstance(url, str):
            raise PermanentError(f"{self._who}: createFeedDocument answered without a document id and URL")
        content = json.dumps(document, separators=(",", ":")).encode()
        retry.call(lambda: self._transfer("PUT", url, content), self._sleep)
        feed = self._call(
            "createFeed",
            "POST",
            "/feeds/2021-06-30/feeds",
            None,
            {
                "feedType": "JSON_LISTINGS_FEED",
                "marketplaceIds": [self.marketplace_id],
                "inputFeedDocumentId": document_id,
            },
            accept=(202,),
        )
        feed_id = feed.get("feedId")
        if not isinstance(feed_id, str):
            raise PermanentError(f"{self._who}: createFeed answered without a feed id")
        logger.info("%s: feed %s sent with %d SKUs", self.name, feed_id, len(skus))
        waited, delay = 0.0, self._first_poll_s
        while waited < self._settle_s:
            step = min(delay, self._settle_s - waited)
            self._sleep(step)
            waited += step
            delay = min(max(delay, 1.0) * 2, FEED_POLL_MAX_S)
            status = self._feed_status(feed_id)
            if status is not None and status.get("processingStatus") in _DONE:
                return True, self._results(status, skus), feed_id
        logger.info(
            "%s: feed %s not processed after %.0f s; polling it again next push", self.name, feed_id, waited
        )
        self._open.append(_OpenFeed(feed_id, skus, self._clock()))
        return False, {}, feed_id

    def _feed_status(self, feed_id: str) -> Json | None:
        """getFeed; None when Amazon could not be asked (the feed is asked about again later)."""
        try:
            return self._call("getFeed", "GET", f"/feeds/2021-06-30/feeds/{quote(feed_id, safe='')}")
        except TransientError as error:
            logger.warning("%s: could not read feed %s: %s", self.name, feed_id, error)
            return None

    def _results(self, status: Mapping[str, Json], skus: Mapping[int, Sku]) -> dict[Sku, str]:
        """SKU → refusal for a finished feed, from its processing report."""
        state = status.get("processingStatus")
        feed_id = status.get("feedId")
        report = self._report(status.get("resultFeedDocumentId"))
        if state != "DONE" or report is None:
            said = _issues(report.get("issues")) if isinstance(report, dict) else ""
            reason = f"Amazon ended feed {feed_id} {state}" + (f": {said}" if said else "")
            if state == "DONE":
                reason = f"Amazon processed feed {feed_id} but its processing report could not be read"
            return {sku: f"{reason}; SKU {sku} not confirmed" for sku in skus.values()}
        refused: dict[Sku, list[str]] = {}
        whole: list[str] = []
        by_sku = {sku: sku for sku in skus.values()}
        for issue in report.get("issues") or ():
            if not isinstance(issue, dict) or issue.get("severity") != "ERROR":
                continue
            text = f"{issue.get('code', '')} {issue.get('message', '')}".strip()
            sku = skus.get(issue["messageId"]) if isinstance(issue.get("messageId"), int) else None
            sku = sku or by_sku.get(Sku(str(issue.get("sku"))))
            if sku is None:
                whole.append(text)
            else:
                refused.setdefault(sku, []).append(text)
        if whole:
            for sku in skus.values():
                refused.setdefault(sku, []).extend(whole)
        return {
            sku: f"Amazon refused SKU {sku}: {'; '.join(dict.fromkeys(texts))}"
            for sku, texts in refused.items()
        }

    def _report(self, document_id: Json) -> Json | None:
        """The processing report behind ``resultFeedDocumentId`` (gunzipped if need be), or None."""
        if not isinstance(document_id, str):
            return None
        try:
            meta = self._call(
                "getFeedDocument", "GET", f"/feeds/2021-06-30/documents/{quote(document_id, safe='')}"
            )
            url = meta.get("url")
            if not isinstance(url, str):
                return None
            content = retry.call(lambda: self._transfer("GET", url, None), self._sleep).content
            if meta.get("compressionAlgorithm") == "GZIP":
                content = gzip.decompress(content)
            report = json.loads(content)
        except (TransientError, OSError, ValueError) as error:
            logger.warning("%s: could not read processing report %s: %s", self.name, document_id, error)
            return None
        return report if isinstance(report, dict) else None

    def _check_open(self) -> None:
        """Poll the feeds earlier pushes left open; keep their refusals for the SKUs' next push."""
        still: list[_OpenFeed] = []
        for feed in self._open:
            status = self._feed_status(feed.feed_id)
            if status is not None and status.get("processingStatus") in _DONE:
                for sku, message in self._results(status, feed.skus).items():
                    logger.warning("%s: %s (after its push returned)", self.name, message)
                    self.late_errors[sku] = message
            elif self._clock() - feed.since > FEED_GIVE_UP_S:
                for sku in feed.skus.values():
                    self.late_errors[sku] = f"Amazon never processed feed {feed.feed_id} for SKU {sku}"
            else:
                still.append(feed)
        self._open = still

    # -- OrderSource --

    def orders_since(self, cursor: str | None) -> OrderBatch:
        """Order lines of merchant-fulfilled orders updated at or after ``cursor`` less the overlap.

        With them, the state of every order read (a state is the order's truth now) and its odd
        lines. A line from the overlap is returned unless this adapter already delivered it in a
        call whose cursor is older than ``cursor`` (the ledger committed it).
        """
        since = "" if cursor is None else cursor
        start = self._now() - HISTORY if cursor is None else _cursor_time(cursor) - self._overlap
        params = {
            "lastUpdatedAfter": _iso(start),
            "marketplaceIds": self.marketplace_id,
            "fulfilledBy": "MERCHANT",
            "includedData": "FULFILLMENT,CANCELLATION",
            "maxResultsPerPage": str(ORDERS_PER_PAGE),
        }
        lines: list[OrderLine] = []
        states: list[OrderState] = []
        odd: list[OddLine] = []
        token: str | None = None
        while True:
            page = self._call(
                "searchOrders",
                "GET",
                "/orders/2026-01-01/orders",
                {**params, **({"paginationToken": token} if token else {})},
            )
            for order in page.get("orders") or ():
                read = self._read_order(order)
                if read is not None:
                    state, found = read
                    states.append(state)
                    lines += found.lines
                    odd += found.odd
            pagination = page.get("pagination")
            token = pagination.get("nextToken") if isinstance(pagination, dict) else None
            if not token:
                break
        fresh = []
        for line in sorted(lines, key=lambda line_: line_.cursor):  # stable: an order's lines keep order
            first = self._delivered.get(line.key)
            if first is not None and line.cursor < since and first[1] < since:
                continue
            fresh.append(line)
            self._delivered[line.key] = (line.cursor, first[1] if first else since)
        horizon = "" if cursor is None else order_cursor(start, "")
        self._delivered = {k: v for k, v in self._delivered.items() if v[0] >= horizon}
        return OrderBatch(
            tuple(fresh),
            tuple(sorted(states, key=lambda state: state.cursor)),
            tuple(sorted(odd, key=lambda line_: line_.cursor)),
        )

    def _read_order(self, order: Json) -> tuple[OrderState, _Read] | None:
        """The state, lines and odd lines of one order; None if it is not a stock-holding MFN order."""
        if not isinstance(order, dict) or not isinstance(order.get("orderId"), str):
            return None
        fulfillment: Json = order.get("fulfillment") if isinstance(order.get("fulfillment"), dict) else {}
        status = fulfillment.get("fulfillmentStatus")
        if fulfillment.get("fulfilledBy") == "AMAZON" or (status not in HOLDING and status != CANCELLED):
            return None
        order_id = order["orderId"]
        created = _parse_time(order.get("createdTime"))
        modified = _parse_time(order.get("lastUpdatedTime")) or created
        if created is None or modified is None:
            raise PermanentError(f"{self._who} sent order {order_id} without a readable time")
        cursor = order_cursor(modified, order_id)
        units: dict[str, int] = {}
        read = _Read()
        restocks: list[OrderLine] = []
        for item in order.get("orderItems") or ():
            if not isinstance(item, dict) or item.get("orderItemId") is None:
                continue
            line_id = str(item["orderItemId"])
            product: Json = item.get("product") if isinstance(item.get("product"), dict) else {}
            sku = (
                Sku(product["sellerSku"])
                if isinstance(product.get("sellerSku"), str) and product["sellerSku"]
                else None
            )
            cancellation: Json = (
                item.get("cancellation") if isinstance(item.get("cancellation"), dict) else {}
            )
            item_cancelled = isinstance(cancellation.get("cancellationExecution"), dict)
            sent = item.get("quantityOrdered")
            quantity = _whole(sent)
            if quantity is None or quantity < 1:
                if quantity == 0 and (item_cancelled or status == CANCELLED):
                    units[line_id] = 0  # Amazon shows a cancelled item with nothing ordered
                elif sku is not None:
                    shown = json.dumps(sent)
                    read.odd.append(OddLine(self.name, order_id, line_id, sku, shown, created, cursor))
                continue
            if item_cancelled and status != CANCELLED:
                units[line_id] = 0  # cancelled inside a live order: the core's EDIT gives it back
                continue
            units[line_id] = quantity
            if sku is None:
                continue
            read.lines.append(
                OrderLine(self.name, order_id, line_id, sku, quantity, Movement.SALE, created, cursor)
            )
            if status == CANCELLED:
                restocks.append(
                    OrderLine(
                        self.name,
                        order_id,
                        f"{line_id}-cancel",
                        sku,
                        quantity,
                        Movement.RESTOCK,
                        modified,
                        cursor,
                    )
                )
        read.lines += restocks
        return OrderState(self.name, order_id, units, modified, cursor), read

    # -- the wire --

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: Json = None,
        *,
        accept: tuple[int, ...] = (200,),
    ) -> Json:
        """One SP-API operation, paced and retried per retry.py; its decoded body ({} if none)."""
        return self._call_status(operation, method, path, params, body, accept=accept)[0]

    def _call_status(
        self,
        operation: str,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Json,
        *,
        accept: tuple[int, ...],
    ) -> tuple[Json, int]:
        response = retry.call(
            lambda: self._attempt(operation, method, path, params, body, accept), self._sleep
        )
        decoded = _http.json_or_none(response)
        if response.status_code != 404 and not isinstance(decoded, dict):
            raise PermanentError(
                f"{self._who}: {operation} answered HTTP {response.status_code} without JSON"
            )
        return (decoded if isinstance(decoded, dict) else {}), response.status_code

    def _attempt(
        self,
        operation: str,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Json,
        accept: tuple[int, ...],
    ) -> httpx.Response:
        bucket = self._buckets[operation]
        per_second, burst = self._plans[operation]
        while waiting := bucket.take():
            if waiting > retry.MAX_WAIT_S:
                raise TransientError(
                    f"{self._who}: the {operation} quota ({per_second:g}/s, burst {burst}) refills in "
                    f"{waiting:.0f} s; next cycle",
                    waiting,
                )
            self._sleep(waiting)
        token = self._access_token()
        self.calls[operation] = self.calls.get(operation, 0) + 1
        self._spending.count(operation)
        response = _http.send(
            self._client,
            method,
            f"{self._root}{path}",
            who=self._who,
            what=f"on {operation}",
            params=params,
            json=body,
            headers={"x-amz-access-token": token, "user-agent": "sheetsync (Language=Python)"},
        )
        status = response.status_code
        logger.debug("%s %s -> %d", operation, path, status)  # never the token
        said = _errors(_http.json_or_none(response))
        if status == 429:
            bucket.drain()
            raise TransientError(
                f"{self._who} throttled {operation} (HTTP 429{': ' + said if said else ''})",
                _http.retry_after(response) or 1.0 / per_second,
            )
        if status in (401, 403):
            self._token = None
            raise PermanentError(
                f"{self._who} refused {operation} (HTTP {status}{': ' + said if said else ''}); check "
                "that the seller authorized the app, that its roles cover listings, feeds and orders, "
                "and the region"
            )
        if status >= 500:
            raise TransientError(f"{self._who} answered HTTP {status} to {operation}")
        if status not in accept:
            raise PermanentError(
                f"{self._who} refused {operation}: HTTP {status}{': ' + said if said else ''}"
            )
        return response

    def _transfer(self, method: str, url: str, content: bytes | None) -> httpx.Response:
        """A feed document up or a report down, at its presigned URL (no SP-API token goes there)."""
        headers = {"Content-Type": FEED_CONTENT_TYPE} if content is not None else {}
        response = _http.send(
            self._client,
            method,
            url,
            who=self._who,
            what=f"on the feed document {method}",
            content=content,
            headers=headers,
        )
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"{self._who}: the feed document store answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise PermanentError(
                f"{self._who}: the feed document store refused the {method} (HTTP {response.status_code}); "
                "its presigned URL may have expired (5 minutes)"
            )
        return response

    def _access_token(self) -> str:
        """The cached LWA access token, exchanged again from the refresh token once it nears expiry."""
        if self._token is not None and self._clock() < self._token_until:
            return self._token
        response = _http.send(
            self._client,
            "POST",
            self._token_url,
            who=self._who,
            what="on the LWA token exchange",
            data=self._login,
        )
        body = _http.json_or_none(response)
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"{self._who}: LWA answered HTTP {status} to the token exchange")
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            code = body.get("error") if isinstance(body, dict) else None
            if code in ("server_error", "temporarily_unavailable"):
                raise TransientError(f"{self._who}: LWA said {code}")
            said = body.get("error_description") if isinstance(body, dict) else None
            raise PermanentError(
                f"{self._who}: LWA refused the app's credentials (HTTP {status}, {code or 'no code'}"
                f"{': ' + said if isinstance(said, str) else ''}); check the channel's CLIENT_ID, "
                "CLIENT_SECRET and REFRESH_TOKEN (a refresh token ends when the seller revokes the app)"
            )
        lifetime = body.get("expires_in")
        seconds = (
            float(lifetime)
            if isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
            else TOKEN_FALLBACK_S
        )
        self._token = body["access_token"]
        self._token_until = self._clock() + seconds - TOKEN_EARLY_S
        return self._token
