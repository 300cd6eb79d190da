"""``sheetsync doctor``: each check passes on a good setup and fails, with its fix, on a broken one.

The real adapters and stores talk to the fakes served on loopback, as a merchant's worker would
talk to the services; the config names the fakes through ``base_url``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from graphql import GraphQLSchema
from sheetsync_fakes import REFERENCE
from sheetsync_fakes.airtable import OWNER, AccessToken, FakeAirtable, FieldSpec
from sheetsync_fakes.google_sheets import FakeSheets, SheetSpec
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.shopify import FakeShopify, load_schema
from sheetsync_fakes.wire import serve

from sheetsync.cli import main
from sheetsync.config import ShopifyShop, load
from sheetsync.doctor import Check, diagnose
from sheetsync.stores.google_sheets import GoogleSheetsStore
from sheetsync.stores.workbook import WorkbookStore, create_workbook
from sheetsync.worker import open_store

TOKEN = "shpat_good_token"
SECRET = "webhook-secret"
PUBLIC = "https://sync.example.com"
TOPICS = ("ORDERS_CREATE", "ORDERS_CANCELLED", "REFUNDS_CREATE")
BOT = "bot@shop-project.iam.gserviceaccount.com"
AIRTABLE_TOKEN = "patGoodToken.0123456789"
BASE = "appAbCdEfGh123456"


def _real_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Setup:
    """A workbook master and a Shopify channel on the fake, all OK until a test breaks one part."""

    config: Path
    workbook: Path
    shopify: FakeShopify
    environ: dict[str, str]

    def run(self, now: datetime | None = None) -> dict[str, Check]:
        checks = diagnose(self.config, self.environ, (lambda: now) if now else _real_now)
        return {check.name: check for check in checks}


def _shopify_config(base_url: str, location: str = "Warehouse") -> str:
    return f"""
public_url = "{PUBLIC}/"

[master]
kind = "workbook"
path = "inventory.xlsx"

[channels.shop]
kind = "shopify"
shop = "https://admin.shopify.com/store/my-shop"
location = "{location}"
base_url = "{base_url}"
"""


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return load_schema(REFERENCE / "shopify" / "admin_2026-10.json.gz")


@pytest.fixture
def setup(tmp_path: Path, schema: GraphQLSchema) -> Iterator[Setup]:
    fake = FakeShopify({"2026-10": schema})
    fake.create_shop("my-shop", TOKEN, locations=["Warehouse", "Shop floor"])
    for topic in TOPICS:
        fake.subscribe("my-shop", topic, f"{PUBLIC}/webhooks/shopify/shop")
    with serve(fake) as url:
        config = tmp_path / "sheetsync.toml"
        config.write_text(_shopify_config(url), encoding="utf-8")
        workbook = tmp_path / "inventory.xlsx"
        create_workbook(workbook, load(config).layout)
        environ = {"SHEETSYNC__SHOP__TOKEN": TOKEN, "SHEETSYNC__SHOP__WEBHOOK_SECRET": SECRET}
        yield Setup(config, workbook, fake, environ)


def _failed(checks: dict[str, Check]) -> dict[str, Check]:
    return {name: c for name, c in checks.items() if c.status != "OK"}


def test_a_good_setup_is_all_ok_and_exits_0(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    checks = setup.run()
    assert _failed(checks) == {}
    assert {"config", "workbook", "master", "writable", "lease", "shop credential", "shop scopes"} <= set(
        checks
    )
    assert {"shop location", "shop webhooks", "clock"} <= set(checks)

    with pytest.MonkeyPatch.context() as patch:
        for key, value in setup.environ.items():
            patch.setenv(key, value)
        assert main(["doctor", "--config", str(setup.config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK   config: ")
    assert TOKEN not in out
    assert SECRET not in out


def test_a_missing_token_names_the_variable_and_exits_1(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    del setup.environ["SHEETSYNC__SHOP__TOKEN"]
    failed = _failed(setup.run())
    assert failed["shop credential"].status == "FAIL"
    assert "$SHEETSYNC__SHOP__TOKEN is empty; set it" in failed["shop credential"].detail

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SHEETSYNC__SHOP__TOKEN", raising=False)
        assert main(["doctor", "--config", str(setup.config)]) == 1
    assert "FAIL shop credential: " in capsys.readouterr().out


def test_a_wrong_token_is_refused_by_the_shop(setup: Setup) -> None:
    setup.environ["SHEETSYNC__SHOP__TOKEN"] = "shpat_wrong"
    failed = _failed(setup.run())
    assert list(failed) == ["shop credential works"]
    detail = failed["shop credential works"].detail
    assert "refused the access token" in detail
    assert "$SHEETSYNC__SHOP__TOKEN" in detail
    assert "shpat_wrong" not in detail


def test_a_missing_scope_is_named_with_where_to_tick_it(
    tmp_path: Path, setup: Setup, schema: GraphQLSchema
) -> None:
    fake = FakeShopify({"2026-10": schema})
    fake.create_shop(
        "my-shop", TOKEN, locations=["Warehouse"], scopes=["read_products", "write_inventory", "read_orders"]
    )
    with serve(fake) as url:
        setup.config.write_text(
            _shopify_config(url).replace(f'public_url = "{PUBLIC}/"', ""), encoding="utf-8"
        )
        failed = _failed(setup.run())
    assert list(failed) == ["shop scopes"]
    assert "the app lacks read_locations;" in failed["shop scopes"].detail
    assert "reinstall the app" in failed["shop scopes"].detail


def test_an_unknown_location_lists_the_shops_locations(setup: Setup) -> None:
    platform = load(setup.config).channels[0].platform
    assert isinstance(platform, ShopifyShop)
    url = platform.base_url
    setup.config.write_text(_shopify_config(str(url), location="Back room"), encoding="utf-8")
    failed = _failed(setup.run())
    assert list(failed) == ["shop location"]
    detail = failed["shop location"].detail
    assert "no location named 'Back room'; it has Shop floor, Warehouse" in detail
    assert "[channels.shop]" in detail


def test_a_missing_or_misdirected_webhook_is_named(setup: Setup) -> None:
    gone = next(iter(setup.shopify._shop("my-shop").subscriptions))
    setup.shopify.unsubscribe("my-shop", gone)
    setup.shopify.subscribe("my-shop", "ORDERS_CREATE", "https://old.example.com/hook")
    failed = _failed(setup.run())
    assert list(failed) == ["shop webhooks"]
    detail = failed["shop webhooks"].detail
    assert f"no subscription of orders/create to {PUBLIC}/webhooks/shopify/shop" in detail
    assert "(they point at https://old.example.com/hook)" in detail


def test_a_skewed_clock_is_a_warning(setup: Setup) -> None:
    checks = setup.run(now=_real_now() + timedelta(minutes=10))
    assert checks["clock"].status == "WARN"
    assert "s ahead of 127.0.0.1's; turn on automatic time" in checks["clock"].detail
    assert list(_failed(checks)) == ["clock"]


def test_a_held_lease_names_the_other_worker(setup: Setup) -> None:
    other = WorkbookStore(setup.workbook, load(setup.config).layout)
    other.read()
    assert other.acquire("other-host:42", _real_now(), 600) is None
    failed = _failed(setup.run())
    assert list(failed) == ["lease"]
    assert failed["lease"].status == "WARN"
    assert "held by another sheetsync worker (other-host:42)" in failed["lease"].detail


def test_a_missing_workbook_says_how_to_make_one(setup: Setup) -> None:
    setup.workbook.unlink()
    checks = setup.run()
    assert checks["workbook"].status == "FAIL"
    assert "no workbook at" in checks["workbook"].detail
    assert "`sheetsync init`" in checks["workbook"].detail


def test_a_workbook_open_in_excel_is_not_writable(setup: Setup) -> None:
    (setup.workbook.parent / f"~${setup.workbook.name}").write_bytes(b"")
    failed = _failed(setup.run())
    assert list(failed) == ["writable"]
    assert "is open in Excel" in failed["writable"].detail


def test_a_config_that_does_not_load_is_the_one_check(tmp_path: Path) -> None:
    config = tmp_path / "sheetsync.toml"
    config.write_text('[master]\nkind = "workbook"\npath = "x.xlsx"\n[channels.shop]\nkind = "shopify"\n')
    (check,) = diagnose(config, {}, _real_now)
    assert check.status == "FAIL"
    assert check.name == "config"
    assert "[channels.shop] shop: missing; this setting is required" in check.detail


# -- Google Sheets ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> dict[str, str]:
    return service_account_key(BOT)


def _sheets(tmp_path: Path, key: dict[str, str], url: str, sheet: str) -> Path:
    (tmp_path / "sa.json").write_text(json.dumps({**key, "token_uri": f"{url}/token"}), encoding="utf-8")
    config = tmp_path / "sheetsync.toml"
    config.write_text(
        f"""
[master]
kind = "google_sheets"
spreadsheet = "https://docs.google.com/spreadsheets/d/{sheet}/edit#gid=0"
service_account_file = "sa.json"
base_url = "{url}"

[channels.shop]
kind = "sandbox"
""",
        encoding="utf-8",
    )
    return config


def test_a_sheet_not_shared_names_the_service_account(tmp_path: Path, key: dict[str, str]) -> None:
    fake = FakeSheets()
    sheet = fake.create_spreadsheet("Stock", sheets=[SheetSpec("Inventory")])
    with serve(fake) as url:
        config = _sheets(tmp_path, key, url, sheet)
        checks = {c.name: c for c in diagnose(config, {}, _real_now)}
    assert checks["google key"].status == "OK"
    assert BOT in checks["google key"].detail
    assert checks["master"].status == "FAIL"
    assert f"share the sheet with {BOT} as Editor" in checks["master"].detail


def test_a_sheet_shared_as_viewer_is_not_editable_and_nothing_is_written(
    tmp_path: Path, key: dict[str, str]
) -> None:
    fake = FakeSheets()
    sheet = fake.create_spreadsheet("Stock", shared_with=[BOT])
    with serve(fake) as url:
        config = _sheets(tmp_path, key, url, sheet)
        store = open_store(load(config))
        assert isinstance(store, GoogleSheetsStore)
        store.prepare()
        assert _failed({c.name: c for c in diagnose(config, {}, _real_now)}) == {}
        fake.share(sheet, BOT, role="reader")
        before = fake.metadata(sheet), fake.get_values(sheet, "Inventory")
        failed = _failed({c.name: c for c in diagnose(config, {}, _real_now)})
        assert (fake.metadata(sheet), fake.get_values(sheet, "Inventory")) == before
    assert list(failed) == ["writable"]
    assert f"share the sheet with {BOT} as Editor" in failed["writable"].detail


# -- Airtable --------------------------------------------------------------------------------------


def _airtable(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "sheetsync.toml"
    config.write_text(
        f"""
[master]
kind = "airtable"
base = "https://airtable.com/{BASE}/tblAbCdEfGh123456/viwAbCdEfGh123456"
base_url = "{url}"

[channels.shop]
kind = "sandbox"
""",
        encoding="utf-8",
    )
    return config


def test_a_missing_airtable_field_is_named(tmp_path: Path) -> None:
    fake = FakeAirtable(tokens={AIRTABLE_TOKEN: AccessToken(OWNER)})
    fake.create_base("Shop", base_id=BASE)
    fake.create_table(BASE, "Inventory", [FieldSpec("SKU", "singleLineText")])
    with serve(fake) as url:
        config = _airtable(tmp_path, url)
        checks = {
            c.name: c for c in diagnose(config, {"SHEETSYNC__AIRTABLE__TOKEN": AIRTABLE_TOKEN}, _real_now)
        }
    assert checks["airtable token"].status == "OK"
    assert checks["master"].status == "FAIL"
    assert "lacks Quantity" in checks["master"].detail


def test_a_wrong_airtable_token_is_refused(tmp_path: Path) -> None:
    fake = FakeAirtable(tokens={AIRTABLE_TOKEN: AccessToken(OWNER)})
    fake.create_base("Shop", base_id=BASE)
    with serve(fake) as url:
        config = _airtable(tmp_path, url)
        checks = {
            c.name: c for c in diagnose(config, {"SHEETSYNC__AIRTABLE__TOKEN": "patWrong.1"}, _real_now)
        }
    assert checks["master"].status == "FAIL"
    assert "patWrong" not in checks["master"].detail


# -- check-config, offline -------------------------------------------------------------------------


def test_check_config_names_what_is_missing_and_what_it_cannot_know(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.workbook.unlink()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SHEETSYNC__SHOP__TOKEN", raising=False)
        patch.delenv("SHEETSYNC__SHOP__WEBHOOK_SECRET", raising=False)
        assert main(["check-config", "--config", str(setup.config)]) == 1
    out = capsys.readouterr().out
    assert ": 3 problem(s)" in out
    assert "problem: " in out
    assert "no workbook at" in out
    assert "$SHEETSYNC__SHOP__TOKEN is empty" in out
    assert "$SHEETSYNC__SHOP__WEBHOOK_SECRET is empty" in out
    assert (
        "not checked offline: credentials, sharing and webhooks are not checked offline: run sheetsync doctor"
        in out
    )
