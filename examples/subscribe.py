"""Follow Sifang's events straight from NATS with your own durable consumer.

    NATS_URL=nats://reports:secret@nats-1:4222 python examples/subscribe.py --durable reports \
        --subject 'sifang.community.>'

The consumer is durable: stop the program and start it again, and it resumes where it
stopped. Each message is a CloudEvents 1.0 event in structured JSON; ack it once you have
stored what you need (at-least-once: deduplicate on the event ``id``).
"""

import argparse
import asyncio
import json
import os

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def follow(url: str, durable: str, subject: str, limit: int | None) -> int:
    client = await nats.connect(url)
    js = client.jetstream()
    config = ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        max_deliver=10,
        ack_wait=30,
    )
    subscription = await js.pull_subscribe(subject, durable=durable, stream="SIFANG", config=config)
    seen = 0
    try:
        while limit is None or seen < limit:
            try:
                messages = await subscription.fetch(10, timeout=5)
            except TimeoutError:
                if limit is not None:
                    break
                continue
            for message in messages:
                event = json.loads(message.data)
                print(
                    f"{message.metadata.sequence.stream:>6} {event['type']:<40} {event['source']}", flush=True
                )
                await message.ack()
                seen += 1
    finally:
        await client.close()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4233"))
    parser.add_argument(
        "--durable", default="reports", help="your consumer's name (your NATS user may use only it)"
    )
    parser.add_argument("--subject", default="sifang.>", help="e.g. sifang.community.> or sifang.*.610124.>")
    parser.add_argument("--limit", type=int, help="stop after this many events (default: follow forever)")
    args = parser.parse_args()
    asyncio.run(follow(args.url, args.durable, args.subject, args.limit))


if __name__ == "__main__":
    main()
