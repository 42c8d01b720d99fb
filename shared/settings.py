"""Settings from the environment (pydantic-settings): one class per service on this base.

Per service: ``<SERVICE>_DATABASE_URL``, ``<SERVICE>_PORT`` and the service's own NATS user,
``<SERVICE>_NATS_USER`` / ``<SERVICE>_NATS_PASSWORD`` (required in production; see
``shared/messaging/access.py`` for what each user may do). Shared by all: ``NATS_URL``,
``SIFANG_ADMIN_TOKEN``, ``SIFANG_MODE`` (``embedded`` for a laptop, ``production`` otherwise),
``SIFANG_VAR_DIR`` (where embedded SQLite files live) and ``SIFANG_STREAM_REPLICAS``.
A stakeholder service admits at most ``<SERVICE>_MAX_INFLIGHT_WRITES`` writes at once (32),
runs ``<SERVICE>_CONCURRENT_WRITES`` of them at a time (2 on SQLite, all on PostgreSQL) and
answers the excess 503 with ``Retry-After: <SERVICE>_RETRY_AFTER_SECONDS`` (1).

A stakeholder service also asks the coordinator on its organisations' behalf (the diagnosis of
a need or offer): ``SIFANG_COORDINATOR_URL`` (shared) and its own API token of the coordinator
with the scope ``read:book``, ``<SERVICE>_COORDINATOR_TOKEN``.
"""

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings", "StakeholderSettings", "settings_class"]

DEFAULT_NATS_URL = "nats://127.0.0.1:4233"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: ClassVar[str]

    mode: Literal["embedded", "production"] = Field(
        default="embedded", validation_alias=AliasChoices("SIFANG_MODE")
    )
    var_dir: Path = Field(default=Path("var"), validation_alias=AliasChoices("SIFANG_VAR_DIR"))
    nats_url: str = Field(default=DEFAULT_NATS_URL, validation_alias=AliasChoices("NATS_URL"))
    stream_replicas: int = Field(
        default=1, ge=1, le=5, validation_alias=AliasChoices("SIFANG_STREAM_REPLICAS")
    )
    admin_token: str | None = Field(
        default=None, min_length=16, validation_alias=AliasChoices("SIFANG_ADMIN_TOKEN")
    )
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int
    max_inflight_writes: int = Field(
        default=32,
        ge=1,
        description="write requests a stakeholder service admits at once; more get a fast 503",
    )
    concurrent_writes: int | None = Field(
        default=None,
        ge=1,
        description="of those, how many run at once (the rest wait their turn); "
        "default 2 on SQLite (one writer anyway), all of them on PostgreSQL",
    )
    retry_after_seconds: int = Field(default=1, ge=1, description="the Retry-After of that 503, in seconds")

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> "ServiceSettings":
        if self.mode == "production":
            if not self.admin_token:
                raise ValueError("SIFANG_ADMIN_TOKEN must be set in production mode")
            if not self.database_url:
                raise ValueError(f"{self.service_name.upper()}_DATABASE_URL must be set in production")
            if not self.nats_user:
                raise ValueError(f"{self.service_name.upper()}_NATS_USER must be set in production")
        if bool(self.nats_user) != bool(self.nats_password):
            prefix = self.service_name.upper()
            raise ValueError(
                f"{prefix}_NATS_USER and {prefix}_NATS_PASSWORD go together: set both or neither"
            )
        return self

    @property
    def nats_secret(self) -> str | None:
        """The NATS password, for ``nats.connect``."""
        return self.nats_password.get_secret_value() if self.nats_password else None

    @property
    def effective_database_url(self) -> str:
        """The configured database, or the embedded SQLite file under the var directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / f'{self.service_name}.db').resolve()}"


class StakeholderSettings(ServiceSettings):
    """A stakeholder service's settings: the shared base and how it reaches the coordinator."""

    coordinator_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("coordinator_url", "SIFANG_COORDINATOR_URL"),
        description="the coordinator's base URL, e.g. http://127.0.0.1:8100",
    )
    coordinator_token: SecretStr | None = Field(
        default=None, description="this service's API token of the coordinator (scope read:book)"
    )
    coordinator_timeout: float = Field(
        default=5.0, gt=0, description="seconds the coordinator has to answer before a 503"
    )
    portal_session_hours: int = Field(default=12, ge=1, description="a portal session lasts this long")
    portal_idle_minutes: int = Field(default=120, ge=1, description="…and ends after this long unused")
    portal_login_max_failures: int = Field(default=5, ge=1, description="failed sign-ins before a lock")


def settings_class(service: str, *, port: int) -> type[StakeholderSettings]:
    """The settings class of stakeholder ``service``: ``<SERVICE>_*`` variables on the shared base."""
    namespace = {
        "__module__": __name__,
        "__annotations__": {"service_name": ClassVar[str], "port": int},
        "model_config": SettingsConfigDict(env_prefix=f"{service.upper()}_", extra="ignore"),
        "service_name": service,
        "port": port,
    }
    return type(f"{service.title()}Settings", (StakeholderSettings,), namespace)
