"""Which URLs an HTTP source may request: origins compared as the connection will see them."""

from __future__ import annotations

import pytest

from weir.ingest.http_fetch import Origin, RefusedURLError, origin_of, request_url, split_userinfo

API = Origin("https", "api.example.com", 443)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/v1",
        "HTTPS://API.Example.COM:443/v1?x=1",
        "https://api.example.com:443",
    ],
)
def test_the_same_origin_written_differently(url: str) -> None:
    assert origin_of(url) == API


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/v1",  # scheme
        "https://api.example.com:8443/v1",  # port
        "https://api.example.com./v1",  # trailing dot: another name to compare, refused
        "https://api.example.com.evil.com/v1",
        "https://evil.com/api.example.com",
        "https://[::1]/v1",
        "https://93.184.216.34/v1",
        "https://xn--pi-7ka.example.com/",  # a look-alike host in IDNA form
        "https://\u0430pi.example.com/",  # Cyrillic 'a'
    ],
)
def test_other_origins(url: str) -> None:
    assert origin_of(url) != API


def test_a_non_ascii_host_is_compared_in_its_idna_form() -> None:
    assert origin_of("https://b\u00fccher.example/").host == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://api.example.com@evil.com/", "user info"),
        ("https://user:pw@api.example.com/", "user info"),
        ("file:///etc/passwd", "only http and https"),
        ("data:application/json,[]", "only http and https"),
        ("ftp://api.example.com/x", "only http and https"),
        ("//api.example.com/x", "only http and https"),  # unresolved: no scheme
        ("https://api.example.com/a b", "whitespace"),
        ("https://api.example.com\\@evil.com/", "backslash"),
        ("https:///path-only", "no host"),
        ("https://api.example.com:99999/", "not a valid URL"),
    ],
)
def test_refused_urls_say_why(url: str, why: str) -> None:
    with pytest.raises(RefusedURLError, match=why):
        origin_of(url)


def test_the_request_url_is_built_from_the_checked_parts() -> None:
    assert request_url("https://API.example.com:443/a%20b/é?q=ü&r=1") == (
        "https://api.example.com/a%20b/%C3%A9?q=%C3%BC&r=1"
    )
    assert request_url("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x"


def test_user_info_becomes_a_basic_credential() -> None:
    bare, basic = split_userinfo("https://me:p%40ss@api.example.com/v1?x=1")
    assert bare == "https://api.example.com/v1?x=1" and basic == "bWU6cEBzcw=="  # me:p@ss
    assert split_userinfo("https://api.example.com/") == ("https://api.example.com/", None)
