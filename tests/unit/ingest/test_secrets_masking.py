"""Secrets in every form and of every length, and ${ENV} values put into URLs encoded."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weir.core.secrets import Secrets, display_url, redact_places, url_secrets
from weir.ingest.secrets import safe_url
from weir.project.loader import expand_env, parse_project_text
from weir.project.secrets import project_secrets

NASTY = "p@ss/w#rd:%?&"
SHORT = "q7"


@pytest.mark.parametrize(
    "form",
    [
        NASTY,
        quote(NASTY, safe=""),
        quote(NASTY, safe="").lower().replace("p", "p"),  # lower-case hex
        quote_plus(NASTY),
        json.dumps(NASTY)[1:-1],
        base64.b64encode(NASTY.encode()).decode(),
    ],
)
def test_every_form_of_a_secret_is_hidden(form: str) -> None:
    text = f"connection to db failed: {form} was refused"
    assert Secrets.of([NASTY]).redact(text) == "connection to db failed: *** was refused"


def test_a_short_secret_is_hidden_where_it_stands_alone_not_inside_words() -> None:
    secrets = Secrets.of([SHORT])
    assert secrets.redact(f"password {SHORT} refused") == "password *** refused"
    assert secrets.redact(f"'{SHORT}' / ({SHORT}) / ={SHORT}") == "'***' / (***) / =***"
    # inside a longer word or number it stays: hiding it there would garble the text and
    # show, by the pattern of stars, what the secret is
    assert secrets.redact("aq7b q70 9q7") == "aq7b q70 9q7"


def test_a_one_character_secret_is_hidden_where_it_stands_alone() -> None:
    assert Secrets.of(["x"]).redact("user=x host=db box") == "user=*** host=db box"


def test_url_passwords_and_credential_parameters_are_hidden_by_place() -> None:
    text = (
        "failed: postgresql://weir:ab@db:5432/w and "
        "https://api.example.com/v1?page=2&access_token=zz&sig=k&Signature=abc "
        "host=db password=ab dbname=w; Authorization: Bearer ey.J0 and bearer tok3n"
    )
    assert redact_places(text) == (
        "failed: postgresql://weir:***@db:5432/w and "
        "https://api.example.com/v1?page=2&access_token=***&sig=***&Signature=*** "
        "host=db password=*** dbname=w; Authorization: Bearer *** and bearer ***"
    )


def test_url_secrets_cover_the_decoded_password_the_basic_header_and_tokens() -> None:
    url = f"https://reader:{quote(NASTY, safe='')}@api.example.com/x?api_key=Z9&page=3"
    secrets = url_secrets(url)
    basic = base64.b64encode(f"reader:{NASTY}".encode()).decode()
    for shown in (NASTY, quote(NASTY, safe=""), basic, "Z9"):
        assert "***" in secrets.redact(f"saw {shown} here")
    assert secrets.redact("page 3") == "page 3"


def test_display_url_keeps_the_server_and_hides_the_credentials() -> None:
    url = "https://u:pw@marquez.example.com:5000/api/v1/lineage?token=abc&ns=shop#x"
    assert (
        display_url(url)
        == "https://u:***@marquez.example.com:5000/api/v1/lineage?token=***&ns=shop"
    )
    assert safe_url(url) == "https://marquez.example.com:5000/api/v1/lineage"
    assert "pa/ss" not in safe_url("mysql://u:pa/ss@db/x")  # an unencoded URL, mis-parsed


@given(st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and s))
def test_any_password_survives_the_trip_through_a_url_template(password: str) -> None:
    env = {"PW": password, "USER": "we@ir"}
    config, problems = expand_env(
        {"catalog": {"url": "postgresql://${USER}:${PW}@db.internal:5432/weir?sslmode=require"}},
        env,
    )
    assert problems == []
    parts = urlsplit(config["catalog"]["url"])
    assert parts.hostname == "db.internal" and parts.port == 5432 and parts.path == "/weir"
    assert unquote(parts.password or "") == password and unquote(parts.username or "") == "we@ir"
    assert parts.query == "sslmode=require"


def test_values_are_encoded_for_their_part_of_the_url() -> None:
    env = {"T": "a&b=c#d", "DIR": "/data/my dir", "HOST": "db:5432", "QS": "a=1&b=2"}
    config, _ = expand_env(
        {
            "a": {"url": "https://api/x?token=${T}&${QS}"},
            "b": {"url": "sqlite:///${DIR}/w.db"},
            "c": {"url": "mysql://root@${HOST}/w"},
            "d": {"url": "${QS}"},  # not a URL template: the variable is the whole value
            "e": {"description": "https://x/?q=${T}"},  # not a URL key
        },
        env,
    )
    assert config["a"]["url"] == "https://api/x?token=a%26b%3Dc%23d&a=1&b=2"
    assert config["b"]["url"] == "sqlite:////data/my%20dir/w.db"
    assert config["c"]["url"] == "mysql://root@db:5432/w"
    assert config["d"]["url"] == "a=1&b=2"
    assert config["e"]["description"] == "https://x/?q=a&b=c#d"


def test_a_whole_user_info_variable_may_hold_user_and_password() -> None:
    config, _ = expand_env({"x": {"url": "mysql://${CREDS}@db/w"}}, {"CREDS": "me:p@ss:w"})
    parts = urlsplit(config["x"]["url"])
    assert (parts.username, unquote(parts.password or "")) == ("me", "p@ss:w")


def test_project_secrets_are_found_where_they_stand(tmp_path: Path) -> None:
    text = """
name: t
catalog: {url: "postgresql://weir:${PW}@db/weir"}
openlineage: {url: "https://u:${OL}@marquez/api?token=${TOK}"}
sources:
  api:
    kind: http
    url: https://api.example.com/x
    bearer_token: ${BEARER}
    headers: {X-Api-Key: "${KEY}", Accept-Language: de}
    params: {status: closed, api_key: "${KEY}", sort_key: id}
governance: {key: "${PSEUDO}"}
"""
    env = {
        "PW": NASTY,
        "OL": "ol",
        "TOK": "tk",
        "BEARER": "b-token",
        "KEY": "kk",
        "PSEUDO": "x" * 20,
    }
    secrets = project_secrets(parse_project_text(text, tmp_path / "weir.yaml", env))
    for value in (NASTY, "ol", "tk", "b-token", "kk", "x" * 20):
        assert secrets.redact(f"[{value}]") == "[***]", value
    # values that are not credentials by their place stay readable in messages
    assert secrets.redact("closed de id=3") == "closed de id=3"
