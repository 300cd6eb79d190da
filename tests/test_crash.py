"""Crash-anywhere and the secrets scan: a real worker child, SIGKILLed at a boundary of each kind."""

from __future__ import annotations

import json

from campaigns import crash
from sheetsync_fakes.keys import service_account_key


def test_a_worker_killed_at_any_kind_of_boundary_loses_doubles_and_oversells_nothing() -> None:
    counts, problems = crash.run_campaign(11, quick=True)
    assert counts["boundaries"] == 5  # read, append, a read-back, a push batch, status
    assert counts["crashes"] == counts["boundaries"]  # each child really died by SIGKILL
    assert counts["unreached"] == 0
    for invariant in ("lost", "doubled", "oversold_by_us", "overwritten_edits", "unconverged"):
        assert counts[invariant] == 0, problems


def test_the_quick_set_takes_one_boundary_of_each_kind() -> None:
    names = ["read", "append", "readback:a", "readback:b", "push:a:1", "push:a:2", "push:b:1", "status"]
    assert crash.quick_set(names) == ["read", "append", "readback:a", "push:a:2", "status"]


def test_no_secret_reaches_a_log_the_sheet_or_slack_even_on_error_paths() -> None:
    figures = crash.secrets_scan(5)
    assert figures["secrets_leaked"] == 0
    assert figures["runs"] == 3
    assert figures["places_scanned"] > 5


def test_the_scan_finds_a_secret_in_a_log_line_in_any_of_its_forms() -> None:
    key = service_account_key("leak@example.iam.gserviceaccount.com")
    named = {"token": "shpat_0123456789abcdef", "webhook": "https://hooks.example/T0/B0/s3cr+t", **key}
    named = {"token": named["token"], "webhook": named["webhook"], "private_key": key["private_key"]}
    body_line = key["private_key"].splitlines()[5]
    places = [
        ("clean", "INFO sheetsync.worker: cycle: ingested 2 order lines"),
        ("plain", "DEBUG httpx: POST /graphql.json X-Shopify-Access-Token: shpat_0123456789abcdef"),
        ("quoted", "GET /hook?url=https%3A%2F%2Fhooks.example%2FT0%2FB0%2Fs3cr%2Bt"),
        ("json", json.dumps({"key": key["private_key"]})),
        ("one line of the key", f"error near {body_line}"),
    ]
    found = crash.find_secrets(places, named)
    assert not any(f.startswith("clean:") for f in found)
    for where in ("plain: token", "quoted: webhook", "json: private_key", "one line of the key: private_key"):
        assert any(f.startswith(where) for f in found), (where, found)
