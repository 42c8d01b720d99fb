import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.coordinator.app import CoordinatorSettings
from services.platform import admin_token
from shared.settings import settings_class


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
