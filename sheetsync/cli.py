"""The ``sheetsync`` command: init, check-config, sync --once, run, serve, status, demo, simulate."""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import uvicorn
from rich.console import Console
from rich.table import Table

from sheetsync import __version__
from sheetsync.config import (
    AirtableMaster,
    GoogleSheetsMaster,
    Master,
    Settings,
    ShopifyShop,
    WorkbookMaster,
    channel_secret,
    load,
)
from sheetsync.core.bundles import parse_bundles
from sheetsync.core.cells import parse_rows
from sheetsync.core.ledger import parse_ledger
from sheetsync.demo import run_demo
from sheetsync.errors import ConfigError, SheetsyncError
from sheetsync.model import REASON, ROW_STATUS
from sheetsync.simulate import (
    POLICIES,
    Outcome,
    load_scenario,
    packaged_scenarios,
    simulate,
    table,
    write_json,
    write_plot,
)
from sheetsync.stores.airtable import AirtableStore
from sheetsync.stores.google_sheets import GoogleSheetsStore, spreadsheet_id
from sheetsync.stores.workbook import create_workbook
from sheetsync.web import CONNECTIONS, STALE_AFTER_S, TOKEN_ENV, Board, create_app, loopback
from sheetsync.worker import (
    PAUSE_WORDS,
    Inbox,
    open_alerter,
    open_channels,
    open_store,
    run_cycle,
    run_forever,
    stop_on_signals,
)

log = logging.getLogger("sheetsync")

DEFAULT_CONFIG = Path("sheetsync.toml")
#: The master block of the packaged template, swapped for a Google Sheet by `init --google-sheet`.
WORKBOOK_MASTER = 'kind = "workbook"\n# Relative to this file.\npath = "inventory.xlsx"\n'


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # httpx logs every request URL at INFO, query string and all (a webhook URL is a secret).
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        code: int = args.run(args)
    except ConfigError as error:
        print(f"configuration error:\n{error}")
        return 2
    except SheetsyncError as error:
        print(f"error: {error}")
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sheetsync", description=__doc__)
    parser.add_argument("--version", action="version", version=f"sheetsync {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request path")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help_: str, run: object, *, config: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.set_defaults(run=run)
        if config:
            sub.add_argument(
                "--config",
                type=Path,
                default=DEFAULT_CONFIG,
                help="default: %(default)s",
            )
        return sub

    init = command("init", "write a config file and a template workbook", _init, config=False)
    init.add_argument("--dir", type=Path, default=Path(), help="where to write them (default: here)")
    remote = init.add_mutually_exclusive_group()
    remote.add_argument(
        "--google-sheet",
        metavar="URL",
        help="prepare this Google Sheet (tabs, headers, colours) instead of a workbook",
    )
    remote.add_argument(
        "--airtable-base",
        metavar="ID",
        help="prepare this Airtable base (tables and fields) instead of a workbook",
    )
    command("check-config", "validate the config and say what it configures", _check_config)
    sync = command("sync", "run one sync cycle", _sync)
    sync.add_argument("--once", action="store_true", required=True, help="one cycle, then exit")
    sync.add_argument(
        "--accept-shrink",
        action="store_true",
        help="accept a shrink the volume guard holds",
    )
    command("run", "run cycles at each channel's interval until SIGTERM", _run)
    serve = command(
        "serve", "run the worker with its dashboard, webhooks, /healthz and /metrics until SIGTERM", _serve
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help=f"address to listen on (default: %(default)s); any other than loopback needs ${TOKEN_ENV}",
    )
    serve.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8080")), help="default: $PORT or 8080"
    )
    command("status", "show flagged rows and paused channels from the master", _status)
    demo = command("demo", "run the whole loop offline in simulated time", _demo, config=False)
    demo.add_argument(
        "--no-buffers",
        action="store_true",
        help="publish everything: see what lag does",
    )
    demo.add_argument("--seed", type=int, default=7, help="buyers' random seed (default: %(default)s)")
    demo.add_argument(
        "--master",
        choices=["workbook", "sheets-fake"],
        default="workbook",
        help="the demo's master: a local workbook, or a Google Sheet on the local Sheets fake",
    )
    demo.add_argument(
        "--workbook",
        type=Path,
        default=Path("sheetsync-demo.xlsx"),
        help="default: %(default)s",
    )
    simulate = command(
        "simulate", "compare buffer policies on a simulated peak, offline", _simulate, config=False
    )
    simulate.add_argument(
        "--scenario",
        default="black-friday",
        metavar="NAME|FILE.toml",
        help=f"a packaged scenario ({', '.join(packaged_scenarios())}) or a file (default: %(default)s)",
    )
    simulate.add_argument("--seed", type=int, default=1, help="default: %(default)s")
    simulate.add_argument(
        "--out",
        type=Path,
        default=Path("simulation"),
        help="where simulation.json and .png go (default: %(default)s)",
    )
    simulate.add_argument(
        "--workers",
        type=int,
        default=len(POLICIES),
        help="policies run at once, each in its own process (default: %(default)s); figures do not change",
    )
    return parser


def _init(args: argparse.Namespace) -> int:
    if args.google_sheet:
        block = f'kind = "google_sheets"\nspreadsheet = "{args.google_sheet}"\n'
        return _init_remote(args, block, lambda m: _same_sheet(m, args.google_sheet), "Inventory tab")
    if args.airtable_base:
        block = f'kind = "airtable"\nbase = "{args.airtable_base}"\n'
        return _init_remote(
            args,
            block,
            lambda m: isinstance(m, AirtableMaster) and m.base == args.airtable_base,
            "Inventory table",
        )
    config, workbook = args.dir / DEFAULT_CONFIG, args.dir / "inventory.xlsx"
    for path in (config, workbook):
        if path.exists():
            print(f"{path} already exists; not overwriting it")
            return 1
    args.dir.mkdir(parents=True, exist_ok=True)
    config.write_text(_template(), encoding="utf-8")
    create_workbook(workbook, load(config).layout)
    print(f"wrote {config} and {workbook}")
    print(
        f"next: type your SKUs and quantities into {workbook}, then `sheetsync sync --once --config {config}`"
    )
    return 0


def _init_remote(args: argparse.Namespace, block: str, matches: Callable[[Master], bool], where: str) -> int:
    """Write a config for the master (unless one exists), then prepare its tabs or tables."""
    config = args.dir / DEFAULT_CONFIG
    if not config.exists():
        args.dir.mkdir(parents=True, exist_ok=True)
        config.write_text(_template().replace(WORKBOOK_MASTER, block), encoding="utf-8")
        print(f"wrote {config}")
    settings = load(config)
    if not matches(settings.master):
        print(f"{config} already exists for another master; set its [master] table yourself")
        return 1
    store = open_store(settings)
    assert isinstance(store, GoogleSheetsStore | AirtableStore)  # noqa: S101 - a remote master
    for line in store.prepare() or [f"{settings.master.describe()} was ready; nothing changed"]:
        print(line)
    print(f"next: type SKUs and quantities in the {where}, then `sheetsync sync --once --config {config}`")
    return 0


def _same_sheet(master: Master, url: str) -> bool:
    return isinstance(master, GoogleSheetsMaster) and spreadsheet_id(master.spreadsheet) == spreadsheet_id(
        url
    )


def _template() -> str:
    return (resources.files("sheetsync") / "templates" / "sheetsync.toml").read_text(encoding="utf-8")


def _check_config(args: argparse.Namespace) -> int:
    settings = load(args.config)
    print(f"{settings.source}: OK")
    print(f"master: {settings.master.describe()}")
    if settings.locations:
        print(f"locations: {', '.join(settings.locations)}")
    if settings.currency:
        print(f"prices: pushed in {settings.currency}")
    for channel in settings.channels:
        paused = " (paused)" if channel.paused else ""
        places = f", sells from {', '.join(channel.locations)}" if settings.locations else ""
        print(
            f"channel {channel.name}: {channel.kind} '{channel.title}', "
            f"every {channel.interval_s:g}s{places}{paused}"
        )
    return 0


def _sync(args: argparse.Namespace) -> int:
    settings = _settings(args)
    report = run_cycle(
        open_store(settings),
        open_channels(settings, _utc_now),
        settings,
        _utc_now(),
        accept_shrink=args.accept_shrink or settings.guard.accept_shrink,
        alert=open_alerter(settings).send,
    )
    print(report.summary())
    return 1 if report.errors else 0


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    stop = threading.Event()
    stop_on_signals(stop)
    log.info(
        "running against %s; SIGTERM stops after the current cycle",
        settings.master.describe(),
    )
    run_forever(
        open_store(settings),
        open_channels(settings, _utc_now),
        settings,
        _utc_now,
        stop,
        alerter=open_alerter(settings),
    )
    log.info("stopped")
    return 0


def _serve(args: argparse.Namespace) -> int:
    """The worker in a thread, the web app in the foreground; SIGTERM stops both.

    Bound to anything but loopback, the dashboard, its buttons and /metrics need the token from
    ``SHEETSYNC_DASHBOARD_TOKEN``; without it, serve refuses to start.
    """
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if token is None and not loopback(args.host):
        raise ConfigError(
            f"serve --host {args.host} is reachable from other machines: set {TOKEN_ENV} to a long random "
            "secret (the dashboard and /metrics then ask for it), or serve on 127.0.0.1"
        )
    settings = _settings(args)
    secrets = {
        c.name: channel_secret(settings, c, "WEBHOOK_SECRET", os.environ)
        for c in settings.channels
        if isinstance(c.platform, ShopifyShop)
    }
    stop, inbox = threading.Event(), Inbox()
    board = Board({c.name: c.title for c in settings.channels})
    board.follow(inbox)
    # A stuck worker: three missed polls of the busiest channel, and never under two minutes.
    stale_after = max(min((3.0 * c.interval_s for c in settings.channels), default=0.0), STALE_AFTER_S)
    app = create_app(inbox, secrets, board=board, token=token, stale_after_s=stale_after)
    # uvicorn takes SIGTERM for its graceful shutdown, then hands it on to the handler it found.
    stop_on_signals(stop, inbox)
    worker = threading.Thread(
        target=run_forever,
        args=(open_store(settings), open_channels(settings, _utc_now), settings, _utc_now, stop, inbox),
        name="sheetsync-worker",
    )
    worker.start()
    locked = " (token required)" if token else ""
    log.info(
        "dashboard and webhooks on http://%s:%d%s against %s",
        args.host,
        args.port,
        locked,
        settings.master.describe(),
    )
    try:
        # No access log: a browser signing in carries the token in its first URL.  A cap on
        # connections bounds the webhook bodies held at once (web.CONNECTIONS).
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            limit_concurrency=CONNECTIONS,
        )
    finally:
        stop.set()
        inbox.wake()
        worker.join()
    log.info("stopped")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    snapshot = open_store(settings).read()
    bundles = parse_bundles(snapshot.bundles)
    parsed = parse_rows(snapshot.rows, settings.layout, bundles)
    states = Counter(row.cells.get(ROW_STATUS, "") or "not synced yet" for row in snapshot.rows)
    console = Console()
    console.print(f"{len(snapshot.rows)} rows: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    for channel in settings.channels:
        control = snapshot.control.channels.get(channel.name, "")
        paused = channel.paused or control.strip().casefold() in PAUSE_WORDS
        console.print(f"{channel.title}: {'PAUSED' if paused else 'active'}")
    flagged = Table("Row", "SKU", "Status", "Reason", title="Rows that need attention")
    for problem in parsed.problems:
        flagged.add_row(str(problem.row), problem.sku or "", "ERROR", "; ".join(problem.messages))
    for row in snapshot.rows:
        if row.cells.get(ROW_STATUS, "OK") not in {"OK", "", "ERROR"}:
            flagged.add_row(
                str(row.row),
                row.cells.get("sku", ""),
                row.cells[ROW_STATUS],
                row.cells.get(REASON, ""),
            )
    if flagged.row_count:
        console.print(flagged)
    for message in (*parse_ledger(snapshot.ledger, settings.locations).problems, *bundles.stray):
        console.print(message)
    return 0


def _demo(args: argparse.Namespace) -> int:
    logging.getLogger("sheetsync").setLevel(logging.WARNING)  # the live table is the output
    sheets_fake = args.master == "sheets-fake"
    result = run_demo(args.workbook, buffers=not args.no_buffers, seed=args.seed, sheets_fake=sheets_fake)
    where = "" if sheets_fake else f"; open {args.workbook} to see the sheet"
    turned_away = f"{result.turned_away} buyers turned away while units were on the shelf"
    print(f"{result.cycles} cycles; {turned_away}{where}")
    print(result.bundle)
    print(result.slowdown())
    print(result.line())
    return 0


def _simulate(args: argparse.Namespace) -> int:
    """Every policy on the same buyers and lags; the last line is JSON for scripts."""
    for name in ("sheetsync", "matplotlib"):  # a line per cycle, or matplotlib's font cache, would bury it
        logging.getLogger(name).setLevel(logging.WARNING)
    scenario = load_scenario(args.scenario)
    console = Console()
    console.print(
        f"{scenario.name}: {scenario.duration_h:g} h from {scenario.start:%Y-%m-%d %H:%M %Z}, "
        f"{scenario.catalogue.skus} SKUs, channels {', '.join(scenario.channels)}; seed {args.seed}"
    )

    def done(policy: str, outcome: Outcome) -> None:
        console.print(
            f"  {policy}: {outcome.cycles} cycles, {outcome.oversells} oversells, "
            f"{outcome.turned_away} turned away"
        )

    with console.status(f"simulating policies {', '.join(POLICIES)} …"):
        report = simulate(scenario, args.seed, workers=args.workers, done=done)
    console.print(table(report))
    args.out.mkdir(parents=True, exist_ok=True)
    data, plot = args.out / "simulation.json", args.out / "simulation.png"
    write_json(report, data)
    if write_plot(report, plot):
        console.print(f"wrote {data} and {plot}")
    else:
        console.print(f"wrote {data}; no plot: matplotlib is not installed (pip install 'sheetsync[plot]')")
    print(report.line())
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    settings = load(args.config)
    if isinstance(settings.master, WorkbookMaster) and not settings.master.path.exists():
        raise ConfigError(
            f"{settings.source}: master.path: no workbook at {settings.master.path}; "
            "`sheetsync init` writes a template"
        )
    return settings


def _utc_now() -> datetime:
    return datetime.now(UTC)
