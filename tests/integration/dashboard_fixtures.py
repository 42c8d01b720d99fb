"""A signed-in dashboard over a real migrated database, and rows put straight into the
coordinator's tables (what the stream would have built), for the dashboard's page tests."""

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.coordinator.app import CoordinatorSettings, create_app
from services.coordinator.book.models import BookNeed, BookOffer
from services.coordinator.dashboard.accounts import create_account
from services.coordinator.journal.models import EventLogEntry
from services.coordinator.matches.lifecycle import MatchStatus
from services.coordinator.matches.models import Match
from services.coordinator.registry.models import RegisteredOrganisation
from shared.db import make_engine
from sifang.platform import LocalNats

T0 = datetime(2026, 3, 5, 1, 30, tzinfo=UTC)  # 09:30 Beijing time


@contextmanager
def signed_in(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[tuple[TestClient, str]]:
    """A client signed in as 李主任, and the coordinator database's URL (for a test's fixture)."""
    url = service_database("coordinator")
    engine = make_engine(url)
    with Session(engine) as session:
        create_account(session, "li", "李主任", "a long enough password")
        session.commit()
    engine.dispose()
    settings = CoordinatorSettings(
        database_url=url, nats_url=nats_server.url, admin_token="dashboard-admin-token-0123"
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/dashboard/login").text)
        assert token is not None
        signed = client.post(
            "/dashboard/login",
            data={"username": "li", "password": "a long enough password", "csrf": token.group(1)},
        )
        assert signed.status_code == 303
        yield client, url


def organisation(session: Session, name: str, kind: str, region: str) -> str:
    id_ = str(uuid.uuid4())
    session.add(
        RegisteredOrganisation(id=id_, name=name, kind=kind, region=region, contact={}, registered_at=T0)
    )
    return id_


def listing(
    session: Session,
    side: str,
    organisation_id: str,
    title: str,
    *,
    quantity: str = "30",
    unit: str = "人",
    category: str = "training.livestream",
    region: str = "610124104202",
    status: str = "open",
    at: datetime = T0,
    kind: str = "community",
) -> str:
    id_ = str(uuid.uuid4())
    model: Any = BookNeed if side == "need" else BookOffer
    extra = {"service_area": [region[:6]]} if side == "offer" else {}
    session.add(
        model(
            id=id_,
            organisation_id=organisation_id,
            kind=kind,
            category=category,
            title=title,
            description="",
            quantity=Decimal(quantity),
            unit=unit,
            region=region,
            window_start=None,
            window_end=None,
            attributes={},
            status=status,
            withdrawn_reason=None,
            version=1,
            published_at=at,
            updated_at=at,
            **extra,
        )
    )
    return id_


def match(
    session: Session, need_id: str, offer_id: str, need_org: str, offer_org: str, status: str, *, region: str
) -> str:
    id_ = str(uuid.uuid4())
    session.add(
        Match(
            id=id_,
            partition="p",
            need_id=need_id,
            offer_id=offer_id,
            need_organisation_id=need_org,
            offer_organisation_id=offer_org,
            category="training.livestream",
            region=region,
            quantity=Decimal(10),
            unit="人",
            offer_quantity=Decimal(10),
            offer_unit="人",
            base_quantity=10.0,
            score=0.5,
            status=MatchStatus(status),
            accepted_by=[],
            fulfilled_quantity=Decimal(0),
            explanation={},
            reason="",
            proposed_at=T0,
            expires_at=None,
            updated_at=T0,
            version=1,
        )
    )
    return id_


def logged(
    session: Session, event_type: str, organisation_id: str, entity_id: str, data: dict[str, Any]
) -> None:
    """An event in the journal, after every one there."""
    position = (session.scalar(select(func.max(EventLogEntry.position))) or 0) + 1
    session.add(
        EventLogEntry(
            event_id=str(uuid.uuid4()),
            position=position,
            stream_sequence=None,
            nats_subject="sifang.community.610124.x",
            type=event_type,
            source=f"/sifang/community/{organisation_id}",
            kind="community",
            organisation_id=organisation_id,
            entity_id=entity_id,
            region="610124",
            time=T0 + timedelta(minutes=position),
            correlation_id="c",
            causation_id=None,
            data=data,
            received_at=T0,
        )
    )
    session.flush()
