"""Calendar months in China Standard Time (UTC+8, no daylight saving), as the market counts them."""

from datetime import UTC, datetime, timedelta, timezone

__all__ = ["CHINA", "month_of", "month_range"]

CHINA = timezone(timedelta(hours=8), "CST")


def month_of(at: datetime) -> str | None:
    """The calendar month (``YYYY-MM``) of ``at`` in China Standard Time; None for an instant
    no calendar month of years 1–9998 holds (a publisher's clock far off)."""
    try:
        local = at.astimezone(CHINA)
    except OverflowError:
        return None
    return local.strftime("%Y-%m") if 1 <= local.year <= 9998 else None


def month_range(month: str) -> tuple[datetime, datetime]:
    """The first instant of ``month`` (``YYYY-MM``, China Standard Time, a year up to 9998) and
    of the next, in UTC."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=CHINA)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=CHINA)
    return start.astimezone(UTC), end.astimezone(UTC)
