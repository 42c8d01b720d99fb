"""Stream and consumer provisioning is idempotent and converges on the configured settings."""

from nats.js.api import RetentionPolicy, StorageType

from shared.messaging.nats import STREAM_NAME, NatsLink, ensure_pull_consumer, ensure_stream
from sifang.platform import LocalNats


async def test_stream_and_consumer_provisioning_can_run_again_and_update(nats_server: LocalNats) -> None:
    link = NatsLink(nats_server.url, "provisioning-test", provision=True)
    js = await link.jetstream()  # provisions the stream on connect
    await ensure_stream(js)
    info = await js.stream_info(STREAM_NAME)
    assert info.config.subjects == ["sifang.>"]
    assert info.config.storage == StorageType.FILE
    assert info.config.retention == RetentionPolicy.LIMITS

    await js.update_stream(info.config.evolve(duplicate_window=30.0))  # drifted by hand
    await ensure_stream(js)
    assert (await js.stream_info(STREAM_NAME)).config.duplicate_window == 120.0

    filters = ["sifang.community.>", "sifang.ngo.>"]
    await ensure_pull_consumer(js, durable="reader", filter_subjects=filters, max_deliver=3, ack_wait=10)
    await ensure_pull_consumer(js, durable="reader", filter_subjects=filters, max_deliver=7, ack_wait=10)
    consumer = await js.consumer_info(STREAM_NAME, "reader")
    assert consumer.config.max_deliver == 7
    assert consumer.config.filter_subjects == filters
    await link.close()
