"""Times as the people of a region read them: in the region's time zone, with the zone named.

Times are stored in UTC. Every region code here is Chinese (GB/T 2260), and all of China keeps
Beijing time, so every region maps to ``Asia/Shanghai``; the mapping is by province prefix so a
region elsewhere can be given its own zone."""

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = ["ZONE_NAMES", "local_time", "zone_name", "zone_of"]

CHINA = ZoneInfo("Asia/Shanghai")
ZONES: dict[str, ZoneInfo] = {}  # province prefix → zone, where it is not Beijing time
ZONE_NAMES: dict[str, tuple[str, str]] = {"Asia/Shanghai": ("北京时间", "CST")}


def zone_of(region: str = "") -> ZoneInfo:
    """The time zone of ``region`` (a region code; empty: the platform's own, Beijing time)."""
    return ZONES.get(region[:2], CHINA)


def zone_name(region: str = "", lang: Literal["zh", "en"] = "zh") -> str:
    """How ``region``'s zone is named to a reader: 北京时间 / CST."""
    key = zone_of(region).key
    zh, en = ZONE_NAMES.get(key, (key, key))
    return zh if lang == "zh" else en


def local_time(
    when: datetime | str | None,
    lang: Literal["zh", "en"] = "zh",
    region: str = "",
    fmt: str = "%Y-%m-%d %H:%M",
    *,
    named: bool = True,
) -> str:
    """``when`` (a datetime or an ISO 8601 string; naive means UTC) in ``region``'s zone, followed
    by the zone's name unless ``named`` is false; an empty string for nothing, and a string that
    is not a time is returned as it is."""
    if not when:
        return ""
    if isinstance(when, str):
        try:
            moment = datetime.fromisoformat(when)
        except ValueError:
            return when
    else:
        moment = when
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    text = moment.astimezone(zone_of(region)).strftime(fmt)
    return f"{text} {zone_name(region, lang)}" if named else text
