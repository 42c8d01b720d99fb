import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.coordinator.app import CoordinatorSettings
from shared.settings import settings_class
from sifang.platform import Platform, admin_token, free_port


def test_each_service_reads_its_own_database_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMUNITY_DATABASE_URL", "postgresql+psycopg://db/community")
    monkeypatch.setenv("NATS_URL", "nats://nats-1:4222")
    community = settings_class("community", port=8104)()
    government = settings_class("government", port=8101)(var_dir=Path("/srv/sifang"))
    assert community.effective_database_url == "postgresql+psycopg://db/community"
    assert community.nats_url == "nats://nats-1:4222"
    assert government.effective_database_url == "sqlite:////srv/sifang/government.db"


def test_production_refuses_to_start_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFANG_MODE", "production")
    monkeypatch.delenv("SIFANG_ADMIN_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="SIFANG_ADMIN_TOKEN"):
        CoordinatorSettings(database_url="postgresql+psycopg://db/coordinator")
    monkeypatch.setenv("SIFANG_ADMIN_TOKEN", "a-long-enough-admin-token")
    with pytest.raises(ValidationError, match="COORDINATOR_DATABASE_URL"):
        CoordinatorSettings()


def test_embedded_admin_token_is_generated_once_and_kept_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIFANG_ADMIN_TOKEN", raising=False)
    first = admin_token(tmp_path)
    assert len(first) >= 24
    assert admin_token(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "admin-token").stat().st_mode) == 0o600
    monkeypatch.setenv("SIFANG_ADMIN_TOKEN", "from-the-environment-token")
    assert admin_token(tmp_path) == "from-the-environment-token"


def test_make_run_generates_nats_users_once_and_gives_each_service_only_its_own(tmp_path: Path) -> None:
    first = Platform(tmp_path, nats_port=free_port(), token="a-long-enough-admin-token")
    again = Platform(tmp_path, nats_port=free_port(), token="a-long-enough-admin-token")
    credentials = tmp_path / "nats" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert first.nats_passwords == again.nats_passwords == json.loads(credentials.read_text())
    community = first.service_env("community")
    assert community["COMMUNITY_NATS_USER"] == "community"
    assert community["COMMUNITY_NATS_PASSWORD"] == first.nats_passwords["community"]
    assert "GOVERNMENT_NATS_PASSWORD" not in community and "SIFANG_NATS_ADMIN_PASSWORD" not in community
    settings = settings_class("community", port=8104)(
        nats_user="community", nats_password=first.nats_passwords["community"]
    )
    assert settings.nats_secret == first.nats_passwords["community"]
    assert first.nats_passwords["community"] not in repr(settings)


def test_a_nats_user_needs_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMUNITY_NATS_USER", "community")
    with pytest.raises(ValidationError, match="COMMUNITY_NATS_PASSWORD"):
        settings_class("community", port=8104)()


def test_make_run_gives_each_stakeholder_service_a_read_book_token_of_the_coordinator(tmp_path: Path) -> None:
    from sqlalchemy.orm import Session

    from services.coordinator.access.service import authenticate, list_tokens, token_state
    from services.migrate import upgrade
    from shared.db import make_engine

    url = f"sqlite:///{tmp_path / 'coordinator.db'}"
    upgrade("coordinator", url)
    platform = Platform(tmp_path, nats_port=free_port(), env={"COORDINATOR_DATABASE_URL": url})
    platform.issue_coordinator_tokens()
    first = dict(platform.coordinator_tokens)
    platform.issue_coordinator_tokens()  # the next start
    enterprise = platform.service_env("enterprise")
    assert enterprise["SIFANG_COORDINATOR_URL"] == platform.url("coordinator")
    assert enterprise["ENTERPRISE_COORDINATOR_TOKEN"] == platform.coordinator_tokens["enterprise"]
    assert "COMMUNITY_COORDINATOR_TOKEN" not in enterprise
    assert "SIFANG_COORDINATOR_URL" not in platform.service_env("coordinator")
    engine = make_engine(url)
    with Session(engine) as session:
        states = sorted((token.name, token_state(token)) for token in list_tokens(session))
        assert authenticate(session, platform.coordinator_tokens["ngo"]).scopes == frozenset({"read:book"})
    engine.dispose()
    assert first["ngo"] != platform.coordinator_tokens["ngo"]
    assert states == sorted(
        (f"make run: {service} service", state)
        for service in ("government", "enterprise", "ngo", "community")
        for state in ("active", "revoked")
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [("0", "greater than or equal to 1"), ("65", "less than or equal to 64"), ("two", "valid integer")],
)
def test_solve_threads_outside_their_range_stop_the_coordinator_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("COORDINATOR_SOLVE_THREADS", value)
    with pytest.raises(ValidationError, match=problem) as refused:
        CoordinatorSettings()
    assert [error["loc"] for error in refused.value.errors()] == [("solve_threads",)]


def test_solve_threads_default_to_the_cores_up_to_four(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COORDINATOR_SOLVE_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert CoordinatorSettings().solve_threads == 2
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert CoordinatorSettings().solve_threads == 4
    monkeypatch.setenv("COORDINATOR_SOLVE_THREADS", "8")
    assert CoordinatorSettings().solve_threads == 8
