"""Webhooks: every accepted event a subscription's filters pass is delivered to its URL, signed
per the Standard Webhooks specification (the ``standardwebhooks`` library), retried on the
configured schedule and logged; a subscription can replay what it missed from a point in time.

- **Enqueuing** reads the coordinator's event log (``services.coordinator.feed``), never the
  raw stream, so nothing the coordinator refused is ever sent. Each subscription keeps a
  cursor, the last log position enqueued, moved in the same transaction as the deliveries it
  adds: a restart resumes where it stopped, losing and repeating nothing.
- **Sending** is isolated per subscription: each active one has its own task, its own HTTP
  connections and at most ``concurrency`` requests in flight (default one, so a healthy
  endpoint receives events in log order), taking its due deliveries oldest first; a delivery
  waiting for its retry does not hold back later ones. A slow or dead endpoint delays only
  its own deliveries.
- **Retries:** after the n-th failed attempt the delivery waits ``backoff[n-1]`` seconds,
  counted from that failure; past the schedule it is dead (kept in the log, replayable).
- **Stopping:** deleting or disabling a subscription cancels its pending deliveries in the
  same transaction, and its task stops; an answer still in flight changes nothing. A
  subscription whose every attempt has failed for ``disable_after`` seconds is disabled with
  the reason.
- **Destinations** (``services.coordinator.destinations``): before each attempt the URL's
  host is resolved again and every address checked against the operator's policy; a
  forbidden one (DNS may have changed since the subscription was accepted) makes the
  delivery dead at once, ``undeliverable: <reason>`` in its log, and nothing is sent.
  Otherwise the request goes to an address just checked (the name is not resolved again in
  between), with the URL's ``Host`` and TLS server name. Redirects are never followed: a
  3xx answer is a failed attempt like any other.
"""

import asyncio
import base64
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from nats.js.errors import NotFoundError
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook

from services.coordinator.integrations.destinations import DestinationPolicy, Refused, Target, check_url
from services.coordinator.integrations.feed import FeedEntry, Wakeup, entries_after, position_before
from services.coordinator.integrations.models import WebhookDelivery, WebhookSubscription
from shared.db import utcnow
from shared.events.envelope import CONTENT_TYPE
from shared.events.filters import EventFilter
from shared.messaging.nats import STREAM_NAME, NatsLink

__all__ = [
    "POSITION_HEADER",
    "WebhookSender",
    "disable",
    "enqueue_new",
    "new_secret",
    "replay_since",
    "retire_raw_stream_consumer",
    "run_enqueuer",
]

log = logging.getLogger(__name__)

POSITION_HEADER = "sifang-position"  # the event's position in the coordinator's log
RAW_STREAM_CONSUMER = "coordinator-webhooks"  # fed webhooks from the raw stream before 0007
ENQUEUE_BATCH = 500


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _filter(subscription: WebhookSubscription) -> EventFilter:
    return EventFilter(
        tuple(subscription.types),
        tuple(subscription.kinds),
        tuple(subscription.regions),
        tuple(subscription.organisations),
    )


def _delivery(subscription_id: str, entry: FeedEntry, replay: bool, now: datetime) -> WebhookDelivery:
    return WebhookDelivery(
        subscription_id=subscription_id,
        event_id=entry.event_id,
        event_type=entry.event_type,
        position=entry.position,
        stream_sequence=entry.stream_sequence,
        payload=entry.payload,
        replay=replay,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        last_status_code=None,
        last_error="",
        delivered_at=None,
        created_at=now,
    )


def disable(session: Session, subscription: WebhookSubscription, reason: str) -> int:
    """Stop ``subscription`` and cancel its pending deliveries; returns how many were cancelled."""
    now = utcnow()
    subscription.active = False
    subscription.disabled_at = now
    subscription.disabled_reason = reason
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription.id, WebhookDelivery.status == "pending")
        .values(status="cancelled")
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- enqueuing ----------------------------------------------------------------------------------


def enqueue_new(session_factory: sessionmaker[Session], batch: int = ENQUEUE_BATCH) -> int:
    """For each active subscription, one pending delivery per new log entry its filters pass."""
    with session_factory() as session:
        ids = list(
            session.scalars(select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True)))
        )
    return sum(_enqueue_for(session_factory, subscription_id, batch) for subscription_id in ids)


def _enqueue_for(session_factory: sessionmaker[Session], subscription_id: str, batch: int) -> int:
    with session_factory() as session:
        subscription = session.get(WebhookSubscription, subscription_id)
        if subscription is None or not subscription.active:
            return 0
        cursor = subscription.enqueued_through
        page = entries_after(session, cursor, _filter(subscription), batch)
        if page.last_position == cursor:
            return 0
        now = utcnow()
        session.add_all(_delivery(subscription_id, entry, False, now) for entry in page.entries)
        # Moves only from where it was read: a concurrent enqueuer (or a disable) wins and this
        # transaction is dropped, so no event is enqueued twice.
        moved = session.execute(
            update(WebhookSubscription)
            .where(
                WebhookSubscription.id == subscription_id,
                WebhookSubscription.enqueued_through == cursor,
                WebhookSubscription.active.is_(True),
            )
            .values(enqueued_through=page.last_position)
        )
        if getattr(moved, "rowcount", 0) != 1:
            session.rollback()
            return 0
        session.commit()
        return len(page.entries)


async def run_enqueuer(
    session_factory: sessionmaker[Session],
    feed: Wakeup,
    sender: "WebhookSender",
    *,
    poll_interval: float = 0.5,
) -> None:
    """Enqueue new log entries as they are applied (woken by ``feed``, or every ``poll_interval``)."""
    while True:
        ticket = feed.ticket()
        try:
            count = await asyncio.to_thread(enqueue_new, session_factory)
        except Exception as exc:
            log.warning("webhook enqueuer: %s; will retry", exc)
            count = 0
        if count:
            sender.wake()
        await feed.wait(poll_interval, ticket)


async def retire_raw_stream_consumer(link: NatsLink) -> None:
    """Delete the durable consumer that fed webhooks from the raw stream in earlier versions:
    nothing reads it any more, and its growing backlog would look like lag."""
    try:
        js = await link.jetstream()
        await js.delete_consumer(STREAM_NAME, RAW_STREAM_CONSUMER)
        log.info("deleted the obsolete consumer %s", RAW_STREAM_CONSUMER)
    except NotFoundError:
        pass
    except Exception as exc:
        log.warning("could not delete the obsolete consumer %s: %s", RAW_STREAM_CONSUMER, exc)


def replay_since(session: Session, subscription: WebhookSubscription, since: datetime) -> int:
    """Enqueue again every logged event from ``since`` on that the subscription's filters pass
    (up to its cursor: what comes after is on its way anyway). The caller commits."""
    wanted, last = _filter(subscription), subscription.enqueued_through
    cursor, count, now = position_before(session, since), 0, utcnow()
    while cursor < last:
        page = entries_after(session, cursor, wanted, ENQUEUE_BATCH)
        entries = [e for e in page.entries if e.position <= last]
        session.add_all(_delivery(subscription.id, e, True, now) for e in entries)
        count += len(entries)
        if page.last_position == cursor:
            break
        cursor = page.last_position
    return count


# -- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Due:
    id: int
    attempts: int
    event_id: str
    position: int | None
    payload: str
    url: str
    secret: str


@dataclass(frozen=True)
class _Answer:
    status_code: int | None
    error: str  # empty when delivered
    final: bool = False  # no retry: the destination is refused


class WebhookSender:
    """Runs one delivery task per active subscription and stops the tasks of those that end."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        backoff: Sequence[float],
        timeout: float = 5.0,
        concurrency: int = 1,
        disable_after: float = 86400.0,
        poll_interval: float = 0.5,
        destinations: DestinationPolicy | None = None,
    ) -> None:
        self._session_factory = session_factory
        self.destinations = destinations or DestinationPolicy()
        self.backoff = list(backoff)
        self._timeout = timeout
        self._concurrency = concurrency
        self._disable_after = timedelta(seconds=disable_after)
        self._poll_interval = poll_interval
        self._wakeup = Wakeup()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def wake(self) -> None:
        """Something changed (new deliveries, a subscription stopped); safe from any thread."""
        self._wakeup.wake()

    async def run(self) -> None:
        try:
            while True:
                ticket = self._wakeup.ticket()
                try:
                    self._supervise(await asyncio.to_thread(self._active))
                except Exception as exc:
                    log.warning("webhook sender: %s; will retry", exc)
                await self._wakeup.wait(self._poll_interval, ticket)
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _active(self) -> set[str]:
        with self._session_factory() as session:
            query = select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True))
            return set(session.scalars(query))

    def _supervise(self, active: set[str]) -> None:
        for subscription_id, task in list(self._tasks.items()):
            if subscription_id not in active:
                task.cancel()  # deleted or disabled: its pending deliveries are cancelled already
                del self._tasks[subscription_id]
            elif task.done():
                if not task.cancelled() and task.exception() is not None:
                    log.error("webhook task of %s failed: %r", subscription_id, task.exception())
                del self._tasks[subscription_id]
        for subscription_id in active - set(self._tasks):
            self._tasks[subscription_id] = asyncio.create_task(
                self._serve(subscription_id), name=f"webhooks-{subscription_id}"
            )

    async def _serve(self, subscription_id: str) -> None:
        """Deliver one subscription's due deliveries in log order, at most ``concurrency`` at once."""
        limits = httpx.Limits(max_connections=self._concurrency, max_keepalive_connections=self._concurrency)
        in_flight: dict[int, asyncio.Task[None]] = {}
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, limits=limits) as client:
            try:
                while True:
                    ticket = self._wakeup.ticket()
                    wait = self._poll_interval
                    free = self._concurrency - len(in_flight)
                    if free > 0:
                        try:
                            due, next_at = await asyncio.to_thread(
                                self._due, subscription_id, set(in_flight), free
                            )
                        except Exception as exc:
                            log.warning("webhooks of %s: %s; will retry", subscription_id, exc)
                            due, next_at = [], None
                        for row in due:
                            in_flight[row.id] = asyncio.create_task(
                                self._attempt(client, subscription_id, row)
                            )
                        if next_at is not None:
                            wait = min(wait, (next_at - utcnow()).total_seconds())
                    if due_now := [i for i, t in in_flight.items() if t.done()]:
                        for delivery_id in due_now:
                            self._finished(in_flight.pop(delivery_id))
                        continue
                    waiter = asyncio.create_task(self._wakeup.wait(wait, ticket))
                    await asyncio.wait([waiter, *in_flight.values()], return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    for delivery_id in [i for i, t in in_flight.items() if t.done()]:
                        self._finished(in_flight.pop(delivery_id))
            finally:
                for task in in_flight.values():
                    task.cancel()
                await asyncio.gather(*in_flight.values(), return_exceptions=True)

    @staticmethod
    def _finished(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("webhook attempt failed to record: %r", task.exception())

    def _due(
        self, subscription_id: str, in_flight: set[int], limit: int
    ) -> tuple[list[_Due], datetime | None]:
        """The next deliveries to attempt, oldest first, and when the next retry falls due."""
        now = utcnow()
        pending: Select[WebhookDelivery] = select(WebhookDelivery).where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.id.not_in(in_flight),
        )
        with self._session_factory() as session:
            subscription = session.get(WebhookSubscription, subscription_id)
            if subscription is None or not subscription.active:
                return [], None
            rows = session.scalars(
                pending.where(WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.id)
                .limit(limit)
            )
            due = [
                _Due(
                    d.id, d.attempts, d.event_id, d.position, d.payload, subscription.url, subscription.secret
                )
                for d in rows
            ]
            later = session.scalars(
                pending.where(WebhookDelivery.next_attempt_at > now)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(1)
            ).first()
            return due, later.next_attempt_at if later is not None else None

    async def _attempt(self, client: httpx.AsyncClient, subscription_id: str, due: _Due) -> None:
        answer = await self._post(client, due)
        await asyncio.to_thread(self._record, subscription_id, due, answer)

    async def _post(self, client: httpx.AsyncClient, due: _Due) -> _Answer:
        now = utcnow()
        headers = {
            "webhook-id": due.event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(due.secret).sign(due.event_id, now, due.payload),
            "content-type": CONTENT_TYPE,
        }
        if due.position is not None:
            headers[POSITION_HEADER] = str(due.position)
        try:
            # The whole exchange, not each read, must fit in the timeout: a trickling endpoint
            # holds its slot no longer than a silent one.
            async with asyncio.timeout(self._timeout):
                # Checked again now: what the name resolves to may have changed (DNS rebinding).
                target = await asyncio.to_thread(check_url, due.url, self.destinations)
                response = await self._send(client, due, target, headers)
        except Refused as exc:
            return _Answer(None, f"undeliverable: {exc}"[:500], final=True)
        except TimeoutError:
            return _Answer(None, f"Timeout: no answer within {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return _Answer(None, f"{type(exc).__name__}: {exc}"[:500])
        except OSError as exc:  # the name does not resolve (now): retried like a failed connection
            return _Answer(None, f"ConnectError: cannot resolve the host: {exc}"[:500])
        if response.is_success:
            return _Answer(response.status_code, "")
        if response.is_redirect:
            location = response.headers.get("location", "")[:200]
            return _Answer(
                response.status_code,
                f"HTTP {response.status_code}: redirect to {location!r} not followed "
                "(webhooks never follow redirects: subscribe the final URL)",
            )
        return _Answer(response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")

    @staticmethod
    async def _send(
        client: httpx.AsyncClient, due: _Due, target: Target, headers: dict[str, str]
    ) -> httpx.Response:
        """POST to the checked addresses in turn until one connects: the connection goes to
        the address that was checked, with the URL's Host header and TLS server name."""
        url = httpx.URL(due.url)
        headers = headers | {"host": url.netloc.decode("ascii")}
        extensions = {"sni_hostname": url.raw_host.decode("ascii")} if target.scheme == "https" else {}
        failure: httpx.ConnectError | None = None
        for address in target.addresses:
            try:
                return await client.post(
                    url.copy_with(host=str(address)),
                    content=due.payload.encode(),
                    headers=headers,
                    extensions=extensions,
                )
            except httpx.ConnectError as exc:
                failure = exc
        assert failure is not None  # check_url returns at least one address
        raise failure

    def _record(self, subscription_id: str, due: _Due, answer: _Answer) -> None:
        now = utcnow()
        attempts = due.attempts + 1
        values: dict[str, object] = {
            "attempts": attempts,
            "last_status_code": answer.status_code,
            "last_error": answer.error,
        }
        if not answer.error:
            values |= {"status": "delivered", "delivered_at": now}
        elif answer.final or attempts > len(self.backoff):
            values |= {"status": "dead"}
        else:
            values |= {"next_attempt_at": now + timedelta(seconds=self.backoff[attempts - 1])}
        with self._session_factory() as session:
            # Only a delivery still pending as we read it: a cancellation meanwhile wins.
            recorded = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == due.id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.attempts == due.attempts,
                )
                .values(**values)
            )
            if getattr(recorded, "rowcount", 0) != 1:
                session.rollback()
                return
            subscription = session.get(WebhookSubscription, subscription_id)
            disabled = subscription is not None and self._track_failing(session, subscription, answer, now)
            session.commit()
        if disabled:
            self.wake()  # its task stops now rather than at the next poll
        if answer.error:
            log.info("webhook %s to %s: attempt %d failed: %s", due.event_id, due.url, attempts, answer.error)

    def _track_failing(
        self, session: Session, subscription: WebhookSubscription, answer: _Answer, now: datetime
    ) -> bool:
        """Note a success or a failure; True if this failure disables the subscription."""
        if not answer.error:
            subscription.failing_since = None
        elif subscription.failing_since is None:
            subscription.failing_since = now
        elif subscription.active and now - subscription.failing_since >= self._disable_after:
            hours = self._disable_after.total_seconds() / 3600
            reason = (
                f"disabled automatically: every delivery failed since "
                f"{subscription.failing_since.isoformat(timespec='seconds')} ({hours:g} h or more); "
                f"last error: {answer.error}"
            )
            cancelled = disable(session, subscription, reason)
            log.warning(
                "webhook subscription %s %s (%d pending cancelled)", subscription.id, reason, cancelled
            )
            return True
        return False
