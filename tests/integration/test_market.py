"""Market information through the coordinator's projection on each backend: each listing event
moves its contribution between its county's category-family cells and publishes a
``market.signal`` when a cell's state changes; the open-data API serves the figures; a replay
of the recorded stream reproduces them exactly."""

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from services.coordinator.app import CoordinatorSettings, create_app
from services.coordinator.market.models import MarketCell
from services.coordinator.market.service import cell_details, key_of
from services.coordinator.matches.models import Match
from shared.db import make_engine
from shared.events.catalogue import CATALOGUE
from shared.events.data import MatchResponse
from shared.events.envelope import CloudEvent
from sifang.platform import LocalNats
from sifang.replay_compare import COORDINATOR_TABLES, compare_databases
from tests import factories
from tests.integration.streams import Stream

SIGNAL = "sifang.market.signal.v1"
NOW = datetime.now(UTC)


def _at(pair: tuple[str, CloudEvent], when: datetime) -> tuple[str, bytes]:
    subject, envelope = pair
    return subject, envelope.model_copy(update={"time": when}).to_json()


def _orgs() -> list[tuple[str, bytes]]:
    return [
        _at(factories.registered("station", kind="ngo", name="社工站"), NOW - timedelta(days=400)),
        *(
            _at(factories.registered(v, name=f"{v}村委会"), NOW - timedelta(days=400))
            for v in ("east", "west")
        ),
    ]


def _needs(month_start: datetime, persons: list[int], prefix: str) -> list[tuple[str, bytes]]:
    villages = ["east", "west"]
    return [
        _at(factories.training_need(villages[k % 2], f"{prefix}-{k}", n), month_start + timedelta(hours=k))
        for k, n in enumerate(persons)
    ]


def test_a_county_short_of_courses_gets_a_shortage_signal_and_an_even_one_ends_it(
    service_database: Callable[[str], str],
) -> None:
    stream = Stream(service_database("coordinator"))
    for event in _orgs():
        stream.apply(*event)
    # four villages' needs of 60 people against one course of 10 seats, this month
    needs = _needs(NOW, [15, 15, 20, 10], "need")
    for event in needs[:2]:
        stream.apply(*event)
    assert stream.signals() == []  # two listings are too few to judge
    assert stream.cells()[0].reason["code"] == "market_too_few_listings"
    for event in [*needs[2:], _at(factories.training_course("station", "c1", 10), NOW)]:
        stream.apply(*event)
    (cell,) = stream.cells()
    assert (cell.county, cell.family, cell.dimension, cell.base_unit) == (
        "610124",
        "training.livestream",
        "[person]",
        "人",
    )
    assert (cell.needs, cell.offers, cell.demand, cell.supply) == (4, 1, 60.0, 10.0)
    assert cell.balance == round(50 / 70, 4) and cell.baseline == 0.0
    assert cell.state == "shortage" and cell.reason["code"] == "market_shortage"
    (signal,) = stream.signals()  # judged short at the third need, and still short since
    assert (signal.state, signal.previous_state, signal.county, signal.month) == (
        "shortage",
        "balanced",
        "610124",
        cell.month,
    )
    assert (signal.needs, signal.offers, signal.matched_share) == (3, 0, 0.0)

    stream.apply(*_at(factories.training_course("station", "c2", 60), NOW + timedelta(minutes=3)))
    (cell,) = stream.cells()
    assert (cell.supply, cell.state) == (70.0, "balanced")
    assert [s.state for s in stream.signals()] == ["shortage", "balanced"]
    assert stream.signals()[1].previous_state == "shortage"
    # a title-only update changes no figure; a withdrawal takes its quantity out again
    stream.apply(*_at(factories.need_withdrawn("east", "need-2"), NOW + timedelta(minutes=4)))
    (cell,) = stream.cells()
    assert (cell.needs, cell.demand, cell.state) == (3, 40.0, "balanced")


def test_the_signal_follows_the_familys_own_history_and_too_few_listings_say_nothing(
    service_database: Callable[[str], str],
) -> None:
    stream = Stream(service_database("coordinator"))
    for event in _orgs():
        stream.apply(*event)
    this_month = NOW.replace(day=1, hour=4, minute=0, second=0, microsecond=0)
    earlier = (this_month - timedelta(days=40)).replace(day=2)
    # last month: more demand than courses (balance 0.6), judged then as a shortage
    for event in [
        *_needs(earlier, [20, 20], "old"),
        _at(factories.training_course("station", "c-old", 10), earlier),
    ]:
        stream.apply(*event)
    # this month: the same tilt is this county's usual, not a shortage
    for event in [
        *_needs(this_month, [20, 20], "new"),
        _at(factories.training_course("station", "c-new", 10), this_month),
    ]:
        stream.apply(*event)
    old, new = stream.cells()
    assert old.state == "shortage" and old.baseline == 0.0
    assert new.baseline == old.balance == 0.6 and new.state == "balanced"
    assert new.reason["code"] == "market_balanced"
    # a cell of two listings is too small to judge, whatever its balance
    stream.apply(
        *_at(factories.training_need("east", "logistics-1", 30, category="logistics.cold_chain"), this_month)
    )
    stream.apply(
        *_at(factories.training_need("west", "logistics-2", 30, category="logistics.cold_chain"), this_month)
    )
    logistics = [c for c in stream.cells() if c.family == "logistics.cold_chain"]
    assert [(c.balance, c.state, c.reason["code"]) for c in logistics] == [
        (1.0, "balanced", "market_too_few_listings")
    ]


def test_a_replay_of_the_stream_reproduces_the_figures_and_the_signals(
    service_database: Callable[[str], str],
) -> None:
    live = Stream(service_database("coordinator"))
    for event in [
        *_orgs(),
        *_needs(NOW, [15, 15, 20], "need"),
        _at(factories.training_course("station", "c1", 10), NOW),
    ]:
        live.apply(*event)
    live.apply(*_at(factories.need_withdrawn("east", "need-0"), NOW + timedelta(minutes=2)))
    live.apply(*_at(factories.need_withdrawn("west", "need-1"), NOW + timedelta(minutes=3)))
    assert [s.state for s in live.signals()] == ["shortage", "balanced"]
    replayed = Stream(service_database("coordinator"))
    for subject, payload in live.applied:
        replayed.apply(subject, payload)
    assert [s.model_dump() for s in replayed.signals()] == [s.model_dump() for s in live.signals()]
    url = str(live.sessions.kw["bind"].url.render_as_string(hide_password=False))
    other = str(replayed.sessions.kw["bind"].url.render_as_string(hide_password=False))
    differences = compare_databases(url, other, {"market_cells": COORDINATOR_TABLES["market_cells"]})
    assert differences["market_cells"]["rows"] == 1
    assert all(table["identical"] for table in differences.values()), differences


def test_the_open_data_api_serves_json_csv_and_its_schema_without_a_token(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> None:
    url = service_database("coordinator")
    stream = Stream(url)
    for event in [
        *_orgs(),
        *_needs(NOW, [15, 15, 20, 10], "need"),
        _at(factories.training_course("station", "c1", 10), NOW),
    ]:
        stream.apply(*event)
    settings = CoordinatorSettings(
        database_url=url, nats_url=nats_server.url, admin_token="market-admin-token-0123456"
    )
    with TestClient(create_app(settings)) as client:
        rows: list[dict[str, Any]] = client.get(
            "/open-data/market", params={"region": "610124", "lang": "en"}
        ).json()
        assert [(r["family"], r["state"], r["demand"], r["supply"]) for r in rows] == [
            ("training.livestream", "shortage", 60.0, 10.0)
        ]
        assert rows[0]["reason"].startswith("demand well above supply")
        zh = client.get("/open-data/market", params={"state": "shortage"}).json()
        assert zh[0]["reason"].startswith("需求明显多于供给")
        assert client.get("/open-data/market", params={"region": "610125"}).json() == []
        assert client.get("/open-data/market", params={"state": "glut"}).json() == []
        text = client.get("/open-data/market.csv", params={"lang": "en"}).text
        table = list(csv.DictReader(io.StringIO(text)))
        schema = client.get("/open-data/market/schema").json()
        assert list(table[0]) == list(schema["properties"])
        assert table[0]["state"] == "shortage" and table[0]["median_offer_price"] == ""
        assert rows[0]["matched_share"] == 0.0 and rows[0]["median_days_to_match"] is None
        bad = client.get("/open-data/market", params={"month_from": "2026-13"})
        assert bad.status_code == 422 and "month_from" in bad.text


def test_a_changed_need_moves_between_cells_and_a_late_older_copy_changes_nothing(
    service_database: Callable[[str], str],
) -> None:
    stream = Stream(service_database("coordinator"))
    for event in _orgs():
        stream.apply(*event)
    for event in _needs(NOW, [10, 10], "need"):
        stream.apply(*event)
    first = factories.need_data("east", "moving", quantity="30")
    stream.apply(*_at(factories.event("community", "east", "need", "published", first), NOW))
    (cell,) = stream.cells()
    assert (cell.needs, cell.demand, cell.state) == (3, 50.0, "shortage")
    # version 2 asks for cold-chain transport instead (another family, another dimension)
    moved = first.model_copy(update={"version": 2, "category": "logistics.cold_chain", "unit": "t"})
    stream.apply(
        *_at(factories.event("community", "east", "need", "updated", moved), NOW + timedelta(minutes=1))
    )
    cells = {(c.family, c.dimension): c for c in stream.cells()}
    training, logistics = (
        cells[("training.livestream", "[person]")],
        cells[("logistics.cold_chain", "[mass]")],
    )
    assert (training.needs, training.demand, training.state) == (2, 20.0, "balanced")
    assert (logistics.needs, logistics.demand, logistics.base_unit) == (1, 30_000.0, "kg")
    assert [s.state for s in stream.signals()] == ["shortage", "balanced"]
    # a late copy of version 1, redelivered after version 2, is ignored by the book and the market
    stream.apply(
        *_at(factories.event("community", "east", "need", "updated", first), NOW + timedelta(minutes=2))
    )
    assert [(c.family, c.needs, c.demand) for c in stream.cells()] == [
        ("logistics.cold_chain", 1, 30_000.0),
        ("training.livestream", 2, 20.0),
    ]


def test_an_upgraded_coordinator_counts_the_book_it_already_holds(
    make_database: Callable[[str], str],
) -> None:
    from alembic import command

    from services.coordinator.book.models import BookNeed, BookOffer
    from services.migrate import alembic_config, upgrade

    url = make_database("coordinator")
    command.upgrade(alembic_config("coordinator", url), "coordinator_0012")  # before the market
    earlier, now = datetime(2026, 10, 5, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC)
    common = {
        "description": "",
        "attributes": {},
        "version": 1,
        "withdrawn_reason": None,
        "kind": "community",
    }
    with sessionmaker(make_engine(url))() as session:
        for k, (at, quantity, status) in enumerate(
            [
                (earlier, 20, "open"),
                (earlier, 20, "open"),
                (now, 30, "open"),
                (now, 30, "open"),
                (now, 90, "withdrawn"),
            ]
        ):
            session.add(
                BookNeed(
                    id=f"n{k}",
                    organisation_id="east",
                    category="training.livestream",
                    title="培训",
                    quantity=Decimal(quantity),
                    unit="人",
                    region="610124104201",
                    window_start=None,
                    window_end=None,
                    status=status,
                    published_at=at,
                    updated_at=at,
                    **common,
                )
            )
        for k, at in enumerate([earlier, now]):
            session.add(
                BookOffer(
                    id=f"o{k}",
                    organisation_id="station",
                    category="training.livestream",
                    title="课程",
                    quantity=Decimal(10),
                    unit="人",
                    region="610124104201",
                    window_start=None,
                    window_end=None,
                    status="open",
                    published_at=at,
                    updated_at=at,
                    service_area=["610124"],
                    **common,
                )
            )
        session.commit()
    upgrade("coordinator", url)
    stream = Stream(url)
    october, november = stream.cells()
    assert (october.month, october.needs, october.offers, october.demand, october.state) == (
        "2026-10",
        2,
        1,
        40.0,
        "shortage",
    )
    # November leans the same way as October did: its usual, not a shortage; the withdrawn need is not counted
    assert (november.needs, november.demand, november.baseline, november.state) == (2, 60.0, 0.6, "balanced")
    # the next event moves from the counted cell: a withdrawal takes 30 out, not from nothing
    stream.apply(*_at(factories.registered("east"), now))
    stream.apply(*_at(factories.need_withdrawn("east", "n2"), now))
    assert [(c.month, c.needs, c.demand) for c in stream.cells()] == [
        ("2026-10", 2, 40.0),
        ("2026-11", 1, 30.0),
    ]


def test_a_signal_states_the_share_of_the_cells_demand_already_matched(
    service_database: Callable[[str], str],
) -> None:
    """The share in a signal counts the confirmed quantities of the cell's needs against their
    demand: the same figure the open-data API reads for the cell."""
    stream = Stream(service_database("coordinator"))
    for event in _orgs():
        stream.apply(*event)
    for event in [
        *_needs(NOW, [15, 15, 20], "need"),
        _at(factories.training_course("station", "c1", 10), NOW),
    ]:
        stream.apply(*event)
    with stream.sessions() as session:
        proposal = session.scalars(select(Match).order_by(Match.id)).first()
    assert proposal is not None and proposal.status == "proposed"
    for org, kind in ((proposal.need_organisation_id, "community"), (proposal.offer_organisation_id, "ngo")):
        answer = MatchResponse(match_id=proposal.id, organisation_id=org)
        accepted = CATALOGUE["sifang.match.accepted.v1"].build(
            kind=kind, organisation_id=org, region="610124104201", data=answer
        )
        stream.apply(*_at(accepted, NOW + timedelta(minutes=1)))
    stream.apply(*_at(factories.training_course("station", "c2", 60), NOW + timedelta(minutes=2)))

    shortage, balanced = stream.signals()
    assert (shortage.state, shortage.matched_share) == ("shortage", 0.0)
    with stream.sessions() as session:
        confirmed = session.get(Match, proposal.id)
        assert confirmed is not None and confirmed.status == "confirmed"
        (cell,) = session.scalars(select(MarketCell)).all()
        figures = cell_details(session, [cell])[key_of(cell)]
    assert balanced.state == "balanced" and balanced.needs == 3
    assert balanced.matched_share == round(confirmed.base_quantity / 50, 4) > 0
    assert balanced.matched_share == round(figures.matched_share or 0.0, 4)
