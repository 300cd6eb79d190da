"""What people paste into the config, read as the id or address sheetsync needs.

Each function takes what was copied (an admin URL, a share link, the bare id) and returns the
one form the adapters use, or raises ValueError with one sentence that shows the expected form.
The config validates each setting through them, so the same rules hold for ``init`` and
``check-config``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sheetsync.stores.google_sheets import spreadsheet_id

#: A shop's handle: what precedes .myshopify.com (Shopify allows letters, digits and hyphens).
_HANDLE = r"[a-z0-9][a-z0-9-]*"
#: An Airtable base or table id: the prefix and 14 letters or digits (airtable.com/developers).
_AIRTABLE_ID = r"{}[A-Za-z0-9]{{14}}"


def _parts(text: str) -> tuple[str, str, str]:
    """Host, path and query of a pasted address, with or without its scheme."""
    text = text.strip()
    url = urlsplit(text if "://" in text else f"https://{text}")
    return (url.hostname or "").lower(), url.path, url.query


def shopify_shop(text: str) -> str:
    """``my-shop.myshopify.com`` from a handle, that domain, or an admin URL (``/store/my-shop``)."""
    value = text.strip().lower()
    if re.fullmatch(_HANDLE, value):
        return f"{value}.myshopify.com"
    host, path, _ = _parts(value)
    if match := re.fullmatch(rf"({_HANDLE})\.myshopify\.com", host):
        return f"{match[1]}.myshopify.com"
    if host == "admin.shopify.com" and (match := re.match(rf"/store/({_HANDLE})(/|$)", path)):
        return f"{match[1]}.myshopify.com"
    raise ValueError(
        f"{text.strip()!r} is not a Shopify shop: give its myshopify.com address, like my-shop.myshopify.com "
        "(also accepted: my-shop, or the admin's URL admin.shopify.com/store/my-shop)"
    )


def woocommerce_site(text: str) -> str:
    """The shop's root address from it or any admin or REST URL under it (``/wp-admin``, ``/wp-json``)."""
    value = text.strip()
    scheme = "http" if value.lower().startswith("http://") else "https"
    host, path, _ = _parts(value)
    if not host or " " in value or ("." not in host and host != "localhost"):
        raise ValueError(
            f"{value!r} is not a WooCommerce site: give the shop's address, like https://shop.example.com"
        )
    url = urlsplit(value if "://" in value else f"https://{value}")
    root = re.split(r"/(?:wp-admin|wp-json|wp-login\.php|index\.php)(?:/|$)", path, maxsplit=1)[0]
    port = f":{url.port}" if url.port else ""
    return f"{scheme}://{host}{port}{root.rstrip('/')}"


def airtable_ids(text: str) -> tuple[str, str | None]:
    """The base id and, when the address has one, the table id, from ``appXXXX`` or the base's URL."""
    value = text.strip()
    base = re.search(rf"(?<![A-Za-z0-9])({_AIRTABLE_ID.format('app')})(?![A-Za-z0-9])", value)
    if base is None:
        raise ValueError(
            f"{value!r} is not an Airtable base: give its id, like appAbCdEfGh123456 (17 characters), "
            "or its URL, like https://airtable.com/appAbCdEfGh123456/tblAbCdEfGh123456"
        )
    table = re.search(rf"(?<![A-Za-z0-9])({_AIRTABLE_ID.format('tbl')})(?![A-Za-z0-9])", value)
    return base[1], table[1] if table else None


def spreadsheet_key(text: str) -> str:
    """A Google Sheet's key from its URL (``…/spreadsheets/d/<key>/edit``) or the key itself."""
    value = text.strip()
    key = spreadsheet_id(value)
    if key == value and "/" in value:  # a URL, but not a spreadsheet's: look for ?id= (old share links)
        key = parse_qs(_parts(value)[2]).get("id", [""])[0]
    if not re.fullmatch(r"[A-Za-z0-9_-]+", key):
        raise ValueError(
            f"{value!r} is not a Google Sheet: copy its address from the browser, like "
            "https://docs.google.com/spreadsheets/d/1AbC…/edit, or give the key between /d/ and /edit"
        )
    return key


def meta_catalog(text: str) -> str:
    """A Meta commerce catalog's id from it or a Commerce Manager link (``…/commerce/catalogs/<id>/…``)."""
    value = text.strip()
    if value.isdigit():
        return value
    _, path, query = _parts(value)
    if match := re.search(r"/catalogs?/(\d+)(/|$)", path):
        return match[1]
    if ids := [i for i in parse_qs(query).get("catalog_id", []) if i.isdigit()]:
        return ids[0]
    raise ValueError(
        f"{value!r} is not a Meta catalog: give its id (Commerce Manager > Catalog > Settings), like "
        "1234567890, or a link like https://business.facebook.com/commerce/catalogs/1234567890/products"
    )


def merchant_account(text: str) -> str:
    """A Merchant Center account id from it or a Merchant Center link (its ``a=`` parameter)."""
    value = text.strip()
    if value.isdigit():
        return value
    _, path, query = _parts(value)
    if ids := [i for i in parse_qs(query).get("a", []) if i.isdigit()]:
        return ids[0]
    if match := re.search(r"/accounts/(\d+)(/|$)", path):
        return match[1]
    raise ValueError(
        f"{value!r} is not a Merchant Center account: give its id (top right in Merchant Center), like "
        "123456789, or a link like https://merchants.google.com/mc/overview?a=123456789"
    )
