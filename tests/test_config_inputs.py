"""What people paste into the config is read as the id it holds, or refused in one sentence.

And config errors read as sentences: the file, the key as TOML writes it, the expected form;
never pydantic's words.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sheetsync_fakes.airtable import OWNER, AccessToken, FakeAirtable
from sheetsync_fakes.wire import serve

from sheetsync.cli import main
from sheetsync.config import AirtableMaster, load
from sheetsync.errors import ConfigError
from sheetsync.inputs import (
    airtable_ids,
    merchant_account,
    meta_catalog,
    shopify_shop,
    spreadsheet_key,
    woocommerce_site,
)

BASE, TABLE = "appAbCdEfGh123456", "tblAbCdEfGh123456"


@pytest.mark.parametrize(
    ("pasted", "read"),
    [
        (shopify_shop, "my-shop"),
        (shopify_shop, "my-shop.myshopify.com"),
        (shopify_shop, "https://my-shop.myshopify.com/admin"),
        (shopify_shop, "https://My-Shop.myshopify.com/admin/products/123"),
        (shopify_shop, "admin.shopify.com/store/my-shop"),
        (shopify_shop, "https://admin.shopify.com/store/my-shop/orders?inContextTimeframe=today"),
    ],
)
def test_shopify_shop_forms(pasted: object, read: str) -> None:
    assert shopify_shop(read) == "my-shop.myshopify.com"


@pytest.mark.parametrize(
    ("text", "site"),
    [
        ("shop.example.com", "https://shop.example.com"),
        ("https://shop.example.com/", "https://shop.example.com"),
        ("https://shop.example.com/wp-admin/admin.php?page=wc-settings", "https://shop.example.com"),
        ("https://example.com/shop/wp-json/wc/v3/products", "https://example.com/shop"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_woocommerce_site_forms(text: str, site: str) -> None:
    assert woocommerce_site(text) == site


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        (BASE, (BASE, None)),
        (f"https://airtable.com/{BASE}", (BASE, None)),
        (f"https://airtable.com/{BASE}/{TABLE}/viwAbCdEfGh123456?blocks=hide", (BASE, TABLE)),
        (f"airtable.com/{BASE}/{TABLE}", (BASE, TABLE)),
    ],
)
def test_airtable_forms(text: str, ids: tuple[str, str | None]) -> None:
    assert airtable_ids(text) == ids


@pytest.mark.parametrize(
    "text",
    [
        "1AbC_d-E",
        "https://docs.google.com/spreadsheets/d/1AbC_d-E/edit#gid=0",
        "https://docs.google.com/spreadsheets/d/1AbC_d-E/edit?usp=sharing",
        "https://drive.google.com/open?id=1AbC_d-E",
    ],
)
def test_google_sheet_forms(text: str) -> None:
    assert spreadsheet_key(text) == "1AbC_d-E"


@pytest.mark.parametrize(
    "text",
    [
        "1234567890",
        "https://business.facebook.com/commerce/catalogs/1234567890/products?business_id=42",
        "business.facebook.com/commerce/catalogs/1234567890/settings",
    ],
)
def test_meta_catalog_forms(text: str) -> None:
    assert meta_catalog(text) == "1234567890"


@pytest.mark.parametrize(
    "text",
    [
        "123456789",
        "https://merchants.google.com/mc/overview?a=123456789",
        "merchants.google.com/mc/products?a=123456789&authuser=1",
    ],
)
def test_merchant_center_forms(text: str) -> None:
    assert merchant_account(text) == "123456789"


@pytest.mark.parametrize(
    ("read", "text", "expected"),
    [
        (shopify_shop, "www.myshop.com", "give its myshopify.com address, like my-shop.myshopify.com"),
        (woocommerce_site, "my shop", "give the shop's address, like https://shop.example.com"),
        (airtable_ids, "https://airtable.com/", "give its id, like appAbCdEfGh123456"),
        (spreadsheet_key, "https://docs.google.com/document/d/", "copy its address from the browser"),
        (
            meta_catalog,
            "https://business.facebook.com/",
            "give its id (Commerce Manager > Catalog > Settings)",
        ),
        (merchant_account, "merchants.google.com/mc/overview", "give its id (top right in Merchant Center)"),
    ],
)
def test_what_cannot_be_read_is_refused_in_one_sentence(
    read: Callable[[str], str], text: str, expected: str
) -> None:
    with pytest.raises(ValueError, match="not a") as caught:
        read(text)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


# -- the config ------------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sheetsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_pasted_urls_in_a_config_are_read_as_their_ids(tmp_path: Path) -> None:
    settings = load(
        _write(
            tmp_path,
            f"""
[master]
kind = "airtable"
base = "https://airtable.com/{BASE}/{TABLE}/viwAbCdEfGh123456"

[channels.shop]
kind = "shopify"
shop = "https://admin.shopify.com/store/my-shop"
location = "Warehouse"

[channels.woo]
kind = "woocommerce"
site = "https://shop.example.com/wp-admin/"

[channels.facebook]
kind = "meta"
catalog = "https://business.facebook.com/commerce/catalogs/1234567890/products"

[channels.google]
kind = "google_merchant"
account = "https://merchants.google.com/mc/overview?a=123456789"
data_source = "42"
""",
        )
    )
    assert isinstance(settings.master, AirtableMaster)
    assert settings.master.base == BASE
    platforms = [c.platform for c in settings.channels]
    assert [
        getattr(p, attr) for p, attr in zip(platforms, ("shop", "site", "catalog", "account"), strict=True)
    ] == [
        "my-shop.myshopify.com",
        "https://shop.example.com",
        "1234567890",
        "123456789",
    ]


BAD = """
[master]
kind = "workbook"
path = "inventory.xlsx"

[channels.shop]
kind = "sandbox"
{extra}
"""


@pytest.mark.parametrize(
    ("extra", "sentence"),
    [
        (
            "tiers = [{ min = 0, hold = 1.5 }]",
            "[channels.shop] tiers, first tier, hold: must be a number of units (3), "
            'a percentage in quotes ("10%") or "all"',
        ),
        (
            'tiers = [{ min = 0, hold = 0 }, { min = "ten", hold = 1 }]',
            "[channels.shop] tiers, second tier, min: must be a whole number, like 5 (no quotes)",
        ),
        ("interval = 0", "[channels.shop] interval: must be 1 or more"),
        ('paused = "maybe"', "[channels.shop] paused: must be true or false (no quotes)"),
        ("cap = -1", "[channels.shop] cap: must be 0 or more"),
        (
            'kind = "shopify"\nshop = "www.myshop.com"\nlocation = "W"',
            "[channels.shop] shop: 'www.myshop.com' is not a Shopify shop: give its myshopify.com address",
        ),
        (
            'kind = "shopify"\nshop = "s"\nlocation = "W"\napi_version = "latest"',
            '[channels.shop] api_version: must be a Shopify API version like "2026-10"',
        ),
        ('kind = "shopify"\nshop = "s"', "[channels.shop] location: missing; this setting is required"),
        ('kind = "ebay"', "[channels.shop]: kind must be one of 'sandbox', 'shopify'"),
    ],
)
def test_config_errors_are_sentences_naming_the_file_the_toml_key_and_the_form(
    tmp_path: Path, extra: str, sentence: str
) -> None:
    text = BAD.format(extra=extra)
    if extra.startswith("kind"):
        text = text.replace('kind = "sandbox"\n', "")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert sentence in message
    for internal in (
        "String should match pattern",
        "input_value=",
        ".int",
        ".str",
        "[0]",
        "Input should be",
        "union_tag",
    ):
        assert internal not in message


def test_a_list_entry_at_the_top_level_is_named_by_its_position(tmp_path: Path) -> None:
    path = _write(tmp_path, 'locations = ["Shop", "Back/room"]\n' + BAD.format(extra=""))
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value) == (
        f"{path}: locations, second location: "
        'must be a name of letters, digits, spaces, - and _, like "Warehouse"'
    )


# -- init --airtable-base URL ----------------------------------------------------------------------


def test_init_takes_an_airtable_url_and_a_failed_init_leaves_no_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "sheetsync.toml"
    monkeypatch.delenv("SHEETSYNC__AIRTABLE__TOKEN", raising=False)
    assert (
        main(["init", "--config", str(config), "--airtable-base", f"https://airtable.com/{BASE}/{TABLE}"])
        == 2
    )
    assert "SHEETSYNC__AIRTABLE__TOKEN is empty" in capsys.readouterr().err
    assert not config.exists()

    assert main(["init", "--config", str(config), "--airtable-base", "https://airtable.com/"]) == 2
    assert "--airtable-base: 'https://airtable.com/' is not an Airtable base" in capsys.readouterr().err
    assert not config.exists()


def test_init_prepares_the_base_a_url_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeAirtable(tokens={"patToken.1": AccessToken(OWNER)})
    fake.create_base("Shop", base_id=BASE)
    url = f"https://airtable.com/{BASE}/{TABLE}/viwAbCdEfGh123456"
    config = tmp_path / "sheetsync.toml"
    monkeypatch.setenv("SHEETSYNC__AIRTABLE__TOKEN", "patToken.1")
    with serve(fake) as base_url:
        config.write_text(
            f'[master]\nkind = "airtable"\nbase = "{url}"\nbase_url = "{base_url}"\n'
            '[channels.shop]\nkind = "sandbox"\n',
            encoding="utf-8",
        )
        assert main(["init", "--config", str(config), "--airtable-base", url]) == 0
    assert "next: type SKUs and quantities in the Inventory table" in capsys.readouterr().out
    assert fake.records(BASE, "Inventory") == []  # the table exists now (an unknown one raises)
