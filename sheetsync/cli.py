"""The ``sheetsync`` command: init, check-config, sync, run, serve, status, demo, simulate."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TypeVar

import uvicorn
from rich.console import Console
from rich.table import Table
from starlette.types import ASGIApp

from sheetsync import __version__
from sheetsync.channels import CatalogueSource, Channel
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
from sheetsync.core.hosting import check_disk
from sheetsync.core.ledger import parse_ledger
from sheetsync.core.preview import Preview, preview_data, preview_lines
from sheetsync.core.state import parse_state
from sheetsync.demo import run_demo
from sheetsync.doctor import OFFLINE_LIMITS, diagnose, offline_problems
from sheetsync.errors import ConfigError, SheetsyncError, SyncError
from sheetsync.fleet.registry import MERCHANTS_ENV, Registry, env_prefix
from sheetsync.inputs import airtable_ids, spreadsheet_key
from sheetsync.model import REASON, ROW_STATUS, ChannelName
from sheetsync.onboarding import import_catalogue, open_source
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
from sheetsync.stores import MasterStore
from sheetsync.stores.airtable import AirtableStore
from sheetsync.stores.google_sheets import GoogleSheetsStore, spreadsheet_id
from sheetsync.stores.workbook import create_workbook
from sheetsync.web import CONNECTIONS, STALE_AFTER_S, TOKEN_ENV, Board, create_app, loopback
from sheetsync.worker import (
    PAUSE_WORDS,
    Inbox,
    cycle_once,
    open_alerter,
    open_channels,
    open_store,
    preview_cycle,
    run_forever,
    stop_on_signals,
)

log = logging.getLogger("sheetsync")
_T = TypeVar("_T")

DEFAULT_CONFIG = Path("sheetsync.toml")
#: The master block of the packaged template, swapped for a Google Sheet by `init --google-sheet`.
WORKBOOK_MASTER = (
    'kind = "workbook"\n# Relative to this file.\npath = "inventory.xlsx"\n'
    "# On Heroku, Render, Railway, Fly.io or Cloud Run, whose disk a restart wipes, the worker\n"
    "# refuses a workbook (its Ledger and State would be lost) unless it is on a mounted volume;\n"
    "# true runs it anyway. See docs/deploy.md.\n"
    "# allow_ephemeral_disk = false\n"
)
#: Sets the log level when neither -v nor -q is given.
LOG_LEVEL_ENV = "SHEETSYNC_LOG_LEVEL"
LOG_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}
#: The help's description; plain text, laid out as written (RawDescriptionHelpFormatter).
DESCRIPTION = f"""\
A spreadsheet as the single source of truth for multi-channel inventory.

Getting started:
  sheetsync init            write sheetsync.toml and a template workbook here
  sheetsync check-config    say what the config sets up
  sheetsync sync            run one sync cycle
  sheetsync serve           keep syncing, with a dashboard on http://127.0.0.1:8080

Every command that reads a config takes --config FILE (default: {DEFAULT_CONFIG}).
Logging: -v (debug) or -q (warnings and errors only), before or after the command;
without either, ${LOG_LEVEL_ENV} (DEBUG, INFO, WARNING or ERROR), else INFO.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code.

    Errors sheetsync knows about (a bad config, a workbook it cannot save) are one line on
    stderr and a non-zero exit; anything else is a bug and keeps its traceback.
    """
    args = _parser().parse_args(argv)
    try:
        level = _log_level(getattr(args, "log_level", None), os.environ)
    except ConfigError as error:
        return _fail(f"configuration error: {error}", 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # basicConfig leaves the level alone once logging is set up (an embedding program, pytest).
    logging.getLogger("sheetsync").setLevel(level)
    # httpx logs every request URL at INFO, query string and all (a webhook URL is a secret).
    logging.getLogger("httpx").setLevel(logging.NOTSET if level <= logging.DEBUG else logging.WARNING)
    try:
        code: int = args.run(args)
    except ConfigError as error:
        return _fail(f"configuration error: {error}", 2)
    except SheetsyncError as error:
        return _fail(f"error: {error}", 1)
    return code


def _fail(message: str, code: int = 1) -> int:
    """Say what is wrong, and the fix, on stderr; the exit code to return."""
    print(f"sheetsync: {message}", file=sys.stderr)
    return code


def _log_level(flag: str | None, environ: Mapping[str, str]) -> int:
    """-v or -q if given, else ``$SHEETSYNC_LOG_LEVEL``, else INFO."""
    if flag is not None:
        return LOG_LEVELS[flag]
    value = environ.get(LOG_LEVEL_ENV, "").strip()
    if not value:
        return logging.INFO
    try:
        return LOG_LEVELS[value.upper()]
    except KeyError:
        raise ConfigError(
            f"{LOG_LEVEL_ENV}={value!r} is not a log level; set it to one of {', '.join(LOG_LEVELS)} "
            "(any case), or unset it"
        ) from None


def _log_flags(parser: argparse.ArgumentParser) -> None:
    """-v and -q, on the main parser and on each command, so they go before or after the command.

    Suppressed defaults: a command's parser then leaves a flag given before the command alone.
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        dest="log_level",
        action="store_const",
        const="DEBUG",
        default=argparse.SUPPRESS,
        help=f"log at DEBUG, every request path included (default: ${LOG_LEVEL_ENV}, else INFO)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        dest="log_level",
        action="store_const",
        const="WARNING",
        default=argparse.SUPPRESS,
        help="log warnings and errors only",
    )


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="sheetsync", description=DESCRIPTION, formatter_class=formatter)
    parser.add_argument("--version", action="version", version=f"sheetsync {__version__}")
    _log_flags(parser)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help_: str, run: object, *, config: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_, formatter_class=formatter)
        sub.set_defaults(run=run)
        _log_flags(sub)
        if config:
            sub.add_argument(
                "--config",
                type=Path,
                default=DEFAULT_CONFIG,
                metavar="FILE",
                help="the config file (default: %(default)s)",
            )
        return sub

    init = command("init", "write a config file and a template workbook", _init, config=False)
    where = init.add_mutually_exclusive_group()
    where.add_argument(
        "--dir", type=Path, help=f"where to write {DEFAULT_CONFIG} and the workbook (default: here)"
    )
    where.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"the config file to write; the workbook goes beside it (default: DIR/{DEFAULT_CONFIG})",
    )
    remote = init.add_mutually_exclusive_group()
    remote.add_argument(
        "--google-sheet",
        metavar="URL",
        help="prepare this Google Sheet (tabs, headers, colours) instead of a workbook",
    )
    remote.add_argument(
        "--airtable-base",
        metavar="URL",
        help="prepare this Airtable base (its URL or appXXXX id) instead of a workbook",
    )
    command("check-config", "validate the config and say what it configures", _check_config)
    command(
        "doctor",
        "check the setup online: credentials, scopes, sharing, webhooks, clock, lease (exit 1 unless all OK)",
        _doctor,
    )
    sync = command("sync", "run one sync cycle", _sync)
    sync.add_argument(
        "--once", action="store_true", help="one cycle, then exit: what sync always does; kept for scripts"
    )
    sync.add_argument(
        "--accept-shrink",
        action="store_true",
        help="accept a shrink the volume guard holds",
    )
    sync.add_argument(
        "--since",
        metavar="TIME",
        type=_since,
        help="move every order channel's start line to TIME, when your counts were taken "
        "(e.g. 2026-12-01T09:00+01:00; without an offset, UTC): orders from then on are counted",
    )
    sync.add_argument(
        "--dry-run",
        action="store_true",
        help="read and plan, write nothing anywhere: print what each channel would be set to, and why",
    )
    sync.add_argument("--json", action="store_true", help="with --dry-run: print the preview as JSON")
    sync.add_argument(
        "--confirm",
        action="append",
        default=[],
        metavar="CHANNEL",
        help="confirm CHANNEL's first live sync, held because it would change many quantities "
        "(repeat for several channels)",
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
    serve.add_argument(
        "--merchants",
        type=Path,
        metavar="DIR",
        help="serve every merchant of this registry's Shopify webhooks, routed by shop domain, to the "
        "fleet's workers, and the fleet's dashboard (docs/distributed.md); no worker in this process",
    )
    command("status", "show flagged rows and paused channels from the master", _status)
    _merchant_commands(
        command("merchants", "the merchant registry of a distributed deployment", None, config=False)
    )
    importer = command(
        "import", "fill the Inventory from a channel's catalogue: SKU, title, variant, quantity", _import
    )
    importer.add_argument(
        "--from", dest="source", required=True, metavar="CHANNEL", help="the channel's name in the config"
    )
    importer.add_argument("--dry-run", action="store_true", help="print what would be added; write nothing")
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
        help="the workbook the demo writes; an existing one needs --force (default: %(default)s)",
    )
    demo.add_argument("--force", action="store_true", help="replace --workbook if it exists")
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


def _merchant_commands(merchants: argparse.ArgumentParser) -> None:
    """``merchants list|add|check``: the registry a fleet of workers serves (docs/distributed.md)."""
    formatter = argparse.RawDescriptionHelpFormatter
    actions = merchants.add_subparsers(required=True, metavar="ACTION")
    for name, help_, run in (
        ("list", "list the merchants, their masters and channels", _merchants_list),
        ("add", "add a merchant: copy its single-merchant config into the registry", _merchants_add),
        (
            "check",
            "validate every merchant's config and secrets, offline (exit 1 on a problem)",
            _merchants_check,
        ),
    ):
        action = actions.add_parser(name, help=help_, description=help_, formatter_class=formatter)
        action.set_defaults(run=run)
        _log_flags(action)
        action.add_argument(
            "--merchants",
            type=Path,
            default=Path(os.environ.get(MERCHANTS_ENV) or "merchants"),
            metavar="DIR",
            help=f"the registry folder (default: ${MERCHANTS_ENV}, else %(default)s)",
        )
        if name == "add":
            action.add_argument("name", metavar="NAME", help="the merchant's name: a-z, 0-9 and dashes")
            action.add_argument("--config", type=Path, required=True, metavar="FILE", help="its config file")
        if name == "check":
            action.add_argument("names", nargs="*", metavar="NAME", help="only these merchants")


def _merchants_list(args: argparse.Namespace) -> int:
    registry = Registry(args.merchants)
    for name in registry.names():
        try:
            merchant = registry.load(name)
        except ConfigError as error:
            print(f"{name}: configuration error: {error}")
            continue
        channels = ", ".join(f"{c.name} ({c.kind})" for c in merchant.settings.channels)
        print(f"{name}: {merchant.settings.master.describe()}; every {merchant.interval_s:g}s; {channels}")
    return 0


def _merchants_add(args: argparse.Namespace) -> int:
    target = Registry(args.merchants).add(args.name, args.config)
    print(
        f"added {args.name}: {target}; its secrets: {target.with_suffix('.env')} or ${env_prefix(args.name)}…"
    )
    return 0


def _merchants_check(args: argparse.Namespace) -> int:
    registry = Registry(args.merchants)
    failed = 0
    for name in args.names or registry.names():
        try:
            merchant = registry.load(name)
        except ConfigError as error:
            problems = [str(error)]
        else:
            problems = offline_problems(merchant.settings, merchant.environ)
        failed += bool(problems)
        print(f"{name}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            print(f"  problem: {problem}")
    return 1 if failed else 0


def _init(args: argparse.Namespace) -> int:
    config: Path = args.config or (args.dir or Path()) / DEFAULT_CONFIG
    if config.is_dir():
        return _fail(f"{config} is a directory; pass --dir {config}, or --config {config / DEFAULT_CONFIG}")
    with _writing(config):
        if args.google_sheet:
            key = _pasted(spreadsheet_key, args.google_sheet, "--google-sheet")
            block = f'kind = "google_sheets"\nspreadsheet = "{key}"\n'
            return _init_remote(config, block, lambda m: _same_sheet(m, key), "Inventory tab")
        if args.airtable_base:
            base, _ = _pasted(airtable_ids, args.airtable_base, "--airtable-base")
            block = f'kind = "airtable"\nbase = "{base}"\n'
            return _init_remote(
                config,
                block,
                lambda m: isinstance(m, AirtableMaster) and m.base == base,
                "Inventory table",
            )
        workbook = config.parent / "inventory.xlsx"  # the template's master.path, relative to the config
        for path in (config, workbook):
            if path.exists():
                return _fail(f"{path} already exists; not overwriting it (choose another --dir)")
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(_template(), encoding="utf-8")
        create_workbook(workbook, load(config).layout)
    print(f"wrote {config} and {workbook}")
    print(f"next: type your SKUs and quantities into {workbook}, then `sheetsync sync --config {config}`")
    return 0


@contextmanager
def _writing(config: Path) -> Iterator[None]:
    """An OS error writing init's files is a line naming the file, not a traceback."""
    try:
        yield
    except OSError as error:
        name = error.filename if error.filename is not None else config
        raise SheetsyncError(
            f"cannot write {name} ({error.strerror or error}); choose a folder you can write to with --dir"
        ) from None


def _pasted(read: Callable[[str], _T], text: str, option: str) -> _T:
    """What was pasted after ``option``, read as the id it holds; else one sentence showing the form."""
    try:
        return read(text)
    except ValueError as error:
        raise ConfigError(f"{option}: {error}") from None


def _init_remote(config: Path, block: str, matches: Callable[[Master], bool], where: str) -> int:
    """Write a config for the master (unless one exists), then prepare its tabs or tables.

    A config this call wrote is removed again if preparing the master fails (a missing token, a
    base not shared): a later ``init`` then starts clean instead of finding a half-made setup.
    """
    wrote = not config.exists()
    if wrote:
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(_template().replace(WORKBOOK_MASTER, block), encoding="utf-8")
    try:
        settings = load(config)
        if not matches(settings.master):
            return _fail(f"{config} already exists for another master; set its [master] table yourself")
        store = open_store(settings)
        assert isinstance(store, GoogleSheetsStore | AirtableStore)  # noqa: S101 - a remote master
        lines = store.prepare() or [f"{settings.master.describe()} was ready; nothing changed"]
    except BaseException:
        if wrote:
            config.unlink(missing_ok=True)
        raise
    if wrote:
        print(f"wrote {config}")
    for line in lines:
        print(line)
    print(f"next: type SKUs and quantities in the {where}, then `sheetsync sync --config {config}`")
    return 0


def _same_sheet(master: Master, url: str) -> bool:
    return isinstance(master, GoogleSheetsMaster) and spreadsheet_id(master.spreadsheet) == spreadsheet_id(
        url
    )


def _template() -> str:
    return (resources.files("sheetsync") / "templates" / "sheetsync.toml").read_text(encoding="utf-8")


def _doctor(args: argparse.Namespace) -> int:
    """One line per check; 0 when every one is OK."""
    checks = diagnose(args.config, os.environ, _utc_now)
    for check in checks:
        print(check.line())
    return 0 if all(check.status == "OK" for check in checks) else 1


def _check_config(args: argparse.Namespace) -> int:
    """What the config sets up, and what is missing offline (a token, the key file, the workbook)."""
    settings = load(args.config)
    _kept_disk(settings)
    problems = offline_problems(settings, os.environ)
    print(f"{settings.source}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
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
    for problem in problems:
        print(f"problem: {problem}")
    print(f"not checked offline: {OFFLINE_LIMITS}")
    return 1 if problems else 0


def _sync(args: argparse.Namespace) -> int:
    """One cycle (``--once`` or not), then exit: 1 if a channel had errors.

    ``--dry-run`` runs the cycle's reads and planning only and prints the preview.
    """
    settings = _settings(args)
    if args.json and not args.dry_run:
        return _fail("--json goes with --dry-run: `sheetsync sync --dry-run --json`", 2)
    confirm = _channels(settings, args.confirm)
    accept_shrink = args.accept_shrink or settings.guard.accept_shrink
    if args.dry_run:
        with _workbook_errors(settings), _opened(open_channels(settings, _utc_now)) as channels:
            shown = preview_cycle(
                open_store(settings),
                channels,
                settings,
                _utc_now(),
                accept_shrink=accept_shrink,
                confirm=confirm,
            )
        _print_preview(shown, args.json)
        return 0
    with _workbook_errors(settings):
        report = cycle_once(
            settings, _utc_now, accept_shrink=accept_shrink, since=args.since, confirm=confirm
        )
    print(report.summary())
    return 1 if report.errors else 0


@contextmanager
def _opened(channels: list[Channel]) -> Iterator[list[Channel]]:
    """The channels, whose HTTP clients are let go of when the one cycle is done."""
    try:
        yield channels
    finally:
        for channel in channels:
            if isinstance(channel, CatalogueSource):
                channel.close()


def _channels(settings: Settings, names: Sequence[str]) -> set[ChannelName]:
    """The channels ``--confirm`` names, each one configured."""
    known = {c.name for c in settings.channels}
    for name in names:
        if name not in known:
            raise ConfigError(
                f"--confirm {name}: {settings.source} has no channel {name!r}; "
                f"its channels are {', '.join(sorted(known))}"
            )
    return {ChannelName(name) for name in names}


def _print_preview(shown: Preview, as_json: bool) -> None:
    if as_json:
        print(json.dumps(preview_data(shown), ensure_ascii=False, indent=2))
        return
    for line in preview_lines(shown):
        print(line)


def _since(text: str) -> datetime:
    """A ``--since`` time: ISO 8601, UTC unless it has an offset, not in the future."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time like 2026-12-01T09:00 or 2026-12-01T09:00+01:00"
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > _utc_now():
        raise argparse.ArgumentTypeError(f"{text} is in the future; give the time your counts were taken")
    return moment


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    stop = threading.Event()
    stop_on_signals(stop)
    log.info(
        "running against %s; SIGTERM stops after the current cycle",
        settings.master.describe(),
    )
    with _workbook_errors(settings):
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
    if args.merchants is not None:
        return _serve_fleet(args, token)
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
    # The dashboard's preview runs on the worker's own store and channels (a sandbox's stock lives
    # in them), between its cycles: the lock keeps the two apart.
    lock = threading.Lock()
    opened: list[tuple[MasterStore, list[Channel]]] = []

    def preview() -> Preview:
        with lock:
            if not opened:
                raise SyncError("the worker has not opened the master yet; try again in a moment")
            store, channels = opened[0]
            return preview_cycle(store, channels, settings, _utc_now())

    app = create_app(inbox, secrets, board=board, token=token, stale_after_s=stale_after, preview=preview)
    # uvicorn takes SIGTERM for its graceful shutdown, then hands it on to the handler it found.
    stop_on_signals(stop, inbox)
    server = uvicorn.Server(_server_config(app, args))
    died = threading.Event()

    def work() -> None:
        try:
            opened.append((open_store(settings), open_channels(settings, _utc_now)))
            run_forever(*opened[0], settings, _utc_now, stop, inbox, lock=lock)
        except BaseException as error:  # the worker is gone: say so on /healthz, then stop serving
            board.died(f"{type(error).__name__}: {error}")
            log.critical("the worker stopped: %s", error, exc_info=error)
            died.set()
            server.should_exit = True

    worker = threading.Thread(target=work, name="sheetsync-worker")
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
        server.run()
    finally:
        stop.set()
        inbox.wake()
        worker.join()
    if died.is_set():
        log.error("stopped: the worker died (see above)")
        return 1
    log.info("stopped")
    return 0


def _serve_fleet(args: argparse.Namespace, token: str | None) -> int:
    """Webhooks for every merchant, handed to the fleet through Redis, and the fleet's dashboard."""
    from sheetsync.fleet.tasks import fleet_from, make_app  # celery: the fleet extra only
    from sheetsync.fleet.web import fleet_app

    environ = {**os.environ, MERCHANTS_ENV: str(args.merchants)}
    app = fleet_app(make_app(environ), fleet_from(environ), token)
    locked = " (token required)" if token else ""
    log.info(
        "fleet dashboard and webhooks for the merchants in %s on http://%s:%d%s",
        args.merchants,
        args.host,
        args.port,
        locked,
    )
    uvicorn.Server(_server_config(app, args)).run()
    return 0


def _server_config(app: ASGIApp, args: argparse.Namespace) -> uvicorn.Config:
    """How ``serve`` runs its web app, for one merchant or the fleet.

    No access log: a browser signing in carries the token in its first URL.  A cap on
    connections bounds the webhook bodies held at once (web.CONNECTIONS).
    """
    return uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        limit_concurrency=CONNECTIONS,
    )


def _import(args: argparse.Namespace) -> int:
    """Append the rows a channel's catalogue has and the Inventory lacks; progress on stderr."""
    settings = _settings(args)
    with open_source(settings, args.source, _utc_now) as (channel, source), _workbook_errors(settings):
        report = import_catalogue(
            open_store(settings),
            source,
            settings,
            channel,
            dry_run=args.dry_run,
            progress=lambda line: print(line, file=sys.stderr),
        )
    print("\n".join(report.lines()))
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _workbook_errors(settings):
        snapshot = open_store(settings).read()
    bundles = parse_bundles(snapshot.bundles)
    parsed = parse_rows(snapshot.rows, settings.layout, bundles)
    states = Counter(row.cells.get(ROW_STATUS, "") or "not synced yet" for row in snapshot.rows)
    console = Console()
    console.print(f"{len(snapshot.rows)} rows: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    incidents = parse_state(snapshot.state).incidents
    for channel in settings.channels:
        control = snapshot.control.channels.get(channel.name, "")
        paused = channel.paused or control.strip().casefold() in PAUSE_WORDS
        console.print(f"{channel.title}: {_channel_state(channel.name, paused, incidents)}")
    for key, label in (("ledger", "Ledger"), ("guard", "Volume guard")):
        if key in incidents:
            console.print(f"{label}: HOLD, nothing is pushed: {incidents[key]}")
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


def _channel_state(name: str, paused: bool, incidents: Mapping[str, str]) -> str:
    """A channel's state as the last cycle left it (its open incidents), as the Status sheet says."""
    if paused:
        return "PAUSED"
    if "ledger" in incidents:
        return "ERROR: nothing is read or pushed while the Ledger is lost (below)"
    kinds = (
        ("confirm", "HOLD"),
        ("error", "ERROR"),
        ("degraded", "DEGRADED"),
        ("lag", "LAG"),
        ("drift", "DRIFT"),
    )
    for kind, state in kinds:
        if (text := incidents.get(f"{kind}:{name}")) is not None:
            return f"{state}: {text}"
    return "OK"


def _demo(args: argparse.Namespace) -> int:
    sheets_fake = args.master == "sheets-fake"
    workbook: Path = args.workbook
    # run_demo replaces the workbook; on the Sheets fake it writes none.
    if not sheets_fake and workbook.exists() and not args.force:
        return _fail(f"{workbook} exists; pass --workbook NEW.xlsx or delete it (--force replaces it)")
    logging.getLogger("sheetsync").setLevel(logging.WARNING)  # the live table is the output
    with _workbook_errors(None if sheets_fake else workbook):
        result = run_demo(workbook, buffers=not args.no_buffers, seed=args.seed, sheets_fake=sheets_fake)
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
    _kept_disk(settings)
    if isinstance(settings.master, WorkbookMaster) and not settings.master.path.exists():
        raise ConfigError(
            f"{settings.source}: master.path: no workbook at {settings.master.path}; "
            "`sheetsync init` writes a template"
        )
    return settings


def _kept_disk(settings: Settings) -> None:
    """Refuse a workbook master on a hosting platform whose disk a restart wipes (core.hosting)."""
    master = settings.master
    if isinstance(master, WorkbookMaster):
        # A volume is a mount point between the root and the workbook (Docker, Fly, Render, Railway).
        folders = master.path.resolve().parents[:-1]
        check_disk(
            os.environ,
            source=str(settings.source),
            workbook=str(master.path),
            allowed=master.allow_ephemeral_disk,
            on_volume=any(os.path.ismount(folder) for folder in folders),
        )


@contextmanager
def _workbook_errors(where: Settings | Path | None) -> Iterator[None]:
    """An OS error on the workbook master (or its temporary copy) is a line naming the file.

    Excel on Windows locks the workbook it has open; a read-only file or folder refuses too.  OS
    errors on any other path are not ours to explain: they keep their traceback.
    """
    if isinstance(where, Settings):
        where = where.master.path if isinstance(where.master, WorkbookMaster) else None
    try:
        yield
    except OSError as error:
        if where is None or not _about(error, where):
            raise
        reason = error.strerror or type(error).__name__
        raise SheetsyncError(
            f"cannot read or save {where} ({reason}): it may be open in Excel, or it or its folder "
            "read-only; close it or make it writable, then run again"
        ) from None


def _about(error: OSError, workbook: Path) -> bool:
    """Whether ``error`` is about ``workbook`` or the temporary file saved beside it."""
    target = workbook.resolve()
    for name in (error.filename, error.filename2):
        if not isinstance(name, str | bytes | os.PathLike):
            continue
        path = Path(os.fsdecode(name)).resolve()
        if path == target or (path.parent == target.parent and path.name.startswith(f".{target.name}.")):
            return True
    return False


def _utc_now() -> datetime:
    return datetime.now(UTC)
