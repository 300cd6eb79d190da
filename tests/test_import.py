"""``sheetsync import --from CHANNEL``: each channel's catalogue, read from its fake, fills the master."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from graphql import GraphQLSchema
from openpyxl import load_workbook
from sheetsync_fakes import REFERENCE
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.emag import FakeEmag
from sheetsync_fakes.google_sheets import FakeSheets, SheetSpec
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.merchant import FakeMerchant, load_discovery
from sheetsync_fakes.meta import FakeMeta
from sheetsync_fakes.shopify import FakeShopify, load_schema
from sheetsync_fakes.wire import HandlerAdapter, serve
from sheetsync_fakes.woocommerce import FakeWooCommerce

from sheetsync.channels import CatalogueSource
from sheetsync.channels.emag import EmagChannel
from sheetsync.channels.google_merchant import GoogleMerchantChannel
from sheetsync.channels.meta import MetaChannel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.cli import main
from sheetsync.config import Settings, load
from sheetsync.model import INVENTORY_SHEET, ChannelName
from sheetsync.onboarding import ImportReport, import_catalogue
from sheetsync.stores import MasterStore
from sheetsync.stores.google_sheets import GoogleSheetsStore, connect
from sheetsync.stores.workbook import WorkbookStore, create_workbook

START = datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp()
SHOP = "import-test.myshopify.com"
TOKEN = "shpat_import_token"


@functools.cache
def shopify_schema() -> GraphQLSchema:
    return load_schema(REFERENCE / "shopify" / "admin_2026-10.json.gz")


@functools.cache
def merchant_key() -> dict[str, str]:
    return service_account_key("bot@shop-project.iam.gserviceaccount.com")


class Platform:
    """A channel's fake, the real adapter over it, and the merchant listing products there."""

    kind: str
    block: str  #: the [channels.<kind>] table's settings
    untracked = False  #: the channel shows no quantities (Google online)

    def add(self, sku: str, title: str, quantity: int) -> None:
        raise NotImplementedError

    def source(self) -> CatalogueSource:
        raise NotImplementedError


class Shopify(Platform):
    kind = "shopify"
    block = 'kind = "shopify"\nshop = "import-test"\nlocation = "Warehouse"'

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeShopify({"2026-10": shopify_schema()}, now=self.clock)
        self.fake.create_shop(SHOP, TOKEN, locations=["Warehouse", "Shop floor"])

    def add(self, sku: str, title: str, quantity: int) -> None:
        self.fake.add_product(SHOP, sku, title=title, stock={"Warehouse": quantity, "Shop floor": 50})

    def source(self) -> ShopifyChannel:
        return ShopifyChannel(
            ChannelName(self.kind),
            shop=SHOP,
            token=TOKEN,
            location="Warehouse",
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
        )


class Woo(Platform):
    kind = "woocommerce"
    block = 'kind = "woocommerce"\nsite = "https://shop.example.com"'

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeWooCommerce(
            REFERENCE / "woocommerce" / "rest_v3_reference.json",
            consumer_key="ck_key",
            consumer_secret="cs_secret",
            now=self.clock,
        )

    def add(self, sku: str, title: str, quantity: int) -> None:
        self.fake.add_product(sku, stock=quantity, name=title)

    def source(self) -> WooCommerceChannel:
        return WooCommerceChannel(
            ChannelName(self.kind),
            site="shop.example.com",
            consumer_key="ck_key",
            consumer_secret="cs_secret",
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
        )


class Emag(Platform):
    kind = "emag"
    block = 'kind = "emag"\nsite = "ro"'

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeEmag(username="user@shop", password="pw", now=self.clock)
        self.next_id = 100

    def add(self, sku: str, title: str, quantity: int) -> None:
        self.next_id += 1
        self.fake.add_offer(self.next_id, stock=quantity, part_number=sku, name=title)

    def source(self) -> EmagChannel:
        return EmagChannel(
            ChannelName(self.kind),
            site="ro",
            username="user@shop",
            password="pw",
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
        )


class Meta(Platform):
    kind = "meta"
    block = 'kind = "meta"\ncatalog = "555000111"'

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeMeta(REFERENCE / "meta" / "catalog_sdk_summary.json", now=self.clock)
        self.fake.create_catalog("555000111", "EAAG_token")

    def add(self, sku: str, title: str, quantity: int) -> None:
        self.fake.add_product("555000111", sku, name=title, quantity_to_sell_on_facebook=quantity)

    def source(self) -> MetaChannel:
        return MetaChannel(
            ChannelName(self.kind),
            catalog_id="555000111",
            token="EAAG_token",
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
        )


class Google(Platform):
    kind = "google_merchant"
    block = 'kind = "google_merchant"\naccount = "4242"\ndata_source = "1"'
    untracked = True

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeMerchant(load_discovery(REFERENCE / "discovery"), now=self.clock)
        self.fake.add_service_account(merchant_key())
        self.fake.create_account("4242", users=[merchant_key()["client_email"]])

    def add(self, sku: str, title: str, quantity: int) -> None:
        self.fake.add_product("4242", sku, attributes={"title": title, "availability": "IN_STOCK"})

    def source(self) -> GoogleMerchantChannel:
        return GoogleMerchantChannel(
            ChannelName(self.kind),
            account="4242",
            data_source="1",
            content_language="en",
            feed_label="US",
            service_account_info=merchant_key(),
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
        )


PLATFORMS = {p.kind: p for p in (Shopify, Woo, Emag, Meta, Google)}


def settings_for(tmp_path: Path, platform: Platform, *, locations: str = "") -> Settings:
    config = tmp_path / "sheetsync.toml"
    config.write_text(
        f'{locations}[master]\nkind = "workbook"\npath = "inventory.xlsx"\n\n'
        f"[channels.{platform.kind}]\n{platform.block}\n",
        encoding="utf-8",
    )
    settings = load(config)
    create_workbook(tmp_path / "inventory.xlsx", settings.layout)
    return settings


def run(store: MasterStore, platform: Platform, settings: Settings, **kwargs: object) -> ImportReport:
    [channel] = settings.channels
    return import_catalogue(store, platform.source(), settings, channel, **kwargs)  # type: ignore[arg-type]  # the test's overrides, checked by the call


def inventory(path: Path) -> list[dict[str, object]]:
    ws = load_workbook(path)[INVENTORY_SHEET]
    rows = list(ws.iter_rows(values_only=True))
    return [
        {str(h): v for h, v in zip(rows[0], row, strict=False) if h and v is not None}
        for row in rows[1:]
        if any(v is not None for v in row)
    ]


def text(value: object) -> str:
    """A cell's value, which the test expects to be text."""
    assert isinstance(value, str), value
    return value


@pytest.fixture(params=list(PLATFORMS))
def platform(request: pytest.FixtureRequest) -> Platform:
    return PLATFORMS[request.param]()


def test_an_import_fills_an_empty_workbook_and_a_second_adds_only_the_new_skus(
    tmp_path: Path, platform: Platform
) -> None:
    settings = settings_for(tmp_path, platform)
    store = WorkbookStore(tmp_path / "inventory.xlsx", settings.layout)
    platform.add("TEE-M", "Tee", 4)
    platform.add("MUG", "Mug", 0)

    first = run(store, platform, settings)

    quantity = (lambda n: None) if platform.untracked else (lambda n: n)
    expected = [
        {"SKU": "TEE-M", "Title": "Tee", "Quantity": quantity(4)},
        {"SKU": "MUG", "Title": "Mug", "Quantity": quantity(0)},
    ]
    if platform.kind == "emag":  # pushes go by the offer id: it lands in SKU <eMAG's title>
        expected = [{**row, "SKU Emag": str(101 + n)} for n, row in enumerate(expected)]
    got = [
        {k: v for k, v in row.items() if k in ("SKU", "Title", "Quantity", "SKU Emag")}
        for row in inventory(tmp_path / "inventory.xlsx")
    ]
    # in the channel's list order (Google lists by product name)
    assert sorted(got, key=str) == sorted(
        ({k: v for k, v in r.items() if v is not None} for r in expected), key=str
    )
    assert (first.appended, first.read) == (2, 2)
    assert first.merge.untracked == (first.merge.added if platform.untracked else ())

    # The merchant counts the tees again; the channel lists a new product.
    wb = load_workbook(tmp_path / "inventory.xlsx")
    wb[INVENTORY_SHEET]["B2"] = 9
    wb.save(tmp_path / "inventory.xlsx")
    platform.add("LAMP", "Lamp", 3)

    second = run(store, platform, settings)

    rows = inventory(tmp_path / "inventory.xlsx")
    assert sorted(text(row["SKU"]) for row in rows[:2]) == ["MUG", "TEE-M"]
    assert rows[2]["SKU"] == "LAMP"
    assert rows[0]["Quantity"] == 9  # kept as the merchant left it, whatever the channel says
    assert (second.appended, len(second.merge.kept)) == (1, 2)
    assert any("added 1 rows" in line for line in second.lines())
    assert any("kept 2 existing rows" in line for line in second.lines())


def test_products_without_a_sku_and_skus_that_clash_are_listed_not_added(tmp_path: Path) -> None:
    shop = Shopify()
    settings = settings_for(tmp_path, shop)
    store = WorkbookStore(tmp_path / "inventory.xlsx", settings.layout)
    store.append_inventory([{"SKU": "Lamp-1", "Quantity": "2"}])
    shop.add("", "Gift card", 1)
    shop.add("TEE", "Tee red", 1)
    shop.add("TEE", "Tee blue", 1)
    shop.add("mug 1", "Mug", 1)
    shop.add("MUG1", "Mug XL", 1)
    shop.add("LAMP-1", "Lamp", 1)
    shop.add("OK", "Fine", 1)

    report = run(store, shop, settings)
    text = "\n".join(report.lines())

    assert [row["SKU"] for row in inventory(tmp_path / "inventory.xlsx")] == ["Lamp-1", "OK"]
    assert "1 without a SKU (not added)" in text
    assert "Gift card (variant " in text
    assert "no SKU; give it one on Shopify" in text
    assert "3 SKU clashes (not added)" in text
    assert 'SKU "TEE" is on 2 items (Tee red (variant' in text
    assert 'SKUs "MUG1", "mug 1" differ only by case or spaces' in text
    assert "Lamp (variant" in text
    assert 'differs from "Lamp-1" in Inventory row 2, column SKU' in text


def test_a_dry_run_prints_what_it_would_add_and_writes_nothing(tmp_path: Path) -> None:
    woo = Woo()
    settings = settings_for(tmp_path, woo)
    poster = woo.fake.add_product("UNMANAGED", name="Poster")
    parent = woo.fake.add_product("", product_type="variable", name="Tee")
    woo.fake.add_variation(parent, "TEE-S", stock=2, attributes={"Size": "S"})
    before = (tmp_path / "inventory.xlsx").read_bytes()
    store = WorkbookStore(tmp_path / "inventory.xlsx", settings.layout)

    report = run(store, woo, settings, dry_run=True)

    assert (tmp_path / "inventory.xlsx").read_bytes() == before
    assert report.appended == 0
    lines = report.lines()
    assert "dry run: would add 2 rows to Inventory; nothing was written" in lines
    assert f"  + SKU UNMANAGED: Poster (product {poster}), quantity blank" in lines
    assert f"  + SKU TEE-S: Tee / S (product {parent} variation {parent + 1}), quantity 2" in lines
    assert any("1 new rows have a blank Inventory Quantity" in line for line in lines)


def test_progress_is_shown_with_shopifys_count(tmp_path: Path) -> None:
    shop = Shopify()
    settings = settings_for(tmp_path, shop)
    shop.fake.add_product(SHOP, [f"V-{n:03}" for n in range(260)], title="Sock", stock={"Warehouse": 1})
    store = WorkbookStore(tmp_path / "inventory.xlsx", settings.layout)
    seen: list[str] = []

    report = run(store, shop, settings, progress=seen.append)

    assert seen == ["Shopify: read 250 of ~260 items", "Shopify: read 260 of ~260 items"]
    assert report.appended == 260


def test_with_locations_the_count_goes_to_the_channels_first_location(tmp_path: Path) -> None:
    shop = Shopify()
    settings = settings_for(tmp_path, shop, locations='locations = ["Shop", "Warehouse"]\n')
    shop.add("A", "Apron", 7)
    store = WorkbookStore(tmp_path / "inventory.xlsx", settings.layout)

    report = run(store, shop, settings)

    [row] = inventory(tmp_path / "inventory.xlsx")
    assert (row["Quantity Shop"], row["Quantity Warehouse"]) == (7, 0)
    assert any(
        "Quantity Shop of each new row" in line and "other Quantity columns start at 0" in line
        for line in report.lines()
    )


def test_the_same_through_the_google_sheets_store_over_its_fake(tmp_path: Path) -> None:
    shop = Shopify()
    settings = settings_for(tmp_path, shop)
    sheets = FakeSheets()
    account = "sheetsync-bot@shop-project.iam.gserviceaccount.com"
    sid = sheets.create_spreadsheet("Shop", sheets=(SheetSpec(INVENTORY_SHEET),))
    sheets.share(sid, account)
    sheets.set_values(sid, f"{INVENTORY_SHEET}!A1", [["Notes", "SKU", "Quantity"], ["mine", "TEE-M", 9]])
    client = connect(service_account_key(account), adapter=HandlerAdapter(sheets))
    store = GoogleSheetsStore(client, sid, settings.layout, account=account, sleep=lambda _: None)
    shop.add("TEE-M", "Tee", 4)
    shop.add("MUG", "Mug", 1)

    first = run(store, shop, settings)
    shop.add("LAMP", "Lamp", 3)
    second = run(store, shop, settings)

    rows = [dict(r.cells) for r in store.read().rows]
    assert [(r["sku"], r["quantity"]) for r in rows] == [("TEE-M", "9"), ("MUG", "1"), ("LAMP", "3")]
    assert (first.appended, second.appended) == (1, 1)
    values = sheets.get_values(sid, INVENTORY_SHEET, value_render_option="UNFORMATTED_VALUE")
    assert values[0] == ["Notes", "SKU", "Quantity", "Title", "Variant"]
    assert values[1] == ["mine", "TEE-M", 9]
    assert values[2][:4] == ["", "MUG", 1, "Mug"]


@pytest.fixture
def served_shop() -> Iterator[tuple[Shopify, str]]:
    shop = Shopify()
    with serve(shop.fake) as base_url:
        yield shop, base_url


def test_the_command_imports_and_prints_the_summary(
    tmp_path: Path,
    served_shop: tuple[Shopify, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shop, base_url = served_shop
    shop.add("TEE-M", "Tee", 4)
    settings_for(tmp_path, shop)
    config = tmp_path / "sheetsync.toml"
    config.write_text(config.read_text() + f'base_url = "{base_url}"\n', encoding="utf-8")
    monkeypatch.setenv("SHEETSYNC__SHOPIFY__TOKEN", TOKEN)

    assert main(["import", "--from", "shopify", "--dry-run", "--config", str(config)]) == 0
    dry = capsys.readouterr()
    assert main(["import", "--from", "shopify", "--config", str(config)]) == 0
    done = capsys.readouterr()

    assert "would add 1 rows" in dry.out
    assert "Shopify: read 1 of ~1 items" in dry.err
    assert "added 1 rows at the bottom of Inventory" in done.out
    assert "Quantity of each new row is what Shopify has available now" in done.out
    assert TOKEN not in dry.out + dry.err + done.out + done.err
    assert [row["SKU"] for row in inventory(tmp_path / "inventory.xlsx")] == ["TEE-M"]


@pytest.mark.parametrize(
    ("block", "says"),
    [
        (
            'kind = "amazon"\nregion = "eu"\nmarketplace_id = "A1PA6795UKMFR9"\nseller_id = "A2SELLER"',
            "Amazon cannot be imported from: listing every offer needs Amazon's Reports API",
        ),
        ('kind = "sandbox"', "is a sandbox channel, which has no catalogue to import"),
    ],
)
def test_a_channel_that_cannot_list_its_catalogue_is_refused_with_why(
    tmp_path: Path, block: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sheetsync.toml"
    config.write_text(f'[master]\nkind = "workbook"\npath = "inventory.xlsx"\n\n[channels.them]\n{block}\n')
    create_workbook(tmp_path / "inventory.xlsx", load(config).layout)

    assert main(["import", "--from", "them", "--config", str(config)]) == 2
    assert says in capsys.readouterr().err
    assert main(["import", "--from", "nobody", "--config", str(config)]) == 2
    assert "no channel named 'nobody' (channels: them)" in capsys.readouterr().err
