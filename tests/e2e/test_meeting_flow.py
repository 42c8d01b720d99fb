"""A joint meeting end to end over HTTP: invitations, agenda, decisions, minutes, follow-up."""

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from icalendar import Calendar

from sifang.platform import Platform
from tests.e2e.test_matching_scenarios import COUNTY, Org, eventually


class Coordinator:
    def __init__(self, platform: Platform) -> None:
        self.base = platform.url("coordinator")
        self.headers = {"Authorization": f"Bearer {platform.token}", "X-Coordinator": quote("张主任")}

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = httpx.request(method, self.base + path, headers=self.headers, **kwargs)
        assert response.status_code == expect, response.text
        return response.json() if "json" in response.headers.get("content-type", "") else response.text


def test_a_joint_meeting_from_invitation_to_locked_minutes_and_done_actions(platform: Platform) -> None:
    bureau = Org(platform, "government", "周至县商务局", COUNTY)
    firm = Org(platform, "enterprise", "秦农电商有限公司", COUNTY)
    station = Org(platform, "ngo", "县社会工作服务站", COUNTY)
    east = Org(platform, "community", "东村合作社", "610124104201")
    parties = [bureau, firm, station, east]
    coordinator = Coordinator(platform)

    east.post("/disputes", {"title": "猕猴桃收购价格纠纷", "other_parties": [firm.id]})
    firm.post("/agenda-items", {"title": "共建县域公用品牌", "description": "统一包装与标准"})
    eventually(
        lambda: (
            len(coordinator.call("GET", "/events", params={"type": "sifang.organisation.registered.v1"})) == 4
        )
    )
    # the dispute goes to mediation first; the station mediates, fails, and it comes to the meeting
    (dispute,) = eventually(lambda: coordinator.call("GET", "/disputes"))
    coordinator.call(
        "POST", f"/disputes/{dispute['dispute_id']}/mediator", json={"mediator_organisation_id": station.id}
    )
    eventually(
        lambda: station.matches_or_meetings(f"/disputes/{dispute['dispute_id']}").get("my_part") == "mediator"
    )
    station.post(f"/disputes/{dispute['dispute_id']}/fail", {"note": "分歧较大，提交联席会议"}, expect=202)
    eventually(lambda: coordinator.call("GET", f"/disputes/{dispute['dispute_id']}")["status"] == "escalated")

    series = coordinator.call(
        "POST",
        "/series",
        201,
        json={
            "name": "周至县电商联席会议",
            "kind": "joint",
            "region": COUNTY,
            "invited": [o.id for o in parties],
        },
    )
    starts = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    meeting = coordinator.call(
        "POST",
        f"/series/{series['id']}/meetings",
        201,
        json={"title": "十二月联席会议", "starts_at": starts.isoformat(), "location": "县电商服务中心"},
    )
    meeting_id = meeting["id"]
    bad = httpx.post(
        f"{coordinator.base}/series/{series['id']}/meetings",
        headers=coordinator.headers,
        json={"title": "x", "starts_at": "2020-01-01T09:00:00+08:00"},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "starts_at"

    for org in parties:  # the invitation reaches each organisation through its own service
        eventually(
            lambda o=org: [m for m in o.matches_or_meetings("/meetings") if m["meeting_id"] == meeting_id]
        )
        org.post(f"/meetings/{meeting_id}/reply", {"reply": "attend"}, expect=202)
    eventually(
        lambda: all(
            i["reply"] == "attend" for i in coordinator.call("GET", f"/meetings/{meeting_id}")["invitations"]
        )
    )

    agenda = eventually(
        lambda: (
            (a := coordinator.call("POST", f"/meetings/{meeting_id}/agenda/compile", 201))
            and len(a["items"]) == 2
            and a
        )
    )
    assert [i["source"] for i in agenda["items"]] == ["dispute", "proposal"]
    assert agenda["items"][0]["reason_text"] == {
        "zh": "社区提出的纠纷",
        "en": "a dispute raised by a community",
    }
    edited = coordinator.call(
        "PUT",
        f"/meetings/{meeting_id}/agenda",
        json={
            "items": [{"key": agenda["items"][1]["key"]}, {"key": agenda["items"][0]["key"], "minutes": 30}],
            "note": "品牌议题先议",
        },
    )
    assert edited["made_by"] == "张主任" and edited["items"][1]["start_minute"] == 15
    coordinator.call("POST", f"/meetings/{meeting_id}/agenda/publish")
    published = eventually(lambda: east.matches_or_meetings(f"/meetings/{meeting_id}").get("agenda"))
    seen = {i["reason_code"]: i for i in published["items"]}  # the village's own service renders them
    assert seen["agenda_proposal"]["reason_text"]["zh"] == "组织提议的议题"
    assert seen["agenda_dispute"]["priority_rule_text"] == {"zh": "纠纷：90", "en": "90 for a dispute"}
    assert len(coordinator.call("GET", f"/meetings/{meeting_id}/agenda/versions")) >= 2

    for org in parties:
        quorum = coordinator.call(
            "POST",
            f"/meetings/{meeting_id}/attendance",
            json={"organisation_id": org.id, "present": True, "representative": "代表"},
        )
    assert quorum["met"]
    dispute_key = agenda["items"][0]["key"]
    due = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    decision = coordinator.call(
        "POST",
        f"/meetings/{meeting_id}/decisions",
        201,
        json={
            "item_key": dispute_key,
            "outcome": "approved",
            "minutes": "按保护价收购",
            "positions": [
                {"organisation_id": east.id, "position": "agree"},
                {"organisation_id": firm.id, "position": "object", "reason": "需核算成本"},
                {"organisation_id": bureau.id, "position": "agree"},
                {"organisation_id": station.id, "position": "abstain"},
            ],
            "actions": [{"owner_organisation_id": firm.id, "title": "按保护价结算货款", "due_date": due}],
        },
    )
    action_id = decision["actions"][0]["action_id"]
    assert (
        coordinator.call("GET", f"/disputes/{dispute['dispute_id']}")["status"] == "decided"
    )  # mediation ends
    assert decision["recorded_by"] == "张主任"
    eventually(lambda: [a for a in firm.matches_or_meetings("/actions") if a["action_id"] == action_id])

    record = coordinator.call(
        "POST", f"/meetings/{meeting_id}/close", json={"minutes": "四方一致同意按期复查。"}
    )
    again = httpx.post(
        f"{coordinator.base}/meetings/{meeting_id}/decisions",
        headers=coordinator.headers,
        json={"item_key": agenda["items"][1]["key"], "outcome": "deferred"},
    )
    assert again.status_code == 409
    for org in parties:
        eventually(lambda o=org: o.matches_or_meetings(f"/meetings/{meeting_id}").get("record"))
        wrong = httpx.post(
            f"{org.base}/meetings/{meeting_id}/minutes/approve",
            headers=org.auth,
            json={"record_hash": "0" * 64},
        )
        assert wrong.status_code == 409
        org.post(
            f"/meetings/{meeting_id}/minutes/approve", {"record_hash": record["record_hash"]}, expect=202
        )
    locked = eventually(
        lambda: (r := coordinator.call("GET", f"/meetings/{meeting_id}/record"))["records"][0]["locked"] and r
    )
    assert locked["chain"]["valid"]
    coordinator.call(
        "POST",
        f"/meetings/{meeting_id}/amendments",
        201,
        json={"text": "社工站代表为李娜", "reason": "出席名单笔误"},
    )
    chain = coordinator.call("GET", f"/meetings/{meeting_id}/record")["chain"]
    assert chain == {"valid": True, "records": 2, "broken_at": None, "head": chain["head"]}

    markdown = coordinator.call("GET", f"/meetings/{meeting_id}/minutes.md", params={"lang": "zh"})
    assert (
        "会议纪要" in markdown
        and "秦农电商有限公司: 反对: 需核算成本" in markdown
        and "社工站代表为李娜" in markdown
    )
    page = coordinator.call("GET", f"/meetings/{meeting_id}/minutes.html", params={"lang": "en"})
    assert "<h2>Decisions</h2>" in page and "approved" in page and record["record_hash"] in page
    rows = list(csv.reader(io.StringIO(coordinator.call("GET", "/actions.csv", params={"lang": "en"}))))
    assert rows[0][:4] == ["Item", "Owner", "Due", "Status"] and rows[1][:3] == [
        "按保护价结算货款",
        "秦农电商有限公司",
        due,
    ]
    ics = httpx.get(f"{coordinator.base}/series/{series['id']}/calendar.ics", headers=coordinator.headers)
    event = next(c for c in Calendar.from_ical(ics.content).walk("VEVENT"))
    assert event["uid"] == f"{meeting_id}@sifang"
    assert event.decoded("dtstart") == starts and "共建县域公用品牌" in str(event["description"])

    firm.post(
        f"/actions/{action_id}/progress",
        {"status": "done", "note": "已结算", "evidence_url": "https://example.invalid/r.pdf"},
        expect=202,
    )
    done = eventually(lambda: [a for a in coordinator.call("GET", "/actions") if a["status"] == "done"])
    assert done[0]["progress"][0]["note"] == "已结算"
    history = coordinator.call("GET", f"/series/{series['id']}")["history"]
    assert history[0]["decisions"][0]["actions"][0]["status"] == "done"
    assert east.post(f"/actions/{action_id}/progress", {"status": "done"}, expect=404)
