"""Credentials over HTTP: every operation of every service declares its scope in OpenAPI and
enforces it (401 without a credential, 403 naming the scope with one that lacks it); scoped API
tokens are issued, listed, revoked and expire; webhooks belong to the token that made them; a
coordinator's token records their verified name."""

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from importlib import import_module
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from services import SERVICES
from services.coordinator.access.models import ApiToken
from services.coordinator.access.scopes import SCOPES
from services.coordinator.dashboard.accounts import create_account
from services.coordinator.journal.models import EventLogEntry
from shared.db import make_engine, utcnow
from sifang.platform import LocalNats
from tests.integration.test_meeting_steps import ORGS
from tests.integration.test_meeting_steps import coordinator as steps_coordinator  # noqa: F401

ADMIN_TOKEN = "access-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# and the open data: market figures (county aggregates, never one organisation's listing) and
# the special funds (public money, whose use is published)
PUBLIC = {
    "/healthz",
    "/metrics",
    "/asyncapi.json",
    "/schemas",
    "/schemas/{event_type}.json",
    "/open-data/market",
    "/open-data/market.csv",
    "/open-data/market/schema",
    "/open-data/funds",
    "/open-data/funds/{fund_id}",
    "/open-data/funds/{fund_id}/utilisation",
    "/open-data/funds/{fund_id}/utilisation.csv",
    "/evidence/{sha256}",  # an evidence file by the hash of its content, which the report carries
}
STAKEHOLDER_SCOPES = {"organisation", "admin"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_account(url: str, username: str = "zhang", name: str = "张主任") -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        create_account(session, username, name, "a-long-password-0123")
        session.commit()
    engine.dispose()


def issue(client: TestClient, *scopes: str, **extra: Any) -> dict[str, Any]:
    body = {"name": f"test {' '.join(scopes)}", "scopes": list(scopes)} | extra
    response = client.post("/tokens", headers=ADMIN, json=body)
    assert response.status_code == 201, response.text
    token: dict[str, Any] = response.json()
    assert token["token"].startswith("sft_")
    return token


@pytest.fixture
def services(service_database: Callable[[str], str], nats_server: LocalNats) -> Iterator[dict[str, Any]]:
    """Every service, on migrated databases: name -> (client, database URL)."""
    opened: dict[str, Any] = {}
    for name in SERVICES:
        url = service_database(name)
        module = import_module(f"services.{name}.app")
        # Webhook test receivers are local (settings other services ignore).
        local = {"webhook_allow_private": True, "webhook_allow_http": True}
        settings = module.SETTINGS(
            database_url=url, nats_url=nats_server.url, admin_token=ADMIN_TOKEN, **local
        )
        client = TestClient(module.create_app(settings))
        client.__enter__()
        opened[name] = (client, url)
    yield opened
    for client, _ in opened.values():
        client.__exit__(None, None, None)


def _operations(client: TestClient) -> Iterator[tuple[str, str, dict[str, Any]]]:
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method.upper(), operation


def _concrete(path: str) -> str:
    url = re.sub(r"\{[^}]+\}", "nothing-here", path)
    return url + "?after=-1" if path == "/stream" else url  # a 422 once admitted, not an endless stream


def _scopes_of(operation: dict[str, Any]) -> list[str]:
    security = operation.get("security")
    assert security and len(security) == 1, operation.get("operationId")
    (scopes,) = security[0].values()
    assert scopes, f"{operation.get('operationId')} declares no scope"
    return list(scopes)


def _refused(response: Any, scopes: list[str]) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "insufficient_scope"
    assert body["scope"] in scopes and body["scope"] in body["message"]
    assert body["errors"] == [{"field": "scope", "problem": body["message"]}]


def test_every_operation_of_every_service_declares_and_enforces_its_scope(services: dict[str, Any]) -> None:
    # Public: health, the OpenAPI document and docs, the event schemas and AsyncAPI.
    for name, (client, _) in services.items():
        for path in ("/openapi.json", "/docs", "/redoc", "/healthz", "/asyncapi.json", "/schemas"):
            if path in ("/asyncapi.json", "/schemas") and name != "coordinator":
                continue
            assert client.get(path).status_code in (200, 503), (name, path)

    coordinator, url = services["coordinator"]
    add_account(url)
    tokens = {
        scope: issue(coordinator, scope, **({"coordinator": "zhang"} if scope == "run:meetings" else {}))
        for scope in SCOPES
    }
    checked = 0
    for path, method, operation in _operations(coordinator):
        if path in PUBLIC:
            assert "security" not in operation, path
            continue
        scopes = _scopes_of(operation)
        assert set(scopes) <= set(SCOPES), (path, scopes)
        target = _concrete(path)
        assert coordinator.request(method, target).status_code == 401, (method, path)
        assert coordinator.request(method, target, headers=bearer("sft_unknown")).status_code == 401
        (scope,) = scopes
        lacking = tokens["read:events" if scope == "read:book" else "read:book"]["token"]
        _refused(coordinator.request(method, target, headers=bearer(lacking)), scopes)
        holding = tokens["run:meetings" if scope == "read:meetings" else scope]["token"]
        for credential in (holding, ADMIN_TOKEN):
            answer = coordinator.request(method, target, headers=bearer(credential))
            assert answer.status_code not in (401, 403), (method, path, answer.text)
        checked += 1
    assert checked >= 40

    for name in SERVICES[1:]:
        client, _ = services[name]
        registered = client.post(
            "/organisations", headers=ADMIN, json={"name": "某组织", "region": "610124104201"}
        )
        assert registered.status_code == 201, registered.text
        key = registered.json()["api_key"]
        for path, method, operation in _operations(client):
            if path in PUBLIC:
                assert "security" not in operation, path
                continue
            scopes = _scopes_of(operation)
            assert len(scopes) == 1 and set(scopes) <= STAKEHOLDER_SCOPES, (name, path, scopes)
            target = _concrete(path)
            assert client.request(method, target).status_code == 401, (name, method, path)
            assert client.request(method, target, headers=bearer("sfk_unknown")).status_code == 401
            if scopes == ["admin"]:
                _refused(client.request(method, target, headers=bearer(key)), scopes)
                assert client.request(method, target, headers=ADMIN).status_code not in (401, 403)
            else:
                assert client.request(method, target, headers=bearer(key)).status_code not in (401, 403)
                as_admin = client.request(method, target, headers=ADMIN)
                if as_admin.status_code == 403:  # acting for an organisation needs its key
                    _refused(as_admin, scopes)
                else:
                    assert as_admin.status_code != 401, (name, path)
            checked += 1
    assert checked >= 40 + 4 * 20


def test_tokens_are_issued_listed_revoked_and_expire(services: dict[str, Any]) -> None:
    client, url = services["coordinator"]
    token = issue(client, "read:book", expires_days=30)
    assert token["state"] == "active" and token["scopes"] == ["read:book"]
    assert client.get("/needs", headers=bearer(token["token"])).status_code == 200
    listed = client.get("/tokens", headers=ADMIN).json()
    assert [t["id"] for t in listed] == [token["id"]]
    assert "token" not in listed[0] and listed[0]["last_used_at"] is not None  # the secret is shown once

    # Only the digest is stored.
    engine = make_engine(url)
    with Session(engine) as session:
        row = session.get(ApiToken, token["id"])
        assert row is not None and token["token"] not in row.secret_hash and len(row.secret_hash) == 64

    refused = client.post("/tokens", headers=ADMIN, json={"name": "x", "scopes": ["read:everything"]})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"].startswith("scopes")
    unbound = client.post("/tokens", headers=ADMIN, json={"name": "x", "scopes": ["run:meetings"]})
    assert unbound.status_code == 422 and unbound.json()["errors"][0]["field"] == "coordinator"
    # Issuing needs admin: a token cannot mint itself more.
    assert (
        client.post(
            "/tokens", headers=bearer(token["token"]), json={"name": "x", "scopes": ["admin"]}
        ).status_code
        == 403
    )

    revoked = client.delete(f"/tokens/{token['id']}", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    answer = client.get("/needs", headers=bearer(token["token"]))
    assert answer.status_code == 401 and "revoked" in answer.json()["message"]

    expiring = issue(client, "read:events")
    with Session(engine) as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == expiring["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    engine.dispose()
    answer = client.get("/events", headers=bearer(expiring["token"]))
    assert answer.status_code == 401 and "expired" in answer.json()["message"]
    states = {t["id"]: t["state"] for t in client.get("/tokens", headers=ADMIN).json()}
    assert states == {token["id"]: "revoked", expiring["id"]: "expired"}
    admin_token = issue(client, "admin")  # the admin scope holds every other
    assert client.get("/events", headers=bearer(admin_token["token"])).status_code == 200


def test_a_token_manages_only_its_own_webhooks(services: dict[str, Any]) -> None:
    client, _ = services["coordinator"]
    mine, theirs = issue(client, "manage:webhooks"), issue(client, "manage:webhooks")
    body = {"url": "http://127.0.0.1:9/sifang"}
    created = client.post("/webhooks", headers=bearer(mine["token"]), json=body)
    assert created.status_code == 201, created.text
    hook = created.json()["id"]
    other = client.post("/webhooks", headers=bearer(theirs["token"]), json=body).json()["id"]

    assert [s["id"] for s in client.get("/webhooks", headers=bearer(mine["token"])).json()] == [hook]
    assert [s["id"] for s in client.get("/webhooks", headers=bearer(theirs["token"])).json()] == [other]
    assert {s["id"] for s in client.get("/webhooks", headers=ADMIN).json()} == {hook, other}
    for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/enable"), ("GET", "/deliveries")):
        assert (
            client.request(method, f"/webhooks/{other}{suffix}", headers=bearer(mine["token"])).status_code
            == 404
        )
    replay = client.post(
        f"/webhooks/{other}/replay", headers=bearer(mine["token"]), json={"since": "2026-01-01T00:00:00Z"}
    )
    assert replay.status_code == 404
    assert client.get(f"/webhooks/{other}", headers=bearer(theirs["token"])).json()["active"] is True
    assert client.delete(f"/webhooks/{hook}", headers=bearer(mine["token"])).json()["active"] is False
    assert client.get(f"/webhooks/{other}", headers=ADMIN).status_code == 200


def test_what_a_coordinators_token_does_carries_their_verified_name(
    steps_coordinator: tuple[TestClient, str],  # noqa: F811
) -> None:
    client, url = steps_coordinator
    add_account(url)
    token = client.post(
        "/tokens",
        headers={"Authorization": "Bearer steps-admin-token-0123456789"},
        json={"name": "张主任的令牌", "scopes": ["run:meetings"], "coordinator": "zhang"},
    ).json()
    body = {"name": "周至县联席会议", "kind": "joint", "region": "610124", "invited": list(ORGS)}
    # The header is ignored for a token: the account's name is recorded.
    created = client.post("/series", json=body, headers=bearer(token["token"]) | {"X-Coordinator": "li"})
    assert created.status_code == 201, created.text
    assert client.get("/series", headers=bearer(token["token"])).status_code == 200  # run implies read
    assert client.get("/needs", headers=bearer(token["token"])).status_code == 403
    engine = make_engine(url)
    with Session(engine) as session:
        issued = (
            session.query(EventLogEntry).where(EventLogEntry.type == "sifang.instruction.issued.v1").one()
        )
        assert issued.data["coordinator"] == "张主任"
    engine.dispose()


def test_operators_issue_list_and_revoke_tokens_from_the_command_line(
    service_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from sifang import cli
    from sifang.cli import app

    url = service_database("coordinator")
    add_account(url)
    monkeypatch.setenv("COORDINATOR_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    # The CLI's console took its width when it was imported: in a pytest-xdist worker, 80 columns.
    monkeypatch.setattr(cli, "console", cli.inert_console(width=200))
    runner = CliRunner()
    issued = runner.invoke(
        app, ["tokens", "issue", "--name", "张主任", "--scope", "run:meetings", "--coordinator", "zhang"]
    )
    assert issued.exit_code == 0, issued.output
    secret = issued.output.strip().splitlines()[-1]
    assert secret.startswith("sft_")
    refused = runner.invoke(app, ["tokens", "issue", "--name", "x", "--scope", "run:meetings"])
    assert refused.exit_code == 1 and "coordinator" in refused.output
    engine = make_engine(url)
    with Session(engine) as session:
        (token,) = session.query(ApiToken).all()
        assert (
            token.scopes == ["run:meetings"]
            and token.coordinator == "zhang"
            and secret not in token.secret_hash
        )
        token_id = token.id
    listed = runner.invoke(app, ["tokens", "list"])
    assert listed.exit_code == 0 and token_id in listed.output and "active" in listed.output
    assert secret not in listed.output
    revoked = runner.invoke(app, ["tokens", "revoke", token_id])
    assert revoked.exit_code == 0, revoked.output
    with Session(engine) as session:
        row = session.get(ApiToken, token_id)
        assert row is not None and row.revoked_at is not None
    engine.dispose()
    assert runner.invoke(app, ["tokens", "revoke", "nope"]).exit_code == 1


def test_the_command_line_prints_names_as_they_are_never_as_markup(
    service_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name someone chose is shown as typed: rich's markup (a closing tag with no opening one
    used to stop the command with a MarkupError) and emoji codes stay text, in tables and in
    error lines alike."""
    from typer.testing import CliRunner

    from sifang import cli
    from sifang.cli import app

    monkeypatch.setenv("COORDINATOR_DATABASE_URL", service_database("coordinator"))
    monkeypatch.setattr(cli, "console", cli.inert_console(width=300))
    hostile = "[/red][bold]县数据团队[link=http://example.invalid]点此[/link] :thumbs_up: <script>"
    runner = CliRunner()
    issued = runner.invoke(app, ["tokens", "issue", "--name", hostile, "--scope", "read:book"])
    assert issued.exit_code == 0, issued.output
    assert hostile in issued.output
    listed = runner.invoke(app, ["tokens", "list"])
    assert listed.exit_code == 0, listed.output
    assert hostile in listed.output and "👍" not in listed.output
    refused = runner.invoke(app, ["tokens", "revoke", "[/x] :smile:"])
    assert refused.exit_code == 1 and "[/x] :smile:" in refused.output, refused.output
