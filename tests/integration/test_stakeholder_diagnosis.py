"""``GET /{needs|offers}/{id}/diagnosis`` at a party's own service, against a coordinator stand-in:
a real HTTP server on a loopback port serving a canned diagnosis (or failing as told)."""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from sifang.platform import LocalNats, free_port

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

ADMIN = {"Authorization": "Bearer test-admin-token-0123456789"}
TOKEN = "sft_service-token-of-the-enterprise-service"
NEED = {"category": "funding.subsidy", "title": "冷库建设补贴申请", "quantity": 200000, "unit": "yuan"}


def canned(side: str, listing_id: str, lang: str) -> dict[str, Any]:
    return {
        "listing_id": listing_id,
        "side": side,
        "status": "open",
        "lang": lang,
        "unit": "yuan",
        "quantity": "200000",
        "remaining": "200000",
        "proposed": "0",
        "summary": {"code": "no_candidate_passed", "params": {"nearest": 1}, "text": "1 candidate failed"},
        "candidates": [
            {
                "listing_id": "offer-1",
                "organisation_id": "org-bureau",
                "organisation_name": "周至县商务局",
                "title": "2026年电子商务进农村综合示范补贴",
                "category": "funding.subsidy",
                "region": "610124",
                "passed": ["category", "region", "window"],
                "failed": {
                    "code": "eligibility_kind",
                    "params": {"kinds": ["community"]},
                    "text": "open to community organisations only",
                },
                "proposed_quantity": None,
            }
        ],
    }


@dataclass
class Coordinator:
    """The stand-in: answers as ``mode`` says and records what it was asked."""

    port: int
    mode: str = "ok"
    seen: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def coordinator() -> Iterator[Coordinator]:
    stand_in = Coordinator(free_port())
    app = FastAPI()

    @app.get("/{plural}/{listing_id}/diagnosis")
    async def diagnosis(plural: str, listing_id: str, request: Request) -> JSONResponse:
        lang = request.query_params.get("lang")
        stand_in.seen.append((request.url.path, lang, request.headers.get("authorization")))
        if stand_in.mode == "missing":
            return JSONResponse({"error": "not_found"}, status_code=404)
        if stand_in.mode == "refused":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if stand_in.mode == "busy":
            return JSONResponse({"error": "unavailable"}, status_code=503, headers={"Retry-After": "7"})
        if stand_in.mode == "slow":
            await asyncio.sleep(1.0)
        body = canned(plural.removesuffix("s"), listing_id, lang or "")
        if stand_in.mode == "broken":
            del body["summary"]
        return JSONResponse(body)

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=stand_in.port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the coordinator stand-in did not start"
        time.sleep(0.01)
    yield stand_in
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def open_enterprise(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[Callable[..., TestClient]]:
    """The enterprise service, in process, with the coordinator settings given."""
    clients: list[TestClient] = []

    def open_(**coordinator: Any) -> TestClient:
        module = import_module("services.enterprise.app")
        settings = module.SETTINGS(
            database_url=service_database("enterprise"),
            nats_url=nats_server.url,
            admin_token="test-admin-token-0123456789",
            **coordinator,
        )
        client = TestClient(module.create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield open_
    for client in clients:
        client.__exit__(None, None, None)


def register(client: TestClient, name: str = "秦农电商有限公司") -> dict[str, str]:
    response = client.post("/organisations", headers=ADMIN, json={"name": name, "region": "610124"})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


def test_the_coordinators_diagnosis_of_an_own_listing_is_passed_on(
    open_enterprise: Callable[..., TestClient], coordinator: Coordinator
) -> None:
    client = open_enterprise(coordinator_url=coordinator.url, coordinator_token=TOKEN)
    auth = register(client)
    need_id = client.post("/needs", headers=auth, json=NEED).json()["need_id"]
    answer = client.get(f"/needs/{need_id}/diagnosis", headers=auth, params={"lang": "en"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == canned("need", need_id, "en")
    assert coordinator.seen == [(f"/needs/{need_id}/diagnosis", "en", f"Bearer {TOKEN}")]

    offer = {"category": "logistics.cold_chain", "title": "冷链干线", "quantity": 40, "unit": "t"}
    offer_id = client.post("/offers", headers=auth, json=offer).json()["offer_id"]
    answer = client.get(f"/offers/{offer_id}/diagnosis", headers=auth)
    assert answer.status_code == 200 and answer.json()["side"] == "offer" and answer.json()["lang"] == "zh"

    stranger = register(client, "别的公司")
    assert client.get(f"/needs/{need_id}/diagnosis", headers=stranger).status_code == 404
    assert client.get("/needs/no-such-need/diagnosis", headers=auth).status_code == 404
    assert client.get(f"/needs/{need_id}/diagnosis").status_code == 401
    bad_lang = client.get(f"/needs/{need_id}/diagnosis", headers=auth, params={"lang": "fr"})
    assert bad_lang.status_code == 422 and bad_lang.json()["errors"][0]["field"] == "lang"
    assert len(coordinator.seen) == 2  # nothing else reached the coordinator


@pytest.mark.parametrize(
    ("mode", "status", "retry_after", "message"),
    [
        ("missing", 404, None, "has not received this need yet"),
        ("slow", 503, "5", "did not answer in time"),
        ("busy", 503, "7", "cannot answer now"),
        ("refused", 502, None, "refused this service's request"),
        ("broken", 502, None, "does not follow the diagnosis contract"),
    ],
)
def test_a_coordinator_that_does_not_answer_as_agreed_is_reported(
    open_enterprise: Callable[..., TestClient],
    coordinator: Coordinator,
    mode: str,
    status: int,
    retry_after: str | None,
    message: str,
) -> None:
    coordinator.mode = mode
    # only the slow stand-in is meant to miss the time limit; the others answer at once, given time
    timeout = 0.3 if mode == "slow" else 10.0
    client = open_enterprise(
        coordinator_url=coordinator.url, coordinator_token=TOKEN, coordinator_timeout=timeout
    )
    auth = register(client)
    need_id = client.post("/needs", headers=auth, json=NEED).json()["need_id"]
    answer = client.get(f"/needs/{need_id}/diagnosis", headers=auth)
    assert answer.status_code == status
    assert message in answer.json()["message"]
    assert answer.headers.get("Retry-After") == retry_after


def test_an_unconfigured_or_unreachable_coordinator_is_a_503(
    open_enterprise: Callable[..., TestClient],
) -> None:
    client = open_enterprise()
    auth = register(client)
    need_id = client.post("/needs", headers=auth, json=NEED).json()["need_id"]
    unconfigured = client.get(f"/needs/{need_id}/diagnosis", headers=auth)
    assert unconfigured.status_code == 503 and "Retry-After" not in unconfigured.headers
    assert "ENTERPRISE_COORDINATOR_TOKEN" in unconfigured.json()["message"]

    nowhere = open_enterprise(coordinator_url=f"http://127.0.0.1:{free_port()}", coordinator_token=TOKEN)
    auth = register(nowhere)
    need_id = nowhere.post("/needs", headers=auth, json=NEED).json()["need_id"]
    unreachable = nowhere.get(f"/needs/{need_id}/diagnosis", headers=auth)
    assert unreachable.status_code == 503 and unreachable.headers["Retry-After"] == "5"
    assert unreachable.json()["error"] == "unavailable"
