"""One Python value per meaning, whichever backend returned it: what a replay compares."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from sifang.replay_compare import coordinator_consumer, normalize


def test_values_that_mean_the_same_normalize_equal() -> None:
    assert normalize(Decimal("75.0000")) == normalize(Decimal("75")) == Decimal("75")
    assert str(normalize(Decimal("2500.0000"))) == "2.5E+3" and normalize(Decimal("2500.0")) == 2500
    beijing = datetime(2026, 3, 1, 16, 30, tzinfo=timezone(timedelta(hours=8)))
    assert (
        normalize(beijing)
        == normalize(datetime(2026, 3, 1, 8, 30))
        == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    )
    assert normalize(beijing).tzinfo is UTC
    assert normalize(memoryview(b"\x00\xff")) == b"\x00\xff"
    assert normalize({"q": Decimal("1.50"), "at": [beijing]}) == {"q": Decimal("1.5"), "at": [beijing]}
    assert normalize(None) is None and normalize("75.0000") == "75.0000"


def test_only_the_stakeholder_consumer_is_replayed() -> None:
    assert coordinator_consumer("coordinator") and coordinator_consumer("coordinator-610124")
    assert not coordinator_consumer("coordinator-webhooks") and not coordinator_consumer("government")
