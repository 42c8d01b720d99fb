"""Coordinator ingest benchmark: ``python -m benchmarks.bench_ingest``.

A real nats-server on a free port; N stakeholder events published to the stream the way the
services publish them (registrations, then needs and offers of four kinds, some updated or
withdrawn later, over a few counties); then, in the same run over the same messages:

1. **baseline**: a plain nats-py durable pull consumer that only fetches and acks, in batches
   of ``INGEST_BATCH`` (64) as the coordinator's consumer fetches them (and, for comparison with
   earlier figures, one message at a time);
2. **ingest**: the coordinator's real consumer (``stakeholder_consumer``: contract check, inbox,
   order gate, projection, re-solving the partitions; each fetched batch in one transaction)
   and its outbox relay, applying them into
   a fresh SQLite database, optionally pre-filled with an open book (bulk inserts, as
   ``bench_matching``) in one of two states: **solved** (the partitions the events fall in
   solved before the run, their proposals standing and published, as a running coordinator's
   book is) or **cold** (never solved: the first event of each partition solves the whole of
   it, so the rate until solved is mostly that first solve of a 100k book); once re-solving
   at each event (``COORDINATOR_RESOLVE_AT=event``, the default), once at re-solve points
   (``tick``), where the rate until every partition is solved is reported too;
3. **replay**: ``rebuild_coordinator`` (what ``sifang replay`` runs) rebuilding a scratch
   database from the stream in each mode, against an ordered consumer that only reads it.

Timings are wall-clock on a shared machine: compare the columns of one run, not across runs.
"""

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import func, insert, select, update

from benchmarks import machine
from services.coordinator.app import INGEST_BATCH, CoordinatorSettings, stakeholder_consumer
from services.coordinator.book.models import BookNeed, BookOffer, BookOfferArea
from services.coordinator.journal.service import Cause
from services.coordinator.matches.models import DirtyPartition, Match
from services.coordinator.matches.service import ResolveAt, partition_of, resolve_all
from services.coordinator.registry.models import RegisteredOrganisation
from services.migrate import upgrade
from shared.app import build_runtime
from shared.events.catalogue import CATALOGUE
from shared.events.data import (
    Contact,
    NeedData,
    NeedWithdrawn,
    OfferData,
    OfferWithdrawn,
    OrganisationRegistered,
)
from shared.events.envelope import CONTENT_TYPE, CloudEvent
from shared.messaging.models import InboxEntry, OutboxMessage
from shared.messaging.nats import STREAM_NAME, NatsLink, provision_stream
from sifang.platform import LocalNats, free_port

__all__ = ["Row", "main"]

RESOLVE_MODES: tuple[ResolveAt, ...] = ("event", "tick")  # COORDINATOR_RESOLVE_AT
BookState = Literal["solved", "cold"]
BOOK_STATES: tuple[BookState, ...] = ("solved", "cold")

COUNTIES = [
    f"61{c:02d}{d:02d}" for c in range(1, 11) for d in range(21, 31)
]  # 100 counties, as bench_matching
EVENT_COUNTIES = COUNTIES[:20]  # the events fall in 20 of them
CATEGORIES = ("produce.fruit.kiwifruit", "training.livestream")  # the book's, one per partition root
# Today, so that the events, the book's windows and the re-solve points (the clock's ticks, at
# the wall clock's time) fall on the same day: a fixed date would let the windows end one by one
# as the calendar moves on, and a book solved before the run would be solved for another day.
START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Row:
    """One measured line of the table."""

    measure: str
    book: int
    events: int
    rate: float  # events (or messages) per second
    baseline: float
    baseline_name: str

    @property
    def ratio(self) -> float:
        return self.rate / self.baseline if self.baseline else 0.0


def _build(
    kind: str,
    org: str,
    name: str,
    data: NeedData | OfferData | NeedWithdrawn | OfferWithdrawn | OrganisationRegistered,
    region: str,
    at: datetime,
) -> tuple[str, CloudEvent]:
    return CATALOGUE[name].build(kind=kind, organisation_id=org, region=region, data=data, time=at)


def stakeholder_history(count: int, seed: int = 3) -> list[tuple[str, CloudEvent]]:
    """``count`` events as the four services publish them: registrations first, then needs and
    offers (community training needs and kiwifruit lots, NGO courses, enterprise procurements),
    about one in eight a later version and one in twelve a withdrawal."""
    rnd = random.Random(seed)
    at = START
    events: list[tuple[str, CloudEvent]] = []

    def tick() -> datetime:
        nonlocal at
        at += timedelta(milliseconds=rnd.randint(5, 50))
        return at

    orgs: dict[str, list[tuple[str, str]]] = {"community": [], "ngo": [], "enterprise": []}
    for kind, many in (("community", 60), ("ngo", 20), ("enterprise", 20)):
        for k in range(many):
            org = f"bench-{kind}-{k:03d}"
            village = f"{EVENT_COUNTIES[k % len(EVENT_COUNTIES)]}104201"
            registration = OrganisationRegistered(
                organisation_id=org,
                name=f"{kind} {k}",
                kind=kind,
                region=village,
                contact=Contact(person="王强"),
            )
            events.append(
                _build(kind, org, "sifang.organisation.registered.v1", registration, village, tick())
            )
            orgs[kind].append((org, village))
    listings: list[tuple[str, str, NeedData | OfferData]] = []  # kind, village, latest data
    serial = 0
    while len(events) < count:
        roll = rnd.random()
        if listings and roll < 0.08:
            kind, village, last = listings.pop(rnd.randrange(len(listings)))
            if isinstance(last, NeedData):
                gone: NeedWithdrawn | OfferWithdrawn = NeedWithdrawn(
                    need_id=last.need_id,
                    organisation_id=last.organisation_id,
                    reason="已解决",
                    version=last.version,
                )
                events.append(
                    _build(kind, last.organisation_id, "sifang.need.withdrawn.v1", gone, village, tick())
                )
            else:
                gone = OfferWithdrawn(
                    offer_id=last.offer_id,
                    organisation_id=last.organisation_id,
                    reason="已售出",
                    version=last.version,
                )
                events.append(
                    _build(kind, last.organisation_id, "sifang.offer.withdrawn.v1", gone, village, tick())
                )
            continue
        if listings and roll < 0.2:
            index = rnd.randrange(len(listings))
            kind, village, last = listings[index]
            newer = last.model_copy(update={"version": last.version + 1, "quantity": last.quantity + 1})
            listings[index] = (kind, village, newer)
            side = "need" if isinstance(newer, NeedData) else "offer"
            events.append(
                _build(kind, newer.organisation_id, f"sifang.{side}.updated.v1", newer, village, tick())
            )
            continue
        serial += 1
        shape = rnd.random()
        data: NeedData | OfferData
        if shape < 0.35:
            kind = "community"
            org, village = rnd.choice(orgs[kind])
            data = NeedData(
                need_id=f"need-{serial:06d}", organisation_id=org, category="training.livestream",
                title="直播带货培训", description="村民学习直播带货", quantity=Decimal(rnd.randint(5, 40)),
                unit="person", region=village, attributes={}, version=1,
            )  # fmt: skip
        elif shape < 0.55:
            kind = "ngo"
            org, village = rnd.choice(orgs[kind])
            data = OfferData(
                offer_id=f"course-{serial:06d}", organisation_id=org, category="training.livestream",
                title="直播带货基础班", description="", quantity=Decimal(rnd.randint(10, 60)), unit="seat",
                region=village, service_area=[village[:6]], attributes={}, version=1,
            )  # fmt: skip
        elif shape < 0.8:
            kind = "community"
            org, village = rnd.choice(orgs[kind])
            data = OfferData(
                offer_id=f"lot-{serial:06d}", organisation_id=org, category="produce.fruit.kiwifruit",
                title="翠香猕猴桃", description="", quantity=Decimal(rnd.randint(1, 20)), unit="t",
                region=village, service_area=[village[:6]], attributes={"grade": "一级"}, version=1,
            )  # fmt: skip
        else:
            kind = "enterprise"
            org, village = rnd.choice(orgs[kind])
            data = NeedData(
                need_id=f"buy-{serial:06d}", organisation_id=org, category="produce.fruit.kiwifruit",
                title="采购猕猴桃", description="", quantity=Decimal(rnd.randint(500, 8000)), unit="kg",
                region=village, attributes={}, version=1,
            )  # fmt: skip
        listings.append((kind, village, data))
        side = "need" if isinstance(data, NeedData) else "offer"
        events.append(_build(kind, org, f"sifang.{side}.published.v1", data, village, tick()))
    return events[:count]


async def publish_all(url: str, history: list[tuple[str, CloudEvent]]) -> int:
    """Publish ``history`` in order with ``Nats-Msg-Id`` set; returns the last stream sequence."""
    link = NatsLink(url, "bench-publisher")
    js = await link.jetstream()
    last = 0
    for start in range(0, len(history), 200):
        acks = [
            js.publish_async(
                subject,
                envelope.to_json(),
                headers={"Content-Type": CONTENT_TYPE, "Nats-Msg-Id": envelope.id},
            )
            for subject, envelope in history[start : start + 200]
        ]
        for ack in await asyncio.gather(*acks):
            last = max(last, (await ack).seq)
    await link.close()
    return last


async def plain_consumer(url: str, durable: str, filters: list[str], total: int, batch: int) -> float:
    """Messages per second of a durable pull consumer that fetches and acks, nothing else."""
    link = NatsLink(url, f"bench-{durable}")
    js = await link.jetstream()
    config = ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        filter_subjects=filters,
        max_ack_pending=batch,
    )
    await js.add_consumer(STREAM_NAME, config=config)
    subscription = await js.pull_subscribe_bind(durable=durable, stream=STREAM_NAME)
    seen = 0
    started = time.perf_counter()
    while seen < total:
        for message in await subscription.fetch(batch, timeout=5):
            await message.ack()
            seen += 1
    elapsed = time.perf_counter() - started
    await link.close()
    return seen / elapsed


def fill_book(url: str, size: int, seed: int = 11) -> None:
    """``size`` open needs and offers (half each) in the bench counties, written in bulk."""
    if size <= 0:
        return
    rnd = random.Random(seed)
    orgs = [f"book-org-{k:05d}" for k in range(max(10, size // 20))]
    common: dict[str, object] = {
        "description": "", "attributes": {}, "status": "open", "withdrawn_reason": None, "version": 1,
        "published_at": START - timedelta(days=1), "updated_at": START - timedelta(days=1),
    }  # fmt: skip
    needs: list[dict[str, object]] = []
    offers: list[dict[str, object]] = []
    areas: list[tuple[str, str]] = []  # offer id, county it serves
    for k in range(size):
        county = rnd.choice(COUNTIES)
        village = f"{county}{rnd.randint(100, 110):03d}{rnd.randint(200, 220):03d}"
        produce = rnd.random() < 0.5
        category = CATEGORIES[0] if produce else CATEGORIES[1]
        window_start = START.date() + timedelta(days=rnd.randint(-10, 30))
        row = common | {
            "organisation_id": rnd.choice(orgs), "category": category, "title": f"item {k}",
            "region": village, "window_start": window_start,
            "window_end": window_start + timedelta(days=rnd.randint(10, 90)),
        }  # fmt: skip
        if k % 2 == 0:
            unit = "kg" if produce else "person"
            quantity = rnd.randint(500, 8000) if produce else rnd.randint(5, 40)
            needs.append(row | {"id": f"book-n{k:07d}", "kind": "enterprise" if produce else "community",
                                "quantity": Decimal(quantity), "unit": unit})  # fmt: skip
        else:
            unit = "t" if produce else "seat"
            quantity = rnd.randint(1, 20) if produce else rnd.randint(10, 60)
            areas.append((f"book-o{k:07d}", county))
            offers.append(row | {"id": f"book-o{k:07d}", "kind": "community" if produce else "ngo",
                                 "quantity": Decimal(quantity), "unit": unit, "service_area": [county]})  # fmt: skip
    engine = build_runtime(CoordinatorSettings(database_url=url)).engine
    with engine.begin() as connection:
        connection.execute(
            insert(RegisteredOrganisation),
            [
                {
                    "id": org,
                    "name": org,
                    "kind": "community",
                    "region": "610124104201",
                    "contact": {},
                    "registered_at": START - timedelta(days=2),
                }
                for org in orgs
            ],
        )
        if needs:
            connection.execute(insert(BookNeed), needs)
        if offers:
            connection.execute(insert(BookOffer), offers)
            connection.execute(
                insert(BookOfferArea),
                [{"offer_id": offer_id, "prefix": county} for offer_id, county in areas],
            )
    engine.dispose()


def solve_book(url: str) -> int:
    """Solve the partitions the events fall in, as the coordinator that kept the book would have
    before the run: with its own ``resolve_all``, the proposals made now (so none expires during
    the run) and published (the outbox emptied, as its relay would have). Returns how many
    proposals stand. The other partitions no event touches are left as they are."""
    settings = CoordinatorSettings(database_url=url)
    runtime = build_runtime(settings)
    partitions = {partition_of(category, county) for category in CATEGORIES for county in EVENT_COUNTIES}
    now = datetime.now(UTC)  # the day the run re-solves on, at each event as at points (``START``)
    with runtime.session_factory() as session:
        cause = Cause(event_id=str(uuid.uuid4()), correlation_id=str(uuid.uuid4()), time=now)
        resolve_all(session, partitions, settings.match_policy, cause)
        session.execute(update(OutboxMessage).values(published_at=now))
        session.commit()
        proposed = int(session.scalar(select(func.count()).select_from(Match)) or 0)
    runtime.engine.dispose()
    return proposed


@contextmanager
def _nats_env(url: str, **more: str) -> Iterator[None]:
    values = {"NATS_URL": url, **more}
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def coordinator_ingest(
    nats_url: str, database_url: str, total: int, last: int, resolve_at: ResolveAt
) -> tuple[float, float, int]:
    """Events per second the coordinator's consumer applied (from start to the inbox row of the
    last stakeholder event), events per second until every partition was solved too (the same
    with ``resolve_at="event"``), and how many matches it wrote. Its outbox relay runs, as in
    the service: it publishes the proposals and, with ``resolve_at="tick"``, the re-solve points."""
    settings = CoordinatorSettings(database_url=database_url, nats_url=nats_url, resolve_at=resolve_at)
    runtime = build_runtime(settings)
    consumer = stakeholder_consumer(settings, runtime)
    started = time.perf_counter()
    tasks = [asyncio.create_task(consumer.run(runtime.link)), asyncio.create_task(runtime.relay.run())]

    def settled() -> int:
        with runtime.session_factory() as session:
            query = select(func.count()).select_from(InboxEntry).where(InboxEntry.stream_sequence <= last)
            return int(session.scalar(query) or 0)

    def waiting() -> int:
        with runtime.session_factory() as session:
            return int(session.scalar(select(func.count()).select_from(DirtyPartition)) or 0)

    try:
        while (done := await asyncio.to_thread(settled)) < total:
            for task in tasks:
                if task.done():
                    task.result()
            await asyncio.sleep(0.02)
        applied = time.perf_counter() - started
        while await asyncio.to_thread(waiting):
            for task in tasks:
                if task.done():
                    task.result()
            await asyncio.sleep(0.02)
        solved = time.perf_counter() - started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):  # a close that hangs must not hang the benchmark
            await asyncio.wait_for(runtime.link.close(), timeout=10)
    with runtime.session_factory() as session:
        made = int(session.scalar(select(func.count()).select_from(Match)) or 0)
    runtime.engine.dispose()
    return done / applied, done / solved, made


async def read_stream(url: str, last: int) -> float:
    """Messages per second of an ordered consumer that only reads the whole stream."""
    link = NatsLink(url, "bench-reader")
    js = await link.jetstream()
    subscription = await js.subscribe(
        "sifang.>", ordered_consumer=True, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    )
    started = time.perf_counter()
    seen = 0
    while True:
        message = await subscription.next_msg(timeout=5)
        seen += 1
        if message.metadata.sequence.stream >= last:
            break
    elapsed = time.perf_counter() - started
    await subscription.unsubscribe()
    await link.close()
    return seen / elapsed


def replay_rate(nats_url: str, directory: Path, last: int, resolve_at: ResolveAt) -> tuple[float, float]:
    """Events per second of ``rebuild_coordinator`` into a fresh SQLite file, and of reading."""
    from sifang.operations import rebuild_coordinator

    target = f"sqlite:///{directory / f'replay-{resolve_at}.db'}"
    upgrade("coordinator", target)  # outside the timing: the rebuild's own upgrade is then a no-op
    with _nats_env(nats_url, COORDINATOR_RESOLVE_AT=resolve_at):
        started = time.perf_counter()
        applied, failed = rebuild_coordinator(target)
        elapsed = time.perf_counter() - started
    if failed:
        raise RuntimeError(f"the replay failed on {failed} events: the figure would be wrong")
    reading = asyncio.run(read_stream(nats_url, last))
    return applied / elapsed, reading


def run(events: int, books: list[int], replay: bool) -> list[Row]:
    directory = Path(tempfile.mkdtemp(prefix="sifang-bench-ingest-"))
    server = LocalNats(free_port(), directory / "nats", directory / "nats.log")
    server.start()
    rows: list[Row] = []
    try:
        asyncio.run(provision_stream(server.url))
        history = stakeholder_history(events)
        last = asyncio.run(publish_all(server.url, history))
        filters = stakeholder_consumer(
            CoordinatorSettings(database_url="sqlite://"),
            build_runtime(CoordinatorSettings(database_url="sqlite://")),
        ).filter_subjects
        plain_1 = asyncio.run(plain_consumer(server.url, "bench-plain-1", filters, len(history), 1))
        plain = asyncio.run(
            plain_consumer(server.url, "bench-plain-batch", filters, len(history), INGEST_BATCH)
        )
        fetched = f"fetch({INGEST_BATCH})+ack"
        rows.append(Row("plain fetch(1)+ack, for scale", 0, len(history), plain_1, plain, fetched))
        # resolving at events first: the ticks the second mode puts on the stream come after
        runs = [
            (mode, book, state)
            for mode in RESOLVE_MODES
            for book in books
            for state in (BOOK_STATES if book else BOOK_STATES[:1])  # an empty book is both
        ]
        for resolve_at, book, state in runs:
            url = f"sqlite:///{directory / f'coordinator-{resolve_at}-{book}-{state}.db'}"
            upgrade("coordinator", url)
            fill_book(url, book)
            standing = solve_book(url) if book and state == "solved" else 0
            rate, solved, made = asyncio.run(
                coordinator_ingest(server.url, url, len(history), last, resolve_at)
            )
            how = f"re-solved at each {resolve_at}" + (f", book {state}" if book else "")
            rows.append(Row(f"ingest ({how}) ÷ {fetched}", book, len(history), rate, plain, fetched))
            if resolve_at == "tick":
                rows.append(
                    Row("… until every partition is solved", book, len(history), solved, plain, fetched)
                )
            print(
                f"  {how}, book {book:,}: {rate:.0f} ev/s applied, {solved:.0f} ev/s solved, "
                f"{made - standing:,} match rows written ({standing:,} standing before)",
                file=sys.stderr,
                flush=True,
            )
            # a fresh durable name for the next run: the consumer is named by the settings
            asyncio.run(_delete_consumer(server.url, "coordinator"))
        if replay:
            for resolve_at in RESOLVE_MODES:
                rate, reading = replay_rate(server.url, directory, last, resolve_at)
                rows.append(
                    Row(
                        f"replay (re-solved at each {resolve_at}) ÷ reading",
                        0,
                        len(history),
                        rate,
                        reading,
                        "ordered read",
                    )
                )
    finally:
        server.stop()
    return rows


async def _delete_consumer(url: str, name: str) -> None:
    link = NatsLink(url, "bench-admin")
    js = await link.jetstream()
    await js.delete_consumer(STREAM_NAME, name)
    await link.close()


def table(rows: list[Row]) -> str:
    lines = [
        "| measure | open book | events | applied ev/s | baseline | baseline msg/s | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.measure} | {r.book:,} | {r.events:,} | {r.rate:,.0f} | {r.baseline_name} | "
            f"{r.baseline:,.0f} | {r.ratio:.2g} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--books", default="0,10000", help="open items pre-filled, one run each")
    parser.add_argument("--no-replay", action="store_true")
    args = parser.parse_args(argv)
    books = [int(b) for b in args.books.split(",") if b]
    rows = run(args.events, books, replay=not args.no_replay)
    print(f"machine: {machine()}; SQLite")
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
