"""The merchant registry, its secrets, beat's schedule and `sheetsync merchants` (no Redis needed)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sheetsync.cli import main
from sheetsync.errors import ConfigError
from sheetsync.fleet.registry import Registry, env_prefix
from sheetsync.fleet.tasks import CYCLE_TASK, schedule
from sheetsync.pacing import Quotas, token_rate


def test_secrets_come_shared_then_from_the_file_then_from_the_merchants_own_variables(
    merchants: Callable[..., Path],
) -> None:
    folder = merchants("acme-shop", "bolt")
    (folder / "acme-shop.env").write_text(
        "# acme's secrets\nSHEETSYNC__SHOPIFY__TOKEN='from-file'\nexport SHEETSYNC__META__TOKEN=meta-file\n"
    )
    environ = {
        "SHEETSYNC__GOOGLE_SHEETS__SERVICE_ACCOUNT": "shared-key",
        "SHEETSYNC__SHOPIFY__TOKEN": "shared-token",
        "ACME_SHOP__SHEETSYNC__META__TOKEN": "acme-own",
        "BOLT__SHEETSYNC__SHOPIFY__TOKEN": "bolt-own",
        "ACME_SHOP__PATH": "not a secret of ours",
    }
    registry = Registry(folder, environ)
    assert registry.names() == ["acme-shop", "bolt"]
    assert registry.secrets("acme-shop") == {
        "SHEETSYNC__GOOGLE_SHEETS__SERVICE_ACCOUNT": "shared-key",
        "SHEETSYNC__SHOPIFY__TOKEN": "from-file",
        "SHEETSYNC__META__TOKEN": "acme-own",
    }
    assert registry.secrets("bolt")["SHEETSYNC__SHOPIFY__TOKEN"] == "bolt-own"
    assert env_prefix("acme-shop") == "ACME_SHOP__"


def test_a_bad_secrets_line_is_named_without_showing_it(merchants: Callable[..., Path]) -> None:
    folder = merchants("acme")
    (folder / "acme.env").write_text("SHEETSYNC__SHOPIFY__TOKEN=ok\nshpat_pasted_alone\n")
    with pytest.raises(ConfigError, match=r"acme.env, line 2: expected SHEETSYNC__") as caught:
        Registry(folder, {}).load("acme")
    assert "shpat_pasted_alone" not in str(caught.value)


def test_names_are_checked_and_missing_merchants_named(merchants: Callable[..., Path]) -> None:
    registry = Registry(merchants("acme"), {})
    with pytest.raises(ConfigError, match="lower-case letters, digits and dashes"):
        registry.load("Acme Shop/1")
    with pytest.raises(ConfigError, match="no merchant 'zed'"):
        registry.load("zed")
    with pytest.raises(ConfigError, match="no merchant registry at"):
        Registry(registry.folder / "absent", {}).names()


def test_beat_runs_each_merchant_at_its_shortest_interval_and_drops_stale_requests(
    merchants: Callable[..., Path],
) -> None:
    folder = merchants("acme", "bolt")
    fast = (folder / "bolt.toml").read_text().replace("interval = 120", "interval = 15", 1)
    (folder / "bolt.toml").write_text(fast)
    entries = schedule(Registry(folder, {}))
    assert entries["cycle acme"] == {
        "task": CYCLE_TASK,
        "schedule": 30.0,  # the template's channels poll every 30, 60 and 120 s
        "args": ("acme",),
        "options": {"expires": 30.0},
    }
    assert entries["cycle bolt"]["schedule"] == 15.0


def test_merchants_add_list_and_check(
    tmp_path: Path, merchants: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = merchants("acme")
    assert main(["init", "--dir", str(tmp_path / "new")]) == 0
    capsys.readouterr()
    relative = str(tmp_path / "new" / "sheetsync.toml")
    assert main(["merchants", "add", "bolt", "--config", relative, "--merchants", str(folder)]) == 2
    assert "master.path is relative" in capsys.readouterr().err
    absolute = tmp_path / "new" / "absolute.toml"
    workbook = (tmp_path / "new" / "inventory.xlsx").as_posix()
    absolute.write_text(Path(relative).read_text().replace('path = "inventory.xlsx"', f'path = "{workbook}"'))
    assert main(["merchants", "add", "bolt", "--config", str(absolute), "--merchants", str(folder)]) == 0
    assert "added bolt" in capsys.readouterr().out
    assert main(["merchants", "add", "bolt", "--config", str(absolute), "--merchants", str(folder)]) == 2
    assert "merchant 'bolt' exists" in capsys.readouterr().err
    (folder / "broken.toml").write_text("[master]\nkind = 'nothing'\n")
    assert main(["merchants", "list", "--merchants", str(folder)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("acme: workbook ")
    assert listed[1].startswith("bolt: workbook ")
    assert listed[2].startswith("broken: configuration error: ")
    assert main(["merchants", "check", "acme", "bolt", "--merchants", str(folder)]) == 0
    assert main(["merchants", "check", "--merchants", str(folder)]) == 1
    assert "broken: 1 problem(s)" in capsys.readouterr().out


def test_the_in_process_allowances_keep_their_shapes() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    window = Quotas().window("a", 3, 1.05, lambda: now[0], sleep)
    for _ in range(4):
        window.wait()
    assert slept == [pytest.approx(1.051, abs=0.002)]  # 3 at once, the 4th a window after the 1st
    bucket = Quotas().token_bucket("b", 0.5, 2, lambda: now[0], sleep)
    assert (bucket.take(), bucket.take()) == (0.0, 0.0)
    assert bucket.take() == pytest.approx(2.0, abs=0.002)  # one token every 2 s
    bucket.drain()
    now[0] += 2.0
    assert bucket.take() == 0.0
    assert token_rate(0.5, 2).burst == 2


def test_a_single_merchant_syncs_without_celery_or_redis(merchants: Callable[..., Path]) -> None:
    config = merchants("solo") / "solo.toml"
    blocked = "import sys\nfor name in ('celery', 'kombu', 'redis'):\n    sys.modules[name] = None\n"
    run = f"{blocked}from sheetsync.cli import main\nsys.exit(main(['sync', '--config', {str(config)!r}]))"
    done = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ingested 0 order lines; pushed ")
