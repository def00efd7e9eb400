"""archive.http.netguard: URL text checks, address policy, resolve-then-check (FAULTS 28, 29)."""

from __future__ import annotations

import socket

import pytest

from archive.errors import DNSError, RefusedURLError
from archive.http.netguard import address_problem, check_address, check_url, resolve_and_check

# --------------------------------------------------------------------------- check_url


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "gopher://example.com/1", "ftp://example.com/a.txt",
    "data:text/html,<h1>hi</h1>", "javascript:alert(1)", "ws://example.com/", "example.com/a",
])
def test_fault29_non_http_schemes_refused(url: str) -> None:
    with pytest.raises(RefusedURLError, match="scheme") as info:
        check_url(url)
    assert url in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("url", "reason"), [
    ("http:///path", "no host"),
    ("http://user:pass@example.com/", "credentials"),
    ("http://example.com@127.0.0.1/", "credentials"),
    ("http://example.com\\@127.0.0.1/", "backslash"),
    ("http://exa mple.com/", "whitespace"),
    ("http://example.com/a\x00b", "control"),
    ("http://example.com:99999/", "cannot be parsed"),
    ("http://2130706433/", "non-canonical IP"),
    ("http://0177.0.0.1/", "non-canonical IP"),
    ("http://0x7f.0.0.1/", "non-canonical IP"),
    ("http://127.1/", "non-canonical IP"),
    ("http://[::1x]/", "IPv6"),
    ("http://a..b.com/", "empty label"),
    ("http://example.com/" + "a" * 9000, "longer than"),
])
def test_check_url_refuses_tricks(url: str, reason: str) -> None:
    with pytest.raises(RefusedURLError, match=reason):
        check_url(url)


def test_check_url_normalises_host_and_port() -> None:
    checked = check_url("HTTPS://Example.COM./news?id=1")
    assert (checked.scheme, checked.host, checked.port) == ("https", "example.com", 443)
    assert check_url("http://例え.jp:8080/").host == "xn--r8jz45g.jp"
    assert check_url("http://[2606:4700::1]/").host == "2606:4700::1"


# --------------------------------------------------------------------------- addresses

UNSPECIFIED = "0.0.0.0"  # noqa: S104 (an address to refuse; nothing binds to it)

BLOCKED = [
    "127.0.0.1", "127.255.255.254", UNSPECIFIED, "0.1.2.3", "10.1.2.3", "172.16.0.1",
    "172.31.255.255", "192.168.1.1", "100.64.0.1", "169.254.169.254", "169.254.1.1",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.2.1",
    "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "64:ff9b::7f00:1", "2002:7f00:1::1", "2001:db8::1", "::127.0.0.1",
]


@pytest.mark.parametrize("ip", BLOCKED)
def test_fault28_non_public_addresses_refused(ip: str) -> None:
    with pytest.raises(RefusedURLError, match="refused") as info:
        check_address(ip, allow_private=False, url="http://victim.example/")
    assert "http://victim.example/" in str(info.value)


@pytest.mark.parametrize("ip", ["8.8.8.8", "93.184.215.14", "2606:4700::1111",
                                "::ffff:8.8.8.8", "2002:808:808::1"])
def test_public_addresses_allowed(ip: str) -> None:
    assert address_problem(ip, allow_private=False) is None


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.0.0.1", "192.168.0.10", "::1", "fd00::5",
                                "::ffff:127.0.0.1"])
def test_allow_private_permits_private_ranges(ip: str) -> None:
    assert address_problem(ip, allow_private=True) is None


@pytest.mark.parametrize("ip", [UNSPECIFIED, "224.0.0.1", "255.255.255.255", "::", "ff02::1",
                                "169.254.169.254", "fd00:ec2::254"])
def test_allow_private_still_refuses_non_hosts_and_metadata(ip: str) -> None:
    assert address_problem(ip, allow_private=True) is not None


# --------------------------------------------------------------------------- resolution


def test_fault28_name_resolving_to_loopback_refused() -> None:
    with pytest.raises(RefusedURLError, match=r"localhost resolves to (127\.0\.0\.1|::1)"):
        resolve_and_check("localhost", 80, allow_private=False, url="http://localhost/")


def test_resolve_allows_loopback_when_private_allowed() -> None:
    addresses = resolve_and_check("localhost", 80, allow_private=True)
    assert addresses and all(ip in ("127.0.0.1", "::1") for _, ip in addresses)


def test_decimal_spelling_resolves_to_loopback_and_is_refused() -> None:
    # the resolver really does turn 2130706433 into 127.0.0.1: check_url refuses the
    # spelling, and resolve_and_check refuses the address if a caller skips check_url
    with pytest.raises(RefusedURLError, match=r"127\.0\.0\.1"):
        resolve_and_check("2130706433", 80, allow_private=False)


def test_fault08_dns_failure_is_dns_error(looked_up: list[str]) -> None:
    with pytest.raises(DNSError, match=r"no-such-host\.invalid") as info:
        resolve_and_check("no-such-host.invalid", 80, allow_private=False, timeout=5)
    assert "\n" not in str(info.value) and "Name or service not known" in str(info.value)
    assert looked_up == ["no-such-host.invalid"]


def test_a_trailing_dot_is_looked_up_as_check_url_spells_the_name(
        looked_up: list[str]) -> None:
    assert check_url("http://localhost./").host == "localhost"
    addresses = resolve_and_check("localhost.", 80, allow_private=True)
    assert addresses == [(socket.AF_INET, "127.0.0.1")] and looked_up == ["localhost"]


def test_a_private_address_refusal_says_which_setting_allows_it() -> None:
    with pytest.raises(RefusedURLError, match="--allow-private-networks"):
        resolve_and_check("127.0.0.1", 80, allow_private=False)
    with pytest.raises(RefusedURLError) as info:  # no setting allows a metadata address
        resolve_and_check("169.254.169.254", 80, allow_private=False)
    assert "--allow-private-networks" not in str(info.value)
