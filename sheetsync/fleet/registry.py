"""The merchant registry: a folder of per-merchant configs, each in the single-merchant format.

``<folder>/<name>.toml`` is merchant ``name``'s config, exactly what ``sheetsync sync --config``
reads. Its secrets (the same ``SHEETSYNC__<NAME>__<WHAT>`` variables a single worker reads) come,
later ones winning, from:

1. the deployment's own ``SHEETSYNC__*`` variables: what every merchant shares (one Google
   service account, a Slack webhook for the agency);
2. ``<folder>/<name>.env``: ``SHEETSYNC__…=value`` lines, one a line (``#`` comments);
3. the deployment's variables prefixed by the merchant, ``<NAME>__SHEETSYNC__…`` (``acme-shop``
   is ``ACME_SHOP__``), for platforms that only offer environment variables.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sheetsync.config import Settings, WorkbookMaster, load
from sheetsync.errors import ConfigError

#: Where the registry is, when no --merchants is given.
MERCHANTS_ENV = "SHEETSYNC_MERCHANTS"
#: Lower-case letters, digits and dashes: a file name, a Redis key part and a variable prefix.
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
SECRET_PREFIX = "SHEETSYNC__"  # noqa: S105 - the variables' prefix, not a secret


@dataclass(frozen=True, slots=True)
class Merchant:
    """One merchant: its name, its validated settings and the secrets its cycle reads."""

    name: str
    settings: Settings
    environ: Mapping[str, str]

    @property
    def interval_s(self) -> float:
        """How often its cycle runs: its most frequent channel's interval."""
        return float(min((c.interval_s for c in self.settings.channels), default=60))


def check_name(name: str) -> str:
    """``name`` if it can name a merchant.

    Raises:
        ConfigError: saying what a name may hold.
    """
    if not NAME.fullmatch(name):
        raise ConfigError(
            f"merchant name {name!r}: use lower-case letters, digits and dashes (up to 63), "
            "starting with a letter or digit, e.g. acme-shop"
        )
    return name


def env_prefix(name: str) -> str:
    """The prefix of a merchant's own variables: ``acme-shop`` → ``ACME_SHOP__``."""
    return f"{name.upper().replace('-', '_')}__"


class Registry:
    """The merchants configured in ``folder``; secrets from ``environ`` and the folder's .env files."""

    def __init__(self, folder: Path, environ: Mapping[str, str] = os.environ) -> None:
        self.folder = folder
        self._environ = environ

    def names(self) -> list[str]:
        """Every merchant's name, sorted.

        Raises:
            ConfigError: no such folder, or a config whose file name cannot name a merchant.
        """
        if not self.folder.is_dir():
            raise ConfigError(
                f"no merchant registry at {self.folder}: create the folder and add merchants with "
                "`sheetsync merchants add NAME --config FILE`"
            )
        return sorted(check_name(path.stem) for path in self.folder.glob("*.toml"))

    def load(self, name: str) -> Merchant:
        """Merchant ``name``, its config validated.

        Raises:
            ConfigError: no such merchant, or its config is invalid (naming the file and key).
        """
        path = self.folder / f"{check_name(name)}.toml"
        if not path.is_file():
            raise ConfigError(f"no merchant {name!r}: {path} does not exist")
        return Merchant(name, load(path), self.secrets(name))

    def merchants(self) -> list[Merchant]:
        """Every merchant, loaded."""
        return [self.load(name) for name in self.names()]

    def secrets(self, name: str) -> dict[str, str]:
        """The environment merchant ``name``'s cycle reads its secrets from (see the module)."""
        shared = {k: v for k, v in self._environ.items() if k.startswith(SECRET_PREFIX)}
        prefix = env_prefix(name)
        own = {
            key.removeprefix(prefix): value
            for key, value in self._environ.items()
            if key.startswith(prefix + SECRET_PREFIX)
        }
        return {**shared, **self._secrets_file(name), **own}

    def _secrets_file(self, name: str) -> dict[str, str]:
        path = self.folder / f"{name}.env"
        if not path.is_file():
            return {}
        found: dict[str, str] = {}
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, equals, value = line.partition("=")
            key = key.strip().removeprefix("export ").strip()
            if not equals or not key.startswith(SECRET_PREFIX):
                # Never the line itself: it may hold a secret.
                raise ConfigError(
                    f"{path}, line {number}: expected SHEETSYNC__<NAME>__<WHAT>=value; "
                    "fix or remove that line"
                )
            found[key] = value.strip().strip("'\"")
        return found

    def add(self, name: str, config: Path) -> Path:
        """Copy ``config`` (validated) into the registry as merchant ``name``; the new file.

        Raises:
            ConfigError: a taken or invalid name, an invalid config, or a workbook master by a
                relative path (it would point elsewhere from the registry).
        """
        target = self.folder / f"{check_name(name)}.toml"
        if target.exists():
            raise ConfigError(f"merchant {name!r} exists: {target}; remove it first to replace it")
        settings = load(config)
        if isinstance(settings.master, WorkbookMaster) and not _absolute_in(config):
            raise ConfigError(
                f"{config}: master.path is relative, so it would point elsewhere from {self.folder}; "
                f"give the workbook's absolute path ({settings.master.path.resolve()}) or use a Google "
                "Sheet or Airtable base, which every worker machine can reach"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config, target)
        return target


def _absolute_in(config: Path) -> bool:
    """Whether the workbook path written in ``config`` is absolute."""
    raw = tomllib.loads(config.read_text(encoding="utf-8-sig"))
    return Path(str(raw.get("master", {}).get("path", ""))).is_absolute()
