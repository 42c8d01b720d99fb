"""Moving a county from one coordinator partition to another (``sifang partition move``).

A coordinator's record is the replay of the part of the stream it consumes: every stakeholder
event of its counties, every organisation's registration, its ticks and its counties'
instructions. Moving a county changes that part for two coordinators, so the move makes each
side's record what a replay under its new counties gives, and nothing less:

1. both coordinators are stopped (their durable consumers have no one pulling);
2. each side is rebuilt from the whole stream into a scratch database, as its own consumer
   (same name, so its ticks and inbox carry over) with its new counties;
3. of the events the rebuild decided, those already on the stream (the same id: decided the
   same way before) are marked published; the rest (a match that now falls differently) will be
   published when the coordinator starts;
4. the tables a replay makes are replaced in the live database, in one transaction, by the
   rebuilt ones; the coordinator's own tables (accounts, tokens, webhook subscriptions and
   their deliveries) stay, and webhooks continue after the rebuilt log's last position.

The operator then starts both with the new ``COORDINATOR_REGIONS`` (the command prints them);
their consumers' filters change on start, and whatever the stream got after the rebuild read it
is delivered to them as usual (what they have already applied is skipped by the inbox).
"""

import asyncio
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from nats.js.errors import NotFoundError
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.engine import make_url

from services import service_tables
from shared.db import make_engine, metadata_of, utcnow
from shared.messaging.access import admin_credentials
from shared.messaging.nats import STREAM_NAME, NatsLink
from shared.regions import InvalidRegion, validate_region
from sifang.operations import rebuild_coordinator
from sifang.replay_compare import COORDINATOR_TABLES, scratch_database

__all__ = ["MovePlan", "MoveRefused", "MoveReport", "Partition", "move_county", "plan_move", "read_partition"]

# What a replay makes, replaced by the rebuilt rows; the other tables are the coordinator's own.
REBUILT_TABLES = (*COORDINATOR_TABLES, "outbox", "coordinator_partition")
COPY_CHUNK = 2000
CONSUMER_PREFIX = "coordinator-"
RUNNING_CHECKS = 4


class MoveRefused(Exception):
    """A move that would leave a record wrong; the message says why and what to do."""


@dataclass(frozen=True)
class Partition:
    """Which part of the stream a coordinator database holds the record of."""

    url: str
    consumer: str
    regions: tuple[str, ...]

    @property
    def name(self) -> str:
        """Its ``COORDINATOR_PARTITION``: the consumer's name without ``coordinator-``."""
        return self.consumer.removeprefix(CONSUMER_PREFIX)


@dataclass
class MoveReport:
    county: str
    source: Partition
    target: Partition
    plan: "MovePlan"
    events: dict[str, int] = field(default_factory=dict)  # applied by each side's rebuild
    to_publish: dict[str, int] = field(default_factory=dict)  # decided anew, not on the stream
    matches: dict[str, tuple[int, int]] = field(default_factory=dict)  # before, after


def read_partition(url: str) -> Partition:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT consumer, regions FROM coordinator_partition")).first()
    finally:
        engine.dispose()
    shown = make_url(url).render_as_string(hide_password=True)
    if row is None:
        raise MoveRefused(f"{shown} records no partition: start its coordinator once first")
    regions = json.loads(row[1]) if isinstance(row[1], str) else list(row[1])
    if not row[0].startswith(CONSUMER_PREFIX):
        raise MoveRefused(
            f"{shown} is the record of the single coordinator {row[0]!r}, which owns every county"
        )
    return Partition(url, row[0], tuple(sorted(regions)))


@dataclass(frozen=True)
class MovePlan:
    """Each side's counties after the move, and which sides are rebuilt (in this order)."""

    source_regions: list[str]
    target_regions: list[str]
    sides: tuple[str, ...] = ("source", "target")


def plan_move(county: str, source: Partition, target: Partition, *, resume: bool = False) -> MovePlan:
    """What moving ``county`` does (a pure rule). The source drops it first, so a move that
    stops halfway leaves it owned by no one (its events wait in the stream) rather than by two
    partitions allocating the same county; ``resume`` then rebuilds the target."""
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
        if resume:  # the source dropped it before the move stopped
            return MovePlan(list(source.regions), joined, ("target",))
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
    running = asyncio.run(_running_consumers(nats_url, [source.consumer, target.consumer]))
    if running:
        raise MoveRefused(f"stop the coordinators first: {', '.join(running)} still pulling events")
    published = asyncio.run(_published_coordinator_events(nats_url))
    report = MoveReport(county, source, target, plan)
    sides = {"source": (source, plan.source_regions), "target": (target, plan.target_regions)}
    for name in plan.sides:
        side, regions = sides[name]
        with scratch_database(side.url) as scratch:
            applied, failed = rebuild_coordinator(scratch, regions=regions, partition=side.name)
            if failed:
                raise MoveRefused(f"rebuilding {side.name}: {failed} events could not be applied")
            report.events[side.name] = applied
            report.to_publish[side.name] = _mark_published(scratch, published)
            report.matches[side.name] = _replace_rebuilt_tables(side, scratch, regions)
    return report


async def _running_consumers(nats_url: str, names: Sequence[str]) -> list[str]:
    """The consumers someone is pulling from: their coordinator is running. A coordinator that
    has just stopped leaves a pull request that expires within a second or two: looked at again."""
    admin = admin_credentials()
    link = NatsLink(nats_url, "sifang-partition", user=admin.get("user"), password=admin.get("password"))
    js = await link.jetstream()
    running: list[str] = []
    try:
        for attempt in range(RUNNING_CHECKS):
            running = []
            for name in names:
                try:
                    info = await js.consumer_info(STREAM_NAME, name)
                except NotFoundError:  # no such consumer yet: nothing pulls from it
                    continue
                if info.num_waiting:
                    running.append(name)
            if not running or attempt == RUNNING_CHECKS - 1:
                break
            await asyncio.sleep(1.0)
    finally:
        await link.close()
    return running


async def _published_coordinator_events(nats_url: str) -> set[str]:
    """The ids of every event coordinators have put on the stream."""
    admin = admin_credentials()
    link = NatsLink(nats_url, "sifang-partition", user=admin.get("user"), password=admin.get("password"))
    js = await link.jetstream()
    ids: set[str] = set()
    try:
        subscription = await js.subscribe("sifang.coordinator.>", ordered_consumer=True)
        try:
            while True:
                try:
                    message = await subscription.next_msg(timeout=3)
                except TimeoutError:  # nothing (more) on those subjects
                    break
                ids.add(str(json.loads(message.data)["id"]))
                if message.metadata.num_pending == 0:
                    break
        finally:
            await subscription.unsubscribe()
    finally:
        await link.close()
    return ids


def _mark_published(url: str, published: set[str]) -> int:
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
    live, rebuilt = make_engine(side.url), make_engine(scratch_url)
    try:
        with live.begin() as target, rebuilt.connect() as origin:
            before = target.scalar(select(func.count()).select_from(metadata.tables["matches"])) or 0
            for table in reversed(tables):
                # inbox and dead letters: only this consumer's rows are the replay's
                mine = table.c.consumer == side.consumer if "consumer" in table.c else None
                target.execute(delete(table) if mine is None else delete(table).where(mine))
            for table in tables:
                for rows in _chunks(_rows(origin, table), COPY_CHUNK):
                    target.execute(insert(table), rows)
            target.execute(delete(metadata.tables["coordinator_partition"]))  # the rebuild's own
            target.execute(
                insert(metadata.tables["coordinator_partition"]).values(
                    consumer=side.consumer, regions=regions
                )
            )
            _continue_webhooks(target, metadata.tables)
            _advance_sequences(live, target, tables)
            after = target.scalar(select(func.count()).select_from(metadata.tables["matches"])) or 0
    finally:
        live.dispose()
        rebuilt.dispose()
    return before, after


def _rows(connection: Connection, table: Any) -> Iterator[dict[str, Any]]:
    for row in connection.execute(select(table)).mappings():
        yield dict(row)


def _continue_webhooks(connection: Connection, tables: Any) -> None:
    """Webhook subscriptions carry on after the rebuilt log: the history the move brought in
    is not sent again as if it were new."""
    last = connection.scalar(select(func.max(tables["event_log"].c.position))) or 0
    connection.execute(update(tables["webhook_subscriptions"]).values(enqueued_through=last))


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
