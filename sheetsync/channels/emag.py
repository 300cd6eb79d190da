"""eMAG Marketplace (API v4.4.9, ``api-3``): quantities out, order lines in.

Every call goes to the site's ``MARKETPLACE_API_URL`` (``https://marketplace-api.emag.ro/api-3``,
``.bg``, ``.hu``) with the API user's name and password as HTTP Basic. eMAG accepts calls only
from IP addresses the seller has put on its allow-list, and only for a user with API rights.
What the adapter guarantees (the facts it follows are listed in
``sheetsync_fakes/reference/marketplaces/emag/``; see docs/api-notes.md):

- **Offer ids.** An eMAG offer is keyed by the seller's internal product id, a whole number
  1..16777215. That number is the SKU on this channel: a row whose SKU is something else carries
  its offer id in the ``SKU <channel title>`` column. Any other SKU is refused in its row without
  a call. No lookups: pushes need no mapping step.
- **Pushes.** Stock goes through the light offer API, ``POST offer/save``, 50 offers a request
  (eMAG's bulk limit, ``limits.max_batch``), each ``{"id", "stock": [{"warehouse_id", "value"}]}``
  for the configured warehouse; nothing else of the offer is sent, so prices, status and
  handling time stay as the seller set them. A push of one level uses the stock-only
  ``PATCH offer_stock/{id}`` instead (the same one call), but only for warehouse 1, since that
  route takes one number and not a warehouse. A push costs ``ceil(levels / 50)`` requests.
  eMAG takes 0..65535 units per warehouse; a quantity outside that is refused in its row (set
  ``cap = 65535`` on the channel to show at most that).
- **Three error shapes.** (a) The envelope ``{"isError": true, "messages": [...]}``: the call as a
  whole failed (a PermanentError naming the messages). (b) A bare ``{"message", "errors"}``
  (``offer_stock``'s 400/404, the 429): a 400/404 fails that offer's row, the 429 is retried.
  (c) Per offer inside an envelope whose top level says ``isError: false`` (``offer/save``):
  ``results[id].isError`` fails that row only. An answer without ``isError: false`` was not
  processed, eMAG says; it is retried and then fails the call.
- **Pacing.** eMAG allows 3 requests a second for every route but the orders', counted
  together (a stock push and an offer read draw from one bucket), and 12 a second for order
  routes; invalid requests count too. The adapter keeps to that many requests in any 1.05 s
  (requests leave on time but arrive with jitter), waiting through the injected ``sleep``; a
  429 is waited out (1 s, eMAG sends no ``Retry-After``) and retried per retry.py.
- **Orders.** ``order/read`` filtered by ``modifiedAfter`` (the cursor less an overlap), type 3
  (fulfilled by the seller; type 2 orders ship from eMAG's own stock and are skipped), 100 a
  page, page after page until one is short. Timestamps carry no zone in eMAG's answers; they are
  read in the site's zone (``timezone``, an assumption). Cursors are
  ``<UTC modified time>#<zero-padded order id>``, the form of ``core.ledger.start_cursor``.
- **What holds stock.** Statuses 1 new, 2 in progress, 3 prepared and 4 finalized: every active
  line (line ``status`` 1) is a SALE, line id = eMAG's order line id. A new order is counted at
  once, before anyone acknowledges it, so the other channels drop the units at once; eMAG itself
  reserves them in ``estimated_stock`` until the order is acknowledged, so eMAG may show fewer
  units than we pushed meanwhile (never more). 0 canceled: the SALEs and a RESTOCK
  ``<line>-cancel`` of what a storno did not already put back (the pair nets to zero for an
  order canceled before anything counted it). 5 returned: the SALEs, and every unit back (see
  Returns). Not handled: an order taken back from canceled (eMAG allows 0 → 2/3/4 within 48
  hours) keeps its cancel restock, so its units are not counted again; the merchant's next
  count (or a Ledger row) settles it.
- **Edits.** Lines can be edited in statuses 2 and 3 (quantity changed, line cancelled with
  ``status`` 0 or left out). Every order read gives an :class:`~sheetsync.model.OrderState`:
  each line's units now (0 for a cancelled line, absent for a line eMAG no longer lists), from
  which the core corrects the ledger.
- **Returns.** Units back with the seller are RESTOCK lines, one a unit, keyed per order and
  SKU ``p<offer id>-return-<n>``: whichever source shows them first records them, and a unit
  that a later source shows again (or the same source read again) has the same key, so it
  counts once. The sources: a storno on a finalized order (the line's ``quantity`` goes down,
  the order stays 4; counted where the line says how many units were storned, ``storno_qty``,
  seen in real answers but not in the documentation; without it the reduced quantity is the
  line's state and the core's EDIT gives the units back); status 5 (every unit); and, with
  ``rma_returns`` (default), RMA requests received or finalized (``rma/read`` status 6, 7)
  ending in a refund, a cancelled payment contract or a voucher, read by their date over the
  last 60 days. Replacements (return types 1, 2) send a unit back out and are not counted. An
  RMA line carries the cursor it was read with, so it never moves the order cursor on.
- **Odd quantities.** A line quantity that is not a whole number of at least 1 is an
  :class:`~sheetsync.model.OddLine`, never counted, rounded or dropped.
- **Acknowledging.** ``order/acknowledge/{id}`` is the only way from 1 new to 2 in progress, and
  it stops eMAG's new-order callbacks. It is off by default: the seller's order tool (or the
  eMAG seller panel) takes new orders through that callback and acknowledges them itself, and an
  acknowledgement from us would end the callbacks that tool relies on. With ``acknowledge=True``
  (sheetsync is the only integration) every new order read is acknowledged after it is read.
- **Secrets.** The user name and password travel only in the Authorization header; messages,
  logs and exceptions name the site and the route.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from sheetsync import retry
from sheetsync.channels import _http, refuse_oversized
from sheetsync.errors import ConfigError, PermanentError, TransientError
from sheetsync.model import (
    CatalogueItem,
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
from sheetsync.pacing import Allowance, Quotas, Spending

logger = logging.getLogger(__name__)

Json = Any  # a decoded JSON value; shapes are checked where they are read

#: ``MARKETPLACE_API_URL`` per site (eMAG's documentation, "Platforms").
SITES: Mapping[str, str] = {
    "ro": "https://marketplace-api.emag.ro/api-3",
    "bg": "https://marketplace-api.emag.bg/api-3",
    "hu": "https://marketplace-api.emag.hu/api-3",
}
#: The zone order timestamps are read in, per site. eMAG does not state one: an assumption.
SITE_TIMEZONES: Mapping[str, str] = {"ro": "Europe/Bucharest", "bg": "Europe/Sofia", "hu": "Europe/Budapest"}
#: Offers per bulk save (eMAG: at most 50 entities a request).
MAX_BATCH = 50
#: Items per read page (``itemsPerPage`` at most 100).
PER_PAGE = 100
#: Requests a second: every route but the orders' (together), and the order routes.
OTHER_PER_SECOND = 3
ORDERS_PER_SECOND = 12
#: The window the rates are kept in: a little over a second, for arrival jitter.
PACING_WINDOW_S = 1.05
#: How long a 429 is waited out (eMAG sends no Retry-After).
THROTTLE_WAIT_S = 1.0
#: eMAG's bounds: offer ids (the seller's internal product ids) and units per warehouse.
MAX_OFFER_ID = 16_777_215
MAX_STOCK = 65_535
#: How far before the cursor orders are read again: equal timestamps, late commits.
ORDERS_OVERLAP = timedelta(minutes=10)
#: read_levels reads offers one by one up to this many SKUs until it knows how many pages every
#: offer takes; past that it pages through every offer.
READ_ONE_BY_ONE = 10
#: Order statuses (eMAG: 0 canceled, 1 new, 2 in progress, 3 prepared, 4 finalized, 5 returned).
CANCELED, NEW, IN_PROGRESS, PREPARED, FINALIZED, RETURNED = range(6)
#: Statuses whose active lines hold stock.
HOLDING = frozenset({NEW, IN_PROGRESS, PREPARED, FINALIZED})
#: Order type of orders the seller fulfils from its own stock (2: fulfilled by eMAG).
SELLER_FULFILLED = 3

#: RMA request statuses in which the returned products are back with the seller: received,
#: finalized.
RMA_RECEIVED = (6, 7)
#: RMA return types that end with the product back and none sent out: refund, cancelled payment
#: contract, voucher (1 and 2 are replacements: a unit goes back out).
RMA_RETURN_TYPES = frozenset({3, 4, 5})
#: How far before the cursor RMA requests are read (by their date; their status moves later).
RMA_LOOKBACK = timedelta(days=60)

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_EMAG_TIME = "%Y-%m-%d %H:%M:%S"
_ID_WIDTH = 20  #: order ids are zero-padded in cursors so that they sort as numbers


def order_cursor(modified: datetime, order_id: str) -> str:
    """A cursor that sorts in time order, ties broken by order id: ``2026-03-01T10:00:00Z#000…123``."""
    return f"{modified.astimezone(UTC).strftime(_TIME_FORMAT)}#{order_id.zfill(_ID_WIDTH)}"


def _cursor_time(cursor: str) -> datetime:
    try:
        return datetime.strptime(cursor.partition("#")[0], _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise PermanentError(
            f"eMAG order cursor {cursor!r} is not a time like 2026-03-01T10:00:00Z"
        ) from None


def offer_id(sku: str) -> int | None:
    """The eMAG offer id a SKU names (a whole number 1..16777215, as text), else None."""
    text = sku.strip()
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if 1 <= number <= MAX_OFFER_ID else None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class _Read:
    """What one order gives: its lines (sales, cancel restocks), state, odd lines, returned units."""

    lines: list[OrderLine]
    state: OrderState
    odd: list[OddLine]
    returned: dict[Sku, int]  #: SKU → units back with the seller (storned, or the order returned)


def _messages(body: Json) -> str:
    """What an eMAG answer says went wrong, in any of its shapes, as one line."""
    if not isinstance(body, dict):
        return ""
    said: list[str] = []
    for message in body.get("messages") or ():
        said.append(message if isinstance(message, str) else json.dumps(message))
    if isinstance(body.get("message"), str):
        said.append(body["message"])
    for error in body.get("errors") or ():
        if isinstance(error, dict) and error.get("message"):
            field = f" ({error['field']})" if error.get("field") else ""
            said.append(f"{error['message']}{field}")
        elif isinstance(error, str):
            said.append(error)
    return "; ".join(said)


class EmagChannel:
    """One eMAG Marketplace seller account on one site, as a Channel and an OrderSource.

    Args:
        name: the channel's name in the sheet and the ledger.
        site: ``ro``, ``bg`` or ``hu`` (the marketplace the account sells on).
        username: the API user (its e-mail); only ever sent, never shown.
        password: its password; only ever sent, never shown.
        warehouse_id: the eMAG warehouse whose stock is set and read (1 with one warehouse).
        acknowledge: acknowledge new orders once read (module docstring; off by default).
        rma_returns: also read RMA requests for returned units (module docstring; on by default).
        timezone: the zone of eMAG's order timestamps (default: the site's; an assumption).
        base_url: where the API is, instead of the site's (the local fake).
        client: an httpx client to send with; else one is made with ``transport``. The adapter
            closes only a client it made.
        sleep: how to wait (pacing, retries); tests pass one that moves a fake clock.
        clock: seconds on a monotonic clock, for the pacing.
        overlap: how far before the cursor orders are read again.
        quotas: where the account's request allowances are kept (shared across workers by
            ``sheetsync.fleet``); by default, in this adapter.

    Raises:
        ConfigError: an unknown site or zone, a warehouse id below 1, or a ``base_url`` that is
            plain HTTP to a host other than loopback.
    """

    def __init__(
        self,
        name: ChannelName,
        *,
        site: str,
        username: str,
        password: str,
        warehouse_id: int = 1,
        acknowledge: bool = False,
        rma_returns: bool = True,
        timezone: str | None = None,
        base_url: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        overlap: timedelta = ORDERS_OVERLAP,
        quotas: Quotas | None = None,
    ) -> None:
        if site not in SITES:
            raise ConfigError(f"eMAG site {site!r} is not one of {', '.join(SITES)}")
        if warehouse_id < 1:
            raise ConfigError(f"eMAG warehouse_id must be 1 or more, not {warehouse_id}")
        zone = timezone or SITE_TIMEZONES[site]
        try:
            self._zone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"eMAG timezone {zone!r} is unknown (on Windows, pip install tzdata)") from None
        root = (base_url or SITES[site]).rstrip("/")
        parts = urlsplit(root)
        if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname or "")):
            raise ConfigError(
                f"eMAG API address {root} is not HTTPS: the user name and password would travel in clear text"
            )
        self.name = name
        self.limits = ChannelLimits(max_batch=MAX_BATCH)
        self.site = site
        self.warehouse_id = warehouse_id
        self.acknowledge = acknowledge
        self.rma_returns = rma_returns
        self._root = root
        self._who = f"eMAG {site.upper()} account"
        self._auth = httpx.BasicAuth(username, password)
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, timeout=httpx.Timeout(30.0, connect=10.0))
        self._sleep = sleep
        self._overlap = overlap
        quotas = quotas or Quotas()
        # eMAG counts per seller account and site; the user name keys it without being shown.
        account = f"emag:{site}:{hashlib.sha256(username.encode()).hexdigest()[:16]}"
        self._pacers = {
            "other": quotas.window(f"{account}:other", OTHER_PER_SECOND, PACING_WINDOW_S, clock, sleep),
            "orders": quotas.window(f"{account}:orders", ORDERS_PER_SECOND, PACING_WINDOW_S, clock, sleep),
        }
        self._offers_seen: int | None = None  #: offers in the last full read
        self._spending = Spending()  # requests sent, by the pacer's allowance
        # line key → (line cursor, cursor of the first call that delivered it); see orders_since
        self._delivered: dict[str, tuple[str, str]] = {}

    def close(self) -> None:
        """Close the HTTP client if this adapter made it."""
        if self._owns_client:
            self._client.close()

    # -- Metered --

    def allowances(self) -> Sequence[Allowance]:
        """The request rates eMAG allows an account: order routes, and everything else."""
        return (
            Allowance("other", "requests", OTHER_PER_SECOND, f"{OTHER_PER_SECOND} a second"),
            Allowance("orders", "order requests", ORDERS_PER_SECOND, f"{ORDERS_PER_SECOND} a second"),
        )

    def take_spent(self) -> Mapping[str, int]:
        """Requests sent since the last call, by the allowance they count against."""
        return self._spending.take()

    # -- Channel --

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Set the warehouse's stock of each offer; one outcome per level.

        ``expected`` is not enforced: eMAG has no conditional write. A sale that lands between
        our read and our write still reaches the ledger through the orders.

        Raises:
            PermanentError: more than ``limits.max_batch`` levels, refused credentials, or eMAG
                refusing the call as a whole.
            TransientError: eMAG unreachable, failing or throttling after every retry.
        """
        refuse_oversized(self.name, self.limits, len(levels))
        outcomes: dict[int, PushOutcome] = {}
        sendable: dict[int, list[int]] = {}  # offer id → level indexes (the last one is sent)
        for index, level in enumerate(levels):
            number = offer_id(level.sku)
            if number is None:
                outcomes[index] = PushOutcome(
                    level.sku,
                    False,
                    f"SKU {level.sku} is not an eMAG offer id (your internal product id, a whole number "
                    f"1..{MAX_OFFER_ID}); put the offer's id in this channel's SKU column",
                )
            elif not 0 <= level.quantity <= MAX_STOCK:
                outcomes[index] = PushOutcome(
                    level.sku,
                    False,
                    f"{level.quantity} units for SKU {level.sku} not sent: eMAG takes 0..{MAX_STOCK} per "
                    f"warehouse (set cap = {MAX_STOCK} on this channel)",
                )
            else:
                sendable.setdefault(number, []).append(index)
        if len(sendable) == 1 and self.warehouse_id == 1:
            [(number, indexes)] = sendable.items()
            verdict = self._patch_stock(number, levels[indexes[-1]].quantity)
            for index in indexes:
                outcomes[index] = PushOutcome(levels[index].sku, verdict is None, verdict or "")
        elif sendable:
            verdicts = self._save_stock({n: levels[ix[-1]].quantity for n, ix in sendable.items()})
            for number, indexes in sendable.items():
                verdict = verdicts.get(number)
                for index in indexes:
                    outcomes[index] = PushOutcome(levels[index].sku, verdict is None, verdict or "")
        result = [outcomes[i] for i in range(len(levels))]
        if levels:
            logger.info("%s: set %d of %d quantities", self.name, sum(o.ok for o in result), len(result))
        return result

    def _save_stock(self, quantities: Mapping[int, int]) -> dict[int, str]:
        """``POST offer/save`` (light offer API) with each offer's stock; offer id → refusal text."""
        body = [
            {"id": number, "stock": [{"warehouse_id": self.warehouse_id, "value": quantity}]}
            for number, quantity in quantities.items()
        ]
        answer = self._call("offer/save", body)
        results = answer.get("results")
        refused: dict[int, str] = {}
        for number in quantities:
            result = results.get(str(number)) if isinstance(results, dict) else None
            if not isinstance(result, dict) or "isError" not in result:
                refused[number] = f"eMAG gave no answer for offer {number}"
            elif result["isError"] is not False:
                refused[number] = f"eMAG refused offer {number}: {_messages(result) or 'no reason given'}"
        return refused

    def _patch_stock(self, number: int, quantity: int) -> str | None:
        """``PATCH offer_stock/{id}`` with ``{"stock": quantity}``; the refusal text, or None."""
        path = f"offer_stock/{number}"
        response = retry.call(
            lambda: self._attempt("PATCH", path, {"stock": quantity}, accept=(204, 400, 404)), self._sleep
        )
        if response.status_code == 204:
            return None
        said = _messages(_http.json_or_none(response)) or f"HTTP {response.status_code}"
        if response.status_code == 404 and "Invalid URL" in said:
            raise PermanentError(f"{self._who} has no route PATCH {path}: {said}")
        return f"eMAG refused offer {number}: {said}"

    def read_levels(self, skus: Collection[Sku]) -> Mapping[Sku, int]:
        """The configured warehouse's stock of each offer; SKUs eMAG lacks (or never stocked) are absent.

        This is the number pushes set. What buyers can order (``estimated_stock``) is lower
        while unacknowledged orders reserve units.
        """
        wanted: dict[int, list[Sku]] = {}
        for sku in skus:
            number = offer_id(sku)
            if number is not None:
                wanted.setdefault(number, []).append(sku)
        if not wanted:
            return {}
        offers: list[Json] = []
        # One request per offer, or every offer 100 a page: whichever costs fewer requests (the
        # catalogue's size is known after the first full read).
        pages = READ_ONE_BY_ONE if self._offers_seen is None else self._offers_seen // PER_PAGE + 1
        if len(wanted) <= pages:
            for number in wanted:
                offers += self._results(self._call("product_offer/read", {"data": {"id": number}}))
        else:
            offers = self._pages("product_offer/read", {})
            self._offers_seen = len(offers)
        found: dict[Sku, int] = {}
        for offer in offers:
            if not isinstance(offer, dict):
                continue
            number = _http.whole_number(offer.get("id"))
            if number not in wanted:
                continue
            value = self._stock(offer)
            if value is not None:
                for sku in wanted[number]:
                    found[sku] = value
        return found

    def _stock(self, offer: Mapping[str, Json]) -> int | None:
        """The offer's units in the configured warehouse (None: no stock entry there)."""
        for entry in offer.get("stock") or ():
            if isinstance(entry, dict) and _http.whole_number(entry.get("warehouse_id")) == self.warehouse_id:
                value = _http.whole_number(entry.get("value"))
                if value is not None:
                    return value
        return None

    def map_skus(self, skus: Collection[Sku]) -> Mapping[Sku, str]:
        """SKU → offer id for the SKUs that are offer ids; no call (eMAG offers are keyed by them)."""
        return {sku: str(number) for sku in skus if (number := offer_id(sku)) is not None}

    # -- CatalogueSource --

    def catalogue_size(self) -> int | None:
        """None: ``product_offer/count`` would cost a request of the 3 a second the reads share."""
        return None

    def catalogue(self) -> Iterator[CatalogueItem]:
        """Every offer, 100 a page (``product_offer/read``), with its stock in the configured warehouse.

        An offer's SKU is its part number, with the offer id (what pushes go by) as its code; an
        offer without a part number has its offer id as its SKU.  The quantity is None when the
        warehouse holds no stock entry for it.
        """
        for offers in self._each_page("product_offer/read", {}):
            for offer in offers:
                number = _http.whole_number(offer.get("id")) if isinstance(offer, dict) else None
                if number is None:
                    continue
                part = str(offer.get("part_number") or "").strip()
                yield CatalogueItem(
                    sku=part or str(number),
                    title=str(offer.get("name") or ""),
                    quantity=self._stock(offer),
                    code=str(number) if part else "",
                    ref=f"offer {number}",
                )

    # -- OrderSource --

    def orders_since(self, cursor: str | None) -> OrderBatch:
        """Order lines of orders modified at or after ``cursor`` minus the overlap, oldest first.

        With them, the state of every order read (overlap included: a state is the order's truth
        now) and its odd lines. A line from the overlap is returned unless this adapter already
        delivered it in a call whose cursor is older than ``cursor`` (the cursor comes from the
        ledger, so its having moved past that call means the line was committed).
        """
        since = "" if cursor is None else cursor
        data: dict[str, Json] = {"type": SELLER_FULFILLED}
        if cursor is not None:
            start = (_cursor_time(cursor) - self._overlap).astimezone(self._zone)
            data["modifiedAfter"] = start.strftime(_EMAG_TIME)
        lines: list[OrderLine] = []
        states: list[OrderState] = []
        odd: list[OddLine] = []
        new: list[str] = []
        # (order id, SKU) → (units shown back, when, cursor): the most any source shows
        returns: dict[tuple[str, Sku], tuple[int, datetime, str]] = {}
        for order in self._pages("order/read", data):
            read = self._read_order(order)
            if read is None:
                continue
            lines += read.lines
            states.append(read.state)
            odd += read.odd
            for sku, units in read.returned.items():
                returns[(read.state.order_id, sku)] = (units, read.state.at, read.state.cursor)
            if order.get("status") == NEW:
                new.append(read.state.order_id)
        if self.rma_returns:
            for (order_id, sku), (units, at) in self._rma_returns(cursor).items():
                known = returns.get((order_id, sku))
                if known is None:
                    returns[(order_id, sku)] = (units, at, since)
                elif units > known[0]:
                    returns[(order_id, sku)] = (units, known[1], known[2])
        for (order_id, sku), (units, at, line_cursor) in returns.items():
            lines += [
                OrderLine(
                    self.name, order_id, f"p{sku}-return-{n}", sku, 1, Movement.RESTOCK, at, line_cursor
                )
                for n in range(1, units + 1)
            ]
        fresh = []
        for line in sorted(lines, key=lambda line_: line_.cursor):  # stable: an order's lines keep order
            first = self._delivered.get(line.key)
            if first is not None and line.cursor < since and first[1] < since:
                continue
            fresh.append(line)
            self._delivered[line.key] = (line.cursor, first[1] if first else since)
        horizon = "" if cursor is None else order_cursor(_cursor_time(cursor) - self._overlap, "")
        self._delivered = {k: v for k, v in self._delivered.items() if v[0] >= horizon}
        if self.acknowledge:
            for order_id in new:
                self._acknowledge(order_id)
        return OrderBatch(
            tuple(fresh),
            tuple(sorted(states, key=lambda state: state.cursor)),
            tuple(sorted(odd, key=lambda line_: line_.cursor)),
        )

    def _acknowledge(self, order_id: str) -> None:
        """``order/acknowledge/{id}``; a failure is logged, and the next poll finds it new again."""
        try:
            self._call(f"order/acknowledge/{order_id}", None)
        except (PermanentError, TransientError) as error:
            logger.warning("%s: order %s not acknowledged: %s", self.name, order_id, error)

    def _rma_returns(self, cursor: str | None) -> dict[tuple[str, Sku], tuple[int, datetime]]:
        """Units RMA requests show back with the seller, per (order id, SKU), with the request's date.

        Requests received (6) or finalized (7) whose return ends in a refund, a cancelled payment
        contract or a voucher (return types 3, 4, 5) count; replacements (1, 2) ship a unit back
        out and are not counted (``RMA_RETURN_TYPES``). Requests dated within ``RMA_LOOKBACK``
        before the cursor are read every time (their status moves, their date does not).
        """
        data: dict[str, Json] = {}
        if cursor is not None:
            start = (_cursor_time(cursor) - RMA_LOOKBACK).astimezone(self._zone)
            data["date_start"] = start.strftime(_EMAG_TIME)
        found: dict[tuple[str, Sku], tuple[int, datetime]] = {}
        for status in RMA_RECEIVED:
            for request in self._pages("rma/read", {**data, "request_status": status}):
                if (
                    not isinstance(request, dict)
                    or _http.whole_number(request.get("return_type")) not in RMA_RETURN_TYPES
                ):
                    continue
                order_id = str(request.get("order_id"))
                at = self._time(request.get("date"))
                for product in request.get("products") or ():
                    units = _http.whole_number(product.get("quantity")) if isinstance(product, dict) else None
                    if units is None or units < 1 or product.get("product_id") in (None, "", "0"):
                        continue
                    key = (order_id, Sku(str(product["product_id"])))
                    held = found.get(key, (0, at or datetime.now(UTC)))
                    found[key] = (held[0] + units, held[1])
        return found

    def _time(self, text: Json) -> datetime | None:
        """An eMAG timestamp (``YYYY-mm-dd HH:ii:ss``, site time) as an aware UTC time."""
        if not isinstance(text, str):
            return None
        try:
            moment = datetime.strptime(text.strip(), _EMAG_TIME)  # noqa: DTZ007 - site time, below
        except ValueError:
            return None
        return moment.replace(tzinfo=self._zone).astimezone(UTC)

    def _read_order(self, order: Json) -> _Read | None:
        """The ledger lines, the state, the odd lines and the returns of one order; None if not ours.

        Per line (``products[]``): its units are ``quantity`` plus ``storno_qty`` (units storned
        off it by a partial return) when the line says so; a line cancelled inside a live order
        (``status`` 0) takes 0. Returned units (storned, or every unit of a returned order) are
        given per SKU for orders_since to merge with the RMA requests; a canceled order gives
        back the rest as ``<line>-cancel``.
        """
        if not isinstance(order, dict):
            return None
        status = _http.whole_number(order.get("status"))
        kind = _http.whole_number(order.get("type"))
        if status not in HOLDING and status not in (CANCELED, RETURNED):
            logger.debug(
                "%s: order %s has unknown status %r", self.name, order.get("id"), order.get("status")
            )
            return None
        if kind is not None and kind != SELLER_FULFILLED:
            return None
        order_id = str(order.get("id"))
        created = self._time(order.get("date"))
        modified = self._time(order.get("modified")) or created
        if created is None or modified is None:
            raise PermanentError(f"{self._who} sent order {order_id} without a readable date")
        cursor = order_cursor(modified, order_id)
        units: dict[str, int] = {}
        lines: list[OrderLine] = []
        restocks: list[OrderLine] = []
        odd: list[OddLine] = []
        returned: dict[Sku, int] = {}
        for product in order.get("products") or ():
            if not isinstance(product, dict):
                continue
            line_id = str(product.get("id"))
            sku = Sku(str(product["product_id"])) if product.get("product_id") not in (None, "") else None
            sent = product.get("quantity")
            quantity = _http.whole_number(sent)
            storned = _http.whole_number(product.get("storno_qty"))
            storned = storned if storned is not None and storned > 0 else 0
            if quantity is None or quantity < 0 or (quantity == 0 and not storned):
                if sku is not None and _http.whole_number(product.get("status")) != 0:
                    odd.append(
                        OddLine(self.name, order_id, line_id, sku, _http.as_sent(sent), created, cursor)
                    )
                continue
            taken = quantity + storned
            if _http.whole_number(product.get("status")) == 0 and status != CANCELED:
                units[line_id] = 0  # cancelled inside a live order (a canceled order restocks below)
                continue
            units[line_id] = taken
            if sku is None:
                continue
            lines.append(OrderLine(self.name, order_id, line_id, sku, taken, Movement.SALE, created, cursor))
            back = taken if status == RETURNED else min(storned, taken)
            if back:
                returned[sku] = returned.get(sku, 0) + back
            if status == CANCELED and taken > back:
                restocks.append(
                    OrderLine(
                        self.name,
                        order_id,
                        f"{line_id}-cancel",
                        sku,
                        taken - back,
                        Movement.RESTOCK,
                        modified,
                        cursor,
                    )
                )
        state = OrderState(self.name, order_id, units, modified, cursor)
        return _Read(lines + restocks, state, odd, returned)

    # -- the wire --

    def _results(self, answer: Mapping[str, Json]) -> list[Json]:
        results = answer.get("results")
        if results is None or results == {}:
            return []
        if not isinstance(results, list):
            raise PermanentError(f"{self._who} answered a read with unexpected results")
        return results

    def _pages(self, route: str, data: Mapping[str, Json]) -> list[Json]:
        """Every item of a read route, 100 a page, until a page comes back short."""
        return [item for page in self._each_page(route, data) for item in page]

    def _each_page(self, route: str, data: Mapping[str, Json]) -> Iterator[list[Json]]:
        """A read route's pages of items, each as it is read, until a page comes back short."""
        page = 1
        while True:
            answer = self._call(route, {"data": {**data, "currentPage": page, "itemsPerPage": PER_PAGE}})
            found = self._results(answer)
            yield found
            if len(found) < PER_PAGE:
                return
            page += 1

    def _call(self, route: str, body: Json) -> Mapping[str, Json]:
        """``POST {api}/{route}``, paced and retried per retry.py; the envelope, with ``isError: false``."""
        response = retry.call(lambda: self._attempt("POST", route, body, accept=(200,)), self._sleep)
        answer = _http.decoded(response)
        if answer.get("isError") is not False:
            raise PermanentError(f"{self._who} refused {route}: {_messages(answer) or 'no reason given'}")
        return answer  # type: ignore[no-any-return]

    def _attempt(self, method: str, route: str, body: Json, *, accept: tuple[int, ...]) -> httpx.Response:
        allowance = "orders" if route.startswith("order/") else "other"
        self._pacers[allowance].wait()
        self._spending.count(allowance)
        response = _http.send(
            self._client,
            method,
            f"{self._root}/{route}",
            who=self._who,
            what=f"on {method} {route}",
            json=body,
            auth=self._auth,
        )
        logger.debug("%s %s -> %d", method, route, response.status_code)  # never the credentials
        status = response.status_code
        said = _messages(_http.json_or_none(response))
        if status == 429:
            raise TransientError(
                f"{self._who} throttled {method} {route} (HTTP 429)",
                _http.retry_after(response) or THROTTLE_WAIT_S,
            )
        if status in (401, 403):
            raise PermanentError(
                f"{self._who} refused the API user (HTTP {status}{': ' + said if said else ''}); check the "
                "user name and password, that the user has API rights, and that this machine's IP "
                "address is on the account's allow-list"
            )
        if status >= 500:
            raise TransientError(f"{self._who} answered HTTP {status} to {method} {route}")
        if status not in accept:
            raise PermanentError(
                f"{self._who} refused {method} {route}: HTTP {status}{': ' + said if said else ''}"
            )
        if status == 200:
            body_ = _http.json_or_none(response)
            if not isinstance(body_, dict) or body_.get("isError") not in (True, False):
                # eMAG: an answer without isError false was not processed; try again, then fail.
                raise TransientError(
                    f"{self._who} answered {method} {route} without an isError flag; not processed"
                )
        return response
