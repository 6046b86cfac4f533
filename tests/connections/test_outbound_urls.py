"""Tenant-given URLs we send requests to: https to public addresses only, checked on every resolution; the
sandbox's own partner receiver is allowed only while the sandbox is enabled. DNS answers are faked here."""

import socket

import pytest

from connections.outbound_urls import UnsafeUrl, outbound_url_check


@pytest.fixture
def dns(monkeypatch):
    """host → addresses; a host not listed does not resolve."""
    answers: dict[str, list[str]] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("::1", "loopback"),
        ("fe80::1%eth0", "link-local"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
    ],
)
def test_hosts_resolving_to_non_public_addresses_are_refused(dns, address, kind):
    dns["hooks.partner.example"] = ["93.184.216.34", address]  # one bad address among good ones is enough
    with pytest.raises(UnsafeUrl) as refused:
        outbound_url_check("https://hooks.partner.example/in")
    assert f"resolves to {address}, a {kind} address" in refused.value.message
    with pytest.raises(UnsafeUrl):
        outbound_url_check(f"https://[{address.split('%')[0]}]/in" if ":" in address else f"https://{address}/in")


def test_a_public_host_is_requested_at_the_address_that_was_checked(dns):
    dns["hooks.partner.example"] = ["93.184.216.34", "2606:2800:220:1::1"]
    vetted = outbound_url_check("https://hooks.partner.example:8443/in?x=1")
    assert vetted.addresses == ("93.184.216.34", "2606:2800:220:1::1")
    url, headers, extensions = vetted.pinned
    assert url == "https://93.184.216.34:8443/in?x=1"
    assert headers == {"Host": "hooks.partner.example:8443"}
    assert extensions == {"sni_hostname": "hooks.partner.example"}


def test_https_only_unless_settings_allow_http(dns, settings):
    dns["hooks.partner.example"] = ["93.184.216.34"]
    settings.CONNECTIONS_ALLOW_HTTP = False
    for url in ("http://hooks.partner.example/in", "ftp://hooks.partner.example/in", "not a url", "https:///in"):
        with pytest.raises(UnsafeUrl, match="absolute https://"):
            outbound_url_check(url)
    with pytest.raises(UnsafeUrl, match="user name or password"):
        outbound_url_check("https://me:pw@hooks.partner.example/in")
    settings.CONNECTIONS_ALLOW_HTTP = True
    assert outbound_url_check("http://hooks.partner.example/in").addresses == ("93.184.216.34",)


def test_unresolvable_hosts_are_refused_with_their_own_code(dns):
    with pytest.raises(UnsafeUrl) as refused:
        outbound_url_check("https://nowhere.partner.example/in")
    assert refused.value.code == "unresolvable" and "could not be resolved" in refused.value.message


def test_the_sandbox_receiver_is_allowed_only_while_the_sandbox_is_enabled(dns, settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.SANDBOX_ENABLED = True
    for url in ("http://testserver/sandbox/partner/crm/hooks", "http://127.0.0.1:8000/sandbox/partner/crm/hooks"):
        assert outbound_url_check(url).addresses == ()
    # The same path on any other host, or another path on this site, is checked like any URL.
    dns["evil.example"] = ["10.0.0.1"]
    with pytest.raises(UnsafeUrl, match="private"):
        outbound_url_check("http://evil.example/sandbox/partner/crm/hooks")
    dns["127.0.0.1"] = ["127.0.0.1"]
    with pytest.raises(UnsafeUrl, match="loopback"):
        outbound_url_check("http://127.0.0.1:8000/admin/")
    settings.SANDBOX_ENABLED = False
    with pytest.raises(UnsafeUrl, match="loopback"):
        outbound_url_check("http://127.0.0.1:8000/sandbox/partner/crm/hooks")
