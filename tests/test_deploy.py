"""Deployment: the container image, compose.yaml, the Procfile, the service files, and the refusal
to keep a workbook master on a hosting platform's disk that a restart wipes.

Docker itself is not needed: the Dockerfile is linted with hadolint (the dev extra ships its
binary), and the image's command is run here as the container would run it.
"""

from __future__ import annotations

import configparser
import json
import os
import plistlib
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML has no annotations; types-PyYAML is not installed

from sheetsync.cli import DEFAULT_CONFIG, _parser, main
from sheetsync.core.hosting import ALLOW_ENV, PLATFORMS, Platform

ROOT = Path(__file__).resolve().parents[1]
#: Every variable that tells a platform apart (tests clear them, so a CI on one of these still passes).
PLATFORM_VARIABLES = [variable for platform in PLATFORMS for variable in platform.variables]


@pytest.fixture(autouse=True)
def off_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in [*PLATFORM_VARIABLES, ALLOW_ENV]:
        monkeypatch.delenv(variable, raising=False)


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\s*\\\n\s*", " ", "\n".join(line for line in dockerfile.splitlines() if not line.startswith("#"))
    )
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in joined.splitlines()
        if line.strip()
    ]


DOCKERFILE = instructions((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def instruction(name: str) -> str:
    (value,) = [arguments for kind, arguments in DOCKERFILE if kind == name]
    return value


def container_command() -> list[str]:
    """ENTRYPOINT + CMD, as the container runs them."""
    return [*json.loads(instruction("ENTRYPOINT")), *json.loads(instruction("CMD"))]


def healthcheck_command() -> list[str]:
    command: list[str] = json.loads(instruction("HEALTHCHECK").split(" CMD ", 1)[1])
    return command


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- the image --------------------------------------------------------------------------------


def test_the_dockerfile_passes_hadolint() -> None:
    binary = Path(sys.executable).with_name("hadolint")
    assert binary.is_file(), "hadolint comes with the dev extra: pip install -e '.[dev]'"
    lint = subprocess.run(
        [str(binary), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert (lint.returncode, lint.stdout, lint.stderr) == (0, "", "")


def test_the_image_installs_the_product_alone_and_runs_as_a_user() -> None:
    assert instruction("FROM") == "python:3.11-slim"
    user = instruction("USER").split(":")[0]
    assert user not in ("root", "0")
    installs = [arguments for kind, arguments in DOCKERFILE if kind == "RUN" and "pip install" in arguments]
    assert installs == ["pip install --no-cache-dir /src && rm -rf /src"]
    copied = " ".join(arguments for kind, arguments in DOCKERFILE if kind == "COPY")
    assert "fakes" not in copied
    assert "[dev]" not in " ".join(arguments for _, arguments in DOCKERFILE)
    # No secret is baked in: the only variables the image sets are not sheetsync's.
    assert not [a for kind, a in DOCKERFILE if kind in ("ENV", "ARG") and "SHEETSYNC" in a]
    allowed = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert allowed == ["!pyproject.toml", "!README.md", "!LICENSE", "!sheetsync/"]
    assert (ROOT / ".dockerignore").read_text().splitlines()[2] == "*"


def test_the_image_command_refuses_to_listen_beyond_loopback_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SHEETSYNC_DASHBOARD_TOKEN", raising=False)
    command = container_command()
    assert command[:4] == ["sheetsync", "serve", "--host", "0.0.0.0"]  # noqa: S104 - the container's
    assert main(command[1:]) == 2
    assert "serve --host 0.0.0.0 is reachable from other machines: set SHEETSYNC_DASHBOARD_TOKEN" in (
        capsys.readouterr().err
    )


def test_the_image_command_serves_and_its_healthcheck_passes(tmp_path: Path) -> None:
    """The container's command and HEALTHCHECK, with /data as a folder here and $PORT free."""
    data = tmp_path / "data"
    assert main(["init", "--dir", str(data)]) == 0
    command = [
        str(data) + part.removeprefix("/data") if part.startswith("/data/") else part
        for part in container_command()
    ]
    port = free_port()
    env = {**os.environ, "PORT": str(port), "SHEETSYNC_DASHBOARD_TOKEN": "t" * 32, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "sheetsync", *command[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=data,
    )
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while not any("cycle: ingested" in line for line in lines) and time.monotonic() < deadline:
            lines.append(server.stdout.readline())
        python, *check = healthcheck_command()
        assert python == "python"  # the image's; here, this interpreter
        health = subprocess.run(
            [sys.executable, *check], env=env, capture_output=True, text=True, check=False
        )
        assert health.returncode == 0, health.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 401  # the token guards the page
        server.send_signal(signal.SIGTERM)
        rest, _ = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == 0
    assert rest.rstrip().endswith("stopped")


# --- compose.yaml -----------------------------------------------------------------------------


def test_compose_runs_one_worker_with_its_dashboard_on_this_machine_and_keeps_data() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    # The fleet's services (docs/distributed.md) start only with `--profile fleet`.
    assert [n for n, s in compose["services"].items() if "fleet" not in s.get("profiles", [])] == [
        "sheetsync"
    ]
    service = compose["services"]["sheetsync"]
    assert service["build"] == "."
    assert "command" not in service  # the image's: serve with its dashboard
    assert service["volumes"] == ["sheetsync-data:/data"]
    assert compose["volumes"] == {"sheetsync-data": None, "redis-data": None}
    # Published on the host's loopback only, to the port the image listens on.
    (published,) = service["ports"]
    assert published == f"127.0.0.1:8080:{instruction('EXPOSE')}"
    # Secrets from .env at run time, none written here.
    assert service["env_file"] == [{"path": ".env", "required": False}]
    assert "environment" not in service
    assert service["restart"] == "unless-stopped"
    assert service["stop_grace_period"] == "2m"


# --- the Procfile -----------------------------------------------------------------------------


def procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    return {name: shlex.split(command) for name, command in (line.split(":", 1) for line in lines if line)}


def test_the_procfile_runs_the_config_that_init_dir_config_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = procfile()["worker"]
    assert argv[:2] == ["sheetsync", "run"]
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--dir", "config"]) == 0
    assert str(Path("config") / DEFAULT_CONFIG) in argv
    # On Heroku the template's workbook master is refused, after the config was found and read.
    monkeypatch.setenv("DYNO", "worker.1")
    assert main(argv[1:]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"sheetsync: configuration error: {Path('config') / DEFAULT_CONFIG}: master.kind is "
    )
    assert "runs on Heroku ($DYNO is set)" in err
    assert "the workbook's Ledger and State would be lost on restart" in err
    assert "Use a Google Sheet or an Airtable base as the master;" in err


# --- the refusal, from the command line ------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    assert main(["init", "--dir", str(tmp_path / "shop")]) == 0
    return tmp_path / "shop" / DEFAULT_CONFIG


def on_a_mount(path: Path) -> bool:
    return any(os.path.ismount(folder) for folder in path.resolve().parents[:-1])


@pytest.mark.parametrize(
    ("platform", "variable"), [(p, v) for p in PLATFORMS for v in p.variables], ids=PLATFORM_VARIABLES
)
@pytest.mark.parametrize("command", ["check-config", "sync", "run", "serve", "status"])
def test_every_command_that_runs_a_workbook_refuses_each_platform(
    config: Path,
    platform: Platform,
    variable: str,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if platform.volume and on_a_mount(config):
        pytest.skip(f"{config.parent} is on a mounted volume here, which {platform.name} keeps")
    monkeypatch.setenv(variable, "x")
    assert main([command, "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"runs on {platform.name} (${variable} is set)" in err
    assert f"{ALLOW_ENV}=true" in err
    assert ("or put the workbook on a" in err) == bool(platform.volume)


def test_the_setting_or_the_variable_lets_the_worker_run_anyway(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DYNO", "run.1")
    monkeypatch.setenv(ALLOW_ENV, "TRUE")
    assert main(["sync", "--config", str(config)]) == 0  # one real cycle, on the sandboxes
    monkeypatch.setenv(ALLOW_ENV, "false")
    assert main(["sync", "--config", str(config)]) == 2
    capsys.readouterr()
    config.write_text(
        config.read_text().replace("# allow_ephemeral_disk = false", "allow_ephemeral_disk = true")
    )
    assert main(["sync", "--config", str(config)]) == 0


def test_a_bad_override_value_is_one_line_naming_the_variable(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ALLOW_ENV, "sure")
    assert main(["check-config", "--config", str(config)]) == 2
    assert capsys.readouterr().err == (
        f"sheetsync: configuration error: {ALLOW_ENV}='sure' is neither true nor false; "
        "set it to true or false, or unset it\n"
    )


def test_a_remote_master_runs_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / DEFAULT_CONFIG
    config.write_text(
        '[master]\nkind = "google_sheets"\nspreadsheet = "1AbC"\n\n[channels.shop]\nkind = "sandbox"\n'
    )
    monkeypatch.setenv("DYNO", "worker.1")
    main(["check-config", "--config", str(config)])  # offline, it may miss the key: not our concern here
    out, err = capsys.readouterr()
    assert "master: Google Sheet 1AbC" in out
    assert "Heroku" not in err


SHM = Path("/dev/shm")  # noqa: S108 - a tmpfs mount point, standing in for a volume


@pytest.mark.skipif(not os.path.ismount(SHM), reason="no tmpfs mounted at /dev/shm here")
def test_a_workbook_on_a_mounted_volume_runs_where_the_platform_offers_volumes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory(dir=SHM) as volume:
        config = Path(volume) / DEFAULT_CONFIG
        assert main(["init", "--config", str(config)]) == 0
        monkeypatch.setenv("FLY_APP_NAME", "shop")
        assert main(["check-config", "--config", str(config)]) == 0
        monkeypatch.setenv("DYNO", "worker.1")  # Heroku has no volumes: a mount there is not one
        assert main(["check-config", "--config", str(config)]) == 2
        assert "runs on Heroku" in capsys.readouterr().err


# --- running it on the shop's own computer ---------------------------------------------------

SERVICE = ROOT / "docs" / "service"


def assert_serves_the_config_init_writes(argv: list[str], home: Path, folder: Path) -> None:
    """The command parses with the real parser and serves the config `init --dir FOLDER` writes."""
    assert Path(argv[0]).name in ("sheetsync", "sheetsync.exe")
    assert Path(argv[0]).parent == home / ".local" / "bin"  # where pipx puts it
    args = _parser().parse_args(argv[1:])
    assert args.run.__name__ == "_serve"
    assert args.host == "127.0.0.1"  # loopback: no token needed on the shop's own computer
    assert main(["init", "--dir", str(folder)]) == 0
    assert args.config == folder / DEFAULT_CONFIG


def test_the_systemd_user_unit(tmp_path: Path) -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    unit.read(SERVICE / "sheetsync.service", encoding="utf-8")
    home = tmp_path
    service = {key: value.replace("%h", str(home)) for key, value in unit["Service"].items()}
    assert_serves_the_config_init_writes(shlex.split(service["ExecStart"]), home, home / "sheetsync")
    assert service["WorkingDirectory"] == str(home / "sheetsync")
    assert service["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "default.target"


def test_the_launchd_agent(tmp_path: Path) -> None:
    text = (SERVICE / "com.sheetsync.worker.plist").read_text(encoding="utf-8")
    home = tmp_path
    agent = plistlib.loads(text.replace("/Users/YOU", str(home)).encode())
    assert agent["Label"] == "com.sheetsync.worker"
    assert (agent["RunAtLoad"], agent["KeepAlive"]) == (True, True)
    assert_serves_the_config_init_writes(agent["ProgramArguments"], home, home / "sheetsync")
    assert agent["EnvironmentVariables"] == {}  # no secret shipped, only the commented example


def test_the_windows_task_script_serves_the_folder_init_writes() -> None:
    script = (SERVICE / "sheetsync-task.ps1").read_text(encoding="utf-8")
    assert '$Folder = Join-Path $env:USERPROFILE "sheetsync"' in script
    assert '$Sheetsync = Join-Path $env:USERPROFILE ".local\\bin\\sheetsync.exe"' in script
    (arguments,) = re.findall(r'-Argument "(.*?)" -WorkingDirectory \$Folder', script)
    argv = ["sheetsync", *shlex.split(arguments.replace('`"', '"').replace("$Folder\\", "FOLDER/"))]
    assert _parser().parse_args(argv[1:]).config == Path("FOLDER") / DEFAULT_CONFIG
    assert "-AtLogOn" in script
    assert "-ExecutionTimeLimit ([TimeSpan]::Zero)" in script
