"""What the parties do over HTTP in the end-to-end tests: join a service, post to it."""

from typing import Any

import httpx

from sifang.platform import Platform


def register(platform: Platform, service: str, name: str, region: str = "610124104201") -> dict[str, str]:
    """A new organisation at ``service`` (by the operator's token); its API key as a header."""
    response = httpx.post(
        platform.url(service) + "/organisations",
        headers={"Authorization": f"Bearer {platform.token}"},
        json={"name": name, "region": region},
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


def post(platform: Platform, service: str, path: str, auth: dict[str, str], body: dict[str, Any]) -> Any:
    """``POST path`` at ``service`` as the organisation ``auth`` names; its 201 body."""
    response = httpx.post(platform.url(service) + path, headers=auth, json=body)
    assert response.status_code == 201, response.text
    return response.json()
