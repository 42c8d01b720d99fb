"""Moving a county from one coordinator partition to another (``sifang partition move``).

A coordinator's record is the replay of the part of the stream it consumes: every stakeholder
event of its counties, every organisation's registration, its ticks and its counties'
instructions. Moving a county changes that part for two coordinators, so the move makes each
side's record what a replay under its new counties gives, and nothing less:

1. both coordinators are stopped: nobody pulls from their durable consumers and nothing is
   delivered to them while the command looks twice; both records are marked as moving, so
   neither coordinator consumes if started before the move is finished;
2. each side is rebuilt from the whole stream into a scratch database, as its own consumer
   (same name, so its ticks and inbox carry over) with its new counties;
3. what the parties have already been told must stand: if a decision on the stream (same id)
   comes out differently, or a match still in force (proposed, accepted, confirmed) exists in
   neither rebuilt record — a pair the new border cuts — nothing is changed and the command
   says which; decisions the rebuild made anew (a pair the border now joins) are published when
   the coordinator starts;
4. the tables a replay makes are replaced in each live database, in one transaction per side,
   the source first (halfway, the county is owned by nobody and its events wait in the stream;
   never by two); the coordinator's own tables (accounts, tokens, webhook subscriptions and
   their deliveries) stay, events it had not yet relayed are kept, and webhooks continue from
   the first decision made anew.

The operator then starts both with the new ``COORDINATOR_REGIONS`` (the command prints them);
their consumers' filters change on start, and whatever the stream got after the rebuild read it
is delivered to them as usual (what they have already applied is skipped by the inbox).
"""

import asyncio
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from nats.js.errors import NotFoundError
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.engine import make_url

from services import service_tables
from services.coordinator.matches.lifecycle import ACTIVE
from shared.db import make_engine, metadata_of, utcnow
from shared.messaging.nats import STREAM_NAME
from shared.regions import InvalidRegion, validate_region
from sifang.operations import admin_link, rebuild_coordinator
from sifang.replay_compare import COORDINATOR_TABLES, normalize, scratch_database

__all__ = ["MovePlan", "MoveRefused", "MoveReport", "Partition", "move_county", "plan_move", "read_partition"]

# What a replay makes, replaced by the rebuilt rows; the other tables are the coordinator's own.
REBUILT_TABLES = (*COORDINATOR_TABLES, "outbox", "coordinator_partition")
COPY_CHUNK = 2000
CONSUMER_PREFIX = "coordinator-"
RUNNING_CHECKS = 4
SHOWN = 5


class MoveRefused(Exception):
    """A move that would leave a record wrong; the message says why and what to do."""


@dataclass(frozen=True)
class Partition:
    """Which part of the stream a coordinator database holds the record of."""

    url: str
    consumer: str
    regions: tuple[str, ...]
    moving: Mapping[str, Any] | None = None

    @property
    def name(self) -> str:
        """Its ``COORDINATOR_PARTITION``: the consumer's name without ``coordinator-``."""
        return self.consumer.removeprefix(CONSUMER_PREFIX)


@dataclass(frozen=True)
class MovePlan:
    """Each side's counties after the move, and which sides are rebuilt (in this order)."""

    source_regions: list[str]
    target_regions: list[str]
    sides: tuple[str, ...] = ("source", "target")


@dataclass
class MoveReport:
    county: str
    source: Partition
    target: Partition
    plan: MovePlan
    events: dict[str, int] = field(default_factory=dict)  # applied by each side's rebuild
    to_publish: dict[str, int] = field(default_factory=dict)  # decided anew, not on the stream
    matches: dict[str, tuple[int, int]] = field(default_factory=dict)  # before, after


def read_partition(url: str) -> Partition:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            query = text("SELECT consumer, regions, moving FROM coordinator_partition")
            row = connection.execute(query).first()
    finally:
        engine.dispose()
    shown = make_url(url).render_as_string(hide_password=True)
    if row is None:
        raise MoveRefused(f"{shown} records no partition: start its coordinator once first")
    regions, moving = (json.loads(v) if isinstance(v, str) else v for v in (row[1], row[2]))
    if not row[0].startswith(CONSUMER_PREFIX):
        raise MoveRefused(f"{shown} is the record of the one coordinator {row[0]!r}, owning every county")
    return Partition(url, row[0], tuple(sorted(regions)), moving)


def plan_move(county: str, source: Partition, target: Partition, *, resume: bool = False) -> MovePlan:
    """What moving ``county`` does (a pure rule). The source drops it first, so a move that
    stops halfway leaves it owned by no one (its events wait in the stream) rather than by two
    partitions allocating the same county; ``resume`` then rebuilds the target, when the target
    records that very move as unfinished."""
    try:
        validate_region(county)
    except InvalidRegion as exc:
        raise MoveRefused(f"{county!r}: {exc}") from exc
    if len(county) != 6:
        raise MoveRefused(f"{county!r} is not a six-digit code: partitions own counties (or cities)")
    if source.consumer == target.consumer:
        raise MoveRefused("the source and the target are the same partition")
    if county in target.regions:
        raise MoveRefused(f"{target.name} owns {county} already")
    if not target.regions:
        raise MoveRefused(f"{target.name} owns every county; a county cannot move to it")
    joined = sorted([*target.regions, county])
    if county not in source.regions:
        unfinished = {"county": county, "source": source.consumer, "target": target.consumer}
        if resume and target.moving == unfinished:
            return MovePlan(list(source.regions), joined, ("target",))
        if resume:
            raise MoveRefused(f"{target.name} records no unfinished move of {county} from {source.name}")
        raise MoveRefused(
            f"{source.name} does not own {county} (it owns {', '.join(source.regions)}); if a move of "
            "it stopped halfway, run it again with --resume"
        )
    remaining = [r for r in source.regions if r != county]
    if not remaining:
        raise MoveRefused(
            f"{county} is the last county of {source.name}: a partition keeps at least one (one "
            "without any would own every county); move another county to it first"
        )
    return MovePlan(remaining, joined)


def move_county(
    county: str, source_url: str, target_url: str, nats_url: str, *, resume: bool = False
) -> MoveReport:
    source, target = read_partition(source_url), read_partition(target_url)
    plan = plan_move(county, source, target, resume=resume)
    consumers = [source.consumer, target.consumer]
    delivered = asyncio.run(_quiet_consumers(nats_url, consumers))
    moving = {"county": county, "source": source.consumer, "target": target.consumer}
    sides = {"source": (source, plan.source_regions), "target": (target, plan.target_regions)}
    marked = [sides[name][0] for name in plan.sides]  # each restored as it was unless replaced
    for side in marked:
        _set_moving(side.url, moving)
    report = MoveReport(county, source, target, plan)
    try:
        published = asyncio.run(_published_coordinator_events(nats_url))
        with ExitStack() as scratches:
            rebuilt: dict[str, str] = {}
            for name in plan.sides:
                side, regions = sides[name]
                scratch = scratches.enter_context(scratch_database(side.url))
                applied, failed = rebuild_coordinator(
                    scratch, regions=regions, partition=side.name, nats_url=nats_url
                )
                if failed:
                    raise MoveRefused(f"rebuilding {side.name}: {failed} events could not be applied")
                report.events[side.name] = applied
                rebuilt[side.name] = scratch
            after = {name: rebuilt.get(side.name, side.url) for name, (side, _) in sides.items()}
            _check_decisions_stand([source.url, target.url], list(after.values()), published)
            for name in plan.sides:
                side, regions = sides[name]
                if asyncio.run(_quiet_consumers(nats_url, consumers, checks=1)) != delivered:
                    raise MoveRefused("a coordinator consumed events during the move: stop it, run again")
                report.to_publish[side.name] = _mark_published(rebuilt[side.name], published)
                report.matches[side.name] = _replace_rebuilt_tables(side, rebuilt[side.name], regions)
                marked.remove(side)
    finally:
        for side in marked:
            _set_moving(side.url, side.moving)
    return report


async def _quiet_consumers(
    nats_url: str, names: Sequence[str], checks: int = RUNNING_CHECKS
) -> dict[str, int]:
    """Each consumer's last delivered stream sequence, after making sure no coordinator runs on
    it: nobody waiting to pull, nothing delivered and unacknowledged, and nothing delivered
    between two looks a second apart. A coordinator that has just stopped leaves a pull request
    that expires within a second or two: looked at again before refusing."""
    link = admin_link(nats_url, "sifang-partition")
    js = await link.jetstream()
    try:
        before = await _delivered(js, names)
        busy: list[str] = []
        for _ in range(checks):
            await asyncio.sleep(1.0)
            now = await _delivered(js, names)
            busy = [n for n in names if now[n][1] or now[n][0] != before[n][0]]
            if not busy:
                return {n: now[n][0] for n in names}
            before = now
        raise MoveRefused(
            f"stop the coordinators first: {', '.join(busy)} still pulling or applying events (one "
            "killed while applying leaves them unacknowledged: start it, let it settle, stop it)"
        )
    finally:
        await link.close()


async def _delivered(js: Any, names: Sequence[str]) -> dict[str, tuple[int, bool]]:
    """Per consumer: the last stream sequence delivered, and whether someone is at it."""
    found = {}
    for name in names:
        try:
            info = await js.consumer_info(STREAM_NAME, name)
        except NotFoundError:  # no such consumer yet: nothing pulls from it
            found[name] = (0, False)
            continue
        found[name] = (info.delivered.stream_seq or 0, bool(info.num_waiting or info.num_ack_pending))
    return found


async def _published_coordinator_events(nats_url: str) -> dict[str, Any]:
    """Every event coordinators have put on the stream: its id and its data."""
    link = admin_link(nats_url, "sifang-partition")
    js = await link.jetstream()
    events: dict[str, Any] = {}
    try:
        subscription = await js.subscribe("sifang.coordinator.>", ordered_consumer=True)
        try:
            while True:
                try:
                    message = await subscription.next_msg(timeout=3)
                except TimeoutError:  # nothing (more) on those subjects
                    break
                body = json.loads(message.data)
                events[str(body["id"])] = body.get("data")
                if message.metadata.num_pending == 0:
                    break
        finally:
            await subscription.unsubscribe()
    finally:
        await link.close()
    return events


def _set_moving(url: str, moving: Mapping[str, Any] | None) -> None:
    engine = make_engine(url)
    table = metadata_of(service_tables("coordinator")).tables["coordinator_partition"]
    try:
        with engine.begin() as connection:
            connection.execute(update(table).values(moving=moving))
    finally:
        engine.dispose()


def _check_decisions_stand(before: Sequence[str], after: Sequence[str], published: Mapping[str, Any]) -> None:
    """Refuse a move that would change what the parties were told: a decision on the stream
    that the rebuild makes differently, or a match in force that no rebuilt record keeps."""
    changed: list[str] = []
    kept: set[str] = set()
    for url in after:
        with _connection(url) as connection:
            for event_id, payload in _outbox(connection):
                if event_id in published and normalize(json.loads(payload).get("data")) != normalize(
                    published[event_id]
                ):
                    changed.append(event_id)
            kept |= set(connection.scalars(text("SELECT id FROM matches")))
    vanished: list[str] = []
    for url in before:
        with _connection(url) as connection:
            rows = connection.execute(text("SELECT id, status FROM matches"))
            vanished += [match_id for match_id, status in rows if status in ACTIVE and match_id not in kept]
    if changed or vanished:
        problems = []
        if vanished:
            problems.append(
                f"{len(vanished)} matches in force would belong to no partition (a pair the new border "
                f"cuts), e.g. {', '.join(sorted(vanished)[:SHOWN])}: let them finish or be withdrawn first, "
                "or move the county of the other side too"
            )
        if changed:
            problems.append(
                f"{len(changed)} decisions the parties have seen would come out differently, e.g. "
                f"{', '.join(sorted(changed)[:SHOWN])}"
            )
        raise MoveRefused("; ".join(problems) + ". Nothing was changed.")


@contextmanager
def _connection(url: str) -> Iterator[Connection]:
    """A connection to ``url`` whose engine is disposed of afterwards."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _outbox(connection: Connection) -> Iterator[tuple[str, str]]:
    for event_id, payload in connection.execute(text("SELECT event_id, payload FROM outbox")):
        yield str(event_id), str(payload)


def _mark_published(url: str, published: Mapping[str, Any]) -> int:
    """Mark the rebuilt outbox's events that are on the stream already; the number left."""
    engine = make_engine(url)
    outbox = metadata_of(service_tables("coordinator")).tables["outbox"]
    try:
        with engine.begin() as connection:
            ids = list(connection.scalars(select(outbox.c.event_id).where(outbox.c.published_at.is_(None))))
            on_stream = [i for i in ids if i in published]
            for chunk in _chunks(on_stream, 500):
                connection.execute(
                    update(outbox).where(outbox.c.event_id.in_(chunk)).values(published_at=utcnow())
                )
    finally:
        engine.dispose()
    return len(ids) - len(on_stream)


def _replace_rebuilt_tables(side: Partition, scratch_url: str, regions: list[str]) -> tuple[int, int]:
    """Replace the live database's replayed tables by the rebuilt ones, in one transaction;
    the number of matches before and after."""
    metadata = metadata_of(service_tables("coordinator"))
    tables = [t for t in metadata.sorted_tables if t.name in REBUILT_TABLES]
    outbox = metadata.tables["outbox"]
    live, rebuilt = make_engine(side.url), make_engine(scratch_url)
    try:
        with live.begin() as target, rebuilt.connect() as origin:
            before = target.scalar(select(func.count()).select_from(metadata.tables["matches"])) or 0
            waiting = select(outbox).where(outbox.c.published_at.is_(None))
            unrelayed = [dict(row) for row in target.execute(waiting).mappings()]
            for table in reversed(tables):
                # inbox and dead letters: only this consumer's rows are the replay's
                mine = table.c.consumer == side.consumer if "consumer" in table.c else None
                target.execute(delete(table) if mine is None else delete(table).where(mine))
            for table in tables:
                for rows in _chunks(_rows(origin, table), COPY_CHUNK):
                    target.execute(insert(table), rows)
            _advance_sequences(live, target, tables)
            rebuilt_ids = set(target.scalars(select(outbox.c.event_id)))
            for row in unrelayed:  # events it had not relayed yet (instructions): still to go
                if row["event_id"] not in rebuilt_ids:
                    target.execute(insert(outbox).values({k: v for k, v in row.items() if k != "id"}))
            target.execute(delete(metadata.tables["coordinator_partition"]))  # the rebuild's own
            record = {"consumer": side.consumer, "regions": regions, "moving": None}
            target.execute(insert(metadata.tables["coordinator_partition"]).values(**record))
            _continue_webhooks(target, metadata.tables)
            after = target.scalar(select(func.count()).select_from(metadata.tables["matches"])) or 0
    finally:
        live.dispose()
        rebuilt.dispose()
    return before, after


def _rows(connection: Connection, table: Any) -> Iterator[dict[str, Any]]:
    for row in connection.execute(select(table)).mappings():
        # dead letters: numbered anew, beside other consumers' rows
        yield {k: v for k, v in row.items() if not (table.name == "dead_letters" and k == "id")}


def _continue_webhooks(connection: Connection, tables: Any) -> None:
    """Webhook subscriptions carry on from the first decision the rebuild made anew (what the
    parties have not been told yet), or after the rebuilt log: the history the move brought in
    is not sent again as if it were new."""
    log, outbox = tables["event_log"], tables["outbox"]
    new = select(outbox.c.event_id).where(outbox.c.published_at.is_(None))
    first_new = connection.scalar(select(func.min(log.c.position)).where(log.c.event_id.in_(new)))
    last = connection.scalar(select(func.max(log.c.position))) or 0
    through = first_new - 1 if first_new is not None else last
    connection.execute(update(tables["webhook_subscriptions"]).values(enqueued_through=through))


def _advance_sequences(engine: Engine, connection: Connection, tables: Iterable[Any]) -> None:
    """On PostgreSQL, move serial columns' sequences past the ids copied in."""
    if engine.dialect.name != "postgresql":
        return
    for table in tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                        f"COALESCE((SELECT max({column.name}) FROM {table.name}), 0) + 1, false)"
                    )
                )


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
