"""Which URLs configured by a tenant we may send requests to (server-side request forgery guard).

A URL a tenant gives us (a partner's webhook endpoint) must not turn our servers into a way into our own network:
it must be https (http only where settings allow it, in development and with the sandbox) and every address its
host resolves to must be a public unicast one. The check runs when the URL is saved and again before each request,
since DNS can change in between; the request then goes to the address that was checked (`VettedUrl.pinned`), so a
second lookup cannot swap in another one.

The sandbox's own partner receiver (/sandbox/partner/<name>/hooks on this site) is allowed by name, and only while
the sandbox is enabled (it never is in production).
"""

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from core.errors import ApplicationError

SANDBOX_RECEIVER_PATH = re.compile(r"^/sandbox/partner/[^/]+/hooks/?$")
# Flags of ipaddress addresses we never send to, in the words an admin reads.
REFUSED_KINDS = (
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_reserved", "reserved"),
    ("is_private", "private"),
)


class UnsafeUrl(ApplicationError):
    """A URL we refuse to send requests to; the message says why."""

    code = "unsafe_url"


@dataclass(frozen=True)
class VettedUrl:
    url: str
    # The checked addresses the host resolved to; empty for the sandbox's own receiver (not resolved).
    addresses: tuple[str, ...] = ()

    @property
    def pinned(self) -> tuple[str, dict, dict]:
        """(url, headers, extensions) that reach the first checked address while naming the original host:
        the Host header for the server, the TLS server name for the certificate check."""
        parts = urlsplit(self.url)
        if not self.addresses:
            return self.url, {}, {}
        address = self.addresses[0]
        host = f"[{address}]" if ":" in address else address
        netloc = f"{host}:{parts.port}" if parts.port else host
        original = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        return urlunsplit(parts._replace(netloc=netloc)), {"Host": original}, extensions


def outbound_url_check(url: str) -> VettedUrl:
    """The URL with the addresses it may be requested at; raises UnsafeUrl with the reason otherwise."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"“{url}” is not a valid URL ({exc}).") from exc
    schemes = ("https", "http") if settings.CONNECTIONS_ALLOW_HTTP else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise UnsafeUrl(f"The URL must be an absolute https:// URL; “{url}” is not.")
    if parts.username or parts.password:
        raise UnsafeUrl("The URL must not contain a user name or password.")
    if _sandbox_receiver(parts):
        return VettedUrl(url)
    host = parts.hostname
    addresses = _resolve(host, port or (443 if parts.scheme == "https" else 80))
    if not addresses:
        raise UnsafeUrl(f"The host {host} could not be resolved.", code="unresolvable")
    for address in addresses:
        kind = _refused_kind(address)
        if kind:
            raise UnsafeUrl(
                f"The host {host} resolves to {address}, a {kind} address: requests go to public addresses only."
            )
    return VettedUrl(url, addresses)


def _resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host)),)  # an address written in the URL needs no lookup
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"The host {host} could not be resolved.", code="unresolvable") from exc
    return tuple(dict.fromkeys(str(info[4][0]) for info in found))


def _refused_kind(address: str) -> str | None:
    """Why an address is refused ("private", "loopback", …), None for a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is not part of the address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for flag, kind in REFUSED_KINDS:
        if getattr(ip, flag):
            return kind
    if not ip.is_global:
        return "non-public"  # shared (100.64.0.0/10), documentation, benchmarking ranges and the like
    return None


def _sandbox_receiver(parts) -> bool:
    """The sandbox's own partner receiver on this site (or the test client's host), while the sandbox is enabled."""
    if not settings.SANDBOX_ENABLED or not SANDBOX_RECEIVER_PATH.match(parts.path):
        return False
    site = urlsplit(settings.SITE_URL)
    return (parts.hostname, parts.port) in ((site.hostname, site.port), ("testserver", None))
