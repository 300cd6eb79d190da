"""The command line, end to end: init, check-config, sync, status, run and serve + SIGTERM, demo."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from sheetsync.cli import _parser, main
from sheetsync.errors import PermanentError
from sheetsync.model import STATUS_SHEET


def type_rows(workbook: Path, rows: list[tuple[str, int | str]]) -> None:
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
    out, err = capsys.readouterr()
    assert "already exists; not overwriting it" in err
    assert out == ""


def test_check_config_ok_and_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = project / "sheetsync.toml"
    assert main(["check-config", "--config", str(config)]) == 0
    assert "channel facebook: sandbox 'Facebook', every 60s" in capsys.readouterr().out
    config.write_text(config.read_text().replace('hold = "15%"', 'hold = "15 percent"'))
    assert main(["check-config", "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    assert f'{config}: [channels.facebook] tiers, second tier, hold: "15 percent" is not a hold' in err
    assert out == ""
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
    assert main(["sync", "--config", str(tmp_path / "sheetsync.toml")]) == 2
    assert "master.path: no workbook at" in capsys.readouterr().err


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


def test_demo_ends_without_oversells_on_either_master(
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
    fields = {k: int(v) for k, v in (item.split("=") for item in buffered.split())}
    assert fields["oversells"] == 0
    assert fields["orders"] > 0
    assert fields["pushes"] > 0
    book = load_workbook(workbook)
    assert book["Inventory"].cell(2, 1).value == "TEE-BLK-M"  # the workbook is left to open
    # The marketplace synced too: its Status row shows its lag measured from its own pushes.
    marketplace = next(row for row in book["Status"].iter_rows(values_only=True) if row[0] == "eMAG")
    assert marketplace[2] == "OK"
    assert marketplace[6] == "5m 0s"
    # The same buyers meet the same quantities whichever master holds them.
    assert main(["demo", "--master", "sheets-fake", "--workbook", str(workbook)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == buffered
    assert "Google Sheets fake: " in out


def test_the_demo_without_buffers_oversells_after_the_alert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook = tmp_path / "demo.xlsx"
    workbook.write_bytes(b"")  # a file already there: --force replaces it
    assert main(["demo", "--no-buffers", "--force", "--workbook", str(workbook)]) == 0
    out = capsys.readouterr().out
    unbuffered = out.strip().splitlines()[-1]
    flagged, alerted, oversold = slowdown(out)
    assert oversold != "none"
    assert flagged <= alerted < oversold  # without buffers Google oversells, but after the alert
    assert int(unbuffered.rsplit("oversells=", 1)[1]) > 0


# --- the CLI's conventions: errors, logging flags, --config, help, the demo's workbook, imports ---


@pytest.fixture
def levels() -> Iterator[None]:
    """main() sets the sheetsync and httpx loggers' levels; put them back for the next test."""
    loggers = [logging.getLogger(name) for name in ("sheetsync", "httpx")]
    saved = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, saved, strict=True):
        logger.setLevel(level)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """What main printed for an error: nothing on stdout, one line on stderr, no traceback."""
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_a_directory_as_config_is_one_line_naming_the_file_to_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("check-config", "sync", "status", "run"):
        assert main([command, "--config", str(tmp_path)]) == 2
        line = one_error_line(capsys)
        assert f"{tmp_path} is a directory" in line
        assert f"--config {tmp_path / 'sheetsync.toml'}" in line


def test_a_config_with_a_utf8_bom_loads(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = project / "sheetsync.toml"
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())  # Notepad's "UTF-8 with BOM"
    assert main(["check-config", "--config", str(config)]) == 0
    assert f"{config}: OK" in capsys.readouterr().out


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])  # with a BOM, and without
def test_a_utf16_config_is_refused_with_the_fix(
    encoding: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project / "sheetsync.toml"
    config.write_bytes(config.read_text(encoding="utf-8").encode(encoding))
    assert main(["check-config", "--config", str(config)]) == 2
    assert f"{config} is UTF-16; save it as UTF-8" in one_error_line(capsys)


def locked_replace(workbook: Path, real: Callable[..., None]) -> Callable[..., None]:
    """os.replace as Windows answers while Excel has the workbook open."""

    def replace(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if Path(str(dst)).resolve() == workbook.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", str(src), None, str(dst))
        real(src, dst, *args, **kwargs)

    return replace


def test_an_unwritable_workbook_is_one_line_naming_it(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook = project / "inventory.xlsx"
    before = workbook.read_bytes()
    monkeypatch.setattr(os, "replace", locked_replace(workbook, os.replace))
    assert main(["sync", "--config", str(project / "sheetsync.toml")]) == 1
    line = one_error_line(capsys)
    assert str(workbook) in line
    assert "open in Excel" in line
    assert "read-only" in line
    assert workbook.read_bytes() == before
    assert [p.name for p in project.iterdir() if p.name.endswith(".tmp")] == []  # no temporary left


def test_an_unreadable_workbook_is_one_line_naming_it(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook = project / "inventory.xlsx"

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(workbook))

    monkeypatch.setattr("sheetsync.stores.workbook.load_workbook", refuse)
    assert main(["status", "--config", str(project / "sheetsync.toml")]) == 1
    line = one_error_line(capsys)
    assert str(workbook) in line
    assert "open in Excel" in line


def test_os_errors_elsewhere_and_bugs_keep_their_traceback(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = str(project / "sheetsync.toml")

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(project.parent / "elsewhere.log"))

    monkeypatch.setattr("sheetsync.worker.run_cycle", disk_full)
    with pytest.raises(OSError, match="No space left"):
        main(["sync", "--config", config])

    def bug(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr("sheetsync.worker.run_cycle", bug)
    with pytest.raises(KeyError):
        main(["sync", "--config", config])


def test_init_that_cannot_write_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def read_only(path: Path, *args: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr("sheetsync.cli.create_workbook", read_only)
    assert main(["init", "--dir", str(tmp_path)]) == 1
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        f"sheetsync: error: cannot write {tmp_path / 'inventory.xlsx'} (Permission denied); "
        "choose a folder you can write to with --dir"
    ]


def test_other_sheetsync_errors_go_to_stderr_in_one_line(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SHEETSYNC_DASHBOARD_TOKEN", raising=False)
    config = str(project / "sheetsync.toml")
    assert main(["serve", "--config", config, "--host", "0.0.0.0", "--port", "9"]) == 2  # noqa: S104
    assert "serve --host 0.0.0.0 is reachable from other machines" in one_error_line(capsys)

    def refused(*args: object, **kwargs: object) -> None:
        raise PermanentError("Shopify refused the token (401)")

    monkeypatch.setattr("sheetsync.worker.run_cycle", refused)
    assert main(["sync", "--config", config]) == 1
    assert one_error_line(capsys) == "sheetsync: error: Shopify refused the token (401)"


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["-v", "check-config"], logging.DEBUG),
        (["check-config", "-v"], logging.DEBUG),
        (["check-config", "--verbose"], logging.DEBUG),
        (["-q", "check-config"], logging.WARNING),
        (["check-config", "-q"], logging.WARNING),
        (["-v", "check-config", "-q"], logging.WARNING),  # the one nearer the end wins
        (["check-config"], logging.INFO),
    ],
)
def test_log_flags_go_before_or_after_the_command(
    argv: list[str], level: int, project: Path, monkeypatch: pytest.MonkeyPatch, levels: object
) -> None:
    monkeypatch.delenv("SHEETSYNC_LOG_LEVEL", raising=False)
    assert main([*argv, "--config", str(project / "sheetsync.toml")]) == 0
    assert logging.getLogger("sheetsync").level == level
    httpx_level = logging.NOTSET if level == logging.DEBUG else logging.WARNING
    assert logging.getLogger("httpx").level == httpx_level  # request URLs only at DEBUG


@pytest.mark.parametrize(
    ("value", "flags", "level"),
    [
        ("error", [], logging.ERROR),
        ("Debug", [], logging.DEBUG),
        (" WARNING ", [], logging.WARNING),
        ("info", [], logging.INFO),
        ("error", ["-v"], logging.DEBUG),  # a flag beats the variable
    ],
)
def test_the_log_level_variable_sets_the_level_without_a_flag(
    value: str,
    flags: list[str],
    level: int,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    levels: object,
) -> None:
    monkeypatch.setenv("SHEETSYNC_LOG_LEVEL", value)
    assert main(["check-config", *flags, "--config", str(project / "sheetsync.toml")]) == 0
    assert logging.getLogger("sheetsync").level == level


def test_an_invalid_log_level_variable_is_one_line_and_runs_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], levels: object
) -> None:
    monkeypatch.setenv("SHEETSYNC_LOG_LEVEL", "loud")
    before = (project / "inventory.xlsx").read_bytes()
    assert main(["sync", "--config", str(project / "sheetsync.toml")]) == 2
    line = one_error_line(capsys)
    assert "SHEETSYNC_LOG_LEVEL='loud' is not a log level" in line
    assert "DEBUG, INFO, WARNING, ERROR" in line
    assert (project / "inventory.xlsx").read_bytes() == before  # no cycle ran


def test_sync_runs_one_cycle_without_once(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--config", str(project / "sheetsync.toml")]) == 0
    assert "pushed shopify 1, facebook 1, google 1; 1 rows flagged" in capsys.readouterr().out
    inventory = load_workbook(project / "inventory.xlsx")["Inventory"]
    header = [c.value for c in inventory[1]]
    assert inventory.cell(2, header.index("Shopify") + 1).value == 8
    assert main(["sync", "--once", "--config", str(project / "sheetsync.toml")]) == 0  # still accepted


@pytest.mark.parametrize("command", ["check-config", "sync", "run", "serve", "status"])
def test_every_command_that_reads_a_config_takes_config(command: str) -> None:
    parser = _parser()
    assert parser.parse_args([command]).config == Path("sheetsync.toml")
    assert parser.parse_args([command, "--config", "x/y.toml"]).config == Path("x/y.toml")
    assert parser.parse_args(["-v", command, "--config", "x/y.toml", "-q"]).config == Path("x/y.toml")


def test_init_writes_the_config_given_and_the_workbook_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "shop" / "mine.toml"
    assert main(["init", "--config", str(config)]) == 0
    assert (tmp_path / "shop" / "inventory.xlsx").is_file()
    assert f"`sheetsync sync --config {config}`" in capsys.readouterr().out
    assert main(["check-config", "--config", str(config)]) == 0
    assert f"{config}: OK" in capsys.readouterr().out
    assert main(["init", "--config", str(tmp_path)]) == 1  # a directory: say which option fits
    assert f"{tmp_path} is a directory; pass --dir {tmp_path}" in one_error_line(capsys)
    with pytest.raises(SystemExit):
        _parser().parse_args(["init", "--dir", "a", "--config", "b.toml"])  # one or the other


RST = re.compile(r"``|:(func|class|meth|mod|attr|data|exc|obj|ref|doc|envvar|option|program):`|`[^`]+`_")


def all_parsers() -> list[argparse.ArgumentParser]:
    parser = _parser()
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(subparsers) == 1
    return [parser, *subparsers[0].choices.values()]


def test_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    parsers = all_parsers()
    assert {p.prog for p in parsers} >= {f"sheetsync {c}" for c in ("init", "sync", "demo", "simulate")}
    for parser in parsers:
        text = parser.format_help()
        assert not RST.search(text), f"{parser.prog}: {RST.search(text)}"
        assert "`" not in text, parser.prog
        assert parser.formatter_class is argparse.RawDescriptionHelpFormatter
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "\n  sheetsync sync            run one sync cycle\n" in out  # the layout is kept
    assert "SHEETSYNC_LOG_LEVEL" in out


def test_demo_refuses_to_overwrite_a_workbook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workbook = tmp_path / "mine.xlsx"
    workbook.write_bytes(b"someone's own workbook")
    assert main(["demo", "--workbook", str(workbook)]) == 1
    assert one_error_line(capsys) == (
        f"sheetsync: {workbook} exists; pass --workbook NEW.xlsx or delete it (--force replaces it)"
    )
    assert workbook.read_bytes() == b"someone's own workbook"


def test_importing_the_cli_does_not_import_the_fakes() -> None:
    code = "import sys, sheetsync.cli; print([m for m in sys.modules if m.startswith('sheetsync_fakes')])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


def test_sync_since_moves_the_start_lines_and_refuses_a_time_it_cannot_read(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(project / "sheetsync.toml")
    assert main(["sync", "--config", config]) == 0  # the install: start lines now
    with pytest.raises(SystemExit) as bad:
        main(["sync", "--since", "yesterday", "--config", config])
    assert bad.value.code == 2
    assert "'yesterday' is not a time like 2026-12-01T09:00" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sync", "--since", "2999-01-01T00:00", "--config", config])
    assert "is in the future; give the time your counts were taken" in capsys.readouterr().err

    assert main(["sync", "--since", "2026-12-01T09:00+01:00", "--config", config]) == 0

    ledger = load_workbook(project / "inventory.xlsx")["Ledger"]
    starts = [(row[0], row[1]) for row in ledger.iter_rows(min_row=2, values_only=True) if row[7] == "START"]
    moved = [key for key, _ in starts if str(key).endswith("@2026-12-01T08:00:00Z")]
    assert moved  # one moved start line per channel that takes orders, at 08:00 UTC
    assert all(at == "2026-12-01T08:00:00Z" for key, at in starts if key in moved)


def test_status_says_when_nothing_is_pushed(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(project / "sheetsync.toml")
    assert main(["sync", "--config", config]) == 0
    book = load_workbook(project / "inventory.xlsx")
    book["Ledger"].title = "Old ledger"  # the merchant renames it
    book.save(project / "inventory.xlsx")
    assert main(["sync", "--config", config]) == 1
    capsys.readouterr()

    assert main(["status", "--config", config]) == 0

    out = capsys.readouterr().out
    assert "Shopify: ERROR: nothing is read or pushed while the Ledger is lost" in out
    assert "Ledger: HOLD, nothing is pushed: the Ledger tab is missing" in out
