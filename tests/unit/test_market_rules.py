"""The market rules, without a database: figures of a cell, the month in China Standard Time,
and when a balance is a shortage or a glut against the family's own history."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.coordinator.market.rules import (
    ListingFigure,
    Signal,
    SignalRule,
    balance_of,
    baseline_of,
    cell_figures,
    family_of,
    month_of,
    month_range,
    signal_for,
)

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
RULE = SignalRule()


def _need(quantity: float, **kwargs: object) -> ListingFigure:
    return ListingFigure("need", quantity, T0, **kwargs)  # type: ignore[arg-type]


def _offer(quantity: float, price: float | None = None) -> ListingFigure:
    return ListingFigure("offer", quantity, T0, price=price)


def test_family_and_month() -> None:
    assert family_of("produce.fruit.kiwifruit") == "produce.fruit"
    assert family_of("training") == "training"
    # 16:30 UTC on 30 November is half past midnight on 1 December in Beijing
    assert month_of(datetime(2026, 11, 30, 16, 30, tzinfo=UTC)) == "2026-12"
    assert month_of(datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) == "2026-11"
    start, end = month_range("2026-12")
    assert (start, end) == (datetime(2026, 11, 30, 16, tzinfo=UTC), datetime(2026, 12, 31, 16, tzinfo=UTC))
    assert month_range("2026-01")[0] == datetime(2025, 12, 31, 16, tzinfo=UTC)


def test_the_figures_of_a_cell() -> None:
    figures = cell_figures(
        [
            _need(30, matched=20, first_matched_at=T0 + timedelta(days=2), price=8.0),
            _need(10, matched=15, first_matched_at=T0 + timedelta(days=6)),  # more than asked counts as 10
            _need(20, price=10.0),
            _offer(20, price=6.0),
            _offer(5),
        ]
    )
    assert (figures.needs, figures.offers, figures.demand, figures.supply) == (3, 2, 60, 25)
    assert figures.matched == 30 and figures.matched_share == 0.5
    assert figures.median_days_to_match == 4.0
    assert figures.median_offer_price == 6.0 and figures.median_price_ceiling == 9.0
    assert figures.balance == pytest.approx(35 / 85)
    empty = cell_figures([])
    assert (empty.balance, empty.matched_share, empty.median_days_to_match) == (None, None, None)


def _signal(
    demand: float, supply: float, history: list[float], rule: SignalRule = RULE, listings: int = 4
) -> Signal:
    needs = 2 if demand else 0
    return signal_for(needs, listings - needs, demand, supply, baseline_of(history, rule), rule)


def test_a_shortage_or_a_glut_is_a_departure_from_the_familys_usual_balance() -> None:
    assert _signal(100, 20, []).state == "shortage"  # 0.67 above an even market
    assert _signal(20, 100, []).state == "glut"
    assert _signal(60, 40, []).state == "balanced"  # 0.2: within the threshold
    # the same tilt is this county's usual: not a shortage
    usual = _signal(100, 20, [0.6, 0.7, 0.65])
    assert usual.state == "balanced" and usual.reason == "market_balanced"
    assert usual.baseline == pytest.approx(0.65)
    # only the last history_months count
    assert _signal(100, 20, [-0.9] * 5 + [0.6] * 6).state == "balanced"
    # a big move of the balance that still leaves supply above demand is no shortage
    assert _signal(45, 55, [-0.9]).state == "balanced"


def test_exactly_at_the_threshold_counts_and_too_few_listings_say_nothing() -> None:
    assert balance_of(70, 30) == pytest.approx(0.4)
    assert _signal(70, 30, []).state == "shortage"
    few = _signal(100, 0, [], listings=2)
    assert (few.state, few.reason) == ("balanced", "market_too_few_listings")
    assert balance_of(0, 0) is None and _signal(0, 0, [], listings=0).state == "balanced"


@given(st.floats(0, 1e6), st.floats(0, 1e6), st.lists(st.floats(-1, 1), max_size=10), st.floats(0.05, 1.5))
def test_a_signal_never_contradicts_the_figures(
    demand: float, supply: float, history: list[float], threshold: float
) -> None:
    signal = _signal(demand, supply, history, SignalRule(threshold=threshold))
    if signal.state == "shortage":
        assert demand > supply and signal.shift >= threshold - 1e-9
    if signal.state == "glut":
        assert supply > demand and signal.shift <= -threshold + 1e-9


def test_an_instant_no_month_holds_is_left_out_rather_than_raising() -> None:
    assert month_of(datetime(9999, 12, 31, 17, 0, tzinfo=UTC)) is None  # year 10000 in Beijing
    assert month_of(datetime(9999, 12, 1, tzinfo=UTC)) is None  # its month would end in year 10000
    assert month_of(datetime(9998, 12, 1, tzinfo=UTC)) == "9998-12"
    assert month_range("9998-12")[1] == datetime(9998, 12, 31, 16, tzinfo=UTC)
