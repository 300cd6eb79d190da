"""A workbook master refused on a hosting platform whose disk a restart wipes, unless allowed."""

from __future__ import annotations

import pytest

from sheetsync.core.hosting import ALLOW_ENV, check_disk, ephemeral_platform
from sheetsync.errors import ConfigError


@pytest.mark.parametrize(
    ("environ", "on_volume", "found"),
    [
        ({}, False, None),
        ({"DYNO": "  "}, False, None),  # set but empty: not a platform
        ({"DYNO": "web.1"}, False, ("Heroku", "DYNO")),
        ({"DYNO": "web.1"}, True, ("Heroku", "DYNO")),
        ({"K_SERVICE": "shop"}, True, ("Google Cloud Run", "K_SERVICE")),
        ({"RENDER": "true"}, False, ("Render", "RENDER")),
        ({"RENDER": "true"}, True, None),
        ({"RAILWAY_ENVIRONMENT_NAME": "production"}, False, ("Railway", "RAILWAY_ENVIRONMENT_NAME")),
        ({"RAILWAY_ENVIRONMENT": "production"}, False, ("Railway", "RAILWAY_ENVIRONMENT")),
        ({"RAILWAY_ENVIRONMENT": "production"}, True, None),
        ({"FLY_APP_NAME": "shop"}, False, ("Fly.io", "FLY_APP_NAME")),
        ({"FLY_APP_NAME": "shop"}, True, None),
    ],
)
def test_ephemeral_platform(environ: dict[str, str], on_volume: bool, found: tuple[str, str] | None) -> None:
    detected = ephemeral_platform(environ, on_volume=on_volume)
    assert (None if detected is None else (detected.platform.name, detected.variable)) == found


def test_check_disk_message_names_the_platform_the_loss_and_the_fixes() -> None:
    with pytest.raises(ConfigError) as refused:
        check_disk(
            {"FLY_APP_NAME": "shop"},
            source="shop.toml",
            workbook="inventory.xlsx",
            allowed=False,
            on_volume=False,
        )
    assert str(refused.value) == (
        "shop.toml: master.kind is workbook (inventory.xlsx), and this runs on Fly.io ($FLY_APP_NAME is "
        "set), where a Machine's root disk is rebuilt from the image at every start: the workbook's Ledger "
        "and State would be lost on restart, and units already sold offered again. Use a Google Sheet or an "
        "Airtable base as the master, or put the workbook on a Fly volume ([mounts] in fly.toml); if this "
        f"disk is kept after all, set allow_ephemeral_disk = true under [master] or {ALLOW_ENV}=true"
    )


@pytest.mark.parametrize("value", ["1", "true", "Yes", " on "])
def test_check_disk_allowed_by_the_environment(value: str) -> None:
    check_disk({"DYNO": "web.1", ALLOW_ENV: value}, source="s", workbook="w", allowed=False, on_volume=False)


@pytest.mark.parametrize("value", ["", "0", "False", "no", "off"])
def test_check_disk_not_allowed_by_the_environment(value: str) -> None:
    with pytest.raises(ConfigError, match="runs on Heroku"):
        check_disk(
            {"DYNO": "web.1", ALLOW_ENV: value}, source="s", workbook="w", allowed=False, on_volume=False
        )
    check_disk({ALLOW_ENV: value}, source="s", workbook="w", allowed=False, on_volume=False)  # off platform


def test_check_disk_allowed_by_the_setting_ignores_the_variable() -> None:
    check_disk(
        {"DYNO": "web.1", ALLOW_ENV: "garbage"}, source="s", workbook="w", allowed=True, on_volume=False
    )


def test_an_override_value_neither_true_nor_false_is_refused_naming_the_variable() -> None:
    for environ in ({ALLOW_ENV: " sure "}, {"DYNO": "web.1", ALLOW_ENV: "sure"}):
        with pytest.raises(ConfigError) as refused:
            check_disk(environ, source="s", workbook="w", allowed=False, on_volume=False)
        assert str(refused.value) == (
            f"{ALLOW_ENV}='sure' is neither true nor false; set it to true or false, or unset it"
        )
