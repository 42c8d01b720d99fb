"""Which offers a county's partition sees: coverage by service-area prefix."""

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy.orm import sessionmaker

from services.coordinator.book.models import BookOffer
from services.coordinator.book.service import sync_offer_areas
from services.coordinator.matches.service import _offers_for
from shared.db import make_engine, utcnow


def test_the_offers_a_county_partition_sees_are_those_whose_area_covers_it(
    service_database: Callable[[str], str],
) -> None:
    """Coverage is looked up by area prefix (an index range, not LIKE): a village's, a
    township's, the county's own, its city's and its province's areas cover it; another
    county's, or an area in another county that shares the first digits, do not."""
    sessions = sessionmaker(make_engine(service_database("coordinator")), expire_on_commit=False)
    areas = {
        "village": ["610124104201"],
        "township": ["610124104"],
        "county": ["610124"],
        "city": ["610100"],
        "province": ["610000"],
        "neighbour": ["610125"],
        "neighbours-village": ["610125104201"],
        "withdrawn": ["610124"],
    }
    with sessions() as session:
        for name, area in areas.items():
            offer = BookOffer(
                id=f"offer-{name}",
                organisation_id="ngo",
                kind="ngo",
                category="training.livestream",
                title=name,
                description="",
                quantity=Decimal(10),
                unit="人",
                region="610124104201",
                service_area=area,
                attributes={},
                status="withdrawn" if name == "withdrawn" else "open",
                withdrawn_reason=None,
                version=1,
                published_at=utcnow(),
                updated_at=utcnow(),
            )
            session.add(offer)
            session.flush()
            sync_offer_areas(session, offer, new=True)
        session.commit()
        seen = [o.id for o in _offers_for(session, "training", "610124")]
    assert seen == sorted(f"offer-{n}" for n in ("village", "township", "county", "city", "province"))
