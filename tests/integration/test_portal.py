"""The portal at a stakeholder service, against the real app (real nats-server, SQLite and
PostgreSQL): accounts and who may create them, sign-in under the throttle, sessions, CSRF and
headers, forms that take what the API takes and publish the same events, errors that name the
field in the reader's language, evidence files, hostile text."""

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from shared.messaging.models import OutboxMessage
from shared.stakeholder.models import EvidenceFile, PortalLoginAttempt, PortalSession
from tests.integration.stakeholders import ADMIN, Service, apply_coordinator_events, match_event

PASSWORD = "a long enough password"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


class Portal:
    """A browser's view of one service's portal: its own cookie jar."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.client = TestClient(service.client.app, follow_redirects=False)

    def sign_in(self, username: str, password: str = PASSWORD) -> Any:
        page = self.client.get("/portal/sign-in")
        return self.client.post(
            "/portal/sign-in",
            data={"csrf": _csrf(page.text), "username": username, "password": password, "next": "/portal"},
        )

    def csrf(self) -> str:
        return _csrf(self.client.get("/portal").text)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> Any:
        return self.client.post(path, data={"csrf": self.csrf(), **data}, **kwargs)


def _account(service: Service, org_id: str, username: str, role: str = "admin", **auth: str) -> Any:
    return service.client.post(
        f"/organisations/{org_id}/portal-accounts",
        headers=auth or ADMIN,
        json={"username": username, "display_name": "张秀兰", "password": PASSWORD, "role": role},
    )


@pytest.fixture
def village(open_service: Callable[[str], Service]) -> tuple[Service, dict[str, Any], dict[str, str]]:
    community = open_service("community")
    org, key = community.register("马召镇西村村民委员会", "610124104202")
    assert _account(community, org["id"], "xicun").status_code == 201
    return community, org, key


def test_accounts_are_made_by_an_operator_or_the_organisations_own_key_and_no_one_else(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, org, key = village
    _, other_key = community.register("楼观镇南村果业合作社", "610124105201")
    assert _account(community, org["id"], "xicun_member", "member", **key).status_code == 201
    forged = _account(community, org["id"], "intruder", **other_key)
    assert forged.status_code == 403 and forged.json()["errors"][0]["field"] == "id"
    again = _account(community, org["id"], "xicun")
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "username"
    short = community.client.post(
        f"/organisations/{org['id']}/portal-accounts",
        headers=ADMIN,
        json={"username": "ok_name", "display_name": "x", "password": "short"},
    )
    assert short.status_code == 422 and "password" in short.text
    assert _account(community, "no-such-org", "ghost").status_code == 404


def test_signing_in_sets_a_session_cookie_and_the_pages_carry_the_security_headers(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, _, _ = village
    portal = Portal(community)
    assert portal.client.get("/portal/needs").headers["location"] == "/portal/sign-in?next=/portal/needs"
    signed = portal.sign_in("xicun")
    assert signed.status_code == 303 and signed.headers["location"] == "/portal"
    cookie = signed.headers["set-cookie"]
    assert "sifang_portal=" in cookie and "HttpOnly" in cookie and "Path=/portal" in cookie
    assert "SameSite=Lax" in cookie or "samesite=lax" in cookie.lower()
    home = portal.client.get("/portal")
    assert home.status_code == 200 and "马召镇西村村民委员会" in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]
    assert home.headers["x-frame-options"] == "DENY" and home.headers["cache-control"] == "no-store"
    # the cookie holds a random id; the table only its SHA-256
    session_id = portal.client.cookies["sifang_portal"]
    with Session(create_engine(community.url)) as session:
        hashes = set(session.scalars(select(PortalSession.id_hash)))
    assert hashlib.sha256(session_id.encode()).hexdigest() in hashes and session_id not in hashes
    # signing out revokes it: the copied cookie signs nobody in
    copied = TestClient(community.client.app, follow_redirects=False, cookies={"sifang_portal": session_id})
    assert portal.post("/portal/sign-out", {}).status_code == 303
    assert copied.get("/portal").status_code == 303


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_account(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, _, _ = village
    portal = Portal(community)
    for _ in range(5):
        refused = portal.sign_in("xicun", "not the password")
        assert refused.headers["location"] == "/portal/sign-in"
    assert "用户名或密码不对" in portal.client.get("/portal/sign-in").text
    locked = portal.sign_in("xicun")  # now even the right password waits
    assert locked.headers["location"] == "/portal/sign-in"
    assert "尝试次数过多" in portal.client.get("/portal/sign-in").text
    with Session(create_engine(community.url)) as session:
        assert len(list(session.scalars(select(PortalLoginAttempt)))) == 5


def test_a_post_without_the_sessions_csrf_token_is_refused(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, _, _ = village
    portal = Portal(community)
    portal.sign_in("xicun")
    forged = portal.client.post(
        "/portal/forms/need",
        data={
            "csrf": "forged",
            "category": "training.livestream",
            "title": "x",
            "quantity": "1",
            "unit": "人",
        },
    )
    assert forged.status_code == 400 and forged.json()["errors"][0]["field"] == "csrf"
    assert community.outbox_types() == ["sifang.organisation.registered.v1"]  # nothing was published


def _outbox_data(service: Service, event_type: str) -> list[dict[str, Any]]:
    with create_engine(service.url).connect() as connection:
        payloads = connection.execute(select(OutboxMessage.payload).order_by(OutboxMessage.id))
        events = [json.loads(payload) for (payload,) in payloads]
    return [e["data"] for e in events if e["type"] == event_type]


def test_a_need_posted_through_the_form_publishes_what_the_api_would(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, _, key = village
    portal = Portal(community)
    portal.sign_in("xicun")
    posted = portal.post(
        "/portal/forms/need",
        {
            "category": "training.livestream",
            "title": "村民直播带货培训",
            "quantity": "30",
            "unit": "人",
            "window_end": "2027-03-31",
            "requirements.required_certifications": "organic，green-food",
        },
    )
    assert posted.status_code == 303 and posted.headers["location"] == "/portal/needs"
    by_api = community.client.post(
        "/needs",
        headers=key,
        json={
            "category": "training.livestream",
            "title": "村民直播带货培训",
            "quantity": 30,
            "unit": "人",
            "window_end": "2027-03-31",
            "requirements": {"required_certifications": ["organic", "green-food"]},
        },
    )
    assert by_api.status_code == 201
    form_event, api_event = _outbox_data(community, "sifang.need.published.v1")
    ignore = {"need_id", "published_at", "created_at", "updated_at"}
    assert {k: v for k, v in form_event.items() if k not in ignore} == {
        k: v for k, v in api_event.items() if k not in ignore
    }
    assert form_event["attributes"]["required_certifications"] == ["organic", "green-food"]
    page = portal.client.get("/portal/needs")
    assert "村民直播带货培训" in page.text and "30 人" in page.text

    # edited through the form: an updated event with the new quantity
    need_id = re.search(r"/portal/needs/([^/]+)/edit", page.text)
    assert need_id
    edit = portal.client.get(f"/portal/needs/{need_id.group(1)}/edit")
    assert 'value="30"' in edit.text
    changed = portal.post(
        f"/portal/needs/{need_id.group(1)}/edit",
        {"category": "training.livestream", "title": "村民直播带货培训", "quantity": "35", "unit": "人"},
    )
    assert changed.status_code == 303
    (updated,) = _outbox_data(community, "sifang.need.updated.v1")
    assert updated["quantity"] == "35" and updated["version"] == 2


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh", ["数量: 必须是数字", "单位: 不认识这个单位", "标题: 必须填写"]),
        ("en", ["Quantity: must be a number", "Unit: unknown unit", "Title: is required"]),
    ],
)
def test_form_errors_name_each_field_in_the_readers_language_and_keep_what_was_typed(
    village: tuple[Service, dict[str, Any], dict[str, str]], lang: str, expected: list[str]
) -> None:
    community, _, _ = village
    portal = Portal(community)
    portal.sign_in("xicun")
    portal.client.get(f"/portal?lang={lang}")
    page = portal.post(
        "/portal/forms/need",
        {
            "category": "training.livestream",
            "quantity": "thirty",
            "unit": "bushels of hope",
            "description": "保留",
        },
    )
    assert page.status_code == 200
    errors = re.findall(r'<p class="error" id="error-[^"]+">([^<]+)</p>', page.text)
    for message in expected:
        assert any(e.startswith(message) for e in errors), (message, errors)
    assert ">保留</textarea>" in page.text  # what was typed stays
    assert community.outbox_types() == ["sifang.organisation.registered.v1"]


def test_a_handlers_refusal_comes_back_on_the_form(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, _, _ = village
    portal = Portal(community)
    portal.sign_in("xicun")
    # a village may not offer training (its kind's vocabulary): the same rule as the API's
    page = portal.post(
        "/portal/forms/offer",
        {"category": "training.livestream", "title": "x", "quantity": "1", "unit": "人"},
    )
    assert page.status_code == 200 and 'id="form-errors"' in page.text
    assert "类别" in page.text


def test_hostile_text_is_shown_as_text_and_control_characters_are_refused(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, _, _ = village
    portal = Portal(community)
    portal.sign_in("xicun")
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>"'
    assert (
        portal.post(
            "/portal/forms/need",
            {"category": "training.livestream", "title": hostile, "quantity": "1", "unit": "人"},
        ).status_code
        == 303
    )
    page = portal.client.get("/portal/needs").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    nul = portal.post(
        "/portal/forms/need",
        {"category": "training.livestream", "title": "a\x00b", "quantity": "1", "unit": "人"},
    )
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "title"


def test_evidence_is_kept_once_by_its_hash_and_served_as_a_file_never_as_a_page(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, _, key = village
    stored = community.client.post(
        "/evidence", headers=key, files={"evidence": ("照片.png", PNG, "image/png")}
    )
    assert stored.status_code == 201, stored.text
    digest = hashlib.sha256(PNG).hexdigest()
    assert stored.json() == {
        "sha256": digest,
        "size": len(PNG),
        "content_type": "image/png",
        "url": f"/evidence/{digest}",
    }
    again = community.client.post(
        "/evidence", headers=key, files={"evidence": ("again.png", PNG, "image/png")}
    )
    assert again.status_code == 201
    with Session(create_engine(community.url)) as session:
        assert len(list(session.scalars(select(EvidenceFile.sha256)))) == 1
    served = community.client.get(f"/evidence/{digest}")
    assert served.content == PNG and served.headers["content-type"] == "image/png"
    assert (
        served.headers["x-content-type-options"] == "nosniff"
        and "sandbox" in served.headers["content-security-policy"]
    )
    # HTML calling itself a PNG is refused: what a file is, is read from its first bytes
    page = community.client.post(
        "/evidence",
        headers=key,
        files={"evidence": ("x.png", b"<html><script>alert(1)</script>", "image/png")},
    )
    assert page.status_code == 422 and page.json()["errors"][0]["field"] == "evidence"
    huge = community.client.post(
        "/evidence", headers=key, files={"evidence": ("big.png", PNG + bytes(5 * 1024 * 1024), "image/png")}
    )
    assert huge.status_code == 422 and huge.json()["errors"][0]["field"] == "evidence"
    assert (
        community.client.post("/evidence", files={"evidence": ("x.png", PNG, "image/png")}).status_code == 401
    )
    assert community.client.get("/evidence/" + "0" * 64).status_code == 404


def test_an_admin_adds_and_deactivates_people_and_a_member_may_not(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, _, _ = village
    admin = Portal(community)
    admin.sign_in("xicun")
    added = admin.post(
        "/portal/people",
        {"username": "li_wei", "display_name": "李伟", "password": PASSWORD, "role": "member"},
    )
    assert added.status_code == 303
    member = Portal(community)
    assert member.sign_in("li_wei").headers["location"] == "/portal"
    refused = member.post(
        "/portal/people", {"username": "other", "display_name": "x", "password": PASSWORD, "role": "admin"}
    )
    assert refused.status_code == 303
    assert "只有本机构的管理员可以添加账号" in member.client.get("/portal/people").text
    assert admin.post("/portal/people/li_wei/deactivate", {}).status_code == 303
    assert member.client.get("/portal").status_code == 303  # signed out at once
    assert member.sign_in("li_wei").headers["location"] == "/portal/sign-in"


def test_signing_in_never_redirects_off_the_portal(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, _, _ = village
    portal = Portal(community)
    page = portal.client.get("/portal/sign-in?next=//evil.example/x")
    assert 'name="next" value="/portal"' in page.text
    signed = portal.client.post(
        "/portal/sign-in",
        data={
            "csrf": _csrf(page.text),
            "username": "xicun",
            "password": PASSWORD,
            "next": "https://evil.example",
        },
    )
    assert signed.headers["location"] == "/portal"


def test_the_same_photo_uploaded_at_once_by_several_is_kept_once(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    community, _, key = village
    photo = PNG + b"another photo"

    def upload(_: int) -> int:
        answer = community.client.post(
            "/evidence", headers=key, files={"evidence": ("p.png", photo, "image/png")}
        )
        return answer.status_code

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(upload, range(8))) == [201] * 8
    with Session(create_engine(community.url)) as session:
        rows = list(session.scalars(select(EvidenceFile).where(EvidenceFile.size == len(photo))))
    assert len(rows) == 1 and rows[0].sha256 == hashlib.sha256(photo).hexdigest()


def test_a_proposal_is_declined_with_a_reason_and_a_delivery_reported_with_a_document(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, org, _ = village
    explanation = {
        "quantity": "10",
        "unit": "person",
        "need_title": "直播培训",
        "offer_title": "<b>电商学院</b>",
    }
    apply_coordinator_events(community, match_event(org["id"], 1, "proposed", explanation=explanation))
    portal = Portal(community)
    portal.sign_in("xicun")
    page = portal.client.get("/portal/matches").text
    assert "建议由“&lt;b&gt;电商学院&lt;/b&gt;”向“直播培训”提供 10 人" in page  # explained, and inert
    refused = portal.post("/portal/matches/m-1/decline", {"reason": ""})
    assert refused.headers["location"] == "/portal/matches"
    assert "理由: 必须填写" in portal.client.get("/portal/matches").text
    assert portal.post("/portal/matches/m-1/decline", {"reason": "时间冲突"}).status_code == 303
    (declined,) = _outbox_data(community, "sifang.match.rejected.v1")
    assert declined["reason"] == "时间冲突" and declined["organisation_id"] == org["id"]

    apply_coordinator_events(community, match_event(org["id"], 3, "confirmed", accepted_by=(org["id"], "x")))
    too_much = portal.post("/portal/matches/m-1/deliveries", {"quantity": "11"})
    assert too_much.status_code == 303
    assert "数量" in portal.client.get("/portal/matches").text
    pdf = b"%PDF-1.4\n% the signed receipt\n"
    delivered = portal.post(
        "/portal/matches/m-1/deliveries",
        {"quantity": "4", "note": "第一批"},
        files={"evidence": ("签收单.pdf", pdf, "application/pdf")},
    )
    assert delivered.status_code == 303
    (delivery,) = _outbox_data(community, "sifang.match.delivered.v1")
    assert (
        delivery["quantity"] == "4"
        and delivery["evidence_url"] == f"/evidence/{hashlib.sha256(pdf).hexdigest()}"
    )
    served = community.client.get(delivery["evidence_url"])
    assert served.content == pdf and served.headers["content-disposition"].startswith("attachment")


OWN_RECORDS = {
    "community": (
        "lot",
        {"product_category": "produce.fruit.kiwifruit", "variety": "徐香", "quantity": "2", "unit": "t"},
    ),
    "ngo": (
        "course",
        {
            "title": "直播入门",
            "tier": "basic",
            "topic": "training.livestream",
            "seats": "30",
            "start_date": "2027-01-05",
            "end_date": "2027-01-09",
        },
    ),
    "enterprise": (
        "procurement",
        {
            "title": "收购猕猴桃",
            "product_category": "produce.fruit.kiwifruit",
            "quantity": "20",
            "unit": "t",
            "requirements.required_certifications": "green-food",
        },
    ),
    "government": (
        "programme",
        {
            "name": "电商设备补贴",
            "programme_kind": "subsidy",
            "budget": "200000",
            "eligibility.organisation_kinds": "community, ngo",
        },
    ),
}
OWN_EVENTS = {
    "community": "sifang.lot.offered.v1",
    "ngo": "sifang.course.offered.v1",
    "enterprise": "sifang.procurement.requested.v1",
    "government": "sifang.programme.opened.v1",
}


@pytest.mark.parametrize("name", sorted(OWN_RECORDS))
def test_each_services_portal_creates_its_own_record_through_the_apis_handler(
    open_service: Callable[[str], Service], name: str
) -> None:
    service = open_service(name)
    org, _ = service.register("某机构", "610124")
    assert _account(service, org["id"], "someone").status_code == 201
    portal = Portal(service)
    portal.sign_in("someone")
    key, form = OWN_RECORDS[name]
    assert f'href="/portal/forms/{key}"' in portal.client.get("/portal").text
    created = portal.post(f"/portal/forms/{key}", form)
    assert created.status_code == 303, created.text
    assert _outbox_data(service, OWN_EVENTS[name]), service.outbox_types()


def test_an_upload_too_large_is_refused_before_it_is_read_and_multipart_text_is_checked(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, _, key = village
    huge = community.client.post(
        "/evidence",
        headers=key
        | {"content-type": "multipart/form-data; boundary=x", "content-length": str(7 * 1024 * 1024)},
        content=b"x" * 1024,
    )
    assert huge.status_code == 413 and huge.json()["errors"][0]["field"] == "body"
    admin = Portal(community)
    admin.sign_in("xicun")
    nul = admin.client.post(
        "/portal/people",
        data={"csrf": admin.csrf(), "username": "li_wei", "display_name": "李\x00伟", "password": PASSWORD},
        files={"unused": ("x.txt", b"x", "text/plain")},  # as multipart
    )
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "display_name"
    odd = admin.client.post("/portal/sign-out", data={"csrf": "é"})
    assert odd.status_code == 400 and odd.json()["errors"][0]["field"] == "csrf"


def test_a_refused_report_keeps_no_file_and_says_why_in_chinese(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, org, _ = village
    apply_coordinator_events(community, match_event(org["id"], 1, "proposed"))
    portal = Portal(community)
    portal.sign_in("xicun")
    refused = portal.post(
        "/portal/matches/m-1/deliveries", {"quantity": "1"}, files={"evidence": ("p.png", PNG, "image/png")}
    )
    assert refused.status_code == 303
    assert "只有双方都已接受的对接才能报告交付" in portal.client.get("/portal/matches").text
    with Session(create_engine(community.url)) as session:
        assert list(session.scalars(select(EvidenceFile.sha256))) == []


def test_the_edit_form_clears_what_was_emptied(
    village: tuple[Service, dict[str, Any], dict[str, str]],
) -> None:
    community, _, key = village
    need = community.client.post(
        "/needs",
        headers=key,
        json={
            "category": "training.livestream",
            "title": "培训",
            "description": "第一行\n第二行",
            "quantity": 5,
            "unit": "人",
            "window_end": "2027-06-30",
        },
    ).json()
    portal = Portal(community)
    portal.sign_in("xicun")
    page = portal.client.get(f"/portal/needs/{need['need_id']}/edit").text
    assert "第一行\n第二行</textarea>" in page  # a text area keeps its lines
    form = {
        "category": "training.livestream",
        "title": "培训",
        "quantity": "5",
        "unit": "人",
        "region": need["region"],
    }
    cleared = portal.post(
        f"/portal/needs/{need['need_id']}/edit", form | {"description": "", "window_end": ""}
    )
    assert cleared.status_code == 303
    after = community.client.get(f"/needs/{need['need_id']}", headers=key).json()
    assert after["description"] == "" and after["window_end"] is None and after["version"] == 2
    emptied = portal.post(f"/portal/needs/{need['need_id']}/edit", form | {"quantity": ""})
    assert emptied.status_code == 200 and "数量: 不能为空" in emptied.text
