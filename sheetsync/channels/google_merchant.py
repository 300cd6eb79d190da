"""Google Merchant Center over the Merchant API v1: availability flips online, quantities per store.

The Content API is being shut down
(https://developers.google.com/shopping-content/guides/deprecation-and-sunset); this adapter
speaks only the Merchant API, over httpx with a service-account token. What it guarantees:

- **Few product updates.** An online product carries availability, not a count, and Google wants
  each product updated only a few times a day. A push patches ``productAttributes.availability``
  (``productInputs.patch`` with that one ``updateMask`` path) only when the wanted availability
  (``OUT_OF_STOCK`` at or below ``threshold``, else ``IN_STOCK``) differs from what the input
  holds; otherwise no call is made and the outcome says "no change needed". What the input holds
  is what this adapter last wrote, else what the processed product shows (read once per SKU, or
  in bulk by :meth:`GoogleMerchantChannel.refresh`).
- **Quantities per store.** With ``store_code``, every pushed quantity goes to
  ``localInventories.insert`` for that store. Insert replaces the store's resource whole, so the
  store's other attributes (price, pickup) are read once and sent back with the new quantity.
- **Row flags.** An SKU without a product is a refused row, never an exception; so is a 400 on its
  own write. A processed product with a ``DISAPPROVED`` issue, or an issue about availability, or
  that shows another availability than we sent once processing had time, is flagged in its row
  (``ok=False`` naming the issue) whenever a read has observed it.
- **Quota.** ``accounts.quotas.list`` is read once; calls are paced under each method group's
  ``quotaMinuteLimit`` on the injected clock. A 429 ``quota/request_rate_too_high`` waits out the
  minute through :mod:`sheetsync.retry`.
- **Prices.** :meth:`GoogleMerchantChannel.push_prices` patches ``productAttributes.price``
  (``{amountMicros, currencyCode}``) with that one ``updateMask`` path, one call per price and no
  read first: the worker sends only changed prices, so each call is an update Google's "a few
  times a day" policy has to carry anyway. A 404 is an unknown SKU (its row alone); a 400 is
  Google refusing that price. The price goes through the same pacing and retries as the rest.
- **read_levels.** With a store: the store's local quantity. Without one Google holds no count at
  all, and it takes no orders for us, so there are no unseen sales a hold could wait for: nothing
  is reported (see :meth:`GoogleMerchantChannel.read_levels`).

The service-account key and the access token never appear in messages, logs or exceptions: they
name the account and the service-account e-mail.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import google.auth.exceptions
import google.auth.transport
import httpx
from google.oauth2 import service_account

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

logger = logging.getLogger(__name__)

Json = Any

BASE_URL = "https://merchantapi.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/content"
IN_STOCK = "IN_STOCK"
OUT_OF_STOCK = "OUT_OF_STOCK"
#: The one updateMask path a flip sends (discovery: top-level attributes under productAttributes).
AVAILABILITY_MASK = "productAttributes.availability"
#: The updateMask path of a price push; the body carries ``productAttributes.price`` (discovery).
PRICE_MASK = "productAttributes.price"
#: Micros per currency unit (discovery: Price.amountMicros).
MICROS = 1_000_000
#: Levels per push: each SKU is its own call, so this only bounds one push's length.
MAX_BATCH = 250
#: Products per products.list page (the documented maximum).
LIST_PAGE = 1000
#: Above this many unknown SKUs one paged products.list is cheaper than a get per SKU.
LIST_THRESHOLD = 50
#: How long Google may take to show an input in the processed product (inventories: up to 30 min).
PROCESSING_GRACE_S = 30 * 60.0
#: Quota windows are per minute (https://developers.google.com/merchant/api/guides/quotas-limits/quotas).
_MINUTE_S = 60.0
_PACE_MARGIN_S = 0.05
_SAFE = re.compile(r"[A-Za-z0-9._\-]+")


def product_segment(content_language: str, feed_label: str, offer_id: str) -> str:
    """``en~US~sku`` when every part is plain, else its unpadded base64url (the documented rule)."""
    plain = f"{content_language}~{feed_label}~{offer_id}"
    if all(_SAFE.fullmatch(part) for part in (content_language, feed_label, offer_id)):
        return plain
    return base64.urlsafe_b64encode(plain.encode()).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class _Seen:
    """What a read of the processed product showed."""

    availability: str
    issues: tuple[str, ...]  #: issues worth a row flag, as messages
    at: float


class _AuthResponse(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class _AuthRequest(google.auth.transport.Request):
    """google-auth's token request over our own httpx client: one network seam for everything."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _AuthResponse:
        try:
            response = self._client.request(method, url, content=body, headers=dict(headers or {}))
        except httpx.TransportError as error:
            # google-auth ships without annotations (pyproject notes the same for the Sheets store).
            raise google.auth.exceptions.TransportError(type(error).__name__) from None
        return _AuthResponse(response)


class GoogleMerchantChannel:
    """One Merchant Center account and API data source, as a :class:`~sheetsync.channels.Channel`.

    Push-only: Google sends us no orders, so this is not an OrderSource.

    Args:
        name: the channel's name in the sheet.
        account: the Merchant Center account id.
        data_source: the id of an API-type data source holding the product inputs.
        content_language: the products' language (``en``).
        feed_label: the products' feed label (``US``).
        service_account: the service-account JSON key, as a dict (the secret).
        store_code: a Business Profile store code; when set, quantities go to its local inventory.
        threshold: a quantity at or below it is ``OUT_OF_STOCK`` online.
        base_url: where the API is (a fake on loopback).
        token_url: where tokens come from, instead of the key's ``token_uri``.
        client: an httpx client to send with; else one is made with ``transport``.
        sleep: how to wait (pacing, retries); tests pass one that moves a fake clock.
        clock: seconds on a monotonic clock, for pacing and processing grace.
    """

    def __init__(
        self,
        name: ChannelName,
        *,
        account: str,
        data_source: str,
        content_language: str,
        feed_label: str,
        service_account_info: Mapping[str, Any],
        store_code: str | None = None,
        threshold: int = 0,
        base_url: str | None = None,
        token_url: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.limits = ChannelLimits(
            max_batch=MAX_BATCH, typical_lag_s=PROCESSING_GRACE_S, reports_levels=store_code is not None
        )
        self.account = account
        self.store_code = store_code
        self.threshold = threshold
        self._language = content_language
        self._label = feed_label
        self._data_source = f"accounts/{account}/dataSources/{data_source}"
        self._base = (base_url or BASE_URL).rstrip("/")
        info = dict(service_account_info)
        if token_url:
            info["token_uri"] = token_url
        self._email = str(info.get("client_email", "?"))
        try:
            credentials = service_account.Credentials.from_service_account_info  # untyped in google-auth
            self._credentials = credentials(info, scopes=[SCOPE])
        except (ValueError, KeyError):
            raise PermanentError(
                f"{name}: the Google service-account key for {self._email} is not a valid key file"
            ) from None
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, timeout=httpx.Timeout(30.0, connect=10.0))
        self._sleep = sleep
        self._clock = clock
        self._groups: dict[str, tuple[str, int]] | None = None  #: method path → (group, per minute)
        self._calls: dict[str, deque[float]] = {}
        self._sent: dict[Sku, tuple[str, float]] = {}  #: availability we wrote, and when
        self._seen: dict[Sku, _Seen] = {}
        self._unknown: set[Sku] = set()  #: SKUs the last read found no product for
        self._local: dict[Sku, Json] = {}  #: the store's local inventory attributes as last known

    def close(self) -> None:
        """Close the HTTP client if this adapter made it."""
        if self._owns_client:
            self._client.close()

    # -- Channel --

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Flip availability where it changes, and set the store's quantity; one outcome per level.

        Raises:
            PermanentError: more than ``limits.max_batch`` levels, or Google refusing the key or
                the account.
            TransientError: Google unreachable, failing or over quota after every retry.
        """
        refuse_oversized(self.name, self.limits, len(levels))
        if not levels:
            return []
        self._read_products(
            [lv.sku for lv in levels if lv.sku not in self._sent and lv.sku not in self._seen]
        )
        outcomes = [self._push_one(level) for level in levels]
        logger.info(
            "%s: %d of %d levels ok (%d availability flips)",
            self.name,
            sum(o.ok for o in outcomes),
            len(outcomes),
            sum("→" in o.message for o in outcomes),
        )
        return outcomes

    def push_prices(self, prices: Sequence[PriceLevel]) -> Sequence[PushOutcome]:
        """Patch each SKU's ``productAttributes.price``; one outcome per price.

        Raises:
            PermanentError: more than ``limits.max_batch`` prices, or Google refusing the key or
                the account.
            TransientError: Google unreachable, failing or over quota after every retry.
        """
        refuse_oversized(self.name, self.limits, len(prices))
        outcomes = [self._patch_price(price) for price in prices]
        if outcomes:
            logger.info("%s: %d of %d prices set", self.name, sum(o.ok for o in outcomes), len(outcomes))
        return outcomes

    def read_levels(self, skus: Collection[Sku]) -> Mapping[Sku, int]:
        """With a store: its local quantity (SKUs without a product or an entry there are absent).

        Without a store nothing is reported. Google holds no count for an online product, only
        availability, and it takes no orders for us, so no sale can hide behind a lower number:
        reporting 0 for ``OUT_OF_STOCK`` would hold every later raise (the worker waits for unseen
        sales that never come), and any number for ``IN_STOCK`` would be invented. Never more
        than we know, and nothing we do not.
        """
        if self.store_code is None:
            return {}
        levels: dict[Sku, int] = {}
        for sku in dict.fromkeys(skus):
            attributes = self._read_local(sku)
            if attributes is not None and "quantity" in attributes:
                levels[sku] = int(attributes["quantity"])
        return levels

    def refresh(self, skus: Collection[Sku]) -> None:
        """Re-read the processed products of ``skus`` (a warm-up, or a periodic look for issues)."""
        self._read_products(list(skus), force=True)

    def warm_up(self) -> None:
        """Get a token and read the quota now, rather than on the first push."""
        self._token()
        self._quota_groups()

    # -- one level --

    def _push_one(self, level: StockLevel) -> PushOutcome:
        sku = level.sku
        want = OUT_OF_STOCK if level.quantity <= self.threshold else IN_STOCK
        current = self._sent[sku][0] if sku in self._sent else None
        if current is None and sku in self._seen:
            current = self._seen[sku].availability
        if current is None:
            return PushOutcome(
                sku, False, f"SKU {sku} not found in Google Merchant Center account {self.account}"
            )
        parts: list[str] = []
        if want == current:
            parts.append(f"no change needed: already {want}")
        else:
            refusal = self._patch(sku, want)
            if refusal:
                return PushOutcome(sku, False, refusal)
            parts.append(f"{current} → {want}")
        if self.store_code is not None:
            refusal = self._set_local(sku, level.quantity, want)
            if refusal:
                return PushOutcome(sku, False, refusal)
            parts.append(f"store {self.store_code}: {level.quantity}")
        flags = self._flags(sku)
        if flags:
            return PushOutcome(sku, False, "; ".join([*flags, *parts]))
        return PushOutcome(sku, True, "; ".join(parts))

    def _flags(self, sku: Sku) -> list[str]:
        seen = self._seen.get(sku)
        if seen is None:
            return []
        flags = list(seen.issues)
        sent = self._sent.get(sku)
        if sent is not None and seen.at >= sent[1] + PROCESSING_GRACE_S and seen.availability != sent[0]:
            flags.append(f"MISMATCH: Google shows {seen.availability}, we sent {sent[0]}")
        return flags

    def _patch(self, sku: Sku, availability: str) -> str:
        """Patch one availability; returns why Google refused it, or "" when done."""
        segment = product_segment(self._language, self._label, sku)
        path = f"/products/v1/accounts/{self.account}/productInputs/{segment}"
        params = {"updateMask": AVAILABILITY_MASK, "dataSource": self._data_source}
        body = {"productAttributes": {"availability": availability}}
        status, answer = self._call("PATCH", path, "productInputs.patch", params=params, body=body)
        if status == 404:
            self._seen.pop(sku, None)
            return f"SKU {sku} not found in Google Merchant Center data source {self._data_source}"
        if status != 200:
            return f"Google Merchant Center refused SKU {sku}: {_message(answer)}"
        self._sent[sku] = (availability, self._clock())
        return ""

    def _patch_price(self, price: PriceLevel) -> PushOutcome:
        sku = price.sku
        segment = product_segment(self._language, self._label, sku)
        path = f"/products/v1/accounts/{self.account}/productInputs/{segment}"
        params = {"updateMask": PRICE_MASK, "dataSource": self._data_source}
        # int64 travels as a decimal string; the amount has at most two decimals (PriceLevel).
        micros = str(int(price.amount * MICROS))
        body = {"productAttributes": {"price": {"amountMicros": micros, "currencyCode": price.currency}}}
        status, answer = self._call("PATCH", path, "productInputs.patch", params=params, body=body)
        if status == 404:
            return PushOutcome(
                sku, False, f"SKU {sku} not found in Google Merchant Center data source {self._data_source}"
            )
        if status != 200:
            return PushOutcome(
                sku,
                False,
                f"Google Merchant Center refused price {price.text} {price.currency} for SKU {sku}: "
                f"{_message(answer)}",
            )
        return PushOutcome(sku, True, f"price {price.text} {price.currency}")

    def _set_local(self, sku: Sku, quantity: int, availability: str) -> str:
        attributes = self._local.get(sku)
        if attributes is None:
            attributes = self._read_local(sku)
            if sku in self._unknown:
                return f"SKU {sku} not found in Google Merchant Center account {self.account}"
        merged = {**(attributes or {}), "quantity": str(max(quantity, 0)), "availability": availability}
        segment = product_segment(self._language, self._label, sku)
        path = f"/inventories/v1/accounts/{self.account}/products/{segment}/localInventories:insert"
        body = {"storeCode": self.store_code, "localInventoryAttributes": merged}
        status, answer = self._call("POST", path, "localInventories.insert", body=body)
        if status == 404:
            return f"SKU {sku} not found in Google Merchant Center account {self.account}"
        if status != 200:
            return f"Google Merchant Center refused store {self.store_code} for SKU {sku}: {_message(answer)}"
        self._local[sku] = answer.get("localInventoryAttributes", merged)
        return ""

    def _read_local(self, sku: Sku) -> Json:
        """The store's local inventory attributes ({} when none); None (and unknown) with no product."""
        segment = product_segment(self._language, self._label, sku)
        path = f"/inventories/v1/accounts/{self.account}/products/{segment}/localInventories"
        attributes: Json = {}
        token = None
        while True:
            params: dict[str, str] = {"pageToken": token} if token else {}
            status, answer = self._call("GET", path, "localInventories.list", params=params)
            if status == 404:
                self._unknown.add(sku)
                return None
            if status != 200:
                raise PermanentError(
                    f"{self.name}: Google refused to list local inventory: {_message(answer)}"
                )
            for resource in answer.get("localInventories", []):
                if resource.get("storeCode") == self.store_code:
                    attributes = resource.get("localInventoryAttributes", {})
            token = answer.get("nextPageToken")
            if not token:
                break
        self._unknown.discard(sku)
        self._local[sku] = attributes
        return attributes

    # -- reading products --

    def _read_products(self, skus: list[Sku], *, force: bool = False) -> None:
        wanted = list(dict.fromkeys(skus))
        if not wanted:
            return
        if len(wanted) > LIST_THRESHOLD:
            self._list_products(set(wanted))
            return
        for sku in wanted:
            segment = product_segment(self._language, self._label, sku)
            path = f"/products/v1/accounts/{self.account}/products/{segment}"
            status, answer = self._call("GET", path, "products.get")
            if status == 404:
                self._seen.pop(sku, None)
                self._unknown.add(sku)
            elif status == 200:
                self._note(sku, answer)
            else:
                raise PermanentError(f"{self.name}: Google refused to read product {sku}: {_message(answer)}")

    def _list_products(self, wanted: set[Sku]) -> None:
        found: set[Sku] = set()
        for products in self._product_pages():
            for product in products:
                sku = Sku(str(product.get("offerId", "")))
                # Every product of the feed is noted, not just the ones wanted: the list pages
                # through the whole account, so the next push's SKUs are known without listing
                # it all again (once per push of 250 would make a catalogue's first sync quadratic).
                if sku in wanted or sku not in self._seen:
                    found.add(sku)
                    self._note(sku, product)
        for sku in wanted - found:
            self._seen.pop(sku, None)
            self._unknown.add(sku)

    def _product_pages(self) -> Iterator[list[Json]]:
        """products.list page by page: the products of the configured language and feed label."""
        path = f"/products/v1/accounts/{self.account}/products"
        token = None
        while True:
            params: dict[str, str] = {"pageSize": str(LIST_PAGE)}
            if token:
                params["pageToken"] = token
            status, answer = self._call("GET", path, "products.list", params=params)
            if status != 200:
                raise PermanentError(f"{self.name}: Google refused to list products: {_message(answer)}")
            yield [
                product
                for product in answer.get("products", [])
                if product.get("contentLanguage") == self._language
                and product.get("feedLabel") == self._label
            ]
            token = answer.get("nextPageToken")
            if not token:
                return

    # -- CatalogueSource --

    def catalogue_size(self) -> int | None:
        """None: products.list gives no total."""
        return None

    def catalogue(self) -> Iterator[CatalogueItem]:
        """Every product of the feed (its offer id is the SKU), 1,000 a page; no quantity.

        Online, Google knows only in stock or out of stock, and a store's local counts would cost
        a call per product: the rows come with a blank count for the merchant to type.  The
        variant is the product's color and size, where set.
        """
        for products in self._product_pages():
            for product in products:
                attributes = product.get("productAttributes") or {}
                yield CatalogueItem(
                    sku=str(product.get("offerId") or ""),
                    title=str(attributes.get("title") or ""),
                    variant=", ".join(str(attributes[k]) for k in ("color", "size") if attributes.get(k)),
                    ref=f"product {product.get('name') or product.get('offerId')}",
                )

    def _note(self, sku: Sku, product: Json) -> None:
        attributes = product.get("productAttributes") or {}
        issues = []
        for issue in (product.get("productStatus") or {}).get("itemLevelIssues") or []:
            if issue.get("severity") == "DISAPPROVED" or issue.get("attribute") == "availability":
                where = issue.get("reportingContext") or ""
                issues.append(
                    f"{issue.get('severity', 'ISSUE')}: {issue.get('description') or issue.get('code')}"
                    + (f" ({where})" if where else "")
                )
        self._unknown.discard(sku)
        self._seen[sku] = _Seen(str(attributes.get("availability", "")), tuple(issues), self._clock())

    # -- the wire --

    def _token(self) -> str:
        if not self._credentials.valid:

            def refresh() -> None:
                try:
                    self._credentials.refresh(_AuthRequest(self._client))
                except google.auth.exceptions.TransportError:
                    raise TransientError(f"{self.name}: Google's token endpoint is unreachable") from None
                except google.auth.exceptions.RefreshError as error:
                    reason = str(error.args[0]).split(":", 1)[0] if error.args else "refused"
                    raise PermanentError(
                        f"{self.name}: Google refused the service-account key of {self._email} ({reason}); "
                        "check the key and that the Merchant API is enabled"
                    ) from None

            retry.call(refresh, self._sleep)
        return str(self._credentials.token)

    def _quota_groups(self) -> dict[str, tuple[str, int]]:
        if self._groups is None:
            self._groups = {}
            path = f"/quota/v1/accounts/{self.account}/quotas"
            token = None
            while True:
                status, answer = self._call(
                    "GET", path, "quotas.list", params={"pageToken": token} if token else {}
                )
                if status != 200:
                    raise PermanentError(f"{self.name}: Google refused to list quotas: {_message(answer)}")
                for group in answer.get("quotaGroups", []):
                    limit = int(group.get("quotaMinuteLimit") or 0)
                    for method in group.get("methodDetails", []):
                        if limit > 0:
                            self._groups[str(method.get("path", ""))] = (str(group.get("name")), limit)
                token = answer.get("nextPageToken")
                if not token:
                    break
            logger.debug("%s: quota groups for %d methods", self.name, len(self._groups))
        return self._groups

    def _group(self, method: str) -> tuple[str, int] | None:
        if self._groups is None:
            return None
        subapi = "inventories" if method.startswith("localInventories") else method.split(".")[0]
        subapi = {"productInputs": "products", "quotas": "quota"}.get(subapi, subapi)
        resource = f"products.{method}" if subapi == "inventories" else method
        return self._groups.get(f"{subapi}/v1/{resource}")

    def _call(
        self,
        http_method: str,
        path: str,
        method: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Json = None,
    ) -> tuple[int, Json]:
        """Send one request (paced, retried); returns the status and JSON of a 200, 400 or 404.

        Anything else that is not worth retrying raises PermanentError.
        """
        if method != "quotas.list":
            self._quota_groups()
        return retry.call(lambda: self._attempt(http_method, path, method, params or {}, body), self._sleep)

    def _attempt(
        self, http_method: str, path: str, method: str, params: Mapping[str, str], body: Json
    ) -> tuple[int, Json]:
        headers = {"Authorization": f"Bearer {self._token()}"}
        self._pace(method)
        response = _http.send(
            self._client,
            http_method,
            self._base + path,
            who=self.name,
            what=f"talking to Google Merchant on {method} for account {self.account}",
            params=params,
            json=body,
            headers=headers,
        )
        status = response.status_code
        logger.debug("%s %s -> %d", http_method, method, status)
        try:
            answer = _http.decoded(response)
        except ValueError:
            if status == 200:  # cut short or garbled on the way: what Google did is unknown, ask again
                raise TransientError(
                    f"{self.name}: Google Merchant answered {method} with broken JSON"
                ) from None
            answer = {}
        if status == 401:
            # Expired or revoked: the next attempt signs in again.
            self._credentials.token = None
            raise TransientError(
                f"{self.name}: Google did not accept the access token for {self._email}", 0.0
            )
        if status == 403:
            raise PermanentError(
                f"{self.name}: {self._email} may not use Merchant Center account {self.account} "
                f"(HTTP 403: {_message(answer)}); add it as a user of the account"
            )
        if status == 429:
            daily = "daily_limit_exceeded" in response.text
            wait = None if daily else self._quota_wait(method)
            window = "daily" if daily else "per-minute"
            raise TransientError(f"{self.name}: Google Merchant {window} quota exhausted on {method}", wait)
        if status >= 500:
            raise TransientError(f"{self.name}: Google Merchant answered HTTP {status} to {method}")
        if status not in (200, 400, 404):
            raise PermanentError(
                f"{self.name}: Google Merchant answered HTTP {status} to {method}: {_message(answer)}"
            )
        if status == 400 and method in ("quotas.list", "products.list"):
            raise PermanentError(f"{self.name}: Google Merchant refused {method}: {_message(answer)}")
        return status, answer if isinstance(answer, dict) else {}

    def _pace(self, method: str) -> None:
        """Keep each method group under its per-minute limit, on a sliding minute."""
        group = self._group(method)
        if group is None:
            return
        name, limit = group
        calls = self._calls.setdefault(name, deque())
        now = self._clock()
        while calls and calls[0] <= now - _MINUTE_S:
            calls.popleft()
        if len(calls) >= limit:
            wait = calls[0] + _MINUTE_S - now + _PACE_MARGIN_S
            logger.debug("pacing %s: %.2f s", name, wait)
            self._sleep(wait)
            now = self._clock()
            while calls and calls[0] <= now - _MINUTE_S:
                calls.popleft()
        calls.append(now)

    def _quota_wait(self, method: str) -> float:
        """Until our oldest call of the group leaves the minute; a whole minute when unknown."""
        group = self._group(method)
        calls = self._calls.get(group[0]) if group else None
        if not calls:
            return _MINUTE_S
        return max(1.0, calls[0] + _MINUTE_S - self._clock() + _PACE_MARGIN_S)


def _message(answer: Json) -> str:
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        return f"{error.get('status', '')}: {error.get('message', '')}".strip(": ")
    return "no error message"
