"""The dashboard's book pages and the read API narrow by region the same way: a code and
everything under it, by the code's significant prefix (``shared.regions``)."""

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from services.coordinator.app import CoordinatorSettings, create_app
from services.coordinator.book.models import BookNeed
from services.coordinator.dashboard.accounts import create_account
from shared.db import make_engine
from sifang.platform import LocalNats

ADMIN = {"Authorization": "Bearer region-filter-admin-token-0123"}

# 凤县 (610330) and its neighbour 太白县 (610331) share the digits "61033"; the townships
# 610330100 and 610330101 share "6103301". Stripping trailing zeros confused each pair.
NEEDS = {
    "county": "610330",
    "township": "610330100",
    "village": "610330100001",
    "neighbouring township": "610330101",
    "neighbouring county": "610331",
}


@pytest.fixture
def signed_in(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A coordinator with one need in each region of ``NEEDS``, and a signed-in dashboard client;
    also yields the need ids by their place."""
    url = service_database("coordinator")
    engine = make_engine(url)
    ids = {place: str(uuid.uuid4()) for place in NEEDS}
    start = datetime(2025, 3, 1, tzinfo=UTC)
    with Session(engine) as session:
        create_account(session, "li", "李主任", "a long enough password")
        for n, (place, region) in enumerate(NEEDS.items()):
            at = start + timedelta(minutes=n)
            session.add(
                BookNeed(
                    id=ids[place],
                    organisation_id=str(uuid.uuid4()),
                    kind="community",
                    category="training.livestream",
                    title=f"直播培训 {place}",
                    description="",
                    quantity=Decimal(10),
                    unit="person",
                    region=region,
                    window_start=None,
                    window_end=None,
                    attributes={},
                    status="open",
                    withdrawn_reason=None,
                    version=1,
                    published_at=at,
                    updated_at=at,
                )
            )
        session.commit()
    engine.dispose()
    settings = CoordinatorSettings(
        database_url=url, nats_url=nats_server.url, admin_token=ADMIN["Authorization"].split()[1]
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        page = client.get("/dashboard/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        response = client.post(
            "/dashboard/login",
            data={
                "username": "li",
                "password": "a long enough password",
                "csrf": csrf.group(1),
                "next": "/dashboard/needs",
            },
        )
        assert response.status_code == 303
        yield client, ids


@pytest.mark.parametrize(
    ("region", "places"),
    [
        ("610330", {"county", "township", "village", "neighbouring township"}),
        ("610330100", {"township", "village"}),
        ("610330100000", {"township", "village"}),  # the township, as a twelve-digit code
    ],
)
def test_dashboard_and_api_filter_needs_by_region_alike(
    signed_in: tuple[TestClient, dict[str, str]], region: str, places: set[str]
) -> None:
    client, ids = signed_in
    page = client.get("/dashboard/needs", params={"region": region})
    assert page.status_code == 200
    on_dashboard = set(re.findall(r'href="/dashboard/needs/([0-9a-f-]{36})"', page.text))
    response = client.get("/needs", params={"region": region}, headers=ADMIN)
    assert response.status_code == 200
    from_api = {need["id"] for need in response.json()}
    assert on_dashboard == from_api == {ids[place] for place in places}


def test_dashboard_ignores_a_region_that_is_not_digits(
    signed_in: tuple[TestClient, dict[str, str]],
) -> None:
    client, ids = signed_in
    page = client.get("/dashboard/needs", params={"region": "凤县"})
    assert page.status_code == 200
    assert set(re.findall(r'href="/dashboard/needs/([0-9a-f-]{36})"', page.text)) == set(ids.values())
