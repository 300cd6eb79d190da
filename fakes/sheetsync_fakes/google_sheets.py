"""An in-memory Google Sheets API v4, plus Google's OAuth token endpoint, spoken to over the wire.

``FakeSheets`` is a handler (``httpx.Request -> httpx.Response``, see :mod:`sheetsync_fakes.wire`)
that answers the endpoints sheetsync and gspread use, with the status codes, bodies and error
envelopes recorded from the live API (``sheetsync_fakes/reference/sheets``). What it reproduces:

- A1 ranges: quoted titles with ``''`` escapes, unquoted titles (spaces and emoji included),
  ranges without a sheet (the first visible sheet), columns up to ``ZZZ``, ``$`` markers, lower
  case, whole columns (``A:C``), whole rows (``2:5``), open ends (``A5:C``, ``A1:5``), reversed
  corners. Open ranges resolve to the grid (``Sheet1!A1:Z1000``), not to the used range; a range
  that starts past the grid is refused, one that ends past it is clipped (reads, clears and
  formatting). A bare text is read as A1 before it is read as a sheet title, which is why a sheet
  called ``D3`` must be quoted. Returned titles are quoted only when needed.
- Values: trailing empty cells and rows are left out and an empty range has no ``values`` key;
  ``null`` cells leave the cell alone and are not counted; a write that does not fit its range
  or the grid is refused whole, with Google's 400; RAW stores what is sent; USER_ENTERED
  parses numbers (``"0042"`` becomes 42), ``TRUE``/``FALSE``, ``=formulas``, a leading ``'``
  (forced text), percentages, thousands separators, ``$`` amounts and ISO or US dates (kept as
  a date serial that displays as typed), except in a cell formatted as Plain text (numberFormat
  TEXT), which keeps what is typed. FORMATTED_VALUE answers strings, UNFORMATTED_VALUE
  numbers and booleans, FORMULA the formula text.
- Formulas are stored, not computed, except plain arithmetic (``=4/2``, ``=(1+2)*3``, ``^``).
  Any other formula renders as its own text under every option: a best effort, never a guess.
- ``values:append`` finds its table as Google does in the recordings: the last filled cell of
  the input range, grown to the block of cells around it that no empty row or column cuts off.
  Rows go below that block from its first column; the grid grows to fit (INSERT_ROWS also
  pushes the rows below down).
- ``:batchUpdate`` is atomic, its requests applied in order on a copy that replaces the
  spreadsheet only if every one succeeds: addSheet, deleteSheet, updateSheetProperties,
  repeatCell, updateCells, appendCells (after the last row with data, growing the grid),
  setDataValidation, addConditionalFormatRule, addProtectedRange (by a GridRange; warning-only
  or not, editors are not enforced), updateDimensionProperties on columns (pixelSize,
  hiddenByUser), appendDimension, and insertDimension and deleteDimension on rows (cells, notes,
  formats, validations, conditional-format and protected ranges and frozen rows follow; a new
  row takes the formats of the row it inherits from; the grid must keep a row below its frozen
  ones, as Google says). A kind the API does not have is refused with Google's
  "Unknown name" 400; a real kind this fake does not model (or columns for insertDimension and
  deleteDimension) answers 501, so a test can never pass against behaviour nobody wrote.
- Auth: every Sheets call needs ``Authorization: Bearer <token>`` issued by ``/token`` (the
  service-account JWT-bearer grant; the signature is not checked, the claims are) or given to
  the constructor. The token's e-mail is the caller: a spreadsheet not shared with it answers
  403, nor may a Viewer (``share(..., role="reader")``) write, read-only scopes cannot write, an
  unknown id answers 404. A ``:batchUpdate`` with no requests is refused (400) after the
  permission check, so an Editor can be told from a Viewer without changing anything.
- Quotas: read and write requests per user per minute, as a sliding 60 s window on the
  injected clock; past it, the recorded 429 (which carries no Retry-After).
- ``Date``: every answer carries Google's time, as the live API's do, when the fake is given a
  wall clock (``wall``, epoch seconds); without one (tests whose times are made up) it has none.

The merchant's hands (``set_values``, ``insert_rows``, ``delete_row``, ``insert_columns``,
``move_columns``, ``move_rows``, ``rename_sheet``) edit the grid as the Sheets UI does, between
API calls: cells, formats, validations and conditional-format ranges move with their rows and
columns.

Developer metadata on columns (``createDeveloperMetadata`` and ``deleteDeveloperMetadata`` in
``:batchUpdate``, ``developerMetadata:search`` by lookup) moves with its column under inserts and
drags, and ``values:batchUpdateByDataFilter`` writes through it (or an A1 range) to where the
column is at the moment of the write.

Not modelled: the cell-count limit, named ranges, enforcing protected ranges, merges, effective
formats, validation enforcement, per-project quotas. Error texts that no recording or public
report pins down are built by ``_unrecorded_400`` (or say so beside them).
"""

from __future__ import annotations

import ast
import base64
import binascii
import copy
import datetime as dt
import json
import operator
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

import httpx

from sheetsync_fakes.wire import Fault, FaultScript

Json = Any  # a decoded JSON value; the API's shapes are checked where they are used

Operation = Literal[
    "oauth2.token",
    "spreadsheets.get",
    "spreadsheets.batchUpdate",
    "spreadsheets.values.get",
    "spreadsheets.values.batchGet",
    "spreadsheets.values.update",
    "spreadsheets.values.batchUpdate",
    "spreadsheets.values.append",
    "spreadsheets.values.clear",
    "spreadsheets.values.batchClear",
    "spreadsheets.values.batchUpdateByDataFilter",
    "spreadsheets.developerMetadata.search",
]
_READS = frozenset(
    {
        "spreadsheets.get",
        "spreadsheets.values.get",
        "spreadsheets.values.batchGet",
        "spreadsheets.developerMetadata.search",
    }
)

OAUTH_AUDIENCE = "https://oauth2.googleapis.com/token"  #: the JWT ``aud`` of the token endpoint
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_ROWS = 1000  #: rows of a new sheet (Sheets UI and addSheet default)
DEFAULT_COLUMNS = 26  #: columns of a new sheet
MAX_CELL_CHARACTERS = 50_000  #: Google refuses a longer value in one cell (400 INVALID_ARGUMENT)
MAX_COLUMNS = 18278  #: column ZZZ, the Sheets limit
TOKEN_LIFETIME_S = 3599  #: ``expires_in`` of Google's token endpoint
READ_QUOTA_PER_MINUTE = 60  #: read requests per minute per user (developers.google.com/sheets/api/limits)
WRITE_QUOTA_PER_MINUTE = 60  #: write requests per minute per user (same page)
QUOTA_WINDOW_S = 60.0  #: quotas refill every minute (same page); modelled as a sliding window
_JWT_MAX_LIFETIME_S = 3600  #: Google refuses assertions valid for longer than an hour

_WRITE_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/spreadsheets",
        "https://www.googleapis.com/auth/drive",
        "https://www.googleapis.com/auth/drive.file",
    }
)
_READ_SCOPES = _WRITE_SCOPES | {
    "https://www.googleapis.com/auth/spreadsheets.readonly",
    "https://www.googleapis.com/auth/drive.readonly",
}

#: Every request kind of ``spreadsheets.batchUpdate`` (discovery document, revision 20261019).
_REQUEST_KINDS = frozenset(
    (
        "addBanding",
        "addChart",
        "addCommentReply",
        "addConditionalFormatRule",
        "addDataSource",
        "addDimensionGroup",
        "addFilterView",
        "addNamedRange",
        "addProtectedRange",
        "addSheet",
        "addSlicer",
        "addTable",
        "appendCells",
        "appendDimension",
        "autoFill",
        "autoResizeDimensions",
        "cancelDataSourceRefresh",
        "clearBasicFilter",
        "copyPaste",
        "createDeveloperMetadata",
        "cutPaste",
        "deleteBanding",
        "deleteComment",
        "deleteCommentReply",
        "deleteConditionalFormatRule",
        "deleteDataSource",
        "deleteDeveloperMetadata",
        "deleteDimension",
        "deleteDimensionGroup",
        "deleteDuplicates",
        "deleteEmbeddedObject",
        "deleteFilterView",
        "deleteNamedRange",
        "deleteProtectedRange",
        "deleteRange",
        "deleteSheet",
        "deleteTable",
        "duplicateFilterView",
        "duplicateSheet",
        "findReplace",
        "insertComment",
        "insertDimension",
        "insertRange",
        "mergeCells",
        "moveDimension",
        "pasteData",
        "randomizeRange",
        "refreshDataSource",
        "repeatCell",
        "setBasicFilter",
        "setDataValidation",
        "sortRange",
        "textToColumns",
        "trimWhitespace",
        "unmergeCells",
        "updateBanding",
        "updateBorders",
        "updateCells",
        "updateChartSpec",
        "updateCommentPost",
        "updateConditionalFormatRule",
        "updateDataSource",
        "updateDeveloperMetadata",
        "updateDimensionGroup",
        "updateDimensionProperties",
        "updateEmbeddedObjectBorder",
        "updateEmbeddedObjectPosition",
        "updateFilterView",
        "updateNamedRange",
        "updateProtectedRange",
        "updateSheetProperties",
        "updateSlicerSpec",
        "updateSpreadsheetProperties",
        "updateTable",
    )
)
#: The request kinds modelled here, with the fields each accepts (discovery document).
_MODELLED_REQUESTS: Mapping[str, frozenset[str]] = {
    "addSheet": frozenset({"properties"}),
    "deleteSheet": frozenset({"sheetId"}),
    "updateSheetProperties": frozenset({"properties", "fields"}),
    "repeatCell": frozenset({"range", "cell", "fields"}),
    "updateCells": frozenset({"rows", "fields", "start", "range"}),
    "appendCells": frozenset({"sheetId", "rows", "fields", "tableId"}),
    "setDataValidation": frozenset({"range", "rule", "filteredRowsIncluded"}),
    "addConditionalFormatRule": frozenset({"rule", "index"}),
    "addProtectedRange": frozenset({"protectedRange"}),
    "updateDimensionProperties": frozenset({"range", "properties", "fields", "dataSourceSheetRange"}),
    "appendDimension": frozenset({"sheetId", "dimension", "length"}),
    "insertDimension": frozenset({"range", "inheritFromBefore"}),
    "deleteDimension": frozenset({"range"}),
    "createDeveloperMetadata": frozenset({"developerMetadata"}),
    "deleteDeveloperMetadata": frozenset({"dataFilter"}),
}
_DEVELOPER_METADATA = frozenset({"metadataId", "metadataKey", "metadataValue", "location", "visibility"})
_METADATA_LOOKUP = frozenset(
    {"locationType", "metadataKey", "metadataValue", "metadataId", "visibility"}
    | {"metadataLocation", "locationMatchingStrategy"}
)
_DATA_FILTER = frozenset({"a1Range", "developerMetadataLookup", "gridRange"})
_DIMENSION_RANGE = frozenset({"sheetId", "dimension", "startIndex", "endIndex"})
_SHEET_PROPERTIES = frozenset(
    {"sheetId", "title", "index", "sheetType", "gridProperties", "hidden", "tabColor"}
    | {"tabColorStyle", "rightToLeft", "dataSourceSheetProperties"}
)
_GRID_PROPERTIES = frozenset(
    {"rowCount", "columnCount", "frozenRowCount", "frozenColumnCount", "hideGridlines"}
    | {"rowGroupControlAfter", "columnGroupControlAfter"}
)
_CELL_FIELDS = frozenset({"userEnteredValue", "userEnteredFormat", "dataValidation", "note"})
#: ProtectedRange's fields (discovery document); the read-only ones are refused on write.
_PROTECTED_RANGE = frozenset(
    {"protectedRangeId", "range", "namedRangeId", "tableId", "description", "warningOnly"}
    | {"requestingUserCanEdit", "unprotectedRanges", "editors"}
)
#: DimensionProperties' fields (discovery document); the last two are not modelled.
_DIMENSION_PROPERTIES = frozenset(
    {"pixelSize", "hiddenByUser", "developerMetadata", "dataSourceColumnReference"}
)
DEFAULT_COLUMN_PIXELS = 100  #: a new column's width in the Sheets UI

_SYSTEM_PARAMS = frozenset(
    {"$.xgafv", "access_token", "alt", "callback", "fields", "key", "oauth_token", "prettyPrint"}
    | {"quotaUser", "uploadType", "upload_protocol"}
)
_WRITE_PARAMS = frozenset(
    {"valueInputOption", "includeValuesInResponse", "responseValueRenderOption"}
    | {"responseDateTimeRenderOption"}
)
_READ_PARAMS = frozenset({"majorDimension", "valueRenderOption", "dateTimeRenderOption"})
_PARAMS: Mapping[str, frozenset[str]] = {
    "spreadsheets.get": frozenset({"includeGridData", "ranges", "excludeTablesInBandedRanges"}),
    "spreadsheets.batchUpdate": frozenset(),
    "spreadsheets.values.get": _READ_PARAMS,
    "spreadsheets.values.batchGet": _READ_PARAMS | {"ranges"},
    "spreadsheets.values.update": _WRITE_PARAMS,
    "spreadsheets.values.batchUpdate": frozenset(),
    "spreadsheets.values.append": _WRITE_PARAMS | {"insertDataOption"},
    "spreadsheets.values.clear": frozenset(),
    "spreadsheets.values.batchClear": frozenset(),
    "spreadsheets.values.batchUpdateByDataFilter": frozenset(),
    "spreadsheets.developerMetadata.search": frozenset(),
}
#: Enum-valued parameters: proto field name, proto type and accepted values.
_ENUMS: Mapping[str, tuple[str, str, frozenset[str]]] = {
    "valueInputOption": (
        "value_input_option",
        "ValueInputOption",
        frozenset({"INPUT_VALUE_OPTION_UNSPECIFIED", "RAW", "USER_ENTERED"}),
    ),
    "valueRenderOption": (
        "value_render_option",
        "ValueRenderOption",
        frozenset({"FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"}),
    ),
    "dateTimeRenderOption": (
        "date_time_render_option",
        "DateTimeRenderOption",
        frozenset({"SERIAL_NUMBER", "FORMATTED_STRING"}),
    ),
    "majorDimension": (
        "major_dimension",
        "Dimension",
        frozenset({"DIMENSION_UNSPECIFIED", "ROWS", "COLUMNS"}),
    ),
    "insertDataOption": ("insert_data_option", "InsertDataOption", frozenset({"OVERWRITE", "INSERT_ROWS"})),
}
_ENUMS_BY_ALIAS = {
    "responseValueRenderOption": _ENUMS["valueRenderOption"],
    "responseDateTimeRenderOption": _ENUMS["dateTimeRenderOption"],
}

_RPC_STATUS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "Internal error encountered."),
    501: ("UNIMPLEMENTED", "Operation is not implemented, or supported, or enabled."),
    502: ("UNAVAILABLE", "Bad gateway."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
    504: ("DEADLINE_EXCEEDED", "The request timed out."),
}
_AUTH_HINT = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_JSON_TYPE = "application/json; charset=UTF-8"

#: ``properties.defaultFormat`` and ``spreadsheetTheme`` of a new spreadsheet, as recorded.
_DEFAULT_FORMAT: Json = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {},
        "fontFamily": "arial,sans,sans-serif",
        "fontSize": 10,
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}
_THEME_COLORS: tuple[tuple[str, dict[str, float]], ...] = (
    ("TEXT", {}),
    ("BACKGROUND", {"red": 1, "green": 1, "blue": 1}),
    ("ACCENT1", {"red": 0.25882354, "green": 0.52156866, "blue": 0.95686275}),
    ("ACCENT2", {"red": 0.91764706, "green": 0.2627451, "blue": 0.20784314}),
    ("ACCENT3", {"red": 0.9843137, "green": 0.7372549, "blue": 0.015686275}),
    ("ACCENT4", {"red": 0.20392157, "green": 0.65882355, "blue": 0.3254902}),
    ("ACCENT5", {"red": 1, "green": 0.42745098, "blue": 0.003921569}),
    ("ACCENT6", {"red": 0.27450982, "green": 0.7411765, "blue": 0.7764706}),
    ("LINK", {"red": 0.06666667, "green": 0.33333334, "blue": 0.8}),
)
_THEME: Json = {
    "primaryFontFamily": "Arial",
    "themeColors": [{"colorType": kind, "color": {"rgbColor": rgb}} for kind, rgb in _THEME_COLORS],
}


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Formula:
    """A formula as entered (``=4/2``)."""

    text: str


@dataclass(frozen=True, slots=True)
class _Displayed:
    """A number typed with a display format: a date (as its serial), ``12%``, ``1,234``, ``$5``.

    ``text`` is what FORMATTED_VALUE shows: the input as typed, which is the format Sheets keeps.
    """

    number: int | float
    text: str
    is_date: bool


_CellValue = str | int | float | bool | _Formula | _Displayed
_Grid = dict[int, dict[int, _CellValue]]  # row -> column -> value; an empty cell has no entry

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED = re.compile(r"([+-]?)\$?(\d{1,3}(?:,\d{3})+(?:\.\d+)?)")
_CURRENCY = re.compile(r"([+-]?)\$(\d+(?:\.\d+)?)")
_PERCENT = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))%")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_EPOCH = dt.date(1899, 12, 30)  # day 0 of Sheets date serials


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and re.fullmatch(r"[+-]?\d+", text) else value


def _user_entered(text: str) -> _CellValue | None:
    """Parse text as if typed in the Sheets UI (en_US locale); None means an empty cell."""
    if text.startswith("="):
        return _Formula(text)
    if text.startswith("'"):
        return text[1:] or None
    plain = text.strip()
    if not plain:
        return None
    if plain.upper() in ("TRUE", "FALSE"):
        return plain.upper() == "TRUE"
    if _NUMBER.fullmatch(plain):
        return _number(plain)
    if match := _GROUPED.fullmatch(plain) or _CURRENCY.fullmatch(plain):
        magnitude = _number(match.group(2).replace(",", ""))
        return _Displayed(-magnitude if match.group(1) == "-" else magnitude, plain, is_date=False)
    if match := _PERCENT.fullmatch(plain):
        return _Displayed(float(match.group(1)) / 100, plain, is_date=False)
    if match := _ISO_DATE.fullmatch(plain):
        year, month, day = (int(g) for g in match.groups())
    elif match := _US_DATE.fullmatch(plain):
        month, day, year = (int(g) for g in match.groups())
    else:
        return text
    try:
        serial = (dt.date(year, month, day) - _EPOCH).days
    except ValueError:
        return text
    return _Displayed(serial, plain, is_date=True)


def _json_number(value: int | float) -> int | float:
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 else value


def _formatted_number(value: int | float) -> str:
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{value:.15g}".upper()


_ARITHMETIC: Mapping[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def _arithmetic(node: ast.expr) -> float | None:
    """Value of a tree of numbers and + - * / ^, or None for anything else."""
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _arithmetic(node.operand)
        return None if operand is None else (-operand if isinstance(node.op, ast.USub) else operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _arithmetic(node.left), _arithmetic(node.right)
        if left is None or right is None:
            return None
        return _ARITHMETIC[type(node.op)](left, right)
    return None


def _evaluate(formula: _Formula) -> _CellValue:
    """Compute plain arithmetic; any other formula stays its own text (see the module docstring)."""
    try:
        tree = ast.parse(formula.text[1:].replace("^", "**"), mode="eval")
        value = _arithmetic(tree.body)
    except SyntaxError:
        return formula.text
    except ZeroDivisionError:
        return "#DIV/0!"
    except OverflowError:
        return "#NUM!"
    return formula.text if value is None else _json_number(value)


def _render(value: _CellValue, render: str, date_render: str) -> Json:
    if isinstance(value, _Formula):
        if render == "FORMULA":
            return value.text
        value = _evaluate(value)
    if isinstance(value, _Displayed):
        if render == "FORMATTED_VALUE" or (value.is_date and date_render == "FORMATTED_STRING"):
            return value.text
        return _json_number(value.number)
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE") if render == "FORMATTED_VALUE" else value
    if isinstance(value, int | float):
        return _formatted_number(value) if render == "FORMATTED_VALUE" else _json_number(value)
    return value


# --- A1 notation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bounds:
    """A range as written, 0-based and end-exclusive; None is an open side (``A:C``, ``A5:C``)."""

    r0: int | None
    r1: int | None
    c0: int | None
    c1: int | None


@dataclass(frozen=True, slots=True)
class _Area:
    """A range resolved on one sheet's grid: 0-based, end-exclusive, never open."""

    sheet: _Sheet
    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def a1(self) -> str:
        return _a1(self.sheet.title, _Bounds(self.r0, self.r1, self.c0, self.c1))


_WHOLE_SHEET = _Bounds(None, None, None, None)
_ENDPOINT = re.compile(r"\$?([A-Za-z]{0,3})\$?([0-9]*)")
_PLAIN_TITLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE_LIKE = re.compile(r"[A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*")


def _placed(start: int, count: int, destination: int, size: int) -> Callable[[int], int]:
    """Where each 0-based index goes when ``count`` of them from ``start`` move before ``destination``."""
    end = start + count
    order = list(range(max(size, end, destination)))
    block, rest = order[start:end], order[:start] + order[end:]
    at = destination if destination <= start else destination - count
    placed = {old: new for new, old in enumerate(rest[:at] + block + rest[at:])}
    return lambda index: placed.get(index, index)


def _column_letters(index: int) -> str:
    """``0 -> A``, ``25 -> Z``, ``26 -> AA``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _quote_title(title: str) -> str:
    """A sheet title as Google writes it in a range: quoted only when it must be."""
    if _PLAIN_TITLE.fullmatch(title) and not _REFERENCE_LIKE.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def _endpoint(text: str) -> tuple[int | None, int | None] | None:
    match = _ENDPOINT.fullmatch(text)
    if not match or not (match.group(1) or match.group(2)):
        return None
    column = _column_index(match.group(1)) if match.group(1) else None
    row = int(match.group(2)) - 1 if match.group(2) else None
    if row is not None and row < 0:
        return None
    return column, row


def _parse_a1(text: str) -> _Bounds | None:
    """The cell part of a range (``B2``, ``A1:C``, ``2:5``, ``D4:A1``), or None if it is not one."""
    ends = [_endpoint(part) for part in text.split(":")]
    if not 1 <= len(ends) <= 2 or None in ends:
        return None
    (ca, ra), (cb, rb) = ends[0] or (None, None), ends[-1] or (None, None)
    if len(ends) == 1:
        if ca is None or ra is None:
            return None
        return _Bounds(ra, ra + 1, ca, ca + 1)

    def span(a: int | None, b: int | None) -> tuple[int | None, int | None]:
        if a is None:
            return None, None
        return (a, a + 1) if b is None else (min(a, b), max(a, b) + 1)

    if ca is not None and ra is not None:  # a cell, then a cell, a column or a row
        if cb is not None and rb is not None:
            (r0, r1), (c0, c1) = span(ra, rb), span(ca, cb)
            return _Bounds(r0, r1, c0, c1)
        if cb is not None:
            (c0, c1) = span(ca, cb)
            return _Bounds(ra, None, c0, c1)
        (r0, r1) = span(ra, rb)
        return _Bounds(r0, r1, ca, None)
    if ra is None and rb is None and ca is not None and cb is not None:  # A:C
        (c0, c1) = span(ca, cb)
        return _Bounds(None, None, c0, c1)
    if ca is None and cb is None and ra is not None and rb is not None:  # 2:5
        (r0, r1) = span(ra, rb)
        return _Bounds(r0, r1, None, None)
    return None


def _a1(title: str, bounds: _Bounds) -> str:
    """Google's spelling of a range, open sides included (``Sheet1!A1:D4``, ``T!A1001:B``, ``2:5``)."""
    b = bounds
    if b.c0 is None and b.c1 is None:  # whole rows: only A1 text gives these, always closed
        cells = f"{(b.r0 or 0) + 1}:{b.r1}"
    elif b.r0 is None and b.r1 is None:  # whole columns, likewise
        cells = f"{_column_letters(b.c0 or 0)}:{_column_letters((b.c1 or 1) - 1)}"
    else:
        start = f"{_column_letters(b.c0 or 0)}{(b.r0 or 0) + 1}"
        if b.r1 is not None and b.c1 is not None:
            single = b.r1 - (b.r0 or 0) == 1 and b.c1 - (b.c0 or 0) == 1
            cells = start if single else f"{start}:{_column_letters(b.c1 - 1)}{b.r1}"
        elif b.c1 is not None:
            cells = f"{start}:{_column_letters(b.c1 - 1)}"
        elif b.r1 is not None:
            cells = f"{start}:{b.r1}"
        else:
            cells = start
    return f"{_quote_title(title)}!{cells}"


# --- the spreadsheet --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SheetSpec:
    """A sheet to create with :meth:`FakeSheets.create_spreadsheet`."""

    title: str
    rows: int = DEFAULT_ROWS
    columns: int = DEFAULT_COLUMNS
    sheet_id: int | None = None
    frozen_rows: int = 0


@dataclass(eq=False)
class _Sheet:
    props: dict[str, Json]  # SheetProperties as the API shows them; "index" kept in step
    cells: _Grid = field(default_factory=dict)
    formats: dict[tuple[int, int], Json] = field(default_factory=dict)
    validations: dict[tuple[int, int], Json] = field(default_factory=dict)
    conditional_formats: list[Json] = field(default_factory=list)
    notes: dict[tuple[int, int], str] = field(default_factory=dict)
    protected_ranges: list[Json] = field(default_factory=list)  # ProtectedRange as the API shows it
    column_properties: dict[int, Json] = field(default_factory=dict)  # column → pixelSize, hiddenByUser
    #: developer metadata on columns: metadataId → key, value, visibility and the column it is on
    column_metadata: dict[int, Json] = field(default_factory=dict)

    @property
    def sheet_id(self) -> int:
        return int(self.props["sheetId"])

    @property
    def title(self) -> str:
        return str(self.props["title"])

    @property
    def rows(self) -> int:
        return int(self.props["gridProperties"]["rowCount"])

    @property
    def columns(self) -> int:
        return int(self.props["gridProperties"]["columnCount"])

    @property
    def hidden(self) -> bool:
        return bool(self.props.get("hidden"))

    def clone(self) -> _Sheet:
        return _Sheet(
            copy.deepcopy(self.props),
            {row: dict(cells) for row, cells in self.cells.items()},
            dict(self.formats),
            dict(self.validations),
            copy.deepcopy(self.conditional_formats),
            dict(self.notes),
            copy.deepcopy(self.protected_ranges),
            copy.deepcopy(self.column_properties),
            copy.deepcopy(self.column_metadata),
        )

    def set(self, row: int, column: int, value: _CellValue | None) -> None:
        if value is None:
            line = self.cells.get(row)
            if line is not None:
                line.pop(column, None)
                if not line:
                    del self.cells[row]
        else:
            self.cells.setdefault(row, {})[column] = value

    def crop(self) -> None:
        """Drop what a shrunken grid no longer holds."""
        rows, columns = self.rows, self.columns
        self.cells = {
            r: kept
            for r, line in self.cells.items()
            if r < rows and (kept := {c: v for c, v in line.items() if c < columns})
        }
        self.formats = {k: v for k, v in self.formats.items() if k[0] < rows and k[1] < columns}
        self.validations = {k: v for k, v in self.validations.items() if k[0] < rows and k[1] < columns}
        self.notes = {k: v for k, v in self.notes.items() if k[0] < rows and k[1] < columns}

    def shift_rows(self, start: int, count: int) -> None:
        """Insert ``count`` empty rows before row ``start``."""

        def moved(row: int) -> int:
            return row + count if row >= start else row

        self.cells = {moved(r): line for r, line in self.cells.items()}
        self.formats = {(moved(r), c): v for (r, c), v in self.formats.items()}
        self.validations = {(moved(r), c): v for (r, c), v in self.validations.items()}
        self.notes = {(moved(r), c): v for (r, c), v in self.notes.items()}
        self.props["gridProperties"]["rowCount"] += count

    def remap_columns(self, moved: Callable[[int], int], added: int = 0) -> None:
        """Move every column (cells, notes, formats, validations, widths, rule ranges) by ``moved``."""
        self.cells = {r: {moved(c): v for c, v in line.items()} for r, line in self.cells.items()}
        self.formats = {(r, moved(c)): v for (r, c), v in self.formats.items()}
        self.validations = {(r, moved(c)): v for (r, c), v in self.validations.items()}
        self.notes = {(r, moved(c)): v for (r, c), v in self.notes.items()}
        self.column_properties = {moved(c): v for c, v in self.column_properties.items()}
        for item in self.column_metadata.values():  # metadata travels with its column
            item["column"] = moved(int(item["column"]))
        for grid_range in self.rule_ranges():
            if "startColumnIndex" in grid_range:
                width = int(grid_range.get("endColumnIndex", grid_range["startColumnIndex"] + 1))
                width -= int(grid_range["startColumnIndex"])
                grid_range["startColumnIndex"] = moved(int(grid_range["startColumnIndex"]))
                if "endColumnIndex" in grid_range:
                    grid_range["endColumnIndex"] = grid_range["startColumnIndex"] + width
        self.props["gridProperties"]["columnCount"] += added

    def remap_rows(self, moved: Callable[[int], int]) -> None:
        """Move every row (cells, notes, formats, validations, rule ranges) by ``moved``: a drag."""
        self.cells = {moved(r): line for r, line in self.cells.items()}
        self.formats = {(moved(r), c): v for (r, c), v in self.formats.items()}
        self.validations = {(moved(r), c): v for (r, c), v in self.validations.items()}
        self.notes = {(moved(r), c): v for (r, c), v in self.notes.items()}
        for grid_range in self.rule_ranges():
            if "startRowIndex" in grid_range and "endRowIndex" in grid_range:
                height = int(grid_range["endRowIndex"]) - int(grid_range["startRowIndex"])
                grid_range["startRowIndex"] = moved(int(grid_range["startRowIndex"]))
                grid_range["endRowIndex"] = grid_range["startRowIndex"] + height

    def drop_rows(self, start: int, count: int) -> None:
        """Delete ``count`` rows from row ``start``; the rows below move up and the grid shrinks."""
        end = start + count

        def kept(row: int) -> bool:
            return not start <= row < end

        def moved(row: int) -> int:
            return row - count if row >= end else row

        self.cells = {moved(r): line for r, line in self.cells.items() if kept(r)}
        self.formats = {(moved(r), c): v for (r, c), v in self.formats.items() if kept(r)}
        self.validations = {(moved(r), c): v for (r, c), v in self.validations.items() if kept(r)}
        self.notes = {(moved(r), c): v for (r, c), v in self.notes.items() if kept(r)}
        self.props["gridProperties"]["rowCount"] -= count

    def rule_ranges(self) -> list[Json]:
        """Every GridRange of the sheet's conditional formats and protected ranges (they move with cells)."""
        found = [r for rule in self.conditional_formats for r in rule.get("ranges", [])]
        return found + [p["range"] for p in self.protected_ranges]


@dataclass(eq=False)
class _Book:
    spreadsheet_id: str
    props: dict[str, Json]
    sheets: list[_Sheet]
    shared_with: set[str]
    viewers: set[str] = field(default_factory=set)  #: shared as Viewer: reads only

    def clone(self) -> _Book:
        return _Book(
            self.spreadsheet_id,
            copy.deepcopy(self.props),
            [sheet.clone() for sheet in self.sheets],
            set(self.shared_with),
            set(self.viewers),
        )

    def reindex(self) -> None:
        for index, sheet in enumerate(self.sheets):
            sheet.props["index"] = index

    def by_title(self, title: str) -> _Sheet | None:
        return next((s for s in self.sheets if s.title == title), None)

    def by_id(self, sheet_id: int) -> _Sheet | None:
        return next((s for s in self.sheets if s.sheet_id == sheet_id), None)


# --- errors and responses ---------------------------------------------------------------------


class _Rejected(Exception):
    """Abandon the request with this answer (private: it never leaves this module)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _json_response(body: Json, status: int = 200, content_type: str = _JSON_TYPE) -> httpx.Response:
    content = json.dumps(body, ensure_ascii=False, indent=2).encode()
    return httpx.Response(status, headers={"Content-Type": content_type}, content=content)


def _rpc_error(status: int, message: str | None = None, details: list[Json] | None = None) -> httpx.Response:
    rpc_status, default = _RPC_STATUS.get(status, ("UNKNOWN", "Unknown error."))
    error: Json = {"code": status, "message": message or default, "status": rpc_status}
    if details:
        error["details"] = details
    return _json_response({"error": error}, status)


def _bad_request(message: str) -> _Rejected:
    return _Rejected(_rpc_error(400, message))


def _unrecorded_400(message: str) -> _Rejected:
    """A 400 whose status is certain but whose wording no recording or public report shows."""
    return _bad_request(message)


def _field_violation(field_name: str, message: str) -> _Rejected:
    violation = {"field": field_name, "description": message} if field_name else {"description": message}
    details = [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}]
    return _Rejected(_rpc_error(400, message, details))


def _invalid_value(field_name: str, proto_type: str, value: Json) -> _Rejected:
    shown = json.dumps(value, ensure_ascii=False)
    return _field_violation(field_name, f"Invalid value at '{field_name}' ({proto_type}), {shown}")


def _unknown_name(name: str, where: str) -> _Rejected:
    at = f" at '{where}'" if where else ""
    return _field_violation(
        where, f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
    )


def _exceeds_grid(sheet: _Sheet, bounds: _Bounds, prefix: str = "") -> _Rejected:
    return _bad_request(
        f"{prefix}Range ({_a1(sheet.title, bounds)}) exceeds grid limits. "
        f"Max rows: {sheet.rows}, max columns: {sheet.columns}"
    )


def _quota_body(kind: Literal["Read", "Write"], project_number: int) -> httpx.Response:
    metric = f"{kind} requests"
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {
                "consumer": f"projects/{project_number}",
                "quota_limit": f"{kind}RequestsPerMinutePerUser",
                "quota_metric": f"sheets.googleapis.com/{kind.lower()}_requests",
                "service": "sheets.googleapis.com",
            },
        }
    ]
    message = (
        f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per user' of service "
        f"'sheets.googleapis.com' for consumer 'project_number:{project_number}'."
    )
    return _rpc_error(429, message, details)


def _unauthenticated(reason: str) -> _Rejected:
    lead = (
        "Request is missing required authentication credential."
        if reason == "CREDENTIALS_MISSING"
        else "Request had invalid authentication credentials."
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "sheets.googleapis.com"},
        }
    ]
    response = _rpc_error(401, f"{lead} {_AUTH_HINT}", details)
    response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return _Rejected(response)


def _oauth_error(error: str, description: str) -> _Rejected:
    body = {"error": error, "error_description": description}
    return _Rejected(_json_response(body, 400, "application/json; charset=utf-8"))


# --- field masks ------------------------------------------------------------------------------

_MASK_PATH = re.compile(r"[A-Za-z0-9_*]+(?:[./][A-Za-z0-9_*]+)*")


def _parse_mask(text: str) -> list[tuple[str, ...]]:
    """``"a.b(c,d/e),f"`` -> ``[("a","b","c"), ("a","b","d","e"), ("f",)]``; ValueError if malformed."""
    paths: list[tuple[str, ...]] = []
    compact = text.replace(" ", "")
    if _mask_items(compact, 0, (), paths) != len(compact):
        raise ValueError(text)
    return paths


def _mask_items(text: str, pos: int, prefix: tuple[str, ...], out: list[tuple[str, ...]]) -> int:
    while True:
        match = _MASK_PATH.match(text, pos)
        if not match:
            raise ValueError(text)
        path = prefix + tuple(re.split(r"[./]", match.group()))
        pos = match.end()
        if text.startswith("(", pos):
            pos = _mask_items(text, pos + 1, path, out)
            if not text.startswith(")", pos):
                raise ValueError(text)
            pos += 1
        else:
            out.append(path)
        if not text.startswith(",", pos):
            return pos
        pos += 1


def _select(value: Json, paths: Sequence[tuple[str, ...]]) -> Json:
    """Keep only what a ``fields`` mask names; lists are filtered element by element."""
    if any(not path for path in paths):
        return value
    if isinstance(value, list):
        return [_select(item, paths) for item in value]
    if not isinstance(value, dict):
        return value
    kept: dict[str, Json] = {}
    for key, item in value.items():
        below = [path[1:] for path in paths if path[0] in (key, "*")]
        if below:
            kept[key] = _select(item, below)
    return kept


def _mask_mentions(paths: Sequence[tuple[str, ...]], wanted: tuple[str, ...]) -> bool:
    """Whether the mask selects ``wanted`` or something inside it."""
    return any(all(a in (b, "*") for a, b in zip(path, wanted, strict=False)) for path in paths)


_MISSING = object()


def _apply_mask(target: dict[str, Json], source: Json, paths: Sequence[tuple[str, ...]]) -> None:
    """Copy each masked path from ``source`` into ``target``; a path ``source`` lacks is cleared."""
    for raw in paths:
        path = raw[:-1] if raw and raw[-1] == "*" else raw
        value: Json = source
        for key in path:
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if not path:
            target.clear()
            target.update(copy.deepcopy(source) if isinstance(source, dict) else {})
            continue
        parent = target
        for key in path[:-1]:
            child = parent.get(key)
            if not isinstance(child, dict):
                if value is _MISSING:
                    break
                child = parent[key] = {}
            parent = child
        else:
            if value is _MISSING:
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = copy.deepcopy(value)


def _with_color_styles(fmt: Json) -> Json:
    """Google answers every ``*Color`` with its ``*ColorStyle`` twin and back; so does the fake."""
    fmt = copy.deepcopy(fmt)

    def pair(holder: Json, color: str, style: str) -> None:
        if not isinstance(holder, dict):
            return
        if color in holder and style not in holder:
            holder[style] = {"rgbColor": holder[color]}
        elif isinstance(holder.get(style), dict) and "rgbColor" in holder[style] and color not in holder:
            holder[color] = holder[style]["rgbColor"]

    pair(fmt, "backgroundColor", "backgroundColorStyle")
    pair(fmt.get("textFormat"), "foregroundColor", "foregroundColorStyle")
    return fmt


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the fake received, for counting calls per operation."""

    operation: str  # an Operation, or "unknown" for a path the fake does not serve
    method: str
    path: str  # percent-decoded
    query: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class SheetsCall:
    """A Sheets request as understood, handed to ``before_request`` before it is applied."""

    operation: Operation
    spreadsheet_id: str
    range: str | None  # the A1 range of the URL path, decoded, when the endpoint has one
    params: Mapping[str, list[str]]
    body: Json
    caller: str  # the service-account e-mail the token belongs to


@dataclass(frozen=True, slots=True)
class _Grant:
    caller: str
    scopes: frozenset[str]
    expires_at: float | None


def _route(method: str, raw_path: str) -> tuple[Operation, str, str | None] | None:
    """Operation, spreadsheet id and A1 range of a Sheets URL path (still percent-encoded)."""
    prefix = "/v4/spreadsheets/"
    if not raw_path.startswith(prefix):
        return None
    head, slash, tail = raw_path[len(prefix) :].partition("/")
    spreadsheet_id = unquote(head.removesuffix(":batchUpdate"))
    if not slash:
        if head.endswith(":batchUpdate") and method == "POST":
            return "spreadsheets.batchUpdate", spreadsheet_id, None
        if ":" not in head and method == "GET":
            return "spreadsheets.get", spreadsheet_id, None
        return None
    collection: dict[tuple[str, str], Operation] = {
        ("GET", "values:batchGet"): "spreadsheets.values.batchGet",
        ("POST", "values:batchUpdate"): "spreadsheets.values.batchUpdate",
        ("POST", "values:batchClear"): "spreadsheets.values.batchClear",
        ("POST", "values:batchUpdateByDataFilter"): "spreadsheets.values.batchUpdateByDataFilter",
        ("POST", "developerMetadata:search"): "spreadsheets.developerMetadata.search",
    }
    if (method, tail) in collection:
        return collection[method, tail], spreadsheet_id, None
    if not tail.startswith("values/") or len(tail) == len("values/"):
        return None
    a1 = tail[len("values/") :]
    actions: dict[tuple[str, str], Operation] = {
        ("POST", ":append"): "spreadsheets.values.append",
        ("POST", ":clear"): "spreadsheets.values.clear",
    }
    for (verb, suffix), operation in actions.items():
        if method == verb and a1.endswith(suffix):
            return operation, spreadsheet_id, unquote(a1.removesuffix(suffix))
    single: dict[str, Operation] = {"GET": "spreadsheets.values.get", "PUT": "spreadsheets.values.update"}
    if method in single:
        return single[method], spreadsheet_id, unquote(a1)
    return None


def _decode_jwt_claims(assertion: str) -> Json:
    try:
        _header, payload, _signature = assertion.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def _enum(params: Mapping[str, list[str]], name: str, default: str) -> str:
    values = params.get(name)
    if not values:
        return default
    field_name, proto_type, accepted = _ENUMS.get(name) or _ENUMS_BY_ALIAS[name]
    if values[-1] not in accepted:
        raise _invalid_value(
            field_name, f"type.googleapis.com/google.apps.sheets.v4.{proto_type}", values[-1]
        )
    return values[-1]


def _flag(params: Mapping[str, list[str]], name: str) -> bool:
    values = params.get(name)
    if not values:
        return False
    if values[-1].lower() not in ("true", "false"):
        snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
        raise _invalid_value(snake, "TYPE_BOOL", values[-1])
    return values[-1].lower() == "true"


def _input_option(value: Json) -> str:
    if value is None or value == "INPUT_VALUE_OPTION_UNSPECIFIED":
        # Google's two wordings: a missing query parameter vs an unset body field.
        raise _bad_request(
            "'valueInputOption' is required but not specified"
            if value is None
            else "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED"
        )
    field_name, proto_type, accepted = _ENUMS["valueInputOption"]
    if value not in accepted:
        raise _invalid_value(field_name, f"type.googleapis.com/google.apps.sheets.v4.{proto_type}", value)
    return str(value)


def _major(value_range: Json) -> str:
    """The ``majorDimension`` of a ValueRange in a request body (``null`` means ROWS)."""
    given = value_range.get("majorDimension")
    return _enum({"majorDimension": [given]}, "majorDimension", "ROWS") if given else "ROWS"


def _fields_mask(params: Mapping[str, list[str]]) -> list[tuple[str, ...]] | None:
    """The ``fields`` query parameter (a partial-response mask), if any."""
    if "fields" not in params:
        return None
    try:
        return _parse_mask(",".join(params["fields"]))
    except ValueError:
        raise _unrecorded_400(f"Invalid field selection {params['fields'][-1]}") from None


def _check_keys(obj: Json, allowed: Iterable[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise _field_violation(where, f"Invalid JSON payload received. Expected an object at '{where}'.")
    for key in obj:
        if key not in allowed:
            raise _unknown_name(key, where)


# --- the fake ---------------------------------------------------------------------------------


class FakeSheets:
    """Google Sheets API v4 and Google's OAuth token endpoint, in memory (module docstring).

    Args:
        tokens: static bearer tokens (token -> caller e-mail) accepted without ``/token``; they
            never expire and carry the spreadsheets scope.
        read_quota_per_minute: read requests per caller per minute before 429.
        write_quota_per_minute: write requests per caller per minute before 429.
        now: the clock, in seconds, for quotas and token expiry.
        project_number: the consumer project named in 429 bodies.
        new_sheet_id: where ``addSheet`` without a ``sheetId`` takes its id; by default a seeded
            random positive int32, as Google's are random.
        seed: seeds sheet ids, spreadsheet ids and issued tokens, so runs repeat.

    Attributes:
        request_log: every request received, in order.
        before_request: called with each valid Sheets request just before it is applied, under
            the fake's lock: a test may edit the sheet there (the merchant typing between the
            worker's read and its write) through :meth:`set_values`.
    """

    def __init__(
        self,
        *,
        tokens: Mapping[str, str] | None = None,
        read_quota_per_minute: int = READ_QUOTA_PER_MINUTE,
        write_quota_per_minute: int = WRITE_QUOTA_PER_MINUTE,
        now: Callable[[], float] = time.monotonic,
        project_number: int = 123456789012,
        new_sheet_id: Callable[[], int] | None = None,
        seed: int = 0,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - ids and tokens for a test fake, not secrets
        self._grants = {
            token: _Grant(caller, _WRITE_SCOPES, None) for token, caller in (tokens or {}).items()
        }
        self._quota = {"Read": read_quota_per_minute, "Write": write_quota_per_minute}
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._now, self._wall = now, wall
        self._project_number = project_number
        self._new_sheet_id = new_sheet_id or (lambda: self._rng.randrange(1, 2**31))
        self._books: dict[str, _Book] = {}
        self._faults = FaultScript()
        self._lock = threading.RLock()
        self.request_log: list[LoggedRequest] = []
        self.before_request: Callable[[SheetsCall], None] | None = None

    # -- set-up and inspection (the merchant's side; no auth, no quota, not logged) --

    def create_spreadsheet(
        self,
        title: str = "Untitled spreadsheet",
        *,
        spreadsheet_id: str | None = None,
        sheets: Sequence[SheetSpec] = (SheetSpec("Sheet1"),),
        shared_with: Iterable[str] = (),
        locale: str = "en_US",
        time_zone: str = "Etc/GMT",
    ) -> str:
        """Create a spreadsheet and return its id. The first sheet gets id 0 unless told."""
        if not sheets:
            raise ValueError("a spreadsheet has at least one sheet")
        with self._lock:
            alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
            book_id = spreadsheet_id or "1" + "".join(self._rng.choice(alphabet) for _ in range(43))
            props = {"title": title, "locale": locale, "autoRecalc": "ON_CHANGE", "timeZone": time_zone}
            book = _Book(book_id, props, [], set(shared_with))
            for position, spec in enumerate(sheets):
                if spec.sheet_id is not None:
                    sheet_id = spec.sheet_id
                else:  # Google numbers a new spreadsheet's first sheet 0, later ones at random
                    sheet_id = 0 if position == 0 else self._new_sheet_id()
                grid = {"rowCount": spec.rows, "columnCount": spec.columns}
                if spec.frozen_rows:
                    grid["frozenRowCount"] = spec.frozen_rows
                book.sheets.append(
                    _Sheet(
                        {
                            "sheetId": sheet_id,
                            "title": spec.title,
                            "sheetType": "GRID",
                            "gridProperties": grid,
                        }
                    )
                )
            book.reindex()
            self._books[book_id] = book
            return book_id

    def share(self, spreadsheet_id: str, email: str, role: Literal["writer", "reader"] = "writer") -> None:
        """Give ``email`` (a service account) access, as the Share dialog does (Editor or Viewer)."""
        with self._lock:
            book = self._books[spreadsheet_id]
            book.shared_with.add(email)
            if role == "reader":
                book.viewers.add(email)
            else:
                book.viewers.discard(email)

    def unshare(self, spreadsheet_id: str, email: str) -> None:
        """Take access away from ``email``."""
        with self._lock:
            self._books[spreadsheet_id].shared_with.discard(email)
            self._books[spreadsheet_id].viewers.discard(email)

    def set_values(
        self,
        spreadsheet_id: str,
        a1_range: str,
        values: Sequence[Sequence[Json]],
        *,
        value_input_option: Literal["RAW", "USER_ENTERED"] = "USER_ENTERED",
    ) -> None:
        """Write as the merchant typing would (USER_ENTERED by default); ``None`` skips a cell.

        Raises:
            ValueError: the range does not parse or the values do not fit, with Google's message.
        """
        with self._lock:
            book = self._books[spreadsheet_id]
            try:
                sheet, bounds = _locate(book, a1_range)
                _write(sheet, bounds, a1_range, list(values), value_input_option, "ROWS", "data.values")
            except _Rejected as rejected:
                raise ValueError(rejected.response.json()["error"]["message"]) from None

    def get_values(
        self,
        spreadsheet_id: str,
        a1_range: str,
        *,
        value_render_option: Literal["FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"] = "FORMATTED_VALUE",
    ) -> list[list[Json]]:
        """Read a range as ``values.get`` answers it (trailing blanks dropped); ``[]`` if empty.

        Raises:
            ValueError: the range does not parse or starts past the grid.
        """
        with self._lock:
            try:
                area = _area(self._books[spreadsheet_id], a1_range)
            except _Rejected as rejected:
                raise ValueError(rejected.response.json()["error"]["message"]) from None
            values: list[list[Json]] = _read(area, value_render_option, "SERIAL_NUMBER", "ROWS").get(
                "values", []
            )
            return values

    def add_sheet(self, spreadsheet_id: str, spec: SheetSpec) -> None:
        """Add a tab, as the merchant clicking + does."""
        with self._lock:
            book = self._books[spreadsheet_id]
            grid = {"rowCount": spec.rows, "columnCount": spec.columns}
            sheet_id = spec.sheet_id if spec.sheet_id is not None else self._new_sheet_id()
            book.sheets.append(
                _Sheet(
                    {"sheetId": sheet_id, "title": spec.title, "sheetType": "GRID", "gridProperties": grid}
                )
            )
            book.reindex()

    def insert_rows(self, spreadsheet_id: str, sheet: str, before: int, count: int = 1) -> None:
        """Insert blank rows before 1-based row ``before``, as the merchant does in the grid."""
        with self._lock:
            tab = self._tab(spreadsheet_id, sheet)
            tab.shift_rows(before - 1, count)

    def insert_columns(self, spreadsheet_id: str, sheet: str, before: int, count: int = 1) -> None:
        """Insert blank columns before 1-based column ``before``, as the merchant does in the grid."""
        with self._lock:
            start = before - 1
            self._tab(spreadsheet_id, sheet).remap_columns(
                lambda column: column + count if column >= start else column, count
            )

    def move_columns(self, spreadsheet_id: str, sheet: str, first: int, count: int, before: int) -> None:
        """Drag 1-based columns ``first`` .. ``first + count - 1`` to sit before column ``before``.

        ``before`` counts columns as they were before the move, like moveDimension's
        destinationIndex: moving A before D leaves B, C, A, D.
        """
        with self._lock:
            tab = self._tab(spreadsheet_id, sheet)
            tab.remap_columns(_placed(first - 1, count, before - 1, tab.columns))

    def move_rows(self, spreadsheet_id: str, sheet: str, first: int, count: int, before: int) -> None:
        """Drag 1-based rows ``first`` .. ``first + count - 1`` to sit before row ``before``.

        Values, formats and notes go with the rows (a SKU kept as text stays text); ``before``
        counts rows as they were before the move, like moveDimension's destinationIndex.
        """
        with self._lock:
            tab = self._tab(spreadsheet_id, sheet)
            tab.remap_rows(_placed(first - 1, count, before - 1, tab.rows))

    def delete_row(self, spreadsheet_id: str, sheet: str, row: int) -> None:
        """Delete 1-based row ``row``; the rows below move up and the grid shrinks by one."""
        with self._lock:
            self._tab(spreadsheet_id, sheet).drop_rows(row - 1, 1)

    def rename_sheet(self, spreadsheet_id: str, title: str, new_title: str) -> None:
        """Rename a tab, as the merchant double-clicking it does."""
        with self._lock:
            self._tab(spreadsheet_id, title).props["title"] = new_title

    def formula_cells(self, spreadsheet_id: str) -> set[str]:
        """``Sheet!A1`` of every cell holding a formula (as opposed to text that starts with "=")."""
        with self._lock:
            return {
                f"{sheet.title}!{_column_letters(column)}{row + 1}"
                for sheet in self._books[spreadsheet_id].sheets
                for row, line in sheet.cells.items()
                for column, value in line.items()
                if isinstance(value, _Formula)
            }

    def _tab(self, spreadsheet_id: str, title: str) -> _Sheet:
        tab = self._books[spreadsheet_id].by_title(title)
        if tab is None:
            raise ValueError(f"no sheet {title!r}")
        return tab

    def metadata(self, spreadsheet_id: str) -> Json:
        """The body ``spreadsheets.get`` would answer (no grid data)."""
        with self._lock:
            return _spreadsheet_json(self._books[spreadsheet_id], {})

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
        wire adapters), else a Google error body for ``status``. With ``applied`` the request
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
            route = _route(request.method, raw_path)
            operation = "oauth2.token" if raw_path == "/token" else route[0] if route else "unknown"
            query = tuple(request.url.params.multi_items())
            self.request_log.append(LoggedRequest(operation, request.method, unquote(raw_path), query))
            fault = self._faults.next(operation)
            if fault and not fault.applied:
                return self._fire(fault, operation)
            try:
                if operation == "oauth2.token":
                    answer = self._issue_token(request)
                elif route is None:
                    answer = _rpc_error(
                        404, f"FakeSheets does not serve {request.method} {unquote(raw_path)}"
                    )
                else:
                    answer = self._serve(request, *route)
            except _Rejected as rejected:
                answer = rejected.response
            if self._wall is not None:  # Google's clock, as every answer of the live API carries it
                answer.headers["Date"] = format_datetime(
                    datetime.fromtimestamp(self._wall(), UTC), usegmt=True
                )
            return self._fire(fault, operation) if fault else answer

    def _fire(self, fault: Fault, operation: str) -> httpx.Response:
        kind: Literal["Read", "Write"] = "Read" if operation in _READS else "Write"

        def body(status: int) -> httpx.Response:
            return _quota_body(kind, self._project_number) if status == 429 else _rpc_error(status)

        return fault.fire(body)

    def _issue_token(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        grant_type = form.get("grant_type", [""])[-1]
        if grant_type != JWT_BEARER:
            raise _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        assertion = form.get("assertion", [""])[-1]
        if not assertion:
            raise _oauth_error("invalid_request", "Missing required parameter: assertion")
        claims = _decode_jwt_claims(assertion)
        # The error codes are Google's; these two descriptions are assumed.
        if claims is None:
            raise _oauth_error("invalid_grant", "Invalid JWT Signature.")
        for claim in ("iss", "scope", "aud", "exp", "iat"):
            if claim not in claims:
                raise _oauth_error("invalid_request", f"Invalid JWT: missing claim '{claim}'.")
        if claims["aud"] != OAUTH_AUDIENCE:
            raise _oauth_error("invalid_grant", "Invalid JWT: Failed audience check.")
        lifetime = (
            claims["exp"] - claims["iat"] if all(type(claims[k]) is int for k in ("exp", "iat")) else -1
        )
        if not 0 < lifetime <= _JWT_MAX_LIFETIME_S:
            raise _oauth_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                "Check your iat and exp values in the JWT claim.",
            )
        token = f"ya29.fake-{self._rng.getrandbits(96):024x}"
        scopes = frozenset(str(claims["scope"]).split())
        self._grants[token] = _Grant(str(claims["iss"]), scopes, self._now() + TOKEN_LIFETIME_S)
        body = {"access_token": token, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"}
        return _json_response(body, content_type="application/json; charset=utf-8")

    def _caller(self, request: httpx.Request, operation: str) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthenticated("CREDENTIALS_MISSING")
        grant = self._grants.get(token.strip())
        if grant is None:
            raise _unauthenticated("ACCESS_TOKEN_TYPE_UNSUPPORTED")
        if grant.expires_at is not None and self._now() >= grant.expires_at:
            raise _unauthenticated("ACCESS_TOKEN_EXPIRED")
        if not grant.scopes & (_READ_SCOPES if operation in _READS else _WRITE_SCOPES):
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                    "domain": "googleapis.com",
                    "metadata": {"service": "sheets.googleapis.com"},
                }
            ]
            raise _Rejected(_rpc_error(403, "Request had insufficient authentication scopes.", details))
        return grant.caller

    def _charge_quota(self, caller: str, operation: str) -> None:
        kind: Literal["Read", "Write"] = "Read" if operation in _READS else "Write"
        hits = self._hits.setdefault((caller, kind), deque())
        now = self._now()
        while hits and hits[0] <= now - QUOTA_WINDOW_S:
            hits.popleft()
        if len(hits) >= self._quota[kind]:
            raise _Rejected(_quota_body(kind, self._project_number))
        hits.append(now)

    def _serve(
        self, request: httpx.Request, operation: Operation, book_id: str, a1: str | None
    ) -> httpx.Response:
        caller = self._caller(request, operation)
        self._charge_quota(caller, operation)
        book = self._books.get(book_id)
        if book is None:
            raise _Rejected(_rpc_error(404))
        if caller not in book.shared_with or (operation not in _READS and caller in book.viewers):
            raise _Rejected(_rpc_error(403))
        params: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            if key not in _PARAMS[operation] | _SYSTEM_PARAMS:
                raise _field_violation(
                    "",
                    f'Invalid JSON payload received. Unknown name "{key}": Cannot bind query parameter. '
                    f"Field '{key}' could not be found in request message.",
                )
            params.setdefault(key, []).append(value)
        body: Json = None
        if request.content:
            try:
                body = json.loads(request.content)
            except ValueError:
                raise _field_violation("", "Invalid JSON payload received. Unexpected token.") from None
            if not isinstance(body, dict):
                raise _field_violation(
                    "", 'Invalid JSON payload received. Unknown name "": Root element must be a message.'
                )
        if self.before_request is not None:
            self.before_request(SheetsCall(operation, book_id, a1, params, body, caller))
            book = self._books[book_id]  # the hook may have edited the spreadsheet
        body = body or {}
        if operation == "spreadsheets.get":
            result = _spreadsheet_json(book, params)
        elif operation == "spreadsheets.batchUpdate":
            result = self._batch_update(book, body)
        elif operation == "spreadsheets.values.batchUpdate":
            result = self._values_batch_update(book, body)
        elif operation == "spreadsheets.values.batchUpdateByDataFilter":
            result = self._values_batch_update(book, body, by_filter=True)
        elif operation == "spreadsheets.developerMetadata.search":
            result = _search_metadata(book, body)
        elif operation == "spreadsheets.values.batchClear":
            _check_keys(body, {"ranges"}, "")
            areas = [_area(book, text) for text in body.get("ranges", [])]
            for area in areas:
                _clear(area)
            result = {"spreadsheetId": book_id, "clearedRanges": [area.a1 for area in areas]}
        elif operation == "spreadsheets.values.batchGet":
            options = _read_options(params)
            result = {"spreadsheetId": book_id}
            if "ranges" in params:
                result["valueRanges"] = [_read(_area(book, t), *options) for t in params["ranges"]]
        else:
            result = _single_range(book, operation, a1 or "", params, body)
        mask = _fields_mask(params)
        return _json_response(_select(result, mask) if mask else result)

    def _values_batch_update(self, book: _Book, body: Json, *, by_filter: bool = False) -> Json:
        """values:batchUpdate, or with ``by_filter`` values:batchUpdateByDataFilter.

        A DataFilterValueRange names an A1 range, or developer metadata on columns: it writes from
        the top of each column the metadata is on now; a filter that finds nothing writes nothing.
        """
        allowed = {"valueInputOption", "data", "includeValuesInResponse"}
        _check_keys(body, allowed | {"responseValueRenderOption", "responseDateTimeRenderOption"}, "")
        option = _input_option(body.get("valueInputOption", "INPUT_VALUE_OPTION_UNSPECIFIED"))
        as_params = {
            k: [str(body[k])]
            for k in ("responseValueRenderOption", "responseDateTimeRenderOption")
            if k in body
        }
        echo = (
            (
                _enum(as_params, "responseValueRenderOption", "FORMATTED_VALUE"),
                _enum(as_params, "responseDateTimeRenderOption", "SERIAL_NUMBER"),
            )
            if body.get("includeValuesInResponse")
            else None
        )
        # All ranges or none: each cell's value before is kept, and put back if a range is refused
        # (a copy of the whole book each time held a second Inventory while a full sync wrote).
        undo: list[tuple[_Sheet, int, int, _CellValue | None]] = []
        responses, touched = [], set()
        try:
            for i, entry in enumerate(body.get("data", [])):
                _check_keys(
                    entry, {"dataFilter" if by_filter else "range", "majorDimension", "values"}, f"data[{i}]"
                )
                if by_filter:
                    targets = _filtered(book, entry.get("dataFilter", {}), f"data[{i}].dataFilter")
                else:
                    targets = [(str(entry.get("range", "")), *_locate(book, str(entry.get("range", ""))))]
                major = _major(entry)
                for a1, sheet, bounds in targets:
                    values = entry.get("values", [])
                    area = _write(sheet, bounds, a1, values, option, major, f"data[{i}].values", undo=undo)
                    cells = _cells_of(values, area, major)
                    touched |= {(sheet.sheet_id, r, c) for r, c in cells}
                    response = _update_body(book, area, cells, echo)
                    if by_filter:
                        del response["spreadsheetId"]
                        response["dataFilter"] = entry["dataFilter"]
                    responses.append(response)
        except BaseException:
            for sheet, row, column, before in reversed(undo):
                sheet.set(row, column, before)
            raise
        result: Json = {"spreadsheetId": book.spreadsheet_id}
        for key, count in (
            ("totalUpdatedRows", len({(s, r) for s, r, _ in touched})),
            ("totalUpdatedColumns", len({(s, c) for s, _, c in touched})),
            ("totalUpdatedCells", len(touched)),
            ("totalUpdatedSheets", len({s for s, _, _ in touched})),
        ):
            if count:
                result[key] = count
        if responses:
            result["responses"] = responses
        return result

    # -- spreadsheets.batchUpdate --

    def _batch_update(self, book: _Book, body: Json) -> Json:
        _check_keys(
            body,
            {"requests", "includeSpreadsheetInResponse", "responseRanges", "responseIncludeGridData"},
            "",
        )
        handlers: Mapping[str, Callable[[_Book, Json, str], Json]] = {
            "addSheet": self._add_sheet,
            "deleteSheet": _delete_sheet,
            "updateSheetProperties": _update_sheet_properties,
            "repeatCell": _repeat_cell,
            "updateCells": _update_cells,
            "appendCells": _append_cells,
            "setDataValidation": _set_data_validation,
            "addConditionalFormatRule": _add_conditional_format_rule,
            "addProtectedRange": self._add_protected_range,
            "updateDimensionProperties": _update_dimension_properties,
            "appendDimension": _append_dimension,
            "insertDimension": _insert_dimension,
            "deleteDimension": _delete_dimension,
            "createDeveloperMetadata": _create_metadata,
            "deleteDeveloperMetadata": _delete_metadata,
        }
        requests = body.get("requests", [])
        if (
            not requests
        ):  # the wording reported against the live API (googleapis/google-api-nodejs-client#1001)
            raise _bad_request("Must specify at least one request.")
        planned: list[tuple[str, Json, str]] = []
        for i, request in enumerate(requests):  # the whole payload is checked before anything runs
            where = f"requests[{i}]"
            _check_keys(request, _REQUEST_KINDS, where)
            if not request:
                raise _unrecorded_400(f"Invalid {where}: No request set.")
            if len(request) > 1:
                raise _field_violation(
                    where,
                    "Invalid JSON payload received. Oneof field 'kind' is already set. "
                    f"Cannot set '{list(request)[1]}'",
                )
            (kind,) = request
            if kind not in handlers:
                raise _Rejected(_rpc_error(501, f"FakeSheets does not model {where}.{kind}"))
            _check_keys(request[kind], _MODELLED_REQUESTS[kind], f"{where}.{kind}")
            planned.append((kind, request[kind], f"{where}.{kind}"))
        work = book.clone()  # atomic: all requests or none
        replies = [handlers[kind](work, request, where) for kind, request, where in planned]
        work.reindex()
        self._books[book.spreadsheet_id] = work
        result: Json = {"spreadsheetId": book.spreadsheet_id, "replies": replies}
        if body.get("includeSpreadsheetInResponse"):
            params = {"ranges": body.get("responseRanges", [])}
            if body.get("responseIncludeGridData"):
                params["includeGridData"] = ["true"]
            result["updatedSpreadsheet"] = _spreadsheet_json(work, params)
        return result

    def _add_sheet(self, book: _Book, request: Json, where: str) -> Json:
        given = request.get("properties", {})
        _check_sheet_keys(given, where)
        if given.get("sheetType", "GRID") != "GRID":
            raise _Rejected(_rpc_error(501, f"FakeSheets does not model {given['sheetType']} sheets"))
        sheet_id = given["sheetId"] if "sheetId" in given else self._new_sheet_id()
        if book.by_id(sheet_id) is not None:
            raise _unrecorded_400(f"Invalid {where}: Sheet with id {sheet_id} already exists.")
        number = len(book.sheets) + 1
        while book.by_title(f"Sheet{number}") is not None:
            number += 1
        props = copy.deepcopy(given)
        props.update(sheetId=sheet_id, title=given.get("title", f"Sheet{number}"), sheetType="GRID")
        props["gridProperties"] = {
            "rowCount": DEFAULT_ROWS,
            "columnCount": DEFAULT_COLUMNS,
            **given.get("gridProperties", {}),
        }
        sheet = _Sheet(props)
        _check_sheet(book, sheet, where)
        book.sheets.insert(min(int(given.get("index", len(book.sheets))), len(book.sheets)), sheet)
        book.reindex()
        return {"addSheet": {"properties": copy.deepcopy(sheet.props)}}

    def _add_protected_range(self, book: _Book, request: Json, where: str) -> Json:
        """Record a ProtectedRange (ProtectedRange in the Sheets API reference); nothing enforces it here."""
        given = request.get("protectedRange", {})
        _check_keys(given, _PROTECTED_RANGE, f"{where}.protectedRange")
        if "requestingUserCanEdit" in given:
            raise _unrecorded_400(f"Invalid {where}: protectedRange.requestingUserCanEdit is read-only")
        if "namedRangeId" in given or "tableId" in given:
            raise _Rejected(_rpc_error(501, f"FakeSheets does not model {where} by a named range or table"))
        if "range" not in given:
            raise _unrecorded_400(f"Invalid {where}: one of range, namedRangeId or tableId must be set")
        sheet = _grid_range(book, given["range"], where, "protectedRange.range").sheet
        whole_sheet = set(given["range"]) <= {"sheetId"}
        if given.get("unprotectedRanges") and not whole_sheet:  # "only supported on protected sheets"
            raise _unrecorded_400(f"Invalid {where}: unprotectedRanges are only allowed on a protected sheet")
        for i, inner in enumerate(given.get("unprotectedRanges", [])):
            _grid_range(book, inner, where, f"protectedRange.unprotectedRanges[{i}]")
        taken = {p["protectedRangeId"] for s in book.sheets for p in s.protected_ranges}
        range_id = given.get("protectedRangeId", self._new_sheet_id())
        if range_id in taken:
            raise _unrecorded_400(f"Invalid {where}: a protected range with id {range_id} already exists")
        stored = copy.deepcopy(given)
        stored["range"] = {"sheetId": sheet.sheet_id, **stored["range"]}
        if stored.get("warningOnly"):
            stored.pop("editors", None)  # "if this field is true, then editors are ignored"
        else:
            stored.pop("warningOnly", None)  # proto3 JSON leaves false out
        stored["protectedRangeId"] = range_id
        sheet.protected_ranges.append(stored)
        return {
            "addProtectedRange": {"protectedRange": {**copy.deepcopy(stored), "requestingUserCanEdit": True}}
        }


# --- values and metadata ---------------------------------------------------------------------


def _metadata_json(sheet: _Sheet, metadata_id: int) -> Json:
    """DeveloperMetadata as the API shows it, located on its column as it is now."""
    item = sheet.column_metadata[metadata_id]
    column = int(item["column"])
    shown = {"metadataId": metadata_id, "metadataKey": item["metadataKey"]}
    if "metadataValue" in item:
        shown["metadataValue"] = item["metadataValue"]
    range_ = {"sheetId": sheet.sheet_id, "dimension": "COLUMNS", "startIndex": column, "endIndex": column + 1}
    return shown | {
        "location": {"locationType": "COLUMN", "dimensionRange": range_},
        "visibility": item["visibility"],
    }


def _matching_metadata(book: _Book, lookup: Json, where: str) -> list[tuple[_Sheet, int]]:
    """The column metadata a DeveloperMetadataLookup selects (every given criterion must match)."""
    _check_keys(lookup, _METADATA_LOOKUP, where)
    if "metadataLocation" in lookup or "locationMatchingStrategy" in lookup:
        raise _Rejected(_rpc_error(501, f"FakeSheets does not model {where}.metadataLocation"))
    if lookup.get("locationType", "COLUMN") != "COLUMN":
        return []  # only column metadata is modelled: no other kind exists here
    found = []
    for sheet in book.sheets:
        for metadata_id, item in sheet.column_metadata.items():
            wanted = {
                "metadataKey": item["metadataKey"],
                "metadataValue": item.get("metadataValue"),
                "metadataId": metadata_id,
                "visibility": item["visibility"],
            }
            if all(lookup[k] == v for k, v in wanted.items() if k in lookup):
                found.append((sheet, metadata_id))
    return found


def _filtered(book: _Book, data_filter: Json, where: str) -> list[tuple[str, _Sheet, _Bounds]]:
    """What a DataFilter selects: an A1 range, or each column its developer metadata is on now."""
    _check_keys(data_filter, _DATA_FILTER, where)
    if len(data_filter) != 1:
        raise _unrecorded_400(f"Invalid {where}: exactly one of a1Range, developerMetadataLookup, gridRange")
    if "a1Range" in data_filter:
        a1 = str(data_filter["a1Range"])
        return [(a1, *_locate(book, a1))]
    if "gridRange" in data_filter:
        raise _Rejected(_rpc_error(501, f"FakeSheets does not model {where}.gridRange"))
    selected = []
    for sheet, metadata_id in _matching_metadata(
        book, data_filter["developerMetadataLookup"], f"{where}.developerMetadataLookup"
    ):
        column = int(sheet.column_metadata[metadata_id]["column"])
        bounds = _Bounds(0, sheet.rows, column, column + 1)
        selected.append((_a1(sheet.title, bounds), sheet, bounds))
    return selected


def _search_metadata(book: _Book, body: Json) -> Json:
    """developerMetadata:search by lookups: each metadata found once, with the filters that found it."""
    _check_keys(body, {"dataFilters"}, "")
    found: dict[int, Json] = {}
    for i, data_filter in enumerate(body.get("dataFilters", [])):
        where = f"data_filters[{i}]"
        _check_keys(data_filter, _DATA_FILTER, where)
        if "developerMetadataLookup" not in data_filter:
            raise _Rejected(_rpc_error(501, f"FakeSheets does not model {where} by range in a search"))
        for sheet, metadata_id in _matching_metadata(
            book, data_filter["developerMetadataLookup"], f"{where}.developerMetadataLookup"
        ):
            match = found.setdefault(
                metadata_id, {"developerMetadata": _metadata_json(sheet, metadata_id), "dataFilters": []}
            )
            match["dataFilters"].append(data_filter)
    return {"matchedDeveloperMetadata": list(found.values())} if found else {}


def _create_metadata(book: _Book, request: Json, where: str) -> Json:
    given = request.get("developerMetadata", {})
    _check_keys(given, _DEVELOPER_METADATA, f"{where}.developerMetadata")
    if not given.get("metadataKey"):
        raise _unrecorded_400(f"Invalid {where}: developer metadata must have a key")
    if given.get("visibility") not in ("DOCUMENT", "PROJECT"):
        raise _unrecorded_400(
            f"Invalid {where}: developer metadata must have a visibility (DOCUMENT or PROJECT)"
        )
    location = given.get("location", {})
    _check_keys(location, {"dimensionRange", "sheetId", "spreadsheet"}, f"{where}.developerMetadata.location")
    if "dimensionRange" not in location or location["dimensionRange"].get("dimension") != "COLUMNS":
        raise _Rejected(_rpc_error(501, f"FakeSheets models developer metadata on columns only ({where})"))
    dimension = location["dimensionRange"]
    _check_keys(dimension, _DIMENSION_RANGE, f"{where}.developerMetadata.location.dimensionRange")
    sheet = _sheet_by_id(book, dimension.get("sheetId"), where)
    start, end = int(dimension.get("startIndex", -1)), int(dimension.get("endIndex", -1))
    if end - start != 1 or not 0 <= start < sheet.columns:
        raise _unrecorded_400(f"Invalid {where}: a dimension range for developer metadata must be one column")
    taken = {metadata_id for tab in book.sheets for metadata_id in tab.column_metadata}
    metadata_id = int(given.get("metadataId") or max(taken, default=0) + 1)
    if metadata_id <= 0 or metadata_id in taken:
        raise _unrecorded_400(f"Invalid {where}: metadataId {metadata_id} is taken or not positive")
    item = {"metadataKey": given["metadataKey"], "visibility": given["visibility"], "column": start}
    if "metadataValue" in given:
        item["metadataValue"] = given["metadataValue"]
    sheet.column_metadata[metadata_id] = item
    return {"createDeveloperMetadata": {"developerMetadata": _metadata_json(sheet, metadata_id)}}


def _delete_metadata(book: _Book, request: Json, where: str) -> Json:
    data_filter = request.get("dataFilter", {})
    _check_keys(data_filter, _DATA_FILTER, f"{where}.dataFilter")
    if "developerMetadataLookup" not in data_filter:
        raise _Rejected(_rpc_error(501, f"FakeSheets does not model {where}.dataFilter by range"))
    found = _matching_metadata(book, data_filter["developerMetadataLookup"], f"{where}.dataFilter")
    deleted = [_metadata_json(sheet, metadata_id) for sheet, metadata_id in found]
    for sheet, metadata_id in found:
        del sheet.column_metadata[metadata_id]
    return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": deleted} if deleted else {}}


def _locate(book: _Book, text: str) -> tuple[_Sheet, _Bounds]:
    """The sheet and cells an A1 range names: A1 text wins over a sheet title, quoted titles first."""
    unparsable = _bad_request(f"Unable to parse range: {text}")
    if text.startswith("'"):
        chars, pos = [], 1
        while pos < len(text):
            if text[pos] == "'":
                if not text.startswith("''", pos):
                    break
                pos += 1  # '' is an escaped quote
            chars.append(text[pos])
            pos += 1
        else:
            raise unparsable
        sheet = book.by_title("".join(chars))
        rest = text[pos + 1 :]
        bounds = _WHOLE_SHEET if rest == "" else _parse_a1(rest[1:]) if rest.startswith("!") else None
        if sheet is None or bounds is None:
            raise unparsable
        return sheet, bounds
    if (bounds := _parse_a1(text)) is not None:
        visible = next((s for s in book.sheets if not s.hidden), book.sheets[0])
        return visible, bounds
    if (sheet := book.by_title(text)) is not None:
        return sheet, _WHOLE_SHEET
    title, bang, cells = text.rpartition("!")
    sheet = book.by_title(title) if bang else None
    bounds = _parse_a1(cells) if sheet else None
    if sheet is None or bounds is None:
        raise unparsable
    return sheet, bounds


def _area(book: _Book, text: str) -> _Area:
    """Resolve a range for reading or clearing: open sides reach the grid's edge, then clip."""
    sheet, bounds = _locate(book, text)
    return _resolve(sheet, bounds)


def _read_options(params: Mapping[str, list[str]]) -> tuple[str, str, str]:
    return (
        _enum(params, "valueRenderOption", "FORMATTED_VALUE"),
        _enum(params, "dateTimeRenderOption", "SERIAL_NUMBER"),
        _enum(params, "majorDimension", "ROWS"),
    )


def _read(area: _Area, render: str, date_render: str, major: str) -> Json:
    cells = area.sheet.cells
    lines: Iterator[list[Json]]
    if major == "COLUMNS":
        lines = (
            _trimmed([cells.get(r, {}).get(c) for r in range(area.r0, area.r1)], render, date_render)
            for c in range(area.c0, area.c1)
        )
    else:
        lines = (
            _trimmed(
                [cells.get(r, {}).get(c) for c in range(area.c0, area.c1)] if r in cells else [],
                render,
                date_render,
            )
            for r in range(area.r0, area.r1)
        )
    values = list(lines)
    while values and not values[-1]:
        values.pop()
    result: Json = {"range": area.a1, "majorDimension": "COLUMNS" if major == "COLUMNS" else "ROWS"}
    if values:
        result["values"] = values
    return result


def _clear(area: _Area) -> None:
    for row in [r for r in area.sheet.cells if area.r0 <= r < area.r1]:
        for column in [c for c in area.sheet.cells[row] if area.c0 <= c < area.c1]:
            area.sheet.set(row, column, None)


def _write(
    sheet: _Sheet,
    bounds: _Bounds,
    raw_range: str,
    values: Json,
    option: str,
    major: str,
    where: str,
    *,
    anchor: tuple[int, int] | None = None,
    insert_rows: bool = False,
    undo: list[tuple[_Sheet, int, int, _CellValue | None]] | None = None,
) -> _Area | None:
    """Validate and store ``values``; return the area written, None when there was nothing.

    ``anchor`` (appends) places the data without a range limit and grows the grid to fit;
    ``insert_rows`` first pushes the rows from the anchor down to make room.  ``undo`` (within
    a range, neither of those) gets each cell's value before, for the caller to put back.
    """
    if not isinstance(values, list):
        raise _invalid_value(where, "type.googleapis.com/google.protobuf.ListValue", values)
    for i, line in enumerate(values):
        if not isinstance(line, list):
            raise _invalid_value(f"{where}[{i}]", "type.googleapis.com/google.protobuf.ListValue", line)
    planned: dict[tuple[int, int], _CellValue | None] = {}
    height = max((len(line) for line in values), default=0) if major == "COLUMNS" else len(values)
    width = len(values) if major == "COLUMNS" else max((len(line) for line in values), default=0)
    if not height or not width:
        return None
    r0, c0 = anchor or (bounds.r0 or 0, bounds.c0 or 0)
    written = _Bounds(r0, r0 + height, c0, c0 + width)
    if anchor is None:
        single_cell = bounds.r1 == r0 + 1 and bounds.c1 == c0 + 1 and ":" not in raw_range.rpartition("!")[2]
        if not single_cell:
            if bounds.r1 is not None and r0 + height > bounds.r1:
                raise _bad_request(
                    f"Requested writing within range [{raw_range}], "
                    f"but tried writing to row [{bounds.r1 + 1}]"
                )
            if bounds.c1 is not None and c0 + width > bounds.c1:
                raise _bad_request(
                    f"Requested writing within range [{raw_range}], "
                    f"but tried writing to column [{_column_letters(bounds.c1)}]"
                )
        if r0 + height > sheet.rows or c0 + width > sheet.columns:
            raise _exceeds_grid(sheet, written)
    for i, line in enumerate(values):
        for j, cell in enumerate(line):
            if cell is None:
                continue
            row, column = (r0 + j, c0 + i) if major == "COLUMNS" else (r0 + i, c0 + j)
            if isinstance(cell, str) and len(cell) > MAX_CELL_CHARACTERS:
                # Wording as reported in freelabz/secator#96 (a real 400 INVALID_ARGUMENT).
                raise _bad_request(
                    f"Your input contains more than the maximum of {MAX_CELL_CHARACTERS} characters "
                    "in a single cell."
                )
            if option == "USER_ENTERED" and isinstance(cell, str) and _plain_text(sheet, row, column):
                planned[row, column] = cell or None  # a Plain text cell keeps what is typed: "00123"
            else:
                planned[row, column] = _stored(cell, option, f"{where}[{i}][{j}]")
    if insert_rows:
        sheet.shift_rows(r0, height)
    if anchor is not None:
        grid = sheet.props["gridProperties"]
        grid["rowCount"] = max(sheet.rows, r0 + height)
        grid["columnCount"] = max(sheet.columns, c0 + width)
    for (row, column), value in planned.items():
        if undo is not None:
            undo.append((sheet, row, column, sheet.cells.get(row, {}).get(column)))
        sheet.set(row, column, value)
    return _Area(sheet, r0, r0 + height, c0, c0 + width) if planned else None


def _plain_text(sheet: _Sheet, row: int, column: int) -> bool:
    """The cell is formatted as Plain text (numberFormat TEXT): typing into it stores text."""
    number_format = sheet.formats.get((row, column), {}).get("numberFormat", {})
    return isinstance(number_format, dict) and number_format.get("type") == "TEXT"


def _update_body(
    book: _Book,
    area: _Area | None,
    counted: Iterable[tuple[int, int]],
    echo: tuple[str, str] | None,
) -> Json:
    cells = set(counted)
    result: Json = {"spreadsheetId": book.spreadsheet_id}
    if area is None:
        return result
    result["updatedRange"] = area.a1
    for key, count in (
        ("updatedRows", len({r for r, _ in cells})),
        ("updatedColumns", len({c for _, c in cells})),
        ("updatedCells", len(cells)),
    ):
        if count:  # proto3 JSON leaves zero counts out
            result[key] = count
    if echo is not None:
        result["updatedData"] = _read(area, *echo, "ROWS")
    return result


def _single_range(book: _Book, operation: str, a1: str, params: Mapping[str, list[str]], body: Json) -> Json:
    """values.get, values.clear, values.update and values:append: the endpoints with a range in the path."""
    if operation == "spreadsheets.values.get":
        return _read(_area(book, a1), *_read_options(params))
    if operation == "spreadsheets.values.clear":
        cleared = _area(book, a1)
        _clear(cleared)
        return {"spreadsheetId": book.spreadsheet_id, "clearedRange": cleared.a1}
    given = params.get("valueInputOption")
    option = _input_option(given[-1] if given else None)
    echo = (
        (
            _enum(params, "responseValueRenderOption", "FORMATTED_VALUE"),
            _enum(params, "responseDateTimeRenderOption", "SERIAL_NUMBER"),
        )
        if _flag(params, "includeValuesInResponse")
        else None
    )
    _check_keys(body, {"range", "majorDimension", "values"}, "")
    major = _major(body)
    values = body.get("values", [])
    sheet, bounds = _locate(book, a1)
    if operation == "spreadsheets.values.update":
        area = _write(sheet, bounds, a1, values, option, major, "data.values")
        return _update_body(book, area, _cells_of(values, area, major), echo)
    insert = _enum(params, "insertDataOption", "OVERWRITE") == "INSERT_ROWS"
    search = _resolve(sheet, bounds)
    table = _find_table(search)
    anchor = (table.r1, table.c0) if table else (search.r0, search.c0)
    area = _write(sheet, bounds, a1, values, option, major, "data.values", anchor=anchor, insert_rows=insert)
    result: Json = {"spreadsheetId": book.spreadsheet_id}
    if table is not None:
        result["tableRange"] = table.a1
    result["updates"] = _update_body(book, area, _cells_of(values, area, major), echo)
    return result


def _spreadsheet_json(book: _Book, params: Mapping[str, list[str]]) -> Json:
    mask = _fields_mask(params)
    # Google ignores includeGridData once a field mask says whether grid data is wanted.
    grid_data = _mask_mentions(mask, ("sheets", "data")) if mask else _flag(params, "includeGridData")
    areas: dict[int, list[_Area]] = {}
    for text in params.get("ranges", []):
        area = _area(book, text)
        areas.setdefault(area.sheet.sheet_id, []).append(area)
    sheets = []
    for sheet in book.sheets:
        if areas and sheet.sheet_id not in areas:
            continue
        entry: Json = {"properties": copy.deepcopy(sheet.props)}
        if sheet.conditional_formats:
            entry["conditionalFormats"] = copy.deepcopy(sheet.conditional_formats)
        if sheet.protected_ranges:
            entry["protectedRanges"] = [
                {**copy.deepcopy(p), "requestingUserCanEdit": True} for p in sheet.protected_ranges
            ]
        if grid_data:
            entry["data"] = [
                _grid_data(a) for a in areas.get(sheet.sheet_id, [_resolve(sheet, _WHOLE_SHEET)])
            ]
        sheets.append(entry)
    properties = {
        **copy.deepcopy(book.props),
        "defaultFormat": copy.deepcopy(_DEFAULT_FORMAT),
        "spreadsheetTheme": copy.deepcopy(_THEME),
    }
    result: Json = {
        "spreadsheetId": book.spreadsheet_id,
        "properties": properties,
        "sheets": sheets,
        "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit",
    }
    return _select(result, mask) if mask else result


# --- spreadsheets.batchUpdate requests --------------------------------------------------------


def _sheet_by_id(book: _Book, sheet_id: Json, where: str) -> _Sheet:
    sheet = book.by_id(int(sheet_id or 0))
    if sheet is None:
        raise _bad_request(f"Invalid {where}: No grid with id: {sheet_id or 0}")
    return sheet


def _grid_range(book: _Book, grid_range: Json, where: str, key: str = "range") -> _Area:
    """Resolve a GridRange; ``where`` names the request (``requests[2].repeatCell``)."""
    _check_keys(
        grid_range,
        {"sheetId", "startRowIndex", "endRowIndex", "startColumnIndex", "endColumnIndex"},
        f"{where}.{key}",
    )
    sheet = _sheet_by_id(book, grid_range.get("sheetId"), where)
    bounds = _Bounds(
        int(grid_range.get("startRowIndex", 0)),
        grid_range.get("endRowIndex"),
        int(grid_range.get("startColumnIndex", 0)),
        grid_range.get("endColumnIndex"),
    )
    return _resolve(sheet, bounds, f"Invalid {where}: ")


def _check_sheet_keys(given: Json, where: str) -> None:
    _check_keys(given, _SHEET_PROPERTIES, f"{where}.properties")
    _check_keys(given.get("gridProperties", {}), _GRID_PROPERTIES, f"{where}.properties.gridProperties")


def _check_sheet(book: _Book, sheet: _Sheet, where: str, replacing: _Sheet | None = None) -> None:
    """Refuse properties no sheet may have, and spell the rest as Google shows them."""
    title = sheet.title
    if not title.strip():
        raise _unrecorded_400(f"Invalid {where}: Sheet name cannot be empty.")
    if any(other is not replacing and other.title.lower() == title.lower() for other in book.sheets):
        raise _bad_request(
            f'Invalid {where}: A sheet with the name "{title}" already exists. Please enter another name.'
        )
    if not (sheet.rows >= 1 and 1 <= sheet.columns <= MAX_COLUMNS):
        raise _unrecorded_400(f"Invalid {where}: Grid dimensions must be positive.")
    grid = sheet.props["gridProperties"]
    for key, size, noun in (
        ("frozenRowCount", sheet.rows, "rows"),
        ("frozenColumnCount", sheet.columns, "columns"),
    ):
        if grid.get(key, 0) >= size:
            raise _bad_request(f"Invalid {where}: You can't freeze all visible {noun} on the sheet.")
        if not grid.get(key):
            grid.pop(key, None)  # proto3 JSON leaves zeros and false out
    if not sheet.props.get("hidden"):
        sheet.props.pop("hidden", None)


def _delete_sheet(book: _Book, request: Json, where: str) -> Json:
    sheet = book.by_id(int(request.get("sheetId", 0)))
    if sheet is None:
        raise _unrecorded_400(f"Invalid {where}: No sheet with id: {request.get('sheetId', 0)}")
    if all(other is sheet or other.hidden for other in book.sheets):
        raise _bad_request(f"Invalid {where}: You can't remove all the sheets in a document.")
    book.sheets.remove(sheet)
    book.reindex()
    return {}


def _update_sheet_properties(book: _Book, request: Json, where: str) -> Json:
    given = request.get("properties", {})
    _check_sheet_keys(given, where)
    sheet = _sheet_by_id(book, given.get("sheetId"), where)
    props = copy.deepcopy(sheet.props)
    _apply_mask(props, given, _mask_of(request, where))
    if props.get("sheetId") != sheet.sheet_id:
        raise _unrecorded_400(f"Invalid {where}: sheetId cannot be changed.")
    _check_sheet(book, _Sheet(props), where, replacing=sheet)
    if props.get("hidden") and all(other is sheet or other.hidden for other in book.sheets):
        raise _bad_request(f"Invalid {where}: You can't hide all the sheets in a document.")
    sheet.props = props
    sheet.crop()
    position = book.sheets.index(sheet)
    if props.get("index", position) != position:
        book.sheets.remove(sheet)
        book.sheets.insert(min(int(props["index"]), len(book.sheets)), sheet)
    book.reindex()
    return {}


def _mask_of(request: Json, where: str) -> list[tuple[str, ...]]:
    fields = request.get("fields")
    if not fields:
        raise _unrecorded_400(f"Invalid {where}: 'fields' is required but not specified")
    try:
        return _parse_mask(str(fields))
    except ValueError:
        raise _unrecorded_400(f"Invalid {where}: Invalid field mask: {fields}") from None


def _cell_mask(request: Json, where: str) -> list[tuple[str, ...]]:
    mask = _mask_of(request, where)
    for path in mask:
        if path[0] != "*" and path[0] not in _CELL_FIELDS:
            raise _Rejected(_rpc_error(501, f"FakeSheets does not model {where} of '{path[0]}'"))
    return mask


def _repeat_cell(book: _Book, request: Json, where: str) -> Json:
    mask = _cell_mask(request, where)
    area = _grid_range(book, request.get("range", {}), where)
    cell = request.get("cell", {})
    for row in range(area.r0, area.r1):
        for column in range(area.c0, area.c1):
            _apply_cell(area.sheet, row, column, cell, mask, where)
    return {}


def _update_cells(book: _Book, request: Json, where: str) -> Json:
    mask = _cell_mask(request, where)
    rows = request.get("rows", [])
    height = len(rows)
    width = max((len(row.get("values", [])) for row in rows), default=0)
    if ("start" in request) == ("range" in request):
        raise _unrecorded_400(f"Invalid {where}: exactly one of 'start' or 'range' must be set")
    if "range" in request:
        area = _grid_range(book, request["range"], where)
    else:
        start = request["start"]
        _check_keys(start, {"sheetId", "rowIndex", "columnIndex"}, f"{where}.start")
        sheet = _sheet_by_id(book, start.get("sheetId"), where)
        r0, c0 = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
        if r0 + height > sheet.rows or c0 + width > sheet.columns:
            raise _exceeds_grid(sheet, _Bounds(r0, r0 + height, c0, c0 + width), f"Invalid {where}: ")
        area = _Area(sheet, r0, r0 + height, c0, c0 + width)
    if area.r0 + height > area.r1:
        raise _bad_request(
            f"Invalid {where}: Attempting to write row: {area.r0 + height - 1}, "
            f"beyond the last requested row of: {area.r1 - 1}"
        )
    if area.c0 + width > area.c1:
        raise _bad_request(
            f"Invalid {where}: Attempting to write column: {area.c0 + width - 1}, "
            f"beyond the last requested column of: {area.c1 - 1}"
        )
    for i in range(area.r1 - area.r0):  # cells of the range that rows leave out are cleared
        line = rows[i].get("values", []) if i < height else []
        for j in range(area.c1 - area.c0):
            _apply_cell(area.sheet, area.r0 + i, area.c0 + j, line[j] if j < len(line) else {}, mask, where)
    return {}


def _append_cells(book: _Book, request: Json, where: str) -> Json:
    """Rows after the sheet's last row with data (its first row if it has none), growing the grid."""
    if "tableId" in request:
        raise _Rejected(_rpc_error(501, f"FakeSheets does not model tables ({where}.tableId)"))
    mask = _cell_mask(request, where)
    sheet = _sheet_by_id(book, request.get("sheetId"), where)
    rows = request.get("rows", [])
    width = max((len(row.get("values", [])) for row in rows), default=0)
    r0 = max(sheet.cells, default=-1) + 1
    if width > sheet.columns:
        raise _exceeds_grid(sheet, _Bounds(r0, r0 + len(rows), 0, width), f"Invalid {where}: ")
    grid = sheet.props["gridProperties"]
    grid["rowCount"] = max(sheet.rows, r0 + len(rows))
    for i, row in enumerate(rows):
        for j, cell in enumerate(row.get("values", [])):
            _apply_cell(sheet, r0 + i, j, cell, mask, where)
    return {}


def _dimension_range(
    book: _Book, request: Json, where: str, modelled: tuple[str, ...] = ("ROWS",)
) -> tuple[_Sheet, str, int, int]:
    """The sheet, dimension and 0-based, end-exclusive span of a request's DimensionRange.

    A dimension not in ``modelled`` answers 501: this fake does not model it for the request.
    """
    given = request.get("range", {})
    _check_keys(given, _DIMENSION_RANGE, f"{where}.range")
    sheet = _sheet_by_id(book, given.get("sheetId"), where)
    dimension = _dimension(given.get("dimension", "DIMENSION_UNSPECIFIED"), f"{where}.range.dimension")
    for name in ("startIndex", "endIndex"):
        if name not in given:  # as reported: a zero the client left out is refused, not assumed
            raise _unrecorded_400(f"Invalid {where}: range.{name} must be set")
    start, end = int(given["startIndex"]), int(given["endIndex"])
    if start < 0 or end < 0:  # Google's words, as reported (nithinmurali/pygsheets#361)
        raise _bad_request(f"Invalid {where}: DimensionRange indexes must be >= 0")
    if start >= end:
        raise _unrecorded_400(f"Invalid {where}: range.startIndex must be less than range.endIndex")
    if dimension == "DIMENSION_UNSPECIFIED":
        raise _unrecorded_400(f"Invalid {where}: range.dimension must be ROWS or COLUMNS")
    if dimension not in modelled:
        raise _Rejected(_rpc_error(501, f"FakeSheets does not model {where} on {dimension}"))
    return sheet, dimension, start, end


def _dimension(value: Json, field_name: str) -> str:
    _, proto_type, accepted = _ENUMS["majorDimension"]
    if value not in accepted:
        raise _invalid_value(field_name, f"type.googleapis.com/google.apps.sheets.v4.{proto_type}", value)
    return str(value)


def _append_dimension(book: _Book, request: Json, where: str) -> Json:
    sheet = _sheet_by_id(book, request.get("sheetId"), where)
    dimension = _dimension(request.get("dimension", "DIMENSION_UNSPECIFIED"), f"{where}.dimension")
    length = int(request.get("length", 0))
    if dimension not in ("ROWS", "COLUMNS") or length < 1:
        raise _unrecorded_400(f"Invalid {where}: give a dimension (ROWS or COLUMNS) and a positive length")
    key = "rowCount" if dimension == "ROWS" else "columnCount"
    sheet.props["gridProperties"][key] += length
    if sheet.columns > MAX_COLUMNS:
        raise _unrecorded_400(f"Invalid {where}: a sheet holds at most {MAX_COLUMNS} columns")
    return {}


def _update_dimension_properties(book: _Book, request: Json, where: str) -> Json:
    """Column widths and hiding (DimensionProperties); rows and data-source sheets answer 501."""
    if "dataSourceSheetRange" in request:
        raise _Rejected(_rpc_error(501, f"FakeSheets does not model {where} on data source sheets"))
    if "range" not in request:
        raise _unrecorded_400(f"Invalid {where}: range must be set")
    sheet, _, start, end = _dimension_range(book, request, where, modelled=("COLUMNS",))
    if end > sheet.columns:
        raise _exceeds_grid(sheet, _Bounds(None, None, start, end), f"Invalid {where}: ")
    given = request.get("properties", {})
    _check_keys(given, _DIMENSION_PROPERTIES, f"{where}.properties")
    mask = _mask_of(request, where)
    for path in mask:
        if path[0] not in ("pixelSize", "hiddenByUser"):
            raise _Rejected(_rpc_error(501, f"FakeSheets does not model {where} of '{path[0]}'"))
    size = given.get("pixelSize", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise _invalid_value(f"{where}.properties.pixel_size", "TYPE_INT32", size)
    for column in range(start, end):
        current = {"pixelSize": DEFAULT_COLUMN_PIXELS, **sheet.column_properties.get(column, {})}
        _apply_mask(current, given, mask)
        if not current.get("hiddenByUser"):
            current.pop("hiddenByUser", None)
        sheet.column_properties[column] = current
    return {}


def _insert_dimension(book: _Book, request: Json, where: str) -> Json:
    """Blank rows or columns at an index; what was there and after it moves on, nothing is overwritten."""
    sheet, dimension, start, end = _dimension_range(book, request, where, modelled=("ROWS", "COLUMNS"))
    size = sheet.rows if dimension == "ROWS" else sheet.columns
    inherit = bool(request.get("inheritFromBefore", False))
    if inherit and start == 0:
        raise _unrecorded_400(
            f"Invalid {where}: range.startIndex must be greater than 0 if inheritFromBefore is true"
        )
    if inherit and start > size:
        raise _unrecorded_400(f"Invalid {where}: range.startIndex must not exceed the grid size ({size})")
    if not inherit and start >= size:  # Google's words, as reported (nithinmurali/pygsheets#46)
        raise _bad_request(
            f"Invalid {where}: range.startIndex must be less than the grid size ({size}) "
            "if inheritFromBefore is false."
        )
    count = end - start
    # the row or column the new ones take their formats from, once the insert has moved it on
    source = start - 1 if inherit else end
    grid = sheet.props["gridProperties"]
    if dimension == "COLUMNS":
        sheet.remap_columns(lambda column: column + count if column >= start else column, count)
        for (row, column), fmt in list(sheet.formats.items()):
            if column == source:
                for new in range(start, end):
                    sheet.formats[row, new] = copy.deepcopy(fmt)
        if start < grid.get("frozenColumnCount", 0):
            grid["frozenColumnCount"] += count
        return {}
    sheet.shift_rows(start, count)
    for (row, column), fmt in list(sheet.formats.items()):
        if row == source:
            for new in range(start, end):
                sheet.formats[new, column] = copy.deepcopy(fmt)
    _shift_rule_rows(sheet, lambda index: index + count if index >= start else index)
    if start < grid.get("frozenRowCount", 0):
        grid["frozenRowCount"] += count
    return {}


def _delete_dimension(book: _Book, request: Json, where: str) -> Json:
    sheet, _, start, end = _dimension_range(book, request, where)
    if end > sheet.rows:
        raise _exceeds_grid(sheet, _Bounds(start, end, None, None), f"Invalid {where}: ")
    count = end - start
    grid = sheet.props["gridProperties"]
    frozen = grid.get("frozenRowCount", 0)
    frozen_left = frozen - max(0, min(end, frozen) - start)
    if sheet.rows - count <= frozen_left:
        if frozen_left:  # Google's words, as reported (theoephraim/node-google-spreadsheet#186)
            raise _bad_request(f"Invalid {where}: Sorry, it is not possible to delete all non-frozen rows.")
        raise _unrecorded_400(f"Invalid {where}: You can't delete all the rows on the sheet.")
    sheet.drop_rows(start, count)
    _shift_rule_rows(sheet, lambda index: index if index < start else max(start, index - count))
    if frozen_left:
        grid["frozenRowCount"] = frozen_left
    else:
        grid.pop("frozenRowCount", None)
    return {}


def _shift_rule_rows(sheet: _Sheet, moved: Callable[[int], int]) -> None:
    """Move the row bounds of the sheet's conditional-format and protected ranges as its rows moved."""
    for grid_range in sheet.rule_ranges():
        for key in ("startRowIndex", "endRowIndex"):
            if key in grid_range:
                grid_range[key] = moved(int(grid_range[key]))


def _set_data_validation(book: _Book, request: Json, where: str) -> Json:
    area = _grid_range(book, request.get("range", {}), where)
    rule = request.get("rule")
    if rule is not None:
        _check_keys(rule, {"condition", "inputMessage", "showCustomUi", "strict"}, f"{where}.rule")
    for row in range(area.r0, area.r1):
        for column in range(area.c0, area.c1):
            if rule is None:
                area.sheet.validations.pop((row, column), None)
            else:
                area.sheet.validations[row, column] = copy.deepcopy(rule)
    return {}


def _add_conditional_format_rule(book: _Book, request: Json, where: str) -> Json:
    rule = request.get("rule", {})
    _check_keys(rule, {"ranges", "booleanRule", "gradientRule"}, f"{where}.rule")
    ranges = rule.get("ranges", [])
    if not ranges:
        raise _unrecorded_400(f"Invalid {where}: Rule must have at least one range.")
    if ("booleanRule" in rule) == ("gradientRule" in rule):
        raise _unrecorded_400(f"Invalid {where}: Rule must have exactly one of booleanRule or gradientRule.")
    sheets = {_grid_range(book, r, where, f"rule.ranges[{i}]").sheet for i, r in enumerate(ranges)}
    if len(sheets) != 1:
        raise _unrecorded_400(f"Invalid {where}: All ranges must be on the same sheet.")
    (sheet,) = sheets
    index = int(request.get("index", 0))
    sheet.conditional_formats.insert(min(index, len(sheet.conditional_formats)), copy.deepcopy(rule))
    return {}


# --- helpers on areas and cells ---------------------------------------------------------------


def _resolve(sheet: _Sheet, bounds: _Bounds, prefix: str = "") -> _Area:
    """Close open sides at the grid's edge and clip; a range starting past the grid is refused."""
    r0, c0 = bounds.r0 or 0, bounds.c0 or 0
    if r0 >= sheet.rows or c0 >= sheet.columns:
        raise _exceeds_grid(sheet, bounds, prefix)
    r1 = sheet.rows if bounds.r1 is None else min(bounds.r1, sheet.rows)
    c1 = sheet.columns if bounds.c1 is None else min(bounds.c1, sheet.columns)
    return _Area(sheet, r0, max(r1, r0), c0, max(c1, c0))


def _trimmed(cells: list[_CellValue | None], render: str, date_render: str) -> list[Json]:
    while cells and cells[-1] is None:
        cells.pop()
    return ["" if cell is None else _render(cell, render, date_render) for cell in cells]


def _stored(cell: Json, option: str, where: str) -> _CellValue | None:
    """What a written JSON value becomes in the cell; None empties it."""
    if isinstance(cell, bool | int | float):
        return cell
    if not isinstance(cell, str):
        kind = "list_value" if isinstance(cell, list) else "struct_value"
        raise _unrecorded_400(f"Invalid {where.removeprefix('data.')}: {kind}")
    if option == "RAW":
        return cell or None
    return _user_entered(cell)


def _cells_of(values: Json, area: _Area | None, major: str) -> list[tuple[int, int]]:
    """The cells a write touched: every non-null value, as Google counts them."""
    if area is None:
        return []
    return [
        (area.r0 + j, area.c0 + i) if major == "COLUMNS" else (area.r0 + i, area.c0 + j)
        for i, line in enumerate(values)
        for j, cell in enumerate(line)
        if cell is not None
    ]


def _find_table(area: _Area) -> _Area | None:
    """The table ``values:append`` appends to: the block around the last filled cell of ``area``."""
    sheet, cells = area.sheet, area.sheet.cells
    filled = [
        r for r, line in cells.items() if area.r0 <= r < area.r1 and any(area.c0 <= c < area.c1 for c in line)
    ]
    if not filled:
        return None
    r0 = r1 = max(filled)
    c0 = c1 = max(c for c in cells[r0] if area.c0 <= c < area.c1)

    def row_filled(row: int, first: int, last: int) -> bool:
        return any(first <= c <= last for c in cells.get(row, ()))

    def column_filled(column: int, first: int, last: int) -> bool:
        return any(column in cells.get(r, ()) for r in range(max(first, 0), last + 1))

    grown = True
    while grown:  # widen until an empty row or column (diagonals included) closes every side
        grown = False
        while r0 > 0 and row_filled(r0 - 1, c0 - 1, c1 + 1):
            r0, grown = r0 - 1, True
        while r1 + 1 < sheet.rows and row_filled(r1 + 1, c0 - 1, c1 + 1):
            r1, grown = r1 + 1, True
        while c0 > 0 and column_filled(c0 - 1, r0 - 1, r1 + 1):
            c0, grown = c0 - 1, True
        while c1 + 1 < sheet.columns and column_filled(c1 + 1, r0 - 1, r1 + 1):
            c1, grown = c1 + 1, True
    return _Area(sheet, r0, r1 + 1, c0, c1 + 1)


def _apply_cell(
    sheet: _Sheet, row: int, column: int, given: Json, mask: Sequence[tuple[str, ...]], where: str
) -> None:
    current: dict[str, Json] = {}
    value = sheet.cells.get(row, {}).get(column)
    if value is not None:
        current["userEnteredValue"] = _entered_value(value)
    if (row, column) in sheet.formats:
        current["userEnteredFormat"] = copy.deepcopy(sheet.formats[row, column])
    if (row, column) in sheet.validations:
        current["dataValidation"] = copy.deepcopy(sheet.validations[row, column])
    if (row, column) in sheet.notes:
        current["note"] = sheet.notes[row, column]
    _apply_mask(current, given, mask)
    sheet.set(row, column, _from_entered(current.get("userEnteredValue"), where))
    if current.get("userEnteredFormat"):
        sheet.formats[row, column] = _with_color_styles(current["userEnteredFormat"])
    else:
        sheet.formats.pop((row, column), None)
    if current.get("dataValidation"):
        sheet.validations[row, column] = current["dataValidation"]
    else:
        sheet.validations.pop((row, column), None)
    if current.get("note"):
        sheet.notes[row, column] = str(current["note"])
    else:
        sheet.notes.pop((row, column), None)


def _entered_value(value: _CellValue) -> Json:
    if isinstance(value, _Formula):
        return {"formulaValue": value.text}
    if isinstance(value, _Displayed):
        return {"numberValue": _json_number(value.number)}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int | float):
        return {"numberValue": _json_number(value)}
    return {"stringValue": value}


def _from_entered(entered: Json, where: str) -> _CellValue | None:
    if not entered:
        return None
    _check_keys(
        entered, {"stringValue", "numberValue", "boolValue", "formulaValue"}, f"{where}.cell.userEnteredValue"
    )
    if "formulaValue" in entered:
        return _Formula(str(entered["formulaValue"]))
    if "boolValue" in entered:
        return bool(entered["boolValue"])
    if "numberValue" in entered:
        return _json_number(float(entered["numberValue"]))
    return str(entered.get("stringValue", "")) or None


def _grid_data(area: _Area) -> Json:
    rows: list[Json] = []
    for row in range(area.r0, area.r1):
        values = [_cell_data(area.sheet, row, column) for column in range(area.c0, area.c1)]
        while values and not values[-1]:
            values.pop()
        rows.append({"values": values} if values else {})
    while rows and not rows[-1]:
        rows.pop()
    data: Json = {}
    if area.r0:
        data["startRow"] = area.r0
    if area.c0:
        data["startColumn"] = area.c0
    data["rowData"] = rows
    data["rowMetadata"] = [{"pixelSize": 21} for _ in range(area.r0, area.r1)]
    data["columnMetadata"] = [
        copy.deepcopy(area.sheet.column_properties.get(c, {"pixelSize": DEFAULT_COLUMN_PIXELS}))
        for c in range(area.c0, area.c1)
    ]
    return data


def _cell_data(sheet: _Sheet, row: int, column: int) -> Json:
    cell: Json = {}
    value = sheet.cells.get(row, {}).get(column)
    if value is not None:
        cell["userEnteredValue"] = _entered_value(value)
        computed = _evaluate(value) if isinstance(value, _Formula) else value
        if not isinstance(value, _Formula) or computed != value.text:
            cell["effectiveValue"] = _entered_value(computed)
        cell["formattedValue"] = _render(value, "FORMATTED_VALUE", "SERIAL_NUMBER")
    if (row, column) in sheet.formats:
        cell["userEnteredFormat"] = copy.deepcopy(sheet.formats[row, column])
    if (row, column) in sheet.validations:
        cell["dataValidation"] = copy.deepcopy(sheet.validations[row, column])
    if (row, column) in sheet.notes:
        cell["note"] = sheet.notes[row, column]
    return cell
