"""What a coordinator partition's consumer filter costs: a durable pull consumer with the
filter subjects of a partition owning a province of 100 counties (``consumer_filters``: its
counties per entity, every organisation's registration) against one with the four wide filters
of a single coordinator, over the same stream, in the same run (alternated: wide, partition,
wide). Fetch(256) and ack, as fast as the server delivers."""

import argparse
import asyncio
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from services.coordinator.settings import consumer_filters
from shared.events.subjects import STAKEHOLDER_KINDS
from shared.messaging.nats import STREAM_NAME, provision_stream
from sifang.platform import LocalNats, free_port

__all__ = ["main"]

COUNTIES = [f"61{i:04d}" for i in range(1, 101)]
PAYLOAD = b"x" * 900  # about an event's size


async def _drain(js: JetStreamContext, name: str, filters: list[str]) -> tuple[int, float]:
    config = ConsumerConfig(
        durable_name=name, filter_subjects=filters, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1000
    )
    await js.add_consumer(STREAM_NAME, config)
    subscription = await js.pull_subscribe_bind(durable=name, stream=STREAM_NAME)
    started, got = time.perf_counter(), 0
    last = started
    while True:
        try:
            messages = await subscription.fetch(256, timeout=1)
        except TimeoutError:
            break
        for message in messages:
            await message.ack()
        got += len(messages)
        last = time.perf_counter()
    return got, got / (last - started)


async def _run(url: str, events: int) -> None:
    await provision_stream(url)
    client = await nats.connect(url)
    js = client.jetstream()
    for i in range(events):  # four in five in the partition's counties, the rest elsewhere
        county = COUNTIES[i % 100] if i % 5 else f"62{i % 100 + 1:04d}"
        await js.publish(f"sifang.community.{county}.need.published", PAYLOAD)
    wide = [f"sifang.{kind}.>" for kind in STAKEHOLDER_KINDS]
    partition = consumer_filters(COUNTIES)
    rows = []
    for name, filters in (("wide-1", wide), ("partition", partition), ("wide-2", wide)):
        got, rate = await _drain(js, name, filters)
        rows.append((name, len(filters), got, rate))
    await client.close()
    baseline = (rows[0][3] + rows[2][3]) / 2
    print(
        "| consumer | filter subjects | messages | msg/s | ÷ wide (mean of both runs) |\n|---|---|---|---|---|"
    )
    for name, count, got, rate in rows:
        print(f"| {name} | {count:,} | {got:,} | {rate:,.0f} | {rate / baseline:.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args(argv)
    with TemporaryDirectory(prefix="sifang-bench-partitions-") as directory:
        server = LocalNats(free_port(), Path(directory) / "store", Path(directory) / "nats.log")
        server.start()
        try:
            asyncio.run(_run(server.url, args.events))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
