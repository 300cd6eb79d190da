"""Hosting platforms whose disk does not survive a restart, told apart by the variables they set.

A workbook master keeps the Ledger and the worker's State in the file itself.  On a platform that
wipes its disk on every restart or deploy, each restart brings back the deployed copy: the orders
counted since are forgotten and their units offered again.  The worker refuses to start there
unless the workbook is on a mounted volume or the merchant says the disk is kept.

Pure: the caller passes the environment and whether the workbook's folder is on a volume.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sheetsync.errors import ConfigError

#: Set to true to run a workbook master on a platform listed below anyway.
ALLOW_ENV = "SHEETSYNC_ALLOW_EPHEMERAL_DISK"
#: The same, as a setting of a workbook master (``[master]``).
ALLOW_KEY = "allow_ephemeral_disk"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class Platform:
    """A hosting platform whose own disk is wiped on restart."""

    name: str
    #: the environment variables the platform sets in every process it runs (any one tells)
    variables: tuple[str, ...]
    #: why a file written there is lost
    why: str
    #: how to keep files on this platform ("" when it offers no volume)
    volume: str = ""


@dataclass(frozen=True, slots=True)
class Detected:
    """The platform found, and the variable that told."""

    platform: Platform
    variable: str


#: In order of detection.  Sources: Heroku "Dynos and the Dyno Manager" (DYNO; the dyno filesystem
#: is ephemeral, and dynos restart at least daily); Google Cloud Run "Container runtime contract"
#: (K_SERVICE; the filesystem is in memory); Render "Default Environment Variables" (RENDER is
#: always "true") and "Persistent Disks"; Railway "Variables Reference" (RAILWAY_ENVIRONMENT_NAME,
#: RAILWAY_ENVIRONMENT on older services) and "Using Volumes"; Fly.io "The Machine Runtime
#: Environment" (FLY_APP_NAME) and "Fly Volumes".
PLATFORMS = (
    Platform("Heroku", ("DYNO",), "a dyno's disk is wiped at every restart, deploy and daily cycling"),
    Platform("Google Cloud Run", ("K_SERVICE",), "an instance's disk is held in memory and goes with it"),
    Platform(
        "Render",
        ("RENDER",),
        "a service's own disk is wiped at every deploy and restart",
        "a persistent disk (Render: Disks)",
    ),
    Platform(
        "Railway",
        ("RAILWAY_ENVIRONMENT_NAME", "RAILWAY_ENVIRONMENT"),
        "a service's own disk is wiped at every deploy",
        "a volume (Railway: Volumes)",
    ),
    Platform(
        "Fly.io",
        ("FLY_APP_NAME",),
        "a Machine's root disk is rebuilt from the image at every start",
        "a Fly volume ([mounts] in fly.toml)",
    ),
)


def ephemeral_platform(environ: Mapping[str, str], *, on_volume: bool) -> Detected | None:
    """The platform this runs on whose disk would lose a workbook, or None.

    Args:
        environ: the process environment.
        on_volume: whether the workbook's folder is on a mounted volume; that keeps it on the
            platforms that offer volumes (Render, Railway, Fly.io), not on Heroku or Cloud Run.
    """
    for platform in PLATFORMS:
        for variable in platform.variables:
            if environ.get(variable, "").strip():
                return None if on_volume and platform.volume else Detected(platform, variable)
    return None


def check_disk(
    environ: Mapping[str, str], *, source: str, workbook: str, allowed: bool, on_volume: bool
) -> None:
    """Refuse a workbook master on a disk a restart wipes, unless the config or environment allows it.

    Args:
        environ: the process environment.
        source: the config file, for the message.
        workbook: the workbook's path, for the message.
        allowed: ``allow_ephemeral_disk`` from the workbook master's settings.
        on_volume: whether the workbook's folder is on a mounted volume.

    Raises:
        ConfigError: naming the platform, what would be lost, and the fixes; or naming
            ``SHEETSYNC_ALLOW_EPHEMERAL_DISK`` when it is neither true nor false.
    """
    if allowed or _allowed_by_env(environ):
        return
    found = ephemeral_platform(environ, on_volume=on_volume)
    if found is not None:
        raise ConfigError(refusal(source, workbook, found))


def _allowed_by_env(environ: Mapping[str, str]) -> bool:
    value = environ.get(ALLOW_ENV, "").strip()
    if value.casefold() in _TRUE:
        return True
    if value.casefold() in _FALSE:
        return False
    raise ConfigError(
        f"{ALLOW_ENV}={value!r} is neither true nor false; set it to true or false, or unset it"
    )


def refusal(source: str, workbook: str, found: Detected) -> str:
    """The one-line refusal: where, why the data would be lost, and each way out."""
    platform = found.platform
    keep = f", or put the workbook on {platform.volume}" if platform.volume else ""
    return (
        f"{source}: master.kind is workbook ({workbook}), and this runs on {platform.name} "
        f"(${found.variable} is set), where {platform.why}: the workbook's Ledger and State would be "
        "lost on restart, and units already sold offered again. Use a Google Sheet or an Airtable base "
        f"as the master{keep}; if this disk is kept after all, set {ALLOW_KEY} = true under [master] "
        f"or {ALLOW_ENV}=true"
    )
