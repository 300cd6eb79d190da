"""Times in the merchant's zone: `timezone` in the config sets how the sheet shows them.

The config is the template `init` writes; the master its workbook; the channels its sandboxes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sheetsync.cli import main
from sheetsync.config import load
from sheetsync.errors import ConfigError
from sheetsync.model import INVENTORY_SHEET, STATUS_SHEET, sheet_time


def shop(tmp_path: Path, zone: str | None) -> Path:
    """`sheetsync init`, a zone set at the top of the config, one SKU typed in."""
    assert main(["init", "--dir", str(tmp_path)]) == 0
    config = tmp_path / "sheetsync.toml"
    if zone is not None:
        config.write_text(f'timezone = "{zone}"\n' + config.read_text(encoding="utf-8"), encoding="utf-8")
    book = load_workbook(tmp_path / "inventory.xlsx")
    sheet = book[INVENTORY_SHEET]
    sheet.cell(2, 1).value, sheet.cell(2, 2).value = "MUG", 10
    book.save(tmp_path / "inventory.xlsx")
    return config


def written(config: Path) -> tuple[str, str]:
    """After a sync: the row's Synced cell and the first channel's Last sync cell."""
    assert main(["sync", "--config", str(config)]) == 0
    book = load_workbook(config.parent / "inventory.xlsx")
    inventory, status = book[INVENTORY_SHEET], book[STATUS_SHEET]
    synced = next(c.column for c in inventory[1] if c.value == "Synced")
    last = next(c.column for c in status[1] if c.value == "Last sync")
    return str(inventory.cell(2, synced).value), str(status.cell(2, last).value)


def test_the_sheet_shows_times_in_the_configured_zone_with_its_offset(tmp_path: Path) -> None:
    synced, last = written(shop(tmp_path, "Asia/Kolkata"))  # +05:30 all year: no summer time

    for text in (synced, last):
        moment = datetime.fromisoformat(text)
        assert text.endswith("+05:30")
        assert abs(moment - datetime.now(UTC)) < timedelta(minutes=5)  # the same instant, shown there


def test_without_a_zone_times_stay_utc(tmp_path: Path) -> None:
    synced, last = written(shop(tmp_path, None))

    assert synced.endswith("Z")
    assert last.endswith("Z")


def test_a_zone_that_does_not_exist_is_named_with_the_form_expected(tmp_path: Path) -> None:
    config = shop(tmp_path, "Bucharest")

    with pytest.raises(
        ConfigError, match=r"timezone: 'Bucharest' is not a time zone \(like Europe/Bucharest"
    ):
        load(config)


def test_sheet_time_is_never_ambiguous() -> None:
    at = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    assert sheet_time(at) == "2026-11-27T09:00:00Z"
    assert sheet_time(at.astimezone(timezone(timedelta(hours=2)))) == "2026-11-27T11:00:00+02:00"
