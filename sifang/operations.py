"""What the CLI's operator commands do, apart from printing: health checks, replays, re-drives."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from services import SERVICES, service_settings
from services.coordinator.app import CoordinatorSettings, stakeholder_consumer
from services.coordinator.settings import consumer_filters, consumer_name
from services.migrate import current_heads, newest_heads, upgrade
from shared.app import build_runtime
from shared.db import make_engine, utcnow
from shared.messaging.access import admin_credentials
from shared.messaging.consumer import Delivery, EventConsumer, Outcome
from shared.messaging.models import DeadLetter
from shared.messaging.nats import STREAM_NAME, NatsLink, servers, subject_matches

__all__ = [
    "Check",
    "Replay",
    "admin_link",
    "compare_coordinators",
    "doctor",
    "rebuild_coordinator",
    "record_check",
    "redrive",
    "replay_live",
]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    advice: str = ""


async def _nats_checks(nats_url: str) -> list[Check]:
    import nats

    try:
        client = await nats.connect(
            servers(nats_url),
            connect_timeout=3,
            max_reconnect_attempts=0,
            allow_reconnect=False,
            **admin_credentials(),
        )
    except Exception as exc:
        return [
            Check(
                "nats",
                False,
                f"cannot reach {nats_url}: {exc}",
                "start it (make run starts one) or set NATS_URL",
            )
        ]
    checks = [Check("nats", True, f"connected to {nats_url} (server {client.connected_server_version})")]
    js = client.jetstream(timeout=5)
    try:
        info = await js.stream_info(STREAM_NAME)
        checks.append(
            Check(
                "stream",
                True,
                f"{STREAM_NAME}: {info.state.messages} events, last sequence "
                f"{info.state.last_seq}, {info.config.storage} storage, "
                f"{info.config.retention} retention",
            )
        )
        consumers = await js.consumers_info(STREAM_NAME)
        for consumer in sorted(consumers, key=lambda c: c.name):
            lag = consumer.num_pending or 0
            behind = lag > 1000 or (consumer.num_ack_pending or 0) > 100
            checks.append(
                Check(
                    f"consumer {consumer.name}",
                    not behind,
                    f"{lag} waiting, {consumer.num_ack_pending} unacknowledged, "
                    f"{consumer.num_redelivered} redelivered",
                    "the service behind it is down or slow: check its log" if behind else "",
                )
            )
        if not consumers:
            checks.append(Check("consumers", False, "no durable consumers", "start the coordinator"))
    except Exception as exc:
        checks.append(
            Check("stream", False, f"{STREAM_NAME} not found: {exc}", "start a service once: it creates it")
        )
    await client.close()
    return checks


def _database_checks() -> list[Check]:
    checks = []
    for service in SERVICES:
        url = service_settings(service).effective_database_url
        try:
            engine = make_engine(url)
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                current = current_heads(connection)
            engine.dispose()
        except Exception as exc:
            checks.append(
                Check(
                    f"database {service}",
                    False,
                    f"cannot open: {type(exc).__name__}: {exc}"[:300],
                    f"check {service.upper()}_DATABASE_URL",
                )
            )
            continue
        newest = newest_heads(service)
        ok = current == newest
        checks.append(
            Check(
                f"database {service}",
                ok,
                f"migration {', '.join(current) or 'none'} (newest {', '.join(newest)})",
                "" if ok else "run `make migrate`",
            )
        )
    return checks


def _coordinator_checks() -> list[Check]:
    """Events held for what they wait for, and dead letters not yet re-driven."""
    from sqlalchemy import func

    from services.coordinator.journal.models import HeldEvent

    settings = service_settings("coordinator")
    checks: list[Check] = []
    try:
        engine = make_engine(settings.effective_database_url)
        with Session(engine) as session:
            held = list(session.scalars(select(HeldEvent).order_by(HeldEvent.held_at).limit(3)))
            held_count = session.scalar(select(func.count()).select_from(HeldEvent)) or 0
            dead = (
                session.scalar(
                    select(func.count()).select_from(DeadLetter).where(DeadLetter.redriven_at.is_(None))
                )
                or 0
            )
        engine.dispose()
    except Exception as exc:
        return [Check("coordinator record", False, f"cannot read: {type(exc).__name__}"[:200])]
    waits = "; ".join(f"{h.event_id} since {h.held_at:%Y-%m-%d %H:%M}: {h.reason}" for h in held)
    checks.append(
        Check(
            "held events",
            held_count == 0,
            f"{held_count} waiting for what they build on" + (f" (oldest: {waits})" if waits else ""),
            "they apply by themselves when it arrives, or are dead-lettered when their wait runs out"
            if held_count
            else "",
        )
    )
    checks.append(
        Check(
            "dead letters",
            dead == 0,
            f"{dead} not re-driven",
            "see `sifang dead-letters list coordinator`" if dead else "",
        )
    )
    return checks  # the consumer's own state (running or paused, and why) is in /healthz


# How many messages past its record that the coordinator's consumer acknowledged a doctor reads
# at most, looking for events the record lacks.
DOCTOR_SCAN = 10_000


async def _positions(nats_url: str, consumer: str) -> tuple[int, int]:
    """The stream's last sequence, and the last ``consumer`` acknowledged (0: none, or no such
    consumer)."""
    link = admin_link(nats_url, "sifang-positions")
    try:
        js = await link.jetstream()
        stream_last = int((await js.stream_info(STREAM_NAME)).state.last_seq)
        try:
            info = await js.consumer_info(STREAM_NAME, consumer)
        except NotFoundError:
            return stream_last, 0
        return stream_last, int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
    finally:
        await link.close()


async def _events_between(
    nats_url: str, filters: list[str], after: int, through: int
) -> list[tuple[int, str | None]]:
    """The sequences and event ids (None: not an event) of the stream's messages of ``filters``
    after ``after`` through ``through``."""
    link = admin_link(nats_url, "sifang-doctor")
    try:
        js = await link.jetstream()
        return [
            (message.metadata.sequence.stream, _event_id(message.data))
            async for message in _stream_messages(js, after, through)
            if any(subject_matches(f, message.subject) for f in filters)
        ]
    finally:
        await link.close()


async def _stream_messages(js: JetStreamContext, after: int, through: int) -> AsyncIterator[Msg]:
    """The stream's messages after sequence ``after`` through ``through`` (which it holds), in
    order; nothing past ``through`` even if the message there was deleted."""
    if through <= after:
        return
    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
    subscription = await js.subscribe("sifang.>", ordered_consumer=True, config=config)
    try:
        while True:
            message = await subscription.next_msg(timeout=5)
            sequence = message.metadata.sequence.stream
            if sequence > through:
                return
            yield message
            if sequence >= through:
                return
    finally:
        await subscription.unsubscribe()


def _event_id(data: bytes) -> str | None:
    try:
        envelope = json.loads(data)
    except ValueError:
        return None
    event_id = envelope.get("id") if isinstance(envelope, dict) else None
    return event_id if isinstance(event_id, str) else None


def record_check(nats_url: str, settings: CoordinatorSettings) -> Check:
    """Whether the coordinator's record holds every event its durable consumer acknowledged, and
    the stream every message the record processed.

    The acknowledgement is read first: the coordinator acknowledges after committing, so a
    running coordinator's record holds at least what was acknowledged before it is read. An
    acknowledged event past the last sequence the record processed (applied, held or
    dead-lettered) that no inbox row holds (not even an earlier copy's) was lost by the record,
    its database restored from an older copy, and the consumer will not deliver it again. Up to
    ``DOCTOR_SCAN`` messages are looked at.
    """
    from sifang.replay_compare import live_mark, unrecorded

    name = "coordinator record and stream"
    url = settings.effective_database_url
    try:
        stream_last, acknowledged = asyncio.run(_positions(nats_url, consumer_name(settings)))
        mark = live_mark(url)
        through = min(acknowledged, stream_last, mark.sequence + DOCTOR_SCAN)
        events = asyncio.run(
            _events_between(nats_url, consumer_filters(settings.regions), mark.sequence, through)
        )
        lost = unrecorded(url, events)
    except Exception as exc:
        return Check(name, False, f"cannot compare them: {type(exc).__name__}: {exc}"[:300])
    if mark.sequence > stream_last:
        return Check(
            name,
            False,
            f"the record processed the stream through sequence {mark.sequence}, but the stream ends "
            f"at {stream_last}",
            "the stream was restored from an older backup, or is another deployment's: restore the "
            "newer stream backup, or rebuild the coordinator from this stream (deploy/README.md, Backups)",
        )
    if lost:
        # past DOCTOR_SCAN messages there may be more
        counted = f"{len(lost)} or more events" if through < acknowledged else f"{len(lost)} event"
        counted += "s" if len(lost) > 1 and through >= acknowledged else ""
        at = f"sequence {lost[0]}" if len(lost) == 1 else f"sequences {lost[0]}–{lost[-1]}"
        return Check(
            name,
            False,
            f"{counted} its consumer acknowledged not in the record (stream {at}; the record has "
            f"processed through {mark.sequence}, the consumer acknowledged through {acknowledged})",
            "its database was restored from a copy older than the stream and the consumer will not "
            "deliver them again: restore a newer copy, or rebuild the database from the stream "
            "(deploy/README.md, Backups); `sifang replay` shows what differs",
        )
    return Check(
        name,
        True,
        f"processed through sequence {mark.sequence}, acknowledged through {acknowledged}, "
        f"the stream ends at {stream_last}",
    )


def doctor(nats_url: str) -> list[Check]:
    coordinator = service_settings("coordinator")
    checks = asyncio.run(_nats_checks(nats_url)) + _database_checks() + _coordinator_checks()
    return [*checks, record_check(nats_url, coordinator)]


def admin_link(nats_url: str, name: str) -> NatsLink:
    """A link as the operator's admin user: reading the whole stream with an ordered consumer,
    or other consumers' state, needs more than a service's user may do."""
    admin = admin_credentials()
    return NatsLink(nats_url, name, user=admin.get("user"), password=admin.get("password"))


async def _replay(
    settings: CoordinatorSettings, consumer: EventConsumer, after: int, through: int | None
) -> tuple[int, int, int, int]:
    """Apply the stream's messages after sequence ``after`` through ``through`` (None: its last)
    with ``consumer``: the counts processed and failed, the sequence it applied through (no
    further than the stream's last) and the stream's last sequence."""
    link = admin_link(settings.nats_url, "sifang-replay")
    js = await link.jetstream()
    stream_last = (await js.stream_info(STREAM_NAME)).state.last_seq
    last = stream_last if through is None else min(through, stream_last)
    applied = failed = 0
    batch: list[Delivery] = []

    async def apply_batch() -> None:
        nonlocal applied, failed, batch
        outcomes = await asyncio.to_thread(_apply_batch, consumer, batch)
        applied += sum(outcome is not Outcome.RETRY for outcome in outcomes)
        failed += sum(outcome is Outcome.RETRY for outcome in outcomes)
        batch = []

    async for message in _stream_messages(js, after, last):
        if any(subject_matches(f, message.subject) for f in consumer.filter_subjects):
            sequence = message.metadata.sequence.stream
            batch.append(Delivery(message.subject, message.data, dict(message.headers or {}), sequence, 1))
        if len(batch) >= consumer.batch_size:
            await apply_batch()
    if batch:
        await apply_batch()
    await link.close()
    return applied, failed, max(after, last), stream_last


def _apply_batch(consumer: EventConsumer, batch: list[Delivery]) -> list[Outcome]:
    """The batch in one transaction as the live consumer applies it, or one event at a time."""
    outcomes = consumer.process_batch(batch) if len(batch) > 1 else None
    return outcomes if outcomes is not None else [consumer.process(delivery) for delivery in batch]


def rebuild_coordinator(
    target_url: str, *, after: int = 0, through: int | None = None, **overrides: Any
) -> tuple[int, int]:
    """Apply the stream in order to the coordinator database at ``target_url`` (fresh, or rebuilt
    through ``after`` already), as the coordinator configured by the environment (and
    ``overrides``: regions, partition) would: its messages after ``after`` through ``through``
    (None: the stream's last). The counts of events processed and failed."""
    applied, failed, _, _ = _rebuild(target_url, after, through, overrides)
    return applied, failed


def _rebuild(
    target_url: str, after: int, through: int | None, overrides: dict[str, Any]
) -> tuple[int, int, int, int]:
    upgrade("coordinator", target_url)
    settings = CoordinatorSettings(database_url=target_url, **overrides)
    runtime = build_runtime(settings)
    try:
        return asyncio.run(_replay(settings, stakeholder_consumer(settings, runtime), after, through))
    finally:
        runtime.engine.dispose()


def compare_coordinators(live_url: str, rebuilt_url: str) -> dict[str, Any]:
    """Per table: identical, or which rows differ, comparing typed values (see ``replay_compare``)."""
    from sifang.replay_compare import COORDINATOR_TABLES, compare_databases

    return compare_databases(live_url, rebuilt_url, COORDINATOR_TABLES)


# How often a replay extends its rebuild to where a running coordinator has got, and compares
# again, before it gives up on finding the record still for the length of one comparison.
REPLAY_ROUNDS = 6


@dataclass
class Replay:
    """A rebuild compared with the live record: ``report`` per table (see ``compare_databases``),
    ``through`` the stream sequence the rebuild applied up to (as far as the live coordinator had
    got), and ``stream_last`` the stream's last sequence then. ``settled``:
    the live record did not change while it was read (otherwise the report may be torn)."""

    applied: int
    failed: int
    through: int
    stream_last: int
    report: dict[str, Any]
    rounds: int
    settled: bool
    live_through: int  # how far the live coordinator had got: beyond ``stream_last``, the
    # stream lacks messages it applied (restored from an older backup, or another stream)

    @property
    def identical(self) -> bool:
        return self.settled and not self.failed and all(r["identical"] for r in self.report.values())


def replay_live(live_url: str, target_url: str, rounds: int = REPLAY_ROUNDS) -> Replay:
    """Rebuild the coordinator at ``live_url`` into ``target_url`` and compare the two.

    The rebuild applies the stream as far as the live coordinator has got, not to the stream's
    end: a running coordinator may not have applied the newest messages yet (its clock's tick,
    say), and may apply more while it is compared. How far it got is the later of what its
    record says it processed (``live_mark``: the last sequence it applied, held or dead-lettered)
    and what its durable consumer acknowledged, read first (it acknowledges after committing):
    a record that lost transactions the consumer had acknowledged — restored from an older
    backup, say — is rebuilt past them and differs. Both are read before each comparison and
    again after it; if the coordinator moved on meanwhile, the rebuild is extended and compared
    again, up to ``rounds`` times.
    """
    from sifang.replay_compare import LiveMark, live_mark

    settings = CoordinatorSettings()

    def position() -> tuple[int, LiveMark]:
        # the coordinator acknowledges a message after committing what it did with it
        _, acknowledged = asyncio.run(_positions(settings.nats_url, consumer_name(settings)))
        return acknowledged, live_mark(live_url)

    acknowledged, mark = position()
    rebuilt = applied = failed = stream_last = 0
    report: dict[str, Any] = {}
    for round_number in range(1, rounds + 1):
        through = max(acknowledged, mark.sequence)
        if round_number == 1 or through > rebuilt:
            more, bad, rebuilt, stream_last = _rebuild(target_url, rebuilt, through, {})
            applied, failed = applied + more, failed + bad
        report = compare_coordinators(live_url, target_url)
        after = position()
        if after == (acknowledged, mark):
            return Replay(applied, failed, rebuilt, stream_last, report, round_number, True, through)
        acknowledged, mark = after
    return Replay(applied, failed, rebuilt, stream_last, report, rounds, False, through)


def redrive(service: str, dead_letter_id: int) -> str:
    """Process a dead letter again through its consumer's handler (after a fix, or once what it
    needed has arrived); it is marked re-driven when it applies."""
    settings = service_settings(service)
    runtime = build_runtime(settings)
    try:
        with runtime.session_factory() as session:
            letter = session.get(DeadLetter, dead_letter_id)
            if letter is None:
                raise LookupError(f"no dead letter {dead_letter_id} in the {service} database")
            if letter.redriven_at is not None:
                return f"already re-driven at {letter.redriven_at}"
            delivery = Delivery(
                letter.subject, letter.payload, dict(letter.headers), letter.stream_sequence, 1
            )
            consumer_name = letter.consumer
        consumer = _consumer_for(service, consumer_name, settings, runtime.session_factory, runtime)
        outcome = consumer.process(delivery, keep_dead_letters=False)
        if outcome in (Outcome.APPLIED, Outcome.DUPLICATE):
            with runtime.session_factory() as session:
                letter = session.get(DeadLetter, dead_letter_id)
                assert letter is not None
                letter.redriven_at = utcnow()
                session.commit()
        return outcome.value
    finally:
        runtime.engine.dispose()


def _consumer_for(
    service: str, name: str, settings: Any, sessions: sessionmaker[Session], runtime: Any
) -> EventConsumer:
    if service == "coordinator" and name.startswith("coordinator-webhooks"):
        raise LookupError(
            "the coordinator-webhooks consumer is gone: webhooks now follow the coordinator's "
            "event log, so this letter needs no re-drive"
        )
    if service == "coordinator":
        return stakeholder_consumer(settings, runtime)
    from shared.stakeholder.app import apply_coordinator_event

    return EventConsumer(
        name=name,
        filter_subjects=["sifang.coordinator.>"],
        session_factory=sessions,
        handler=apply_coordinator_event,
    )


def dead_letters(service: str) -> list[DeadLetter]:
    engine = make_engine(service_settings(service).effective_database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))
    finally:
        engine.dispose()
