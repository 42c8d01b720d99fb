"""Coordinators partitioned by county, as real processes: each consumes only its counties (and
every organisation's registration), answers reach the partition that made the match, the read
router shows the whole province and names a partition that is down, and moving a county
(``sifang partition move``, the real CLI) replays its history into the new owner, which then
equals a replay of the stream under its new counties."""

import asyncio
import itertools
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.access.models import CoordinatorAccount
from services.coordinator.dashboard.accounts import create_account
from services.coordinator.integrations.models import WebhookSubscription
from services.coordinator.journal.models import EventLogEntry
from services.coordinator.journal.service import PartitionMismatch, claim_partition
from services.coordinator.matches.service import MatchPolicy
from services.coordinator.projection import CoordinatorProjection
from services.coordinator.settings import consumer_filters
from services.migrate import upgrade
from shared.db import make_engine, utcnow
from shared.events.validation import check_event
from shared.messaging.consumer import Delivery
from shared.messaging.models import OutboxMessage
from shared.messaging.nats import STREAM_NAME, NatsLink, subject_matches
from sifang.operations import compare_coordinators, rebuild_coordinator
from sifang.partitions import read_partition
from sifang.platform import LocalNats, free_port
from sifang.province import MISSING_HEADER, Partition, ProvinceSettings, create_app, new_token
from sifang.replay_compare import scratch_database
from tests import factories
from tests.processes import ROOT, ServiceProcess, eventually

TOKEN = "partition-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
NORTH, SOUTH, EAST = "610124", "610125", "610126"  # 周至县, 户县 and 蓝田县 of Xi'an


class Coordinator(ServiceProcess):
    def __init__(
        self,
        name: str,
        regions: list[str],
        url: str,
        nats_url: str,
        log_dir: Path,
        *,
        healthy: bool = True,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.database_url = name, url
        env = (
            _env(nats_url, log_dir)
            | (env or {})
            | {
                "COORDINATOR_DATABASE_URL": url,
                "COORDINATOR_PARTITION": name,
                "COORDINATOR_REGIONS": json.dumps(regions),
            }
        )
        log = log_dir / f"coordinator-{name}.log"
        super().__init__("coordinator", env, log, healthy=healthy, port=port)

    def get(self, path: str, **params: str) -> Any:
        response = httpx.get(self.url + path, params=params, headers=ADMIN, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


class Party:
    """An organisation using its stakeholder service over HTTP."""

    def __init__(self, service: ServiceProcess, name: str, region: str) -> None:
        response = httpx.post(
            service.url + "/organisations", headers=ADMIN, json={"name": name, "region": region}
        )
        assert response.status_code == 201, response.text
        self.id = response.json()["organisation"]["id"]
        self.base = service.url
        self.auth = {"Authorization": f"Bearer {response.json()['api_key']}"}

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.post(self.base + path, json=body, headers=self.auth, timeout=10)
        assert response.status_code in (200, 201, 202), response.text
        return response.json()

    def has(self, path: str) -> bool:
        return httpx.get(self.base + path, headers=self.auth, timeout=10).status_code == 200


def _env(nats_url: str, log_dir: Path) -> dict[str, str]:
    return {"NATS_URL": nats_url, "SIFANG_ADMIN_TOKEN": TOKEN, "SIFANG_VAR_DIR": str(log_dir)}


def _database(tmp_path: Path, name: str, service: str) -> str:
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    upgrade(service, url)
    return url


def _training(title: str, quantity: int, region: str, **extra: Any) -> dict[str, Any]:
    body = {"category": "training.livestream", "title": title, "quantity": quantity, "unit": "人"}
    return body | {"region": region} | extra


def _ids(rows: list[dict[str, Any]]) -> set[str]:
    return {row["id"] for row in rows}


def test_filters_give_a_partition_its_counties_and_every_registration() -> None:
    filters = consumer_filters([NORTH])
    ours = ["sifang.community.610124.need.published", "sifang.ngo.610124.match.accepted"]
    theirs = ["sifang.community.610125.need.published", "sifang.ngo.610125.match.accepted"]
    everywhere = [
        "sifang.enterprise.610125.organisation.registered",
        "sifang.ngo.650102.organisation.registered",
    ]
    for subject in ours + everywhere:
        assert sum(subject_matches(f, subject) for f in filters) == 1, subject  # once: no overlap
    for subject in theirs:
        assert not any(subject_matches(f, subject) for f in filters), subject
    assert any(subject_matches(f, "sifang.coordinator.610124.instruction.issued") for f in filters)
    assert not any(subject_matches(f, "sifang.coordinator.610125.instruction.issued") for f in filters)
    assert consumer_filters([])[:4] == [
        f"sifang.{k}.>" for k in ("government", "enterprise", "ngo", "community")
    ]


def test_a_database_built_for_some_counties_refuses_other_counties(tmp_path: Path) -> None:
    engine = make_engine(_database(tmp_path, "record", "coordinator"))
    with Session(engine) as session:
        claim_partition(session, "coordinator-north", [NORTH])
        session.commit()
        claim_partition(session, "coordinator-north", [NORTH])  # the same: fine
        with pytest.raises(PartitionMismatch, match="sifang partition move"):
            claim_partition(session, "coordinator-north", [NORTH, SOUTH])
        with pytest.raises(PartitionMismatch, match="coordinator-north"):
            claim_partition(session, "coordinator-south", [NORTH])
    engine.dispose()


@pytest.fixture
def stakeholders(nats_server: LocalNats, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    started: dict[str, ServiceProcess] = {}
    try:
        for service in ("community", "ngo"):
            env = _env(nats_server.url, tmp_path) | {
                f"{service.upper()}_DATABASE_URL": _database(tmp_path, service, service)
            }
            started[service] = ServiceProcess(service, env, tmp_path / f"{service}.log")
        yield started
    finally:
        for process in started.values():
            process.stop()


def test_partitions_route_answers_merge_reads_and_move_a_county(
    nats_server: LocalNats,
    stakeholders: dict[str, ServiceProcess],
    service_database: Callable[[str], str],
    tmp_path: Path,
) -> None:
    community, ngo = stakeholders["community"], stakeholders["ngo"]
    urls = {name: service_database("coordinator") for name in ("north", "south")}
    north = Coordinator("north", [NORTH], urls["north"], nats_server.url, tmp_path)
    south = Coordinator("south", [SOUTH, EAST], urls["south"], nats_server.url, tmp_path)
    running = [north, south]
    try:
        # A social-work station registered in 户县 (south) runs a course in 周至县 (north).
        station = Party(ngo, "户县社工站", "610125100000")
        west = Party(community, "马召镇西村村委会", "610124104201")
        huxian = Party(community, "甘亭镇东村村委会", "610125100201")
        # Its course serves both counties: north owns and allocates it, south is told what is left.
        area = {"service_area": [NORTH, SOUTH]}
        course = station.post("/offers", _training("直播带货培训班", 30, "610124104000", **area))
        north_need = west.post("/needs", _training("村民直播带货培训", 20, "610124104201"))
        south_need = huxian.post("/needs", _training("电商培训", 12, "610125100201"))
        cold = {"category": "logistics.cold_chain", "title": "猕猴桃冷链", "quantity": 2, "unit": "t"}
        later_north = west.post("/needs", cold | {"region": "610124104201"})  # after 户县's, in north

        # Each partition has its counties' book, and knows every organisation.
        def books() -> tuple[set[str], set[str]] | None:
            north_needs, south_needs = _ids(north.get("/needs")), _ids(south.get("/needs"))
            return (north_needs, south_needs) if north_needs and south_needs else None

        _north_needs, south_needs = eventually(books, what="both books")
        eventually(lambda: len(_ids(north.get("/needs"))) == 2, what="north's second need")
        assert _ids(north.get("/needs")) == {north_need["need_id"], later_north["need_id"]}
        assert south_needs == {south_need["need_id"]}
        assert _ids(north.get("/offers")) == {course["offer_id"]} and not south.get("/offers")
        for coordinator in running:
            eventually(lambda c=coordinator: len(c.get("/organisations")) == 3, what="registry")

        # The match is made in 周至县; the station's answer goes there, not to its home county.
        match = eventually(lambda: north.get("/matches", status="proposed"), what="a proposal")[0]
        assert match["offer_id"] == course["offer_id"] and match["need_id"] == north_need["need_id"]
        for party in (station, west):
            eventually(lambda p=party: p.has(f"/matches/{match['match_id']}"), what="the match copy")
            party.post(f"/matches/{match['match_id']}/accept")
        eventually(
            lambda: north.get(f"/matches/{match['match_id']}")["status"] == "confirmed", what="confirmed"
        )
        assert not south.get("/events", type="sifang.match.accepted.v1")  # nothing strayed south
        assert not south.get("/dead-letters")
        assert not south.get("/matches")  # the course is never allocated in the south

        # South shows its village the course, held elsewhere, with the 10 seats north has left.
        def told() -> dict[str, Any] | None:
            """The course in south's diagnosis, once south knows what north took of it."""
            diagnosis = south.get(f"/needs/{south_need['need_id']}/diagnosis", lang="en")
            course_there = [c for c in diagnosis["candidates"] if c["listing_id"] == course["offer_id"]]
            return next(
                (
                    c
                    for c in course_there
                    if (c["failed"] or {}).get("params", {}).get("remaining") == "10 人"
                ),
                None,
            )

        candidate = eventually(told, what="the course in south's diagnosis")
        assert candidate["failed"]["code"] == "held_elsewhere"
        assert candidate["failed"]["params"] == {"county": NORTH, "owner": "north", "remaining": "10 人"}
        assert "north" in candidate["failed"]["text"] and candidate["organisation_name"] == "户县社工站"
        _assert_replays_identically(south, [SOUTH, EAST], nats_server.url)  # notices replay too

        # The read router: the whole province, one partition's items, a partition down named.
        token, digest = new_token()
        settings = ProvinceSettings(
            partitions={c.name: Partition(url=c.url, token=TOKEN) for c in running}, tokens=[digest]
        )
        router = _Router(create_app(settings), token)
        everything = [north_need["need_id"], south_need["need_id"], later_north["need_id"]]  # as published
        assert [n["id"] for n in router.get("/needs")] == everything  # merged in time, not by partition
        assert [n["id"] for n in router.get("/needs", limit="1", offset="1")] == [south_need["need_id"]]
        assert [n["id"] for n in router.get("/needs", category="logistics")] == [later_north["need_id"]]
        assert router.get(f"/needs/{south_need['need_id']}/diagnosis", lang="en")["lang"] == "en"
        assert router.get(f"/matches/{match['match_id']}")["status"] == "confirmed"
        assert {p["name"]: p["regions"] for p in router.get("/partitions")} == {
            "north": [NORTH],
            "south": [SOUTH, EAST],
        }
        assert router.status("/needs", auth=False) == 401
        for hostile in ("x%3Fy", "%00", "x%20y", "x.y"):  # an id never reaches another path
            refused_id = router.response(f"/needs/{hostile}/diagnosis")
            assert refused_id.status_code == 422 and refused_id.json()["errors"][0]["field"] == "id"
        assert router.status("/needs/..%2Fpartition/diagnosis") == 404  # no such route of the router
        assert router.status("/needs/01234567-89ab-cdef-0123-456789abcdef") == 404  # in no partition
        bad = router.response("/needs", region="61x")  # the partitions' own 422, passed on
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "region"
        deep = router.response("/needs", offset="20000")
        assert deep.status_code == 422 and deep.json()["errors"][0]["field"] == "offset"
        move = ["partition", "move", SOUTH, "--from-database", urls["south"], "--to-database", urls["north"]]
        refused = _sifang(nats_server.url, tmp_path, *move)
        assert refused.returncode == 1 and "stop the coordinators first" in refused.stdout, refused.stdout
        south.kill()  # SIGKILL
        running.remove(south)
        down = router.response("/needs")
        problem = down.json()["errors"][0]
        assert down.status_code == 503 and down.headers["retry-after"] == "5"
        assert problem["field"] == "partitions" and "south" in problem["problem"]
        partial = router.response("/needs", partial="true")
        assert partial.status_code == 200 and partial.headers[MISSING_HEADER] == "south"
        assert [n["id"] for n in partial.json()] == [north_need["need_id"], later_north["need_id"]]
        assert (
            router.response(f"/needs/{south_need['need_id']}").status_code == 503
        )  # not a 404: south is down
        router.loop.close()

        # A pair the move would cut: 户县's volunteers proposed to a 蓝田县 village, both south's.
        south = Coordinator("south", [SOUTH, EAST], urls["south"], nats_server.url, tmp_path)
        running.append(south)
        lantian = Party(community, "汤峪镇东村村委会", "610126100201")
        volunteers = {"category": "volunteers", "unit": "人"}
        station.post(
            "/offers",
            volunteers
            | {"title": "电商志愿者", "quantity": 8, "region": "610125100000", "service_area": [SOUTH, EAST]},
        )
        lantian_need = lantian.post(
            "/needs", volunteers | {"title": "直播志愿者", "quantity": 5, "region": "610126100201"}
        )
        cut = eventually(lambda: south.get("/matches", status="proposed"), what="the volunteers' proposal")[0]
        for coordinator in (north, south):
            coordinator.stop()
            running.remove(coordinator)
        refused = _sifang(nats_server.url, tmp_path, *move)
        said = refused.stdout.replace("\n", "")
        assert (
            refused.returncode == 1 and "would belong to no partition" in said and cut["match_id"] in said
        ), said
        for url in urls.values():  # nothing changed, nothing left marked
            assert read_partition(url).moving is None
        assert read_partition(urls["south"]).regions == (SOUTH, EAST)
        south = Coordinator("south", [SOUTH, EAST], urls["south"], nats_server.url, tmp_path)
        running.append(south)
        eventually(lambda: lantian.has(f"/matches/{cut['match_id']}"), what="the village's copy")
        lantian.post(f"/matches/{cut['match_id']}/decline", {"reason": "已找到志愿者"})
        eventually(lambda: south.get(f"/matches/{cut['match_id']}")["status"] == "declined", what="declined")
        south.stop()
        running.remove(south)

        # Move 户县 to north: both stopped, the CLI rebuilds both from the stream. It is killed
        # (SIGKILL) halfway, once the source has dropped 户县: nobody owns it then, never two.
        _add_local_state(urls["north"])  # a coordinator's account and a webhook subscription
        command = subprocess.Popen(_command(*move), env=_cli_env(nats_server.url, tmp_path), cwd=ROOT)
        try:
            eventually(lambda: read_partition(urls["south"]).regions == (EAST,), 120, "the source dropped it")
        finally:
            command.kill()
            command.wait()
        assert command.returncode == -signal.SIGKILL
        assert read_partition(urls["north"]).regions == (NORTH,)  # halfway: owned by nobody
        again = _sifang(nats_server.url, tmp_path, *move)
        assert again.returncode == 1 and "--resume" in again.stdout, again.stdout
        moved = _sifang(nats_server.url, tmp_path, *move, "--resume")
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert f'COORDINATOR_REGIONS=\'["{NORTH}", "{SOUTH}"]\'' in moved.stdout, moved.stdout
        # Its own tables stay; the webhook carries on from the first decision made anew (the 10
        # seats below), not from the start of the log nor past what the parties were not told.
        accounts, next_entry = _local_state(urls["north"])
        assert accounts == ["li"]
        assert (
            next_entry.type == "sifang.match.proposed.v1"
            and next_entry.data["need_id"] == south_need["need_id"]
        )
        north = Coordinator("north", [NORTH, SOUTH], urls["north"], nats_server.url, tmp_path)
        south = Coordinator("south", [EAST], urls["south"], nats_server.url, tmp_path)
        running += [north, south]
        moved_in = {north_need["need_id"], later_north["need_id"], south_need["need_id"]}
        assert _ids(north.get("/needs")) == moved_in  # the history came along
        assert north.get(f"/matches/{match['match_id']}")["status"] == "confirmed"  # and what it had stays
        assert _ids(south.get("/needs")) == {lantian_need["need_id"]} and not south.get("/matches")
        # Now one partition holds the course and 户县's village: its 10 seats left are proposed.
        proposed = north.get("/matches", need_id=south_need["need_id"])
        assert [(m["offer_id"], m["quantity"], m["status"]) for m in proposed] == [
            (course["offer_id"], "10", "proposed")
        ]
        eventually(lambda: huxian.has(f"/matches/{proposed[0]['match_id']}"), what="published on start")
        later = huxian.post("/needs", _training("农产品直播", 8, "610125100201"))
        eventually(lambda: later["need_id"] in _ids(north.get("/needs")), what="a new need of 户县 at north")
        assert later["need_id"] not in _ids(south.get("/needs"))

        # North's record is the replay of the stream under its new counties.
        _assert_replays_identically(north, [NORTH, SOUTH], nats_server.url)

        # A coordinator started with counties its database was not built for does not consume.
        south.stop()
        running.remove(south)
        stale = Coordinator("south", [SOUTH, EAST], urls["south"], nats_server.url, tmp_path, healthy=False)
        running.append(stale)
        health = eventually(lambda: _paused(stale.url), what="refused")
        assert "sifang partition move" in health
    finally:
        for coordinator in running:
            coordinator.stop()


def _add_local_state(url: str) -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        create_account(session, "li", "李主任", "a long enough password")
        session.add(
            WebhookSubscription(
                id="subscription-1",
                url="https://reports.example.org/hook",
                secret="s" * 32,
                description="县商务局报表",
                types=[],
                kinds=[],
                regions=[],
                organisations=[],
                active=True,
                created_at=utcnow(),
                enqueued_through=0,
                failing_since=None,
                disabled_at=None,
                disabled_reason="",
            )
        )
        session.commit()
    engine.dispose()


def _local_state(url: str) -> tuple[list[str], EventLogEntry]:
    """The coordinator accounts, and the log entry the webhook subscription sends next."""
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        accounts = list(session.scalars(select(CoordinatorAccount.username)))
        subscription = session.get(WebhookSubscription, "subscription-1")
        assert subscription is not None
        position = subscription.enqueued_through + 1
        entry = session.scalars(select(EventLogEntry).where(EventLogEntry.position == position)).one()
    engine.dispose()
    return accounts, entry


def _assert_replays_identically(coordinator: Coordinator, regions: list[str], nats_url: str) -> None:
    with scratch_database(coordinator.database_url) as scratch:
        applied, failed = rebuild_coordinator(
            scratch, regions=regions, partition=coordinator.name, nats_url=nats_url
        )
        assert failed == 0 and applied > 0
        report = compare_coordinators(coordinator.database_url, scratch)
    assert all(result["identical"] for result in report.values()), report


def _paused(url: str) -> str | None:
    body = httpx.get(url + "/healthz", timeout=5).json()
    for consumer in (body.get("consumers") or {}).values():
        if consumer.get("state") == "paused":
            return str(consumer.get("reason"))
    return None


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sifang.cli", *args]


def _cli_env(nats_url: str, var_dir: Path) -> dict[str, str]:
    return os.environ | _env(nats_url, var_dir) | {"COLUMNS": "200"}


def _sifang(nats_url: str, var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(*args),
        env=_cli_env(nats_url, var_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class _Router:
    """The read router in this process, called over ASGI with a caller token, on one event loop
    (the router's own client to the coordinators lives on it)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token
        self.loop = asyncio.Runner()

    def response(self, path: str, *, auth: bool = True, **params: str) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
            async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
                return await client.get(path, params=params, headers=headers)

        return self.loop.run(call())

    def status(self, path: str, *, auth: bool = True) -> int:
        return self.response(path, auth=auth).status_code

    def get(self, path: str, **params: str) -> Any:
        response = self.response(path, **params)
        assert response.status_code == 200, response.text
        return response.json()


def test_the_dashboard_shows_the_whole_province_and_names_a_partition_that_is_down(
    nats_server: LocalNats, stakeholders: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    community = stakeholders["community"]
    ports = {name: free_port() for name in ("north", "south", "router")}
    token, digest = new_token()
    partitions = {n: {"url": f"http://127.0.0.1:{ports[n]}", "token": TOKEN} for n in ("north", "south")}
    router_env = {"PROVINCE_PARTITIONS": json.dumps(partitions), "PROVINCE_TOKENS": json.dumps([digest])}
    command = _command("province", "serve", "--port", "{port}")
    started = [
        ServiceProcess("router", router_env, tmp_path / "router.log", port=ports["router"], command=command)
    ]
    try:
        dashboard_env = {
            "COORDINATOR_PROVINCE_URL": started[0].url,
            "COORDINATOR_PROVINCE_TOKEN": token,
        }
        north_url = _database(tmp_path, "north", "coordinator")
        north = Coordinator(
            "north", [NORTH], north_url, nats_server.url, tmp_path, port=ports["north"], env=dashboard_env
        )
        started.append(north)
        south_url = _database(tmp_path, "south", "coordinator")
        south = Coordinator("south", [SOUTH], south_url, nats_server.url, tmp_path, port=ports["south"])
        started.append(south)
        west = Party(community, "马召镇西村村委会", "610124104201")
        huxian = Party(community, "甘亭镇东村村委会", "610125100201")
        west.post("/needs", _training("村民直播带货培训", 20, "610124104201"))
        huxian.post("/needs", _training("<script>alert(1)</script>电商培训", 12, "610125100201"))
        engine = make_engine(north_url)
        with Session(engine) as session:
            create_account(session, "li", "李主任", "a long enough password")
            session.commit()
        engine.dispose()
        client = httpx.Client(base_url=north.url, timeout=10)
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/dashboard/login").text)
        assert csrf is not None
        form = {
            "username": "li",
            "password": "a long enough password",
            "csrf": csrf.group(1),
            "next": "/dashboard",
        }
        assert client.post("/dashboard/login", data=form).status_code == 303

        def page() -> str | None:
            text = client.get("/dashboard/province").text
            return text if "电商培训" in text and "村民直播带货培训" in text else None

        shown = eventually(page, what="both counties' needs on north's page")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;电商培训" in shown and "<script>alert" not in shown
        assert "north (本分区)" in shown and SOUTH in shown and "在线" in shown
        south.kill()  # SIGKILL
        down = client.get("/dashboard/province").text
        assert "以下分区未响应，其需求未列出：south" in down and "未响应" in down
        assert "电商培训" not in down and "村民直播带货培训" in down
        english = client.get("/dashboard/province", params={"lang": "en"}).text
        assert "These partitions did not answer; their needs are not listed: south" in english
        client.close()
    finally:
        for process in started:
            process.stop()


def test_an_offer_tells_other_partitions_each_change_once_and_a_region_it_leaves(tmp_path: Path) -> None:
    """One event may solve an offer in two of its partition's counties, its remaining capacity
    changing twice: each notice gets its own id (a collision failed the event). Narrowing the
    service area tells the region it left that the offer is gone there."""
    url = _database(tmp_path, "owner", "coordinator")
    sessions = sessionmaker(make_engine(url), expire_on_commit=False)
    owner = "coordinator-north"
    projection = CoordinatorProjection(MatchPolicy(regions=(NORTH, EAST), owner=owner), consumer=owner)
    sequence = itertools.count(1)

    def apply(event: tuple[str, Any]) -> None:
        subject, envelope = event
        payload = envelope.to_json()
        with sessions() as session:
            projection(
                session, check_event(subject, payload), Delivery(subject, payload, {}, next(sequence), 1)
            )
            session.commit()

    for org, kind in (("station", "ngo"), ("west", "community"), ("lantian", "community")):
        apply(factories.registered(org, kind=kind))
    apply(factories.training_need("west", "need-west", 5, region="610124104201"))
    apply(factories.training_need("lantian", "need-lantian", 5, region="610126100201"))
    course = factories.offer_data("station", "course")
    training = {"category": "training.livestream", "unit": "人", "attributes": {}, "quantity": Decimal(30)}
    wide = course.model_copy(update=training | {"service_area": [NORTH, EAST, SOUTH]})
    apply(factories.event("ngo", "station", "offer", "published", wide))
    narrow = wide.model_copy(update={"service_area": [NORTH, EAST], "version": 2})
    apply(factories.event("ngo", "station", "offer", "updated", narrow))
    with sessions() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.event_type == "sifang.offer.shared.v1")
        )
        notices = [(row.subject, json.loads(row.payload)["data"]) for row in rows]
    told = [(subject.split(".")[2], data["status"], data["remaining"]) for subject, data in notices]
    assert told[:2] == [(SOUTH, "open", "25"), (SOUTH, "open", "20")]  # both counties solved, 20 left
    assert told[2:] == [(SOUTH, "withdrawn", "0")]  # the new area leaves 户县: told so, once
    assert all(data["owner"] == owner for _, data in notices)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_coordinator_started_while_its_database_refuses_connections_consumes_once_it_is_back(
    nats_server: LocalNats, service_database: Callable[[str], str], tmp_path: Path
) -> None:
    """The partition check at start needs the database: while it is away the consumer waits,
    reported paused with the reason, and starts consuming when it is back (it gave up before)."""
    url = service_database("coordinator")
    database = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")

    def allow(connections: bool) -> None:
        with admin.connect() as connection:
            connection.execute(
                text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(connections).lower()}')
            )
            if not connections:
                query = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"
                connection.execute(text(query), {"d": database})

    allow(False)
    coordinator = None
    try:
        coordinator = Coordinator("north", [NORTH], url, nats_server.url, tmp_path, healthy=False)
        reason = eventually(lambda: _paused(coordinator.url), what="paused for its database")
        assert "database unavailable" in reason
        allow(True)
        asyncio.run(_publish(nats_server.url, factories.registered("org-1", kind="community")))
        eventually(lambda: coordinator.get("/organisations"), what="the registration applied")
        assert _paused(coordinator.url) is None
    finally:
        allow(True)
        admin.dispose()
        if coordinator is not None:
            coordinator.stop()


async def _publish(nats_url: str, event: tuple[str, Any]) -> None:
    subject, envelope = event
    link = NatsLink(nats_url, "partition-test-publisher")
    js = await link.jetstream()
    await js.publish(subject, envelope.to_json(), stream=STREAM_NAME, headers={"Nats-Msg-Id": envelope.id})
    await link.close()
