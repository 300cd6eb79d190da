"""Meta (Facebook / Instagram) commerce catalog over the Graph API: quantities out, nothing in.

Calls (https://developers.facebook.com/docs/marketing-api/catalog-batch/reference), all on
``https://graph.facebook.com/{version}/{catalog_id}/…`` with the system user's token in the
``Authorization`` header (never in a URL, so it stays out of httpx's request logs):

- **Push.** ``POST items_batch`` with ``item_type=PRODUCT_ITEM``, ``allow_upsert=false`` and one
  ``UPDATE`` record per SKU: ``{"id": <SKU as retailer id>, "quantity_to_sell_on_facebook": n,
  "availability": "in stock" | "out of stock"}``. ``quantity_to_sell_on_facebook`` replaces the
  deprecated ``inventory``; availability follows the quantity so the two never contradict.
  ``allow_upsert=false`` because an update of a SKU the catalog lacks would otherwise create a
  bare product; Meta then reports the id as invalid, and that SKU's outcome is a refusal.
- **Asynchronous processing.** Meta answers with a handle and applies the batch later. The push
  polls ``check_batch_request_status`` with back-off for at most ``settle_s`` (injected sleep):
  failed records become refusals with Meta's message; records still unprocessed at the bound are
  ``ok`` with a message starting ``LAG:`` (buyers still see the old number, and
  :meth:`MetaChannel.read_levels` keeps reporting it until Meta applies the batch). Handles still
  open are polled again at the start of the next push; an error that arrives then is logged and
  reported as a refusal the next time that SKU is pushed (:attr:`MetaChannel.late_errors`).
- **Prices.** :meth:`MetaChannel.push_prices` sends the same ``items_batch`` with ``UPDATE``
  records ``{"id": <SKU>, "price": "12.50 EUR"}``: the feed format Meta's batch fields take (a
  number with ``.`` as the decimal point, a space, the ISO 4217 code; the SDK's integer-cents
  ``price`` belongs to the single-item endpoint, not to batches). Each price batch counts against
  the same Catalog Batch limit, and is settled and reported exactly as a quantity batch; a late
  failure is kept in :attr:`MetaChannel.late_price_errors` for the next price push of that SKU.
- **Quick push.** :meth:`MetaChannel.push_now` (a sale's few SKUs, at most :data:`QUICK_MAX`)
  sends one ``POST https://graph.facebook.com/{version}/{product_item_id}`` per SKU with the
  ProductItem update parameters ``quantity_to_sell_on_facebook`` and ``availability`` (SDK
  ``ProductItem.api_update``). A node update is applied when Meta answers it (``{"success":
  true}``), so its outcomes are ``ok`` without ``LAG:``; that is the fake's model and this
  adapter's assumption. The product item ids come from ``GET products`` (``fields=id,…``) and
  are kept per SKU; :meth:`MetaChannel.read_levels` fills the same map.
- **Read back.** ``GET products`` with ``filter={"retailer_id":{"is_any":[…]}}`` and
  ``fields=id,retailer_id,quantity_to_sell_on_facebook``, :data:`READ_BATCH` SKUs per request.
- **Limits.** ``items_batch`` is under the Catalog Batch business-use-case limit (200 calls an
  hour per catalog for one user); product reads and item updates are under Catalog Management
  (20,000 an hour per catalog for one user,
  https://developers.facebook.com/docs/graph-api/overview/rate-limiting#catalog). A throttled
  answer (80014 and the other throttling codes) is not retried in-process: it raises
  TransientError with ``retry_after`` from the ``X-Business-Use-Case-Usage`` header's
  ``estimated_time_to_regain_access`` (minutes), and the adapter makes no call under that limit
  (batches, or quick pushes) before that time has passed. Other transient failures (network,
  5xx, Graph codes 1 and 2) go through :mod:`sheetsync.retry`.

No orders: Meta ended on-site checkout on 2025-09-04
(https://developers.facebook.com/documentation/ads-commerce/commerce-platform/project-guide); sales
close on the merchant's own shop and arrive through that channel. This is a Channel, not an
OrderSource.
Messages, logs and exceptions name the catalog, never the token.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from sheetsync import retry
from sheetsync.channels import _http, refuse_oversized
from sheetsync.errors import PermanentError, TransientError
from sheetsync.model import (
    CatalogueItem,
    ChannelLimits,
    ChannelName,
    PriceLevel,
    PushOutcome,
    Sku,
    StockLevel,
)
from sheetsync.pacing import Allowance, Spending

logger = logging.getLogger(__name__)

Json = Any  # a decoded JSON value; shapes are checked where they are read

DEFAULT_API_VERSION = "v25.0"
DEFAULT_BASE_URL = "https://graph.facebook.com"
#: Records per items_batch call: the most Meta allows (it recommends 3,000, which finish
#: processing sooner; https://developers.facebook.com/docs/marketing-api/catalog-batch/reference).
#: Batch calls are the scarce ones (200 an hour), and a sale no longer waits for a batch: it goes
#: item by item (``push_now``).
MAX_BATCH = 5000
#: Catalog Batch calls an hour per catalog (the business-use-case limit above).
CALLS_PER_HOUR = 200
#: Catalog Management calls (product reads, item updates) an hour per catalog for one user.
MANAGEMENT_CALLS_PER_HOUR = 20_000
#: SKUs per products read: the filter travels in the query string, so keep URLs a few KB long.
READ_BATCH = 100
#: Most levels :meth:`MetaChannel.push_now` sends item by item (one call each, and one products
#: read for ids it lacks); more go as one batch.
QUICK_MAX = 50
#: Which business-use-case limit a call counts against, by edge ("" is a product item node).
_LIMITS = {"items_batch": "batch", "products": "management", "": "management"}
#: Seconds before an open batch's status is asked again: a cycle pushing 34 batches asked about
#: every earlier one before each (561 status calls at 100,000 SKUs).
REASK_S = 60.0
#: Seconds after its push before an open batch is first asked about. Meta's processing "usually
#: takes seconds to minutes": asked at once, a batch is still in progress and must be asked again
#: (a full cycle at 100,000 SKUs asked about 19 of its 20 batches the moment it sent the next).
FIRST_ASK_S = 30.0
#: How long a push waits for Meta to process its batch before reporting LAG (seconds).
SETTLE_S = 30.0
#: First wait before polling a batch's status; doubled each time up to _POLL_MAX_S.
_POLL_FIRST_S = 1.0
_POLL_MAX_S = 8.0
#: Handles older than this are given up on: their SKUs are reported as not confirmed.
HANDLE_EXPIRY_S = 3600.0
#: Graph throttling codes (error-handling guide): app, user, page, custom and BUC limits.
THROTTLE_CODES = frozenset({4, 17, 32, 613} | set(range(80001, 80015)))
#: Graph codes for a server-side failure worth retrying ("unknown error", "service unavailable").
SERVER_CODES = frozenset({1, 2})
#: For a failed id beyond the sample of ``errors`` a status answer carries.
_NO_MESSAGE = "listed as an invalid request (no message in the sample)"
#: Statuses after which a batch changes no more (check_batch_request_status field docs).
_DONE = frozenset({"finished", "canceled", "error"})

IN_STOCK = "in stock"
OUT_OF_STOCK = "out of stock"


class _Refused(PermanentError):
    """Graph refused a parameter or object (code 100): on a product item, a refusal of that item alone."""


@dataclass(frozen=True, slots=True)
class _Throttled:
    """A throttled answer, carried out of the retry loop so that it is not retried in-process."""

    code: int
    retry_after: float | None


@dataclass(slots=True)
class _Open:
    """A batch Meta accepted but had not finished when its push returned."""

    handle: str
    accepted_at: float
    kind: str  #: "quantity" or "price": which late-error map its failures go to
    values: dict[Sku, str] = field(default_factory=dict)  #: what was sent, as text for messages
    asked_at: float | None = None  #: when its status was last asked (None: never since its push)


def availability(quantity: int) -> str:
    """The availability that agrees with ``quantity``: buyers are never shown stock we lack."""
    return IN_STOCK if quantity > 0 else OUT_OF_STOCK


def price_text(price: PriceLevel) -> str:
    """The batch ``price`` field: amount, a space, the ISO 4217 code (``"12.50 EUR"``)."""
    return f"{price.text} {price.currency}"


def _label(edge: str, node: str | None) -> str:
    """What messages call a request's target: the catalog's edge, or the product item."""
    return edge or f"item {node}"


def regain_seconds(header: str | None) -> float | None:
    """The longest ``estimated_time_to_regain_access`` in an ``X-Business-Use-Case-Usage`` header, in seconds.

    The header is JSON keyed by business id, each holding a list of usage entries whose
    ``estimated_time_to_regain_access`` is in minutes. None when the header is absent or says 0.
    """
    if not header:
        return None
    try:
        usage = json.loads(header)
    except ValueError:
        return None
    minutes = [
        float(entry["estimated_time_to_regain_access"])
        for entries in (usage.values() if isinstance(usage, dict) else ())
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("estimated_time_to_regain_access"), int | float)
    ]
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else None


class MetaChannel:
    """One Meta product catalog, as a push-only :class:`~sheetsync.channels.Channel`.

    Args:
        name: the channel's name in the sheet.
        catalog_id: the product catalog's id (a platform id, not a secret).
        token: a system user access token with ``catalog_management``; only ever sent.
        api_version: the pinned Graph API version.
        base_url: where the Graph API is, instead of ``https://graph.facebook.com`` (a fake).
        client: an httpx client to send with; else one is made with ``transport``. The adapter
            closes only a client it made.
        sleep: how to wait (status polls, retries); tests pass one that moves a fake clock.
        clock: seconds, for the age of open batches and the throttle's end; tests pass the fake's.
        settle_s: how long a push waits for its batch to be processed before reporting LAG.
        max_batch: records per items_batch call (at most 5,000).
    """

    def __init__(
        self,
        name: ChannelName,
        *,
        catalog_id: str,
        token: str,
        api_version: str = DEFAULT_API_VERSION,
        base_url: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        settle_s: float = SETTLE_S,
        max_batch: int = MAX_BATCH,
    ) -> None:
        if not 1 <= max_batch <= 5000:
            raise ValueError(f"max_batch must be between 1 and 5000, not {max_batch}")
        self.name = name
        self.limits = ChannelLimits(
            max_batch=max_batch,
            typical_lag_s=settle_s,
            calls_per_hour=CALLS_PER_HOUR,
            read_skus_per_s=MANAGEMENT_CALLS_PER_HOUR / 3600 * READ_BATCH,
        )
        self.catalog_id = catalog_id
        self._token = token
        self._root = f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/{api_version}"
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, timeout=httpx.Timeout(60.0, connect=10.0))
        self._sleep = sleep
        self._clock = clock
        self._settle_s = settle_s
        self._open: list[_Open] = []
        #: Limit ("batch", "management") → when Meta lets calls under it through again.
        self._blocked_until: dict[str, float] = {}
        self._spending = Spending()  # calls sent, by the limit they count against
        #: SKU (retailer id) → product item id, from products reads.
        self._item_ids: dict[Sku, str] = {}
        #: SKU → Meta's message for a record that failed after its push had returned.
        self.late_errors: dict[Sku, str] = {}
        #: The same for prices, reported on the next price push of the SKU.
        self.late_price_errors: dict[Sku, str] = {}
        #: Status requests made so far (the benchmark reports them beside the batch calls).
        self.status_polls = 0

    def close(self) -> None:
        """Close the HTTP client if this adapter made it."""
        if self._owns_client:
            self._client.close()

    # -- Metered --

    def allowances(self) -> Sequence[Allowance]:
        """Meta's Catalog Batch and Catalog Management limits, per catalog."""
        return (
            Allowance("batch", "batch calls", CALLS_PER_HOUR / 3600, f"{CALLS_PER_HOUR} an hour"),
            Allowance(
                "management",
                "management calls",
                MANAGEMENT_CALLS_PER_HOUR / 3600,
                f"{MANAGEMENT_CALLS_PER_HOUR:,} an hour",
            ),
        )

    def take_spent(self) -> Mapping[str, int]:
        """Calls sent since the last call, by the limit they count against."""
        return self._spending.take()

    # -- Channel --

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Set ``quantity_to_sell_on_facebook`` and availability for each level; one outcome per level.

        Raises:
            PermanentError: more than ``limits.max_batch`` levels, a refused token, an unknown
                catalog, or Meta refusing the call as a whole.
            TransientError: Meta unreachable or failing after every retry, or throttled (then
                with ``retry_after``, and no batch call is made until it has passed).
        """
        items = [
            (
                level.sku,
                {
                    "quantity_to_sell_on_facebook": level.quantity,
                    "availability": availability(level.quantity),
                },
                str(level.quantity),
            )
            for level in levels
        ]
        return self._send(items, "quantity")

    def push_prices(self, prices: Sequence[PriceLevel]) -> Sequence[PushOutcome]:
        """Set ``price`` (``"12.50 EUR"``) for each SKU; one outcome per price.

        Raises the same errors as :meth:`push`; a price batch counts against the same limit.
        """
        items = [(price.sku, {"price": price_text(price)}, price_text(price)) for price in prices]
        return self._send(items, "price")

    def push_now(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Set quantity and availability of each level by its own item update; one outcome per level.

        A node update is applied when Meta answers it (the fake's model, and this adapter's
        assumption), so outcomes are ``ok`` with no ``LAG:``. Item ids missing from the map are
        read in one products call. A SKU the catalog lacks, or a value Meta refuses, is a refusal
        of that level only. More than :data:`QUICK_MAX` levels go through :meth:`push` instead.

        Raises:
            TransientError: Meta unreachable or failing after every retry, or Catalog Management
                throttled (then with ``retry_after``); levels before it were applied, and sending
                them again sets the same numbers.
            PermanentError: a refused token or Meta refusing access to the catalog.
        """
        if len(levels) > QUICK_MAX:
            return self.push(levels)
        if not levels:
            return []
        self._check_blocked("management")
        missing = [level.sku for level in levels if level.sku not in self._item_ids]
        if missing:
            self._read_products(missing, "id,retailer_id")
        outcomes = [self._update_item(level) for level in levels]
        logger.info(
            "%s: %d of %d quantities set item by item in Meta catalog %s",
            self.name,
            sum(o.ok for o in outcomes),
            len(outcomes),
            self.catalog_id,
        )
        return outcomes

    def read_levels(self, skus: Collection[Sku]) -> Mapping[Sku, int]:
        """``quantity_to_sell_on_facebook`` as Meta has processed it; SKUs without one are left out."""
        found: dict[Sku, int] = {}
        for item in self._read_products(skus, "id,retailer_id,quantity_to_sell_on_facebook"):
            quantity = item.get("quantity_to_sell_on_facebook")
            if isinstance(quantity, int):
                found[Sku(item["retailer_id"])] = quantity
        return found

    # -- CatalogueSource --

    def catalogue_size(self) -> int | None:
        """None: the catalog's ``product_count`` would cost a call only to show progress."""
        return None

    def catalogue(self) -> Iterator[CatalogueItem]:
        """Every catalog item, 100 a page, with ``quantity_to_sell_on_facebook`` (None where unset).

        The retailer id is the SKU; the variant is the item's color and size, where set.
        """
        params = {
            "fields": "retailer_id,name,color,size,quantity_to_sell_on_facebook",
            "limit": str(READ_BATCH),
        }
        for items in self._product_pages(params):
            for item in items:
                quantity = item.get("quantity_to_sell_on_facebook")
                yield CatalogueItem(
                    sku=str(item.get("retailer_id") or ""),
                    title=str(item.get("name") or ""),
                    variant=", ".join(str(item[k]) for k in ("color", "size") if item.get(k)),
                    quantity=quantity
                    if isinstance(quantity, int) and not isinstance(quantity, bool)
                    else None,
                    ref=f"catalog item {item.get('id')}",
                )

    def _read_products(self, skus: Collection[Sku], fields: str) -> list[Json]:
        """The catalog's items among ``skus``, :data:`READ_BATCH` SKUs a read; their ids are kept."""
        wanted = list(dict.fromkeys(skus))
        found: list[Json] = []
        for start in range(0, len(wanted), READ_BATCH):
            batch = wanted[start : start + READ_BATCH]
            asked = set(batch)
            params: dict[str, str] = {
                "fields": fields,
                "filter": json.dumps({"retailer_id": {"is_any": batch}}, separators=(",", ":")),
                "limit": str(len(batch)),
            }
            for items in self._product_pages(params):
                for item in items:
                    if item.get("retailer_id") not in asked:
                        continue
                    if isinstance(item.get("id"), str):
                        self._item_ids[Sku(item["retailer_id"])] = item["id"]
                    found.append(item)
        return found

    def _update_item(self, level: StockLevel) -> PushOutcome:
        """One product item update setting ``level``; Meta refusing the item or a value refuses the level."""
        item_id = self._item_ids.get(level.sku)
        if item_id is None:
            return PushOutcome(
                level.sku, False, f"Meta catalog {self.catalog_id} has no item with retailer id {level.sku}"
            )
        form = {
            "quantity_to_sell_on_facebook": str(level.quantity),
            "availability": availability(level.quantity),
        }
        try:
            answer = self._request("POST", "", data=form, node=item_id)
        except _Refused as refused:
            # The item may have been deleted or listed again under a new id: read it next time.
            del self._item_ids[level.sku]
            return PushOutcome(level.sku, False, f"Meta refused SKU {level.sku}: {refused}")
        if answer.get("success") is not True:
            return PushOutcome(level.sku, False, f"Meta did not confirm SKU {level.sku} (item {item_id})")
        return PushOutcome(level.sku, True)

    def _product_pages(self, params: Mapping[str, str]) -> Iterator[list[Json]]:
        """The ``products`` edge's pages of items for ``params``, following the ``after`` cursors."""
        while True:
            page = self._request("GET", "products", params=params)
            yield [item for item in page.get("data") or () if isinstance(item, dict)]
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            params = {**params, "after": str(after)}

    # -- batches and their status --

    def _send(self, items: Sequence[tuple[Sku, Mapping[str, Any], str]], kind: str) -> list[PushOutcome]:
        """One items_batch of UPDATE records, settled; one outcome per item, in order.

        Each item is (SKU, the record's fields besides ``id``, the value as text for messages).
        """
        refuse_oversized(self.name, self.limits, len(items))
        if not items:
            return []
        self._check_open()
        self._check_blocked("batch")
        records = [{"method": "UPDATE", "data": {"id": sku, **fields}} for sku, fields, _ in items]
        form = {
            "item_type": "PRODUCT_ITEM",
            "allow_upsert": "false",
            "requests": json.dumps(records, separators=(",", ":")),
        }
        answer = self._request("POST", "items_batch", data=form)
        refused: dict[Sku, str] = {}
        for status in answer.get("validation_status") or ():
            messages = "; ".join(str(e.get("message")) for e in status.get("errors") or ())
            if messages:
                refused[Sku(str(status.get("retailer_id")))] = messages
        handles = answer.get("handles") or []
        accepted = {sku: shown for sku, _, shown in items if sku not in refused}
        failed: dict[Sku, str] = {}
        done = True
        if handles and accepted:
            done, failed = self._settle(str(handles[0]), accepted, kind)
        elif accepted:
            # An empty ``handles`` means Meta ingested nothing of this call (https://developers.facebook.com/docs/marketing-api/catalog-batch/reference).
            failed = dict.fromkeys(accepted, "Meta ingested nothing of this batch (no handle returned)")
        late = self.late_price_errors if kind == "price" else self.late_errors
        outcomes = [self._outcome(sku, shown, kind, refused, failed, late, done) for sku, _, shown in items]
        logger.info(
            "%s: %d of %d %s values sent to Meta catalog %s (%s)",
            self.name,
            sum(o.ok for o in outcomes),
            len(outcomes),
            kind,
            self.catalog_id,
            "processed" if done else "processing",
        )
        return outcomes

    def _check_blocked(self, limit: str) -> None:
        """Raise TransientError while Meta has said that calls under ``limit`` are throttled."""
        until = self._blocked_until.get(limit)
        if until is not None and self._clock() < until:
            wait = until - self._clock()
            raise TransientError(
                f"Meta catalog {self.catalog_id}: {limit} calls throttled for another {wait:.0f} s", wait
            )

    def _settle(self, handle: str, accepted: dict[Sku, str], kind: str) -> tuple[bool, dict[Sku, str]]:
        """Poll ``handle`` for up to ``settle_s``; (finished?, SKU → Meta's message for each failure)."""
        waited = 0.0
        delay = _POLL_FIRST_S
        while waited < self._settle_s:
            step = min(delay, self._settle_s - waited)
            self._sleep(step)
            waited += step
            delay = min(delay * 2, _POLL_MAX_S)
            status = self._status(handle)
            if status is not None and status.get("status") in _DONE:
                return True, self._failures(status, accepted)
        logger.info(
            "%s: Meta batch %s not processed after %.0f s; polling it again next push",
            self.name,
            handle,
            waited,
        )
        self._open.append(_Open(handle, self._clock(), kind, dict(accepted)))
        return False, {}

    def _status(self, handle: str) -> Json | None:
        """The batch's status entry, or None when Meta could not be asked (it is asked again later)."""
        params = {"handle": handle, "load_ids_of_invalid_requests": "true"}
        self.status_polls += 1
        try:
            answer = self._request("GET", "check_batch_request_status", params=params)
        except (TransientError, PermanentError) as error:
            # The batch was accepted: its outcome stays open rather than failing the push.
            logger.warning("%s: could not read Meta batch %s status: %s", self.name, handle, error)
            return None
        entries = answer.get("data") or []
        return entries[0] if entries and isinstance(entries[0], dict) else None

    def _failures(self, status: Json, accepted: Mapping[Sku, str]) -> dict[Sku, str]:
        """SKU → message for every record of a finished batch that Meta did not apply."""
        messages: dict[Sku, str] = {}
        # ``errors`` is a sample; ``ids_of_invalid_requests`` lists every failed retailer id.
        for error in status.get("errors") or ():
            if isinstance(error, dict) and error.get("id") is not None:
                messages.setdefault(Sku(str(error["id"])), str(error.get("message")))
        failed = {Sku(str(rid)) for rid in status.get("ids_of_invalid_requests") or ()} | set(messages)
        result = {
            sku: f"Meta refused SKU {sku}: {messages.get(sku, _NO_MESSAGE)}"
            for sku in failed
            if sku in accepted
        }
        if status.get("status") != "finished":
            # canceled / error: "some of the requests might not have finished" (status docs).
            for sku in accepted:
                result.setdefault(
                    sku, f"Meta batch ended with status {status.get('status')!r}; SKU {sku} not confirmed"
                )
        return result

    def _check_open(self) -> None:
        """Poll the open batches Meta had time to process; keep their late failures for the next push."""
        still: list[_Open] = []
        for batch in self._open:
            if batch.asked_at is None:
                early = self._clock() - batch.accepted_at < FIRST_ASK_S
            else:  # a cycle pushing many batches asks about each once, not before each push
                early = self._clock() - batch.asked_at < REASK_S
            if early:
                still.append(batch)
                continue
            batch.asked_at = self._clock()
            late = self.late_price_errors if batch.kind == "price" else self.late_errors
            status = self._status(batch.handle)
            if status is not None and status.get("status") in _DONE:
                for sku, message in self._failures(status, batch.values).items():
                    logger.warning(
                        "%s: Meta refused SKU %s after its push returned (%s %s): %s",
                        self.name,
                        sku,
                        batch.kind,
                        batch.values[sku],
                        message,
                    )
                    late[sku] = message
            elif self._clock() - batch.accepted_at > HANDLE_EXPIRY_S:
                logger.warning(
                    "%s: Meta batch %s still not processed after %.0f s; giving up on it",
                    self.name,
                    batch.handle,
                    self._clock() - batch.accepted_at,
                )
                for sku in batch.values:
                    late[sku] = f"Meta never confirmed SKU {sku} (batch {batch.handle} still open)"
            else:
                still.append(batch)
        self._open = still

    @staticmethod
    def _outcome(
        sku: Sku,
        shown: str,
        kind: str,
        refused: Mapping[Sku, str],
        failed: Mapping[Sku, str],
        late_errors: dict[Sku, str],
        done: bool,
    ) -> PushOutcome:
        if sku in refused or sku in failed:
            late_errors.pop(sku, None)  # this push's own refusal is the fresher word
            if sku in refused:
                return PushOutcome(sku, False, f"Meta refused SKU {sku}: {refused[sku]}")
            return PushOutcome(sku, False, failed[sku])
        late = late_errors.pop(sku, None)
        if late is not None:
            return PushOutcome(sku, False, f"an earlier push failed after it returned: {late}")
        if not done:
            what = "" if kind == "quantity" else f"{kind} "
            return PushOutcome(
                sku, True, f"LAG: Meta accepted {what}{shown} for SKU {sku} but has not applied it yet"
            )
        return PushOutcome(sku, True)

    # -- one request --

    def _request(
        self,
        method: str,
        edge: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        node: str | None = None,
    ) -> Json:
        """Send one Graph request, retrying transient failures; a throttled answer raises at once.

        The request goes to ``edge`` of the catalog, or to the product item ``node`` itself (with
        ``edge`` "").
        """
        answer = retry.call(lambda: self._attempt(method, edge, params, data, node), self._sleep)
        if isinstance(answer, _Throttled):
            limit = _LIMITS.get(edge)
            if limit is not None and answer.retry_after is not None:
                self._blocked_until[limit] = self._clock() + answer.retry_after
            raise TransientError(
                f"Meta catalog {self.catalog_id} throttled {_label(edge, node)} (code {answer.code})",
                answer.retry_after,
            )
        return answer

    def _attempt(
        self,
        method: str,
        edge: str,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        node: str | None,
    ) -> Json:
        url = f"{self._root}/{node}" if node else f"{self._root}/{self.catalog_id}/{edge}"
        label = _label(edge, node)
        # A batch's status is counted with management calls: Meta's docs place it under neither.
        self._spending.count(_LIMITS.get(edge, "management"))
        response = _http.send(
            self._client,
            method,
            url,
            who=f"Meta catalog {self.catalog_id}",
            what=f"on {method} {label}",
            params=params,
            data=data,
            headers={"Authorization": f"Bearer {self._token}"},
        )
        logger.debug("%s %s -> %d", method, label, response.status_code)
        answer = _http.json_or_none(response)
        error = answer.get("error") if isinstance(answer, dict) else None
        status = response.status_code
        if status < 400 and isinstance(answer, dict) and not isinstance(error, dict):
            return answer
        if not isinstance(error, dict):
            if status >= 500:
                raise TransientError(f"Meta catalog {self.catalog_id} answered HTTP {status} to {label}")
            if status < 400 and answer is None:  # cut short or garbled on the way: ask again
                raise TransientError(f"Meta catalog {self.catalog_id} answered {label} with broken JSON")
            raise PermanentError(f"Meta catalog {self.catalog_id} answered HTTP {status} to {label}")
        code = error.get("code")
        if code in THROTTLE_CODES:
            return _Throttled(int(code), regain_seconds(response.headers.get("X-Business-Use-Case-Usage")))
        if code in SERVER_CODES or error.get("is_transient") is True or status >= 500:
            raise TransientError(f"Meta catalog {self.catalog_id} failed {label}: code {code}")
        if code == 190:
            raise PermanentError(
                f"Meta refused the access token for catalog {self.catalog_id} (code 190); "
                "issue a new system user token with catalog_management"
            )
        if code in (10, 200) or (isinstance(code, int) and 200 <= code < 300):
            raise PermanentError(
                f"Meta denied access to catalog {self.catalog_id} (code {code}); "
                "give the system user the catalog with catalog_management"
            )
        if code == 100 and error.get("error_subcode") == 33:
            if node:
                raise _Refused(
                    f"Meta catalog {self.catalog_id} holds no item {node} this token can see (code 100/33)"
                )
            raise _Refused(
                f"Meta catalog {self.catalog_id} does not exist or this token cannot see it (code 100/33)"
            )
        raise (_Refused if code == 100 else PermanentError)(
            f"Meta catalog {self.catalog_id} refused {label}: code {code}: {error.get('message')}"
        )
