"""The stakeholder HTTP API of every service, in process, on each database backend."""

import hashlib
import json
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from services import STAKEHOLDER_SERVICES
from shared.events.validation import check_event
from shared.stakeholder.models import Organisation
from shared.taxonomy import CATEGORIES
from sifang.platform import LocalNats
from tests.integration.stakeholders import ADMIN, Service, apply_coordinator_events, match_event


@pytest.fixture
def community(open_service: Callable[[str], Service]) -> Service:
    return open_service("community")


NEED = {"category": "training.livestream", "title": "直播带货培训", "quantity": 30, "unit": "人"}


def test_registration_needs_the_admin_token_and_shows_the_key_once(community: Service) -> None:
    body = {"name": "秦岭村委会", "region": "610124104201"}
    missing = community.client.post("/organisations", json=body)
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    wrong = community.client.post("/organisations", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    org, auth = community.register()
    assert org["kind"] == "community"
    key = auth["Authorization"].split()[1]
    engine = create_engine(community.url)
    with engine.connect() as connection:
        stored = connection.execute(select(Organisation.api_key_hash)).scalar_one()
    engine.dispose()
    assert stored == hashlib.sha256(key.encode()).hexdigest() and key not in stored
    me = community.client.get("/organisations/me", headers=auth)
    assert me.json()["id"] == org["id"]
    assert (
        community.client.get("/organisations/me", headers={"Authorization": "Bearer sfk_x"}).status_code
        == 401
    )
    assert community.outbox_types() == ["sifang.organisation.registered.v1"]


def test_need_lifecycle_publishes_each_change_through_the_outbox(community: Service) -> None:
    org, auth = community.register()
    created = community.client.post("/needs", headers=auth, json=NEED)
    assert created.status_code == 201, created.text
    need = created.json()
    assert need["region"] == org["region"] and need["version"] == 1 and need["status"] == "open"
    need_id = need["need_id"]

    changed = community.client.patch(f"/needs/{need_id}", headers=auth, json={"quantity": 45})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    unchanged = community.client.patch(f"/needs/{need_id}", headers=auth, json={"quantity": 45})
    assert unchanged.json()["version"] == 2  # no change, no event

    listed = community.client.get("/needs", headers=auth, params={"status": "open"}).json()
    assert [n["need_id"] for n in listed] == [need_id]

    withdrawn = community.client.post(f"/needs/{need_id}/withdraw", headers=auth, json={"reason": "已解决"})
    assert withdrawn.json()["status"] == "withdrawn"
    again = community.client.post(f"/needs/{need_id}/withdraw", headers=auth, json={"reason": "x"})
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "status"
    late = community.client.patch(f"/needs/{need_id}", headers=auth, json={"title": "x"})
    assert late.status_code == 409

    assert community.outbox_types() == [
        "sifang.organisation.registered.v1",
        "sifang.need.published.v1",
        "sifang.need.updated.v1",
        "sifang.need.withdrawn.v1",
    ]
    for subject, payload in community.outbox():
        check_event(subject, payload)  # everything we publish meets our own contract
    updated = json.loads(community.outbox()[2][1])
    assert updated["data"]["quantity"] == "45" and updated["data"]["version"] == 2


def test_an_organisation_cannot_see_or_touch_another_ones_records(community: Service) -> None:
    _, owner = community.register("甲村")
    _, other = community.register("乙村")
    need_id = community.client.post("/needs", headers=owner, json=NEED).json()["need_id"]
    assert community.client.get(f"/needs/{need_id}", headers=other).status_code == 404
    assert community.client.patch(f"/needs/{need_id}", headers=other, json={"title": "x"}).status_code == 404
    response = community.client.post(f"/needs/{need_id}/withdraw", headers=other, json={"reason": "x"})
    assert response.status_code == 404 and response.json()["errors"][0]["field"] == "id"
    assert community.client.get("/needs", headers=other).json() == []
    assert community.client.post("/needs", json=NEED).status_code == 401


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"title": None}, "title", "Field required"),
        ({"quantity": -3}, "quantity", "greater than 0"),
        ({"quantity": "lots"}, "quantity", "decimal"),
        ({"unit": "bushels-of-joy"}, "unit", "unknown unit"),
        ({"region": "61012"}, "region", "digits"),
        ({"category": "no.such"}, "category", "unknown category"),
        ({"window_start": "2026-10-01", "window_end": "2026-09-01"}, "window_end", "window_end is before"),
        ({"surprise": 1}, "surprise", "Extra inputs"),
        ({"attributes": {"blob": "x" * 20000}}, "attributes", "at most 16384 bytes"),
        (
            {"requirements": {"required_certifications": "organic"}},
            "requirements.required_certifications",
            "list",
        ),
        ({"requirements": {"price_min": 9, "price_max": 3}}, "requirements", "price_min is above price_max"),
        ({"attributes": {"required_grade": 1}}, "attributes", "required_grade"),
    ],
)
def test_bad_input_gets_a_422_naming_the_field(
    community: Service, change: dict[str, Any], field: str, problem: str
) -> None:
    _, auth = community.register()
    body = {k: v for k, v in (NEED | change).items() if v is not None}
    response = community.client.post("/needs", headers=auth, json=body)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert any(e["field"] == field and problem in e["problem"] for e in errors), errors
    assert community.outbox_types() == ["sifang.organisation.registered.v1"]  # nothing published


def test_offers_outside_the_kinds_vocabulary_are_refused(community: Service) -> None:
    _, auth = community.register()
    response = community.client.post("/offers", headers=auth, json=NEED | {"category": "funding.subsidy"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "category", "problem": response.json()["message"]}]
    vocabulary = community.client.get("/categories", headers=auth).json()
    assert "produce.fruit.kiwifruit" in {c["code"] for c in vocabulary["offer"]}
    assert "funding.subsidy" not in {c["code"] for c in vocabulary["offer"]}
    assert {c["code"] for c in vocabulary["need"]} == set(CATEGORIES)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_enterprise_may_need_funding_though_it_may_not_offer_it(
    open_service: Callable[[str], Service],
) -> None:
    enterprise = open_service("enterprise")
    _, auth = enterprise.register("秦农电商有限公司", "610124")
    subsidy = {"category": "funding.subsidy", "title": "冷库建设补贴申请", "quantity": 200000, "unit": "yuan"}
    need = enterprise.client.post("/needs", headers=auth, json=subsidy)
    assert need.status_code == 201, need.text
    assert need.json()["category"] == "funding.subsidy"
    assert enterprise.outbox_types()[-1] == "sifang.need.published.v1"
    offer = enterprise.client.post("/offers", headers=auth, json=subsidy)
    assert offer.status_code == 422 and offer.json()["errors"][0]["field"] == "category"


PROCUREMENT = {
    "title": "收购有机猕猴桃",
    "product_category": "produce.fruit.kiwifruit",
    "quantity": 3,
    "unit": "t",
    "region": "610124",
    "window_start": "2026-09-01",
    "window_end": "2026-10-31",
}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_procurement_carries_its_requirements_into_its_need(open_service: Callable[[str], Service]) -> None:
    enterprise = open_service("enterprise")
    _, auth = enterprise.register("秦农电商有限公司", "610100")
    requirements = {
        "required_certifications": ["organic"],
        "preferred_certifications": ["geographical-indication"],
        "required_grade": "一级",
        "required_packaging": "5kg-box",
        "price_min": "6000",
        "price_max": "9000",
    }
    created = enterprise.client.post(
        "/procurements", headers=auth, json=PROCUREMENT | {"requirements": requirements}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body["requirements"][k] for k in requirements} == requirements
    assert body["need"]["attributes"] == requirements
    assert body["need"]["region"] == "610124"  # the origin region, not the buyer's
    assert enterprise.client.get(f"/procurements/{body['id']}", headers=auth).json() == body
    subject, payload = enterprise.outbox()[1]
    assert json.loads(payload)["data"]["attributes"] == requirements
    check_event(subject, payload)

    older = enterprise.client.post(
        "/procurements", headers=auth, json=PROCUREMENT | {"grade": "一级", "max_price_per_unit": 8000}
    ).json()
    assert older["grade"] == "一级" and older["max_price_per_unit"] == "8000"
    assert older["need"]["attributes"] == {"preferred_grade": "一级", "price_max": "8000"}
    assert older["requirements"]["preferred_grade"] == "一级"
    both = PROCUREMENT | {"grade": "一级", "requirements": {"preferred_grade": "一级"}}
    assert enterprise.client.post("/procurements", headers=auth, json=both).status_code == 201

    clash = PROCUREMENT | {"max_price_per_unit": 8000, "requirements": {"price_max": 9000}}
    refused = enterprise.client.post("/procurements", headers=auth, json=clash)
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert (
        error["field"] == "requirements"
        and "max_price_per_unit and requirements.price_max" in error["problem"]
    )
    loose = enterprise.client.post(
        "/procurements", headers=auth, json=PROCUREMENT | {"required_certifications": ["organic"]}
    )
    assert loose.status_code == 422 and loose.json()["errors"][0]["field"] == "required_certifications"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_needs_and_offers_take_typed_requirements_and_qualities(community: Service) -> None:
    _, auth = community.register()
    need = community.client.post(
        "/needs",
        headers=auth,
        json=NEED | {"attributes": {"note": "x"}, "requirements": {"required_certifications": ["gap"]}},
    ).json()
    assert need["attributes"] == {"note": "x", "required_certifications": ["gap"]}
    path = f"/needs/{need['need_id']}"
    replaced = community.client.patch(path, headers=auth, json={"requirements": {"preferred_grade": "一级"}})
    assert replaced.json()["attributes"] == {"note": "x", "preferred_grade": "一级"}
    null = community.client.patch(path, headers=auth, json={"requirements": None})
    assert null.status_code == 422 and null.json()["errors"][0]["field"] == "requirements"
    clash = {"attributes": {"required_grade": "一级"}, "requirements": {"required_grade": "特级"}}
    refused = community.client.post("/needs", headers=auth, json=NEED | clash)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "requirements"

    produce = {"category": "produce.fruit.kiwifruit", "title": "翠香", "quantity": 5, "unit": "t"}
    qualities = {"certifications": ["organic"], "standards": ["GB/T 40743"], "price_per_unit": "8.5"}
    offer = community.client.post("/offers", headers=auth, json=produce | {"qualities": qualities})
    assert offer.status_code == 201 and offer.json()["attributes"] == qualities
    bad = community.client.post("/offers", headers=auth, json=produce | {"qualities": {"price_per_unit": -1}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "qualities.price_per_unit"

    lot = {
        "product_category": "produce.fruit.kiwifruit",
        "variety": "翠香",
        "quantity": 5,
        "unit": "t",
        "certifications": ["green-food"],
        "standards": ["GB/T 40743"],
        "packaging": "5kg-box",
        "price_per_unit": 7.5,
    }
    created = community.client.post("/lots", headers=auth, json=lot).json()
    assert (created["standards"], created["packaging"], created["price_per_unit"]) == (
        ["GB/T 40743"],
        "5kg-box",
        "7.5",
    )
    assert created["offer"]["attributes"] | {"grade": ""} == {
        "variety": "翠香",
        "grade": "",
        "certifications": ["green-food"],
        "standards": ["GB/T 40743"],
        "packaging": "5kg-box",
        "price_per_unit": "7.5",
    }


def test_malformed_json_body_is_a_422(community: Service) -> None:
    _, auth = community.register()
    response = community.client.post(
        "/needs", headers=auth | {"Content-Type": "application/json"}, content=b"{not json"
    )
    assert response.status_code == 422 and response.json()["error"] == "validation_failed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (NEED | {"title": "直播\u0000培训"}, "title"),
        (NEED | {"description": "\u001b[2J hidden"}, "description"),
        (NEED | {"title": "\ud800"}, "title"),
        (NEED | {"attributes": {"grade\u0000": "一级"}}, "attributes.grade\u0000"),
    ],
)
def test_text_no_database_can_store_gets_a_422_naming_the_field_and_nothing_is_written(
    community: Service, body: dict[str, Any], field: str
) -> None:
    # PostgreSQL cannot store NUL: it used to fail the transaction as "database unavailable" (503)
    _, auth = community.register()
    before = community.outbox_types()
    raw = json.dumps(body).encode()  # ASCII, escapes kept: "\\u0000", "\\ud800"
    response = community.client.post(
        "/needs", headers=auth | {"Content-Type": "application/json"}, content=raw
    )
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "validation_failed" and error["errors"][0]["field"] == field
    assert "U+" in error["errors"][0]["problem"]
    assert community.outbox_types() == before
    assert community.client.get("/needs", headers=auth).json() == []
    listing = community.client.get("/needs", headers=auth, params={"status": "open\u0000"})
    assert listing.status_code == 422 and listing.json()["errors"][0]["field"] == "status"
    path = community.client.get("/needs/n%00", headers=auth)
    assert path.status_code == 422 and path.json()["errors"][0]["field"] == "path"
    fine = community.client.post("/needs", headers=auth, json=NEED | {"description": "第一行\n第二行\t完"})
    assert fine.status_code == 201, fine.text


ENTITIES: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "government": (
        "/programmes",
        {
            "name": "2026年电商进农村补贴",
            "programme_kind": "subsidy",
            "budget": 500000,
            "eligibility": {
                "organisation_kinds": ["community"],
                "regions": ["610124"],
                "required_certifications": [],
                "max_amount": 20000,
            },
        },
        "sifang.programme.opened.v1",
        "offer",
    ),
    "enterprise": (
        "/procurements",
        {
            "title": "收购翠香猕猴桃",
            "product_category": "produce.fruit.kiwifruit",
            "grade": "一级",
            "quantity": 3,
            "unit": "t",
            "max_price_per_unit": 8000,
            "window_start": "2026-09-01",
            "window_end": "2026-10-31",
        },
        "sifang.procurement.requested.v1",
        "need",
    ),
    "ngo": (
        "/courses",
        {
            "title": "直播带货初级班",
            "tier": "basic",
            "topic": "training.livestream",
            "seats": 30,
            "start_date": "2026-12-01",
            "end_date": "2026-12-03",
            "venue": "县电商服务中心",
            "service_area": ["610124"],
        },
        "sifang.course.offered.v1",
        "offer",
    ),
    "community": (
        "/lots",
        {
            "product_category": "produce.fruit.kiwifruit",
            "variety": "翠香",
            "grade": "一级",
            "quantity": 5,
            "unit": "t",
            "certifications": ["green-food"],
            "window_start": "2026-09-01",
            "window_end": "2026-10-15",
        },
        "sifang.lot.offered.v1",
        "offer",
    ),
}


@pytest.mark.parametrize("name", STAKEHOLDER_SERVICES)
def test_each_service_entity_publishes_its_need_or_offer(
    open_service: Callable[[str], Service], name: str
) -> None:
    service = open_service(name)
    path, body, entity_event, side = ENTITIES[name]
    _, auth = service.register(f"{name} 测试机构")
    created = service.client.post(path, headers=auth, json=body)
    assert created.status_code == 201, created.text
    entity = created.json()
    listing = entity[side]
    assert listing["status"] == "open" and listing["organisation_id"] == entity["organisation_id"]
    assert service.client.get(f"{path}/{entity['id']}", headers=auth).json() == entity
    assert [e["id"] for e in service.client.get(path, headers=auth).json()] == [entity["id"]]
    assert service.client.get(f"/{side}s/{listing[f'{side}_id']}", headers=auth).status_code == 200
    assert service.outbox_types()[1:] == [f"sifang.{side}.published.v1", entity_event]
    for subject, payload in service.outbox():
        check_event(subject, payload)
    _, stranger = service.register("别的机构")
    assert service.client.get(f"{path}/{entity['id']}", headers=stranger).status_code == 404
    invalid = service.client.post(path, headers=auth, json={})
    assert invalid.status_code == 422 and invalid.json()["errors"]


def test_healthz_reports_database_and_nats(community: Service) -> None:
    body = community.client.get("/healthz").json()
    assert body["database"] == "ok" and body["service"] == "community"


def _without_database(nats_server: LocalNats) -> Any:
    """The community service's app, its database unreachable."""
    module = import_module("services.community.app")
    settings = module.SETTINGS(
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=1",
        nats_url=nats_server.url,
        admin_token="test-admin-token-0123456789",
    )
    return module.create_app(settings)


def test_an_unreachable_database_gets_a_503_and_the_service_stays_up(nats_server: LocalNats) -> None:
    with TestClient(_without_database(nats_server)) as client:
        response = client.post(
            "/organisations", headers=ADMIN, json={"name": "甲村", "region": "610124104201"}
        )
        assert response.status_code == 503
        assert response.json()["error"] == "unavailable"
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["database"].startswith("unavailable")
        # The admin token is checked without the database.
        assert client.get("/categories", headers=ADMIN).status_code == 200


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_need_posted_while_its_database_is_down_gets_a_503_and_leaves_nothing(community: Service) -> None:
    """A known publisher's need reaches the write (its key is checked without the database);
    the database then refuses every connection: the need is answered 503 with Retry-After, the
    service stays up, and once the database is back the next need lands and the refused one
    left no row and no event."""
    _, auth = community.register()
    assert community.client.post("/needs", headers=auth, json=NEED | {"title": "断线之前"}).status_code == 201
    database = make_url(community.url).database
    server = create_engine(make_url(community.url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:  # down for this service: no new connection, none left open
        connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :database"),
            {"database": database},
        )
    try:
        down = community.client.post("/needs", headers=auth, json=NEED | {"title": "断线之时"})
        health = community.client.get("/healthz")
    finally:
        with server.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        server.dispose()
    assert down.status_code == 503, down.text
    assert down.headers["Retry-After"] == "5"
    assert down.json()["error"] == "unavailable" and down.json()["message"]
    assert health.status_code == 503 and health.json()["database"].startswith("unavailable")
    back = community.client.post("/needs", headers=auth, json=NEED | {"title": "恢复之后"})
    assert back.status_code == 201, back.text
    titles = sorted(need["title"] for need in community.client.get("/needs", headers=auth).json())
    assert titles == sorted(["断线之前", "恢复之后"])
    published = [json.loads(p)["data"]["title"] for _, p in community.outbox() if b"need.published" in p]
    assert sorted(published) == titles


def test_a_running_service_keeps_its_startup_heap_out_of_full_collections(nats_server: LocalNats) -> None:
    import gc

    with TestClient(_without_database(nats_server)):
        assert gc.get_freeze_count() > 0  # modules, models, schemas: frozen at start
    assert gc.get_freeze_count() == 0  # and collectable again once it stopped


def test_a_late_copy_of_an_older_match_state_never_replaces_a_newer_one(community: Service) -> None:
    org, auth = community.register()
    apply_coordinator_events(
        community, match_event(org["id"], 2, "withdrawn"), match_event(org["id"], 1, "proposed")
    )
    seen = community.client.get("/matches/m-1", headers=auth)
    assert seen.status_code == 200 and seen.json()["status"] == "withdrawn"


def test_an_acceptance_overtaken_by_an_amendment_is_shown_as_outdated_and_may_be_given_again(
    community: Service,
) -> None:
    org, auth = community.register()
    apply_coordinator_events(community, match_event(org["id"], 1, "proposed", quantity=20))
    accepted = community.client.post("/matches/m-1/accept", headers=auth)
    assert accepted.status_code == 200 and accepted.json()["my_answer_outdated"] is False
    # the coordinator amended the proposal to 10 before this acceptance of 20 reached it
    apply_coordinator_events(community, match_event(org["id"], 2, "amended", quantity=10))
    seen = community.client.get("/matches/m-1", headers=auth).json()
    assert seen["quantity"] == "10" and seen["version"] == 2
    assert seen["my_answer"] == "accepted" and seen["my_answer_outdated"] is True
    again = community.client.post("/matches/m-1/accept", headers=auth)
    assert again.status_code == 200 and again.json()["my_answer_outdated"] is False
    answers = [
        json.loads(payload)["data"]
        for subject, payload in community.outbox()
        if subject.endswith(".accepted")
    ]
    assert [a["version"] for a in answers] == [1, 2]  # each names the version it accepted
    third = community.client.post("/matches/m-1/accept", headers=auth)
    assert third.status_code == 409 and third.json()["errors"][0]["field"] == "match_id"


def test_an_acceptance_the_coordinator_counted_is_not_outdated_by_a_later_version(community: Service) -> None:
    org, auth = community.register()
    apply_coordinator_events(community, match_event(org["id"], 1, "proposed"))
    assert community.client.post("/matches/m-1/accept", headers=auth).status_code == 200
    apply_coordinator_events(
        community, match_event(org["id"], 2, "confirmed", accepted_by=(org["id"], "someone-else"))
    )
    seen = community.client.get("/matches/m-1", headers=auth).json()
    assert seen["status"] == "confirmed" and seen["my_answer_outdated"] is False


def test_answers_go_to_the_county_of_the_match_or_meeting_not_the_organisations_own(
    community: Service,
) -> None:
    """With coordinators partitioned by county, a village registered in 户县 (610125) answering
    a match made in 周至县 (610124), or replying to a meeting held there, must reach 周至县's
    coordinator: the answer goes to that county's subjects."""
    from datetime import UTC, datetime

    from shared.events.catalogue import CATALOGUE
    from shared.events.data import MeetingData

    org, auth = community.register("甘亭镇东村村委会", "610125100201")
    meeting = MeetingData(
        meeting_id="meeting-1",
        series_id="series-1",
        series_name="周至县电商联席会议",
        meeting_kind="joint",
        region="610124",
        title="第三次联席会议",
        starts_at=datetime(2026, 12, 20, 9, tzinfo=UTC),
        duration_minutes=90,
        location="县政府三楼会议室",
        invited=[org["id"]],
        status="scheduled",
    )
    subject, event = CATALOGUE["sifang.meeting.scheduled.v1"].build(
        kind="coordinator", organisation_id="coordinator", region="610124", data=meeting
    )
    apply_coordinator_events(community, match_event(org["id"], 1, "proposed"), (subject, event.to_json()))
    assert community.client.post("/matches/m-1/accept", headers=auth).status_code == 200
    reply = community.client.post("/meetings/meeting-1/reply", headers=auth, json={"reply": "attend"})
    assert reply.status_code == 202, reply.text
    body = {"title": "猕猴桃冷链", "series_id": "series-1"}
    assert community.client.post("/agenda-items", headers=auth, json=body).status_code == 201
    own = community.client.post("/agenda-items", headers=auth, json={"title": "村道硬化"})  # no series
    assert own.status_code == 201
    subjects = [subject for subject, _ in community.outbox()][1:]  # after the registration
    assert subjects == [
        "sifang.community.610124.match.accepted",
        "sifang.community.610124.invitation.answered",
        "sifang.community.610124.agenda_item.proposed",
        "sifang.community.610125.agenda_item.proposed",  # the organisation's own county's meetings
    ]


def test_a_listing_moves_within_its_county_but_not_to_another(community: Service) -> None:
    """A need's events stay on its county's subjects (one coordinator partition owns them): a
    change to a village of another county would strand it, so it is refused, naming the field."""
    _, auth = community.register()
    need_id = community.client.post("/needs", headers=auth, json=NEED).json()["need_id"]
    nearby = community.client.patch(f"/needs/{need_id}", headers=auth, json={"region": "610124105201"})
    assert nearby.status_code == 200 and nearby.json()["region"] == "610124105201"
    away = community.client.patch(f"/needs/{need_id}", headers=auth, json={"region": "610125100201"})
    assert away.status_code == 422
    error = away.json()["errors"][0]
    assert error["field"] == "region" and "610124" in error["problem"] and "withdraw" in error["problem"]
    subjects = [subject for subject, _ in community.outbox()]
    assert all(".610124." in subject for subject in subjects[1:])  # every event of it in its county


def test_a_key_is_looked_up_once_per_database_and_an_unknown_one_never_passes(
    community: Service, tmp_path: Path
) -> None:
    """An organisation and its key never change once registered: after the first request, a
    write does not read the organisation again. The cache is per database."""
    from sqlalchemy import event

    from services.migrate import upgrade
    from shared.db import make_engine
    from shared.errors import Unauthorized
    from shared.stakeholder.service import authenticate

    org, auth = community.register()
    key = auth["Authorization"].removeprefix("Bearer ")
    engine = make_engine(community.url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with Session(engine) as session:
        assert authenticate(session, key).id == org["id"]
        assert authenticate(session, key).id == org["id"]
    assert len([s for s in statements if "FROM organisations" in s]) == 1
    with Session(engine) as session, pytest.raises(Unauthorized):
        authenticate(session, "not-a-key-of-anyone-0123456789")
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade("community", other_url)
    other = make_engine(other_url)
    with Session(other) as session, pytest.raises(Unauthorized):  # known in one database only
        authenticate(session, key)
    engine.dispose()
    other.dispose()
