"""Configuration: the shipped files load, and every error names the file and the key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from sheetsync.config import (
    SERVICE_ACCOUNT_ENV,
    GoogleSheetsMaster,
    MerchantCenter,
    MetaCatalog,
    ShopifyShop,
    WooStore,
    WorkbookMaster,
    channel_secret,
    load,
    service_account_info,
)
from sheetsync.core.buffers import AdaptiveRule, published
from sheetsync.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sheetsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
[master]
kind = "workbook"
path = "inv.xlsx"

[channels.shop]
kind = "sandbox"
"""


def test_example_config_gives_the_seed_tiers() -> None:
    settings = load(REPO / "config" / "example.toml")
    assert [(c.name, published(10, c.policy).quantity) for c in settings.channels] == [
        ("shopify", 8),
        ("facebook", 7),
        ("google", 6),
    ]
    assert isinstance(settings.master, WorkbookMaster)
    assert settings.master.path == REPO / "config" / "inventory.xlsx"


def test_demo_config_loads_with_four_lags_one_a_marketplace() -> None:
    settings = load(REPO / "config" / "demo.toml")
    assert [(c.title, c.lag_s) for c in settings.channels] == [
        ("Shopify", 5),
        ("Facebook", 240),
        ("Google", 900),
        ("eMAG", 300),
    ]


def test_defaults(tmp_path: Path) -> None:
    settings = load(write(tmp_path, MINIMAL))
    (channel,) = settings.channels
    assert (channel.title, channel.interval_s, channel.paused) == ("Shop", 60, False)
    assert published(7, channel.policy).quantity == 7
    assert (settings.guard.max_drop, settings.guard.accept_shrink) == (0.5, False)
    assert (channel.max_lag_s, channel.audit_every_s) == (900, 900)
    assert not settings.auto_pause.enabled
    assert settings.alerts.email is None


MONITORING = """
[auto_pause]
enabled = true
max_lag_p95 = 600
tiers = [{ min = 5, hold = 1 }, { min = 0, hold = "all" }]

[alerts]
max_per_hour = 5

[alerts.email]
host = "smtp.example.com"
from = "sheetsync@example.com"
to = ["ops@example.com", "owner@example.com"]
username = "sheetsync"
"""


def test_monitoring_settings(tmp_path: Path) -> None:
    settings = load(write(tmp_path, MINIMAL.replace("[channels.shop]", MONITORING + "\n[channels.shop]")))
    assert settings.auto_pause.enabled
    assert settings.auto_pause.max_lag_p95_s == 600
    assert [published(n, settings.auto_pause.policy).quantity for n in (4, 5, 9)] == [0, 4, 8]
    assert settings.alerts.max_per_hour == 5
    email = settings.alerts.email
    assert email is not None
    assert (email.host, email.port, email.sender, email.to, email.starttls) == (
        "smtp.example.com",
        587,
        "sheetsync@example.com",
        ("ops@example.com", "owner@example.com"),
        True,
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            'tiers = [{ min = 3, hold = "10 pct" }]',
            '[channels.shop] tiers, first tier, hold: "10 pct" is not a hold; '
            "write units (3), a percentage (10%) or all",
        ),
        (
            "tiers = [{ min = 3, hold = 1 }]",
            "[channels.shop] tiers: one tier must start at min = 0",
        ),
        ("interval = 0", "[channels.shop] interval: must be 1 or more"),
        ("interval = 0.5", "[channels.shop] interval: must be a whole number, like 5 (no quotes)"),
        (
            "colour = 'red'",
            "[channels.shop] colour: unknown setting (check the spelling)",
        ),
        ("cap = -1", "[channels.shop] cap: must be 0 or more"),
        (
            "interval = 600\nmax_lag = 300",
            "[channels.shop]: max_lag (300 s) must be longer than interval (600 s)",
        ),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, extra: str, message: str) -> None:
    path = write(tmp_path, MINIMAL + extra + "\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize("title", ["Status", "available", "SKU"])
def test_a_channel_title_must_not_clash_with_another_column(tmp_path: Path, title: str) -> None:
    path = write(tmp_path, MINIMAL + f'title = "{title}"\n')
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(f'{path}: channels.shop.title: "{title}" would be a second')


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file; `sheetsync init` writes one"):
        load(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[master\n"))


def test_missing_master_and_bad_channel_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"master: missing; this setting is required"):
        load(write(tmp_path, '[channels.shop]\nkind = "sandbox"\n'))
    with pytest.raises(ConfigError, match='channel name "Shop" must be lower-case'):
        load(write(tmp_path, MINIMAL.replace("channels.shop", "channels.Shop")))


GOOGLE = """
[master]
kind = "google_sheets"
spreadsheet = "https://docs.google.com/spreadsheets/d/1AbCdEf_gh-IJ/edit#gid=0"
{extra}
[channels.shop]
kind = "sandbox"
"""
KEY = {
    "client_email": "bot@p.iam.gserviceaccount.com",
    "private_key": "-----BEGIN PRIVATE KEY-----\nSECRETKEY",
    "token_uri": "https://oauth2.googleapis.com/token",
}


def test_google_master_reads_the_key_from_the_named_file(tmp_path: Path) -> None:
    (tmp_path / "sa.json").write_text(json.dumps(KEY))
    settings = load(write(tmp_path, GOOGLE.format(extra='service_account_file = "sa.json"')))
    assert isinstance(settings.master, GoogleSheetsMaster)
    assert settings.master.describe() == "Google Sheet 1AbCdEf_gh-IJ"
    assert service_account_info(settings, settings.master, {})["client_email"] == KEY["client_email"]


@pytest.mark.parametrize(
    "shape",
    [
        lambda text: f"'{text}'",  # wrapped in quotes by a .env file
        lambda text: f'"{text}"',
        lambda text: "\ufeff" + text,  # saved with a byte-order mark
        lambda text: base64.b64encode(text.encode()).decode(),  # as some secret stores hand it over
        lambda text: " " + base64.b64encode(("\ufeff" + text).encode()).decode() + "\n",
    ],
)
def test_a_key_in_another_shape_is_read_as_the_key(tmp_path: Path, shape: Callable[[str], str]) -> None:
    settings = load(write(tmp_path, GOOGLE.format(extra="")))
    assert isinstance(settings.master, GoogleSheetsMaster)
    info = service_account_info(settings, settings.master, {SERVICE_ACCOUNT_ENV: shape(json.dumps(KEY))})
    assert info["client_email"] == KEY["client_email"]


def test_google_master_reads_the_key_from_the_environment(tmp_path: Path) -> None:
    settings = load(write(tmp_path, GOOGLE.format(extra="")))
    assert isinstance(settings.master, GoogleSheetsMaster)
    assert service_account_info(settings, settings.master, {SERVICE_ACCOUNT_ENV: json.dumps(KEY)})[
        "token_uri"
    ]
    (tmp_path / "k.json").write_text(json.dumps(KEY))
    env = {SERVICE_ACCOUNT_ENV: str(tmp_path / "k.json")}
    assert service_account_info(settings, settings.master, env)["private_key"].endswith("SECRETKEY")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, f"master.service_account_file is not set and ${SERVICE_ACCOUNT_ENV} is empty"),
        ({SERVICE_ACCOUNT_ENV: "{not json SECRETKEY"}, f"${SERVICE_ACCOUNT_ENV} is not JSON"),
        (
            {SERVICE_ACCOUNT_ENV: json.dumps({"private_key": "SECRETKEY"})},
            "is not a service-account key (it lacks client_email, token_uri)",
        ),
        ({SERVICE_ACCOUNT_ENV: "/nowhere/sa.json"}, "cannot read /nowhere/sa.json (from $"),
        # a key in a shape we cannot read is never taken for a path, so never echoed
        (
            {SERVICE_ACCOUNT_ENV: "-----BEGIN PRIVATE KEY-----\nSECRETKEY\n-----END PRIVATE KEY-----"},
            "holds neither a service-account JSON key nor the path of one (its value is not shown)",
        ),
        ({SERVICE_ACCOUNT_ENV: "x" * 600 + "SECRETKEY"}, "(its value is not shown)"),
        ({SERVICE_ACCOUNT_ENV: base64.b64encode(b"{broken SECRETKEY").decode()}, "(base64) is not JSON"),
    ],
)
def test_key_errors_name_the_setting_and_variable_but_never_the_key(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    settings = load(write(tmp_path, GOOGLE.format(extra="")))
    assert isinstance(settings.master, GoogleSheetsMaster)
    with pytest.raises(ConfigError) as caught:
        service_account_info(settings, settings.master, env)
    assert message in str(caught.value)
    assert "SECRETKEY" not in str(caught.value)


def test_google_master_errors_drop_the_kind_from_the_key(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"sheetsync.toml: \[master\] spreadsheet: missing; this setting is required"
    ):
        load(write(tmp_path, '[master]\nkind = "google_sheets"\n[channels.shop]\nkind = "sandbox"\n'))


SHOPIFY = """
[master]
kind = "workbook"
path = "inv.xlsx"

[channels.shopify]
kind = "shopify"
shop = "{shop}"
location = "Warehouse"
"""


def test_a_shopify_channel_names_its_shop_location_and_version(tmp_path: Path) -> None:
    (channel,) = load(write(tmp_path, SHOPIFY.format(shop="my-store"))).channels
    assert channel.platform == ShopifyShop("my-store.myshopify.com", "Warehouse", "2026-10", None)
    assert channel.title == "Shopify"


def test_a_bad_shop_domain_is_named_by_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, SHOPIFY.format(shop="https://my-store.com")))
    assert str(caught.value).startswith(f"{tmp_path / 'sheetsync.toml'}: [channels.shopify] shop: ")


def test_a_sandbox_setting_on_a_shopify_channel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[channels\.shopify\] lag: unknown setting"):
        load(write(tmp_path, SHOPIFY.format(shop="my-store") + "lag = 5\n"))


def test_channel_secrets_come_from_the_environment_and_name_the_variable(tmp_path: Path) -> None:
    settings = load(write(tmp_path, SHOPIFY.format(shop="my-store")))
    (channel,) = settings.channels
    environ = {"SHEETSYNC__SHOPIFY__TOKEN": " shpat_x "}
    assert channel_secret(settings, channel, "TOKEN", environ) == "shpat_x"
    with pytest.raises(ConfigError, match=r"\$SHEETSYNC__SHOPIFY__WEBHOOK_SECRET is empty"):
        channel_secret(settings, channel, "WEBHOOK_SECRET", environ)


@pytest.mark.parametrize(
    ("block", "platform"),
    [
        ('kind = "meta"\ncatalog = "1234567890"', MetaCatalog("1234567890", "v25.0", None)),
        (
            'kind = "google_merchant"\naccount = "123"\ndata_source = "456"\nstore_code = "BERLIN-1"',
            MerchantCenter("123", "456", "en", "US", "BERLIN-1", 0, None),
        ),
        ('kind = "woocommerce"\nsite = "https://shop.example.com/"', WooStore("https://shop.example.com")),
    ],
)
def test_each_platform_kind_loads_its_settings(tmp_path: Path, block: str, platform: object) -> None:
    text = MINIMAL.replace('kind = "sandbox"', block)
    (channel,) = load(write(tmp_path, text)).channels
    assert channel.platform == platform


def test_adaptive_buffer_settings(tmp_path: Path) -> None:
    on = load(write(tmp_path, MINIMAL + "adaptive = true\n")).channels[0]
    assert on.adaptive == AdaptiveRule()
    bounded = load(write(tmp_path, MINIMAL + "adaptive = { min_hold = 1, max_hold = 40 }\n")).channels[0]
    assert bounded.adaptive == AdaptiveRule(safety=2.0, min_hold=1, max_hold=40)
    safer = load(write(tmp_path, MINIMAL + "adaptive = { safety = 3 }\n")).channels[0]
    assert safer.adaptive == AdaptiveRule(safety=3.0)
    assert load(write(tmp_path, MINIMAL)).channels[0].adaptive is None
    with pytest.raises(ConfigError, match=r"\[channels.shop\] adaptive, max_hold: must be 0 or more"):
        load(write(tmp_path, MINIMAL + "adaptive = { max_hold = -1 }\n"))
    assert load(write(tmp_path, MINIMAL + "adaptive = false\n")).channels[0].adaptive is None


MERCHANT = """
locations = ["Shop", "Warehouse"]

[prices]
currency = "EUR"

[master]
kind = "workbook"
path = "inventory.xlsx"

[channels.online]
kind = "sandbox"

[channels.pos]
kind = "sandbox"
locations = ["shop"]
"""


def test_locations_prices_and_insights(tmp_path: Path) -> None:
    settings = load(write(tmp_path, MERCHANT))
    assert settings.locations == ("Shop", "Warehouse")
    assert [c.locations for c in settings.channels] == [("Shop", "Warehouse"), ("Shop",)]
    assert (settings.currency, settings.insights) == ("EUR", True)
    headers = settings.layout.merchant_headers()
    assert [headers[k] for k in ("stock:Shop", "stock:Warehouse", "price", "price:pos")] == [
        "Quantity Shop",
        "Quantity Warehouse",
        "Price",
        "Price Pos",
    ]
    assert "Prices sent" in settings.layout.worker_headers().values()
    assert "location" in settings.layout.ledger_headers()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('locations = ["shop"]', "channels.pos.locations: shop is not a location; known: Warehouse"),
        ('locations = ["Shop", "SHOP"]', "locations: SHOP, Shop appears twice"),
        ('currency = "EUR"', '[prices] currency: must be a currency code in capitals, like "EUR"'),
    ],
)
def test_location_and_currency_mistakes_are_named(tmp_path: Path, change: str, message: str) -> None:
    text = MERCHANT
    if change.startswith("currency"):
        text = text.replace('currency = "EUR"', 'currency = "euro"')
    elif "SHOP" in change:
        text = text.replace('locations = ["Shop", "Warehouse"]', change).replace('locations = ["shop"]', "")
    else:
        text = text.replace('locations = ["Shop", "Warehouse"]', 'locations = ["Warehouse"]')
    with pytest.raises(ConfigError) as raised:
        load(write(tmp_path, text))
    assert message in str(raised.value)


def test_a_utf8_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "sheetsync.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert [c.name for c in load(path).channels] == ["shop"]


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")],
)
def test_a_wide_encoding_is_refused_with_the_fix(tmp_path: Path, encoding: str, name: str) -> None:
    path = tmp_path / "sheetsync.toml"
    path.write_bytes(MINIMAL.encode(encoding))
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path} is {name}; save it as UTF-8 (in Notepad: ")
    assert "\n" not in str(caught.value)


def test_a_file_not_in_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "sheetsync.toml"
    path.write_bytes(
        MINIMAL.replace('kind = "sandbox"', 'title = "Caf\xe9"\nkind = "sandbox"').encode("cp1252")
    )
    with pytest.raises(ConfigError, match=r"sheetsync.toml: byte \d+ is not UTF-8; save the file as UTF-8"):
        load(path)


def test_a_directory_is_refused_with_the_file_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path} is a directory; pass the config file, e.g. --config {tmp_path / 'sheetsync.toml'}"
    )


def test_a_missing_file_says_init_writes_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file; `sheetsync init` writes one"):
        load(tmp_path / "nope.toml")


WOO = MINIMAL.replace('kind = "sandbox"', 'kind = "woocommerce"\nsite = "https://shop.example.com"')


def test_woocommerce_refunds_restock_only_when_the_shop_says_so(tmp_path: Path) -> None:
    (default,) = load(write(tmp_path, WOO)).channels
    assert default.platform == WooStore("https://shop.example.com", restock_refunds=False)
    (on,) = load(write(tmp_path, WOO + "restock_refunds = true\n")).channels
    assert on.platform == WooStore("https://shop.example.com", restock_refunds=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            WOO + 'restock_refunds = "yes"\n',
            "[channels.shop] restock_refunds: must be true or false (no quotes), not 'yes'; true counts "
            "every refund as putting its items back in stock",
        ),
        (
            WOO + "restock_refunds = 1\n",
            "[channels.shop] restock_refunds: must be true or false (no quotes), not 1",
        ),
        (
            WOO + "restock_refund = true\n",
            "[channels.shop] restock_refund: unknown setting (check the spelling)",
        ),
        (MINIMAL + "restock_refunds = true\n", "[channels.shop] restock_refunds: unknown setting"),
    ],
)
def test_a_mistyped_restock_refunds_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: {message}")
