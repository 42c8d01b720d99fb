"""Workers stop when cancelled even if a library loses the cancellation (Python 3.11's
``asyncio.wait_for`` can, when its inner future finishes in the same instant), so a service's
shutdown never hangs on its consumer's fetch loop."""

import asyncio
import contextlib

from sqlalchemy.orm import sessionmaker

from shared.messaging.consumer import EventConsumer
from shared.messaging.nats import raise_if_cancelled


class LosesCancellations:
    """A pull subscription whose fetch swallows a cancellation and reports a timeout instead."""

    def __init__(self) -> None:
        self.fetches = 0

    async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[object]:
        self.fetches += 1
        with contextlib.suppress(asyncio.CancelledError):  # lost: the caller sees a timeout
            await asyncio.sleep(0.01)
        raise TimeoutError


async def test_the_consumer_stops_although_its_fetch_lost_the_cancellation() -> None:
    consumer = EventConsumer(
        name="test", filter_subjects=[], session_factory=sessionmaker(), handler=lambda *_: None
    )
    subscription = LosesCancellations()
    task = asyncio.create_task(consumer.consume(subscription))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert subscription.fetches >= 2  # polling, as it does while the stream is quiet
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done and task.cancelled()


async def test_raise_if_cancelled_raises_only_for_a_task_asked_to_stop() -> None:
    raise_if_cancelled()  # not asked: nothing happens

    async def keeps_going() -> str:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(1)
        raise_if_cancelled()
        return "ran on"

    task = asyncio.create_task(keeps_going())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    assert task.cancelled()
