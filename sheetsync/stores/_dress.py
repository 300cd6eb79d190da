"""The template's look, made from ``_template``: openpyxl styles for a workbook, requests for a Google Sheet.

Neither locks the merchant out.  A workbook gets no sheet protection (Excel would then refuse to
delete a row holding a locked cell, or to add a column): the worker's columns are grey, their
headers carry a note, and typing in one asks "continue?" (a data validation that warns).  A
Google Sheet gets the same look and warning-only protected ranges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.formatting.rule import Rule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.differential import DifferentialStyle
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_SHEET,
    OVERRIDE,
    ROW_STATUS,
    SKU,
    STATE_SHEET,
    STATUS_SHEET,
    Layout,
)
from sheetsync.stores._template import (
    CHANNEL_STATES,
    CONTROL_WORDS,
    README_SHEET,
    README_WIDTHS,
    ROW_FLAGS,
    TEMPLATE_ROWS,
    WORKER_FILL,
    WORKER_HEADER_FILL,
    WORKER_NOTE,
    Column,
    Flag,
    inventory_columns,
    ledger_columns,
    override_rule,
    readme,
    rgb,
    status_columns,
    template_columns,
)

Json = dict[str, Any]
#: Pixels per character of column width in Google Sheets (Arial 10, as the UI sizes a column).
PIXELS_PER_CHARACTER = 7
#: Rows the Status tab's Control validation covers: a row per channel and a few more.
STATUS_ROWS = 50

# -- the workbook -------------------------------------------------------------------------------


def dress_workbook(wb: Workbook, layout: Layout) -> None:
    """Add the Read me, colours, notes, validations, widths and panes to a new template; hide State."""
    inventory, status = wb[INVENTORY_SHEET], wb[STATUS_SHEET]
    _dress_table(inventory, template_columns(layout), ROW_STATUS, ROW_FLAGS)
    _dress_table(status, status_columns(), "state", CHANNEL_STATES)
    _dress_table(wb[LEDGER_SHEET], ledger_columns(layout), None, ())
    inventory.freeze_panes = "B2"  # the header row and the SKU column stay in view
    override = _letter(template_columns(layout), OVERRIDE)
    _validate(
        inventory,
        DataValidation(
            type="custom",
            formula1=override_rule(f"{override}2"),
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="Override",
            error="Type a whole number of at least 0, or PAUSE, or leave it blank.",
        ),
        f"{override}2:{override}{TEMPLATE_ROWS}",
    )
    control = _letter(status_columns(), "control")
    _validate(
        status,
        DataValidation(
            type="list",
            formula1=f'"{",".join(CONTROL_WORDS)}"',
            allow_blank=True,
            showErrorMessage=True,
            errorStyle="warning",  # TRUE (a ticked box) and "yes" pause a channel too
            errorTitle="Control",
            error="PAUSE pauses the channel (clear it to resume); CONFIRM lets its held first sync go; "
            "ACCEPT lets the Volume guard's shrink through.",
        ),
        f"{control}2:{control}{STATUS_ROWS}",
    )
    wb[STATE_SHEET].sheet_state = "hidden"
    _write_readme(wb.create_sheet(README_SHEET, 0), layout)
    for ws in wb.worksheets:  # printed (or exported) a page wide, landscape
        ws.page_setup.orientation = "landscape"
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    wb.active = 1  # open on the Inventory


def _dress_table(
    ws: Worksheet, columns: Sequence[Column], flagged: str | None, flags: Sequence[Flag]
) -> None:
    """Widths; worker headers grey with a note; flag colours on the ``flagged`` column; warnings."""
    last = TEMPLATE_ROWS if ws.title == INVENTORY_SHEET else STATUS_ROWS
    for number, column in enumerate(columns, start=1):
        letter = get_column_letter(number)
        ws.column_dimensions[letter].width = column.width
        if column.logical == SKU:
            continue
        if column.logical == flagged:
            for flag in flags:  # added first: higher priority than the grey below
                fill = PatternFill(start_color=flag.colour, end_color=flag.colour, fill_type="solid")
                rule = Rule(
                    type="cellIs",
                    operator="equal",
                    formula=[f'"{flag.word}"'],
                    dxf=DifferentialStyle(fill=fill),
                    stopIfTrue=True,
                )
                ws.conditional_formatting.add(f"{letter}2:{letter}{last}", rule)
    worker = [n for n, c in enumerate(columns, start=1) if c.worker]
    if ws.title == LEDGER_SHEET or not worker:
        return  # the merchant adds Ledger rows of their own: no warnings there
    grey = PatternFill(start_color=WORKER_FILL, end_color=WORKER_FILL, fill_type="solid")
    header_grey = PatternFill(start_color=WORKER_HEADER_FILL, end_color=WORKER_HEADER_FILL, fill_type="solid")
    warning = DataValidation(
        type="custom",
        formula1="FALSE",
        showErrorMessage=True,
        errorStyle="warning",
        errorTitle="sheetsync",
        error=f"This column is {WORKER_NOTE}.",
    )
    for number in worker:
        letter = get_column_letter(number)
        header = ws.cell(row=1, column=number)
        header.fill = header_grey
        header.comment = Comment(WORKER_NOTE, "sheetsync", width=220, height=40)
        rule = Rule(type="expression", formula=["TRUE"], dxf=DifferentialStyle(fill=grey))
        ws.conditional_formatting.add(f"{letter}2:{letter}{last}", rule)
        warning.add(f"{letter}2:{letter}{last}")
    ws.add_data_validation(warning)


def _validate(ws: Worksheet, validation: DataValidation, cells: str) -> None:
    validation.add(cells)
    ws.add_data_validation(validation)


def _letter(columns: Sequence[Column], logical: str) -> str:
    return get_column_letter(next(n for n, c in enumerate(columns, start=1) if c.logical == logical))


def _write_readme(ws: Worksheet, layout: Layout) -> None:
    for number, width in enumerate(README_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(number)].width = width
    for number, row in enumerate(readme(layout), start=1):
        # Spreadsheet apps do not grow a wrapped row on opening a file: give it its lines' height.
        lines = -(-len(row.cells[2]) // README_WIDTHS[2])
        if lines > 1:
            ws.row_dimensions[number].height = 15 * lines
        for column, text in enumerate(row.cells, start=1):
            cell = ws.cell(row=number, column=column)
            cell.value = text or None
            cell.data_type = "s"
            cell.alignment = Alignment(wrap_text=column == 3, vertical="top")
            if row.heading:
                cell.font = Font(bold=True, size=13 if number == 1 else 11)
            if row.fill and column == 1:
                cell.fill = PatternFill(start_color=row.fill, end_color=row.fill, fill_type="solid")


# -- Google Sheets ------------------------------------------------------------------------------


def grid_range(sheet_id: int, column: int, first_row: int = 1, last_row: int | None = None) -> Json:
    """A GridRange over one column (1-based), rows ``first_row`` (0-based) to ``last_row`` or the end."""
    found: Json = {"sheetId": sheet_id, "startRowIndex": first_row, "startColumnIndex": column - 1}
    found["endColumnIndex"] = column
    if last_row is not None:
        found["endRowIndex"] = last_row
    return found


def flag_rules(sheet_id: int, column: int, flags: Sequence[Flag]) -> list[Json]:
    """The addConditionalFormatRule requests colouring ``column``'s cells by their flag."""
    return [
        {
            "addConditionalFormatRule": {
                "index": index,
                "rule": {
                    "ranges": [grid_range(sheet_id, column)],
                    "booleanRule": {
                        "condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": flag.word}]},
                        "format": {"backgroundColor": rgb(flag.colour)},
                    },
                },
            }
        }
        for index, flag in enumerate(flags)
    ]


def worker_column_requests(sheet_id: int, column: int) -> list[Json]:
    """A worker column: grey, its header darker with the note, and a warning-only protected range."""
    return [
        {
            "repeatCell": {
                "range": grid_range(sheet_id, column),
                "cell": {"userEnteredFormat": {"backgroundColor": rgb(WORKER_FILL)}},
                "fields": "userEnteredFormat.backgroundColor",
            }
        },
        {
            "repeatCell": {
                "range": grid_range(sheet_id, column, 0, 1),
                "cell": {
                    "userEnteredFormat": {"backgroundColor": rgb(WORKER_HEADER_FILL)},
                    "note": WORKER_NOTE,
                },
                "fields": "userEnteredFormat.backgroundColor,note",
            }
        },
        {
            "addProtectedRange": {
                "protectedRange": {
                    "range": grid_range(sheet_id, column),
                    "description": WORKER_NOTE,
                    "warningOnly": True,
                }
            }
        },
    ]


def width_requests(sheet_id: int, widths: Mapping[int, int]) -> list[Json]:
    """The updateDimensionProperties requests: column (1-based) → width in characters."""
    return [
        {
            "updateDimensionProperties": {
                "range": {
                    "sheetId": sheet_id,
                    "dimension": "COLUMNS",
                    "startIndex": column - 1,
                    "endIndex": column,
                },
                "properties": {"pixelSize": width * PIXELS_PER_CHARACTER},
                "fields": "pixelSize",
            }
        }
        for column, width in sorted(widths.items())
    ]


def override_validation(sheet_id: int, column: int) -> Json:
    """setDataValidation: Override takes a whole number ≥ 0, PAUSE, or nothing (others refused)."""
    cell = f"{get_column_letter(column)}2"  # relative: Sheets moves it to each cell of the range
    return {
        "setDataValidation": {
            "range": grid_range(sheet_id, column),
            "rule": {
                "condition": {
                    "type": "CUSTOM_FORMULA",
                    "values": [{"userEnteredValue": "=" + override_rule(cell)}],
                },
                "inputMessage": "A whole number of at least 0, PAUSE, or blank",
                "strict": True,
            },
        }
    }


def control_validation(sheet_id: int, column: int) -> Json:
    """setDataValidation: Control offers PAUSE, CONFIRM and ACCEPT, and only warns on anything else."""
    return {
        "setDataValidation": {
            "range": grid_range(sheet_id, column),
            "rule": {
                "condition": {
                    "type": "ONE_OF_LIST",
                    "values": [{"userEnteredValue": w} for w in CONTROL_WORDS],
                },
                "showCustomUi": True,
                "strict": False,
            },
        }
    }


def readme_values(layout: Layout) -> list[list[str]]:
    """The Read me tab's cells."""
    return [list(row.cells) for row in readme(layout)]


def readme_requests(sheet_id: int, layout: Layout) -> list[Json]:
    """Widths, wrapping, bold headings and flag colours of the Read me tab."""
    requests = width_requests(sheet_id, dict(enumerate(README_WIDTHS, start=1)))
    requests.append(
        {
            "repeatCell": {
                "range": {"sheetId": sheet_id, "startColumnIndex": 2, "endColumnIndex": 3},
                "cell": {"userEnteredFormat": {"wrapStrategy": "WRAP", "verticalAlignment": "TOP"}},
                "fields": "userEnteredFormat.wrapStrategy,userEnteredFormat.verticalAlignment",
            }
        }
    )
    for number, row in enumerate(readme(layout)):
        if row.heading:
            cells: Json = {"userEnteredFormat": {"textFormat": {"bold": True}}}
            fields = "userEnteredFormat.textFormat.bold"
        elif row.fill:
            cells = {"userEnteredFormat": {"backgroundColor": rgb(row.fill)}}
            fields = "userEnteredFormat.backgroundColor"
        else:
            continue
        span = {"sheetId": sheet_id, "startRowIndex": number, "endRowIndex": number + 1}
        span |= {"startColumnIndex": 0, "endColumnIndex": 3 if row.heading else 1}
        requests.append({"repeatCell": {"range": span, "cell": cells, "fields": fields}})
    return requests


def _protected_columns(sheet: Json) -> set[int]:
    """1-based columns that already carry our warning-only protection."""
    return {
        int(p["range"].get("startColumnIndex", 0)) + 1
        for p in sheet.get("protectedRanges", [])
        if p.get("description") == WORKER_NOTE
    }


def _validated(sheet: Json) -> bool:
    """Whether the one cell fetched of ``sheet`` (row 2 of a column) has a data validation."""
    return any(
        "dataValidation" in value
        for data in sheet.get("data", [])
        for row in data.get("rowData", [])
        for value in row.get("values", [])
    )


def sheet_dress(
    tabs: Mapping[str, Json],
    fetched: Mapping[str, Json],
    layout: Layout,
    found: Mapping[str, Mapping[str, int]],
) -> tuple[list[Json], list[Json], list[str]]:
    """What a Google Sheet still lacks of the template's look: (batchUpdate requests, value ranges, lines).

    ``tabs`` are the sheets' properties by title, ``fetched`` the Inventory and Status as a
    spreadsheets.get with grid data of row 2 of Override and Control answered them, ``found``
    each tab's columns as read.  Each part is added once: a second run returns nothing.
    """
    requests: list[Json] = []
    values: list[Json] = []
    done: list[str] = []
    marked: list[str] = []  #: tabs with a worker column marked now
    for name, described in (
        (INVENTORY_SHEET, {c.logical: c for c in inventory_columns(layout)}),
        (STATUS_SHEET, {c.logical: c for c in status_columns()}),
    ):
        sheet_id, columns = int(tabs[name]["sheetId"]), found.get(name, {})
        protected = _protected_columns(fetched.get(name, {}))
        if not protected:  # a first dressing: every known column's width
            requests += width_requests(
                sheet_id, {n: described[k].width for k, n in columns.items() if k in described}
            )
        for logical, column in columns.items():
            if logical in described and described[logical].worker and column not in protected:
                requests += worker_column_requests(sheet_id, column)
                marked += [] if name in marked else [name]
    if marked:
        done.append(
            f"marked the worker's columns on {' and '.join(marked)} (grey, a note, a warning on editing)"
        )
    inventory, status = found.get(INVENTORY_SHEET, {}), found.get(STATUS_SHEET, {})
    if OVERRIDE in inventory and not _validated(fetched.get(INVENTORY_SHEET, {})):
        requests.append(override_validation(int(tabs[INVENTORY_SHEET]["sheetId"]), inventory[OVERRIDE]))
        done.append("Override now takes only a whole number of at least 0, PAUSE, or nothing")
    if "control" in status and not _validated(fetched.get(STATUS_SHEET, {})):
        status_id = int(tabs[STATUS_SHEET]["sheetId"])
        requests.append(control_validation(status_id, status["control"]))
        if "state" in status:
            requests += flag_rules(status_id, status["state"], CHANNEL_STATES)
        done.append("Control offers PAUSE, CONFIRM and ACCEPT; the Status tab's State is coloured")
    grid = tabs[INVENTORY_SHEET].get("gridProperties", {})
    if inventory.get(SKU) == 1 and not grid.get("frozenColumnCount"):
        requests.append(_sheet_properties(int(tabs[INVENTORY_SHEET]["sheetId"]), frozen_columns=1))
        done.append("froze the SKU column")
    if STATE_SHEET in tabs and not tabs[STATE_SHEET].get("hidden"):
        requests.append(_sheet_properties(int(tabs[STATE_SHEET]["sheetId"]), hidden=True))
        done.append("hid the State tab (the worker's bookkeeping)")
    if README_SHEET not in tabs:
        readme_id = max(int(t["sheetId"]) for t in tabs.values()) + 1
        properties = {"sheetId": readme_id, "title": README_SHEET, "index": 0}
        requests += [{"addSheet": {"properties": properties}}, *readme_requests(readme_id, layout)]
        rows = readme_values(layout)
        values.append({"range": f"'{README_SHEET}'!A1:C{len(rows)}", "values": rows})
        done.append(f"added the {README_SHEET} tab: every tab, column and flag in plain words")
    return requests, values, done


def _sheet_properties(
    sheet_id: int, *, frozen_columns: int | None = None, hidden: bool | None = None
) -> Json:
    if hidden is not None:
        return {
            "updateSheetProperties": {
                "properties": {"sheetId": sheet_id, "hidden": hidden},
                "fields": "hidden",
            }
        }
    return {
        "updateSheetProperties": {
            "properties": {"sheetId": sheet_id, "gridProperties": {"frozenColumnCount": frozen_columns}},
            "fields": "gridProperties.frozenColumnCount",
        }
    }
