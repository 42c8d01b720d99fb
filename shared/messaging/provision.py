"""Create or update the SIFANG stream as the bootstrap user: ``python -m shared.messaging.provision``.

Run once per release before the services start (they only check that the stream is there).
Reads ``NATS_URL``, ``SIFANG_STREAM_REPLICAS`` and the admin user's ``SIFANG_NATS_ADMIN_USER``
(default ``sifang-admin``) and ``SIFANG_NATS_ADMIN_PASSWORD``.
"""

import asyncio
import os

from shared.messaging.access import ADMIN_USER
from shared.messaging.nats import STREAM_NAME, provision_stream
from shared.settings import DEFAULT_NATS_URL

__all__ = ["main"]


def main() -> None:
    url = os.environ.get("NATS_URL", DEFAULT_NATS_URL)
    replicas = int(os.environ.get("SIFANG_STREAM_REPLICAS", "1"))
    password = os.environ.get("SIFANG_NATS_ADMIN_PASSWORD")
    user = os.environ.get("SIFANG_NATS_ADMIN_USER", ADMIN_USER) if password else None
    asyncio.run(provision_stream(url, user=user, password=password, replicas=replicas))
    print(f"stream {STREAM_NAME} provisioned at {url} ({replicas} replicas)")


if __name__ == "__main__":
    main()
