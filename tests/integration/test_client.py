"""The Python client, sync and async, against a stakeholder service in process."""

from collections.abc import Callable

import httpx
import pytest

from services.community.app import SETTINGS, create_app
from sifang.client import AsyncSifang, Sifang, SifangAPIError

TOKEN = "client-admin-token-0123456789"


def _app(service_database: Callable[[str], str]) -> object:
    return create_app(
        SETTINGS(database_url=service_database("community"), nats_url="nats://127.0.0.1:1", admin_token=TOKEN)
    )


async def test_the_async_client_registers_posts_and_reports_errors(
    service_database: Callable[[str], str],
) -> None:
    transport = httpx.ASGITransport(app=_app(service_database))  # type: ignore[arg-type]
    async with AsyncSifang({"community": "http://community"}, TOKEN, transport=transport) as sifang:
        org, key = await sifang.register("community", "东村合作社", "610124104201", {"person": "王强"})
        village = sifang.stakeholder("community", key)
        need = await village.post_need(
            category="training.livestream", title="直播培训", quantity=30, unit="人"
        )
        assert [n["need_id"] for n in await village.needs(status="open")] == [need["need_id"]]
        assert (await village.me())["id"] == org["id"]
        with pytest.raises(SifangAPIError) as error:
            await village.post_need(category="training.livestream", title="x", quantity=-1, unit="人")
        assert error.value.status == 422
        assert error.value.body["errors"][0]["field"] == "quantity"


def test_the_sync_client_covers_the_same_calls(service_database: Callable[[str], str]) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(_app(service_database))  # type: ignore[arg-type]
    with Sifang({"community": "http://testserver"}, TOKEN, transport=client._transport) as sifang:
        _, key = sifang.register("community", "西村", "610124104202")
        village = sifang.stakeholder("community", key)
        lot = village.create(
            "/lots", product_category="produce.fruit.kiwifruit", variety="翠香", quantity=5, unit="t"
        )
        offer_id = lot["offer"]["offer_id"]
        assert village.withdraw("offer", offer_id, "已售")["status"] == "withdrawn"
        with pytest.raises(SifangAPIError, match="HTTP 409"):
            village.withdraw("offer", offer_id, "again")
        with pytest.raises(SifangAPIError, match="HTTP 401"):
            sifang.stakeholder("community", "sfk_wrong").me()
