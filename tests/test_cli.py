"""The command line, end to end: init, check-config, sync, status, run and serve + SIGTERM, demo."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from sheetsync.cli import main
from sheetsync.model import STATUS_SHEET


def type_rows(workbook: Path, rows: list[tuple[str, object]]) -> None:
    book = load_workbook(workbook)
    for number, (sku, quantity) in enumerate(rows, start=2):
        book["Inventory"].cell(number, 1, sku)
        book["Inventory"].cell(number, 2, quantity)
    book.save(workbook)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    assert main(["init", "--dir", str(tmp_path)]) == 0
    type_rows(tmp_path / "inventory.xlsx", [("A-1", 10), ("B-2", "1,000")])
    return tmp_path


def test_init_writes_a_valid_config_and_template_and_refuses_to_overwrite(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = [c.value for c in load_workbook(project / "inventory.xlsx")["Inventory"][1]]
    assert headers[:3] == ["SKU", "Quantity", "Override"]
    assert main(["init", "--dir", str(project)]) == 1
    assert "already exists; not overwriting it" in capsys.readouterr().out


def test_check_config_ok_and_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = project / "sheetsync.toml"
    assert main(["check-config", "--config", str(config)]) == 0
    assert "channel facebook: sandbox 'Facebook', every 60s" in capsys.readouterr().out
    config.write_text(config.read_text().replace('hold = "15%"', 'hold = "15 percent"'))
    assert main(["check-config", "--config", str(config)]) == 2
    assert f'{config}: channels.facebook.tiers[1].hold: "15 percent" is not a hold' in capsys.readouterr().out
    located = config.read_text().replace('hold = "15 percent"', 'hold = "15%"')
    located = located.replace("# locations = [", "locations = [").replace(
        '# currency = "EUR"', 'currency = "EUR"'
    )
    config.write_text(located.replace("# [prices]", "[prices]"))
    assert main(["check-config", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "locations: Shop, Warehouse\nprices: pushed in EUR\n" in out
    assert "channel google: sandbox 'Google', every 120s, sells from Shop, Warehouse" in out


def test_sync_once_then_status(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(project / "sheetsync.toml")
    assert main(["sync", "--once", "--config", config]) == 0
    assert "pushed shopify 1, facebook 1, google 1; 1 rows flagged" in capsys.readouterr().out
    inventory = load_workbook(project / "inventory.xlsx")["Inventory"]
    header = [c.value for c in inventory[1]]
    assert inventory.cell(2, header.index("Shopify") + 1).value == 8
    assert main(["status", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "2 rows: 1 ERROR, 1 OK" in out
    assert "has a thousands separator" in out


def test_status_knows_a_bundle_row_has_no_count_of_its_own(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = load_workbook(project / "inventory.xlsx")
    book["Inventory"].cell(4, 1, "KIT")
    book.create_sheet("Bundles").append(["Bundle", "Component", "Quantity"])
    book["Bundles"].append(["KIT", "A-1", 2])
    book.save(project / "inventory.xlsx")
    config = str(project / "sheetsync.toml")
    assert main(["sync", "--once", "--config", config]) == 0
    capsys.readouterr()
    assert main(["status", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "3 rows: 1 ERROR, 2 OK" in out  # the bundle is OK: 10 // 2 = 5
    assert "KIT" not in out


def test_missing_workbook_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--dir", str(tmp_path)]) == 0
    (tmp_path / "inventory.xlsx").unlink()
    assert main(["sync", "--once", "--config", str(tmp_path / "sheetsync.toml")]) == 2
    assert "master.path: no workbook at" in capsys.readouterr().out


def test_run_finishes_its_cycle_on_sigterm_and_exits_0(project: Path) -> None:
    config = project / "sheetsync.toml"
    config.write_text(config.read_text().replace("interval = 30", "interval = 1"))
    worker = subprocess.Popen(
        [sys.executable, "-m", "sheetsync", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert worker.stdout is not None
        cycles = 0
        deadline = time.monotonic() + 60
        while cycles < 2 and time.monotonic() < deadline:  # wait for the worker to say so
            line = worker.stdout.readline()
            cycles += "cycle: ingested" in line
        assert cycles == 2
        worker.send_signal(signal.SIGTERM)
        rest, _ = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 0
    assert "finishing the current cycle, then stopping" in rest
    assert rest.rstrip().endswith("stopped")
    status = load_workbook(project / "inventory.xlsx")[STATUS_SHEET]
    assert [row[0] for row in status.iter_rows(min_row=2, values_only=True)][:3] == [
        "Shopify",
        "Facebook",
        "Google",
    ]


def test_serve_answers_healthz_and_stops_on_sigterm(project: Path) -> None:
    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["serve", "--config", str(project / "sheetsync.toml"), "--port", str(port)]
    server = subprocess.Popen(
        [sys.executable, "-m", "sheetsync", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while not any("cycle: ingested" in line for line in lines) and time.monotonic() < deadline:
            lines.append(server.stdout.readline())  # serving, and the worker has run a cycle
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").text == "ok"
        server.send_signal(signal.SIGTERM)
        rest, _ = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == 0
    assert rest.rstrip().endswith("stopped")


def slowdown(out: str) -> tuple[str, str, str]:
    """The demo's times for Google: LAG flagged, alert, first oversell ("none" when none)."""
    found = re.search(r"LAG flagged (\S+), alert (\S+), first oversell on google: (\S+)", out)
    assert found is not None, out
    return found[1], found[2], found[3]


def test_demo_ends_without_oversells_and_oversells_without_buffers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook = tmp_path / "demo.xlsx"
    assert main(["demo", "--workbook", str(workbook)]) == 0
    out = capsys.readouterr().out
    buffered = out.strip().splitlines()[-1]
    flagged, alerted, oversold = slowdown(out)
    assert "10:00" < flagged <= alerted  # Google slows at 09:50; its 20 min limit passes after 10:10
    assert oversold == "none"
    assert "ALERT Google is lagging: " in out
    # The gift set (a T-shirt and a mug) sells once: each component drops by one everywhere.
    gift = [line for line in out.splitlines() if "bundle GIFT-SET sold on shopify" in line][-1]
    assert "TEE-BLK-M 24→23" in gift
    assert "MUG-LOGO 40→39" in gift
    assert main(["demo", "--no-buffers", "--workbook", str(workbook)]) == 0
    out = capsys.readouterr().out
    unbuffered = out.strip().splitlines()[-1]
    flagged, alerted, oversold = slowdown(out)
    assert oversold != "none"
    assert flagged <= alerted < oversold  # without buffers Google oversells, but after the alert
    fields = {k: int(v) for k, v in (item.split("=") for item in buffered.split())}
    assert fields["oversells"] == 0
    assert fields["orders"] > 0
    assert fields["pushes"] > 0
    assert int(unbuffered.rsplit("oversells=", 1)[1]) > 0
    inventory = load_workbook(workbook)["Inventory"]
    assert inventory.cell(2, 1).value == "TEE-BLK-M"  # the workbook is left to open


def test_demo_on_the_sheets_fake_sells_the_same_as_on_the_workbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook = tmp_path / "demo.xlsx"
    assert main(["demo", "--seed", "3", "--workbook", str(workbook)]) == 0
    on_workbook = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["demo", "--seed", "3", "--master", "sheets-fake", "--workbook", str(workbook)]) == 0
    out = capsys.readouterr().out
    # The same buyers meet the same quantities whichever master holds them.
    assert out.strip().splitlines()[-1] == on_workbook
    assert "Google Sheets fake: " in out
