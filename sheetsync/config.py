"""Configuration: a TOML file (no secrets) validated into frozen Settings.

Every error names the file and the dotted key, so ``sheetsync check-config`` points at the line
to fix.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sheetsync.core.buffers import PRESETS, AdaptiveRule, BufferPolicy, Hold, HoldKind, Tier, parse_hold
from sheetsync.core.preview import FirstSyncRule
from sheetsync.errors import ConfigError
from sheetsync.inputs import (
    airtable_ids,
    merchant_account,
    meta_catalog,
    shopify_shop,
    spreadsheet_key,
    woocommerce_site,
)
from sheetsync.model import ChannelName, Layout, channel_column, header_key


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _pasted(read: Callable[[str], object]) -> Callable[[object], object]:
    """A before-validator reading what people paste (a URL, a link) as the setting's form."""

    def validate(value: object) -> object:
        return read(value) if isinstance(value, str) else value

    return validate


class TierModel(_Strict):
    """One ``{ min = N, hold = ... }`` tier as a TOML file writes it (the simulator's too)."""

    min: Annotated[int, Field(ge=0)]
    hold: int | str

    @field_validator("hold")
    @classmethod
    def _hold_parses(cls, value: int | str) -> int | str:
        parse_hold(str(value))
        return value


class AdaptiveModel(_Strict):
    """A channel's ``adaptive = { ... }`` table (``adaptive = true`` is every default)."""

    safety: Annotated[float, Field(ge=0)] = AdaptiveRule().safety
    min_hold: Annotated[int, Field(ge=0)] = 0
    max_hold: Annotated[int, Field(ge=0)] | None = None

    def rule(self) -> AdaptiveRule:
        """The buffer these bounds describe."""
        return AdaptiveRule(self.safety, self.min_hold, self.max_hold)


def tiers_cover_zero(tiers: list[TierModel]) -> list[TierModel]:
    """Check a tier list: distinct minimums, one of them 0 (so every level has a hold)."""
    levels = [tier.min for tier in tiers]
    if len(set(levels)) != len(levels):
        raise ValueError("two tiers have the same min")
    if 0 not in levels:
        raise ValueError("one tier must start at min = 0 so every level has a hold")
    return tiers


def _zone_name(value: str | None) -> str | None:
    """A time zone's name as the tz database spells it (Europe/Bucharest), or None."""
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone (like Europe/Bucharest; on Windows, pip install tzdata)"
            ) from None
    return value


class _ChannelModel(_Strict):
    title: str | None = None
    interval: Annotated[int, Field(ge=1)] = 60
    paused: bool = False
    cap: Annotated[int, Field(ge=0)] | None = None
    tiers: list[TierModel] = Field(default_factory=lambda: [TierModel(min=0, hold=0)])
    #: seconds after a push by which the channel must show it; later is flagged LAG
    max_lag: Annotated[float, Field(gt=0)] = 900.0
    #: seconds between full reads of every SKU's figure on the channel, to catch DRIFT
    audit_every: Annotated[float, Field(gt=0)] = 900.0
    #: the most of the platform's read quota the audit may use; it takes longer when it would need more
    audit_share: Annotated[float, Field(gt=0, le=1)] = 0.1
    #: true (or a table of bounds): the adaptive buffer replaces the tiers on this channel
    adaptive: AdaptiveModel | None = None
    #: the stock locations this channel sells from (default: every location)
    locations: Annotated[list[str], Field(min_length=1)] | None = None

    _tiers = field_validator("tiers")(tiers_cover_zero)

    @field_validator("adaptive", mode="before")
    @classmethod
    def _adaptive_switch(cls, value: object) -> object:
        """``adaptive = true`` is the defaults, ``false`` is off; a table sets bounds."""
        if isinstance(value, bool):
            return {} if value else None
        return value

    @model_validator(mode="after")
    def _lag_outlasts_a_cycle(self) -> _ChannelModel:
        if self.max_lag <= self.interval:
            raise ValueError(
                f"max_lag ({self.max_lag:g} s) must be longer than interval ({self.interval} s): a push "
                "is checked once per cycle, so a shorter limit would flag every push as LAG"
            )
        return self


class _AutoPauseModel(_Strict):
    enabled: bool = False
    #: a channel whose lag p95 over the last hour passes this many seconds is held back
    max_lag_p95: Annotated[float, Field(gt=0)] = 1200.0
    #: what it may show meanwhile (the lower of this and its own tiers): 0 under 10 units
    tiers: list[TierModel] = Field(
        default_factory=lambda: [TierModel(min=10, hold=0), TierModel(min=0, hold="all")]
    )

    _tiers = field_validator("tiers")(tiers_cover_zero)


class _EmailModel(_Strict):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    sender: Annotated[str, Field(alias="from")]
    to: Annotated[list[str], Field(min_length=1)]
    username: str | None = None
    starttls: bool = True


class _AlertsModel(_Strict):
    #: messages per hour per destination; the rest are counted and summarised
    max_per_hour: Annotated[int, Field(ge=1)] = 20
    email: _EmailModel | None = None


class _SandboxModel(_ChannelModel):
    kind: Literal["sandbox"]
    #: seconds before a pushed quantity is what buyers see
    lag: Annotated[float, Field(ge=0)] = 0.0
    #: the SKUs it lists; others are refused (empty: it lists every SKU)
    skus: list[str] = Field(default_factory=list)


class _ShopifyModel(_ChannelModel):
    kind: Literal["shopify"]
    #: my-store or my-store.myshopify.com
    shop: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*(\.myshopify\.com)?$")]
    #: the location whose stock we set, by name as in Settings > Locations (or its gid)
    location: Annotated[str, Field(min_length=1)]
    #: the Admin API version, pinned
    api_version: Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")] = "2026-10"
    #: another host: only the local fake (tests, benchmarks)
    base_url: str | None = None

    _shop = field_validator("shop", mode="before")(_pasted(shopify_shop))


class _MetaModel(_ChannelModel):
    kind: Literal["meta"]
    #: the commerce catalog's id (Commerce Manager > Catalog > Settings)
    catalog: Annotated[str, Field(pattern=r"^[0-9]+$")]
    #: the Graph API version, pinned
    api_version: Annotated[str, Field(pattern=r"^v[0-9]+\.[0-9]+$")] = "v25.0"
    #: another host: only the local fake (tests, benchmarks)
    base_url: str | None = None

    _catalog = field_validator("catalog", mode="before")(_pasted(meta_catalog))


class _GoogleMerchantModel(_ChannelModel):
    kind: Literal["google_merchant"]
    #: the Merchant Center account id
    account: Annotated[str, Field(pattern=r"^[0-9]+$")]
    #: the API data source that holds the products (its id)
    data_source: Annotated[str, Field(pattern=r"^[0-9]+$")]
    content_language: Annotated[str, Field(min_length=2)] = "en"
    feed_label: Annotated[str, Field(min_length=1)] = "US"
    #: a store code: quantities go to that store's local inventory too
    store_code: str | None = None
    #: a product is out of stock online at this many units or fewer
    out_of_stock_at: Annotated[int, Field(ge=0)] = 0
    #: another host: only the local fake (tests, benchmarks)
    base_url: str | None = None

    _account = field_validator("account", mode="before")(_pasted(merchant_account))


class _WooCommerceModel(_ChannelModel):
    kind: Literal["woocommerce"]
    #: the shop's address, https://shop.example.com
    site: Annotated[str, Field(pattern=r"^https?://")]
    #: true: refunded items count as back in stock (the shop always ticks "Restock refunded
    #: items"); WooCommerce's refunds do not say whether they were, so the default is false
    restock_refunds: bool = False

    _site = field_validator("site", mode="before")(_pasted(woocommerce_site))

    @field_validator("restock_refunds", mode="before")
    @classmethod
    def _restock_is_a_switch(cls, value: object) -> object:
        """Only TOML's true or false; anything else is refused saying what the setting does."""
        if not isinstance(value, bool):
            raise ValueError(  # noqa: TRY004 - pydantic turns only ValueError into a named error
                f"must be true or false (no quotes), not {value!r}; true counts every refund as "
                "putting its items back in stock"
            )
        return value


class _EmagModel(_ChannelModel):
    kind: Literal["emag"]
    #: the marketplace the seller account sells on: ro (emag.ro), bg (emag.bg) or hu (emag.hu)
    site: Literal["ro", "bg", "hu"]
    #: the eMAG warehouse whose stock is set (1 with one warehouse)
    warehouse_id: Annotated[int, Field(ge=1)] = 1
    #: true: acknowledge new orders once read (only when no other tool takes eMAG's orders)
    acknowledge: bool = False
    #: false: returns count only when the order shows them (storno, status 5), not from RMA requests
    rma_returns: bool = True
    #: the zone of eMAG's order times (they carry none); default: the site's
    timezone: str | None = None
    #: another host: only the local fake (tests, benchmarks)
    base_url: str | None = None
    #: never here: the API user and password come from the environment (a clear error)
    username: str | None = None
    password: str | None = None

    @field_validator("acknowledge", "rma_returns", mode="before")
    @classmethod
    def _a_switch(cls, value: object) -> object:
        if not isinstance(value, bool):
            raise ValueError(  # noqa: TRY004 - pydantic turns only ValueError into a named error
                f"must be true or false (no quotes), not {value!r}"
            )
        return value

    _known_zone = field_validator("timezone")(_zone_name)


class _AmazonModel(_ChannelModel):
    kind: Literal["amazon"]
    #: seconds between cycles: searchOrders refills one call every 180 s, so never less
    interval: Annotated[int, Field(ge=1)] = 180
    #: the SP-API region of the marketplace: na (Americas), eu (Europe, India, Middle East), fe (Far East)
    region: Literal["na", "eu", "fe"]
    #: the marketplace (Seller Central > Settings; ATVPDKIKX0DER is amazon.com)
    marketplace_id: Annotated[str, Field(pattern=r"^[A-Z0-9]{10,20}$")]
    #: the seller's id, "Merchant Token" in Seller Central
    seller_id: Annotated[str, Field(pattern=r"^[A-Z0-9]{8,20}$")]
    #: pushes of at most this many SKUs are patched one by one; larger ones go in one feed
    patch_max: Annotated[int, Field(ge=0, le=25)] = 5
    #: messages per listings feed (Amazon's limit: 25,000)
    max_feed_messages: Annotated[int, Field(ge=1, le=25_000)] = 25_000
    #: another SP-API host and LWA token URL: only the local fake (tests, benchmarks)
    base_url: str | None = None
    token_url: str | None = None
    #: never here: the LWA credentials come from the environment (a clear error)
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None

    @model_validator(mode="after")
    def _slow_orders(self) -> _AmazonModel:
        if self.interval < 180:
            raise ValueError(
                f"interval: Amazon's searchOrders refills one call every 180 s; set interval = 180 or more, "
                f"not {self.interval}"
            )
        return self


_ChannelKinds = (
    _SandboxModel
    | _ShopifyModel
    | _MetaModel
    | _GoogleMerchantModel
    | _WooCommerceModel
    | _EmagModel
    | _AmazonModel
)

_Channel = Annotated[_ChannelKinds, Field(discriminator="kind")]


class _WorkbookModel(_Strict):
    kind: Literal["workbook"]
    path: str
    #: true: run even on a host whose disk a restart wipes (see sheetsync.core.hosting)
    allow_ephemeral_disk: bool = False


class _GoogleSheetsModel(_Strict):
    kind: Literal["google_sheets"]
    #: the sheet's URL or id
    spreadsheet: Annotated[str, Field(min_length=1)]
    #: path of the service account's JSON key (else SERVICE_ACCOUNT_ENV)
    service_account_file: str | None = None
    #: another Sheets host: only the local fake (`sheetsync demo --master sheets-fake`, tests)
    base_url: str | None = None

    _spreadsheet = field_validator("spreadsheet", mode="before")(_pasted(spreadsheet_key))


class _AirtableModel(_Strict):
    kind: Literal["airtable"]
    #: the base id (appXXXXXXXXXXXXXX), from the base's URL
    base: Annotated[str, Field(pattern=r"^app[A-Za-z0-9]{14}$")]
    #: our field name -> yours, for fields you named differently ("Quantity" = "Stock")
    fields: dict[str, str] = Field(default_factory=dict)
    #: API calls your Airtable plan allows a month (Team: 100,000); None: no budget kept
    monthly_call_budget: Annotated[int, Field(ge=1)] | None = 100_000
    #: another Airtable host: only the local fake (tests, benchmarks)
    base_url: str | None = None

    _base = field_validator("base", mode="before")(_pasted(lambda text: airtable_ids(text)[0]))


class _GuardModel(_Strict):
    max_drop: Annotated[float, Field(gt=0, le=1)] = 0.5
    accept_shrink: bool = False


class _FirstSyncModel(_Strict):
    confirm: bool = True
    max_changes: Annotated[int, Field(ge=0)] = FirstSyncRule().max_changes
    max_share: Annotated[float, Field(ge=0, le=1)] = FirstSyncRule().max_share


class _PricesModel(_Strict):
    #: ISO 4217 code of the amounts in the Price columns
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class _InsightsModel(_Strict):
    enabled: bool = True


class _BuffersModel(_Strict):
    #: ready-made tiers for every channel (core.buffers.PRESETS): "one-off" never holds the last unit
    preset: str | None = None

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value is not None and value not in PRESETS:
            known = ", ".join(f'"{name}"' for name in PRESETS)
            raise ValueError(f'"{value}" is not a preset; write one of {known} (or leave preset out)')
        return value


class _SettingsModel(_Strict):
    master: Annotated[_WorkbookModel | _GoogleSheetsModel | _AirtableModel, Field(discriminator="kind")]
    guard: _GuardModel = Field(default_factory=_GuardModel)
    first_sync: _FirstSyncModel = Field(default_factory=_FirstSyncModel)
    auto_pause: _AutoPauseModel = Field(default_factory=_AutoPauseModel)
    alerts: _AlertsModel = Field(default_factory=_AlertsModel)
    #: stock locations (Shop, Warehouse …), each its own Quantity column in the Inventory
    locations: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _-]*$", max_length=40)]] = Field(
        default_factory=list
    )
    prices: _PricesModel | None = None
    insights: _InsightsModel = Field(default_factory=_InsightsModel)
    buffers: _BuffersModel = Field(default_factory=_BuffersModel)
    #: where `serve` is reached from the internet (https://sync.example.com); doctor checks webhooks
    public_url: Annotated[str, Field(pattern=r"^https://[^/\s]+(/\S*)?$")] | None = None
    #: the zone the sheet shows times in (Europe/Bucharest); default UTC
    timezone: str | None = None
    channels: dict[str, _Channel]

    _known_zone = field_validator("timezone")(_zone_name)

    @model_validator(mode="after")
    def _known_locations(self) -> _SettingsModel:
        folded = [place.casefold() for place in self.locations]
        if repeated := sorted({p for p in self.locations if folded.count(p.casefold()) > 1}):
            raise ValueError(f"locations: {', '.join(repeated)} appears twice")
        for name, channel in self.channels.items():
            unknown = [p for p in channel.locations or [] if p.casefold() not in folded]
            if unknown:
                known = ", ".join(self.locations) or "none are configured (add a top-level locations list)"
                raise ValueError(
                    f"channels.{name}.locations: {', '.join(unknown)} is not a location; known: {known}"
                )
        return self

    @model_validator(mode="after")
    def _preset_or_tiers(self) -> _SettingsModel:
        preset = self.buffers.preset
        for name, channel in self.channels.items():
            if preset is not None and "tiers" in channel.model_fields_set:
                raise ValueError(
                    f'{toml_key(["channels", name, "tiers"])}: [buffers] preset = "{preset}" sets the tiers '
                    "of every channel; delete these tiers, or the preset"
                )
        return self

    @model_validator(mode="after")
    def _channel_names(self) -> _SettingsModel:
        if not self.channels:
            raise ValueError("at least one [channels.NAME] table is needed")
        for name in self.channels:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f'channel name "{name}" must be lower-case letters, digits and _')
        return self

    @model_validator(mode="after")
    def _no_secrets_here(self) -> _SettingsModel:
        for name, channel in self.channels.items():
            if isinstance(channel, _AmazonModel):
                for what in ("client_id", "client_secret", "refresh_token"):
                    if getattr(channel, what) is not None:
                        raise ValueError(
                            f"channels.{name}.{what}: not in this file; set SHEETSYNC__{name.upper()}__"
                            f"{what.upper()} in the worker's environment"
                        )
            if isinstance(channel, _EmagModel):
                for what in ("username", "password"):
                    if getattr(channel, what) is not None:
                        raise ValueError(
                            f"channels.{name}.{what}: not in this file; set SHEETSYNC__{name.upper()}__"
                            f"{what.upper()} in the worker's environment"
                        )
        return self


@dataclass(frozen=True, slots=True)
class ShopifyShop:
    """Where a Shopify channel pushes: the shop, its location, the pinned API version."""

    shop: str
    location: str
    api_version: str
    base_url: str | None


@dataclass(frozen=True, slots=True)
class MetaCatalog:
    """Where a Meta channel pushes: the commerce catalog and the pinned Graph API version."""

    catalog: str
    api_version: str
    base_url: str | None


@dataclass(frozen=True, slots=True)
class MerchantCenter:
    """Where a Google Merchant Center channel pushes."""

    account: str
    data_source: str
    content_language: str
    feed_label: str
    store_code: str | None
    out_of_stock_at: int
    base_url: str | None


@dataclass(frozen=True, slots=True)
class WooStore:
    """Where a WooCommerce channel pushes and reads orders."""

    site: str
    restock_refunds: bool = False  #: refunds count as putting their items back in stock


@dataclass(frozen=True, slots=True)
class EmagAccount:
    """Where an eMAG channel pushes and reads orders: the seller account's site and warehouse."""

    site: str  #: ro, bg or hu
    warehouse_id: int = 1
    acknowledge: bool = False  #: acknowledge new orders once read
    rma_returns: bool = True  #: count returns from RMA requests too
    timezone: str | None = None  #: the zone of eMAG's order times; None: the site's
    base_url: str | None = None


@dataclass(frozen=True, slots=True)
class AmazonAccount:
    """Where an Amazon channel pushes and reads orders: the seller in one marketplace."""

    region: str  #: na, eu or fe
    marketplace_id: str
    seller_id: str
    patch_max: int = 5  #: pushes of at most this many SKUs are patched one by one
    max_feed_messages: int = 25_000
    base_url: str | None = None
    token_url: str | None = None


#: A channel's platform settings, by kind.
Platform = ShopifyShop | MetaCatalog | MerchantCenter | WooStore | EmagAccount | AmazonAccount


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """One configured channel."""

    name: ChannelName
    kind: str
    title: str
    interval_s: int
    paused: bool
    policy: BufferPolicy
    lag_s: float = 0.0  #: sandbox
    skus: frozenset[str] = frozenset()  #: sandbox
    platform: Platform | None = None  #: None for a sandbox
    max_lag_s: float = 900.0  #: a push not visible after this is flagged LAG
    audit_every_s: float = 900.0  #: how often every SKU's figure is read back (DRIFT)
    audit_share: float = 0.1  #: the most of the platform's read quota the audit may use
    adaptive: AdaptiveRule | None = None  #: when set, replaces the tiers (see core.buffers)
    locations: tuple[str, ...] = ()  #: the stock locations it sells from (() without locations)


@dataclass(frozen=True, slots=True)
class WorkbookMaster:
    """A local .xlsx workbook."""

    path: Path
    #: run even where a restart wipes the disk (the merchant knows this one is kept)
    allow_ephemeral_disk: bool = False

    def describe(self) -> str:
        """For messages: where the master is."""
        return f"workbook {self.path}"


@dataclass(frozen=True, slots=True)
class GoogleSheetsMaster:
    """A Google Sheet shared with a service account."""

    spreadsheet: str
    service_account_file: Path | None
    base_url: str | None

    def describe(self) -> str:
        """For messages: where the master is."""
        return f"Google Sheet {self.spreadsheet}"


@dataclass(frozen=True, slots=True)
class AirtableMaster:
    """An Airtable base, reached with a personal access token from the environment."""

    base: str
    fields: Mapping[str, str]
    monthly_call_budget: int | None
    base_url: str | None

    def describe(self) -> str:
        """For messages: where the master is."""
        return f"Airtable base {self.base}"


#: Master kinds, as the settings hold them.
Master = WorkbookMaster | GoogleSheetsMaster | AirtableMaster

#: The personal access token for an Airtable master (never kept in the config file).
AIRTABLE_TOKEN_ENV = "SHEETSYNC__AIRTABLE__TOKEN"  # noqa: S105 - the variable's name, not a token

#: Where the service account's JSON key is looked for when the config names no file: a path, or
#: the JSON itself (for platforms that only offer environment variables).
SERVICE_ACCOUNT_ENV = "SHEETSYNC__GOOGLE_SHEETS__SERVICE_ACCOUNT"


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """The volume guard."""

    max_drop: float
    accept_shrink: bool


#: The auto-pause rule's default buffer: nothing shown of SKUs under 10 units.
CONSERVATIVE = BufferPolicy((Tier(10, Hold(HoldKind.UNITS)), Tier(0, Hold(HoldKind.ALL))))


@dataclass(frozen=True, slots=True)
class AutoPauseSettings:
    """The auto-pause rule: while a channel lags, show only a conservative buffer there."""

    enabled: bool = False
    max_lag_p95_s: float = 1200.0
    policy: BufferPolicy = CONSERVATIVE


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """Where e-mail alerts go; the password comes from ``SMTP_PASSWORD_ENV``."""

    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    username: str | None
    starttls: bool


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """Alert destinations: Slack when ``SLACK_WEBHOOK_ENV`` is set, e-mail when configured."""

    max_per_hour: int = 20
    email: EmailSettings | None = None


#: The Slack-compatible incoming-webhook URL (it is a secret: whoever has it can post).
SLACK_WEBHOOK_ENV = "SHEETSYNC__ALERTS__SLACK_WEBHOOK_URL"
SMTP_PASSWORD_ENV = "SHEETSYNC__ALERTS__SMTP_PASSWORD"  # noqa: S105 - the variable's name


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole validated configuration."""

    source: Path
    master: Master
    guard: GuardSettings
    channels: tuple[ChannelSettings, ...]
    auto_pause: AutoPauseSettings = AutoPauseSettings()
    alerts: AlertSettings = AlertSettings()
    locations: tuple[str, ...] = ()  #: stock locations; () for the one Quantity column
    currency: str | None = None  #: the Price columns' currency; None: prices are not synced
    insights: bool = True  #: write the Insights sheet once a day
    public_url: str | None = None  #: where `serve` is reached from the internet; None: no webhooks
    zone: tzinfo = UTC  #: the zone the sheet shows times in (``timezone``)
    #: when a channel's first live sync waits for a confirmation (frozen, so one default is shared)
    first_sync: FirstSyncRule = FirstSyncRule()  # noqa: RUF009

    @property
    def layout(self) -> Layout:
        """The Inventory layout these channels and locations imply."""
        return Layout(
            tuple((c.name, c.title) for c in self.channels), self.locations, self.currency is not None
        )


def load(path: Path) -> Settings:
    """Read and validate ``path``.

    Raises:
        ConfigError: naming the file and the key (``channels.shopify.tiers[1].hold``).
    """
    try:
        raw = tomllib.loads(_read_config(path))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    try:
        model = _SettingsModel.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(describe_errors(path, error, {"master": 1, "channels": 2})) from None
    base = path.parent
    settings = Settings(
        source=path,
        master=_master(model.master, base),
        guard=GuardSettings(model.guard.max_drop, model.guard.accept_shrink),
        channels=tuple(
            _channel(name, c, model.locations, model.buffers.preset) for name, c in model.channels.items()
        ),
        auto_pause=AutoPauseSettings(
            model.auto_pause.enabled, model.auto_pause.max_lag_p95, buffer_policy(model.auto_pause.tiers)
        ),
        alerts=AlertSettings(model.alerts.max_per_hour, _email(model.alerts.email)),
        locations=tuple(model.locations),
        currency=None if model.prices is None else model.prices.currency,
        insights=model.insights.enabled,
        public_url=None if model.public_url is None else model.public_url.rstrip("/"),
        zone=UTC if model.timezone is None else ZoneInfo(model.timezone),
        first_sync=FirstSyncRule(
            model.first_sync.confirm, model.first_sync.max_changes, model.first_sync.max_share
        ),
    )
    _check_headers(settings)
    return settings


def _check_headers(settings: Settings) -> None:
    """A channel title becomes an Inventory header: it must not clash with another one."""
    layout = settings.layout
    headers = layout.merchant_headers() | layout.worker_headers()
    for name, title in layout.channels:
        clash = [
            other
            for logical, other in headers.items()
            if logical != channel_column(name) and header_key(other) == header_key(title)
        ]
        if clash:
            raise ConfigError(
                f'{settings.source}: channels.{name}.title: "{title}" would be a second '
                f'"{clash[0]}" column in the Inventory sheet; choose another title'
            )


def _master(model: _WorkbookModel | _GoogleSheetsModel | _AirtableModel, base: Path) -> Master:
    if isinstance(model, _WorkbookModel):
        return WorkbookMaster(base / model.path, model.allow_ephemeral_disk)
    if isinstance(model, _AirtableModel):
        return AirtableMaster(model.base, dict(model.fields), model.monthly_call_budget, model.base_url)
    key_file = base / model.service_account_file if model.service_account_file else None
    return GoogleSheetsMaster(model.spreadsheet, key_file, model.base_url)


def service_account_info(
    settings: Settings, master: GoogleSheetsMaster, environ: Mapping[str, str]
) -> dict[str, Any]:
    """The service account's JSON key, from the file the config names or from the environment.

    Raises:
        ConfigError: naming the setting and the variable; never the key's content.
    """
    where = f"{settings.source}: master.service_account_file"
    if master.service_account_file is not None:
        source = str(master.service_account_file)
        text = _read_key(master.service_account_file, source, where)
    elif value := environ.get(SERVICE_ACCOUNT_ENV, "").strip():
        text, source = _key_or_path(value, f"${SERVICE_ACCOUNT_ENV}", where)
    else:
        raise ConfigError(
            f"{where} is not set and ${SERVICE_ACCOUNT_ENV} is empty: give the path of the service "
            "account's JSON key in one of them (or the key itself in the variable)"
        )
    return _key_info(text, source, where)


def channel_service_account(
    settings: Settings, channel: ChannelSettings, environ: Mapping[str, str]
) -> dict[str, Any]:
    """A channel's service-account key from ``SHEETSYNC__<NAME>__SERVICE_ACCOUNT`` (a path or the JSON).

    Raises:
        ConfigError: naming the variable; never the key's content.
    """
    value = channel_secret(settings, channel, "SERVICE_ACCOUNT", environ)
    variable = f"SHEETSYNC__{channel.name.upper()}__SERVICE_ACCOUNT"
    where = f"{settings.source}: channels.{channel.name}"
    return _key_info(*_key_or_path(value, f"${variable}", where), where)


#: A path longer than this, or one with a key's marks, is no path: it is never echoed.
_LONGEST_PATH = 512


def _key_or_path(value: str, variable: str, where: str) -> tuple[str, str]:
    """The key's JSON text and how to name its source, from a variable holding the key or its path.

    The key may arrive in other shapes than plain JSON: wrapped in quotes, with a byte-order
    mark, or base64-encoded (as some secret stores hand it over).  Whatever the shape, its text
    is never put in a message: only a short, key-free path is.

    Raises:
        ConfigError: the value is neither a key nor a readable path; naming the variable only.
    """
    text = value.strip().lstrip("\ufeff").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    if text.startswith("{"):
        return text, variable
    try:
        decoded = base64.b64decode(text, validate=True).decode("utf-8").lstrip("\ufeff").strip()
    except (binascii.Error, ValueError):
        decoded = ""
    if decoded.startswith("{"):
        return decoded, f"{variable} (base64)"
    if len(text) > _LONGEST_PATH or "\n" in text or "PRIVATE KEY" in text or "private_key" in text:
        raise ConfigError(
            f"{where}: {variable} holds neither a service-account JSON key nor the path of one "
            "(its value is not shown); put the key's JSON, or the path of its file, in it"
        )
    source = f"{text} (from {variable})"
    return _read_key(Path(text), source, where), source


def _key_info(text: str, source: str, where: str) -> dict[str, Any]:
    """A service account's JSON key, checked for what signing in needs."""
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(
            f"{where}: {source} is not JSON; download the key again from Google Cloud"
        ) from None
    needed = ("client_email", "private_key", "token_uri")
    missing = [k for k in needed if not isinstance(info, dict) or k not in info]
    if missing:
        raise ConfigError(f"{where}: {source} is not a service-account key (it lacks {', '.join(missing)})")
    return dict(info)


#: Byte-order marks an editor writes for UTF-16 and UTF-32 (Windows Notepad's "Unicode" is UTF-16 LE).
_WIDE_BOMS = (
    ("UTF-32", (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")),
    ("UTF-16", (b"\xff\xfe", b"\xfe\xff")),
)

_HOW_TO_SAVE = "(in Notepad: File > Save as, Encoding: UTF-8)"


def _read_config(path: Path) -> str:
    """The config file's text: UTF-8, with or without a BOM; anything else is a one-line ConfigError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; `sheetsync init` writes one") from None
    except OSError as error:
        if path.is_dir():  # IsADirectoryError on POSIX, PermissionError on Windows
            raise ConfigError(
                f"{path} is a directory; pass the config file, e.g. --config {path / 'sheetsync.toml'}"
            ) from None
        raise ConfigError(
            f"{path}: cannot read it ({error.strerror}); check the path and its permissions"
        ) from None
    for name, boms in _WIDE_BOMS:
        if data.startswith(boms):
            raise ConfigError(f"{path} is {name}; save it as UTF-8 {_HOW_TO_SAVE}")
    if b"\x00" in data[:2048]:  # TOML has no NUL: every other byte zero is UTF-16 without a BOM
        raise ConfigError(f"{path} is UTF-16; save it as UTF-8 {_HOW_TO_SAVE}")
    try:
        return data.decode("utf-8-sig")  # a UTF-8 BOM (Notepad's "UTF-8 with BOM") is dropped
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: byte {error.start} is not UTF-8; save the file as UTF-8") from None


def _read_key(path: Path, source: str, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{where}: cannot read {source} ({error.strerror})") from None


def _channel(
    name: str,
    model: _ChannelKinds,
    locations: Sequence[str],
    preset: str | None = None,
) -> ChannelSettings:
    by_fold = {place.casefold(): place for place in locations}
    common = ChannelSettings(
        name=ChannelName(name),
        kind=model.kind,
        title=model.title or name.replace("_", " ").title(),
        interval_s=model.interval,
        paused=model.paused,
        policy=buffer_policy(model.tiers, model.cap)
        if preset is None
        else replace(PRESETS[preset], cap=model.cap),
        max_lag_s=model.max_lag,
        audit_every_s=model.audit_every,
        audit_share=model.audit_share,
        adaptive=None if model.adaptive is None else model.adaptive.rule(),
        locations=tuple(by_fold[p.casefold()] for p in model.locations)
        if model.locations
        else tuple(locations),
    )
    if isinstance(model, _ShopifyModel):
        shop = ShopifyShop(model.shop, model.location, model.api_version, model.base_url)
        return replace(common, platform=shop)
    if isinstance(model, _MetaModel):
        return replace(common, platform=MetaCatalog(model.catalog, model.api_version, model.base_url))
    if isinstance(model, _GoogleMerchantModel):
        merchant = MerchantCenter(
            model.account,
            model.data_source,
            model.content_language,
            model.feed_label,
            model.store_code,
            model.out_of_stock_at,
            model.base_url,
        )
        return replace(common, platform=merchant)
    if isinstance(model, _WooCommerceModel):
        return replace(common, platform=WooStore(model.site.rstrip("/"), model.restock_refunds))
    if isinstance(model, _EmagModel):
        account = EmagAccount(
            model.site,
            warehouse_id=model.warehouse_id,
            acknowledge=model.acknowledge,
            rma_returns=model.rma_returns,
            timezone=model.timezone,
            base_url=model.base_url,
        )
        return replace(common, platform=account)
    if isinstance(model, _AmazonModel):
        amazon = AmazonAccount(
            model.region,
            model.marketplace_id,
            model.seller_id,
            patch_max=model.patch_max,
            max_feed_messages=model.max_feed_messages,
            base_url=model.base_url,
            token_url=model.token_url,
        )
        return replace(common, platform=amazon)
    return replace(common, lag_s=model.lag, skus=frozenset(model.skus))


def buffer_policy(tiers: list[TierModel], cap: int | None = None) -> BufferPolicy:
    """The BufferPolicy for validated tiers, highest minimum first."""
    ordered = sorted((Tier(t.min, _hold(t.hold)) for t in tiers), key=lambda t: -t.min_level)
    return BufferPolicy(tuple(ordered), cap)


def _email(model: _EmailModel | None) -> EmailSettings | None:
    if model is None:
        return None
    return EmailSettings(
        model.host, model.port, model.sender, tuple(model.to), model.username, model.starttls
    )


def channel_secret(
    settings: Settings, channel: ChannelSettings, what: str, environ: Mapping[str, str]
) -> str:
    """A channel's secret (``TOKEN``, ``WEBHOOK_SECRET``) from ``SHEETSYNC__<NAME>__<WHAT>``.

    Raises:
        ConfigError: naming the variable; never a secret.
    """
    variable = f"SHEETSYNC__{channel.name.upper()}__{what}"
    value = environ.get(variable, "").strip()
    if not value:
        raise ConfigError(
            f"{settings.source}: channels.{channel.name} is a {channel.kind} channel but ${variable} is "
            "empty; set it in the worker's environment"
        )
    return value


def _hold(value: int | str) -> Hold:
    return parse_hold(str(value))


def describe_errors(source: object, error: ValidationError, tagged: Mapping[str, int] | None = None) -> str:
    """One sentence per problem: the file, the key as the TOML file writes it, what is expected.

    ``[channels.shop] tiers, first tier, hold: …``: the table, then the keys and list entries
    within it. pydantic's own words (its error types, union member names such as ``int``, the
    input it saw) are never shown. ``tagged`` names the top-level keys whose entries are unions
    chosen by a tag: pydantic puts the chosen kind in the path at that depth; it is dropped.
    """
    said: dict[str, list[str]] = {}  # one line per key: a value every member of a union refused
    for problem in error.errors():
        depth = (tagged or {}).get(str(problem["loc"][0]) if problem["loc"] else "")
        loc = [part for i, part in enumerate(problem["loc"]) if i != depth and not _union_member(part)]
        messages = said.setdefault(toml_key(loc) if loc else "", [])
        if (message := _expected(problem, loc)) not in messages:
            messages.append(message)
    return "\n".join(
        f"{source}: {key}: {'; or '.join(messages)}" if key else f"{source}: {'; or '.join(messages)}"
        for key, messages in said.items()
    )


#: Tables whose name takes two keys: ``[channels.NAME]``, ``[alerts.email]``.
_NAMED_TABLES = {"channels": 2, "alerts": 2}
#: What one entry of a list is called, by the list's key.
_ENTRY = {"tiers": "tier", "locations": "location", "to": "address", "skus": "SKU"}
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def _union_member(part: object) -> bool:
    """Whether a path part is the union member pydantic tried (``int``, ``str``, ``function-after[…]``)."""
    return isinstance(part, str) and bool(
        re.fullmatch(r"(int|str|float|bool|list\[.*\]|[a-z-]+\[.*\])", part)
    )


def toml_key(loc: Sequence[str | int]) -> str:
    """A key path as the TOML file writes it: ``[channels.shop] tiers, first tier, hold``."""
    parts = list(loc)
    if (
        len(parts) > 1
        and len(parts) == _NAMED_TABLES.get(str(parts[0]))
        and all(isinstance(p, str) for p in parts)
    ):
        return f"[{'.'.join(str(p) for p in parts)}]"  # a check of the whole table
    head = min(_NAMED_TABLES.get(str(parts[0]), 1), len(parts) - 1)  # the last key is no table
    # A key followed by an entry number is a list, not a table.
    while head and not all(isinstance(p, str) for p in parts[: head + 1]):
        head -= 1
    table = [str(p) for p in parts[:head]]
    words: list[str] = []
    for i, part in enumerate(parts[head:], start=head):
        if isinstance(part, int):
            noun = _ENTRY.get(str(parts[i - 1]), "entry") if i else "entry"
            words.append(f"{_ORDINALS[part]} {noun}" if part < len(_ORDINALS) else f"{noun} #{part + 1}")
        else:
            words.append(part)
    where = f"[{'.'.join(table)}]" if table else ""
    return " ".join(w for w in (where, ", ".join(words)) if w)


#: The form a setting with a pattern takes, by its pattern's meaning.
_FORMS = {
    r"^\d{4}-\d{2}$": 'a Shopify API version like "2026-10"',
    r"^v[0-9]+\.[0-9]+$": 'a Graph API version like "v25.0"',
    r"^[0-9]+$": 'digits only, in quotes, like "1234567890"',
    r"^[A-Z]{3}$": 'a currency code in capitals, like "EUR"',
    r"^[A-Z0-9]{10,20}$": 'a marketplace id like "ATVPDKIKX0DER"',
    r"^[A-Z0-9]{8,20}$": 'your Merchant Token (Seller Central > Settings), like "A2EXAMPLE123"',
    r"^[A-Za-z0-9][A-Za-z0-9 _-]*$": 'a name of letters, digits, spaces, - and _, like "Warehouse"',
    r"^https://[^/\s]+(/\S*)?$": 'an https address, like "https://sync.example.com"',
}


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _expected(problem: Any, loc: Sequence[str | int]) -> str:
    """What is wrong, in words a merchant reads: never pydantic's type names or the input's repr."""
    kind, ctx = problem["type"], problem.get("ctx") or {}
    leaf = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
    by_type = {
        "missing": "missing; this setting is required",
        "extra_forbidden": "unknown setting (check the spelling)",
        "int_type": "must be a whole number, like 5 (no quotes)",
        "int_parsing": "must be a whole number, like 5 (no quotes)",
        "int_from_float": "must be a whole number, like 5 (no quotes)",
        "float_type": "must be a number, like 2.5 (no quotes)",
        "float_parsing": "must be a number, like 2.5 (no quotes)",
        "bool_type": "must be true or false (no quotes)",
        "bool_parsing": "must be true or false (no quotes)",
        "string_type": 'must be text in quotes, like "Warehouse"',
        "list_type": 'must be a list in square brackets, like ["a", "b"]',
        "dict_type": f"must be a table ([{leaf}] or {{ key = value }})",
        "model_type": f"must be a table ([{leaf}] or {{ key = value }})",
        "model_attributes_type": f"must be a table ([{leaf}] or {{ key = value }})",
        "greater_than_equal": f"must be {_number(ctx.get('ge'))} or more",
        "greater_than": f"must be more than {_number(ctx.get('gt'))}",
        "less_than_equal": f"must be {_number(ctx.get('le'))} or less",
        "less_than": f"must be less than {_number(ctx.get('lt'))}",
        "too_short": "must not be empty",
        "string_too_short": "must not be empty",
        "string_too_long": f"must be at most {ctx.get('max_length')} characters",
        "literal_error": f"must be one of {ctx.get('expected')}",
        "union_tag_invalid": f"kind must be one of {ctx.get('expected_tags')}",
        "union_tag_not_found": 'kind is missing: say what this is, e.g. kind = "shopify"',
        "string_pattern_mismatch": f"must be {_FORMS.get(str(ctx.get('pattern')), 'as the README shows')}",
    }
    if leaf == "hold" and kind != "value_error":
        return 'must be a number of units (3), a percentage in quotes ("10%") or "all"'
    if kind in by_type:
        return by_type[kind]
    message = str(problem["msg"])
    if kind in ("value_error", "assertion_error"):
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message  # another check's own words (pydantic's "Input should be …" for the rare rest)


def airtable_token(settings: Settings, environ: Mapping[str, str]) -> str:
    """The Airtable personal access token, from the environment only.

    Raises:
        ConfigError: naming the variable; never a token.
    """
    token = environ.get(AIRTABLE_TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(
            f"{settings.source}: master.kind is airtable but ${AIRTABLE_TOKEN_ENV} is empty: set it to a "
            "personal access token with data.records:read, data.records:write, schema.bases:read and "
            "webhook:manage on the base (airtable.com/create/tokens)"
        )
    return token
