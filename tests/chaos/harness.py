"""The fault suite's machinery, written once: kill and restart real processes, drive a mixed
write load through the four stakeholder services, wait for the coordinator to catch up, and
check its final state against what the services answered.

Every scenario in this package follows the same shape:

    platform = start()                        # ChaosPlatform: five uvicorn processes + nats-server
    orgs = register_organisations(platform)   # one organisation per kind per load worker
    load = Load(platform, orgs, total=...)    # background threads writing needs and offers
    load.start(); load.wait_for(0.3); <fault>; load.join()
    final_check(platform, load.ledger, orgs, expected_dead_letters=..., replay_url=...)

``final_check`` asserts, after a bounded wait for catch-up: every write a stakeholder service
answered 2xx is at the coordinator in its final state; the coordinator's book equals every
stakeholder service's own records; no event applied twice and no need or offer over-allocated;
the coordinator's durable consumer has nothing pending or unacknowledged; the dead letters are
exactly the expected ones; and ``sifang replay`` into a fresh database of the same kind reports
identical.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from services import SERVICES
from shared.messaging.nats import STREAM_NAME, servers
from sifang.platform import Platform

__all__ = [
    "STAKEHOLDERS",
    "ChaosPlatform",
    "DeadLetterExpectation",
    "Ledger",
    "Load",
    "Org",
    "consumer_lag",
    "database_url",
    "eventually",
    "final_check",
    "measure_catch_up",
    "register_organisations",
    "report_catch_up",
]

STAKEHOLDERS = ("government", "enterprise", "ngo", "community")
COORDINATOR_CONSUMER = "coordinator"
ADMIN_TOKEN = "chaos-admin-token-0123456789"

# Counties of the load. Organisations sit in the first few; each need or offer is placed in a
# random one (with a county-wide service area for offers), so matching partitions (category
# branch x county) stay small enough for two cores while every county sees all four kinds and
# so real matches. The coordinator's cost per event grows with the open records in a partition.
COUNTIES = tuple(f"6101{n:02d}" for n in (2, 3, 4, 11, 12, 13, 14, 15, 16, 17, 18, 22, 24, 25, 26, 27))

# What each kind posts: (side, category, unit). Chosen so that needs and offers of different
# kinds meet in the same partitions (training, produce, funding, logistics, venue).
PLAN: dict[str, list[tuple[str, str, str]]] = {
    "community": [
        ("need", "training.livestream", "人"),
        ("need", "logistics.cold_chain", "t"),
        ("offer", "produce.fruit.kiwifruit", "t"),
        ("offer", "venue", "hour"),
    ],
    "enterprise": [
        ("need", "produce.fruit.kiwifruit", "t"),
        ("offer", "training.livestream", "人"),
        ("offer", "logistics.cold_chain", "t"),
    ],
    "ngo": [
        ("need", "funding.subsidy", "万元"),
        ("offer", "training.livestream", "人"),
    ],
    "government": [
        ("need", "venue", "hour"),
        ("offer", "funding.subsidy", "万元"),
        ("offer", "training.ecommerce", "人"),
    ],
}


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def eventually(probe: Callable[[], Any], timeout: float, interval: float = 0.25, what: str = "") -> Any:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what or probe}")
        time.sleep(interval)


# --------------------------------------------------------------------------- processes


class ChaosPlatform(Platform):
    """A :class:`Platform` whose processes can also be killed with SIGKILL and restarted."""

    def pid(self, service: str) -> int:
        return self._processes[service].pid

    def kill(self, service: str) -> None:
        """``kill -9`` one service's process: no shutdown, no flush, unacked messages held."""
        process = self._processes.pop(service)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        log(f"killed {service} (pid {process.pid}) with SIGKILL")

    def restart(self, service: str, timeout: float = 90) -> float:
        """Start ``service`` again; returns the monotonic instant its process was spawned."""
        spawned = time.monotonic()
        self.start_service(service)
        self.wait_healthy(service, timeout)
        log(f"restarted {service} (pid {self.pid(service)}), healthy after {time.monotonic() - spawned:.1f}s")
        return spawned

    def kill_nats(self) -> None:
        assert self.nats is not None and self.nats._process is not None
        process = self.nats._process
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        self.nats._process = None
        log(f"killed nats-server (pid {process.pid}) with SIGKILL")

    def restart_nats(self) -> None:
        """Start nats-server again on the same port with the same store directory."""
        assert self.nats is not None
        self.nats.start()
        log(f"restarted nats-server with store {self.nats.store_dir}")

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def database_url(platform: Platform, service: str) -> str:
    """The database a service of ``platform`` uses (PostgreSQL if configured, else its SQLite file)."""
    configured = platform.extra_env.get(f"{service.upper()}_DATABASE_URL")
    return configured or f"sqlite:///{platform.var_dir / f'{service}.db'}"


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- NATS


async def _consumer_info(nats_url: str, credentials: dict[str, str]) -> tuple[int, int, int, int]:
    """(num_pending, num_ack_pending, ack floor stream sequence, last stakeholder sequence)."""
    import nats

    client = await nats.connect(
        servers(nats_url), connect_timeout=2, allow_reconnect=False, max_reconnect_attempts=0, **credentials
    )
    try:
        js = client.jetstream(timeout=5)
        info = await js.consumer_info(STREAM_NAME, COORDINATOR_CONSUMER)
        last = 0
        for kind in STAKEHOLDERS:
            try:
                message = await js.get_last_msg(STREAM_NAME, f"sifang.{kind}.>")
            except Exception:  # no message on that kind's subjects yet
                continue
            last = max(last, int(message.seq or 0))
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        return info.num_pending or 0, info.num_ack_pending or 0, floor or 0, last
    finally:
        await client.close()


def consumer_lag(platform: Platform) -> tuple[int, int, int, int]:
    """The coordinator's durable consumer: pending, unacknowledged, ack floor, last stakeholder seq."""
    return asyncio.run(_consumer_info(platform.nats_url, platform.nats_credentials()))


def _try_lag(platform: Platform) -> tuple[int, int, int, int] | None:
    try:
        return consumer_lag(platform)
    except Exception:
        return None


@dataclass
class CatchUp:
    label: str
    seconds: float | None
    target_sequence: int
    pending_at_restart: int | None


def measure_catch_up(platform: Platform, label: str, spawned: float, timeout: float = 180) -> CatchUp:
    """Seconds from the coordinator's restart (process spawned) until every stakeholder event
    that was on the stream at that moment has been acknowledged by its durable consumer (the
    ack floor reached it). Runs while the load goes on; ``None`` if not reached in time."""
    first = eventually(lambda: _try_lag(platform), 30, what="consumer info after restart")
    target, pending = first[3], first[0] + first[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lag = _try_lag(platform)
        if lag is not None and (lag[2] >= target or (lag[0] == 0 and lag[1] == 0)):
            result = CatchUp(label, round(time.monotonic() - spawned, 2), target, pending)
            log(f"CATCHUP {label}: {result.seconds}s to acknowledge up to stream seq {target}")
            return result
        time.sleep(0.2)
    log(f"CATCHUP {label}: not caught up within {timeout}s (target seq {target})")
    return CatchUp(label, None, target, pending)


CATCH_UP_REPORT: list[dict[str, Any]] = []


def report_catch_up(path: Path, scenario: str, figures: Sequence[CatchUp]) -> None:
    """Print the catch-up figures (prefix ``CATCHUP``) and write them as JSON to ``path``."""
    rows = [
        {
            "scenario": scenario,
            "restart": f.label,
            "catch_up_seconds": f.seconds,
            "target_stream_sequence": f.target_sequence,
            "pending_at_restart": f.pending_at_restart,
        }
        for f in figures
    ]
    path.write_text(json.dumps(rows, indent=2))
    CATCH_UP_REPORT.extend(rows)
    for row in rows:
        print(f"CATCHUP {json.dumps(row)}", flush=True)


# --------------------------------------------------------------------------- organisations


@dataclass(frozen=True)
class Org:
    kind: str
    id: str
    key: str
    region: str  # a village code

    @property
    def county(self) -> str:
        return self.region[:6]


def register_organisations(platform: Platform, workers: int) -> list[list[Org]]:
    """One organisation of every kind for each load worker, each worker in its own county."""
    groups: list[list[Org]] = []
    with httpx.Client(timeout=30) as client:
        for worker in range(workers):
            county = COUNTIES[worker % len(COUNTIES)]
            village = f"{county}{100 + worker:03d}{201:03d}"
            group = []
            for kind in STAKEHOLDERS:
                response = client.post(
                    platform.url(kind) + "/organisations",
                    headers={"Authorization": f"Bearer {platform.token}"},
                    json={"name": f"{kind} 组织 {worker}", "region": village, "contact": {"person": "李娜"}},
                )
                assert response.status_code == 201, response.text
                body = response.json()
                group.append(Org(kind, body["organisation"]["id"], body["api_key"], village))
            groups.append(group)
    return groups


# --------------------------------------------------------------------------- the load


@dataclass
class Tracked:
    """A need or offer the load created, and the last state its service answered 2xx with."""

    org: Org
    side: str
    id: str
    expected: dict[str, Any]
    uncertain: bool = False  # a later write's outcome is unknown (connection lost mid-request)

    @property
    def open(self) -> bool:
        return self.expected["status"] == "open" and not self.uncertain


class Ledger:
    """What the stakeholder services answered, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entities: dict[str, Tracked] = {}
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []

    def count(self, outcome: str, detail: str = "") -> None:
        with self._lock:
            self.counts[outcome] += 1
            if detail and len(self.errors) < 50:
                self.errors.append(detail)

    def answered(self, org: Org, side: str, body: dict[str, Any]) -> Tracked:
        listing_id = str(body[f"{side}_id"])
        with self._lock:
            tracked = self.entities.get(listing_id)
            if tracked is None:
                tracked = self.entities[listing_id] = Tracked(org, side, listing_id, body)
            else:
                tracked.expected = body
            return tracked

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))


class _Outcome:
    OK = "ok"
    NOT_SENT = "not_sent"  # the connection was refused: the service never saw it
    UNKNOWN = "unknown"  # sent, but no answer: it may or may not have been applied
    REJECTED = "rejected"  # a 4xx: definitely not applied


class Load:
    """Background threads writing a mixed load of needs and offers through the four services.

    Each write is one HTTP request; ``total`` bounds them, ``rate`` (writes per second over all
    threads) paces them. A worker's episodes: create; create then update at once; create then
    withdraw at once; create, update, withdraw; or update/withdraw one of its older open records.
    """

    def __init__(
        self,
        platform: Platform,
        groups: list[list[Org]],
        *,
        total: int,
        rate: float = 120.0,
        seed: int = 7,
        timeout: float = 10.0,
        ledger: Ledger | None = None,
        retry_for: float = 0.0,
    ) -> None:
        self.platform = platform
        self.retry_for = retry_for  # seconds a refused connection or a 503 is retried, as clients do
        self.groups = groups
        self.total = total
        self.interval = 1.0 / rate
        self.seed = seed
        self.timeout = timeout
        self.ledger = ledger or Ledger()
        self._lock = threading.Lock()
        self._issued = 0
        self._next_slot = time.monotonic()
        self._threads: list[threading.Thread] = []
        self._failures: list[BaseException] = []
        self.started_at = 0.0
        self.finished_at = 0.0

    # -- control

    def start(self) -> Load:
        self.started_at = time.monotonic()
        for index, group in enumerate(self.groups):
            thread = threading.Thread(target=self._worker, args=(index, group), name=f"load-{index}")
            thread.start()
            self._threads.append(thread)
        return self

    @property
    def issued(self) -> int:
        return self._issued

    def wait_for(self, fraction: float, timeout: float = 300) -> None:
        """Block until ``fraction`` of the writes have been issued."""
        target = int(self.total * fraction)
        eventually(
            lambda: self._issued >= target or self._failures or not self.alive,
            timeout,
            0.05,
            f"{target} writes issued",
        )
        self._raise_failures()

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout: float = 600) -> Ledger:
        for thread in self._threads:
            thread.join(timeout)
            assert not thread.is_alive(), "load worker did not finish"
        self.finished_at = time.monotonic()
        self._raise_failures()
        log(
            f"load done: {self._issued} writes in {self.finished_at - self.started_at:.1f}s "
            f"({self.ledger.summary()}); {len(self.ledger.entities)} records"
        )
        return self.ledger

    def _raise_failures(self) -> None:
        if self._failures:
            raise AssertionError(f"load worker failed: {self._failures[0]!r}") from self._failures[0]

    # -- workers

    def _slot(self) -> bool:
        """Take one write from the budget, paced to the rate; False when the budget is spent."""
        with self._lock:
            if self._issued >= self.total:
                return False
            self._issued += 1
            now = time.monotonic()
            self._next_slot = max(self._next_slot + self.interval, now)
            wait = self._next_slot - now
        if wait > 0:
            time.sleep(wait)
        return True

    def _worker(self, index: int, group: list[Org]) -> None:
        rng = random.Random(self.seed * 1000 + index)
        mine: list[Tracked] = []
        try:
            with httpx.Client(timeout=self.timeout) as client:
                step = 0
                while True:
                    step += 1
                    roll = rng.random()
                    if roll < 0.15 and any(t.open for t in mine):
                        tracked = rng.choice([t for t in mine if t.open])
                        verb = "update" if rng.random() < 0.6 else "withdraw"
                        if not self._write(client, rng, tracked.org, tracked.side, verb, tracked, step):
                            return
                        continue
                    org = rng.choice(group)
                    side, category, unit = rng.choice(PLAN[org.kind])
                    created = self._create(client, rng, org, side, category, unit, step)
                    if created is None:
                        if self._issued >= self.total:
                            return
                        continue
                    mine.append(created)
                    follow: list[str] = []
                    if roll < 0.40:
                        follow = []
                    elif roll < 0.65:
                        follow = ["update"]
                    elif roll < 0.80:
                        follow = ["withdraw"]
                    elif roll < 0.90:
                        follow = ["update", "withdraw"]
                    else:
                        follow = ["update", "update"]
                    for verb in follow:
                        if not created.open:
                            break
                        if not self._write(client, rng, org, side, verb, created, step):
                            return
        except BaseException as exc:
            self._failures.append(exc)
            raise

    def _create(
        self,
        client: httpx.Client,
        rng: random.Random,
        org: Org,
        side: str,
        category: str,
        unit: str,
        step: int,
    ) -> Tracked | None:
        if not self._slot():
            return None
        body: dict[str, Any] = {
            "category": category,
            "title": f"{org.kind}-{side}-{step}-v1",
            "quantity": rng.randint(1, 60),
            "unit": unit,
        }
        county = rng.choice(COUNTIES)
        body["region"] = f"{county}{rng.randint(100, 103):03d}{rng.randint(201, 203):03d}"
        if side == "offer":
            body["service_area"] = [county]  # county-wide, so offers meet several villages' needs
        outcome, answer = self._send(client, "POST", org, f"/{side}s", body)
        if outcome == _Outcome.OK:
            return self.ledger.answered(org, side, answer)
        return None

    def _write(
        self,
        client: httpx.Client,
        rng: random.Random,
        org: Org,
        side: str,
        verb: str,
        tracked: Tracked,
        step: int,
    ) -> bool:
        if not self._slot():
            return False
        if verb == "update":
            version = int(tracked.expected["version"]) + 1
            body: dict[str, Any] = {
                "title": f"{org.kind}-{side}-{step}-v{version}",
                "quantity": rng.randint(1, 60),
            }
            outcome, answer = self._send(client, "PATCH", org, f"/{side}s/{tracked.id}", body)
        else:
            outcome, answer = self._send(
                client, "POST", org, f"/{side}s/{tracked.id}/withdraw", {"reason": "chaos: no longer needed"}
            )
        if outcome == _Outcome.OK:
            self.ledger.answered(org, side, answer)
        elif outcome == _Outcome.UNKNOWN:
            tracked.uncertain = True  # its final state is whatever its service says in the end
        return True

    def _send(
        self, client: httpx.Client, method: str, org: Org, path: str, body: dict[str, Any]
    ) -> tuple[str, Any]:
        """One write; with ``retry_for``, a refused connection or a 503 is sent again after its
        ``Retry-After`` (half a second for a refused connection) until that many seconds passed."""
        give_up = time.monotonic() + self.retry_for
        while True:
            outcome, answer, wait = self._send_once(client, method, org, path, body)
            if wait is None:
                return outcome, answer
            if time.monotonic() + wait > give_up:
                self.ledger.count(outcome, f"{method} {path}: given up after retrying")
                return outcome, answer
            self.ledger.count("retried")
            time.sleep(wait)

    def _send_once(
        self, client: httpx.Client, method: str, org: Org, path: str, body: dict[str, Any]
    ) -> tuple[str, Any, float | None]:
        url = self.platform.url(org.kind) + path
        try:
            response = client.request(method, url, json=body, headers={"Authorization": f"Bearer {org.key}"})
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            del exc
            if self.retry_for:
                return _Outcome.NOT_SENT, None, 0.5  # counted by _send if it gives up
            self.ledger.count(_Outcome.NOT_SENT)
            time.sleep(0.2)
            return _Outcome.NOT_SENT, None, None
        except httpx.HTTPError as exc:
            self.ledger.count(_Outcome.UNKNOWN, f"{method} {path}: {type(exc).__name__}: {exc}")
            time.sleep(0.2)
            return _Outcome.UNKNOWN, None, None
        if response.is_success:
            self.ledger.count(_Outcome.OK)
            return _Outcome.OK, response.json(), None
        if response.status_code == 503 and self.retry_for and "retry-after" in response.headers:
            return _Outcome.UNKNOWN, None, float(response.headers["retry-after"])
        if response.status_code >= 500:
            self.ledger.count(
                _Outcome.UNKNOWN, f"{method} {path}: HTTP {response.status_code} {response.text[:200]}"
            )
            return _Outcome.UNKNOWN, None, None
        self.ledger.count(
            _Outcome.REJECTED, f"{method} {path}: HTTP {response.status_code} {response.text[:300]}"
        )
        return _Outcome.REJECTED, None, None


# --------------------------------------------------------------------------- the final check


@dataclass(frozen=True)
class DeadLetterExpectation:
    """A dead letter a scenario expects: its reason matches ``reason`` (a regex, case-insensitive)
    and, if given, it carries ``event_id`` or sits at ``stream_sequence``."""

    what: str
    reason: str
    event_id: str | None = None
    stream_sequence: int | None = None

    def matches(self, letter: dict[str, Any]) -> bool:
        if self.event_id is not None and letter.get("event_id") != self.event_id:
            return False
        if self.stream_sequence is not None and letter.get("stream_sequence") != self.stream_sequence:
            return False
        return re.search(self.reason, str(letter.get("reason", "")), re.IGNORECASE) is not None


COMPARED_FIELDS = ("status", "version", "title", "quantity", "category", "unit", "withdrawn_reason")


def _fields(listing: dict[str, Any]) -> dict[str, Any]:
    found = {name: listing.get(name) for name in COMPARED_FIELDS}
    found["quantity"] = Decimal(str(found["quantity"])).normalize() if found["quantity"] is not None else None
    return found


def _paged(client: httpx.Client, url: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = client.get(url, headers=headers, params={**params, "limit": 1000, "offset": offset})
        assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text[:300]}"
        page = response.json()
        found += page
        if len(page) < 1000:
            return found
        offset += len(page)


def _differences(platform: Platform, ledger: Ledger, orgs: Sequence[Org]) -> list[str]:
    """Everything that differs between the stakeholder services, the ledger and the coordinator."""
    problems: list[str] = []
    admin = {"Authorization": f"Bearer {platform.token}"}
    coordinator = platform.url("coordinator")
    with httpx.Client(timeout=30) as client:
        registered = {o["id"] for o in _paged(client, coordinator + "/organisations", admin)}
        for org in orgs:
            if org.id not in registered:
                problems.append(f"organisation {org.kind} {org.id} not registered at the coordinator")
            auth = {"Authorization": f"Bearer {org.key}"}
            for side in ("need", "offer"):
                response = client.get(platform.url(org.kind) + f"/{side}s", headers=auth)
                assert response.status_code == 200, response.text
                own = {str(row[f"{side}_id"]): row for row in response.json()}
                book = {
                    str(row["id"]): row
                    for row in _paged(client, coordinator + f"/{side}s", admin, organisation_id=org.id)
                }
                for listing_id, row in own.items():
                    tracked = ledger.entities.get(listing_id)
                    if (
                        tracked is not None
                        and not tracked.uncertain
                        and _fields(tracked.expected) != _fields(row)
                    ):
                        problems.append(
                            f"{org.kind} {side} {listing_id}: the service answered 2xx with "
                            f"{_fields(tracked.expected)} but now holds {_fields(row)}"
                        )
                    if listing_id not in book:
                        problems.append(
                            f"{org.kind} {side} {listing_id} {_fields(row)} missing at the coordinator"
                        )
                    elif _fields(book[listing_id]) != _fields(row):
                        problems.append(
                            f"{org.kind} {side} {listing_id}: service has {_fields(row)}, "
                            f"coordinator has {_fields(book[listing_id])}"
                        )
                for listing_id in set(book) - set(own):
                    problems.append(
                        f"{org.kind} {side} {listing_id} at the coordinator but not at its service"
                    )
        for listing_id, tracked in ledger.entities.items():
            if tracked.org in orgs and not tracked.uncertain:
                response = client.get(
                    platform.url(tracked.org.kind) + f"/{tracked.side}s/{listing_id}",
                    headers={"Authorization": f"Bearer {tracked.org.key}"},
                )
                if response.status_code != 200:
                    problems.append(
                        f"{tracked.side} {listing_id} answered 2xx but its service now says {response.status_code}"
                    )
    return problems


def _lag_zero(platform: Platform) -> bool:
    lag = _try_lag(platform)
    return lag is not None and lag[0] == 0 and lag[1] == 0


def _outboxes_drained(platform: Platform) -> bool:
    for service in SERVICES:
        with engine_for(database_url(platform, service)) as engine, engine.connect() as connection:
            if connection.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar():
                return False
    return True


def _consistency_problems(platform: Platform) -> list[str]:
    """Duplicate effects and over-allocation, read from the coordinator's database."""
    problems: list[str] = []
    coordinator = database_url(platform, "coordinator")
    with engine_for(coordinator) as engine, engine.connect() as connection:
        tables = set(inspect(engine).get_table_names())
        # Every stakeholder event published from an outbox was applied exactly once.
        logged = Counter(str(r[0]) for r in connection.execute(text("SELECT event_id FROM event_log")))
        problems += [f"event {e} in the event log {n} times" for e, n in logged.items() if n > 1]
        inbox = {
            str(r[0])
            for r in connection.execute(
                text("SELECT event_id FROM inbox WHERE consumer = :c"), {"c": COORDINATOR_CONSUMER}
            )
        }
        versions: Counter[tuple[str, str, int]] = Counter()
        for type_, entity, data in connection.execute(
            text(
                "SELECT type, entity_id, data FROM event_log WHERE type LIKE 'sifang.need.%' OR type LIKE 'sifang.offer.%'"
            )
        ):
            payload = data if isinstance(data, dict) else json.loads(data)
            verb = type_.split(".")[2]
            versions[(str(entity), verb, int(payload.get("version", 0)))] += 1
        problems += [
            f"{entity} {verb} version {version} applied {n} times"
            for (entity, verb, version), n in versions.items()
            if n > 1
        ]
        if "held_events" in tables:
            held = connection.execute(text("SELECT event_id, waits_for, reason FROM held_events")).fetchall()
            problems += [f"event {r[0]} still held, waiting for {r[1]}: {r[2]}" for r in held]
        # Over-allocation: the quantity matched to a need (in the need's unit) never exceeds it.
        active = "m.status IN ('proposed', 'confirmed', 'fulfilled')"
        for side, column in (("need", "quantity"), ("offer", "offer_quantity")):
            rows = connection.execute(
                text(
                    f"SELECT m.{side}_id, SUM(m.{column}), b.quantity, b.status FROM matches m "
                    f"JOIN book_{side}s b ON b.id = m.{side}_id WHERE {active} "
                    f"GROUP BY m.{side}_id, b.quantity, b.status"
                )
            ).fetchall()
            for listing_id, matched, quantity, status in rows:
                if Decimal(str(matched)) > Decimal(str(quantity)) * Decimal("1.0001"):
                    problems.append(f"{side} {listing_id} over-allocated: {matched} matched of {quantity}")
                if status != "open":
                    problems.append(f"{side} {listing_id} is {status} but still has active matches")
        orphans = connection.execute(
            text(
                "SELECT m.id FROM matches m LEFT JOIN book_needs n ON n.id = m.need_id "
                "LEFT JOIN book_offers o ON o.id = m.offer_id WHERE n.id IS NULL OR o.id IS NULL"
            )
        ).fetchall()
        problems += [f"match {r[0]} names a need or offer the book does not have" for r in orphans]
    for service in STAKEHOLDERS:
        with engine_for(database_url(platform, service)) as engine, engine.connect() as connection:
            for event_id, event_type in connection.execute(text("SELECT event_id, event_type FROM outbox")):
                if str(event_id) not in logged:
                    problems.append(
                        f"{service} published {event_type} {event_id}; not in the coordinator's event log"
                    )
                elif str(event_id) not in inbox:
                    problems.append(f"{service} event {event_id} logged but not in the coordinator's inbox")
    return problems


def dead_letters(platform: Platform) -> list[dict[str, Any]]:
    with httpx.Client(timeout=30) as client:
        return _paged(
            client,
            platform.url("coordinator") + "/dead-letters",
            {"Authorization": f"Bearer {platform.token}"},
        )


def replay(platform: Platform, target_url: str, timeout: float = 300) -> tuple[bool, str]:
    """``sifang replay`` against the running platform, rebuilding into ``target_url``."""
    env = platform.env | {f"SIFANG_{s.upper()}_URL": platform.url(s) for s in SERVICES} | {"COLUMNS": "200"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "sifang.cli", "replay", "--database-url", target_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    log(
        f"sifang replay into {target_url.split('://')[0]}: exit {done.returncode} in {time.monotonic() - started:.1f}s"
    )
    return done.returncode == 0, done.stdout + done.stderr


def final_check(
    platform: Platform,
    ledger: Ledger,
    orgs: Sequence[Org],
    *,
    replay_url: str,
    expected_dead_letters: Sequence[DeadLetterExpectation] = (),
    timeout: float = 180,
    stable_for: float = 30,
) -> None:
    """The assertions every scenario ends with (see the module docstring)."""
    __tracebackhide__ = True
    started = time.monotonic()
    deadline = started + timeout
    differences: list[str] = ["not checked yet"]
    settled_since: float | None = None  # lag zero with the same differences since then
    while time.monotonic() < deadline:
        if _outboxes_drained(platform) and _lag_zero(platform):
            found = _differences(platform, ledger, orgs)
            if not found:
                differences = found
                break
            if found != differences:
                settled_since = time.monotonic()
            elif settled_since is not None and time.monotonic() - settled_since > stable_for:
                break  # nothing left to deliver and nothing changing: they stay as they are
            differences = found
        else:
            settled_since = None
            differences = ["not caught up"]
        time.sleep(1.0)
    lag = _try_lag(platform)
    log(f"final check after {time.monotonic() - started:.1f}s: lag {lag}, {len(differences)} differences")
    letters = dead_letters(platform)
    unexpected = [
        f"seq {d['stream_sequence']} {d['subject']} event {d['event_id']}: {d['reason']}"
        for d in letters
        if not any(e.matches(d) for e in expected_dead_letters)
    ]
    missing = [e.what for e in expected_dead_letters if not any(e.matches(d) for d in letters)]
    consistency = _consistency_problems(platform)
    identical, replay_output = replay(platform, replay_url)

    failures: list[str] = []
    if differences:
        failures.append(f"{len(differences)} records differ, e.g.:\n  " + "\n  ".join(differences[:15]))
    if lag is None or lag[0] or lag[1]:
        failures.append(f"consumer lag not zero: pending/unacked/ack floor/last = {lag}")
    if unexpected:
        failures.append(
            f"{len(unexpected)} unexpected dead letters, e.g.:\n  " + "\n  ".join(unexpected[:10])
        )
    if missing:
        failures.append(f"expected dead letters missing: {missing}")
    if len(letters) != len(expected_dead_letters) and not unexpected and not missing:
        failures.append(f"{len(letters)} dead letters, expected exactly {len(expected_dead_letters)}")
    if consistency:
        failures.append(f"{len(consistency)} consistency problems, e.g.:\n  " + "\n  ".join(consistency[:15]))
    if not identical:
        failures.append(f"sifang replay is not identical:\n{replay_output[-3000:]}")
    if ledger.counts.get(_Outcome.REJECTED):
        failures.append(f"the load had writes rejected with 4xx: {ledger.errors[:5]}")
    assert not failures, "\n\n".join(failures)
    log("final check passed: state, duplicates, lag, dead letters and replay all as expected")
