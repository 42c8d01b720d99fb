"""How the batching consumer fetches: it waits only for the first message, then takes only
what the server says is already waiting, so a lone event is never held back to fill a batch."""

from dataclasses import dataclass, field

from shared.messaging.consumer import EventConsumer


@dataclass
class Info:
    num_pending: int


@dataclass
class RecordingSubscription:
    """A pull subscription with ``waiting`` messages on the server; records what was asked."""

    waiting: int
    calls: list[tuple[str, int]] = field(default_factory=list)

    async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[object]:
        self.calls.append(("fetch", batch))
        if not self.waiting:
            raise TimeoutError
        taken = min(batch, self.waiting)
        self.waiting -= taken
        return [object()] * taken

    async def consumer_info(self) -> Info:
        self.calls.append(("info", self.waiting))
        return Info(self.waiting)


async def test_a_lone_message_is_taken_without_asking_for_a_whole_batch() -> None:
    subscription = RecordingSubscription(waiting=1)
    messages = await EventConsumer._fetch(subscription, 64)  # type: ignore[arg-type]
    assert len(messages) == 1
    # never fetch(64): nats-py would wait out the timeout for the other 63
    assert subscription.calls == [("fetch", 1), ("info", 0)]


async def test_messages_already_waiting_are_taken_as_one_batch_up_to_its_size() -> None:
    subscription = RecordingSubscription(waiting=100)
    messages = await EventConsumer._fetch(subscription, 64)  # type: ignore[arg-type]
    assert len(messages) == 64 and subscription.waiting == 36
    assert subscription.calls == [("fetch", 1), ("info", 99), ("fetch", 63)]
    few = RecordingSubscription(waiting=5)
    assert len(await EventConsumer._fetch(few, 64)) == 5  # type: ignore[arg-type]
    assert few.calls[-1] == ("fetch", 4)


async def test_a_consumer_of_one_message_at_a_time_never_asks_for_more() -> None:
    subscription = RecordingSubscription(waiting=10)
    assert len(await EventConsumer._fetch(subscription, 1)) == 1  # type: ignore[arg-type]
    assert subscription.calls == [("fetch", 1)]
    empty = RecordingSubscription(waiting=0)
    assert await EventConsumer._fetch(empty, 64) == []  # type: ignore[arg-type]
