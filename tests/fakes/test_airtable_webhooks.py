"""FakeAirtable's webhooks, through pyairtable's webhook client: specifications, expiry, payloads."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pyairtable
import pytest
import requests
from sheetsync_fakes.airtable import (
    OWNER,
    SCOPE_RECORDS_READ,
    SCOPE_RECORDS_WRITE,
    SCOPE_SCHEMA_READ,
    AccessToken,
    FakeAirtable,
    FieldSpec,
)
from sheetsync_fakes.wire import HandlerAdapter

TOKEN = "patWebhooks.0123456789"
BASE = "appWebhookBase001"
DAY = 86400.0
SPEC = {
    "options": {
        "filters": {"dataTypes": ["tableData", "tableFields", "tableMetadata"]},
        "includes": {"includeCellValuesInFieldIds": "all"},
    }
}
SHOES = {"id": "selShoes000000001", "name": "Shoes", "color": "blueLight2"}
COLORS = {"choices": [SHOES, {"id": "selHats0000000001", "name": "Hats", "color": "redLight2"}]}


class Clock:
    def __init__(self) -> None:
        self.t = dt.datetime(2026, 11, 27, 9, tzinfo=dt.UTC).timestamp()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(
    clock: Clock, token: AccessToken | None = None, pace: float = 0.25
) -> tuple[FakeAirtable, pyairtable.Base]:
    """A fake base and pyairtable's client for it; each request comes ``pace`` seconds after the last."""
    fake = FakeAirtable(tokens={TOKEN: token or AccessToken(OWNER)}, now=clock)
    fake.create_base("Shop", base_id=BASE)
    fake.create_table(
        BASE,
        "Inventory",
        [
            FieldSpec("SKU", "singleLineText", field_id="fldSku00000000001"),
            FieldSpec("Quantity", "number", {"precision": 0}, field_id="fldQty00000000001"),
            FieldSpec("Category", "singleSelect", COLORS, field_id="fldCat00000000001"),
        ],
        table_id="tblInventory00001",
    )

    def answer(request: httpx.Request) -> httpx.Response:
        clock.t += pace
        return fake(request)

    api = pyairtable.Api(TOKEN, retry_strategy=None)
    api.session.mount("https://", HandlerAdapter(answer))
    return fake, api.base(BASE)


def payloads(base: pyairtable.Base, hook: str, cursor: int = 1) -> dict[str, Any]:
    return dict(base.api.get(base.urls.webhooks / hook / "payloads", params={"cursor": cursor}))


def test_a_webhook_is_created_listed_and_reports_each_change_once(clock: Clock) -> None:
    fake, base = make(clock)
    created = base.api.post(base.urls.webhooks, json={"specification": SPEC})
    assert set(created) == {"id", "macSecretBase64", "expirationTime"}
    assert created["expirationTime"] == "2026-12-04T09:00:00.250Z"  # 7 days after it
    (listed,) = base.webhooks()  # pyairtable's own model parses the listing
    assert (listed.id, listed.cursor_for_next_payload, listed.is_hook_enabled) == (created["id"], 1, True)

    table = base.table("Inventory")
    record = table.create({"SKU": "A", "Quantity": 1, "Category": "Shoes"})  # through the API
    clock.t += 1
    fake.set_cell(BASE, "Inventory", record["id"], "Category", "Hats")  # the merchant, in the UI
    fake.delete_records(BASE, "Inventory", [record["id"]])

    page = payloads(base, created["id"])
    assert (page["cursor"], page["mightHaveMore"]) == (4, False)
    made, changed, deleted = page["payloads"]
    assert made["actionMetadata"]["source"] == "publicApi"
    assert made["payloadFormat"] == "v0"
    assert made["changedTablesById"]["tblInventory00001"]["createdRecordsById"][record["id"]][
        "cellValuesByFieldId"
    ] == {
        "fldSku00000000001": "A",
        "fldQty00000000001": 1,
        "fldCat00000000001": SHOES,  # V2: the option whole
    }
    assert changed["actionMetadata"]["source"] == "client"
    change = changed["changedTablesById"]["tblInventory00001"]["changedRecordsById"][record["id"]]
    assert change["current"]["cellValuesByFieldId"]["fldCat00000000001"]["name"] == "Hats"
    assert change["unchanged"]["cellValuesByFieldId"] == {"fldSku00000000001": "A", "fldQty00000000001": 1}
    assert deleted["changedTablesById"]["tblInventory00001"]["destroyedRecordIds"] == [record["id"]]
    assert payloads(base, created["id"], 4) == {"payloads": [], "cursor": 4, "mightHaveMore": False}


def test_fields_and_tables_changed_are_reported(clock: Clock) -> None:
    fake, base = make(clock)
    hook = base.api.post(base.urls.webhooks, json={"specification": SPEC})["id"]
    fake.rename_field(BASE, "Inventory", "Category", "Kind")
    fake.rename_table(BASE, "Inventory", "Stock")
    fake.create_table(BASE, "Ledger", [FieldSpec("Key", "singleLineText")], table_id="tblLedger00000001")

    renamed, moved, new = payloads(base, hook)["payloads"]
    assert renamed["changedTablesById"]["tblInventory00001"]["changedFieldsById"] == {
        "fldCat00000000001": {"current": {"name": "Kind"}, "previous": {"name": "Category"}}
    }
    metadata = moved["changedTablesById"]["tblInventory00001"]["changedMetadata"]
    assert (metadata["current"]["name"], metadata["previous"]["name"]) == ("Stock", "Inventory")
    assert new["createdTablesById"]["tblLedger00000001"]["metadata"]["name"] == "Ledger"


def test_a_page_holds_fifty_payloads_and_says_there_might_be_more(clock: Clock) -> None:
    fake, base = make(clock)
    hook = base.api.post(base.urls.webhooks, json={"specification": SPEC})["id"]
    (rid,) = fake.add_records(BASE, "Inventory", [{"SKU": "A"}])
    for n in range(59):
        fake.set_cell(BASE, "Inventory", rid, "Quantity", n)

    first = payloads(base, hook)
    assert (len(first["payloads"]), first["cursor"], first["mightHaveMore"]) == (50, 51, True)
    rest = payloads(base, hook, 51)
    assert (len(rest["payloads"]), rest["cursor"], rest["mightHaveMore"]) == (10, 61, False)
    assert len(list(base.webhook(hook).payloads())) == 60  # pyairtable follows mightHaveMore


def test_a_webhook_expires_after_seven_days_unless_refreshed_or_read(clock: Clock) -> None:
    fake, base = make(clock)
    kept = base.api.post(base.urls.webhooks, json={"specification": SPEC})["id"]
    idle = base.api.post(base.urls.webhooks, json={"specification": SPEC})["id"]
    clock.t += 6 * DAY
    base.webhook(kept).extend_expiration()  # pyairtable's refresh
    clock.t += 2 * DAY
    payloads(base, kept)  # listing payloads extends it too
    fake.add_records(BASE, "Inventory", [{"SKU": "late"}])

    enabled = {hook.id: hook.is_hook_enabled for hook in base.webhooks()}
    assert enabled == {kept: True, idle: False}
    assert payloads(base, idle)["payloads"] == []  # disabled: it records nothing
    assert len(payloads(base, kept)["payloads"]) == 1
    with pytest.raises(requests.HTTPError) as refused:
        base.webhook(idle).extend_expiration()
    assert refused.value.response.status_code == 422

    clock.t += 7 * DAY  # a week after it expired, it is gone
    assert {hook.id: hook.is_hook_enabled for hook in base.webhooks()} == {kept: False}
    with pytest.raises(requests.HTTPError) as gone:
        payloads(base, idle)
    assert gone.value.response.status_code == 404


def test_payloads_older_than_a_week_are_deleted_and_the_cursor_shows_the_gap(clock: Clock) -> None:
    fake, base = make(clock)
    hook = base.api.post(base.urls.webhooks, json={"specification": SPEC})["id"]
    fake.add_records(BASE, "Inventory", [{"SKU": "old"}])
    clock.t += 6 * DAY
    fake.add_records(BASE, "Inventory", [{"SKU": "new"}])
    base.webhook(hook).extend_expiration()
    clock.t += 1.5 * DAY

    page = payloads(base, hook)
    assert (len(page["payloads"]), page["cursor"]) == (1, 3)


def test_webhooks_need_webhook_manage_and_the_scopes_of_their_data_types(clock: Clock) -> None:
    no_manage = AccessToken(
        OWNER, scopes=frozenset({SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE, SCOPE_SCHEMA_READ})
    )
    _, base = make(clock, no_manage)
    with pytest.raises(requests.HTTPError) as refused:
        base.webhooks()
    assert refused.value.response.status_code == 403

    no_schema = AccessToken(OWNER, scopes=frozenset({SCOPE_RECORDS_READ, "webhook:manage"}))
    _, base = make(clock, no_schema)
    with pytest.raises(requests.HTTPError) as refused:
        base.api.post(base.urls.webhooks, json={"specification": SPEC})
    assert refused.value.response.status_code == 403
    data_only = {"options": {"filters": {"dataTypes": ["tableData"]}}}
    assert base.api.post(base.urls.webhooks, json={"specification": data_only})["id"].startswith("ach")


def test_a_base_holds_ten_webhooks(clock: Clock) -> None:
    _, base = make(clock)
    for _ in range(10):
        base.api.post(base.urls.webhooks, json={"specification": SPEC})
        clock.t += 1
    with pytest.raises(requests.HTTPError) as refused:
        base.api.post(base.urls.webhooks, json={"specification": SPEC})
    assert refused.value.response.status_code == 422


def test_webhook_calls_meet_the_rate_limit_and_count_against_the_monthly_cap(clock: Clock) -> None:
    _, base = make(clock, pace=0.0)
    hook = base.api.post(base.urls.webhooks, json={"specification": SPEC})["id"]
    for _ in range(4):
        payloads(base, hook)
    with pytest.raises(requests.HTTPError) as throttled:
        payloads(base, hook)  # the sixth request within a second
    assert throttled.value.response.status_code == 429

    capped = FakeAirtable(tokens={TOKEN: AccessToken(OWNER)}, now=clock, monthly_call_cap=2)
    capped.create_base("Shop", base_id=BASE)
    api = pyairtable.Api(TOKEN, retry_strategy=None)
    api.session.mount("https://", HandlerAdapter(capped))
    clock.t += 60
    base = api.base(BASE)
    hook = base.api.post(base.urls.webhooks, json={"specification": SPEC})["id"]
    clock.t += 1
    payloads(base, hook)
    clock.t += 1
    with pytest.raises(requests.HTTPError) as billed:
        payloads(base, hook)  # the third call of the month
    assert billed.value.response.status_code == 429
    assert "PUBLIC_API_BILLING_LIMIT_EXCEEDED" in billed.value.response.text
