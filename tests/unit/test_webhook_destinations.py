"""Which webhook destinations are refused, and why (no network: literal addresses and a stub resolver)."""

import ipaddress
import re
from collections.abc import Sequence

import pytest

from services.coordinator.app import CoordinatorSettings
from services.coordinator.integrations.destinations import (
    Address,
    DestinationPolicy,
    Refused,
    check_url,
    forbidden_reason,
)

STRICT = DestinationPolicy()

FORBIDDEN = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "10.0.0.1": "private address (RFC 1918)",
    "172.16.5.4": "private address (RFC 1918)",
    "192.168.1.1": "private address (RFC 1918)",
    "fc00::1": "unique local",
    "fd12:3456::1": "unique local",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "100.64.0.1": "carrier-grade NAT",
    "100.127.255.254": "carrier-grade NAT",
    "192.0.2.1": "not globally routable",  # documentation (TEST-NET-1)
    "198.18.0.1": "not globally routable",  # benchmarking
    "2001:db8::1": "not globally routable",  # documentation
    "fec0::1": "site-local",
    "::ffff:127.0.0.1": "IPv6 form of 127.0.0.1, a loopback",
    "::ffff:10.1.2.3": "IPv6 form of 10.1.2.3, a private",
    "2002:c0a8:101::1": "IPv6 form of 192.168.1.1, a private",  # 6to4
    "64:ff9b::a00:1": "IPv6 form of 10.0.0.1, a private",  # NAT64
}

PUBLIC = ["8.8.8.8", "1.1.1.1", "203.0.114.7", "2606:4700:4700::1111", "2001:4860:4860::8888"]


def _ip(text: str) -> Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(("address", "reason"), FORBIDDEN.items())
def test_every_class_of_non_public_address_is_refused_with_its_reason(address: str, reason: str) -> None:
    found = forbidden_reason(_ip(address))
    assert found is not None and reason in found
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(
        Refused, match=f"{re.escape(str(_ip(address)))} is .*{re.escape(reason)}.*COORDINATOR_WEBHOOK_ALLOW"
    ):
        check_url(f"https://{host}/hooks", STRICT, _no_resolver)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(_ip(address)) is None
    host = f"[{address}]" if ":" in address else address
    assert check_url(f"https://{host}:8443/x", STRICT, _no_resolver).addresses == (_ip(address),)


def _no_resolver(host: str, port: int) -> Sequence[Address]:
    raise AssertionError(f"a literal address is never resolved ({host})")


def _resolver(*addresses: str) -> "_Stub":
    return _Stub([_ip(a) for a in addresses])


class _Stub:
    def __init__(self, addresses: list[Address]) -> None:
        self.addresses = addresses
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[Address]:
        self.asked.append((host, port))
        return self.addresses


def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    resolver = _resolver("93.184.215.14", "10.9.8.7")  # one public, one private: refused
    with pytest.raises(Refused, match=r"hooks\.example resolves to 10\.9\.8\.7, a private address"):
        check_url("https://hooks.example/in", STRICT, resolver)
    assert resolver.asked == [("hooks.example", 443)]
    target = check_url("https://hooks.example:8443/in", STRICT, _resolver("93.184.215.14", "2606:2800::1"))
    assert [str(a) for a in target.addresses] == ["93.184.215.14", "2606:2800::1"]
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example", 8443)


@pytest.mark.parametrize("url", ["ftp://93.184.215.14/x", "file:///etc/passwd", "gopher://1.1.1.1/", "//x/"])
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(Refused, match="scheme must be https"):
        check_url(url, DestinationPolicy(allow_private=True, allow_http=True), _no_resolver)


def test_plain_http_only_to_operator_allowed_addresses_or_when_allowed_everywhere() -> None:
    with pytest.raises(Refused, match="plain http"):
        check_url("http://93.184.215.14/x", STRICT, _no_resolver)
    with pytest.raises(Refused, match="plain http"):  # allowing private addresses is not allowing http
        check_url("http://93.184.215.14/x", DestinationPolicy(allow_private=True), _no_resolver)
    assert check_url("http://93.184.215.14/x", DestinationPolicy(allow_http=True), _no_resolver)
    assert check_url("http://10.0.0.1/x", DestinationPolicy(allow_private=True), _no_resolver)
    with pytest.raises(Refused, match=r"10\.0\.0\.1 is a private"):  # allow_http does not allow private
        check_url("http://10.0.0.1/x", DestinationPolicy(allow_http=True), _no_resolver)


def test_the_allow_list_allows_its_networks_only() -> None:
    policy = DestinationPolicy(
        allowed_networks=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("fd00:1::/32"))
    )
    assert check_url("http://127.0.0.1:9000/x", policy, _no_resolver)
    assert check_url("http://[fd00:1::5]/x", policy, _no_resolver)
    assert check_url("http://localhost/x", policy, _resolver("127.0.0.1"))
    for refused in ("http://10.0.0.1/x", "https://[::1]/x", "https://169.254.169.254/latest/meta-data"):
        with pytest.raises(Refused):
            check_url(refused, policy, _no_resolver)
    with pytest.raises(Refused, match="resolves to ::1, a loopback"):  # IPv4 allowed, IPv6 not
        check_url("http://localhost/x", policy, _resolver("127.0.0.1", "::1"))


def test_a_name_that_does_not_resolve_is_not_a_refusal_but_an_os_error() -> None:
    with pytest.raises(OSError, match="no address"):
        check_url("https://nowhere.example/", STRICT, _resolver())


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DestinationPolicy.from_settings(CoordinatorSettings()) == STRICT
    monkeypatch.setenv("COORDINATOR_WEBHOOK_ALLOWED_NETWORKS", '["127.0.0.0/8", "fd00::/8", "10.1.2.3"]')
    monkeypatch.setenv("COORDINATOR_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("COORDINATOR_WEBHOOK_ALLOW_HTTP", "1")
    policy = DestinationPolicy.from_settings(CoordinatorSettings())
    assert policy.allow_private and policy.allow_http
    assert [str(n) for n in policy.allowed_networks] == ["127.0.0.0/8", "fd00::/8", "10.1.2.3/32"]
    monkeypatch.setenv("COORDINATOR_WEBHOOK_ALLOWED_NETWORKS", '["127.0.0.1/8"]')  # host bits set
    with pytest.raises(ValueError, match="not a valid IPv4 network"):
        CoordinatorSettings()
