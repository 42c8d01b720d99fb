"""The province page's data: the partitions and the open needs of every county, read through
the read router (``sifang province serve``, ``COORDINATOR_PROVINCE_URL``). A partition that
does not answer is named, never silently left out."""

from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["ProvinceView", "read_province"]

MISSING_HEADER = "Sifang-Missing-Partitions"  # as the router names them
SHOWN = 100


@dataclass
class ProvinceView:
    configured: bool
    partitions: list[dict[str, Any]] = field(default_factory=list)
    needs: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str | None = None


def read_province(url: str, token: str, timeout: float = 5.0) -> ProvinceView:
    """Ask the router; what goes wrong is reported in the view, not raised."""
    if not url:
        return ProvinceView(configured=False)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout) as client:
            partitions = client.get("/partitions")
            partitions.raise_for_status()
            needs = client.get("/needs", params={"status": "open", "limit": SHOWN, "partial": "true"})
            needs.raise_for_status()
    except httpx.HTTPError as exc:
        return ProvinceView(configured=True, error=f"{type(exc).__name__}: {exc}")
    missing = [name.strip() for name in needs.headers.get(MISSING_HEADER, "").split(",") if name.strip()]
    return ProvinceView(True, partitions.json(), needs.json(), missing)  # longest waiting first
