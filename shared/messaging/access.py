"""Who may do what on the bus: Sifang's NATS users and their permissions, in one place.

Users with passwords and permissions in the server's ``authorization`` block (one account):

- one user per stakeholder kind (``government``, ``enterprise``, ``ngo``, ``community``): publishes
  only ``sifang.<kind>.>``, reads the stream's info, and runs only its own durable consumer
  ``<kind>-coordinator-events`` (create, info, fetch, ack);
- ``coordinator``: publishes only ``sifang.coordinator.>`` and runs only its own durable consumers
  (``coordinator``, or ``coordinator-<partition>`` per partition);
- ``sifang-admin`` (bootstrap and operators): no limits; the only user that may create, update or
  delete the stream (``python -m shared.messaging.provision`` and ``make run`` use it);
- integrators: subscribe-only, each bound to its own durable consumer named like the user.

Replies come back on ``_INBOX.>``, the only subjects anyone but the admin may subscribe to.
Anonymous connections are refused because an ``authorization`` block with users is present.

``make run`` renders this model with generated passwords (``embedded_config``);
``deploy/nats/permissions.conf`` is rendered from it with ``$VARIABLE`` password references
(``python -m shared.messaging.access > deploy/nats/permissions.conf``; a test keeps it current).
"""

import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared.events.subjects import STAKEHOLDER_KINDS
from shared.messaging.nats import STREAM_NAME

__all__ = [
    "ADMIN_USER",
    "COORDINATOR_USER",
    "OBSOLETE_COORDINATOR_CONSUMERS",
    "NatsUser",
    "admin_credentials",
    "credentials_env",
    "deploy_users",
    "embedded_users",
    "integrator_permissions",
    "load_or_create_passwords",
    "password_variable",
    "render_authorization",
    "service_permissions",
]

ADMIN_USER = "sifang-admin"
COORDINATOR_USER = "coordinator"
# Consumers the coordinator deletes on start because earlier versions used them.
OBSOLETE_COORDINATOR_CONSUMERS = ("coordinator-webhooks",)
INBOX = "_INBOX.>"

Permissions = dict[str, dict[str, list[str]]]


@dataclass(frozen=True)
class NatsUser:
    """A user of the server; ``permissions`` None means unrestricted (the admin)."""

    name: str
    permissions: Permissions | None
    password: str | None = field(default=None, repr=False)  # None: a $VARIABLE reference


def _consumer_api(durable: str) -> list[str]:
    """What running one durable pull consumer needs: create/update it, read it, fetch, ack."""
    api = f"$JS.API.CONSUMER.%s.{STREAM_NAME}.{durable}"
    return [
        api % "CREATE",
        api % "CREATE" + ".>",  # the form nats clients use with a single filter subject
        f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM_NAME}.{durable}",
        api % "INFO",
        api % "MSG.NEXT",
        f"$JS.ACK.{STREAM_NAME}.{durable}.>",
    ]


def service_permissions(kind: str, durables: Sequence[str], *, deletable: Sequence[str] = ()) -> Permissions:
    """A service of ``kind``: publish its own events, run its own durable consumers."""
    allow = [f"sifang.{kind}.>", f"$JS.API.STREAM.INFO.{STREAM_NAME}"]
    for durable in durables:
        allow += _consumer_api(durable)
    allow += [f"$JS.API.CONSUMER.DELETE.{STREAM_NAME}.{name}" for name in deletable]
    return {"publish": {"allow": allow}, "subscribe": {"allow": [INBOX]}}


def integrator_permissions(durable: str) -> Permissions:
    """A subscribe-only integrator: its own durable consumer, nothing published onto ``sifang.>``."""
    allow = ["$JS.API.INFO", f"$JS.API.STREAM.INFO.{STREAM_NAME}", *_consumer_api(durable)]
    return {"publish": {"allow": allow}, "subscribe": {"allow": [INBOX]}}


def _users(
    coordinator_durables: Sequence[str], integrators: Sequence[str], passwords: Mapping[str, str] | None
) -> list[NatsUser]:
    def password(name: str) -> str | None:
        return None if passwords is None else passwords[name]

    users = [NatsUser(ADMIN_USER, None, password(ADMIN_USER))]
    users += [
        NatsUser(kind, service_permissions(kind, [f"{kind}-coordinator-events"]), password(kind))
        for kind in STAKEHOLDER_KINDS
    ]
    coordinator = service_permissions(
        COORDINATOR_USER, coordinator_durables, deletable=OBSOLETE_COORDINATOR_CONSUMERS
    )
    users.append(NatsUser(COORDINATOR_USER, coordinator, password(COORDINATOR_USER)))
    users += [NatsUser(name, integrator_permissions(name), password(name)) for name in integrators]
    return users


def embedded_users(
    passwords: Mapping[str, str], *, coordinator_durables: Sequence[str], integrators: Sequence[str]
) -> list[NatsUser]:
    """The users of ``make run``'s server, with their generated passwords."""
    return _users(coordinator_durables, integrators, passwords)


def deploy_users(
    coordinator_durables: Sequence[str] = ("coordinator",), integrators: Sequence[str] = ("reports",)
) -> list[NatsUser]:
    """The users of the deployed cluster, their passwords referenced as environment variables."""
    return _users(coordinator_durables, integrators, None)


def password_variable(user: str) -> str:
    """The environment variable holding ``user``'s password in the deployed configuration."""
    if user == ADMIN_USER:
        return "SIFANG_NATS_ADMIN_PASSWORD"  # what python -m shared.messaging.provision reads too
    return "SIFANG_NATS_" + user.upper().replace("-", "_") + "_PASSWORD"


def render_authorization(users: Iterable[NatsUser]) -> str:
    """The server's ``authorization`` block. Literal passwords are quoted; missing ones become
    unquoted ``$VARIABLE`` references, which nats-server expands from the environment (a quoted
    "$VARIABLE" would be taken literally)."""
    lines = ["authorization {", "  users = ["]
    for user in users:
        secret = (
            json.dumps(user.password) if user.password is not None else "$" + password_variable(user.name)
        )
        lines.append(f"    {{ user: {json.dumps(user.name)}, password: {secret}")
        if user.permissions is not None:
            lines.append(
                f"      permissions: {json.dumps(user.permissions, indent=2)}".replace("\n", "\n      ")
            )
        lines.append("    }")
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def load_or_create_passwords(path: Path, users: Iterable[str]) -> dict[str, str]:
    """Passwords generated once per user and kept in ``path`` (JSON, mode 0600)."""
    passwords: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [user for user in users if user not in passwords]
    if missing or not path.exists():
        # A letter first and [A-Za-z0-9] only: safe in URLs and as a nats-server config value.
        passwords |= {user: "p" + secrets.token_hex(24) for user in missing}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(passwords, indent=2) + "\n")
    path.chmod(0o600)
    return passwords


def admin_credentials() -> dict[str, str]:
    """``user``/``password`` for operator tools: ``SIFANG_NATS_ADMIN_USER`` (default sifang-admin) and
    ``SIFANG_NATS_ADMIN_PASSWORD``, else make run's admin from ``$SIFANG_VAR_DIR/nats/credentials.json``;
    empty (anonymous) when neither is there."""
    if password := os.environ.get("SIFANG_NATS_ADMIN_PASSWORD"):
        return {"user": os.environ.get("SIFANG_NATS_ADMIN_USER", ADMIN_USER), "password": password}
    path = Path(os.environ.get("SIFANG_VAR_DIR", "var")) / "nats" / "credentials.json"
    if path.exists() and (stored := json.loads(path.read_text()).get(ADMIN_USER)):
        return {"user": ADMIN_USER, "password": str(stored)}
    return {}


def credentials_env(service: str, password: str) -> dict[str, str]:
    """The environment that gives ``service`` its NATS user (see ``ServiceSettings``)."""
    prefix = service.upper()
    return {f"{prefix}_NATS_USER": service, f"{prefix}_NATS_PASSWORD": password}


def main() -> None:
    """Print the deployed cluster's permissions.conf."""
    print(
        "# Who may do what on the Sifang NATS servers; included by nats-{1,2,3}.conf.\n"
        "# Generated from shared/messaging/access.py: python -m shared.messaging.access > "
        "deploy/nats/permissions.conf\n"
        "# Each password is an environment variable of the nats-server process (unquoted $NAME is\n"
        "# expanded; see deploy/README.md). Add a coordinator partition's durable consumer\n"
        "# (coordinator-<partition>) or an integrator by editing deploy_users() and regenerating,\n"
        "# or by copying the integrator block below with its names replaced.\n"
        + render_authorization(deploy_users()),
        end="",
    )


if __name__ == "__main__":
    main()
