"""FakeAirtable against the recorded Airtable traffic, then through the real pyairtable client."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pyairtable
import pytest
import requests
from sheetsync_fakes import REFERENCE as REFERENCE_ROOT
from sheetsync_fakes.airtable import (
    SCOPE_RECORDS_READ,
    SCOPE_RECORDS_WRITE,
    AccessToken,
    AirtableCall,
    Collaborator,
    FakeAirtable,
    FieldSpec,
    ViewSpec,
)
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.wire import HandlerAdapter, serve

REFERENCE = REFERENCE_ROOT / "airtable"
RECORDED = json.loads((REFERENCE / "recorded_grouparoo.json").read_text())
INTERACTIONS: list[dict[str, Any]] = RECORDED["interactions"]
CONTRACT = json.loads((REFERENCE / "client_contract_pyairtable.json").read_text())
OBSERVED = json.loads((REFERENCE / "observed_errors.json").read_text())
OBSERVED_ERRORS: list[dict[str, Any]] = OBSERVED["errors"]
RATE_LIMITED = next(error["body"] for error in OBSERVED_ERRORS if error["status"] == 429)

TOKEN = "patRecordedUser.0123456789"
RECORDING_USER = Collaborator("usrPnLezZNh82BzJC", "brian.leonard@grouparoo.com", "Brian Leonard")
JSON_TYPE = "application/json; charset=utf-8"


def epoch(iso: str) -> float:
    """Seconds since the epoch of a recorded ``…Z`` timestamp."""
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# --- (a) fidelity: every recorded interaction, replayed ---------------------------------------

#: The one recorded base schema (with-meta-access fixture); the other base's tables are the same
#: "All" and "Empty" tables under the ids its record calls use.
SCHEMA: list[dict[str, Any]] = next(
    i for i in INTERACTIONS if i["operation"].startswith("meta.tables") and i["response"]["status"] == 200
)["response"]["body"]["tables"]
BASE_NAMES = {
    base["id"]: base["name"]
    for i in INTERACTIONS
    if i["operation"] == "meta.bases" and i["response"]["status"] == 200
    for base in i["response"]["body"]["bases"]
}
WITH_META, NO_META = "app21Qak1T4cGoiP7", "appA1Qak1T4cGoiP7"
#: Table ids of the no-meta-access base: "All" lists the same records under both names
#: (interactions 40/41), and records created in "Empty" are read back under its id.
NO_META_TABLES = {"All": "tblsdYOTFAzBLHXTr", "Empty": "tbln73pmkdKl4Khj1"}
BUTTON = {"label": "Open URL", "url": "https://www.grouparoo.com"}
#: Values a field held before a recorded PATCH emptied it, so that clearing is exercised.
OLD_VALUES: Mapping[str, Any] = {
    "f_checkbox": True,
    "f_currency": 1.5,
    "f_date": "2020-01-01",
    "f_dateTime": "2020-01-01T00:00:00.000Z",
    "f_duration": 60,
    "f_email": "old@example.com",
    "f_multilineText": "old\nlines",
    "f_multipleSelects": ["Blue"],
    "f_number": 1,
    "f_percent": 2,
    "f_phoneNumber": "555 0000",
    "f_rating": 3,
    "f_richText": "old\n",
    "f_singleLineText": "old",
    "f_singleSelect": "Red",
    "f_url": "https://old.example.com",
}


class RecordedBase:
    """A fake holding the recorded bases, whose computed fields answer as recorded.

    Formula, rollup, count, lookup and button values are the test's to supply (the fake never
    evaluates definitions): recorded records keep their recorded values, keyed by autoNumber;
    new ones get what the recordings show for a new record (``Name`` & autoNumber, NaN rollup).
    """

    def __init__(
        self, token: AccessToken | None = None, next_numbers: Mapping[str, int] | None = None
    ) -> None:
        self.clock = ManualClock()
        self.next_numbers = next_numbers or {}
        self.ids: list[str] = []
        self.fake = FakeAirtable(
            tokens={TOKEN: token or AccessToken(RECORDING_USER)},
            now=self.clock,
            record_ids=lambda: self.ids.pop(0),
        )
        self.computed: dict[tuple[str, int], dict[str, Any]] = {}
        for base_id in (WITH_META, NO_META):
            self.fake.create_base(BASE_NAMES[base_id], base_id=base_id)
            for table in SCHEMA:
                if base_id == WITH_META:
                    self._table(base_id, table, table["id"], keep_field_ids=True)
                elif table["name"] in NO_META_TABLES:
                    self._table(base_id, table, NO_META_TABLES[table["name"]], keep_field_ids=False)

    def _table(self, base_id: str, table: dict[str, Any], table_id: str, *, keep_field_ids: bool) -> None:
        specs = [
            FieldSpec(
                f["name"],
                f["type"],
                f.get("options"),
                field_id=f["id"] if keep_field_ids else None,
                compute=self._compute(table_id, f["name"], f["type"]),
            )
            for f in table["fields"]
        ]
        views = [ViewSpec(v["name"], v["type"], v["id"] if keep_field_ids else None) for v in table["views"]]
        self.fake.create_table(
            base_id,
            table["name"],
            specs,
            table_id=table_id,
            views=views,
            next_auto_number=self.next_numbers.get(table_id, 1),
        )

    def _compute(self, table_id: str, name: str, kind: str) -> Callable[[Mapping[str, Any]], Any] | None:
        defaults: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "button": lambda values: BUTTON,
            "formula": lambda values: f"{values.get('Name', '')}{values.get('f_autoNumber')}",
            "count": lambda values: len(values.get("f_multipleRecordLinks", [])),
            "rollup": lambda values: {"specialValue": "NaN"},
            "multipleLookupValues": lambda values: None,
        }
        if kind not in defaults:
            return None
        default = defaults[kind]

        def compute(values: Mapping[str, Any]) -> Any:
            recorded = self.computed.get((table_id, values.get("f_autoNumber", 0)))
            return recorded.get(name) if recorded is not None else default(values)

        return compute

    @staticmethod
    def table_id(base_id: str, table: str) -> str:
        if base_id == NO_META:
            return NO_META_TABLES.get(table, table)
        return next((t["id"] for t in SCHEMA if table in (t["id"], t["name"])), table)

    def load(self, base_id: str, table: str, records: list[dict[str, Any]]) -> None:
        """Put recorded records back, remembering their computed values."""
        table_id = self.table_id(base_id, table)
        kinds = {f["name"]: f["type"] for t in SCHEMA if t["name"] == "All" for f in t["fields"]}
        for record in records:
            supplied = {
                name: value
                for name, value in record["fields"].items()
                if kinds[name] in ("button", "formula", "count", "rollup", "multipleLookupValues")
            }
            self.computed[(table_id, record["fields"]["f_autoNumber"])] = supplied
        self.fake.load_records(base_id, table_id, records)


def send(fake: FakeAirtable, recorded: dict[str, Any], token: str = TOKEN) -> httpx.Response:
    """Send a recorded request (method, URL with its query, JSON body) with our token."""
    headers = {"Authorization": f"Bearer {token}"}
    body = recorded["body"]
    content = b"" if body is None else json.dumps(body).encode()
    if body is not None:
        headers["Content-Type"] = "application/json"
    return fake(httpx.Request(recorded["method"], recorded["url"], headers=headers, content=content))


def path_parts(request: dict[str, Any]) -> tuple[str, str]:
    """Base id and table of a records request."""
    parts = httpx.URL(request["url"]).path.strip("/").split("/")
    return parts[1], parts[2]


def renamed(record: dict[str, Any], record_id: str, auto_number: int, name: str) -> dict[str, Any]:
    """A copy of a recorded record under another id, autoNumber and Name (a decoy or a duplicate)."""
    other = copy.deepcopy(record)
    other["id"] = record_id
    other["fields"]["f_autoNumber"] = auto_number
    other["fields"]["Name"] = name
    return other


DECOY_ID, DUPLICATE_ID = "recDecoy000000001", "recDuplicate00001"
EARLIER_EDITOR = {"id": "usrEarlierEditor1", "email": "earlier@example.com", "name": "Earlier Editor"}
#: A recorded record (a get-one answer), the model for records a recording implies but does not show.
TEMPLATE: dict[str, Any] = next(
    i for i in INTERACTIONS if i["operation"] == "records.get_one" and i["response"]["status"] == 200
)["response"]["body"]


def arrange(index: int) -> tuple[RecordedBase, str]:
    """Put the fake in the state the recording was made in; return it and the token to send."""
    interaction = INTERACTIONS[index]
    operation, request = interaction["operation"], interaction["request"]
    status, body = interaction["response"]["status"], interaction["response"]["body"]
    if operation == "meta.bases":
        (listed,) = body.get("bases", [{"id": NO_META}])
        setup = RecordedBase(AccessToken(RECORDING_USER, bases=frozenset({listed["id"]})))
        return setup, TOKEN if status == 200 else "keyRevokedOrMistyped"
    if operation.startswith("meta.tables"):
        if body == {"error": {"type": "NOT_FOUND"}}:  # an API key without schema access
            scopes = frozenset({SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE})
            return RecordedBase(AccessToken(RECORDING_USER, scopes=scopes)), TOKEN
        return RecordedBase(), TOKEN
    base_id, table = path_parts(request)
    if operation == "records.create_batch" and status == 200:
        # Rows created and deleted before the recording moved the autoNumber on.
        first = body["records"][0]
        table_id = RecordedBase.table_id(base_id, table)
        setup = RecordedBase(next_numbers={table_id: first["fields"]["f_autoNumber"]})
        setup.ids.extend(record["id"] for record in body["records"])
        setup.clock.now = epoch(first["createdTime"])
        return setup, TOKEN
    setup = RecordedBase()
    if status == 404:
        if operation == "records.get_one":  # the table holds others, not this one
            setup.load(base_id, table, [renamed(TEMPLATE, DECOY_ID, 900, "decoy")])
        return setup, TOKEN
    if operation == "records.list":
        records = body["records"]
        seeded = list(records)
        if "filterByFormula" in request["query_decoded"]:
            template = records[0] if records else TEMPLATE
            seeded.insert(0, renamed(template, DECOY_ID, 900, "decoy"))
            if records:  # maxRecords=1 must stop at the first match
                seeded.append(renamed(records[0], DUPLICATE_ID, 901, records[0]["fields"]["Name"]))
        setup.load(base_id, table, seeded)
    elif operation == "records.get_one":
        setup.load(base_id, table, [body])
    elif operation == "records.delete_batch":
        ids = request["query_decoded"]["records[]"]
        setup.load(base_id, table, [renamed(TEMPLATE, rid, 300 + n, "x") for n, rid in enumerate(ids)])
    elif operation == "records.update_batch":
        if status == 200:
            before = []
            for sent, answer in zip(request["body"]["records"], body["records"], strict=True):
                prior = copy.deepcopy(answer)
                for name, value in sent["fields"].items():
                    prior["fields"].pop(name, None)
                    if value is None:
                        prior["fields"][name] = OLD_VALUES.get(name)
                # Last touched by someone else at creation: the PATCH must stamp itself.
                prior["fields"]["f_lastModifiedTime"] = prior["createdTime"]
                prior["fields"]["f_lastModifiedBy"] = EARLIER_EDITOR
                before.append(prior)
            setup.clock.now = epoch(body["records"][0]["fields"]["f_lastModifiedTime"])
            setup.load(base_id, table, before)
        else:
            sent = request["body"]["records"]
            setup.load(base_id, table, [renamed(TEMPLATE, r["id"], 300 + n, "x") for n, r in enumerate(sent)])
    return setup, TOKEN


#: Recorded interactions the fake cannot answer as recorded, with the reason (none so far).
NOT_REPLAYED: Mapping[int, str] = {}
REPLAYED = [index for index in range(len(INTERACTIONS)) if index not in NOT_REPLAYED]


def test_every_recorded_interaction_is_replayed() -> None:
    assert len(INTERACTIONS) == 108
    assert NOT_REPLAYED == {}  # every feature the recordings use is modelled
    assert len(REPLAYED) == 108


@pytest.mark.parametrize("index", REPLAYED, ids=lambda i: f"{i}-{INTERACTIONS[i]['operation']}")
def test_recorded_interaction_replays_exactly(index: int) -> None:
    interaction = INTERACTIONS[index]
    setup, token = arrange(index)
    answer = send(setup.fake, interaction["request"], token)
    recorded = interaction["response"]
    assert (answer.status_code, answer.json()) == (recorded["status"], recorded["body"])
    assert answer.headers["Content-Type"] == recorded["headers"]["Content-Type"]
    assert "Retry-After" not in answer.headers
    # What the answer claims is what the base now holds.
    operation, request = interaction["operation"], interaction["request"]
    if not operation.startswith("records.") or recorded["status"] == 404:
        return
    base_id, table = path_parts(request)
    held = {record["id"]: record for record in setup.fake.records(base_id, setup.table_id(base_id, table))}
    if operation == "records.delete_batch":
        assert held == {}
    elif operation in ("records.create_batch", "records.update_batch") and recorded["status"] == 200:
        assert [held[record["id"]] for record in recorded["body"]["records"]] == recorded["body"]["records"]
    elif recorded["status"] == 422:  # the whole batch is refused: nothing created, nothing changed
        assert all(record["fields"]["Name"] == "x" for record in held.values())
        assert len(held) == (len(request["body"]["records"]) if operation == "records.update_batch" else 0)


# --- (b) the keys pyairtable reads, on every operation it sends --------------------------------

API_HOST = "https://api.airtable.com/"
SHOP_TOKEN = "patShopWorker.0123456789"
WORKER = Collaborator("usrSheetsyncWork1", "worker@example.com", "sheetsync worker")
CHOICES = {"choices": [{"name": "active"}, {"name": "archived"}]}
OPERATIONS = {operation["name"]: operation for operation in CONTRACT["operations"]}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> FakeAirtable:
    return FakeAirtable(tokens={SHOP_TOKEN: AccessToken(WORKER)}, now=clock, seed=3)


@pytest.fixture
def shop(fake: FakeAirtable) -> str:
    base = fake.create_base("Shop")
    fields = [
        FieldSpec("SKU", "singleLineText"),
        FieldSpec("Quantity", "number", {"precision": 0}),
        FieldSpec("Status", "singleSelect", CHOICES),
    ]
    fake.create_table(base, "Inventory", fields)
    return base


def stock(fake: FakeAirtable, base: str, count: int) -> list[str]:
    rows = [{"SKU": f"SKU-{n:03d}", "Quantity": n, "Status": "active"} for n in range(count)]
    return fake.add_records(base, "Inventory", rows)


def paced(
    fake: FakeAirtable, clock: ManualClock, step: float = 0.25
) -> Callable[[httpx.Request], httpx.Response]:
    """The fake behind a client that spaces its calls ``step`` seconds apart (4 a second)."""

    def handle(request: httpx.Request) -> httpx.Response:
        clock.now += step
        return fake(request)

    return handle


def raw(handler: Callable[[httpx.Request], httpx.Response], token: str = SHOP_TOKEN) -> httpx.Client:
    """The Airtable API as plain HTTP, for what pyairtable will not send."""
    return httpx.Client(
        transport=httpx.MockTransport(handler),
        base_url=f"{API_HOST}v0/",
        headers={"Authorization": f"Bearer {token}"},
    )


def contract_call(client: httpx.Client, name: str, base: str, ids: list[str]) -> Any:
    """Send the contract's ``name`` operation as pyairtable shapes it; return the decoded answer."""
    operation = OPERATIONS[name]
    path = (
        operation["path"].removeprefix("/v0/").format(baseId=base, tableIdOrName="Inventory", recordId=ids[0])
    )
    bodies: dict[str, Any] = {
        "list records, POST fallback (URL >= 16000 chars)": {"pageSize": 1, "fields": ["SKU"]},
        "create (single)": {"fields": {"SKU": "NEW-1"}, "typecast": False},
        "batch create": {"records": [{"fields": {"SKU": "NEW-2"}}], "typecast": False},
        "update one": {"fields": {"Quantity": 5}, "typecast": False},
        "batch update": {"records": [{"id": ids[0], "fields": {"Quantity": 6}}], "typecast": False},
        "batch upsert (Table.batch_upsert)": {
            "records": [{"fields": {"SKU": "SKU-001", "Quantity": 7}}, {"fields": {"SKU": "NEW-3"}}],
            "typecast": False,
            "performUpsert": {"fieldsToMergeOn": ["SKU"]},
        },
    }
    params: dict[str, Any] = {
        "list records (Table.iterate/all/first)": {"pageSize": 1},
        "batch delete": {"records[]": ids[1:]},
        "base schema": {"include": "visibleFieldIds"},
    }
    method = operation["method"].split()[0]
    answer = client.request(method, path, params=params.get(name), json=bodies.get(name))
    assert answer.status_code == 200, answer.text
    return answer.json()


def client_reads(operation: dict[str, Any]) -> list[str]:
    """The response keys the contract says pyairtable reads (``offset`` is optional)."""
    return [read.split()[0] for read in operation["client_reads"] if "optional" not in read]


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_every_key_pyairtable_reads_is_answered(fake: FakeAirtable, shop: str, name: str) -> None:
    ids = stock(fake, shop, 3)
    answer = contract_call(raw(fake), name, shop, ids)
    for key in client_reads(OPERATIONS[name]):
        if key.startswith("records[]."):
            assert answer["records"]
            assert all(key.removeprefix("records[].") in item for item in answer["records"]), key
        else:
            assert key in answer, key
    if name.startswith("list records"):  # three records, one a page: the cursor is handed back
        assert set(answer) == {"records", "offset"}
    if name.startswith("batch upsert"):
        assert len(answer["updatedRecords"]) == len(answer["createdRecords"]) == 1


def test_offset_is_absent_on_the_last_page(fake: FakeAirtable, shop: str) -> None:
    stock(fake, shop, 2)
    client = raw(fake)
    first = client.get(f"{shop}/Inventory", params={"pageSize": 1}).json()
    last = client.get(f"{shop}/Inventory", params={"pageSize": 1, "offset": first["offset"]}).json()
    assert re.fullmatch(r"itr[0-9A-Za-z]{14}/rec[0-9A-Za-z]{14}", first["offset"])
    assert re.fullmatch(
        r"itr[0-9A-Za-z]{14}/rec[0-9A-Za-z]{14}", OBSERVED["offset_format"]["example"]
    )  # the observed shape the fake copies
    assert set(last) == {"records"}
    assert [r["fields"]["SKU"] for r in first["records"] + last["records"]] == ["SKU-000", "SKU-001"]


# --- (c) through the real pyairtable client ---------------------------------------------------


def pyairtable_api(handler: Callable[[httpx.Request], httpx.Response]) -> pyairtable.Api:
    """pyairtable as shipped (its retrying session), with the fake mounted on Airtable's host."""
    api = pyairtable.Api(SHOP_TOKEN)
    api.session.mount(API_HOST, HandlerAdapter(handler))
    return api


class Bodies:
    """The fake, remembering the JSON body of every request it answers."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.sent: list[tuple[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, json.loads(request.content) if request.content else None))
        return self.handler(request)

    def batch_sizes(self, method: str) -> list[int]:
        return [len(body["records"]) for sent, body in self.sent if sent == method]


def test_all_pages_through_offsets(fake: FakeAirtable, shop: str, clock: ManualClock) -> None:
    stock(fake, shop, 250)
    table = pyairtable_api(paced(fake, clock)).table(shop, "Inventory")
    records = table.all(page_size=100)
    assert [r["fields"]["SKU"] for r in records] == [f"SKU-{n:03d}" for n in range(250)]
    lists = [dict(entry.query) for entry in fake.request_log]
    assert [query["pageSize"] for query in lists] == ["100", "100", "100"]
    assert "offset" not in lists[0]
    assert all(re.fullmatch(r"itr\w{14}/rec\w{14}", query["offset"]) for query in lists[1:])


def test_a_long_formula_goes_to_post_list_records(fake: FakeAirtable, shop: str) -> None:
    stock(fake, shop, 3)
    wanted = "OR(" + ",".join(f"{{SKU}}='SKU-{n:03d}'" for n in range(1000)) + ")"
    assert len(wanted) > CONTRACT["limits_assumed_by_client"]["max_get_url_length_before_post_fallback"]
    records = pyairtable_api(fake).table(shop, "Inventory").all(formula=wanted, fields=["SKU"])
    assert [r["fields"] for r in records] == [{"SKU": "SKU-000"}, {"SKU": "SKU-001"}, {"SKU": "SKU-002"}]
    (entry,) = fake.request_log
    assert (entry.operation, entry.method, entry.path) == (
        "records.list",
        "POST",
        f"/v0/{shop}/Inventory/listRecords",
    )


def test_batch_writes_go_ten_to_a_request(fake: FakeAirtable, shop: str, clock: ManualClock) -> None:
    bodies = Bodies(paced(fake, clock))
    table = pyairtable_api(bodies).table(shop, "Inventory")
    created = table.batch_create([{"SKU": f"SKU-{n:03d}", "Quantity": n} for n in range(25)])
    assert bodies.batch_sizes("POST") == [10, 10, 5]
    assert [r["fields"] for r in created][:2] == [
        {"SKU": "SKU-000", "Quantity": 0},  # 0 is a value; only empty cells are left out
        {"SKU": "SKU-001", "Quantity": 1},
    ]

    table.batch_update([{"id": r["id"], "fields": {"Quantity": 100 + n}} for n, r in enumerate(created[:12])])
    assert bodies.batch_sizes("PATCH") == [10, 2]

    result = table.batch_upsert(
        [{"fields": {"SKU": f"SKU-{n:03d}", "Status": "archived"}} for n in range(20, 31)], key_fields=["SKU"]
    )
    assert bodies.batch_sizes("PATCH") == [10, 2, 10, 1]
    assert result["updatedRecords"] == [r["id"] for r in created[20:]]
    assert len(result["createdRecords"]) == 6
    held = {r["fields"]["SKU"]: r["fields"] for r in fake.records(shop, "Inventory")}
    assert len(held) == 31
    assert held["SKU-011"] == {"SKU": "SKU-011", "Quantity": 111}
    assert held["SKU-024"] == {"SKU": "SKU-024", "Quantity": 24, "Status": "archived"}
    assert held["SKU-030"] == {"SKU": "SKU-030", "Status": "archived"}


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("POST", {"records": [{"fields": {"SKU": f"N-{n}"}} for n in range(11)]}),
        ("PATCH", {"records": [{"id": "{id}", "fields": {"Quantity": n}} for n in range(11)]}),
        (
            "PATCH",
            {
                "records": [{"fields": {"SKU": f"N-{n}"}} for n in range(11)],
                "performUpsert": {"fieldsToMergeOn": ["SKU"]},
            },
        ),
    ],
    ids=["create", "update", "upsert"],
)
def test_eleven_records_are_refused_whole(
    fake: FakeAirtable, shop: str, method: str, body: dict[str, Any]
) -> None:
    (record_id,) = stock(fake, shop, 1)
    api = pyairtable_api(fake)
    table = api.table(shop, "Inventory")
    sent = json.loads(json.dumps(body).replace("{id}", record_id))
    with pytest.raises(requests.HTTPError) as refused:
        api.request(method, str(table.urls.records), json=sent)
    assert refused.value.response.status_code == 422
    assert refused.value.response.json()["error"]["type"] == "INVALID_RECORDS"
    assert fake.records(shop, "Inventory") == [table.get(record_id)]
    assert table.get(record_id)["fields"]["Quantity"] == 0


def test_without_typecast_a_bad_value_fails_the_whole_batch(fake: FakeAirtable, shop: str) -> None:
    first, second = stock(fake, shop, 2)
    table = pyairtable_api(fake).table(shop, "Inventory")
    with pytest.raises(requests.HTTPError) as refused:
        table.batch_update(
            [{"id": first, "fields": {"Quantity": 9}}, {"id": second, "fields": {"Quantity": "7"}}]
        )
    assert refused.value.response.status_code == 422
    assert refused.value.response.json() == {
        "error": {
            "type": "INVALID_VALUE_FOR_COLUMN",
            "message": 'Field "Quantity" cannot accept the provided value',
        }
    }
    assert [r["fields"].get("Quantity") for r in table.all()] == [0, 1]

    table.batch_update([{"id": second, "fields": {"Quantity": "7"}}], typecast=True)
    assert table.get(second)["fields"]["Quantity"] == 7
    with pytest.raises(requests.HTTPError, match="422"):
        table.update(second, {"Quantity": "seven"}, typecast=True)


def test_unknown_fields_tables_records_and_bases(fake: FakeAirtable, shop: str) -> None:
    api = pyairtable_api(fake)
    table = api.table(shop, "Inventory")
    with pytest.raises(requests.HTTPError) as unknown_field:
        table.create({"SKU": "A-1", "Colour": "red"})
    assert (unknown_field.value.response.status_code, unknown_field.value.response.json()) == (
        422,
        {"error": {"type": "UNKNOWN_FIELD_NAME", "message": 'Unknown field name: "Colour"'}},
    )
    assert fake.records(shop, "Inventory") == []

    with pytest.raises(requests.HTTPError) as no_table:
        api.table(shop, "Invetory").all()
    assert (no_table.value.response.status_code, no_table.value.response.json()) == (
        404,
        {
            "error": {
                "type": "TABLE_NOT_FOUND",
                "message": f"Could not find table Invetory in application {shop}",
            }
        },
    )
    with pytest.raises(requests.HTTPError) as no_record:
        table.get("recMissing0000000")
    assert no_record.value.response.json()["error"]["type"] == "MODEL_ID_NOT_FOUND"

    with pytest.raises(requests.HTTPError) as no_base:
        api.base("appNoSuchBase0000").schema()
    assert (no_base.value.response.status_code, no_base.value.response.json()) == (
        404,
        {"error": "NOT_FOUND"},
    )
    assert repr("NOT_FOUND") in no_base.value.args  # pyairtable appends a string error as is


def test_one_record_at_a_time(fake: FakeAirtable, shop: str, clock: ManualClock) -> None:
    table = pyairtable_api(paced(fake, clock)).table(shop, "Inventory")
    created = table.create({"SKU": "A-1", "Quantity": 3, "Status": "active"})
    assert created["createdTime"] == "2026-11-18T11:06:40.250Z"
    assert table.update(created["id"], {"Quantity": 2})["fields"] == {
        "SKU": "A-1",
        "Quantity": 2,
        "Status": "active",
    }
    assert table.update(created["id"], {"SKU": "A-1"}, replace=True)["fields"] == {"SKU": "A-1"}
    assert table.first(formula="{SKU}='A-1'") == table.get(created["id"])
    assert table.delete(created["id"]) == {"id": created["id"], "deleted": True}
    assert table.all() == []


def test_throttled_pyairtable_sees_the_observed_429(fake: FakeAirtable, shop: str) -> None:
    table = pyairtable_api(fake).table(shop, "Inventory")  # the clock stands still: one instant
    for _ in range(5):
        table.all()
    with pytest.raises(requests.HTTPError) as throttled:
        table.all()
    assert throttled.value.response.status_code == 429
    assert throttled.value.response.json() == RATE_LIMITED
    assert "Retry-After" not in throttled.value.response.headers


# --- (d) the rate limit ------------------------------------------------------------------------


def test_five_a_second_then_thirty_seconds_blocked(fake: FakeAirtable, shop: str, clock: ManualClock) -> None:
    other = fake.create_base("Other shop")
    fake.create_table(other, "Inventory", [FieldSpec("SKU", "singleLineText")])
    client = raw(fake)
    start = clock.now
    assert [client.get(f"{shop}/Inventory").status_code for _ in range(5)] == [200] * 5
    clock.now = start + 0.5
    throttled = client.get(f"{shop}/Inventory")
    assert (throttled.status_code, throttled.json()) == (429, RATE_LIMITED)
    assert client.get(f"{other}/Inventory").status_code == 200  # the limit is per base
    for later in (1.0, 10.0, 30.4):  # long past the window, still inside the 30 s penalty
        clock.now = start + later
        assert client.get(f"meta/bases/{shop}/tables").status_code == 429
    clock.now = start + 30.5
    assert client.get(f"{shop}/Inventory").status_code == 200


def test_the_window_slides(fake: FakeAirtable, shop: str, clock: ManualClock) -> None:
    client = raw(fake)
    start = clock.now
    statuses = []
    for offset in (0.0, 0.25, 0.5, 0.75, 0.875, 0.9375):
        clock.now = start + offset
        statuses.append(client.get(f"{shop}/Inventory").status_code)
    assert statuses == [200, 200, 200, 200, 200, 429]  # the sixth within one second


def test_five_at_once_then_one_a_second_later(fake: FakeAirtable, shop: str, clock: ManualClock) -> None:
    client = raw(fake)
    assert {client.get(f"{shop}/Inventory").status_code for _ in range(5)} == {200}
    clock.now += 1.0
    assert client.get(f"{shop}/Inventory").status_code == 200  # a sliding second, not a burst bucket
    paced_client = raw(paced(fake, clock))  # four a second, for long
    assert {paced_client.get(f"{shop}/Inventory").status_code for _ in range(40)} == {200}


# --- (e) every observed error body, from the scenario that triggers it -------------------------


def error_label(error: dict[str, Any]) -> str:
    body = error["body"]
    if "errors" in body:
        return f"{error['status']}-{body['errors'][0]['error']}"
    if isinstance(body["error"], str):
        return f"{error['status']}-{body['error']}-as-text"
    return f"{error['status']}-{body['error']['type']}"


def _throttle(setup: RecordedBase) -> httpx.Response:
    client = raw(setup.fake, TOKEN)
    for _ in range(5):
        assert client.get(f"{NO_META}/Empty").status_code == 200
    return client.get(f"{NO_META}/Empty")


def _new_select_option(setup: RecordedBase) -> httpx.Response:
    fields = {"Name": "Jane", "f_singleSelect": "vE4TzESFee"}
    return raw(setup.fake, TOKEN).post(f"{NO_META}/Empty", json={"records": [{"fields": fields}]})


def _computed_field(setup: RecordedBase) -> httpx.Response:
    fields = {"Name": "Someone", "f_autoNumber": 40}
    return raw(setup.fake, TOKEN).post(f"{NO_META}/Empty", json={"records": [{"fields": fields}]})


def _schema_without_scope(_: RecordedBase) -> httpx.Response:
    scopes = frozenset({SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE})
    setup = RecordedBase(AccessToken(RECORDING_USER, scopes=scopes))
    return raw(setup.fake, TOKEN).get(f"meta/bases/{NO_META}/tables")


#: How each observed error is provoked, in the recorded base (status-type, as ``error_label``).
TRIGGERS: Mapping[str, Callable[[RecordedBase], httpx.Response]] = {
    "429-RATE_LIMIT_REACHED": _throttle,
    "422-INVALID_MULTIPLE_CHOICE_OPTIONS": _new_select_option,
    "422-INVALID_VALUE_FOR_COLUMN": _computed_field,
    "404-TABLE_NOT_FOUND": lambda setup: raw(setup.fake, TOKEN).get(f"{NO_META}/Unknown Table"),
    "404-MODEL_ID_NOT_FOUND": lambda setup: raw(setup.fake, TOKEN).get(f"{NO_META}/Empty/recyedy7O0z10OTGS"),
    "404-NOT_FOUND-as-text": lambda setup: raw(setup.fake, TOKEN).get("meta/bases/junk/tables"),
    "404-NOT_FOUND": _schema_without_scope,
    "401-AUTHENTICATION_REQUIRED": lambda setup: raw(setup.fake, "keyRevoked").get("meta/bases"),
}


def test_every_observed_error_has_a_trigger() -> None:
    assert sorted(map(error_label, OBSERVED_ERRORS)) == sorted(TRIGGERS)


@pytest.mark.parametrize("error", OBSERVED_ERRORS, ids=error_label)
def test_observed_error_bodies(error: dict[str, Any]) -> None:
    setup = RecordedBase()
    answer = TRIGGERS[error_label(error)](setup)
    assert (answer.status_code, answer.json()) == (error["status"], error["body"])
    assert answer.headers["Content-Type"] == JSON_TYPE
    assert setup.fake.records(NO_META, "Empty") == []  # a refused write leaves nothing behind


# --- (f) the merchant between read and write, and scripted faults ------------------------------


def test_before_request_lets_the_merchant_type_between_read_and_write(fake: FakeAirtable, shop: str) -> None:
    first, _ = stock(fake, shop, 2)
    table = pyairtable_api(fake).table(shop, "Inventory")
    seen: list[AirtableCall] = []

    def merchant_types(call: AirtableCall) -> None:
        seen.append(call)
        if call.operation == "records.update":
            fake.set_cell(shop, "Inventory", first, "Quantity", 4)

    fake.before_request = merchant_types
    assert table.get(first)["fields"]["Quantity"] == 0
    table.update(first, {"Status": "archived"})  # PATCH merges: the merchant's 4 survives
    assert table.get(first)["fields"] == {"SKU": "SKU-000", "Quantity": 4, "Status": "archived"}
    assert [(c.operation, c.record_id, c.token.user) for c in seen] == [
        ("records.get", first, WORKER),
        ("records.update", first, WORKER),
        ("records.get", first, WORKER),
    ]
    assert (seen[1].body["fields"], seen[1].body["typecast"]) == ({"Status": "archived"}, False)


def test_scripted_faults(fake: FakeAirtable, shop: str) -> None:
    (record_id,) = stock(fake, shop, 1)
    table = pyairtable_api(fake).table(shop, "Inventory")
    fake.fail_next("records.update", 503)
    with pytest.raises(requests.HTTPError) as unavailable:
        table.update(record_id, {"Quantity": 8})
    assert unavailable.value.response.status_code == 503
    assert unavailable.value.response.json()["error"]["type"] == "RETRIABLE_ERROR"
    assert table.get(record_id)["fields"]["Quantity"] == 0  # refused before it was applied

    fake.fail_next("records.update", exception=httpx.ReadTimeout("scripted"), applied=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        table.update(record_id, {"Quantity": 9})
    assert table.get(record_id)["fields"]["Quantity"] == 9  # applied; only the answer was lost
    assert fake.count("records.update") == 2


def test_a_create_whose_answer_is_lost_was_applied(fake: FakeAirtable, shop: str) -> None:
    table = pyairtable_api(fake).table(shop, "Inventory")
    fake.fail_next("records.create", exception=httpx.ReadTimeout("scripted"), applied=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        table.batch_create([{"SKU": "SKU-100"}, {"SKU": "SKU-101"}])
    assert [r["fields"]["SKU"] for r in fake.records(shop, "Inventory")] == ["SKU-100", "SKU-101"]
    found = table.all(formula="OR({SKU}='SKU-101', {SKU}='SKU-999')", fields=["SKU"])
    assert [r["fields"] for r in found] == [{"SKU": "SKU-101"}]


def test_the_owner_renames_tables_and_fields(fake: FakeAirtable, shop: str) -> None:
    stock(fake, shop, 1)
    fake.rename_field(shop, "Inventory", "SKU", "Item")
    fake.rename_table(shop, "Inventory", "Stock")
    assert [r["fields"]["Item"] for r in fake.records(shop, "Stock")] == ["SKU-000"]
    table = pyairtable_api(fake).table(shop, "Inventory")
    with pytest.raises(requests.HTTPError) as gone:
        table.all()
    assert gone.value.response.json()["error"]["type"] == "TABLE_NOT_FOUND"
    with pytest.raises(ValueError, match="has no field 'SKU'"):
        fake.rename_field(shop, "Stock", "SKU", "Code")
    with pytest.raises(ValueError, match="has a field 'Quantity' already"):
        fake.rename_field(shop, "Stock", "Item", "Quantity")
    fake.create_table(shop, "Ledger", [FieldSpec("Key", "singleLineText")])
    with pytest.raises(ValueError, match="a table 'Ledger' exists already"):
        fake.rename_table(shop, "Stock", "Ledger")


# --- (g) over loopback --------------------------------------------------------------------------


def test_over_loopback(fake: FakeAirtable, shop: str) -> None:
    stock(fake, shop, 2)
    with serve(fake) as base_url, httpx.Client(base_url=base_url) as client:
        answer = client.get(
            f"/v0/{shop}/Inventory",
            params={"filterByFormula": "{Quantity}>0"},
            headers={"Authorization": f"Bearer {SHOP_TOKEN}"},
        )
    assert (answer.status_code, answer.headers["Content-Type"]) == (200, JSON_TYPE)
    assert [r["fields"] for r in answer.json()["records"]] == [
        {"SKU": "SKU-001", "Quantity": 1, "Status": "active"}
    ]
