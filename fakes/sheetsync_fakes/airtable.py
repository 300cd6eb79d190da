r"""An in-memory Airtable Web API (records and base schema), spoken to over the wire.

``FakeAirtable`` is a handler (``httpx.Request -> httpx.Response``, see
:mod:`sheetsync_fakes.wire`) for the endpoints sheetsync and pyairtable use, answering with the
status codes and bodies recorded from the live API (``sheetsync_fakes/reference/airtable``). What it
reproduces:

- Records: list (GET, or POST ``listRecords`` when the URL grows long) with ``pageSize`` (at most
  100), ``maxRecords``, ``fields[]``, ``sort``, ``view``, ``returnFieldsByFieldId``,
  ``recordMetadata[]`` and ``filterByFormula``; ``offset`` cursors shaped ``itr…/rec…`` that run
  over the records matched by the first page and expire when idle; get one; create, update
  (PATCH merges, PUT empties what it leaves out), upsert on 1 to 3 ``fieldsToMergeOn`` and
  delete, at most ten records a request, each request applied whole or not at all. Empty cells
  are left out of ``fields``; integral numbers come back as integers.
- Values checked as Airtable checks them without ``typecast``: text, number (rounded to the
  field's ``precision``), currency, percent, duration, rating, checkbox, single and multiple
  select, date, dateTime (ISO text or epoch milliseconds) and rich text (``*`` bullets become
  ``-``, a final newline is added, clearing leaves ``"\n"``, all as recorded). ``typecast``
  parses numeric text and adds select options, the latter only for a ``create``-level user.
- Computed fields: autoNumber, createdTime, lastModifiedTime, createdBy and lastModifiedBy are
  kept by the fake; formula, rollup, count, lookup and button values come from the test's
  ``FieldSpec.compute`` (their definitions are never evaluated). Writing any of them is the
  recorded 422.
- filterByFormula: field references (braced or bare, by name or id), text and number literals,
  ``= != < > <= >= & + - * /`` and AND OR NOT IF TRUE FALSE BLANK RECORD_ID DATETIME_PARSE LOWER
  UPPER TRIM LEN FIND CONCATENATE. A record is kept unless the result is 0, false, empty or an
  error. Anything else answers 422 INVALID_FILTER_BY_FORMULA; nothing is ignored.
- Base schema: GET ``meta/bases`` and ``meta/bases/{id}/tables`` (with ``include=visibleFieldIds``),
  POST a table or a field, with the option shapes pyairtable's schema models need.
- Webhooks (``bases/{id}/webhooks``): create with a specification (``dataTypes``, an optional
  table ``recordChangeScope``, ``includes``), list, refresh, delete, and list payloads from a
  cursor, 50 at most a call with ``mightHaveMore``. Every change made through the API or the
  helpers below (the merchant in the Airtable UI) is one payload per active webhook, in the
  documented shape: records created, changed (``current``, and ``previous`` and ``unchanged``
  as the ``includes`` ask) and destroyed, fields created and renamed, tables created and
  renamed, cell values in the webhooks' V2 format (select options as ``{id, name, color}``).
  A webhook expires 7 days after its creation, its last refresh or its last payload listing,
  is kept 7 more days disabled, then is gone; payloads are kept 7 days.
- Auth: ``Authorization: Bearer <token>`` for a token given to the constructor
  (:class:`AccessToken`: user, scopes, bases, permission level), with the recorded 401 and 404
  bodies and Airtable's documented 403s.
- Limits: 5 requests per second per base (a sliding window on the injected clock), past which
  that request and every request to the base for the next 30 s get the observed 429; an
  optional monthly cap on records calls per workspace that either blocks (429
  PUBLIC_API_BILLING_LIMIT_EXCEEDED, as reported for the Free plan) or slows the workspace to
  2 requests per second (the Team plan, per Airtable's support page). Schema calls are not
  counted against the cap; webhook calls are (unrecorded), and the rate limit applies to them
  (webhooks overview).

Where the recordings (2022, legacy API keys) and today's documentation differ, the recordings
win: an unknown table is 404 TABLE_NOT_FOUND, a base schema read without schema access is 404
``{"error": {"type": "NOT_FOUND"}}`` and listing bases needs no schema scope. Wording that no
recording or public report pins down is built by ``_unrecorded``.

Not modelled (a request that needs it answers 501 ``NOT_MODELLED``, so no test passes against
behaviour nobody wrote): writes to links, attachments, collaborators and barcodes;
``cellFormat=string``; views' own filters, sorts and hidden fields (a view shows every record in
table order); comments, creating bases; the 50 requests per second per token limit; webhook
notifications (pings), the ``changeTypes``, ``fromSources`` and ``watch*`` filters, view scopes,
V2 values of links and lookups, and a large change split over several payloads.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import math
import operator
import random
import re
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

import httpx

from sheetsync_fakes.wire import Fault, FaultScript

Json = Any  # a decoded JSON value; the API's shapes are checked where they are used

Operation = Literal[
    "meta.bases",
    "meta.tables",
    "meta.create_table",
    "meta.create_field",
    "records.list",
    "records.get",
    "records.create",
    "records.update",
    "records.upsert",
    "records.delete",
    "webhooks.list",
    "webhooks.create",
    "webhooks.delete",
    "webhooks.refresh",
    "webhooks.payloads",
]
PermissionLevel = Literal["read", "comment", "edit", "create"]
_READS = frozenset({"records.list", "records.get"})
_SCHEMA_WRITES = frozenset({"meta.create_table", "meta.create_field"})

MAX_PAGE_SIZE = 100  #: list records ``pageSize`` limit and default (API reference, list records)
MAX_RECORDS_PER_WRITE = 10  #: create, update, upsert and delete batches (API reference)
MAX_MERGE_FIELDS = 3  #: ``performUpsert.fieldsToMergeOn`` holds 1 to 3 fields (update multiple records)
MAX_NUMBER_PRECISION = 8  #: number field ``precision`` is 0 to 8 (field model)
RATE_LIMIT_PER_SECOND = 5  #: requests per second per base (support.airtable.com, managing API call limits)
OVER_CAP_RATE_PER_SECOND = 2  #: a Team workspace past its monthly calls (same page)
RATE_LIMIT_PENALTY_S = 30.0  #: after a 429 every request to the base fails this long (same page)
ITERATOR_TTL_S = 300.0  #: a guess: list records says an idle iteration "may time out", with no figure
MAX_WEBHOOKS_PER_BASE = 10  #: create a webhook ("The number of webhooks per base is limited to 10")
WEBHOOK_LIFE_S = 7 * 86400.0  #: a token's webhook expires 7 days after creation, refresh or listing
WEBHOOK_KEPT_S = 7 * 86400.0  #: an expired webhook and its payloads stay readable 7 more days
PAYLOAD_KEPT_S = 7 * 86400.0  #: payloads are deleted after 1 week (list webhook payloads)
MAX_PAYLOADS_PER_PAGE = 50  #: list webhook payloads ``limit``: "A maximum of 50"
_RATE_WINDOW_S = 1.0

SCOPE_RECORDS_READ = "data.records:read"
SCOPE_RECORDS_WRITE = "data.records:write"
SCOPE_SCHEMA_READ = "schema.bases:read"
SCOPE_SCHEMA_WRITE = "schema.bases:write"
SCOPE_WEBHOOK_MANAGE = "webhook:manage"  #: every webhooks endpoint (webhooks overview, authorization)
ALL_SCOPES = frozenset(
    {SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE, SCOPE_SCHEMA_READ, SCOPE_SCHEMA_WRITE, SCOPE_WEBHOOK_MANAGE}
)
#: The scope each of a webhook's ``dataTypes`` needs to create it and list its payloads (same page).
_DATA_TYPE_SCOPES = {
    "tableData": SCOPE_RECORDS_READ,
    "tableFields": SCOPE_SCHEMA_READ,
    "tableMetadata": SCOPE_SCHEMA_READ,
}
DEFAULT_WORKSPACE = "wspFakeWorkspace01"  #: real workspace ids are 18 characters

_JSON_TYPE = "application/json; charset=utf-8"  # recorded on every response
_ID_ALPHABET = string.ascii_letters + string.digits
_OFFSET = re.compile(r"(itr[0-9A-Za-z]{14})/(rec[0-9A-Za-z]{14})")
_VIEW_ID = re.compile(r"viw[0-9A-Za-z]{14}")
_SORT_PARAM = re.compile(r"sort\[(\d+)\]\[(field|direction)\]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_NO_ACCESS = (
    "Invalid permissions, or the requested model was not found. Check that both your user and your "
    "token have the required permissions, and that the model names and/or ids are correct."
)
_INVALID_REQUEST = "Invalid request: parameter validation failed. Check your request data."
_UPDATE_SHAPE = (
    'You must provide an array of up to 10 record objects, each with an "id" ID field and a '
    '"fields" object for cell values.'
)
#: The observed 429 (PipedreamHQ/pipedream#10130): an ``errors`` list, unlike every other error.
_RATE_LIMITED: Json = {
    "errors": [{"error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later"}]
}
#: The over-cap 429 as users pasted it (shape of the 429 above; several public reports agree).
_BILLING_LIMITED: Json = {
    "errors": [
        {
            "error": "PUBLIC_API_BILLING_LIMIT_EXCEEDED",
            "message": "API billing plan limit exceeded. You've reached the maximum number of requests "
            "allowed for this month. Upgrade for higher limits here: "
            "https://airtable.com/pricing?ref=bp.pale, or wait until usage resets. You can see your "
            "current usage in your workspace settings page.",
        }
    ]
}
#: Bodies for scripted faults; 401 is recorded, 403/404/422/503 are Airtable's errors page.
_STATUS_BODIES: Mapping[int, Json] = {
    401: {"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}},
    403: {"error": {"type": "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", "message": _NO_ACCESS}},
    404: {"error": "NOT_FOUND"},
    422: {"error": {"type": "INVALID_REQUEST_UNKNOWN", "message": _INVALID_REQUEST}},
    429: _RATE_LIMITED,
    503: {
        "error": {
            "type": "RETRIABLE_ERROR",
            "message": "Server encountered an error while processing your request, and it is safe to "
            "retry the request",
        }
    },
}

_TEXT_TYPES = frozenset({"singleLineText", "multilineText", "email", "url", "phoneNumber", "richText"})
_NUMBER_TYPES = frozenset({"number", "currency", "percent", "duration"})
_WRITABLE_TYPES = (
    _TEXT_TYPES
    | _NUMBER_TYPES
    | {
        "rating",
        "checkbox",
        "singleSelect",
        "multipleSelects",
        "date",
        "dateTime",
    }
)
_KEPT_TYPES = frozenset({"autoNumber", "createdTime", "lastModifiedTime", "createdBy", "lastModifiedBy"})
_SUPPLIED_TYPES = frozenset({"formula", "rollup", "count", "multipleLookupValues", "button"})
_COMPUTED_TYPES = _KEPT_TYPES | _SUPPLIED_TYPES
#: Types the create-field endpoint accepts but this fake does not model.
_UNMODELLED_CREATABLE = frozenset(
    {"multipleRecordLinks", "multipleAttachments", "singleCollaborator", "multipleCollaborators", "barcode"}
)
#: Types ``fieldsToMergeOn`` accepts (update multiple records).
_MERGE_TYPES = frozenset(
    {"singleLineText", "multilineText", "number", "singleSelect", "multipleSelects", "date"}
)
#: Types a formula or a sort can read here.
_FORMULA_TYPES = (
    _TEXT_TYPES
    | _NUMBER_TYPES
    | {
        "rating",
        "checkbox",
        "singleSelect",
        "multipleSelects",
        "date",
        "dateTime",
        "autoNumber",
        "createdTime",
        "lastModifiedTime",
        "formula",
        "count",
    }
)
#: Option keys the create endpoints require, by type (field model; pyairtable's schema models).
_REQUIRED_OPTIONS: Mapping[str, frozenset[str]] = {
    "number": frozenset({"precision"}),
    "percent": frozenset({"precision"}),
    "currency": frozenset({"precision", "symbol"}),
    "checkbox": frozenset({"icon", "color"}),
    "rating": frozenset({"icon", "color", "max"}),
    "duration": frozenset({"durationFormat"}),
    "date": frozenset({"dateFormat"}),
    "dateTime": frozenset({"dateFormat", "timeFormat", "timeZone"}),
    "singleSelect": frozenset({"choices"}),
    "multipleSelects": frozenset({"choices"}),
}
_DATE_FORMATS = {
    "local": "l",
    "friendly": "LL",
    "us": "M/D/YYYY",
    "european": "D/M/YYYY",
    "iso": "YYYY-MM-DD",
}
_TIME_FORMATS = {"12hour": "h:mma", "24hour": "HH:mm"}
#: A guess: Airtable gives typecast options a colour, which one is not documented.
_CHOICE_COLORS = ("blueLight2", "cyanLight2", "tealLight2", "greenLight2", "yellowLight2", "orangeLight2")


# --- public value types -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Collaborator:
    """An Airtable user as createdBy and lastModifiedBy cells show one."""

    id: str
    email: str
    name: str

    def as_json(self) -> Json:
        """The cell value: ``{"id", "email", "name"}``."""
        return {"id": self.id, "email": self.email, "name": self.name}


#: Author of edits made through the helpers (the merchant typing in the base).
OWNER = Collaborator("usrFakeBaseOwner1", "owner@example.com", "Base Owner")


@dataclass(frozen=True, slots=True)
class AccessToken:
    """What a personal access token may do.

    Attributes:
        user: whose token it is; records it creates or edits name this user.
        scopes: the scopes granted (``data.records:read`` …).
        bases: the base ids it was given; ``None`` is every base.
        permission_level: the user's role on those bases; below ``edit`` it cannot write records,
            below ``create`` it cannot add select options through ``typecast``.
    """

    user: Collaborator
    scopes: frozenset[str] = ALL_SCOPES
    bases: frozenset[str] | None = None
    permission_level: PermissionLevel = "create"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A field for :meth:`FakeAirtable.create_table`, in the API's field model.

    ``compute`` gives the value of a formula, rollup, count, lookup or button field from the
    record's other values, keyed by field name (``None`` leaves the cell empty); the fake does not
    evaluate those fields' definitions.
    """

    name: str
    type: str
    options: Json = None
    field_id: str | None = None
    compute: Callable[[Mapping[str, Json]], Json] | None = None


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """A view for :meth:`FakeAirtable.create_table`; it shows every record, in table order."""

    name: str
    type: str = "grid"
    view_id: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the fake received, for counting calls per operation."""

    operation: str  # an Operation, or "unknown" for a path the fake does not serve
    method: str
    path: str  # percent-decoded
    query: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class AirtableCall:
    """An authorised request as understood, handed to ``before_request`` before it is applied."""

    operation: Operation
    base_id: str | None
    table: str | None  # the table id or name of the path, decoded
    record_id: str | None
    params: Mapping[str, list[str]]
    body: Json
    token: AccessToken


# --- errors -----------------------------------------------------------------------------------


class _Rejected(Exception):
    """Abandon the request with this answer (private: it never leaves this module)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _json_response(body: Json, status: int = 200) -> httpx.Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return httpx.Response(status, headers={"Content-Type": _JSON_TYPE}, content=content)


def _error(status: int, kind: str, message: str | None = None) -> _Rejected:
    error: Json = {"type": kind} if message is None else {"type": kind, "message": message}
    return _Rejected(_json_response({"error": error}, status))


def _unrecorded(status: int, kind: str, message: str) -> _Rejected:
    """An error no recording or public report shows word for word.

    The status and type are the best reading of Airtable's docs and public reports; the message
    is ours.
    """
    return _error(status, kind, message)


def _invalid_request() -> _Rejected:
    return _error(422, "INVALID_REQUEST_UNKNOWN", _INVALID_REQUEST)


def _no_access() -> _Rejected:
    return _error(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", _NO_ACCESS)


def _not_modelled(what: str) -> _Rejected:
    return _error(501, "NOT_MODELLED", f"FakeAirtable does not model {what}")


def _record_not_found() -> _Rejected:
    return _error(404, "MODEL_ID_NOT_FOUND", "Record not found")  # recorded


def _unknown_field(name: str) -> _Rejected:
    return _error(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')


def _message(rejected: _Rejected) -> str:
    error = rejected.response.json()["error"]
    return str(error["message"]) if isinstance(error, dict) else str(error)


# --- time -------------------------------------------------------------------------------------


def _moment(seconds: float) -> dt.datetime:
    """A clock reading as Airtable stamps it: UTC, whole milliseconds."""
    return _EPOCH + dt.timedelta(milliseconds=round(seconds * 1000))


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_iso(text: str) -> dt.datetime:
    """ISO 8601 text as a UTC moment; a time without an offset is read as UTC (a guess)."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


# --- the model --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Field:
    id: str
    name: str
    type: str
    options: Json = None
    description: str | None = None
    compute: Callable[[Mapping[str, Json]], Json] | None = None

    def schema(self) -> Json:
        out: Json = {"type": self.type, "id": self.id, "name": self.name}
        if self.description:
            out["description"] = self.description
        if self.options is not None:
            out["options"] = copy.deepcopy(self.options)
        return out


@dataclass(slots=True)
class _View:
    id: str
    name: str
    type: str


@dataclass(slots=True)
class _Record:
    id: str
    created: dt.datetime
    serial: int  # the autoNumber
    created_by: Collaborator | None
    modified: dt.datetime
    modified_by: Collaborator | None
    cells: dict[str, Json] = field(default_factory=dict)  # field id -> stored value, never empty


@dataclass(slots=True)
class _Table:
    id: str
    name: str
    fields: list[_Field]
    views: list[_View]
    next_serial: int
    description: str | None = None
    records: dict[str, _Record] = field(default_factory=dict)  # in table order

    def field(self, key: str) -> _Field | None:
        return next((f for f in self.fields if key in (f.id, f.name)), None)

    def schema(self, visible_field_ids: bool = False) -> Json:
        views = []
        for view in self.views:
            shown: Json = {"id": view.id, "name": view.name, "type": view.type}
            if visible_field_ids and view.type == "grid":
                shown["visibleFieldIds"] = [f.id for f in self.fields]
            views.append(shown)
        out: Json = {"id": self.id, "name": self.name, "primaryFieldId": self.fields[0].id}
        if self.description:
            out["description"] = self.description
        out["fields"] = [f.schema() for f in self.fields]
        out["views"] = views
        return out


@dataclass(slots=True)
class _Base:
    id: str
    name: str
    workspace_id: str
    tables: list[_Table] = field(default_factory=list)
    webhooks: dict[str, _Webhook] = field(default_factory=dict)
    transactions: int = 0  #: ``baseTransactionNumber`` of the last change

    def table(self, key: str) -> _Table | None:
        return next((t for t in self.tables if key in (t.id, t.name)), None)


@dataclass(slots=True)
class _Webhook:
    id: str
    specification: Json
    notification_url: str | None
    expires: float  #: seconds; active before it, disabled after, gone ``WEBHOOK_KEPT_S`` later
    next_cursor: int = 1
    payloads: list[tuple[int, float, Json]] = field(default_factory=list)  #: (cursor, when, payload)

    def active(self, now: float) -> bool:
        return now < self.expires

    def as_json(self, now: float) -> Json:
        """As list webhooks shows it (the keys of pyairtable's sample_data/Webhook.json)."""
        return {
            "id": self.id,
            "areNotificationsEnabled": self.notification_url is not None,
            "cursorForNextPayload": self.next_cursor,
            "isHookEnabled": self.active(now),
            "lastSuccessfulNotificationTime": None,
            "notificationUrl": self.notification_url,
            "lastNotificationResult": None,
            "expirationTime": _iso(_moment(self.expires)),
            "specification": copy.deepcopy(self.specification),
        }


@dataclass(slots=True)
class _TableChanges:
    """What one transaction did to one table, for the webhooks' payloads."""

    new: bool = False  #: the table was created
    renamed_from: str | None = None
    created_fields: list[str] = field(default_factory=list)
    renamed_fields: dict[str, str] = field(default_factory=dict)  #: field id -> its previous name
    created: dict[str, None] = field(default_factory=dict)  #: record ids, in creation order
    before: dict[str, dict[str, Json]] = field(default_factory=dict)  #: record id -> values before
    destroyed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Transaction:
    """One request or one helper call: the changes one payload reports together."""

    source: str  #: ``actionMetadata.source``: "client" (the UI) or "publicApi"
    user: Collaborator
    permission_level: str
    tables: dict[str, _TableChanges] = field(default_factory=dict)  #: by table id, in order


@dataclass(slots=True)
class _Iterator:
    """A list-records cursor: the records still to page through, matched by the first page."""

    table_id: str
    remaining: list[str]
    last_used: float


def _empty(value: Json) -> bool:
    """Whether Airtable leaves the cell out of ``fields`` (0 is a value, false is not)."""
    return value is None or value is False or (isinstance(value, str | list) and len(value) == 0)


def _json_number(value: int | float) -> int | float:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# --- cell values ------------------------------------------------------------------------------


class _Choices:
    """Select options a write may add (``typecast``), kept apart until the request is valid."""

    def __init__(self, may_add: bool) -> None:
        self.may_add = may_add
        self.added: dict[str, list[str]] = {}

    def resolve(self, fld: _Field, name: str, typecast: bool) -> str:
        known = [str(choice["name"]) for choice in (fld.options or {}).get("choices", [])]
        if name in known or name in self.added.get(fld.id, []):
            return name
        if typecast and self.may_add:
            self.added.setdefault(fld.id, []).append(name)
            return name
        # Recorded (pyairtable#137): the name is quoted twice, as JSON inside quotes.
        raise _error(
            422,
            "INVALID_MULTIPLE_CHOICE_OPTIONS",
            f'Insufficient permissions to create new select option "{json.dumps(name, ensure_ascii=False)}"',
        )

    def commit(self, table: _Table, new_id: Callable[[str], str]) -> None:
        for fld in table.fields:
            for name in self.added.get(fld.id, []):
                if fld.options is None:
                    fld.options = {"choices": []}
                choices = fld.options.setdefault("choices", [])
                color = _CHOICE_COLORS[len(choices) % len(_CHOICE_COLORS)]
                choices.append({"id": new_id("sel"), "name": name, "color": color})


def _bad_value(fld: _Field) -> _Rejected:
    return _error(422, "INVALID_VALUE_FOR_COLUMN", f'Field "{fld.name}" cannot accept the provided value')


def _convert(fld: _Field, value: Json, typecast: bool, choices: _Choices) -> Json:
    """What a write stores in ``fld`` (an empty value empties the cell), or Airtable's 422."""
    if fld.type in _COMPUTED_TYPES:
        raise _error(  # recorded
            422,
            "INVALID_VALUE_FOR_COLUMN",
            f'Field "{fld.name}" cannot accept a value because the field is computed',
        )
    if fld.type not in _WRITABLE_TYPES:
        raise _not_modelled(f"writes to {fld.type} fields")
    if value is None:
        return "\n" if fld.type == "richText" else None  # recorded: a cleared rich text keeps a line
    if fld.type in _TEXT_TYPES:
        return _text_cell(fld, value, typecast)
    if fld.type in _NUMBER_TYPES:
        return _number_cell(fld, value, typecast)
    if fld.type == "rating":
        return _rating_cell(fld, value, typecast)
    if fld.type == "checkbox":
        return _checkbox_cell(fld, value, typecast)
    if fld.type == "singleSelect":
        if typecast and isinstance(value, int | float) and not isinstance(value, bool):
            value = _formula_text(value)
        if not isinstance(value, str):
            raise _bad_value(fld)
        return choices.resolve(fld, value, typecast) if value else None
    if fld.type == "multipleSelects":
        if typecast and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            raise _bad_value(fld)
        return [choices.resolve(fld, name, typecast) for name in dict.fromkeys(value)]
    if fld.type == "date":
        return _date_cell(fld, value, typecast)
    return _datetime_cell(fld, value)


def _text_cell(fld: _Field, value: Json, typecast: bool) -> str:
    if typecast and isinstance(value, int | float | bool):
        value = _formula_text(value)
    if not isinstance(value, str):
        raise _bad_value(fld)
    text: str = value
    if fld.type == "richText" and text:
        # Airtable stores rich text as its own markdown: "*" and "+" bullets become "-" and the
        # text ends with a newline (recorded: "#header\n* bullet" -> "#header\n- bullet\n").
        text = "\n".join(re.sub(r"^(\s*)[*+] ", r"\1- ", line) for line in text.split("\n"))
        return text if text.endswith("\n") else text + "\n"
    return text


def _number_cell(fld: _Field, value: Json, typecast: bool) -> int | float:
    if typecast and isinstance(value, str):
        try:
            value = float(value.strip().replace(",", ""))
        except ValueError:
            raise _bad_value(fld) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad_value(fld)
    precision = (fld.options or {}).get("precision")
    if isinstance(precision, int):
        # A guess: the stored value is rounded to the field's precision (not refused).  A percent
        # field holds 0.1 for the 10% it shows, and its precision counts the percentage's decimals.
        value = round(value, precision + 2 if fld.type == "percent" else precision)
    return _json_number(value)


def _rating_cell(fld: _Field, value: Json, typecast: bool) -> int:
    number = _number_cell(fld, value, typecast)
    highest = (fld.options or {}).get("max", 10)
    if not isinstance(number, int) or not 1 <= number <= highest:
        raise _bad_value(fld)
    return number


def _checkbox_cell(fld: _Field, value: Json, typecast: bool) -> bool:
    if typecast and isinstance(value, str):
        # A guess at Airtable's truthy words; anything else stays unchecked.
        return value.strip().lower() in ("true", "1", "yes", "checked", "x")
    if typecast and isinstance(value, int | float):
        return bool(value)
    if not isinstance(value, bool):
        raise _bad_value(fld)
    return value


def _date_cell(fld: _Field, value: Json, typecast: bool) -> str | None:
    if not isinstance(value, str):
        raise _bad_value(fld)
    if not value:
        return None
    try:
        if _ISO_DATE.fullmatch(value):
            return dt.date.fromisoformat(value).isoformat()
        if typecast:
            return _parse_iso(value).date().isoformat()
    except ValueError:
        pass
    raise _bad_value(fld)


def _datetime_cell(fld: _Field, value: Json) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _iso(_moment(value / 1000))  # recorded: epoch milliseconds are accepted
    if not isinstance(value, str):
        raise _bad_value(fld)
    if not value:
        return None
    try:
        return _iso(_moment(_parse_iso(value).timestamp()))
    except ValueError:
        raise _bad_value(fld) from None


def _converted(table: _Table, given: Json, typecast: bool, choices: _Choices) -> dict[str, Json]:
    """A write's ``fields`` object as field id -> stored value (empty values clear)."""
    if not isinstance(given, dict):
        raise _error(
            422, "INVALID_REQUEST_MISSING_FIELDS", 'Could not find field "fields" in the request body'
        )
    out: dict[str, Json] = {}
    for key, value in given.items():
        fld = table.field(key)
        if fld is None:
            raise _unknown_field(key)
        out[fld.id] = _convert(fld, value, typecast, choices)
    return out


def _kept_value(fld: _Field, record: _Record) -> Json:
    if fld.type == "autoNumber":
        return record.serial
    if fld.type == "createdTime":
        return _iso(record.created)
    if fld.type == "lastModifiedTime":
        return _iso(record.modified)
    author = record.created_by if fld.type == "createdBy" else record.modified_by
    return None if author is None else author.as_json()


def _values(table: _Table, record: _Record) -> dict[str, Json]:
    """Every non-empty value of ``record`` by field id, computed ones included."""
    values: dict[str, Json] = {}
    for fld in table.fields:
        value = _kept_value(fld, record) if fld.type in _KEPT_TYPES else record.cells.get(fld.id)
        if not _empty(value):
            values[fld.id] = value
    by_name = {fld.name: values[fld.id] for fld in table.fields if fld.id in values}
    for fld in table.fields:
        if fld.compute is not None:
            value = fld.compute(by_name)
            if not _empty(value):
                values[fld.id] = value
    return values


def _record_json(
    table: _Table,
    record: _Record,
    fields: Sequence[_Field] | None = None,
    by_id: bool = False,
    comment_count: bool = False,
) -> Json:
    values = _values(table, record)
    chosen = table.fields if fields is None else fields
    shown = {(f.id if by_id else f.name): copy.deepcopy(values[f.id]) for f in chosen if f.id in values}
    out: Json = {"id": record.id, "createdTime": _iso(record.created), "fields": shown}
    if comment_count:
        out["commentCount"] = 0  # the fake holds no comments
    return out


# --- filterByFormula --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _When:
    """A date or time in a formula: compared as a moment, or as its text against text."""

    moment: dt.datetime
    text: str


_Scalar = str | int | float | bool | _When | None


@dataclass(frozen=True, slots=True)
class _Row:
    record_id: str
    values: Mapping[str, Json]  # by field id


_Expr = Callable[[_Row], _Scalar]


class _FormulaError(Exception):
    """A value Airtable shows as #ERROR!: the record is left out."""


_FORMULA_TOKEN = re.compile(
    r"""\s*(?:(?P<field>\{[^}]*\})|(?P<text>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    r"""|(?P<number>\d+(?:\.\d*)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><=|>=|!=|[=<>&+\-*/(),]))""",
    re.S,
)
_INVALID_FORMULA = "Invalid formula. Please check your formula text."  # reported by users


def _formula_error(detail: str) -> _Rejected:
    return _error(422, "INVALID_FILTER_BY_FORMULA", f"The formula for filtering records is invalid: {detail}")


def _formula_value(kind: str, value: Json) -> _Scalar:
    """A cell as formulas see it: select lists joined, dates as moments."""
    if value is None:
        return None
    if kind == "multipleSelects":
        return ", ".join(value)
    if kind == "date":
        return _When(_parse_iso(value), value)
    if kind in ("dateTime", "createdTime", "lastModifiedTime"):
        return _When(_parse_iso(value), value)
    if isinstance(value, str | int | float | bool):
        return value
    raise _FormulaError


def _truthy(value: _Scalar) -> bool:
    if value is None or isinstance(value, _When):
        return value is not None
    if isinstance(value, str):
        return value != ""
    return value != 0 and not (isinstance(value, float) and math.isnan(value))


def _formula_text(value: _Scalar) -> str:
    if value is None:
        return ""
    if isinstance(value, _When):
        return value.text
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(_json_number(value))
    return value


def _formula_number(value: _Scalar) -> int | float:
    if value is None:
        return 0  # a blank counts as 0 in arithmetic
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return _json_number(float(value))
        except ValueError:
            raise _FormulaError from None
    raise _FormulaError


def _equal(a: _Scalar, b: _Scalar) -> bool:
    """``=`` as guessed from Airtable's idioms: a blank equals ``''`` and 0; text is exact."""
    if a is None or b is None:
        other = b if a is None else a
        return other is None or other == "" or (isinstance(other, int | float) and other == 0)
    if isinstance(a, _When) or isinstance(b, _When):
        if isinstance(a, _When) and isinstance(b, _When):
            return a.moment == b.moment
        when, other = (a, b) if isinstance(a, _When) else (b, a)
        return isinstance(when, _When) and other == when.text
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        try:
            return _formula_number(a) == _formula_number(b)
        except _FormulaError:
            return False
    return a == b


def _ordered(a: _Scalar, b: _Scalar) -> tuple[Any, Any]:
    if isinstance(a, _When) and isinstance(b, _When):
        return a.moment, b.moment
    if isinstance(a, _When) or isinstance(b, _When):
        raise _FormulaError
    if isinstance(a, str | None) and isinstance(b, str | None):
        return a or "", b or ""
    return _formula_number(a), _formula_number(b)


_ORDER: Mapping[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_ARITHMETIC: Mapping[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


def _comparison(op: str, left: _Expr, right: _Expr) -> _Expr:
    if op == "=":
        return lambda row: _equal(left(row), right(row))
    if op == "!=":
        return lambda row: not _equal(left(row), right(row))
    test = _ORDER[op]
    return lambda row: test(*_ordered(left(row), right(row)))


def _arithmetic(op: str, left: _Expr, right: _Expr) -> _Expr:
    apply = _ARITHMETIC[op]

    def run(row: _Row) -> _Scalar:
        x, y = _formula_number(left(row)), _formula_number(right(row))
        if op == "/" and y == 0:
            raise _FormulaError  # #DIV/0!
        return _json_number(apply(x, y))

    return run


def _find(needle: _Scalar, haystack: _Scalar, start: _Scalar = 1) -> int:
    return _formula_text(haystack).find(_formula_text(needle), max(int(_formula_number(start)) - 1, 0)) + 1


def _datetime_parse(text: _Scalar) -> _When:
    try:
        return _When(_parse_iso(_formula_text(text)), _formula_text(text))
    except ValueError:
        raise _FormulaError from None


#: name -> (fewest arguments, most arguments or None, evaluation); IF and RECORD_ID are special.
_FUNCTIONS: Mapping[str, tuple[int, int | None, Callable[..., _Scalar]]] = {
    "AND": (1, None, lambda *args: all(_truthy(a) for a in args)),
    "OR": (1, None, lambda *args: any(_truthy(a) for a in args)),
    "NOT": (1, 1, lambda a: not _truthy(a)),
    "TRUE": (0, 0, lambda: True),
    "FALSE": (0, 0, lambda: False),
    "BLANK": (0, 0, lambda: None),
    "LOWER": (1, 1, lambda a: _formula_text(a).lower()),
    "UPPER": (1, 1, lambda a: _formula_text(a).upper()),
    "TRIM": (1, 1, lambda a: _formula_text(a).strip()),
    "LEN": (1, 1, lambda a: len(_formula_text(a))),
    "FIND": (2, 3, _find),
    "CONCATENATE": (1, None, lambda *args: "".join(_formula_text(a) for a in args)),
    "DATETIME_PARSE": (1, 1, _datetime_parse),
}


def _call(function: Callable[..., _Scalar], args: Sequence[_Expr]) -> _Expr:
    return lambda row: function(*(arg(row) for arg in args))


def _if(args: Sequence[_Expr]) -> _Expr:
    condition, then = args[0], args[1]
    otherwise = args[2] if len(args) == 3 else None
    return lambda row: then(row) if _truthy(condition(row)) else (otherwise(row) if otherwise else None)


def _constant(value: _Scalar) -> _Expr:
    return lambda row: value


def _reference(fld: _Field) -> _Expr:
    field_id, kind = fld.id, fld.type
    return lambda row: _formula_value(kind, row.values.get(field_id))


class _FormulaParser:
    """Compiles a formula for one table into a function of a record.

    Precedence, lowest first: comparisons, ``&``, ``+ -``, ``* /``, unary minus.
    """

    def __init__(self, text: str, table: _Table) -> None:
        self.table = table
        self.unknown: list[str] = []
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while text[pos:].strip():
            match = _FORMULA_TOKEN.match(text, pos)
            if match is None or match.lastgroup is None:
                raise _formula_error(_INVALID_FORMULA)
            self.tokens.append((match.lastgroup, match.group(match.lastgroup)))
            pos = match.end()
        self.pos = 0

    def compile(self) -> _Expr:
        expr = self._comparison()
        if self.pos != len(self.tokens):
            raise _formula_error(_INVALID_FORMULA)
        if self.unknown:
            raise _formula_error(f"Unknown field names: {', '.join(self.unknown)}")
        return expr

    def _op(self, choices: Iterable[str]) -> str | None:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "op":
            text = self.tokens[self.pos][1]
            if text in choices:
                self.pos += 1
                return text
        return None

    def _expect(self, text: str) -> None:
        if self._op((text,)) is None:
            raise _formula_error(_INVALID_FORMULA)

    def _comparison(self) -> _Expr:
        left = self._concatenation()
        while (op := self._op(("=", "!=", "<", ">", "<=", ">="))) is not None:
            left = _comparison(op, left, self._concatenation())
        return left

    def _concatenation(self) -> _Expr:
        left = self._sum()
        while self._op(("&",)) is not None:
            left = _call(lambda a, b: _formula_text(a) + _formula_text(b), (left, self._sum()))
        return left

    def _sum(self) -> _Expr:
        left = self._product()
        while (op := self._op(("+", "-"))) is not None:
            left = _arithmetic(op, left, self._product())
        return left

    def _product(self) -> _Expr:
        left = self._unary()
        while (op := self._op(("*", "/"))) is not None:
            left = _arithmetic(op, left, self._unary())
        return left

    def _unary(self) -> _Expr:
        if self._op(("-",)) is not None:
            return _arithmetic("-", _constant(0), self._unary())
        return self._primary()

    def _primary(self) -> _Expr:
        if self.pos >= len(self.tokens):
            raise _formula_error(_INVALID_FORMULA)
        kind, text = self.tokens[self.pos]
        self.pos += 1
        if kind == "number":
            return _constant(_json_number(float(text)))
        if kind == "text":
            return _constant(re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.S))
        if kind == "field":
            return self._field(text[1:-1])
        if kind == "name":
            if self._op(("(",)) is not None:
                return self._function(text.upper())
            return self._field(text)  # a one-word field name may go without braces
        if text == "(":
            inner = self._comparison()
            self._expect(")")
            return inner
        raise _formula_error(_INVALID_FORMULA)

    def _field(self, name: str) -> _Expr:
        fld = self.table.field(name)
        if fld is None:
            self.unknown.append(name)
            return _constant(None)
        if fld.type not in _FORMULA_TYPES:
            raise _formula_error(f"FakeAirtable does not model formulas over {fld.type} fields")
        return _reference(fld)

    def _function(self, name: str) -> _Expr:
        args: list[_Expr] = []
        if self._op((")",)) is None:
            args.append(self._comparison())
            while self._op((",",)) is not None:
                args.append(self._comparison())
            self._expect(")")
        if name == "RECORD_ID" and not args:
            return lambda row: row.record_id
        if name == "IF" and len(args) in (2, 3):
            return _if(args)
        if name in ("RECORD_ID", "IF"):
            raise _formula_error(_INVALID_FORMULA)
        if name not in _FUNCTIONS:
            raise _formula_error(f"FakeAirtable does not model the function {name}()")
        fewest, most, function = _FUNCTIONS[name]
        if len(args) < fewest or (most is not None and len(args) > most):
            raise _formula_error(_INVALID_FORMULA)
        return _call(function, args)


def _keeps(expr: _Expr, row: _Row) -> bool:
    try:
        return _truthy(expr(row))
    except _FormulaError:
        return False


def _sort_key(fld: _Field, value: Json) -> tuple[int, Any]:
    """A guess at Airtable's order: blanks first (last when descending), text ignoring case."""
    shown = _formula_value(fld.type, value)
    if shown is None:
        return (0, 0)
    if isinstance(shown, bool | int | float):
        return (1, float(shown))
    if isinstance(shown, _When):
        return (2, shown.moment)
    return (3, shown.casefold())


def _sorter(fld: _Field) -> Callable[[tuple[_Record, dict[str, Json]]], tuple[int, Any]]:
    return lambda row: _sort_key(fld, row[1].get(fld.id))


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Route:
    operation: Operation
    base_id: str | None = None
    table: str | None = None
    record_id: str | None = None
    post_list: bool = False
    replace: bool = False  # PUT: cells the request leaves out are emptied


def _asks_upsert(content: bytes) -> bool:
    try:
        body = json.loads(content or b"{}")
    except ValueError:
        return False
    return isinstance(body, dict) and "performUpsert" in body


def _route(method: str, raw_path: str, content: bytes) -> _Route | None:
    """What a request asks for, from its method and still percent-encoded path."""
    if not raw_path.startswith("/v0/"):
        return None
    parts = [unquote(part) for part in raw_path[len("/v0/") :].split("/")]
    if parts[-1] == "":  # a trailing slash, as the recorded client sends on writes
        parts.pop()
    if parts[0] == "bases":  # no base id is "bases": these are the webhooks endpoints
        return _webhook_route(method, parts[1:])
    if parts and parts[0] == "meta":
        rest = parts[1:]
        if rest == ["bases"] and method == "GET":
            return _Route("meta.bases")
        if len(rest) == 3 and rest[0] == "bases" and rest[2] == "tables":
            if method == "GET":
                return _Route("meta.tables", rest[1])
            if method == "POST":
                return _Route("meta.create_table", rest[1])
        if len(rest) == 5 and rest[0] == "bases" and rest[2] == "tables" and rest[4] == "fields":
            return _Route("meta.create_field", rest[1], rest[3]) if method == "POST" else None
        return None
    if len(parts) == 2:
        base_id, table = parts
        collection: Mapping[str, Operation] = {
            "GET": "records.list",
            "POST": "records.create",
            "PATCH": "records.update",
            "PUT": "records.update",
            "DELETE": "records.delete",
        }
        operation = collection.get(method)
        if operation == "records.update" and _asks_upsert(content):
            operation = "records.upsert"
        return None if operation is None else _Route(operation, base_id, table, replace=method == "PUT")
    if len(parts) == 3:
        base_id, table, tail = parts
        if tail == "listRecords" and method == "POST":
            return _Route("records.list", base_id, table, post_list=True)
        single: Mapping[str, Operation] = {
            "GET": "records.get",
            "PATCH": "records.update",
            "PUT": "records.update",
            "DELETE": "records.delete",
        }
        operation = single.get(method)
        return None if operation is None else _Route(operation, base_id, table, tail, replace=method == "PUT")
    return None


def _webhook_route(method: str, rest: Sequence[str]) -> _Route | None:
    """``bases/{baseId}/webhooks[/{webhookId}[/refresh|/payloads]]``; the hook id rides as record id."""
    if len(rest) < 2 or rest[1] != "webhooks":
        return None
    base_id, tail = rest[0], list(rest[2:])
    routes: Mapping[tuple[str, int, str], Operation] = {
        ("GET", 0, ""): "webhooks.list",
        ("POST", 0, ""): "webhooks.create",
        ("DELETE", 1, ""): "webhooks.delete",
        ("POST", 2, "refresh"): "webhooks.refresh",
        ("GET", 2, "payloads"): "webhooks.payloads",
    }
    operation = routes.get((method, len(tail), tail[1] if len(tail) == 2 else ""))
    if operation is None:
        return None
    return _Route(operation, base_id, record_id=tail[0] if tail else None)


@dataclass(frozen=True, slots=True)
class _ListQuery:
    page_size: int = MAX_PAGE_SIZE
    max_records: int | None = None
    offset: str | None = None
    view: str | None = None
    formula: str | None = None
    fields: tuple[str, ...] | None = None
    sort: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    by_id: bool = False
    comment_count: bool = False


_LIST_OPTIONS = frozenset(
    {"pageSize", "maxRecords", "offset", "view", "filterByFormula", "fields", "sort", "cellFormat"}
    | {"returnFieldsByFieldId", "recordMetadata", "timeZone", "userLocale"}
)
_LIST_PARAMS = frozenset(
    {"pageSize", "maxRecords", "offset", "view", "filterByFormula", "fields[]", "cellFormat"}
    | {"returnFieldsByFieldId", "recordMetadata[]", "timeZone", "userLocale"}
)
_RECORD_PARAMS = frozenset({"cellFormat", "returnFieldsByFieldId", "timeZone", "userLocale"})


def _positive(value: Json, highest: int | None = None) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (highest and value > highest):
        raise _invalid_request()
    return value


def _flag(value: Json) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "0", "false"):
        return value.lower() in ("1", "true")
    raise _invalid_request()


def _strings(value: Json) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid_request()
    return tuple(value)


def _cell_format(value: Json) -> None:
    if value == "string":
        raise _not_modelled("cellFormat=string")
    if value != "json":
        raise _invalid_request()


def _list_query(options: Mapping[str, Json]) -> _ListQuery:
    """Parameters of list records from a JSON body, or from query parameters made JSON-shaped."""
    if not set(options) <= _LIST_OPTIONS:
        raise _invalid_request()
    if "cellFormat" in options:
        _cell_format(options["cellFormat"])
    sort: list[tuple[str, bool]] = []
    if "sort" in options:
        if not isinstance(options["sort"], list):
            raise _invalid_request()
        for item in options["sort"]:
            direction = item.get("direction", "asc") if isinstance(item, dict) else None
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("field"), str)
                or direction not in ("asc", "desc")
            ):
                raise _invalid_request()
            sort.append((item["field"], direction == "desc"))
    metadata = _strings(options.get("recordMetadata", []))
    if not set(metadata) <= {"commentCount"}:
        raise _invalid_request()
    for key in ("offset", "view", "filterByFormula"):
        if key in options and not isinstance(options[key], str):
            raise _invalid_request()
    return _ListQuery(
        page_size=_positive(options.get("pageSize", MAX_PAGE_SIZE), MAX_PAGE_SIZE),
        max_records=_positive(options["maxRecords"]) if "maxRecords" in options else None,
        offset=options.get("offset") or None,
        view=options.get("view") or None,
        formula=options.get("filterByFormula") or None,
        fields=_strings(options["fields"]) if "fields" in options else None,
        sort=tuple(sort),
        by_id=_flag(options.get("returnFieldsByFieldId", False)),
        comment_count="commentCount" in metadata,
    )


def _query_options(params: Mapping[str, list[str]]) -> dict[str, Json]:
    """List-records query parameters in the shape of the POST ``listRecords`` body."""
    options: dict[str, Json] = {}
    sort: dict[int, dict[str, str]] = {}
    for key, values in params.items():
        if match := _SORT_PARAM.fullmatch(key):
            sort.setdefault(int(match.group(1)), {})[match.group(2)] = values[-1]
        elif key not in _LIST_PARAMS:
            raise _invalid_request()
        elif key.endswith("[]"):
            options[key[:-2]] = values
        else:
            options[key] = values[-1]
    if sort:
        options["sort"] = [sort[index] for index in sorted(sort)]
    return options


def _check_keys(obj: Json, allowed: Iterable[str]) -> None:
    if not isinstance(obj, dict) or not set(obj) <= set(allowed):
        raise _invalid_request()


def _write_options(body: Json, allowed: Iterable[str]) -> tuple[bool, bool]:
    """``typecast`` and ``returnFieldsByFieldId`` of a write body, refusing unknown keys."""
    _check_keys(body, {"typecast", "returnFieldsByFieldId", *allowed})
    typecast, by_id = body.get("typecast", False), body.get("returnFieldsByFieldId", False)
    if not isinstance(typecast, bool) or not isinstance(by_id, bool):
        raise _invalid_request()
    return typecast, by_id


def _merge_key(value: Json) -> str:
    return json.dumps(value, sort_keys=True)


# --- the fake ---------------------------------------------------------------------------------


class FakeAirtable:
    """The Airtable Web API for records and base schema, in memory (module docstring).

    Args:
        tokens: personal access tokens the fake accepts, with what each may do.
        now: the clock, in seconds since the Unix epoch: record times, the per-second rate limit,
            the 30 s penalty, offset expiry and the calendar month of the call cap.
        rate_limit_per_second: requests per second per base before 429.
        monthly_call_cap: records calls per workspace per calendar month (UTC); ``None`` is
            unlimited, as on Business plans.
        over_cap: past the cap, ``"block"`` every records call (Free plan) or ``"throttle"`` the
            workspace to 2 requests per second (Team plan).
        record_ids: where new record ids come from; by default seeded random ids.
        seed: seeds every generated id, so runs repeat.

    Attributes:
        request_log: every request received, in order.
        before_request: called with each authorised request just before it is applied, under the
            fake's lock: a test may edit the base there (the merchant typing between the worker's
            read and its write) through :meth:`set_cell` or :meth:`add_records`.
    """

    def __init__(
        self,
        *,
        tokens: Mapping[str, AccessToken] | None = None,
        now: Callable[[], float] = time.time,
        rate_limit_per_second: int = RATE_LIMIT_PER_SECOND,
        monthly_call_cap: int | None = None,
        over_cap: Literal["block", "throttle"] = "block",
        record_ids: Callable[[], str] | None = None,
        seed: int = 0,
    ) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - ids for a test fake, not secrets
        self._tokens = dict(tokens or {})
        self._now = now
        self._rate = rate_limit_per_second
        self._cap = monthly_call_cap
        self._over_cap = over_cap
        self._record_ids = record_ids or (lambda: self._new_id("rec"))
        self._bases: dict[str, _Base] = {}
        self._iterators: dict[str, _Iterator] = {}
        self._hits: dict[str, deque[float]] = {}
        self._penalty_until: dict[str, float] = {}
        self._usage: dict[str, tuple[tuple[int, int], int]] = {}  # workspace -> (month, calls)
        self._faults = FaultScript()
        self._lock = threading.RLock()
        self._txn: _Transaction | None = None  # the change under way, for the webhooks
        self.request_log: list[LoggedRequest] = []
        self.before_request: Callable[[AirtableCall], None] | None = None

    # -- set-up and inspection (the merchant's side; no auth, no limits, not logged) --

    def create_base(
        self,
        name: str = "Untitled Base",
        *,
        base_id: str | None = None,
        workspace_id: str = DEFAULT_WORKSPACE,
    ) -> str:
        """Create an empty base and return its id."""
        with self._lock:
            base = _Base(base_id or self._new_id("app"), name, workspace_id)
            self._bases[base.id] = base
            return base.id

    def create_table(
        self,
        base_id: str,
        name: str,
        fields: Sequence[FieldSpec],
        *,
        table_id: str | None = None,
        views: Sequence[ViewSpec] = (ViewSpec("Grid view"),),
        next_auto_number: int = 1,
    ) -> str:
        """Create a table (the first field is the primary one) and return its id.

        Options are stored as given, so a recorded schema comes back verbatim.

        Raises:
            ValueError: no fields, a name used twice, or ``compute`` on a field Airtable does
                not compute.
        """
        with self._lock:
            base = self._bases[base_id]
            names = [spec.name for spec in fields]
            if not fields or len(set(names)) != len(names) or base.table(name) is not None:
                raise ValueError(f"table {name!r}: give at least one field and unique names")
            for spec in fields:
                if spec.compute is not None and spec.type not in _SUPPLIED_TYPES:
                    raise ValueError(f"field {spec.name!r}: Airtable keeps {spec.type} values itself")
            table = _Table(
                table_id or self._new_id("tbl"),
                name,
                [
                    _Field(
                        spec.field_id or self._new_id("fld"),
                        spec.name,
                        spec.type,
                        copy.deepcopy(spec.options),
                        compute=spec.compute,
                    )
                    for spec in fields
                ],
                [_View(view.view_id or self._new_id("viw"), view.name, view.type) for view in views],
                next_auto_number,
            )
            with self._merchant(base):
                base.tables.append(table)
                self._note(table).new = True
            return table.id

    def add_records(
        self, base_id: str, table: str, rows: Iterable[Mapping[str, Json]], *, typecast: bool = False
    ) -> list[str]:
        """Add records as the base owner typing them, validated like the API; return their ids.

        Raises:
            ValueError: a value the API would refuse, with Airtable's message; nothing is added.
        """
        with self._lock:
            target = self._table(base_id, table)
            choices = _Choices(may_add=True)
            try:
                staged = [_converted(target, dict(row), typecast, choices) for row in rows]
            except _Rejected as rejected:
                raise ValueError(_message(rejected)) from None
            with self._merchant(self._bases[base_id]):
                choices.commit(target, self._new_id)
                return [self._new_record(target, cells, OWNER).id for cells in staged]

    def set_cell(
        self,
        base_id: str,
        table: str,
        record_id: str,
        field_name: str,
        value: Json,
        *,
        typecast: bool = False,
    ) -> None:
        """Change one cell as the base owner would (``None`` empties it).

        Raises:
            ValueError: an unknown record or field, or a value the API would refuse.
        """
        with self._lock:
            target = self._table(base_id, table)
            record = target.records.get(record_id)
            if record is None:
                raise ValueError(f"no record {record_id} in {table}")
            choices = _Choices(may_add=True)
            try:
                cells = _converted(target, {field_name: value}, typecast, choices)
            except _Rejected as rejected:
                raise ValueError(_message(rejected)) from None
            with self._merchant(self._bases[base_id]):
                choices.commit(target, self._new_id)
                self._edit(target, record, cells, replace=False, author=OWNER)

    def delete_records(self, base_id: str, table: str, record_ids: Iterable[str]) -> None:
        """Delete records as the base owner does in the grid (any number at once).

        Raises:
            ValueError: an unknown record; nothing is deleted.
        """
        with self._lock:
            target = self._table(base_id, table)
            ids = list(record_ids)
            if missing := [rid for rid in ids if rid not in target.records]:
                raise ValueError(f"no records {missing} in {table}")
            with self._merchant(self._bases[base_id]):
                for rid in ids:
                    del target.records[rid]
                    self._destroyed(target, rid)

    def rename_table(self, base_id: str, table: str, new_name: str) -> None:
        """Rename a table, as the base owner does in the table's menu (its id stays).

        Raises:
            ValueError: an unknown table, or a name another table has.
        """
        with self._lock:
            base = self._bases[base_id]
            target = self._table(base_id, table)
            if any(other is not target and other.name == new_name for other in base.tables):
                raise ValueError(f"a table {new_name!r} exists already")
            with self._merchant(base):
                self._note(target).renamed_from = target.name
                target.name = new_name

    def rename_field(self, base_id: str, table: str, field_name: str, new_name: str) -> None:
        """Rename a field, as the base owner does in the field's menu (its id and values stay).

        Raises:
            ValueError: an unknown table or field, or a name another field has.
        """
        with self._lock:
            target = self._table(base_id, table)
            fld = target.field(field_name)
            if fld is None:
                raise ValueError(f"{table} has no field {field_name!r}")
            if any(other is not fld and other.name == new_name for other in target.fields):
                raise ValueError(f"{table} has a field {new_name!r} already")
            with self._merchant(self._bases[base_id]):
                self._note(target).renamed_fields.setdefault(fld.id, fld.name)
                fld.name = new_name

    def load_records(self, base_id: str, table: str, records: Iterable[Json]) -> None:
        """Put back records as the API returned them (``{"id", "createdTime", "fields"}``).

        Stored values are kept verbatim; autoNumber, lastModifiedTime, createdBy and
        lastModifiedBy values set the record's own; other computed values are left to
        ``FieldSpec.compute``.

        Raises:
            ValueError: a field the table does not have.
        """
        with self._lock, self._merchant(self._bases[base_id]):
            target = self._table(base_id, table)
            for item in records:
                created = _parse_iso(item["createdTime"])
                record = _Record(item["id"], created, target.next_serial, None, created, None)
                for name, value in item.get("fields", {}).items():
                    fld = target.field(name)
                    if fld is None:
                        raise ValueError(f"{table} has no field {name!r}")
                    if fld.type == "autoNumber":
                        record.serial = int(value)
                    elif fld.type == "lastModifiedTime":
                        record.modified = _parse_iso(value)
                    elif fld.type in ("createdBy", "lastModifiedBy"):
                        author = Collaborator(value["id"], value["email"], value["name"])
                        if fld.type == "createdBy":
                            record.created_by = author
                        else:
                            record.modified_by = author
                    elif fld.type not in _COMPUTED_TYPES:
                        record.cells[fld.id] = copy.deepcopy(value)
                target.next_serial = max(target.next_serial, record.serial + 1)
                target.records[record.id] = record
                self._note(target).created[record.id] = None

    def records(self, base_id: str, table: str) -> list[Json]:
        """Every record of the table as the API shows it (all fields, by name), in table order."""
        with self._lock:
            target = self._table(base_id, table)
            return [_record_json(target, record) for record in target.records.values()]

    def fail_next(
        self,
        operation: Operation,
        status: int = 503,
        *,
        response: httpx.Response | None = None,
        exception: Exception | None = None,
        times: int = 1,
        applied: bool = False,
    ) -> None:
        """Script the next ``times`` calls of ``operation`` to fail, in FIFO order.

        The failure is ``response`` if given, else ``exception`` raised (``httpx.ReadTimeout`` and
        other transport errors become the client's own timeout or connection error through the
        wire adapters), else Airtable's error body for ``status``. With ``applied`` the request
        takes effect first and only its answer is lost, as when a connection drops late.
        """
        with self._lock:
            self._faults.add(
                operation, status, response=response, exception=exception, times=times, applied=applied
            )

    def count(self, operation: str) -> int:
        """How many requests of ``operation`` were received (faulted and refused ones included)."""
        with self._lock:
            return sum(1 for entry in self.request_log if entry.operation == operation)

    # -- the wire --

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one HTTP request."""
        with self._lock:
            raw_path = request.url.raw_path.decode("ascii").partition("?")[0]
            route = _route(request.method, raw_path, request.content)
            operation = route.operation if route else "unknown"
            query = tuple(request.url.params.multi_items())
            self.request_log.append(LoggedRequest(operation, request.method, unquote(raw_path), query))
            fault = self._faults.next(operation)
            if fault and not fault.applied:
                return _fire(fault)
            try:
                if route is None:
                    answer = _json_response({"error": "NOT_FOUND"}, 404)
                else:
                    answer = self._serve(request, route)
            except _Rejected as rejected:
                answer = rejected.response
            return _fire(fault) if fault else answer

    def _serve(self, request: httpx.Request, route: _Route) -> httpx.Response:
        token = self._authenticate(request)
        params: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            params.setdefault(key, []).append(value)
        if route.operation == "meta.bases":
            if params:
                raise _invalid_request()
            reachable = [b for b in self._bases.values() if token.bases is None or b.id in token.bases]
            listed = [
                {"id": b.id, "name": b.name, "permissionLevel": token.permission_level} for b in reachable
            ]
            return _json_response({"bases": listed})
        base = self._authorise(route, token)
        # Whether webhook calls count against the monthly cap is unrecorded: counted, like records.
        self._throttle(base, counted=not route.operation.startswith("meta."))
        body: Json = None
        if request.method in ("POST", "PATCH", "PUT"):
            try:
                body = json.loads(request.content or b"{}")
            except ValueError:
                raise _unrecorded(400, "INVALID_REQUEST_BODY", "Could not parse request body") from None
            if not isinstance(body, dict):
                raise _invalid_request()
        if self.before_request is not None:
            call = AirtableCall(route.operation, base.id, route.table, route.record_id, params, body, token)
            self.before_request(call)
        if route.operation.startswith("webhooks."):
            return _json_response(self._webhook_call(base, route, params, body, token))
        with self._transaction(base, _Transaction("publicApi", token.user, token.permission_level)):
            if route.operation.startswith("meta."):
                return _json_response(self._schema_call(base, route, params, body))
            table = base.table(route.table or "")
            if table is None:  # recorded
                raise _error(
                    404, "TABLE_NOT_FOUND", f"Could not find table {route.table} in application {base.id}"
                )
            return _json_response(self._records_call(table, route, params, body, token))

    def _authenticate(self, request: httpx.Request) -> AccessToken:
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        token = self._tokens.get(secret.strip()) if scheme.lower() == "bearer" else None
        if token is None:  # recorded: a missing, malformed and unknown token all look alike
            raise _error(401, "AUTHENTICATION_REQUIRED", "Authentication required")
        return token

    def _authorise(self, route: _Route, token: AccessToken) -> _Base:
        """The base a request may reach, or the answer Airtable gives when it may not."""
        base = self._bases.get(route.base_id or "")
        if base is not None and token.bases is not None and base.id not in token.bases:
            base = None
        if route.operation == "meta.tables":
            if base is None:
                raise _Rejected(_json_response({"error": "NOT_FOUND"}, 404))  # recorded
            if SCOPE_SCHEMA_READ not in token.scopes:
                raise _error(404, "NOT_FOUND")  # recorded (a key without schema access)
            return base
        if route.operation.startswith("webhooks."):
            if base is None or SCOPE_WEBHOOK_MANAGE not in token.scopes:
                raise _no_access()
            if route.operation == "webhooks.create" and token.permission_level != "create":
                raise _no_access()  # "Creator level permissions are required"; the answer is unrecorded
            return base
        if route.operation in _SCHEMA_WRITES:
            needed = SCOPE_SCHEMA_WRITE
        else:
            needed = SCOPE_RECORDS_READ if route.operation in _READS else SCOPE_RECORDS_WRITE
        if base is None or needed not in token.scopes:
            raise _no_access()
        writing = route.operation not in _READS
        if writing and token.permission_level in ("read", "comment"):
            raise _error(403, "INVALID_PERMISSIONS", "You are not permitted to perform this operation")
        if route.operation in _SCHEMA_WRITES and token.permission_level != "create":
            raise _no_access()
        return base

    def _throttle(self, base: _Base, counted: bool) -> None:
        """Apply the per-base rate limit, its penalty and the workspace's monthly cap."""
        now = self._now()
        if now < self._penalty_until.get(base.id, -math.inf):
            raise _Rejected(_json_response(_RATE_LIMITED, 429))
        moment = _moment(now)
        month = (moment.year, moment.month)
        usage_month, calls = self._usage.get(base.workspace_id, (month, 0))
        if usage_month != month:
            calls = 0
        over_cap = self._cap is not None and calls >= self._cap
        if counted and over_cap and self._over_cap == "block":
            raise _Rejected(_json_response(_BILLING_LIMITED, 429))
        limit = OVER_CAP_RATE_PER_SECOND if over_cap else self._rate
        hits = self._hits.setdefault(base.id, deque())
        while hits and hits[0] <= now - _RATE_WINDOW_S:
            hits.popleft()
        if len(hits) >= limit:
            self._penalty_until[base.id] = now + RATE_LIMIT_PENALTY_S
            raise _Rejected(_json_response(_RATE_LIMITED, 429))
        hits.append(now)
        self._usage[base.workspace_id] = (month, calls + 1 if counted else calls)

    # -- records --

    def _records_call(
        self, table: _Table, route: _Route, params: Mapping[str, list[str]], body: Json, token: AccessToken
    ) -> Json:
        operation, record_id = route.operation, route.record_id
        if operation == "records.list":
            if route.post_list:
                if not set(params) <= {"timeZone", "userLocale"}:
                    raise _invalid_request()
                return self._list(table, _list_query(body))
            return self._list(table, _list_query(_query_options(params)))
        if operation == "records.get":
            if not set(params) <= _RECORD_PARAMS:
                raise _invalid_request()
            if "cellFormat" in params:
                _cell_format(params["cellFormat"][-1])
            record = table.records.get(record_id or "")
            if record is None:
                raise _record_not_found()
            by_id = _flag(params.get("returnFieldsByFieldId", ["false"])[-1])
            return _record_json(table, record, by_id=by_id)
        if operation == "records.delete":
            return self._delete(table, params, record_id)
        if params:
            raise _invalid_request()
        if operation == "records.create":
            return self._create(table, body, token)
        if operation == "records.upsert":
            return self._upsert(table, body, token, route.replace)
        return self._update(table, body, token, record_id, route.replace)

    def _list(self, table: _Table, query: _ListQuery) -> Json:
        chosen = None if query.fields is None else [self._field(table, name) for name in query.fields]
        now = self._now()
        if query.offset is not None:
            iterator_id, remaining = self._resume(table, query.offset, now)
        else:
            remaining = self._matching(table, query)
            iterator_id = self._new_id("itr")
        page, rest = remaining[: query.page_size], remaining[query.page_size :]
        records = [
            _record_json(table, table.records[rid], chosen, query.by_id, query.comment_count)
            for rid in page
            if rid in table.records
        ]
        out: Json = {"records": records}
        self._iterators.pop(iterator_id, None)
        if rest:
            self._iterators[iterator_id] = _Iterator(table.id, rest, now)
            out["offset"] = f"{iterator_id}/{rest[0]}"
        return out

    def _resume(self, table: _Table, offset: str, now: float) -> tuple[str, list[str]]:
        cursor = _OFFSET.fullmatch(offset)
        if cursor is None:  # Airtable community thread quoting a real answer
            raise _error(422, "INVALID_OFFSET_VALUE", f"The value of offset {offset} is invalid")
        iterator = self._iterators.get(cursor.group(1))
        alive = iterator is not None and now - iterator.last_used <= ITERATOR_TTL_S
        if (
            iterator is None
            or not alive
            or iterator.table_id != table.id
            or iterator.remaining[0] != cursor.group(2)
        ):
            self._iterators.pop(cursor.group(1), None)
            # The list-records reference names the type only; the body carries no message here.
            raise _error(422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE")
        return cursor.group(1), iterator.remaining

    def _matching(self, table: _Table, query: _ListQuery) -> list[str]:
        """Ids of the records a first page selects, in order, before paging."""
        if query.view is not None and not any(query.view in (v.id, v.name) for v in table.views):
            kind = "VIEW_ID_NOT_FOUND" if _VIEW_ID.fullmatch(query.view) else "VIEW_NAME_NOT_FOUND"
            raise _unrecorded(422, kind, f"Could not find view {query.view} in table {table.name}")
        expr = _FormulaParser(query.formula, table).compile() if query.formula else None
        keys = [(self._field(table, name), descending) for name, descending in query.sort]
        for fld, _ in keys:
            if fld.type not in _FORMULA_TYPES:
                raise _not_modelled(f"sorting on {fld.type} fields")
        rows = [(record, _values(table, record)) for record in table.records.values()]
        if expr is not None:
            rows = [(record, values) for record, values in rows if _keeps(expr, _Row(record.id, values))]
        for fld, descending in reversed(keys):  # stable sorts, last key first
            rows.sort(key=_sorter(fld), reverse=descending)
        ids = [record.id for record, _ in rows]
        return ids if query.max_records is None else ids[: query.max_records]

    def _create(self, table: _Table, body: Json, token: AccessToken) -> Json:
        typecast, by_id = _write_options(body, ("records", "fields"))
        choices = _Choices(may_add=token.permission_level == "create")
        if "records" in body:
            items = body["records"]
            if not isinstance(items, list) or not items:
                raise _unrecorded(
                    422,
                    "INVALID_RECORDS",
                    'You must provide an array of up to 10 record objects, each with a "fields" object.',
                )
            if len(items) > MAX_RECORDS_PER_WRITE:  # quoted by pyairtable's maintainer
                raise _error(
                    422,
                    "INVALID_RECORDS",
                    f"A maximum of 10 records can be created per request but you have provided {len(items)}.",
                )
            staged = []
            for item in items:
                _check_keys(item, ("fields",))
                staged.append(_converted(table, item.get("fields"), typecast, choices))
        else:
            staged = [_converted(table, body.get("fields"), typecast, choices)]
        choices.commit(table, self._new_id)
        created = [self._new_record(table, cells, token.user) for cells in staged]
        shown = [_record_json(table, record, by_id=by_id) for record in created]
        return {"records": shown} if "records" in body else shown[0]

    def _update(
        self, table: _Table, body: Json, token: AccessToken, record_id: str | None, replace: bool
    ) -> Json:
        typecast, by_id = _write_options(body, ("fields",) if record_id else ("records",))
        choices = _Choices(may_add=token.permission_level == "create")
        if record_id is not None:
            record = table.records.get(record_id)
            if record is None:
                raise _record_not_found()
            staged = [(record, _converted(table, body.get("fields"), typecast, choices))]
        else:
            items = body.get("records")
            if not isinstance(items, list) or not 1 <= len(items) <= MAX_RECORDS_PER_WRITE:
                raise _error(422, "INVALID_RECORDS", _UPDATE_SHAPE)  # relayed by n8n users
            staged = []
            for item in items:
                if not isinstance(item, dict) or set(item) != {"id", "fields"}:
                    raise _error(422, "INVALID_RECORDS", _UPDATE_SHAPE)
                staged.append(
                    (self._existing(table, item["id"]), _converted(table, item["fields"], typecast, choices))
                )
        choices.commit(table, self._new_id)
        for record, cells in staged:
            self._edit(table, record, cells, replace=replace, author=token.user)
        shown = [_record_json(table, record, by_id=by_id) for record, _ in staged]
        return shown[0] if record_id is not None else {"records": shown}

    def _upsert(self, table: _Table, body: Json, token: AccessToken, replace: bool) -> Json:
        typecast, by_id = _write_options(body, ("records", "performUpsert"))
        merge = self._merge_fields(table, body["performUpsert"])
        items = body.get("records")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_RECORDS_PER_WRITE:
            raise _error(422, "INVALID_RECORDS", _UPDATE_SHAPE)
        choices = _Choices(may_add=token.permission_level == "create")
        staged: list[tuple[_Record | None, dict[str, Json]]] = []
        new_keys: set[tuple[str, ...]] = set()
        for item in items:
            if not isinstance(item, dict) or not set(item) <= {"id", "fields"}:
                raise _error(422, "INVALID_RECORDS", _UPDATE_SHAPE)
            cells = _converted(table, item.get("fields"), typecast, choices)
            if "id" in item:
                staged.append((self._existing(table, item["id"]), cells))
                continue
            if any(_empty(cells.get(fld.id)) for fld in merge):
                raise _unrecorded(
                    422, "INVALID_RECORDS", "Every record without an id needs each fieldsToMergeOn field"
                )
            key = tuple(_merge_key(cells[fld.id]) for fld in merge)
            matches = [
                record
                for record in table.records.values()
                if all(
                    _merge_key(record.cells.get(fld.id)) == part for fld, part in zip(merge, key, strict=True)
                )
            ]
            if len(matches) > 1 or (not matches and key in new_keys):
                raise _unrecorded(
                    422,
                    "INVALID_RECORDS",
                    f"More than one record matches the fieldsToMergeOn values {[json.loads(k) for k in key]}",
                )
            new_keys.add(key)
            staged.append((matches[0] if matches else None, cells))
        choices.commit(table, self._new_id)
        shown, created_ids, updated_ids = [], [], []
        for existing, cells in staged:
            if existing is None:
                record = self._new_record(table, cells, token.user)
                created_ids.append(record.id)
            else:
                record = existing
                self._edit(table, record, cells, replace=replace, author=token.user)
                updated_ids.append(record.id)
            shown.append(_record_json(table, record, by_id=by_id))
        return {"records": shown, "createdRecords": created_ids, "updatedRecords": updated_ids}

    def _merge_fields(self, table: _Table, spec: Json) -> list[_Field]:
        _check_keys(spec, ("fieldsToMergeOn",))
        names = spec.get("fieldsToMergeOn")
        if not isinstance(names, list) or not 1 <= len(names) <= MAX_MERGE_FIELDS:
            raise _invalid_request()
        merge = [self._field(table, name) if isinstance(name, str) else None for name in names]
        if any(fld is None or fld.type not in _MERGE_TYPES for fld in merge):
            raise _invalid_request()
        return [fld for fld in merge if fld is not None]

    def _delete(self, table: _Table, params: Mapping[str, list[str]], record_id: str | None) -> Json:
        if record_id is not None:
            if params:
                raise _invalid_request()
            del table.records[self._existing(table, record_id, missing=_record_not_found).id]
            self._destroyed(table, record_id)
            return {"id": record_id, "deleted": True}
        if set(params) != {"records[]"}:
            raise _invalid_request()
        ids = params["records[]"]
        if len(ids) > MAX_RECORDS_PER_WRITE:
            raise _unrecorded(
                422,
                "INVALID_RECORDS",
                f"A maximum of 10 records can be deleted per request but you have provided {len(ids)}.",
            )
        for rid in ids:
            self._existing(table, rid, missing=_record_not_found)
        for rid in ids:
            if table.records.pop(rid, None) is not None:
                self._destroyed(table, rid)
        return {"records": [{"id": rid, "deleted": True} for rid in ids]}

    # -- schema --

    def _schema_call(self, base: _Base, route: _Route, params: Mapping[str, list[str]], body: Json) -> Json:
        if route.operation == "meta.tables":
            if not set(params) <= {"include", "include[]"}:
                raise _invalid_request()
            include = params.get("include", []) + params.get("include[]", [])
            if not set(include) <= {"visibleFieldIds"}:
                raise _invalid_request()
            return {"tables": [table.schema(visible_field_ids=bool(include)) for table in base.tables]}
        if params:
            raise _invalid_request()
        if route.operation == "meta.create_table":
            return self._new_table(base, body)
        table = base.table(route.table or "")
        if table is None:
            raise _no_access()
        fld = self._new_field(body, table.fields)
        table.fields.append(fld)
        self._note(table).created_fields.append(fld.id)
        return fld.schema()

    def _new_table(self, base: _Base, body: Json) -> Json:
        _check_keys(body, ("name", "description", "fields"))
        name, specs = body.get("name"), body.get("fields")
        if not isinstance(name, str) or not name.strip() or not isinstance(specs, list) or not specs:
            raise _invalid_request()
        if any(t.name.lower() == name.lower() for t in base.tables):
            raise _unrecorded(422, "DUPLICATE_TABLE_NAME", f'A table named "{name}" already exists')
        fields: list[_Field] = []
        for spec in specs:
            fields.append(self._new_field(spec, fields))
        description = body.get("description")
        table = _Table(
            self._new_id("tbl"),
            name,
            fields,
            [_View(self._new_id("viw"), "Grid view", "grid")],
            1,
            description if isinstance(description, str) else None,
        )
        base.tables.append(table)
        self._note(table).new = True
        return table.schema()

    def _new_field(self, spec: Json, siblings: Sequence[_Field]) -> _Field:
        """A field the create-table or create-field endpoint makes, with Airtable's checks."""
        _check_keys(spec, ("name", "type", "description", "options"))
        name, kind, options = spec.get("name"), spec.get("type"), spec.get("options")
        if not isinstance(name, str) or not isinstance(kind, str):
            raise _invalid_request()
        if not name.strip() or any(f.name.lower() == name.lower() for f in siblings):
            raise _unrecorded(
                422, "DUPLICATE_OR_EMPTY_FIELD_NAME", f'Field name "{name}" is empty or already used'
            )
        if kind in _COMPUTED_TYPES:
            raise _unrecorded(
                422, "UNSUPPORTED_FIELD_TYPE_FOR_CREATE", f"Field type {kind} cannot be created"
            )
        if kind in _UNMODELLED_CREATABLE:
            raise _not_modelled(f"creating {kind} fields")
        if kind not in _WRITABLE_TYPES:
            raise _invalid_request()  # reported for a made-up type ("longText")
        needed = _REQUIRED_OPTIONS.get(kind, frozenset())
        if needed and not isinstance(options, dict):  # the shape is reported; the path is ours
            raise _error(
                422,
                "INVALID_FIELD_TYPE_OPTIONS_FOR_CREATE",
                f"Failed schema validation: {name}.options is missing",
            )
        if not needed and options is not None:
            raise _unrecorded(
                422, "INVALID_FIELD_TYPE_OPTIONS_FOR_CREATE", f"{name}: {kind} fields take no options"
            )
        if needed:
            missing = sorted(needed - set(options))
            if missing:
                raise _error(
                    422,
                    "INVALID_FIELD_TYPE_OPTIONS_FOR_CREATE",
                    f"Failed schema validation: {name}.options.{missing[0]} is missing",
                )
            options = self._field_options(name, kind, options)
        description = spec.get("description")
        return _Field(
            self._new_id("fld"), name, kind, options, description if isinstance(description, str) else None
        )

    def _field_options(self, name: str, kind: str, options: Json) -> Json:
        """Options as Airtable stores them: format strings filled in, choices given ids."""
        options = copy.deepcopy(options)

        def invalid(detail: str) -> _Rejected:
            return _unrecorded(
                422, "INVALID_FIELD_TYPE_OPTIONS_FOR_CREATE", f"{name}.options.{detail} is invalid"
            )

        for key, formats in (("dateFormat", _DATE_FORMATS), ("timeFormat", _TIME_FORMATS)):
            if key in options:
                given = options[key]
                if not isinstance(given, dict) or given.get("name") not in formats:
                    raise invalid(key)
                options[key] = {"name": given["name"], "format": formats[given["name"]]}
        if "precision" in options:
            precision = options["precision"]
            if isinstance(precision, bool) or not isinstance(precision, int):
                raise invalid("precision")
            if not 0 <= precision <= MAX_NUMBER_PRECISION:
                raise invalid("precision")
        if "choices" in options:
            if not isinstance(options["choices"], list):
                raise invalid("choices")
            for choice in options["choices"]:
                if not isinstance(choice, dict) or not isinstance(choice.get("name"), str):
                    raise invalid("choices")
                choice["id"] = self._new_id("sel")
        return options

    # -- webhooks --

    def _webhook_call(
        self, base: _Base, route: _Route, params: Mapping[str, list[str]], body: Json, token: AccessToken
    ) -> Json:
        now = self._now()
        self._sweep(base, now)
        if route.operation == "webhooks.list":
            if params:
                raise _invalid_request()
            return {"webhooks": [hook.as_json(now) for hook in base.webhooks.values()]}
        if route.operation == "webhooks.create":
            if params:
                raise _invalid_request()
            return self._new_webhook(base, body, token, now)
        hook = base.webhooks.get(route.record_id or "")
        if hook is None:
            raise _unrecorded(404, "NOT_FOUND", f"Could not find webhook {route.record_id}")
        if route.operation == "webhooks.delete":
            del base.webhooks[hook.id]
            return {}  # unrecorded: the reference shows no body
        if route.operation == "webhooks.refresh":
            if not hook.active(now):
                raise _unrecorded(422, "CANNOT_REFRESH_DISABLED_WEBHOOK", "The webhook has expired")
            hook.expires = now + WEBHOOK_LIFE_S
            return {"expirationTime": _iso(_moment(hook.expires))}
        return self._payloads(hook, params, token, now)

    def _new_webhook(self, base: _Base, body: Json, token: AccessToken, now: float) -> Json:
        _check_keys(body, ("notificationUrl", "specification"))
        url, spec = body.get("notificationUrl"), body.get("specification")
        _check_keys(spec, ("options",))
        options = spec.get("options")
        _check_keys(options, ("filters", "includes"))
        filters, includes = options.get("filters"), options.get("includes", {})
        _check_keys(
            filters,
            (
                "dataTypes",
                "recordChangeScope",
                "changeTypes",
                "fromSources",
                "sourceOptions",
                "watchDataInFieldIds",
                "watchSchemasOfFieldIds",
            ),
        )
        _check_keys(
            includes,
            ("includeCellValuesInFieldIds", "includePreviousCellValues", "includePreviousFieldDefinitions"),
        )
        kinds = filters.get("dataTypes")
        if not isinstance(kinds, list) or not kinds or not set(kinds) <= set(_DATA_TYPE_SCOPES):
            raise _invalid_request()  # unrecorded
        if not set(filters) <= {"dataTypes", "recordChangeScope"}:
            raise _not_modelled("webhook filters other than dataTypes and recordChangeScope")
        scope = filters.get("recordChangeScope")
        if scope is not None and base.table(str(scope)) is None:
            raise _not_modelled("a recordChangeScope that is not a table id")
        cells = includes.get("includeCellValuesInFieldIds")
        if not (
            cells is None
            or cells == "all"
            or (isinstance(cells, list) and all(isinstance(c, str) for c in cells))
        ):
            raise _invalid_request()  # unrecorded
        if url is not None and not isinstance(url, str):
            raise _invalid_request()
        if any(_DATA_TYPE_SCOPES[kind] not in token.scopes for kind in kinds):
            raise _no_access()
        if len(base.webhooks) >= MAX_WEBHOOKS_PER_BASE:
            raise _unrecorded(422, "TOO_MANY_WEBHOOKS_BY_BASE", "A base can have at most 10 webhooks")
        hook = _Webhook(self._new_id("ach"), copy.deepcopy(spec), url, now + WEBHOOK_LIFE_S)
        base.webhooks[hook.id] = hook
        secret = base64.b64encode(bytes(self._rng.getrandbits(8) for _ in range(32))).decode()
        return {"id": hook.id, "macSecretBase64": secret, "expirationTime": _iso(_moment(hook.expires))}

    def _payloads(
        self, hook: _Webhook, params: Mapping[str, list[str]], token: AccessToken, now: float
    ) -> Json:
        kinds = hook.specification["options"]["filters"]["dataTypes"]
        if any(_DATA_TYPE_SCOPES[kind] not in token.scopes for kind in kinds):
            raise _no_access()
        if not set(params) <= {"cursor", "limit"}:
            raise _invalid_request()
        try:
            cursor = int(params.get("cursor", ["1"])[-1])
            limit = int(params.get("limit", [str(MAX_PAYLOADS_PER_PAGE)])[-1])
        except ValueError:
            raise _invalid_request() from None
        if cursor < 1 or not 1 <= limit <= MAX_PAYLOADS_PER_PAGE:
            raise _invalid_request()  # unrecorded
        if hook.active(now):  # "Calling this endpoint will also extend the life of the webhook"
            hook.expires = now + WEBHOOK_LIFE_S
        # Payloads are numbered for good: a cursor whose payloads were deleted gets the next kept
        # ones, and the answer's cursor shows the gap (unrecorded; the numbering is documented).
        pending = [payload for number, _, payload in hook.payloads if number >= cursor]
        numbers = [number for number, _, _ in hook.payloads if number >= cursor][:limit]
        return {
            "payloads": copy.deepcopy(pending[:limit]),
            "cursor": numbers[-1] + 1 if numbers else cursor,
            "mightHaveMore": len(pending) > limit,
        }

    def _sweep(self, base: _Base, now: float) -> None:
        """Forget webhooks expired a week ago and payloads older than a week."""
        for hook in list(base.webhooks.values()):
            if now >= hook.expires + WEBHOOK_KEPT_S:
                del base.webhooks[hook.id]
            else:
                hook.payloads = [kept for kept in hook.payloads if now - kept[1] < PAYLOAD_KEPT_S]

    @contextmanager
    def _merchant(self, base: _Base) -> Iterator[None]:
        """A change made by the base owner in the Airtable UI."""
        with self._transaction(base, _Transaction("client", OWNER, "create")):
            yield

    @contextmanager
    def _transaction(self, base: _Base, txn: _Transaction) -> Iterator[None]:
        """Collect the changes made inside; unless it raises, each active webhook gets one payload."""
        outer, self._txn = self._txn, txn
        try:
            yield
            if txn.tables:
                self._publish(base, txn)
        finally:
            self._txn = outer

    def _note(self, table: _Table) -> _TableChanges:
        if self._txn is None:  # set-up outside any transaction: nobody watches it
            return _TableChanges()
        return self._txn.tables.setdefault(table.id, _TableChanges())

    def _destroyed(self, table: _Table, record_id: str) -> None:
        changes = self._note(table)
        changes.before.pop(record_id, None)
        if record_id in changes.created:  # created and destroyed in one go: nothing to report
            del changes.created[record_id]
        else:
            changes.destroyed.append(record_id)

    def _publish(self, base: _Base, txn: _Transaction) -> None:
        now = self._now()
        self._sweep(base, now)
        base.transactions += 1
        for hook in base.webhooks.values():
            if not hook.active(now):
                continue
            payload = _payload(base, txn, hook.specification)
            if payload is None:
                continue
            payload = {
                "timestamp": _iso(_moment(now)),
                "baseTransactionNumber": base.transactions,
                "actionMetadata": {
                    "source": txn.source,
                    "sourceMetadata": {
                        "user": {**txn.user.as_json(), "permissionLevel": txn.permission_level}
                    },
                },
                "payloadFormat": "v0",
                **payload,
            }
            hook.payloads.append((hook.next_cursor, now, payload))
            hook.next_cursor += 1

    # -- helpers --

    def _new_id(self, prefix: str) -> str:
        return prefix + "".join(self._rng.choice(_ID_ALPHABET) for _ in range(14))

    def _table(self, base_id: str, key: str) -> _Table:
        table = self._bases[base_id].table(key)
        if table is None:
            raise ValueError(f"base {base_id} has no table {key!r}")
        return table

    def _field(self, table: _Table, key: str) -> _Field:
        fld = table.field(key)
        if fld is None:
            raise _unknown_field(key)
        return fld

    def _existing(
        self, table: _Table, record_id: Json, missing: Callable[[], _Rejected] | None = None
    ) -> _Record:
        record = table.records.get(record_id) if isinstance(record_id, str) else None
        if record is None:
            if missing is not None:
                raise missing()
            # Quoted from a real answer in an airtable-mcp-server issue.
            raise _error(422, "ROW_DOES_NOT_EXIST", f"Record ID {record_id} does not exist in this table")
        return record

    def _new_record(self, table: _Table, cells: Mapping[str, Json], author: Collaborator) -> _Record:
        stamp = _moment(self._now())
        record = _Record(self._record_ids(), stamp, table.next_serial, author, stamp, author)
        record.cells = {fid: value for fid, value in cells.items() if not _empty(value)}
        table.next_serial += 1
        table.records[record.id] = record
        self._note(table).created[record.id] = None
        return record

    def _edit(
        self, table: _Table, record: _Record, cells: Mapping[str, Json], replace: bool, author: Collaborator
    ) -> None:
        """PATCH merges ``cells`` into the record; PUT (``replace``) keeps only ``cells``."""
        changes = self._note(table)
        if record.id not in changes.created:
            changes.before.setdefault(record.id, _values(table, record))
        if replace:
            record.cells = {}
        for fid, value in cells.items():
            if _empty(value):
                record.cells.pop(fid, None)
            else:
                record.cells[fid] = value
        record.modified = _moment(self._now())
        record.modified_by = author


def _v2(fld: _Field, value: Json) -> Json:
    """A cell value as webhooks carry it (field model, "Cell format V2"): select options whole."""
    if fld.type not in ("singleSelect", "multipleSelects"):
        return copy.deepcopy(value)
    choices = {str(c["name"]): c for c in (fld.options or {}).get("choices", [])}

    def option(name: Json) -> Json:
        choice = choices.get(str(name), {"id": None, "name": name})
        return {key: choice[key] for key in ("id", "name", "color") if key in choice}

    return option(value) if fld.type == "singleSelect" else [option(v) for v in value]


def _cells(table: _Table, values: Mapping[str, Json], wanted: Iterable[str]) -> Json:
    by_id = {fld.id: fld for fld in table.fields}
    return {
        fid: None if values.get(fid) is None else _v2(by_id[fid], values[fid])
        for fid in wanted
        if fid in by_id
    }


def _payload(base: _Base, txn: _Transaction, spec: Json) -> Json | None:
    """What a webhook of ``spec`` reports of ``txn`` (webhooks payload, table changed); None if nothing."""
    filters, includes = spec["options"]["filters"], spec["options"].get("includes", {})
    kinds, scope = set(filters["dataTypes"]), filters.get("recordChangeScope")
    wanted = includes.get("includeCellValuesInFieldIds")
    changed: Json = {}
    created: Json = {}
    for table_id, changes in txn.tables.items():
        table = base.table(table_id)
        if table is None or (scope is not None and scope != table_id):
            continue
        if changes.new:
            new: Json = {}
            if "tableMetadata" in kinds:
                new["metadata"] = {"name": table.name, "description": table.description}
            if "tableFields" in kinds:
                new["fieldsById"] = {f.id: {"name": f.name, "type": f.type} for f in table.fields}
            if "tableData" in kinds and table.records:
                new["recordsById"] = _created(table, changes.created)
            if new:
                created[table_id] = new
            continue
        out: Json = {}
        if "tableMetadata" in kinds and changes.renamed_from is not None:
            description = table.description
            out["changedMetadata"] = {
                "current": {"name": table.name, "description": description},
                "previous": {"name": changes.renamed_from, "description": description},
            }
        if "tableFields" in kinds:
            fields = {f.id: f for f in table.fields}
            if changes.created_fields:
                out["createdFieldsById"] = {
                    fid: {"name": fields[fid].name, "type": fields[fid].type}
                    for fid in changes.created_fields
                }
            if changes.renamed_fields:
                out["changedFieldsById"] = {
                    fid: {"current": {"name": fields[fid].name}, "previous": {"name": old}}
                    for fid, old in changes.renamed_fields.items()
                }
        if "tableData" in kinds:
            if changes.created:
                out["createdRecordsById"] = _created(table, changes.created)
            records = _changed(table, changes.before, wanted, bool(includes.get("includePreviousCellValues")))
            if records:
                out["changedRecordsById"] = records
            if changes.destroyed:
                out["destroyedRecordIds"] = list(changes.destroyed)
        if out:
            changed[table_id] = out
    if not changed and not created:
        return None
    return {
        **({"changedTablesById": changed} if changed else {}),
        **({"createdTablesById": created} if created else {}),
    }


def _created(table: _Table, ids: Iterable[str]) -> Json:
    # Created records carry every value (unrecorded whether ``includes`` narrows them).
    out: Json = {}
    for rid in ids:
        record = table.records.get(rid)
        if record is not None:
            values = _values(table, record)
            out[rid] = {
                "cellValuesByFieldId": _cells(table, values, values),
                "createdTime": _iso(record.created),
            }
    return out


def _changed(table: _Table, before: Mapping[str, Mapping[str, Json]], wanted: Json, previous: bool) -> Json:
    out: Json = {}
    for rid, old in before.items():
        record = table.records.get(rid)
        if record is None:
            continue
        now = _values(table, record)
        diff = [f.id for f in table.fields if old.get(f.id) != now.get(f.id)]
        if not diff:
            continue
        # A cleared cell is null in ``current`` (unrecorded: the reference shows no cleared cell).
        entry: Json = {"current": {"cellValuesByFieldId": _cells(table, now, diff)}}
        if previous:
            entry["previous"] = {"cellValuesByFieldId": _cells(table, old, diff)}
        if wanted is not None:  # unrecorded: which values ``unchanged`` holds is our reading of the docs
            kept = [fid for fid in (now if wanted == "all" else wanted) if fid not in diff and fid in now]
            entry["unchanged"] = {"cellValuesByFieldId": _cells(table, now, kept)}
        out[rid] = entry
    return out


def _fire(fault: Fault) -> httpx.Response:
    return fault.fire(_status_body)


def _status_body(status: int) -> httpx.Response:
    body = _STATUS_BODIES.get(status)
    if body is None:  # Airtable documents these statuses without a body
        body = {"error": {"type": "SERVER_ERROR", "message": f"FakeAirtable scripted a {status}"}}
    return _json_response(body, status)
