"""``sheetsync doctor``: the setup checked online, one line per check, each with its fix.

What ``check-config`` cannot know offline is asked of the services themselves, with cheap reads
and one no-op request that a service judges (an empty Sheets ``batchUpdate``): no merchant cell is
written, and the lease is only read. Each check is a :class:`Check`; ``OK`` only when it passed.

The checks, in order: the config; the master (its key or token, that it can be reached, its tabs
and headers, that it can be written, the lease); each channel (its secrets present, that they
work, Shopify's scopes, location and webhooks); the clock against a service's ``Date`` header.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

import httpx

from sheetsync.channels.shopify import NEEDED_SCOPES, PRICE_SCOPES, ShopifyChannel
from sheetsync.config import (
    AIRTABLE_TOKEN_ENV,
    AirtableMaster,
    ChannelSettings,
    GoogleSheetsMaster,
    Settings,
    ShopifyShop,
    WooStore,
    WorkbookMaster,
    airtable_token,
    channel_secret,
    channel_service_account,
    load,
    service_account_info,
)
from sheetsync.errors import SheetsyncError
from sheetsync.stores import LeasedStore, MasterStore
from sheetsync.stores.airtable import AirtableStore
from sheetsync.stores.google_sheets import SHEETS_API, GoogleSheetsStore
from sheetsync.stores.workbook import WorkbookStore
from sheetsync.worker import open_channels, open_store

Status = Literal["OK", "FAIL", "WARN"]

#: What ``check-config`` says it leaves to the doctor.
OFFLINE_LIMITS = "credentials, sharing and webhooks are not checked offline: run sheetsync doctor"
#: A clock further than this from a service's is flagged: signatures and order times rely on it.
MAX_SKEW_S = 60.0
#: Each channel kind's secrets, ``SHEETSYNC__<NAME>__<WHAT>`` (as worker.open_channels reads them).
SECRETS: Mapping[str, tuple[str, ...]] = {
    "shopify": ("TOKEN",),
    "meta": ("TOKEN",),
    "google_merchant": ("SERVICE_ACCOUNT",),
    "woocommerce": ("CONSUMER_KEY", "CONSUMER_SECRET"),
    "emag": ("USERNAME", "PASSWORD"),
    "amazon": ("CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN"),
}
#: Shopify topics the webhook route reads (web.py), as Shopify's admin names them.
WEBHOOK_TOPICS = ("orders/create", "orders/cancelled", "refunds/create")
AIRTABLE_API = "https://api.airtable.com"


@dataclass(frozen=True, slots=True)
class Check:
    """One check: its status, what was checked, and what was found or how to fix it."""

    status: Status
    name: str
    detail: str

    def line(self) -> str:
        """As printed: ``FAIL shopify token: … set it``."""
        return f"{self.status:<4} {self.name}: {self.detail}"


def offline_problems(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """What is missing before anything can be asked online: secrets, the key file, the workbook."""
    problems = [
        str(error) for check in _offline_checks(settings, environ) if (error := _failure(check)) is not None
    ]
    return problems


def _offline_checks(settings: Settings, environ: Mapping[str, str]) -> Iterator[Callable[[], object]]:
    master = settings.master
    if isinstance(master, WorkbookMaster):
        yield lambda: _workbook_exists(settings, master)
    elif isinstance(master, GoogleSheetsMaster):
        yield lambda: service_account_info(settings, master, environ)
    else:
        yield lambda: airtable_token(settings, environ)
    for channel in settings.channels:
        for what in SECRETS.get(channel.kind, ()):
            yield lambda c=channel, w=what: _secret(settings, c, w, environ)  # type: ignore[misc]
    if settings.public_url:
        for channel in settings.channels:
            if isinstance(channel.platform, ShopifyShop):
                yield lambda c=channel: channel_secret(settings, c, "WEBHOOK_SECRET", environ)  # type: ignore[misc]


def _failure(action: Callable[[], object]) -> SheetsyncError | None:
    try:
        action()
    except SheetsyncError as error:
        return error
    return None


def _secret(settings: Settings, channel: ChannelSettings, what: str, environ: Mapping[str, str]) -> object:
    if what == "SERVICE_ACCOUNT":
        return channel_service_account(settings, channel, environ)
    return channel_secret(settings, channel, what, environ)


def _workbook_exists(settings: Settings, master: WorkbookMaster) -> None:
    if not master.path.is_file():
        raise SheetsyncError(
            f"{settings.source}: [master] path: no workbook at {master.path}; `sheetsync init` writes a "
            "template, or set path to your workbook"
        )


def diagnose(path: Path, environ: Mapping[str, str], now: Callable[[], datetime]) -> list[Check]:
    """Every check for the config at ``path``, in order; stops after the config when it does not load."""
    try:
        settings = load(path)
    except SheetsyncError as error:
        return [Check("FAIL", "config", str(error))]
    checks = [Check("OK", "config", f"{path} is valid")]
    checks += _master(settings, environ, now)
    for channel in settings.channels:
        checks += _channel(settings, channel, environ)
    checks += _clock(settings, now)
    return checks


# -- the master ------------------------------------------------------------------------------------


def _master(settings: Settings, environ: Mapping[str, str], now: Callable[[], datetime]) -> list[Check]:
    master = settings.master
    checks: list[Check] = []
    if isinstance(master, WorkbookMaster):
        if missing := _failure(lambda: _workbook_exists(settings, master)):
            return [Check("FAIL", "workbook", str(missing))]
        checks.append(Check("OK", "workbook", f"{master.path} exists"))
    elif isinstance(master, GoogleSheetsMaster):
        try:
            info = service_account_info(settings, master, environ)
        except SheetsyncError as error:
            return [Check("FAIL", "google key", str(error))]
        checks.append(Check("OK", "google key", f"a service-account key for {info['client_email']}"))
    else:
        if missing := _failure(lambda: airtable_token(settings, environ)):
            return [Check("FAIL", "airtable token", str(missing))]
        checks.append(Check("OK", "airtable token", f"${AIRTABLE_TOKEN_ENV} is set"))
    try:
        store = open_store(settings, environ)
        store.read()
    except SheetsyncError as error:
        return [*checks, Check("FAIL", "master", str(error))]
    checks.append(Check("OK", "master", f"{master.describe()} is reachable; its tabs and headers are there"))
    checks.append(_writable(store))
    if isinstance(master, AirtableMaster):
        checks.append(_airtable_plan(master))
    if isinstance(store, LeasedStore):
        held = store.holder(now())
        checks.append(
            Check("WARN", "lease", held) if held else Check("OK", "lease", "free: no other worker holds it")
        )
    return checks


def _writable(store: MasterStore) -> Check:
    try:
        if isinstance(store, WorkbookStore):
            store.check_writable()
        elif isinstance(store, GoogleSheetsStore):
            store.check_editable()
    except SheetsyncError as error:
        return Check("FAIL", "writable", str(error))
    if isinstance(store, AirtableStore):
        return Check("OK", "writable", "the token reads the base; writes need data.records:write on it")
    return Check("OK", "writable", "the worker can write its columns, Status and State")


def _airtable_plan(master: AirtableMaster) -> Check:
    if master.monthly_call_budget is None:
        return Check(
            "WARN",
            "airtable plan",
            "no monthly_call_budget: set it to your plan's API calls a month (Free 1,000; Team 100,000) "
            "so the worker slows down before Airtable stops answering",
        )
    return Check(
        "OK",
        "airtable plan",
        f"budget of {master.monthly_call_budget:,} API calls a month; Airtable also allows 5 requests a "
        "second per base",
    )


# -- channels --------------------------------------------------------------------------------------


def _channel(settings: Settings, channel: ChannelSettings, environ: Mapping[str, str]) -> list[Check]:
    name = channel.name
    checks: list[Check] = []
    for what in SECRETS.get(channel.kind, ()):
        variable = f"SHEETSYNC__{name.upper()}__{what}"
        if error := _failure(lambda w=what: _secret(settings, channel, w, environ)):  # type: ignore[misc]
            return [*checks, Check("FAIL", f"{name} credential", str(error))]
        checks.append(Check("OK", f"{name} credential", f"${variable} is set"))
    if not SECRETS.get(channel.kind):
        return [Check("OK", name, f"{channel.kind} channel: nothing to sign in to")]
    (adapter,) = open_channels(
        replace(settings, channels=(channel,)), lambda: datetime.now().astimezone(), environ
    )
    try:
        if isinstance(adapter, ShopifyChannel):
            checks += _shopify(settings, channel, adapter, environ)
        elif isinstance(channel.platform, WooStore):
            checks.append(_call(name, "credential works", adapter, "store_currency"))
        else:
            checks.append(
                Check(
                    "WARN", f"{name} credential works", f"not checked online for {channel.kind} channels yet"
                )
            )
    finally:
        close = getattr(adapter, "close", None)
        if callable(close):
            close()
    return checks


def _call(name: str, what: str, adapter: object, method: str) -> Check:
    error = _failure(getattr(adapter, method))
    if error is None:
        return Check("OK", f"{name} {what}", "an authenticated read was answered")
    return Check("FAIL", f"{name} {what}", str(error))


def _shopify(
    settings: Settings, channel: ChannelSettings, adapter: ShopifyChannel, environ: Mapping[str, str]
) -> list[Check]:
    name = channel.name
    assert isinstance(channel.platform, ShopifyShop)  # noqa: S101 - the caller checked
    variable = f"SHEETSYNC__{name.upper()}__TOKEN"
    try:
        scopes, hooks = adapter.installation()
    except SheetsyncError as error:
        return [
            Check(
                "FAIL",
                f"{name} credential works",
                f"{error}; put the Admin API access token of the custom app (Settings > Apps > Develop "
                f"apps > API credentials) in ${variable}",
            )
        ]
    checks = [Check("OK", f"{name} credential works", f"Shopify shop {adapter.shop} answered")]
    needed = [*NEEDED_SCOPES, *(PRICE_SCOPES if settings.currency else ())]
    held = scopes | {s.replace("write_", "read_", 1) for s in scopes if s.startswith("write_")}
    if missing := [s for s in needed if s not in held]:
        checks.append(
            Check(
                "FAIL",
                f"{name} scopes",
                f"the app lacks {', '.join(missing)}; in the Shopify admin, Settings > Apps > Develop apps > "
                "your app > Configuration, tick them, save and reinstall the app (the token stays the same)",
            )
        )
    else:
        checks.append(Check("OK", f"{name} scopes", ", ".join(needed)))
    try:
        adapter.location_id()
    except SheetsyncError as error:
        checks.append(
            Check("FAIL", f"{name} location", f"{error}; set location in [channels.{name}] to one of them")
        )
    else:
        checks.append(Check("OK", f"{name} location", f"{channel.platform.location!r} exists"))
    if settings.public_url:
        checks.append(_webhooks(settings, name, hooks, environ))
    return checks


def _webhooks(
    settings: Settings, name: str, hooks: Sequence[tuple[str, str]], environ: Mapping[str, str]
) -> Check:
    address = f"{settings.public_url}/webhooks/shopify/{name}"
    missing = [topic for topic in WEBHOOK_TOPICS if (topic, address) not in hooks]
    if missing:
        elsewhere = sorted({uri for topic, uri in hooks if topic in missing})
        seen = f" (they point at {', '.join(elsewhere)})" if elsewhere else ""
        return Check(
            "FAIL",
            f"{name} webhooks",
            f"no subscription of {', '.join(missing)} to {address}{seen}; subscribe them for the app "
            "(webhookSubscriptionCreate, or the app's webhook settings) to that address",
        )
    if error := _failure(lambda: _secret(settings, _named(settings, name), "WEBHOOK_SECRET", environ)):
        return Check("FAIL", f"{name} webhooks", str(error))
    return Check("OK", f"{name} webhooks", f"{', '.join(WEBHOOK_TOPICS)} go to {address}")


def _named(settings: Settings, name: str) -> ChannelSettings:
    return next(c for c in settings.channels if c.name == name)


# -- the clock -------------------------------------------------------------------------------------


def _clock(settings: Settings, now: Callable[[], datetime]) -> list[Check]:
    """The local clock against the ``Date`` of the first service that answers (any status will do)."""
    for url in _services(settings):
        try:
            response = httpx.get(url, timeout=10.0)
        except httpx.HTTPError:
            continue
        date = response.headers.get("Date")
        if not date:
            continue
        theirs = email.utils.parsedate_to_datetime(date)
        skew = (now() - theirs).total_seconds()
        host = httpx.URL(url).host
        if abs(skew) > MAX_SKEW_S:
            ahead = "ahead of" if skew > 0 else "behind"
            return [
                Check(
                    "WARN",
                    "clock",
                    f"this machine's clock is {abs(skew):.0f} s {ahead} {host}'s; turn on automatic time "
                    "(NTP) so order times and signatures line up",
                )
            ]
        return [Check("OK", "clock", f"within {MAX_SKEW_S:.0f} s of {host}'s ({skew:+.0f} s)")]
    return []


def _services(settings: Settings) -> Iterator[str]:
    master = settings.master
    if isinstance(master, GoogleSheetsMaster):
        yield master.base_url or SHEETS_API
    if isinstance(master, AirtableMaster):
        yield master.base_url or AIRTABLE_API
    for channel in settings.channels:
        platform = channel.platform
        if isinstance(platform, ShopifyShop):
            yield platform.base_url or f"https://{platform.shop}"
        elif isinstance(platform, WooStore):
            yield platform.site
