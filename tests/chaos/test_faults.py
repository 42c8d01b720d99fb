"""The fault suite: real processes, real faults (SIGKILL, a dead nats-server, poison on the stream,
a database refusing connections), and after each the same verdict (``harness.final_check``):
every write a service answered 2xx is at the coordinator in its final state, nothing applied
twice or over-allocated, consumer lag zero, exactly the expected dead letters, and
``sifang replay`` identical.

Run it alone with ``make chaos``; ``make test`` runs it too. See tests/chaos/harness.py.
"""

import asyncio
import json
import os
import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from tests import factories
from tests.chaos.harness import (
    CatchUp,
    ChaosPlatform,
    DeadLetterExpectation,
    Load,
    database_url,
    dead_letters,
    engine_for,
    eventually,
    final_check,
    log,
    measure_catch_up,
    register_organisations,
    replay,
    report_catch_up,
)
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.chaos

StartChaos = Callable[..., ChaosPlatform]
WORKERS = 4
# Writes in scenario (a), per backend; 1500 keeps the whole suite within about eight minutes on
# two cores. SIFANG_CHAOS_WRITES=3000 (or more) for a heavier run.
WRITES = int(os.environ.get("SIFANG_CHAOS_WRITES", "1500"))


def _all(groups: list[list[Any]]) -> list[Any]:
    return [org for group in groups for org in group]


@pytest.mark.timeout(420)
def test_coordinator_killed_three_times_under_load(
    start_chaos: StartChaos, replay_url: str, backend: str, tmp_path: Path
) -> None:
    """(a) kill -9 the coordinator three times during a mixed write load; restart it each time."""
    _kill_the_coordinator_three_times(
        start_chaos(), replay_url, f"(a) coordinator kill -9, {backend}", tmp_path
    )


@pytest.mark.timeout(420)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_coordinator_killed_three_times_under_load_resolving_at_points(
    start_chaos: StartChaos, replay_url: str, tmp_path: Path
) -> None:
    """(a') the same with ``COORDINATOR_RESOLVE_AT=tick``: kills land between book events and the
    points that solve them, and the record still equals its replay."""
    platform = start_chaos(COORDINATOR_RESOLVE_AT="tick")
    _kill_the_coordinator_three_times(
        platform, replay_url, "(a') coordinator kill -9 at points, sqlite", tmp_path
    )


def _kill_the_coordinator_three_times(
    platform: ChaosPlatform, replay_url: str, scenario: str, tmp_path: Path
) -> None:
    groups = register_organisations(platform, WORKERS)
    # Paced so the coordinator keeps up with room to spare (it applies about 25-30 of these
    # events a second on two shared cores, fewer as the book grows): each restart then catches
    # up within about half a minute while the load goes on, and the load (100 s) is still
    # running at the third kill. At 25 writes/s it fell hundreds of events behind, catch-ups
    # took over a minute and the load could end before the third kill.
    load = Load(platform, groups, total=WRITES, rate=15).start()
    catch_ups: list[CatchUp] = []
    for number, fraction in enumerate((0.1, 0.3, 0.5), start=1):
        load.wait_for(fraction)
        assert load.alive, "the load finished before the coordinator was killed"
        platform.kill("coordinator")
        time.sleep(1.0)
        spawned = platform.restart("coordinator")
        catch_ups.append(measure_catch_up(platform, f"restart {number}", spawned))
    load.join()
    report_catch_up(tmp_path / "catchup.json", scenario, catch_ups)
    # at points, the last book events' point may still be on its way: let it land first
    with engine_for(database_url(platform, "coordinator")) as engine:
        eventually(
            lambda: _waiting_partitions(engine) == 0, timeout=120, what="every waiting partition solved"
        )
    final_check(platform, load.ledger, _all(groups), replay_url=replay_url)
    assert all(c.seconds is not None for c in catch_ups), f"a restart never caught up: {catch_ups}"


def _waiting_partitions(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM dirty_partitions")).scalar_one())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_stakeholder_services_killed_under_load(start_chaos: StartChaos, replay_url: str) -> None:
    """(b) kill -9 a stakeholder service mid-load (then another) and restart it; every write it
    answered 2xx arrives; writes lost with the connection are judged by what the service holds."""
    platform = start_chaos()
    groups = register_organisations(platform, WORKERS)
    load = Load(platform, groups, total=700, rate=40).start()
    for service, fraction in (("community", 0.3), ("enterprise", 0.65)):
        load.wait_for(fraction)
        assert load.alive, f"the load finished before {service} was killed"
        platform.kill(service)
        time.sleep(2.0)
        platform.restart(service)
    ledger = load.join()
    assert ledger.counts["not_sent"] + ledger.counts["unknown"] > 0, "the kills did not hit any write"
    final_check(platform, ledger, _all(groups), replay_url=replay_url)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_nats_server_killed_and_restarted_with_its_store(start_chaos: StartChaos, replay_url: str) -> None:
    """(c) kill -9 nats-server mid-load and start it again on the same store: the services
    reconnect, the outbox relays catch up, the coordinator's consumer resumes."""
    platform = start_chaos()
    groups = register_organisations(platform, WORKERS)
    load = Load(platform, groups, total=700, rate=40).start()
    load.wait_for(0.4)
    assert load.alive
    platform.kill_nats()
    time.sleep(3.0)
    platform.restart_nats()
    ledger = load.join()
    final_check(platform, ledger, _all(groups), replay_url=replay_url)


async def _publish_raw(
    nats_url: str, credentials: dict[str, str], messages: list[tuple[str, bytes]]
) -> list[int]:
    """Publish straight to the stream (no Nats-Msg-Id) as the community service's user;
    returns the stream sequences."""
    import nats

    client = await nats.connect(nats_url, connect_timeout=3, **credentials)
    try:
        js = client.jetstream(timeout=5)
        return [int((await js.publish(subject, payload)).seq) for subject, payload in messages]
    finally:
        await client.close()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_poison_messages_are_dead_lettered_and_the_consumer_keeps_going(
    start_chaos: StartChaos, replay_url: str
) -> None:
    """(d) non-JSON, JSON that is no CloudEvent, an unknown type, and one event id twice with
    different data: exactly those are dead-lettered, with a reason naming the problem; an exact
    duplicate is not; the consumer goes on applying normal writes."""
    platform = start_chaos()
    groups = register_organisations(platform, 2)
    poisoner = register_organisations(platform, 1)[0]
    village = next(o for o in poisoner if o.kind == "community")
    warm_up = Load(platform, groups, total=60, rate=40).start()
    ledger = warm_up.join()

    need_subject, need = factories.need_published(village.id, title="原始数据")
    subject_prefix = need_subject.rsplit(".", 2)[0]
    unknown = json.loads(factories.need_published(village.id)[1].to_json())
    unknown["type"] = "sifang.widget.exploded.v1"
    altered = json.loads(need.to_json())
    altered["data"]["title"] = "同一个编号，不同的数据"
    altered["data"]["quantity"] = "999"
    messages = [
        (need_subject, b"\x00\xff this is not JSON {"),
        (need_subject, json.dumps({"hello": "world", "n": 1}).encode()),
        (f"{subject_prefix}.widget.exploded", json.dumps(unknown).encode()),
        (need_subject, need.to_json()),  # a valid event: applied
        (need_subject, json.dumps(altered).encode()),  # same id, different data: dead letter
        (need_subject, need.to_json()),  # the very same event again: a duplicate, ignored
    ]
    sequences = asyncio.run(_publish_raw(platform.nats_url, platform.nats_credentials("community"), messages))
    log(f"poison published at stream sequences {sequences}")

    after = Load(platform, groups, total=60, rate=40, seed=11, ledger=ledger).start()
    after.join()
    expected = [
        DeadLetterExpectation("non-JSON bytes", r"json|cloudevent", stream_sequence=sequences[0]),
        DeadLetterExpectation(
            "JSON, not a CloudEvent", r"cloudevent|specversion", stream_sequence=sequences[1]
        ),
        DeadLetterExpectation("unknown type", r"unknown event type|widget", stream_sequence=sequences[2]),
        DeadLetterExpectation(
            "same id, different data",
            r"differ|conflict|same id|already",
            event_id=need.id,
            stream_sequence=sequences[4],
        ),
    ]
    final_check(platform, ledger, _all(groups), replay_url=replay_url, expected_dead_letters=expected)
    booked = httpx.get(
        platform.url("coordinator") + "/needs",
        headers=platform.admin(),
        params={"organisation_id": village.id},
    ).json()
    assert [(n["id"], n["title"]) for n in booked] == [(need.subject, "原始数据")], booked


@pytest.mark.timeout(420)
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_coordinator_database_refuses_connections_for_over_two_minutes(
    start_chaos: StartChaos, replay_url: str
) -> None:
    """(e) the coordinator's PostgreSQL database refuses connections for 130 s, longer than the
    whole old redelivery schedule (1+5+15+30 s); writes go on meanwhile. Afterwards every one of
    them is applied, nothing is dead-lettered, and /healthz said the database was unavailable."""
    outage = 130.0
    platform = start_chaos()
    groups = register_organisations(platform, 2)
    before = Load(platform, groups, total=100, rate=40).start()
    ledger = before.join()
    eventually(lambda: httpx.get(platform.url("coordinator") + "/healthz", timeout=5).status_code == 200, 30)

    database = make_url(database_url(platform, "coordinator")).database
    admin = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    health: list[tuple[int, str]] = []
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": database},
            )
        started = time.monotonic()
        log(f"database {database} refuses connections from now for {outage:.0f}s")
        during = Load(platform, groups, total=120, rate=1.0, seed=23, ledger=ledger).start()
        while time.monotonic() - started < outage:
            try:
                response = httpx.get(platform.url("coordinator") + "/healthz", timeout=5)
                health.append((response.status_code, response.text[:200]))
            except httpx.HTTPError as exc:
                health.append((0, f"{type(exc).__name__}: {exc}"))
            time.sleep(3.0)
        during.join()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    log(f"database {database} accepts connections again; /healthz said {sorted(set(health))[:4]}")
    log(f"{during.issued} writes during the outage ({ledger.summary()} in all)")

    final_check(platform, ledger, _all(groups), replay_url=replay_url)
    assert any(status == 503 and "database" in body and "unavailable" in body for status, body in health), (
        f"/healthz never reported the database down: {health[:5]}"
    )


class _FundWriter(threading.Thread):
    """A bureau clerk writing a fund's ledger as fast as the service answers: allocations to a
    share (more than the share holds, so some are refused) and payments against them. What the
    service answered 201 is kept; a write lost with a killed service is only counted."""

    def __init__(
        self, platform: ChaosPlatform, auth: dict[str, str], fund_id: str, seed: int, writes: int
    ) -> None:
        super().__init__(daemon=True)
        self.platform, self.auth, self.fund_id, self.writes = platform, auth, fund_id, writes
        self.random = random.Random(seed)
        self.allocated: dict[str, Decimal] = {}  # allocation id → amount, answered 201
        self.counts = {"201": 0, "409": 0, "lost": 0}

    def _post(self, client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        try:
            response = client.post(self.platform.url("government") + path, json=body, headers=self.auth)
        except httpx.TransportError:
            self.counts["lost"] += 1
            time.sleep(0.3)
            return None
        if response.status_code in (201, 409):
            self.counts[str(response.status_code)] += 1
        else:
            assert response.status_code >= 500, response.text  # only a dying service may fail
            self.counts["lost"] += 1
        return response.json() if response.status_code == 201 else None

    def run(self) -> None:
        path = f"/funds/{self.fund_id}"
        with httpx.Client(timeout=30) as client:
            for _ in range(self.writes):
                time.sleep(0.05)  # a steady pace, so that the kills land among the writes
                if self.allocated and self.random.random() < 0.4:
                    allocation = self.random.choice(sorted(self.allocated))
                    self._post(
                        client,
                        f"{path}/allocations/{allocation}/disbursements",
                        {
                            "amount": str(self.random.randint(1, 800)),
                            "paid_on": "2026-06-01",
                            "evidence": [{"kind": "invoice", "reference": "FP"}],
                        },
                    )
                    continue
                body = {
                    "share": self.random.choice(["ecommerce", "social_work"]),
                    "amount": f"{self.random.randint(100, 4000)}.{self.random.randint(0, 99):02d}",
                    "allocated_on": "2026-05-01",
                    "township": "610124104",
                    "purpose": "物流点",
                    "project": "村级物流点",
                }
                created = self._post(client, path + "/allocations", body)
                if created is not None:
                    self.allocated[created["id"]] = Decimal(created["amount"])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_fund_ledger_written_concurrently_survives_kills_of_its_service_and_the_coordinator(
    start_chaos: StartChaos, replay_url: str
) -> None:
    """Three clerks write one fund's ledger at once — allocations beyond what the shares hold,
    payments beyond what allocations hold — while the government service and the coordinator are
    each killed with SIGKILL and restarted. Every entry the service answered 201 is at the
    coordinator, the coordinator's ledger equals the service's, no share is over-allocated or
    over-disbursed, nothing is dead-lettered, and ``sifang replay`` is identical."""
    platform = start_chaos()
    registered = httpx.post(
        platform.url("government") + "/organisations",
        headers=platform.admin(),
        json={"name": "周至县商务局", "region": "610124"},
    )
    auth = {"Authorization": f"Bearer {registered.json()['api_key']}"}
    fund = httpx.post(
        platform.url("government") + "/funds",
        headers=auth,
        json={
            "name": "协同专项资金",
            "fiscal_year": 2026,
            "shares": [
                {
                    "share": "ecommerce",
                    "name": "电商基础设施",
                    "purpose": "ecommerce_infrastructure",
                    "amount": "60000",
                },
                {"share": "social_work", "name": "社会工作服务", "purpose": "social_work", "amount": "30000"},
            ],
        },
    ).json()
    tranche = {"received_on": "2026-04-01", "amounts": {"ecommerce": "40000", "social_work": "30000"}}
    assert (
        httpx.post(
            platform.url("government") + f"/funds/{fund['id']}/tranches", headers=auth, json=tranche
        ).status_code
        == 201
    )
    writers = [_FundWriter(platform, auth, fund["id"], seed, writes=100) for seed in range(3)]
    for writer in writers:
        writer.start()
    time.sleep(1.5)
    platform.kill("coordinator")
    time.sleep(1.0)
    platform.kill("government")
    time.sleep(1.0)
    platform.restart("government")
    time.sleep(1.0)
    platform.restart("coordinator")
    for writer in writers:
        writer.join(120)
        assert not writer.is_alive()
    counts = {k: sum(w.counts[k] for w in writers) for k in ("201", "409", "lost")}
    log(f"fund ledger writes: {counts}")
    assert counts["409"] > 0, "no write met a rule: the shares were never contested"
    assert counts["lost"] > 0, "the kill of the government service hit no write"

    def both() -> tuple[dict[str, Any], dict[str, Any]] | None:
        ours = httpx.get(platform.url("government") + f"/funds/{fund['id']}", headers=auth).json()
        theirs = httpx.get(platform.url("coordinator") + f"/open-data/funds/{fund['id']}")
        if theirs.status_code != 200 or theirs.json()["entries"] != ours["version"]:
            return None
        return ours, theirs.json()

    ours, theirs = eventually(both, timeout=120, what="the coordinator holding every entry of the ledger")
    answered = {a: amount for w in writers for a, amount in w.allocated.items()}
    held = {a["id"]: Decimal(a["amount"]) for a in theirs["allocations"]}
    assert answered.items() <= held.items(), "an allocation answered 201 is missing at the coordinator"
    assert {a["id"]: (a["amount"], a["disbursed"]) for a in ours["allocations"]} == {
        a["id"]: (a["amount"], a["disbursed"]) for a in theirs["allocations"]
    }
    for mine, seen in zip(ours["shares"], theirs["shares"], strict=True):
        assert (mine["committed"], mine["paid"], mine["received"]) == (
            seen["committed"],
            seen["paid"],
            seen["received"],
        )
        assert Decimal(seen["committed"]) <= Decimal(seen["planned"])
        assert Decimal(seen["paid"]) <= Decimal(seen["received"])
    assert dead_letters(platform) == []
    identical, output = replay(platform, replay_url)
    assert identical, output
