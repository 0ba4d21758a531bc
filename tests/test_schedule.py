"""Periods, labels and billing dates of recurring charges, as PLAN-LANGUAGE.md defines them."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from itertools import pairwise

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from compiler.schedule import (
    Align,
    Every,
    PastLastDate,
    Period,
    TooManyPeriods,
    bill_date,
    count_increases,
    move_to_day,
    parse_duration,
    periods,
)

D = date.fromisoformat


def spans(ps: list[Period]) -> list[tuple[str, str]]:
    return [(p.start.isoformat(), p.end.isoformat()) for p in ps]


def labels(ps: list[Period]) -> list[str]:
    return [p.label for p in ps]


# --- the worked examples ------------------------------------------------------------------


def test_worked_example_calendar_month_starts_with_a_stub_cut_from_january() -> None:
    # every: month, start 2026-01-16, end 2026-06-30, in_advance
    ps = periods(Every("month"), "calendar", D("2026-01-16"), end=D("2026-06-30"))

    first = ps[0]
    assert (first.start, first.end) == (D("2026-01-16"), D("2026-01-31"))
    assert (first.full_start, first.full_end) == (D("2026-01-01"), D("2026-01-31"))
    assert first.is_stub and (first.days, first.full_days) == (16, 31)
    assert first.label == "2026-01"
    assert bill_date(first, "in_advance") == D("2026-01-16")

    assert labels(ps[1:]) == ["2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    assert [bill_date(p, "in_advance") for p in ps[1:]] == [
        D("2026-02-01"),
        D("2026-03-01"),
        D("2026-04-01"),
        D("2026-05-01"),
        D("2026-06-01"),
    ]
    assert not any(p.is_stub for p in ps[1:])


def test_worked_example_anniversaries_of_the_31st_clamp_without_drifting() -> None:
    # align: start, every: month, start 2026-01-31, count 4, in_advance
    ps = periods(Every("month"), "start", D("2026-01-31"), count=4)

    assert [bill_date(p, "in_advance") for p in ps] == [
        D("2026-01-31"),
        D("2026-02-28"),
        D("2026-03-31"),
        D("2026-04-30"),
    ]
    assert labels(ps) == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    assert spans(ps)[:2] == [("2026-01-31", "2026-02-27"), ("2026-02-28", "2026-03-30")]


def test_worked_example_quarter_in_arrears_bills_the_q1_stub_on_march_31() -> None:
    # every: quarter, start 2026-02-15, end 2026-12-31, in_arrears
    ps = periods(Every("quarter"), "calendar", D("2026-02-15"), end=D("2026-12-31"))

    assert labels(ps) == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert [bill_date(p, "in_arrears") for p in ps] == [
        D("2026-03-31"),
        D("2026-06-30"),
        D("2026-09-30"),
        D("2026-12-31"),
    ]
    assert (ps[0].days, ps[0].full_days) == (45, 90)
    assert [p.is_stub for p in ps] == [True, False, False, False]


# --- periods and stubs --------------------------------------------------------------------


def test_a_final_stub_ends_on_the_charge_end_and_is_billed_there_in_arrears() -> None:
    ps = periods(Every("month"), "calendar", D("2026-01-01"), end=D("2026-03-10"))

    last = ps[-1]
    assert (last.start, last.end) == (D("2026-03-01"), D("2026-03-10"))
    assert last.full_end == D("2026-03-31")
    assert last.is_stub and (last.days, last.full_days) == (10, 31)
    assert bill_date(last, "in_arrears") == D("2026-03-10")


def test_a_charge_inside_one_month_is_a_single_period_cut_at_both_ends() -> None:
    ps = periods(Every("month"), "calendar", D("2026-01-10"), end=D("2026-01-20"))

    assert spans(ps) == [("2026-01-10", "2026-01-20")]
    assert (ps[0].full_start, ps[0].full_end) == (D("2026-01-01"), D("2026-01-31"))
    assert bill_date(ps[0], "in_arrears") == D("2026-01-20")


def test_a_first_stub_in_arrears_is_billed_at_the_end_of_the_period_it_was_cut_from() -> None:
    ps = periods(Every("month"), "calendar", D("2026-01-16"), end=D("2026-03-31"))

    assert bill_date(ps[0], "in_arrears") == D("2026-01-31")


def test_periods_are_numbered_from_one_and_know_how_many_there_are() -> None:
    ps = periods(Every("month"), "calendar", D("2026-01-16"), end=D("2026-06-30"))

    assert [(p.index, p.count) for p in ps] == [(i, 6) for i in range(1, 7)]


def test_count_includes_the_first_stub_and_the_last_period_is_whole() -> None:
    ps = periods(Every("month"), "calendar", D("2026-01-16"), count=3)

    assert spans(ps) == [
        ("2026-01-16", "2026-01-31"),
        ("2026-02-01", "2026-02-28"),
        ("2026-03-01", "2026-03-31"),
    ]
    assert [(p.index, p.count) for p in ps] == [(1, 3), (2, 3), (3, 3)]


def test_open_ended_charges_run_to_every_period_that_starts_by_the_horizon() -> None:
    # as-of 2026-03-15 + horizon 2 months = 2026-05-15: May starts by then, June does not
    until = D("2026-03-15") + parse_duration("2 months")
    ps = periods(Every("month"), "calendar", D("2026-01-16"), until=until)

    assert labels(ps) == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    assert ps[-1].end == D("2026-05-31")  # whole: there is no end to cut it
    assert all(p.count is None for p in ps)


def test_an_open_ended_period_starting_on_the_horizon_is_included() -> None:
    ps = periods(Every("month"), "calendar", D("2026-01-01"), until=D("2026-03-01"))

    assert labels(ps) == ["2026-01", "2026-02", "2026-03"]


def test_an_open_ended_charge_starting_after_the_horizon_has_no_periods_yet() -> None:
    assert periods(Every("month"), "calendar", D("2026-06-01"), until=D("2026-05-31")) == []


def test_a_one_day_charge_is_one_period() -> None:
    ps = periods(Every("year"), "calendar", D("2026-07-04"), end=D("2026-07-04"))

    assert spans(ps) == [("2026-07-04", "2026-07-04")]
    assert ps[0].label == "2026"


@pytest.mark.parametrize(
    "limits",
    [{}, {"end": D("2026-12-31"), "count": 3}, {"count": 3, "until": D("2026-12-31")}],
)
def test_a_schedule_needs_exactly_one_of_end_count_or_until(limits: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="exactly one of end, count or until"):
        periods(Every("month"), "calendar", D("2026-01-01"), **limits)  # type: ignore[arg-type]


def test_an_end_before_the_start_is_an_error() -> None:
    with pytest.raises(ValueError, match="end 2025-12-31 is before start 2026-01-01"):
        periods(Every("month"), "calendar", D("2026-01-01"), end=D("2025-12-31"))


@pytest.mark.parametrize("count", [0, -1])
def test_a_count_below_one_is_an_error(count: int) -> None:
    with pytest.raises(ValueError, match="count must be at least 1"):
        periods(Every("month"), "calendar", D("2026-01-01"), count=count)


# --- labels -------------------------------------------------------------------------------


def test_calendar_month_labels_are_year_and_month() -> None:
    ps = periods(Every("month"), "calendar", D("2026-11-05"), count=3)

    assert labels(ps) == ["2026-11", "2026-12", "2027-01"]


def test_n_months_are_blocks_starting_with_the_month_that_contains_start() -> None:
    # every: 3 months from mid-February is Feb-Apr, May-Jul, ... not calendar quarters
    ps = periods(Every("month", 3), "calendar", D("2026-02-15"), end=D("2026-12-31"))

    assert labels(ps) == ["2026-02", "2026-05", "2026-08", "2026-11"]
    assert spans(ps) == [
        ("2026-02-15", "2026-04-30"),
        ("2026-05-01", "2026-07-31"),
        ("2026-08-01", "2026-10-31"),
        ("2026-11-01", "2026-12-31"),
    ]
    assert (ps[0].full_start, ps[-1].full_end) == (D("2026-02-01"), D("2027-01-31"))


def test_quarters_are_calendar_quarters_labelled_by_year_and_number() -> None:
    ps = periods(Every("quarter"), "calendar", D("2026-11-20"), count=3)

    assert labels(ps) == ["2026-Q4", "2027-Q1", "2027-Q2"]
    assert ps[0].full_start == D("2026-10-01")


def test_years_are_calendar_years_labelled_by_the_year() -> None:
    ps = periods(Every("year"), "calendar", D("2026-03-01"), end=D("2028-06-30"))

    assert labels(ps) == ["2026", "2027", "2028"]
    assert spans(ps) == [
        ("2026-03-01", "2026-12-31"),
        ("2027-01-01", "2027-12-31"),
        ("2028-01-01", "2028-06-30"),
    ]


def test_weeks_are_iso_weeks_monday_to_sunday_labelled_by_iso_year_and_week() -> None:
    ps = periods(Every("week"), "calendar", D("2026-01-07"), count=2)

    assert labels(ps) == ["2026-W02", "2026-W03"]
    assert spans(ps) == [("2026-01-07", "2026-01-11"), ("2026-01-12", "2026-01-18")]
    assert ps[0].full_start == D("2026-01-05")  # the Monday


def test_the_last_week_of_december_2026_is_iso_week_53() -> None:
    ps = periods(Every("week"), "calendar", D("2026-12-28"), count=2)

    assert labels(ps) == ["2026-W53", "2027-W01"]


def test_new_year_2027_falls_in_iso_week_53_of_2026() -> None:
    ps = periods(Every("week"), "calendar", D("2027-01-01"), count=2)

    assert labels(ps) == ["2026-W53", "2027-W01"]
    assert (ps[0].full_start, ps[0].full_end) == (D("2026-12-28"), D("2027-01-03"))


def test_early_january_can_belong_to_the_previous_iso_year() -> None:
    # 2021-01-03 is a Sunday in 2020-W53
    ps = periods(Every("week"), "calendar", D("2021-01-03"), count=1)

    assert labels(ps) == ["2020-W53"]


def test_n_weeks_are_blocks_of_iso_weeks_starting_with_the_week_that_contains_start() -> None:
    ps = periods(Every("week", 2), "calendar", D("2026-01-07"), end=D("2026-02-10"))

    assert labels(ps) == ["2026-W02", "2026-W04", "2026-W06"]
    assert spans(ps) == [
        ("2026-01-07", "2026-01-18"),
        ("2026-01-19", "2026-02-01"),
        ("2026-02-02", "2026-02-10"),
    ]
    assert ps[-1].full_end == D("2026-02-15")


def test_anniversary_labels_are_the_iso_date_of_each_boundary() -> None:
    ps = periods(Every("week", 2), "start", D("2026-01-07"), count=3)

    assert labels(ps) == ["2026-01-07", "2026-01-21", "2026-02-04"]
    assert not any(p.is_stub for p in ps)


def test_anniversary_years_from_a_leap_day_clamp_to_february_28() -> None:
    ps = periods(Every("year"), "start", D("2024-02-29"), count=5)

    assert labels(ps) == ["2024-02-29", "2025-02-28", "2026-02-28", "2027-02-28", "2028-02-29"]


def test_an_anniversary_final_stub_keeps_its_boundary_label() -> None:
    ps = periods(Every("quarter"), "start", D("2026-01-15"), end=D("2026-05-01"))

    assert labels(ps) == ["2026-01-15", "2026-04-15"]
    assert (ps[-1].end, ps[-1].full_end) == (D("2026-05-01"), D("2026-07-14"))


# --- Every and horizons --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "every"),
    [
        ("week", Every("week")),
        ("1 week", Every("week")),
        ("2 weeks", Every("week", 2)),
        ("month", Every("month")),
        ("1 month", Every("month")),
        ("6 months", Every("month", 6)),
        ("quarter", Every("quarter")),
        ("year", Every("year")),
    ],
)
def test_every_reads_the_forms_the_plan_language_allows(text: str, every: Every) -> None:
    assert Every.parse(text) == every


@pytest.mark.parametrize(
    "text", ["", "weekly", "2 week", "0 months", "-1 months", "2 quarters", "1 year", "months"]
)
def test_every_rejects_anything_else_and_lists_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="week, N weeks, month, N months, quarter or year"):
        Every.parse(text)


def test_only_weeks_are_not_month_based() -> None:
    assert [Every(u).month_based for u in ("week", "month", "quarter", "year")] == [
        False,
        True,
        True,
        True,
    ]


def test_adding_intervals_clamps_the_day_to_the_month_end_from_the_start_each_time() -> None:
    monthly = Every("month")
    assert monthly.add(D("2026-01-31"), 1) == D("2026-02-28")
    assert monthly.add(D("2026-01-31"), 2) == D("2026-03-31")
    assert Every("quarter").add(D("2026-11-30"), 1) == D("2027-02-28")
    assert Every("year").add(D("2024-02-29"), 4) == D("2028-02-29")
    assert Every("week", 2).add(D("2026-01-07"), 3) == D("2026-02-18")


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("12 months", relativedelta(months=12)),
        ("1 year", relativedelta(years=1)),
        ("2 years", relativedelta(years=2)),
        ("6 weeks", relativedelta(weeks=6)),
        ("90 days", relativedelta(days=90)),
        ("month", relativedelta(months=1)),
    ],
)
def test_horizons_read_as_durations(text: str, duration: relativedelta) -> None:
    assert D("2026-01-31") + parse_duration(text) == D("2026-01-31") + duration


@pytest.mark.parametrize("text", ["", "12", "months", "2 month", "a year", "1 fortnight"])
def test_a_horizon_that_is_not_a_duration_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="horizon: expected N days, N weeks, N months"):
        parse_duration(text)


# --- billing dates and `day` ---------------------------------------------------------------


def test_day_31_in_february_is_the_last_day_of_february() -> None:
    assert move_to_day(D("2026-02-01"), 31) == D("2026-02-28")
    assert move_to_day(D("2028-02-01"), 31) == D("2028-02-29")


def test_a_numeric_day_moves_the_date_within_its_own_month() -> None:
    assert move_to_day(D("2026-03-01"), 15) == D("2026-03-15")
    assert move_to_day(D("2026-03-31"), 1) == D("2026-03-01")


def test_day_last_is_the_last_day_of_the_month() -> None:
    assert move_to_day(D("2026-04-10"), "last") == D("2026-04-30")


def test_business_days_skip_weekends() -> None:
    # August 2026 begins on a Saturday and ends on a Monday
    assert move_to_day(D("2026-08-15"), "first_business_day") == D("2026-08-03")
    assert move_to_day(D("2026-08-15"), "last_business_day") == D("2026-08-31")
    # May 2026 ends on a Sunday
    assert move_to_day(D("2026-05-04"), "last_business_day") == D("2026-05-29")


def test_a_holiday_on_the_first_business_day_moves_the_date_to_the_next_business_day() -> None:
    holidays = frozenset({D("2026-01-01")})  # a Thursday

    assert move_to_day(D("2026-01-20"), "first_business_day", holidays) == D("2026-01-02")


def test_a_holiday_on_friday_moves_the_first_business_day_past_the_weekend() -> None:
    # May 2026 begins on Friday the 1st
    holidays = frozenset({D("2026-05-01")})

    assert move_to_day(D("2026-05-20"), "first_business_day", holidays) == D("2026-05-04")


def test_a_holiday_on_the_last_business_day_moves_the_date_back() -> None:
    holidays = frozenset({D("2026-12-31")})  # a Thursday

    assert move_to_day(D("2026-12-01"), "last_business_day", holidays) == D("2026-12-30")


def test_a_month_with_no_business_day_is_an_error_naming_the_month() -> None:
    february = [D("2026-02-01") + timedelta(days=i) for i in range(28)]
    holidays = frozenset(d for d in february if d.weekday() < 5)

    with pytest.raises(ValueError, match="2026-02 has no business day"):
        move_to_day(D("2026-02-10"), "last_business_day", holidays)


@pytest.mark.parametrize("day", [0, 32, "first", True])
def test_a_day_rule_outside_the_language_is_an_error(day: object) -> None:
    with pytest.raises(ValueError, match=r"day: expected 1\.\.31"):
        move_to_day(D("2026-02-10"), day)  # type: ignore[arg-type]


# --- escalation ---------------------------------------------------------------------------


def test_increases_count_from_the_first_increase_date_inclusive() -> None:
    yearly = Every("year")
    first = D("2027-01-01")

    assert count_increases(first, yearly, D("2026-12-31")) == 0
    assert count_increases(first, yearly, D("2027-01-01")) == 1
    assert count_increases(first, yearly, D("2027-12-31")) == 1
    assert count_increases(first, yearly, D("2028-01-01")) == 2


def test_increases_from_the_31st_are_counted_on_clamped_dates() -> None:
    # increases on 2026-01-31, 02-28, 03-31, 04-30
    monthly = Every("month")

    assert count_increases(D("2026-01-31"), monthly, D("2026-02-27")) == 1
    assert count_increases(D("2026-01-31"), monthly, D("2026-02-28")) == 2
    assert count_increases(D("2026-01-31"), monthly, D("2026-04-29")) == 3
    assert count_increases(D("2026-01-31"), monthly, D("2026-04-30")) == 4


# --- properties ---------------------------------------------------------------------------

everies = st.one_of(
    st.builds(Every, st.just("week"), st.integers(1, 8)),
    st.builds(Every, st.just("month"), st.integers(1, 12)),
    st.builds(Every, st.sampled_from(["quarter", "year"])),
)
aligns = st.sampled_from(["calendar", "start"])
dates = st.dates(D("2000-01-01"), D("2100-12-31"))


@st.composite
def date_ranges(draw: st.DrawFn) -> tuple[date, date]:
    start = draw(dates)
    end = draw(st.dates(start, D("2100-12-31")))
    return start, end


@given(everies, aligns, date_ranges())
def test_periods_tile_the_service_without_gap_or_overlap(
    every: Every, align: Align, span: tuple[date, date]
) -> None:
    start, end = span
    ps = periods(every, align, start, end=end)

    assert ps[0].start == start and ps[-1].end == end
    for before, after in pairwise(ps):
        assert after.start == before.end + timedelta(days=1)
        assert after.full_start == before.full_end + timedelta(days=1)
    assert all(p.full_start <= p.start <= p.end <= p.full_end for p in ps)
    # only the first period can start late and only the last can end early
    assert all(p.start == p.full_start for p in ps[1:])
    assert all(p.end == p.full_end for p in ps[:-1])
    assert [(p.index, p.count) for p in ps] == [(i, len(ps)) for i in range(1, len(ps) + 1)]


@given(everies, aligns, date_ranges())
def test_labels_are_unique_and_periods_are_deterministic(
    every: Every, align: Align, span: tuple[date, date]
) -> None:
    start, end = span
    ps = periods(every, align, start, end=end)

    assert len(set(labels(ps))) == len(ps)
    assert periods(every, align, start, end=end) == ps


@given(everies, aligns, dates, st.integers(1, 60))
def test_count_n_yields_exactly_n_periods_ending_whole(
    every: Every, align: Align, start: date, n: int
) -> None:
    ps = periods(every, align, start, count=n)

    assert len(ps) == n
    assert ps[0].start == start and ps[-1].end == ps[-1].full_end
    assert all(p.count == n for p in ps)


@given(everies, aligns, date_ranges())
def test_open_ended_periods_are_exactly_those_starting_by_the_horizon(
    every: Every, align: Align, span: tuple[date, date]
) -> None:
    start, until = span
    ps = periods(every, align, start, until=until)

    assert ps and all(p.start <= until and p.count is None for p in ps)
    assert ps[-1].full_end + timedelta(days=1) > until
    bounded = periods(every, align, start, end=ps[-1].full_end)
    assert spans(bounded) == spans(ps)


month_based = st.one_of(
    st.builds(Every, st.just("month"), st.integers(1, 12)),
    st.builds(Every, st.sampled_from(["quarter", "year"])),
)
month_ends = st.builds(
    lambda year, month: date(year, month, calendar.monthrange(year, month)[1]),
    st.integers(2000, 2100),
    st.integers(1, 12),
)


@given(month_based, st.one_of(dates, month_ends), st.integers(0, 400))
def test_adding_k_intervals_never_drifts_from_the_start_day(
    every: Every, start: date, k: int
) -> None:
    boundary = every.add(start, k)

    months = {"month": 1, "quarter": 3, "year": 12}[every.unit] * every.n * k
    assert (boundary.year * 12 + boundary.month) - (start.year * 12 + start.month) == months
    month_length = calendar.monthrange(boundary.year, boundary.month)[1]
    assert boundary.day == min(start.day, month_length)


@given(st.integers(2000, 2100), st.sampled_from([1, 3, 5, 7, 8, 10, 12]), st.integers(1, 48))
def test_anniversary_boundaries_from_day_31_are_computed_from_the_start(
    year: int, month: int, n: int
) -> None:
    start = date(year, month, 31)
    ps = periods(Every("month"), "start", start, count=n)

    for k, p in enumerate(ps):
        target = date(year, month, 1) + relativedelta(months=k)
        assert p.full_start == target.replace(day=calendar.monthrange(target.year, target.month)[1])


@given(everies, dates, dates)
def test_count_increases_matches_counting_every_increase_date(
    every: Every, first: date, on_or_before: date
) -> None:
    expected = 0
    while every.add(first, expected) <= on_or_before:
        expected += 1

    assert count_increases(first, every, on_or_before) == expected


def test_twenty_years_of_weekly_anniversaries_is_1044_periods_ending_in_a_stub() -> None:
    # 7305 days from 2026-01-01 to 2045-12-31 are 1043 whole weeks and 4 days
    ps = periods(Every("week"), "start", D("2026-01-01"), end=D("2045-12-31"))

    assert len(ps) == 1044
    assert (ps[-1].start, ps[-1].days) == (D("2045-12-28"), 4)


# --- bounds -----------------------------------------------------------------------------------


def test_a_schedule_whose_periods_run_past_9999_is_refused() -> None:
    with pytest.raises(PastLastDate, match=r"runs past 9999-12-31"):
        periods(Every("month"), "calendar", D("9999-06-01"), count=12)


def test_a_schedule_may_end_in_december_9998() -> None:
    last = periods(Every("month"), "calendar", D("9998-12-01"), count=1)[-1]
    assert last.end == D("9998-12-31")


def test_periods_stop_at_the_most_the_caller_allows() -> None:
    with pytest.raises(TooManyPeriods):
        periods(Every("week"), "calendar", D("2026-01-05"), count=11, most=10)
    with pytest.raises(TooManyPeriods):
        periods(Every("week"), "calendar", D("2026-01-05"), end=D("2026-12-31"), most=10)
    assert len(periods(Every("week"), "calendar", D("2026-01-05"), count=10, most=10)) == 10


def test_every_repeats_at_most_every_999_weeks_or_months() -> None:
    assert Every.parse("999 months") == Every("month", 999)
    with pytest.raises(ValueError, match=r"at most 999 weeks or months"):
        Every.parse("1000000000 weeks")


@pytest.mark.parametrize("text", ["101 years", "1201 months", "5219 weeks", "36526 days"])
def test_a_horizon_reaches_at_most_a_hundred_years_ahead(text: str) -> None:
    with pytest.raises(ValueError, match=r"at most 100 years ahead"):
        parse_duration(text)
