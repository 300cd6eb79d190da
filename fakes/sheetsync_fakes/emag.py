"""An in-memory eMAG Marketplace API (``api-3``, documentation v4.4.9), spoken to over the wire.

``FakeEmag`` is a handler (``httpx.Request -> httpx.Response``, see :mod:`sheetsync_fakes.wire`)
answering ``{MARKETPLACE_API_URL}/{resource}/{action}`` for one seller account. What it
reproduces (``sheetsync_fakes/reference/marketplaces/emag/``; "DOC" is eMAG's documentation
v4.4.9, "EX" a documented example kept there):

- Authentication: HTTP Basic with the API user's name and password (DOC). A user without API
  rights gets the documented 403 envelope "You are not allowed to use this API." (EX
  offer_stock_patch); wrong credentials and an address off the allow-list are not documented:
  they answer 401 / 403 envelopes in words of our own (``# unrecorded``).
- The envelope ``{"isError", "messages", "results"}`` on every classic route; the light
  ``offer/save`` adds ``errors`` and answers per offer inside ``isError: false`` (EX
  offer_save_light_api); ``PATCH offer_stock/{id}`` answers 204, or the bare ``{"message"}`` /
  ``{"message", "errors"}`` shapes (EX offer_stock_patch).
- Routes: ``product_offer/read``, ``offer/save``, ``PATCH offer_stock/{id}``, ``order/read``,
  ``order/count``, ``order/acknowledge/{id}``, ``rma/read``. The other documented routes answer
  501 naming themselves (no test passes against behaviour nobody wrote); anything else answers
  404 ``{"message": "Invalid URL"}`` (the offer_stock wording).
- Requests: classic routes take a JSON body ``{"data": ...}`` (the PHP examples' form encoding is
  not modelled: 501); the light ``offer/save`` takes the JSON list of its example (or the same
  list under ``data``). Read filters are checked: ``itemsPerPage`` 1..100, ``currentPage``
  1..65535, dates ``YYYY-mm-dd HH:ii:ss``, each ``...Before`` only with its ``...After`` and at
  most a month after it. **Stricter than eMAG, on purpose:** an unknown filter or offer field is
  refused (eMAG's handling is not documented), so an adapter typo fails a test.
- Limits: at most 50 offers a save (``# unrecorded`` message), at most 4000 input elements a
  request ("Maximum input vars of 4000 exceeded", DOC); stock values 0..65535 with the
  documented per-offer messages; an offer in an active campaign keeps its stock (the documented
  campaign message).
- Rate limits (DOC): order routes 12 requests a second and 720 a minute; every other route 3 a
  second and 180 a minute, counted together. Refused and invalid requests count. Past a limit:
  429 ``{"message": "API rate limit exceeded"}`` with the ``X-RateLimit-*-3second`` headers of
  the documented exchange (every answer carries them).
- Orders: statuses 0-5 and the documented status matrix (4 → 3/0 and 0 → 2/3/4 within 48 hours,
  4 → 5 within the return time plus 5 days), acknowledgement the only way from 1 to 2, line
  edits only in 2 and 3 (no reduction or removal on online-card orders), a storno (partial
  return) only on a finalized order, status 5 set by itself once every invoiced unit came back.
  Order and line fields are the documented shape (EX order_update_order_read_shape), with the
  order's ``modified`` and ``type``, and per line ``initial_qty`` and ``storno_qty`` (not in the
  documentation; seen in real answers as client code models them). Timestamps are site time
  without a zone (the zone is not documented: ``timezone``).
- Stock (**assumptions**, the documentation does not say): a new order reserves its units
  (``estimated_stock`` = ``general_stock`` - reserved); acknowledging it takes them from the
  offer's warehouse 1 (``general_stock`` "moves as orders are processed"); cancelling releases
  a reservation, or puts taken units back when ``restock_on_cancel`` (default); a storno or a
  return puts nothing back (the seller counts the returned goods); ``PATCH offer_stock`` sets
  warehouse 1.
- RMA: requests with the documented statuses and their matrix, read with the documented
  filters (EX rma_read).
- Helpers for tests (no auth, not logged): offers, orders, acknowledge, edits, storno, status
  changes, RMAs; :meth:`FakeEmag.fail_next` per route; every request goes to
  :attr:`request_log`.

Not modelled: product documentation, prices beyond storing them, AWBs, invoices, messages,
callbacks, campaigns other than the stock lock, ``order/save`` (501: the helpers stand for it).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from sheetsync_fakes.wire import Fault, FaultScript

Json = Any
#: An order line quantity as stored: whole units, or what an import left (1.5, "1.5").
Quantity = int | float | str

PREFIX = "/api-3/"
MAX_SAVE = 50
MAX_ELEMENTS = 4000
MAX_PER_PAGE = 100
MAX_PAGE = 65535
MAX_OFFER_ID = 16_777_215
MAX_STOCK = 65_535
#: Per bucket: (requests a second, requests a minute).
LIMITS: Mapping[str, tuple[int, int]] = {"orders": (12, 720), "other": (3, 180)}
#: Order statuses.
CANCELED, NEW, IN_PROGRESS, PREPARED, FINALIZED, RETURNED = range(6)
#: The documented status matrix: from → {to: rule}; "48h" within 48 hours of the status, "RT" within
#: the return time plus 5 days of finalisation; "ack" only by acknowledgement.
STATUS_MATRIX: Mapping[int, Mapping[int, str]] = {
    NEW: {IN_PROGRESS: "ack"},
    IN_PROGRESS: {IN_PROGRESS: "yes", PREPARED: "yes", FINALIZED: "yes", CANCELED: "yes"},
    PREPARED: {PREPARED: "yes", FINALIZED: "yes", CANCELED: "yes"},
    FINALIZED: {PREPARED: "48h", FINALIZED: "yes", CANCELED: "48h", RETURNED: "RT"},
    CANCELED: {IN_PROGRESS: "48h", PREPARED: "48h", FINALIZED: "48h", CANCELED: "yes"},
    RETURNED: {},
}
#: RMA request statuses and their matrix (from → allowed targets).
RMA_MATRIX: Mapping[int, frozenset[int]] = {
    1: frozenset({1, 2}),  # incomplete: the matrix does not list it; completing it makes it new
    2: frozenset({2, 3, 5}),
    3: frozenset({3, 5, 6}),
    4: frozenset({4}),
    5: frozenset({5}),
    6: frozenset({4, 6, 7}),
    7: frozenset({7}),
}
ONLINE_CARD = 3

_OFFER_FIELDS = frozenset(
    {
        "id",
        "sale_price",
        "recommended_price",
        "min_sale_price",
        "max_sale_price",
        "currency_type",
        "stock",
        "handling_time",
        "vat_id",
        "status",
    }
)
_OFFER_FILTERS: Mapping[str, bool] = {
    "id": True,
    "currentPage": True,
    "itemsPerPage": True,
    "status": True,
    "part_number": True,
    "part_number_key": False,
    "general_stock": False,
    "estimated_stock": False,
    "offer_validation_status": False,
    "validation_status": False,
    "translation_validation_status": False,
}
_ORDER_FILTERS: Mapping[str, bool] = {
    "itemsPerPage": True,
    "currentPage": True,
    "id": True,
    "createdAfter": True,
    "createdBefore": True,
    "modifiedAfter": True,
    "modifiedBefore": True,
    "status": True,
    "payment_mode_id": True,
    "is_complete": True,
    "type": True,
}
_RMA_FILTERS: Mapping[str, bool] = {
    "id": True,
    "emag_id": True,
    "order_id": True,
    "product_id": True,
    "product_emag_id": True,
    "request_status": True,
    "date_start": True,
    "date_end": True,
    "type": True,
    "currentPage": True,
    "itemsPerPage": True,
}
#: Documented routes this fake does not model (answered 501).
_UNMODELLED = frozenset(
    {
        "product_offer/save",
        "product_offer/count",
        "measurements/save",
        "campaign_proposals/save",
        "order/save",
        "order/unlock-courier",
        "order/attachments/save",
        "message/read",
        "message/save",
        "message/count",
        "category/read",
        "category/count",
        "vat/read",
        "handling_time/read",
        "locality/read",
        "locality/count",
        "courier_accounts/read",
        "addresses/read",
        "awb/read",
        "awb/save",
        "rma/save",
        "rma/count",
        "invoice/categories/read",
        "invoice/read",
        "customer-invoice/read",
        "smart-deals-price-check/read",
        "documentation/find_by_eans",
    }
)

#: Documented per-offer stock messages (EX offer_save_light_api).
STOCK_NOT_NEGATIVE = "Stock should be 0 or more"
_WHOLE = "The stock field is mandatory. Its value must be a whole (integer) number. Decimals are not allowed"
STOCK_WHOLE = (f"{_WHOLE}. (ex: 5)", f"{_WHOLE} (ex: 5)")
#: Documented campaign refusal (EX offer_stock_patch), with the campaign's name.
CAMPAIGN_LOCK = (
    "The offer is included in the active campaign {campaign}, thus the stock has NOT been changed."
)
NO_API_RIGHTS = "You are not allowed to use this API."


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the fake received (never its credentials)."""

    method: str
    route: str  #: ``offer/save``, ``offer_stock``, ``order/read``, ``order/acknowledge`` …; "" unknown
    bucket: str  #: ``orders`` or ``other`` (the rate-limit bucket it counted in)
    status: int | None  #: None when the fake hung up (a scripted transport error)
    throttled: bool = False
    items: int = 0  #: offers in a save


@dataclass(slots=True)
class _Offer:
    id: int
    part_number: str
    status: int
    stock: dict[int, int]  #: warehouse id → units
    fields: dict[str, Json] = field(default_factory=dict)
    reserved: int = 0  #: units held by unacknowledged orders
    campaign: str | None = None  #: an active campaign with stock on site: stock is locked


@dataclass(slots=True)
class _Line:
    id: int
    product_id: int
    part_number: str
    quantity: Quantity
    initial_qty: Quantity
    created: float
    modified: float
    status: int = 1
    storno_qty: int = 0
    taken: int = 0  #: units this line took from (or reserved on) the offer now


@dataclass(slots=True)
class _Order:
    id: int
    status: int
    type: int
    payment_mode_id: int
    created: float
    modified: float
    lines: list[_Line]
    status_since: float  #: when it reached its status (the 48-hour rules)
    finalized: float | None = None


@dataclass(slots=True)
class _Rma:
    id: int  #: the request's id (the ``id`` filter; not shown in the answer)
    emag_id: int
    order_id: int
    request_status: int
    return_type: int
    created: float
    body: dict[str, Json]  #: the answer's other fields, as stored


class _Answer(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def envelope(results: Json = None, *, error: bool = False, messages: Sequence[str] = ()) -> Json:
    """The envelope ``{"isError", "messages", "results"}`` of eMAG's answers."""
    return {"isError": error, "messages": list(messages), "results": [] if results is None else results}


def _whole(value: Json) -> int | None:
    """An integer in a request (``5`` or ``"5"``, as the PHP examples send strings); never a bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _units(quantity: Quantity) -> int | None:
    if isinstance(quantity, bool):
        return None
    if isinstance(quantity, int):
        return quantity if quantity >= 0 else None
    if isinstance(quantity, float) and quantity.is_integer() and quantity >= 0:
        return int(quantity)
    return None


def _leaves(value: Json) -> int:
    """Input elements, as PHP's ``max_input_vars`` counts them: the leaves."""
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values()) or 1
    if isinstance(value, list):
        return sum(_leaves(v) for v in value) or 1
    return 1


class FakeEmag:
    """One eMAG seller account's Marketplace API, in memory (module docstring).

    Args:
        username: the API user.
        password: its password.
        now: the clock, in seconds since the epoch: every timestamp and the rate-limit windows.
        timezone: the zone of the timestamps eMAG shows and reads (not documented; site time).
        restock_on_cancel: a cancellation puts the units an order took back on the offer.
        return_days: the customer's return time (RT), for 4 → 5.
        limits: requests a second and a minute per bucket (``LIMITS``); None: unlimited.

    Attributes:
        request_log: every request received, in order.
        api_rights: False: the user has no API rights (every call answers 403).
        ip_allowed: False: the caller's address is not on the allow-list (403, unrecorded).
    """

    def __init__(
        self,
        *,
        username: str,
        password: str,
        now: Callable[[], float] = time.time,
        timezone: str = "Europe/Bucharest",
        restock_on_cancel: bool = True,
        return_days: int = 30,
        limits: Mapping[str, tuple[int, int]] | None = LIMITS,
    ) -> None:
        self._username = username
        self._password = password
        self._now = now
        self._zone = ZoneInfo(timezone)
        self.restock_on_cancel = restock_on_cancel
        self.return_days = return_days
        self._limits = limits
        self._recent: dict[str, deque[float]] = {"orders": deque(), "other": deque()}
        self._offers: dict[int, _Offer] = {}
        self._orders: dict[int, _Order] = {}
        self._rmas: dict[int, _Rma] = {}
        self._next_order = 41_200
        self._next_line = 82_400
        self._next_rma = 289_100
        self._faults = FaultScript()
        self._lock = threading.RLock()
        self.api_rights = True
        self.ip_allowed = True
        self.request_log: list[LoggedRequest] = []

    # -- time --

    def stamp(self, moment: float) -> str:
        """A timestamp as eMAG shows it: ``YYYY-mm-dd HH:ii:ss``, site time, no zone."""
        return dt.datetime.fromtimestamp(moment, self._zone).strftime("%Y-%m-%d %H:%M:%S")

    def _parse(self, text: Json) -> float | None:
        if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", text):
            return None
        try:
            moment = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - site time, below
        except ValueError:
            return None
        return moment.replace(tzinfo=self._zone).timestamp()

    # -- the seller's and the platform's side (no auth, not logged) --

    def add_offer(
        self,
        offer_id: int,
        *,
        stock: Mapping[int, int] | int | None = None,
        part_number: str = "",
        status: int = 1,
        name: str = "",
    ) -> None:
        """An offer the seller made; ``stock`` an int is warehouse 1's, None: never stocked.

        ``name`` is the product's name, a product documentation field (DOC, product_offer/save)
        that ``product_offer/read`` shows with the offer; left out when "".
        """
        with self._lock:
            if not 1 <= offer_id <= MAX_OFFER_ID:
                raise ValueError(f"offer id {offer_id} is outside 1..{MAX_OFFER_ID}")
            if offer_id in self._offers:
                raise ValueError(f"offer {offer_id} exists")
            levels = {1: stock} if isinstance(stock, int) else dict(stock or {})
            self._offers[offer_id] = _Offer(offer_id, part_number or f"PN{offer_id}", status, levels)
            if name:
                self._offers[offer_id].fields["name"] = name

    def stock(self, offer_id: int, warehouse_id: int = 1) -> int | None:
        """Units in one warehouse (None: that warehouse was never stocked)."""
        with self._lock:
            return self._offers[offer_id].stock.get(warehouse_id)

    def estimated_stock(self, offer_id: int) -> int:
        """What buyers can order: every warehouse less what unacknowledged orders reserve."""
        with self._lock:
            offer = self._offers[offer_id]
            return sum(offer.stock.values()) - offer.reserved

    def start_campaign(self, offer_id: int, name: str = "BF") -> None:
        """Put the offer in an active campaign with stock on site: its stock is locked."""
        with self._lock:
            self._offers[offer_id].campaign = name

    def end_campaign(self, offer_id: int) -> None:
        """The campaign is over: the offer's stock takes updates again."""
        with self._lock:
            self._offers[offer_id].campaign = None

    def place_order(
        self,
        lines: Sequence[tuple[int, Quantity]],
        *,
        payment_mode_id: int = 1,
        order_type: int = 3,
    ) -> int:
        """A buyer orders ``(offer id, quantity)`` lines: a new order (status 1). Returns its id.

        A quantity that is not a whole number of at least 1 is kept as given and moves nothing.
        """
        with self._lock:
            now = self._now()
            self._next_order += 1
            order = _Order(self._next_order, NEW, order_type, payment_mode_id, now, now, [], now)
            for offer_id, quantity in lines:
                order.lines.append(self._new_line(offer_id, quantity, now))
            self._orders[order.id] = order
            for line in order.lines:
                self._hold(order, line)
            return order.id

    def order(self, order_id: int) -> Json:
        """The order as ``order/read`` shows it."""
        with self._lock:
            return self._order_json(self._orders[order_id])

    def acknowledge(self, order_id: int) -> None:
        """The seller takes the order in (1 → 2); see ``order/acknowledge``."""
        with self._lock:
            problem = self._acknowledge(order_id)
            if problem:
                raise ValueError(problem)

    def set_status(self, order_id: int, status: int) -> None:
        """Move an order per the status matrix (1 → 2 only by acknowledging).

        Raises:
            ValueError: the matrix does not allow it (now).
        """
        with self._lock:
            order = self._orders[order_id]
            rule = STATUS_MATRIX[order.status].get(status)
            now = self._now()
            if rule is None or rule == "ack":
                raise ValueError(f"order {order_id}: {order.status} -> {status} is not allowed")
            since = order.finalized if order.status == FINALIZED and order.finalized else order.status_since
            if rule == "48h" and now - since > 48 * 3600:
                raise ValueError(f"order {order_id}: {order.status} -> {status} only within 48 hours")
            if rule == "RT" and now - (order.finalized or now) > (self.return_days + 5) * 86400:
                raise ValueError(f"order {order_id}: the return time is over")
            self._transition(order, status)

    def cancel(self, order_id: int) -> None:
        """Cancel an order (from 1 before acknowledgement, as eMAG does, or per the matrix)."""
        with self._lock:
            order = self._orders[order_id]
            if order.status == NEW:
                self._transition(order, CANCELED)
            else:
                self.set_status(order_id, CANCELED)

    def edit_line(self, order_id: int, line_id: int, quantity: Quantity, *, by_staff: bool = False) -> None:
        """Change a line's quantity (0 cancels the line): in status 2 or 3, or by eMAG staff before ack.

        Raises:
            ValueError: the status does not allow edits, or an online-card order would lose units.
        """
        with self._lock:
            order = self._orders[order_id]
            line = self._line(order, line_id)
            self._check_edit(order, by_staff)
            before = _units(line.quantity)
            after = _units(quantity)
            if order.payment_mode_id == ONLINE_CARD and (after is None or before is None or after < before):
                raise ValueError("online card orders: quantities cannot be reduced nor lines removed")
            now = self._now()
            if after == 0:
                line.status = 0
            else:
                line.quantity = quantity
            line.modified = order.modified = now
            self._hold(order, line)

    def add_line(self, order_id: int, offer_id: int, quantity: Quantity) -> int:
        """Add a line to an order in status 2 or 3; returns its id."""
        with self._lock:
            order = self._orders[order_id]
            self._check_edit(order, False)
            now = self._now()
            line = self._new_line(offer_id, quantity, now)
            order.lines.append(line)
            order.modified = now
            self._hold(order, line)
            return line.id

    def storno(self, order_id: int, line_id: int, units: int) -> None:
        """A partial return on a finalized order: the line loses ``units``, the order stays 4.

        Once every invoiced unit is back the order becomes 5 (returned) by itself.
        """
        with self._lock:
            order = self._orders[order_id]
            if order.status != FINALIZED:
                raise ValueError("a storno needs a finalized order (status 4)")
            line = self._line(order, line_id)
            held = _units(line.quantity)
            if held is None or not 1 <= units <= held:
                raise ValueError(f"cannot storno {units} of line {line_id}")
            now = self._now()
            line.quantity = held - units
            line.storno_qty += units
            line.modified = order.modified = now
            if all((_units(x.quantity) or 0) == 0 or x.status == 0 for x in order.lines):
                self._transition(order, RETURNED)

    def add_rma(
        self,
        order_id: int,
        products: Sequence[tuple[int, int]],
        *,
        return_type: int = 3,
        request_status: int = 2,
    ) -> int:
        """A buyer's return request for ``(offer id, quantity)`` of an order; returns its emag_id."""
        with self._lock:
            if order_id not in self._orders:
                raise KeyError(order_id)
            now = self._now()
            self._next_rma += 1
            body = {
                "order_id": str(order_id),
                "date": self.stamp(now),
                "products": [
                    {"id": self._next_rma * 10 + i, "product_id": str(offer), "quantity": str(quantity)}
                    for i, (offer, quantity) in enumerate(products)
                ],
            }
            self._rmas[self._next_rma] = _Rma(
                self._next_rma + 1_000_000, self._next_rma, order_id, request_status, return_type, now, body
            )
            return self._next_rma

    def load_rma(self, recorded: Mapping[str, Json], *, request_id: int) -> None:
        """Store an RMA request exactly as ``rma/read`` shows it (a documented example)."""
        with self._lock:
            emag_id = int(recorded["emag_id"])
            self._rmas[emag_id] = _Rma(
                request_id,
                emag_id,
                int(recorded["order_id"]),
                int(recorded["request_status"]),
                int(recorded["return_type"]),
                self._parse(recorded.get("date")) or self._now(),
                dict(recorded),
            )

    def set_rma_status(self, emag_id: int, request_status: int) -> None:
        """Move an RMA request per its status matrix (ValueError otherwise)."""
        with self._lock:
            rma = self._rmas[emag_id]
            if request_status not in RMA_MATRIX[rma.request_status]:
                raise ValueError(f"RMA {emag_id}: {rma.request_status} -> {request_status} is not allowed")
            rma.request_status = request_status

    def fail_next(
        self,
        route: str,
        status: int = 503,
        *,
        response: httpx.Response | None = None,
        exception: Exception | None = None,
        times: int = 1,
        applied: bool = False,
    ) -> None:
        """Script the next ``times`` requests to ``route`` (see LoggedRequest.route) to fail, FIFO."""
        with self._lock:
            self._faults.add(
                route, status, response=response, exception=exception, times=times, applied=applied
            )

    def count(self, route: str) -> int:
        """Requests to ``route`` (refused, throttled and faulted ones included)."""
        with self._lock:
            return sum(1 for entry in self.request_log if entry.route == route)

    @property
    def throttled(self) -> int:
        """429 answers given."""
        with self._lock:
            return sum(1 for entry in self.request_log if entry.throttled)

    # -- stock and status rules --

    def _new_line(self, offer_id: int, quantity: Quantity, now: float) -> _Line:
        offer = self._offers[offer_id]
        self._next_line += 1
        return _Line(self._next_line, offer_id, offer.part_number, quantity, quantity, now, now)

    @staticmethod
    def _line(order: _Order, line_id: int) -> _Line:
        for line in order.lines:
            if line.id == line_id:
                return line
        raise ValueError(f"line {line_id} is not on order {order.id}")

    @staticmethod
    def _check_edit(order: _Order, by_staff: bool) -> None:
        if order.type != 3:
            raise ValueError("orders fulfilled by eMAG take attachments only")
        if order.status not in (IN_PROGRESS, PREPARED) and not (by_staff and order.status == NEW):
            raise ValueError(f"order {order.id} is in status {order.status}: lines change only in 2 or 3")

    def _wanted(self, order: _Order, line: _Line) -> int:
        """Units the line should take (or reserve) in the order's status now."""
        units = _units(line.quantity)
        if units is None or line.status == 0 or order.type != 3:
            return 0
        if order.status in (NEW, IN_PROGRESS, PREPARED, FINALIZED):
            return units
        if order.status == RETURNED:
            return line.taken  # returns put nothing back (the seller counts them)
        return 0 if self.restock_on_cancel else line.taken  # canceled

    def _hold(self, order: _Order, line: _Line) -> None:
        """Move the offer's stock (or reservation) so the line holds what its order's status wants."""
        offer = self._offers.get(line.product_id)
        wanted = self._wanted(order, line)
        diff = wanted - line.taken
        if offer is None or diff == 0:
            line.taken = wanted
            return
        if order.status == NEW:
            offer.reserved += diff
        else:
            offer.stock[1] = offer.stock.get(1, 0) - diff
        line.taken = wanted

    def _transition(self, order: _Order, status: int) -> None:
        now = self._now()
        was = order.status
        if was == NEW:
            # release the reservations; units taken below come from the warehouse
            for line in order.lines:
                offer = self._offers.get(line.product_id)
                if offer is not None:
                    offer.reserved -= line.taken
                line.taken = 0
            if status == CANCELED:
                order.status, order.modified, order.status_since = status, now, now
                return
        order.status = status
        order.modified = order.status_since = now
        if status == FINALIZED and order.finalized is None:
            order.finalized = now
        for line in order.lines:
            self._hold(order, line)

    def _acknowledge(self, order_id: int) -> str:
        order = self._orders.get(order_id)
        if order is None:
            return f"Order {order_id} does not exist"  # unrecorded
        if order.status != NEW:
            return f"Order {order_id} cannot be acknowledged in status {order.status}"  # unrecorded
        self._transition(order, IN_PROGRESS)
        return ""

    # -- JSON views --

    def _offer_json(self, offer: _Offer) -> Json:
        general = sum(offer.stock.values())
        return {
            "id": offer.id,
            "part_number": offer.part_number,
            "status": offer.status,
            **offer.fields,
            "stock": [{"warehouse_id": w, "value": v} for w, v in sorted(offer.stock.items())],
            "general_stock": general,
            "estimated_stock": general - offer.reserved,
        }

    def _line_json(self, line: _Line) -> Json:
        return {
            "id": line.id,
            "product_id": line.product_id,
            "part_number": line.part_number,
            "quantity": line.quantity,
            "initial_qty": line.initial_qty,
            "storno_qty": line.storno_qty,
            "sale_price": "100.0000",
            "currency": "RON",
            "created": self.stamp(line.created),
            "modified": self.stamp(line.modified),
            "status": line.status,
            "details": [],
            "vat": "0.1900",
        }

    def _order_json(self, order: _Order) -> Json:
        return {
            "status": order.status,
            "type": order.type,
            "date": self.stamp(order.created),
            "modified": self.stamp(order.modified),
            "observation": None,
            "id": order.id,
            "payment_mode_id": order.payment_mode_id,
            "payment_status": 0,
            "is_complete": 1,
            "vendor_name": "vendor1",
            "customer": {"id": 12556, "name": "Name Surname"},
            "details": [],
            "products": [self._line_json(line) for line in order.lines],
            "shipping_tax": "0.0000",
            "vouchers": [],
        }

    def _rma_json(self, rma: _Rma) -> Json:
        return {
            **rma.body,
            "emag_id": rma.emag_id,
            "request_status": rma.request_status,
            "return_type": rma.return_type,
        }

    # -- the wire --

    _ROUTES = (
        ("PATCH", re.compile(r"offer_stock/(?P<id>[^/]*)"), "offer_stock", "other"),
        ("POST", re.compile(r"order/acknowledge/(?P<id>[^/]*)"), "order/acknowledge", "orders"),
        ("POST", re.compile(r"product_offer/read"), "product_offer/read", "other"),
        ("POST", re.compile(r"offer/save"), "offer/save", "other"),
        ("POST", re.compile(r"order/read"), "order/read", "orders"),
        ("POST", re.compile(r"order/count"), "order/count", "orders"),
        ("POST", re.compile(r"rma/read"), "rma/read", "other"),
    )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one HTTP request."""
        with self._lock:
            entry: dict[str, Any] = {"route": "", "bucket": "other", "items": 0, "throttled": False}
            answer: httpx.Response | None = None
            try:
                answer = self._answer(request, entry)
            except _Answer as early:
                answer = early.response
            finally:
                self.request_log.append(
                    LoggedRequest(
                        request.method,
                        entry["route"],
                        entry["bucket"],
                        answer.status_code if answer is not None else None,
                        entry["throttled"],
                        entry["items"],
                    )
                )
            return answer

    def _headers(self, bucket: str) -> dict[str, str]:
        limit = (self._limits or LIMITS)[bucket][0]
        left = max(0, limit - len(self._recent[bucket]))
        return {"X-RateLimit-Limit-3second": str(limit), "X-RateLimit-Remaining-3second": str(left)}

    def _json(self, body: Json, status: int = 200, bucket: str = "other") -> httpx.Response:
        return httpx.Response(status, json=body, headers=self._headers(bucket))

    def _answer(self, request: httpx.Request, entry: dict[str, Any]) -> httpx.Response:
        path = request.url.path
        rest = path[len(PREFIX) :].strip("/") if path.startswith(PREFIX) else None
        match = None
        for method, pattern, name, bucket in self._ROUTES:
            if rest is not None and request.method == method and (match := pattern.fullmatch(rest)):
                entry["route"], entry["bucket"] = name, bucket
                break
        else:
            if rest is not None and rest.startswith("order"):
                entry["bucket"] = "orders"
            self._throttle(entry)
            if rest in _UNMODELLED:
                entry["route"] = rest
                raise _Answer(
                    self._json(envelope(error=True, messages=[f"{rest} is not modelled by this fake"]), 501)
                )
            raise _Answer(self._json({"message": "Invalid URL"}, 404, entry["bucket"]))
        route, bucket = entry["route"], entry["bucket"]
        self._throttle(entry)
        self._authenticate(request, bucket)
        fault = self._faults.next(route)
        if fault is not None and not fault.applied:
            return self._fire(fault, bucket)
        if route == "offer_stock":
            answer = self._patch_stock(match.group("id"), request)
        else:
            body = self._body(request, route, bucket)
            if route == "offer/save":
                answer = self._save(body, entry)
            elif route == "product_offer/read":
                answer = self._read_offers(body)
            elif route == "order/read":
                answer = self._read_orders(body)
            elif route == "order/count":
                answer = self._count_orders(body)
            elif route == "order/acknowledge":
                answer = self._ack(match.group("id"))
            else:
                answer = self._read_rmas(body)
        if fault is not None:
            return self._fire(fault, bucket)
        return answer

    def _fire(self, fault: Fault, bucket: str) -> httpx.Response:
        return fault.fire(
            lambda status: self._json(envelope(error=True, messages=[f"HTTP {status}"]), status, bucket)
        )

    def _throttle(self, entry: dict[str, Any]) -> None:
        if self._limits is None:
            return
        bucket = entry["bucket"]
        per_second, per_minute = self._limits[bucket]
        now = self._now()
        recent = self._recent[bucket]
        while recent and recent[0] <= now - 60:
            recent.popleft()
        in_second = sum(1 for t in recent if t > now - 1)
        if in_second >= per_second or len(recent) >= per_minute:
            entry["throttled"] = True
            headers = {"X-RateLimit-Limit-3second": str(per_second), "X-RateLimit-Remaining-3second": "0"}
            raise _Answer(httpx.Response(429, json={"message": "API rate limit exceeded"}, headers=headers))
        recent.append(now)

    def _authenticate(self, request: httpx.Request, bucket: str) -> None:
        header = request.headers.get("Authorization", "")
        user, password = None, None
        if header.lower().startswith("basic "):
            try:
                user, _, password = (
                    base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                user = None
        if user != self._username or password != self._password:
            raise _Answer(  # unrecorded: eMAG does not document this answer
                self._json(envelope(error=True, messages=["Invalid username or password"]), 401, bucket)
            )
        if not self.ip_allowed:
            raise _Answer(  # unrecorded
                self._json(envelope(error=True, messages=["Your IP address is not whitelisted"]), 403, bucket)
            )
        if not self.api_rights:
            raise _Answer(self._json(envelope(error=True, messages=[NO_API_RIGHTS]), 403, bucket))

    def _refuse(self, message: str, bucket: str = "other") -> _Answer:
        """A refused request: the envelope with isError true (HTTP 200: eMAG states no status)."""
        return _Answer(self._json(envelope(error=True, messages=[message]), 200, bucket))

    def _body(self, request: httpx.Request, route: str, bucket: str) -> Json:
        content = request.content
        if route == "order/acknowledge" and not content.strip():
            return None
        if "json" not in request.headers.get("Content-Type", ""):
            raise _Answer(
                self._json(
                    envelope(error=True, messages=["only JSON bodies are modelled by this fake"]), 501, bucket
                )
            )
        try:
            body = json.loads(content)
        except ValueError:
            raise self._refuse("Invalid content", bucket) from None  # unrecorded for classic routes
        if _leaves(body) > MAX_ELEMENTS:
            raise self._refuse("Maximum input vars of 4000 exceeded", bucket)
        if route == "offer/save":
            return body.get("data") if isinstance(body, dict) else body
        if not isinstance(body, dict) or "data" not in body:
            raise self._refuse("The data key is mandatory", bucket)  # unrecorded
        return body["data"]

    # -- offers --

    def _save(self, body: Json, entry: dict[str, Any]) -> httpx.Response:
        if not isinstance(body, list) or not body:
            raise self._refuse("Send a list of offers")  # unrecorded
        entry["items"] = len(body)
        if len(body) > MAX_SAVE:
            raise self._refuse(f"Maximum {MAX_SAVE} entities per request")  # unrecorded
        results: dict[str, Json] = {}
        for item in body:
            offer_id = _whole(item.get("id")) if isinstance(item, dict) else None
            if offer_id is None or not 1 <= offer_id <= MAX_OFFER_ID:
                raise self._refuse("Every offer needs an id (1..16777215)")  # unrecorded
            problems = self._save_offer(offer_id, item)
            results[str(offer_id)] = {
                "isError": bool(problems),
                "messages": problems or [f"Offer {offer_id} updated successfully"],
            }
        return self._json({"isError": False, "messages": [], "errors": [], "results": results})

    def _save_offer(self, offer_id: int, item: Mapping[str, Json]) -> list[str]:
        """Apply one light-API offer update; the messages of its refusal (nothing applied), or []."""
        offer = self._offers.get(offer_id)
        if offer is None:
            return [
                f"Offer {offer_id} does not exist; the light offer API cannot create offers"
            ]  # unrecorded
        problems = [f"Unknown field {name}" for name in item if name not in _OFFER_FIELDS]  # stricter
        stock: dict[int, int] = {}
        if "stock" in item:
            if not isinstance(item["stock"], list):
                problems.append(STOCK_WHOLE[0])
            for level in item["stock"] if isinstance(item["stock"], list) else ():
                warehouse = _whole(level.get("warehouse_id")) if isinstance(level, dict) else None
                value = level.get("value") if isinstance(level, dict) else None
                problems += self._stock_problems(value)
                if warehouse is None or warehouse < 1:
                    problems.append(
                        "The warehouse_id field must be a whole number of at least 1"
                    )  # unrecorded
                elif (units := _whole(value)) is not None:
                    stock[warehouse] = units
            if offer.campaign and not problems:
                problems.append(CAMPAIGN_LOCK.format(campaign=offer.campaign))
        if "status" in item and _whole(item["status"]) not in (0, 1, 2):
            problems.append("The status field must be 0, 1 or 2")  # unrecorded
        if problems:
            return list(dict.fromkeys(problems))
        offer.stock.update(stock)
        if "status" in item:
            offer.status = int(item["status"])
        offer.fields.update({k: v for k, v in item.items() if k not in ("id", "stock", "status")})
        return []

    @staticmethod
    def _stock_problems(value: Json) -> list[str]:
        units = _whole(value)
        problems = []
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or number < 0:
            problems.append(STOCK_NOT_NEGATIVE)
        if units is None:
            problems += STOCK_WHOLE
        elif units > MAX_STOCK:
            problems.append(f"Stock should be at most {MAX_STOCK}")  # unrecorded
        return problems

    def _patch_stock(self, raw_id: str, request: httpx.Request) -> httpx.Response:
        offer_id = _whole(raw_id)
        if offer_id is None:
            return self._json({"message": "Invalid URL"}, 404)
        offer = self._offers.get(offer_id)
        if offer is None:
            return self._json({"message": "This offer does not exist"}, 404)
        try:
            body = json.loads(request.content)
        except ValueError:
            body = None
        value = body.get("stock") if isinstance(body, dict) and set(body) == {"stock"} else None
        if (
            "json" not in request.headers.get("Content-Type", "")
            or _whole(value) is None
            or isinstance(value, str)
        ):
            return self._json({"message": "Invalid content"}, 400)
        problems = [p for p in self._stock_problems(value) if p not in STOCK_WHOLE]
        if not problems and offer.campaign:
            problems.append(CAMPAIGN_LOCK.format(campaign=offer.campaign))
        if problems:
            return self._json(
                {
                    "message": "Validation errors in your request",
                    "errors": [{"message": p, "field": "stock"} for p in problems],
                },
                400,
            )
        offer.stock[1] = int(value) if isinstance(value, int) else 0
        return httpx.Response(204, headers=self._headers("other"))

    def _filters(self, data: Json, known: Mapping[str, bool], bucket: str) -> dict[str, Json]:
        if data in (None, [], ""):
            data = {}
        if not isinstance(data, dict):
            raise self._refuse("The data key must hold the filters", bucket)  # unrecorded
        unknown = [k for k in data if k not in known]
        if unknown:
            raise self._refuse(f"Unknown filter(s): {', '.join(unknown)}", bucket)  # stricter, unrecorded
        unmodelled = [k for k in data if not known[k]]
        if unmodelled:
            raise _Answer(
                self._json(
                    envelope(
                        error=True, messages=[f"filters not modelled by this fake: {', '.join(unmodelled)}"]
                    ),
                    501,
                    bucket,
                )
            )
        return data

    def _paging(self, data: Mapping[str, Json], bucket: str) -> tuple[int, int]:
        page = _whole(data.get("currentPage", 1))
        per_page = _whole(data.get("itemsPerPage", MAX_PER_PAGE))
        if page is None or not 1 <= page <= MAX_PAGE:
            raise self._refuse(f"currentPage must be between 1 and {MAX_PAGE}", bucket)  # unrecorded
        if per_page is None or not 1 <= per_page <= MAX_PER_PAGE:
            raise self._refuse(f"itemsPerPage must be between 1 and {MAX_PER_PAGE}", bucket)  # unrecorded
        return page, per_page

    def _read_offers(self, data: Json) -> httpx.Response:
        filters = self._filters(data, _OFFER_FILTERS, "other")
        page, per_page = self._paging(filters, "other")
        offers = sorted(self._offers.values(), key=lambda o: o.id)
        if "id" in filters:
            offers = [o for o in offers if o.id == _whole(filters["id"])]
        if "status" in filters:
            offers = [o for o in offers if o.status == _whole(filters["status"])]
        if "part_number" in filters:
            offers = [o for o in offers if o.part_number == filters["part_number"]]
        chunk = offers[(page - 1) * per_page : page * per_page]
        return self._json(envelope([self._offer_json(o) for o in chunk]))

    # -- orders --

    def _order_filters(self, data: Json) -> tuple[list[_Order], Mapping[str, Json]]:
        filters = self._filters(data, _ORDER_FILTERS, "orders")
        orders = sorted(self._orders.values(), key=lambda o: o.id)
        for after, before, attr in (
            ("createdAfter", "createdBefore", "created"),
            ("modifiedAfter", "modifiedBefore", "modified"),
        ):
            start = self._parse(filters[after]) if after in filters else None
            end = self._parse(filters[before]) if before in filters else None
            if (after in filters and start is None) or (before in filters and end is None):
                raise self._refuse(f"{after}/{before} must be YYYY-mm-dd HH:ii:ss", "orders")  # unrecorded
            if end is not None and start is None:
                raise self._refuse(f"{before} needs {after}", "orders")  # unrecorded
            if start is not None and end is not None and end - start > 31 * 86400:
                raise self._refuse(
                    f"{after} and {before} may be at most one month apart", "orders"
                )  # unrecorded
            if start is not None:
                orders = [o for o in orders if getattr(o, attr) >= start]
            if end is not None:
                orders = [o for o in orders if getattr(o, attr) <= end]
        if "id" in filters:
            orders = [o for o in orders if o.id == _whole(filters["id"])]
        if "status" in filters:
            wanted = filters["status"] if isinstance(filters["status"], list) else [filters["status"]]
            statuses = {_whole(s) for s in wanted}
            orders = [o for o in orders if o.status in statuses]
        if "payment_mode_id" in filters:
            wanted = filters["payment_mode_id"]
            modes = {_whole(m) for m in (wanted if isinstance(wanted, list) else [wanted])}
            orders = [o for o in orders if o.payment_mode_id in modes]
        kind = _whole(filters.get("type", 3))
        if kind not in (2, 3):
            raise self._refuse("type must be 2 or 3", "orders")  # unrecorded
        orders = [o for o in orders if o.type == kind]
        return orders, filters

    def _read_orders(self, data: Json) -> httpx.Response:
        orders, filters = self._order_filters(data)
        page, per_page = self._paging(filters, "orders")
        chunk = orders[(page - 1) * per_page : page * per_page]
        return self._json(envelope([self._order_json(o) for o in chunk]), bucket="orders")

    def _count_orders(self, data: Json) -> httpx.Response:
        orders, _ = self._order_filters(data)
        pages = -(-len(orders) // MAX_PER_PAGE)
        return self._json(envelope({"noOfItems": len(orders), "noOfPages": pages}), bucket="orders")

    def _ack(self, raw_id: str) -> httpx.Response:
        order_id = _whole(raw_id)
        problem = self._acknowledge(order_id) if order_id is not None else f"Invalid order id {raw_id}"
        if problem:
            raise self._refuse(problem, "orders")
        return self._json(envelope(), bucket="orders")

    # -- returns --

    def _read_rmas(self, data: Json) -> httpx.Response:
        filters = self._filters(data, _RMA_FILTERS, "other")
        page, per_page = self._paging(filters, "other")
        rmas = sorted(self._rmas.values(), key=lambda r: r.emag_id)
        picks: tuple[tuple[str, Callable[[_Rma], int]], ...] = (
            ("id", lambda r: r.id),
            ("emag_id", lambda r: r.emag_id),
            ("order_id", lambda r: r.order_id),
            ("request_status", lambda r: r.request_status),
            ("type", lambda r: r.return_type),
        )
        for name, pick in picks:
            if name in filters:
                rmas = [r for r in rmas if pick(r) == _whole(filters[name])]
        for name, key in (("product_id", "product_id"), ("product_emag_id", "product_emag_id")):
            if name in filters:
                rmas = [
                    r
                    for r in rmas
                    if any(str(p.get(key)) == str(filters[name]) for p in r.body.get("products", []))
                ]
        for name, sign in (("date_start", 1), ("date_end", -1)):
            if name in filters:
                moment = self._parse(filters[name])
                if moment is None:
                    raise self._refuse(f"{name} must be YYYY-mm-dd HH:ii:ss")  # unrecorded
                rmas = [r for r in rmas if (r.created - moment) * sign >= 0]
        chunk = rmas[(page - 1) * per_page : page * per_page]
        return self._json(envelope([self._rma_json(r) for r in chunk]))
