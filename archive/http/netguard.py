"""URL and address policy: the SSRF guard in front of every connection.

An archiver fetches URLs that strangers chose, so a URL must never make us talk to the
machine we run on, our private network or a cloud metadata service. Three checks:

* :func:`check_url` looks at the URL text alone: scheme, host, credentials, spelling.
* :func:`check_address` decides whether one IP address is an acceptable peer.
* :func:`resolve_and_check` resolves a host and refuses it if *any* address is
  unacceptable. The fetcher connects only to the addresses this returns, so there
  is no gap between the check and the connection for DNS rebinding to slip into.
  Names are looked up as :func:`check_url` spells them (``localhost.`` as ``localhost``),
  through one resolver that tests replace with :func:`set_resolver` (a DNS failure is
  tested without asking DNS about a name that does not exist).

Numeric host spellings that parsers disagree on (``2130706433``, ``0177.0.0.1``,
``0x7f.1``, ``127.1``) are refused outright: a resolver would turn each into
127.0.0.1 while a log reader sees something else.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import SplitResult, urlsplit

import idna

from archive.errors import DNSError, FetchTimeoutError, RefusedURLError

ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_URL_LENGTH = 8192
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never acceptable, whatever the operator allows: not a peer one can talk to.
_NEVER_V4 = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8",        # "this network"; connecting to 0.0.0.0 reaches the local host
    "224.0.0.0/4",      # multicast
    "240.0.0.0/4",      # reserved, includes 255.255.255.255 broadcast
))
# Cloud metadata endpoints stay refused even when private networks are allowed:
# allowing an intranet must not hand out the host's cloud credentials.
_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254",
))
# Not globally routable (RFC 6890 special-purpose registry and friends).
_PRIVATE_V4 = tuple(ipaddress.IPv4Network(n) for n in (
    "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24",
))
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_PRIVATE_V6 = tuple(ipaddress.IPv6Network(n) for n in (
    "2001::/23",        # IETF protocol assignments (Teredo, ORCHID, benchmarking...)
    "2001:db8::/32",    # documentation
    "3fff::/20",        # documentation
))
_UNIQUE_LOCAL_V6 = ipaddress.IPv6Network("fc00::/7")
_MAPPED_V6 = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64_V6 = ipaddress.IPv6Network("64:ff9b::/96")
_6TO4_V6 = ipaddress.IPv6Network("2002::/16")

# WHATWG: a host whose last label is a number is an IPv4 address in some spelling.
_NUMERIC_LABEL = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")

_resolver_pool: ThreadPoolExecutor | None = None
_resolver_lock = threading.Lock()
# What a private-network refusal tells the operator (only where the flag would help).
PRIVATE_HINT = ("pass --allow-private-networks (or set ARCHIVE_ALLOW_PRIVATE_NETWORKS=1) "
                "to capture loopback and private addresses")

Resolver = Callable[[str, int], list[tuple[int, str]]]
"""``(host, port) -> [(address family, ip), ...]``; raises ``socket.gaierror``."""


def system_resolver(host: str, port: int) -> list[tuple[int, str]]:
    """The operating system's resolver (getaddrinfo: /etc/hosts, then DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(int(info[0]), str(info[4][0])) for info in infos]


_resolver: Resolver = system_resolver


def set_resolver(resolver: Resolver | None) -> Resolver:
    """Use ``resolver`` for every lookup from now on (None: the system's again);
    returns the one it replaces."""
    global _resolver
    previous, _resolver = _resolver, resolver or system_resolver
    return previous


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed :func:`check_url`; ``host`` is lowercase ASCII (IDNA)."""

    url: str
    scheme: str
    host: str
    port: int


def check_url(url: str) -> CheckedURL:
    """Refuse URLs we must never fetch, judging the text alone (no DNS).

    Raises :class:`RefusedURLError` naming the URL and the reason.
    """
    if len(url) > MAX_URL_LENGTH:
        _refuse(url[:80] + "...", f"URL is longer than {MAX_URL_LENGTH} characters")
    if _BAD_URL_CHARS.search(url):
        _refuse(url, "URL contains whitespace, control characters or a backslash")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        _refuse(url, f"URL cannot be parsed ({exc})")
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = f"{scheme}:" if scheme else "no scheme"
        _refuse(url, f"scheme {shown} is not allowed (only http and https)")
    if "@" in parts.netloc:
        _refuse(url, "credentials in the URL (user@host) are not allowed")
    host = _ascii_host(url, parts)
    return CheckedURL(url=url, scheme=scheme, host=host,
                      port=port if port is not None else DEFAULT_PORTS[scheme])


def check_address(ip: str, *, allow_private: bool, url: str | None = None) -> None:
    """Refuse an address that is not a public peer (or not a peer at all).

    With ``allow_private`` loopback, private, link-local and unique-local ranges are
    accepted, but unspecified, multicast, reserved and cloud metadata addresses are not.
    Addresses embedding an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by it.
    """
    reason = address_problem(ip, allow_private=allow_private)
    if reason is not None:
        _refuse(url or ip, f"address {ip}, {reason}")


def address_problem(ip: str, *, allow_private: bool) -> str | None:
    """The reason ``ip`` is refused, or None when it is acceptable."""
    try:
        addr: IPAddress = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return "which is not an IP address"
    if addr in _METADATA:
        return "a cloud metadata address"
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_v4(addr)
        if embedded is not None:
            inner = address_problem(str(embedded), allow_private=allow_private)
            return None if inner is None else f"which embeds {embedded}, {inner}"
        return _v6_problem(addr, allow_private)
    return _v4_problem(addr, allow_private)


def resolve_and_check(
    host: str, port: int, *, allow_private: bool, url: str | None = None,
    timeout: float | None = None,
) -> list[tuple[socket.AddressFamily, str]]:
    """Resolve ``host`` and return its addresses, refusing if any one is not allowed.

    One bad address refuses the name: a resolver can hand out either, and a name that
    points at a private address is an attack or a mistake. Raises :class:`DNSError`
    when the name does not resolve, :class:`FetchTimeoutError` when resolving takes
    longer than ``timeout`` seconds.
    """
    shown = url or host
    host = host.rstrip(".") or host  # looked up as check_url judged it (no absolute name)
    try:
        infos = _getaddrinfo(host, port, timeout)
    except FutureTimeout:
        raise FetchTimeoutError(
            f"DNS lookup of {host!r} for {shown} took longer than {timeout:.1f} s",
            url=url) from None
    except (socket.gaierror, UnicodeError) as exc:
        raise DNSError(f"DNS lookup of {host!r} for {shown} failed: {_reason(exc)}",
                       url=url, host=host) from exc
    addresses: list[tuple[socket.AddressFamily, str]] = []
    for number, ip in infos:
        if number not in (socket.AF_INET, socket.AF_INET6):
            continue
        family = socket.AddressFamily(number)
        reason = address_problem(ip, allow_private=allow_private)
        if reason is not None:
            what = f"address {ip}" if _same_ip(host, ip) else f"{host} resolves to {ip}"
            if not allow_private and address_problem(ip, allow_private=True) is None:
                reason += f"; {PRIVATE_HINT}"
            raise RefusedURLError(f"refused {shown}: {what}, {reason}", url=url, address=ip)
        if (family, ip) not in addresses:
            addresses.append((family, ip))
    if not addresses:
        raise DNSError(f"DNS lookup of {host!r} for {shown} returned no IP address",
                       url=url, host=host)
    return addresses


def _getaddrinfo(host: str, port: int, timeout: float | None) -> list[tuple[int, str]]:
    """getaddrinfo as (family, ip) pairs, optionally bounded in time (it blocks and
    ignores socket timeouts, so a slow resolver could otherwise outlast the deadline)."""
    resolver = _resolver

    def lookup() -> list[tuple[int, str]]:
        return resolver(host, port)

    if timeout is None:
        return lookup()
    global _resolver_pool
    with _resolver_lock:
        if _resolver_pool is None:
            _resolver_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="archive-dns")
        pool = _resolver_pool
    return pool.submit(lookup).result(timeout=max(timeout, 0.001))


def _same_ip(host: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False


def _ascii_host(url: str, parts: SplitResult) -> str:
    raw = parts.hostname
    if not raw:
        _refuse(url, "URL has no host")
    if ":" in raw:  # bracketed IPv6 literal
        try:
            return str(ipaddress.IPv6Address(raw.split("%", 1)[0]))
        except ValueError:
            _refuse(url, f"host {raw!r} is not a valid IPv6 address")
    host = raw.rstrip(".")
    try:
        host = host if host.isascii() else idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        _refuse(url, f"host {raw!r} is not a valid international domain name ({exc})")
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            _refuse(url, f"host {raw!r} is a non-canonical IP address spelling")
    if not host or any(not label for label in labels):
        _refuse(url, f"host {raw!r} has an empty label")
    return host.lower()


def _embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr in _MAPPED_V6:
        return addr.ipv4_mapped
    if addr in _NAT64_V6:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr in _6TO4_V6:
        return addr.sixtofour
    return None


def _v4_problem(addr: ipaddress.IPv4Address, allow_private: bool) -> str | None:
    for net in _NEVER_V4:
        if addr in net:
            return f"which is in {net} (not a host one can connect to)"
    if allow_private:
        return None
    for net in _PRIVATE_V4:
        if addr in net:
            return f"which is in the non-public range {net}"
    return None


def _v6_problem(addr: ipaddress.IPv6Address, allow_private: bool) -> str | None:
    if addr.is_unspecified or addr.is_multicast:
        return "which is not a host one can connect to"
    if allow_private:
        return None
    if addr.is_loopback:
        return "which is the IPv6 loopback address"
    if addr.is_link_local:
        return "which is in the link-local range fe80::/10"
    if addr in _UNIQUE_LOCAL_V6:
        return "which is in the unique-local range fc00::/7"
    if addr not in _GLOBAL_UNICAST_V6:
        return "which is not a public (global unicast) address"
    for net in _PRIVATE_V6:
        if addr in net:
            return f"which is in the non-public range {net}"
    return None


def _refuse(url: str, reason: str) -> NoReturn:
    raise RefusedURLError(f"refused {url}: {reason}", url=url)


def _reason(exc: BaseException) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(text.split()) or type(exc).__name__

