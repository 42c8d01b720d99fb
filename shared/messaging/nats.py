"""The NATS connection and the idempotent provisioning of the stream and its consumers.

Services connect as their own NATS user (``shared/messaging/access.py`` says what each may do) and
only check that the stream is there; the stream itself is created or updated by the bootstrap
user (``provision_stream``: ``make run``, or ``python -m shared.messaging.provision`` in production).
"""

import asyncio
import logging
from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError

__all__ = [
    "STREAM_NAME",
    "STREAM_SUBJECTS",
    "NatsLink",
    "ensure_pull_consumer",
    "ensure_stream",
    "provision_stream",
    "raise_if_cancelled",
    "servers",
    "subject_matches",
]

log = logging.getLogger(__name__)

STREAM_NAME = "SIFANG"
STREAM_SUBJECTS = ["sifang.>"]
_STREAM_EXISTS = 10058  # JetStream: stream name already in use with a different configuration


def servers(url: str) -> list[str]:
    """The servers of a NATS URL, which may list a cluster's nodes separated by commas
    (``nats://a:4222,nats://b:4222``): the client connects to one and fails over to the others."""
    return [part.strip() for part in url.split(",") if part.strip()]


class NatsLink:
    """One service's connection to NATS, opened lazily and kept open through reconnects.

    Connecting is retried with backoff, so a service starts and serves HTTP while NATS is
    still down (or the stream not provisioned yet); its outbox simply waits. It connects as
    ``user`` when one is given. Only with ``provision`` (a user allowed to manage the stream)
    does it create or update the stream; otherwise it checks that the stream exists.
    """

    def __init__(
        self,
        url: str,
        name: str,
        *,
        user: str | None = None,
        password: str | None = None,
        provision: bool = False,
        stream_replicas: int = 1,
    ) -> None:
        self.url = url
        self.name = name
        self.user = user
        self._password = password
        self.provision = provision
        self.stream_replicas = stream_replicas
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def jetstream(self) -> JetStreamContext:
        """The JetStream context, connecting (and provisioning the stream) on first use."""
        async with self._lock:
            if self._client is None:
                delay = 0.2
                while True:
                    client: Client | None = None
                    try:
                        client = await nats.connect(
                            servers=servers(self.url),
                            name=self.name,
                            user=self.user,
                            password=self._password,
                            connect_timeout=2,
                            allow_reconnect=True,
                            max_reconnect_attempts=-1,
                            reconnect_time_wait=0.5,
                            error_cb=self._on_error,
                            disconnected_cb=self._on_disconnected,
                            reconnected_cb=self._on_reconnected,
                        )
                        js = client.jetstream(timeout=5)
                        if self.provision:
                            await ensure_stream(js, replicas=self.stream_replicas)
                        else:
                            await js.stream_info(STREAM_NAME)  # provisioned by the bootstrap user
                    except Exception as exc:  # nats raises OSError, TimeoutError, NoServersError...
                        if client is not None:
                            await client.close()
                        log.warning(
                            "%s: NATS at %s not usable (%s: %s); retrying",
                            self.name,
                            self.url,
                            type(exc).__name__,
                            exc,
                        )
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 5.0)
                        continue
                    self._client = client
                    log.info("%s: connected to NATS at %s", self.name, self.url)
                    break
            return self._client.jetstream(timeout=5)

    async def close(self) -> None:
        async with self._lock:
            if self._client is not None:
                await self._client.close()
                self._client = None

    async def _on_error(self, exc: Exception) -> None:
        log.warning("%s: NATS error: %s", self.name, exc)

    async def _on_disconnected(self) -> None:
        log.warning("%s: disconnected from NATS", self.name)

    async def _on_reconnected(self) -> None:
        log.info("%s: reconnected to NATS", self.name)


async def ensure_stream(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create the event stream, or bring an existing one to this configuration."""
    config = StreamConfig(
        name=STREAM_NAME,
        subjects=STREAM_SUBJECTS,
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,  # history stays replayable
        num_replicas=replicas,
        duplicate_window=120.0,
    )
    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        if exc.err_code != _STREAM_EXISTS:
            raise
        await js.update_stream(config)


async def provision_stream(
    url: str, *, user: str | None = None, password: str | None = None, replicas: int = 1
) -> None:
    """Create the event stream or bring it to this configuration, as the bootstrap user."""
    client = await nats.connect(
        servers=servers(url), name="sifang-provision", user=user, password=password, connect_timeout=5
    )
    try:
        await ensure_stream(client.jetstream(timeout=10), replicas=replicas)
    finally:
        await client.close()


async def ensure_pull_consumer(
    js: JetStreamContext,
    *,
    durable: str,
    filter_subjects: Sequence[str],
    max_deliver: int,
    ack_wait: float,
    max_ack_pending: int = 1,
) -> JetStreamContext.PullSubscription:
    """Create or update a durable pull consumer with explicit ack, and bind to it.

    By default only one message is out at a time, so a message the consumer was holding when it
    died comes back (after ``ack_wait``) before any later one; a live consumer keeps its message
    with in-progress acks for as long as it works on it. A consumer that takes batches
    (``max_ack_pending`` > 1) must itself take back what it left unsettled before anything new
    (see ``EventConsumer.run``).
    """
    config = ConsumerConfig(
        durable_name=durable,
        name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        filter_subjects=list(filter_subjects),
        max_ack_pending=max_ack_pending,  # one (or one batch) in hand: order survives redelivery
    )
    await js.add_consumer(STREAM_NAME, config=config)
    return await js.pull_subscribe_bind(durable=durable, stream=STREAM_NAME)


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether ``subject`` falls under the NATS filter ``pattern`` (``*`` one token, ``>`` the rest)."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)


def raise_if_cancelled() -> None:
    """Stop the current task if it was asked to stop but kept running.

    On Python 3.11, ``asyncio.wait_for`` (used inside nats-py's fetch and publish, and by our
    own waits) can lose a cancellation that coincides with its inner future finishing (a message
    or a timeout arriving in the same instant): the task then carries on with its cancel request
    pending, and a loop around such an await runs forever, hanging the service's shutdown.
    Every loop of a worker calls this at the top of each turn."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
