"""A month's spending of a quota, projected at this pace (``sheetsync.pacing``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sheetsync.pacing import Allowance, Spending, Usage, month_of, pace, share

POINTS = Allowance("points", "cost points", 100.0, "100 a second")
DECEMBER = datetime(2026, 12, 11, 0, 0, tzinfo=UTC)  # 10 of December's 31 days gone


def test_a_month_counted_from_its_start_projects_over_its_days() -> None:
    usage = Usage("2026-12", 1000)
    assert usage.projected(DECEMBER) == 3100  # 1,000 in 10 days: 3,100 in 31


def test_a_worker_started_mid_month_projects_from_its_own_first_count() -> None:
    started = DECEMBER - timedelta(days=1)
    usage = Usage("2026-12", 1000, started.timestamp())
    assert usage.projected(DECEMBER) == 31_000  # 1,000 in its one day, not in ten


def test_a_blip_is_counted_over_the_least_time_given() -> None:
    usage = Usage("2026-12", 10, (DECEMBER - timedelta(minutes=1)).timestamp())
    assert usage.projected(DECEMBER) == 10 * 31 * 24  # over an hour at least
    assert usage.projected(DECEMBER, least_s=86400) == 10 * 31  # over a day


def test_spending_adds_up_within_a_month_and_starts_again_in_the_next() -> None:
    usage = Usage("2026-12", 5, 1.0).add(3, DECEMBER)
    assert usage == Usage("2026-12", 8, 1.0)
    january = datetime(2027, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert usage.add(2, january) == Usage("2027-01", 2, january.timestamp())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12:1234", Usage("2026-12", 1234)),
        ("2026-12:1234@1765000000", Usage("2026-12", 1234, 1765000000.0)),
        ("2026-11:1234@1765000000", Usage("2026-12", 0)),  # last month's: this one starts at 0
        ("2026-12:lots", Usage("2026-12", 0)),
        ("", Usage("2026-12", 0)),
    ],
)
def test_usage_is_read_back_from_its_state_text(text: str, expected: Usage) -> None:
    assert Usage.parse(text, "2026-12") == expected
    if expected.spent:
        assert Usage.parse(expected.text(), "2026-12") == expected


def test_the_pace_is_said_in_whole_percents_of_the_months_allowance() -> None:
    month = 100 * 31 * 86400  # 267,840,000 points in December
    usage = Usage("2026-12", month // 100 * 10 // 31)  # 10 days at 1% of the month's pace
    assert share(usage, POINTS, DECEMBER) == pytest.approx(0.01, rel=1e-3)
    assert (
        pace(usage, POINTS, DECEMBER) == "on pace for 1% of a month's 267,840,000 cost points (100 a second)"
    )
    assert pace(Usage("2026-12", 3), POINTS, DECEMBER).startswith("on pace for under 1% of")
    assert pace(Usage("2026-12", 0), POINTS, DECEMBER).startswith("on pace for 0% of")
    over = Usage("2026-12", month // 31 * 10 * 2)
    assert pace(over, POINTS, DECEMBER).startswith("on pace for 200% of")


def test_february_allows_fewer_units_than_december() -> None:
    assert POINTS.per_month(datetime(2027, 2, 3, tzinfo=UTC)) == 100 * 28 * 86400
    assert POINTS.per_month(DECEMBER) == 100 * 31 * 86400


def test_spending_is_taken_once() -> None:
    spending = Spending()
    spending.count("batch")
    spending.count("management", 3)
    spending.count("batch")
    assert spending.take() == {"batch": 2, "management": 3}
    assert spending.take() == {}


def test_the_month_is_the_utc_calendar_months() -> None:
    assert month_of(DECEMBER) == "2026-12"


def test_a_local_time_counts_in_its_utc_month() -> None:
    bucharest = ZoneInfo("Europe/Bucharest")
    assert (
        month_of(datetime(2026, 12, 31, 23, 30, tzinfo=UTC).astimezone(bucharest)) == "2026-12"
    )  # 01:30 there
    assert month_of(datetime(2027, 1, 1, 0, 30, tzinfo=UTC).astimezone(bucharest)) == "2027-01"
