"""Where an offer reaches beyond its coordinator's partition (pure rules).

Coordinators may be partitioned by county (``COORDINATOR_REGIONS``). An offer belongs to the
partition of its own county and only that partition allocates it. Where its service area reaches
counties the partition does not own, the owner tells those counties' subjects what remains of it
(``offer.shared``): for an area at county level or below, its county's subject; for a city or a
province, which may hold counties of several partitions, the city's or province's own subject,
which every partition with a county under it listens to.
"""

from collections.abc import Iterable, Sequence

from shared.regions import level

__all__ = ["notice_regions", "regions_beyond"]


def regions_beyond(service_area: Iterable[str], regions: Sequence[str]) -> list[str]:
    """The subject regions an offer's notices go to: empty when the partition owns every
    county (no ``regions``) or the whole area lies in its counties."""
    if not regions:
        return []
    owned = set(regions)
    beyond = set()
    for area in service_area:
        if level(area) in ("province", "city") or area[:6] not in owned:
            beyond.add(area[:6])
    return sorted(beyond)


def notice_regions(regions: Sequence[str]) -> list[str]:
    """The subject regions a partition owning ``regions`` hears notices on: its counties, and
    the cities and provinces they lie in."""
    heard = set(regions)
    for county in regions:
        heard |= {county[:4] + "00", county[:2] + "0000"}
    return sorted(heard)
