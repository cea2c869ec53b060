"""What the catalog keeps of a secret through cache keys.

Each step run stores the digest of its step's definition, and a source's definition was
its whole configuration: the URL with its password, the headers and the bearer token. With
the weir.yaml in hand (it holds `${DB_PASSWORD}`, not the value), the stored SHA-256 was an
offline oracle for the one unknown in it: try a password, hash, compare, millions a second.
The governance key's fingerprint was one fast SHA-256 of it, the same oracle.

A definition now holds no secret (a password rotation does not change it, and it changes no
data), and the governance key enters by a slow, salted derivation (scrypt).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from weir.app import build_plan
from weir.core.hashing import fingerprint
from weir.project import load_project

PROJECT = """name: p
sources:
  db:
    kind: sql
    url: postgresql://etl:${DB_PASSWORD}@db.example.com:5432/crm?sslmode=require&token=${API_TOKEN}
    table: customers
  api:
    kind: http
    url: https://etl:${DB_PASSWORD}@api.example.com/items
    bearer_token: ${API_TOKEN}
    headers: {X-Api-Key: "${API_TOKEN}", Accept-Language: de}
    params: {access_key: "${API_TOKEN}", status: open}
governance:
  key: ${GOVERNANCE_KEY}
  columns:
    db.email: {class: pii.email, action: pseudonymise}
"""


def _definitions(root: Path, password: str, token: str, key: str) -> dict[str, dict[str, object]]:
    env = {"DB_PASSWORD": password, "API_TOKEN": token, "GOVERNANCE_KEY": key}
    plan = build_plan(load_project(root, env=env))
    return {step.name: dict(step.definition) for step in plan.pipeline.order}


def test_no_definition_holds_or_hashes_a_secret(tmp_path: Path) -> None:
    (tmp_path / "weir.yaml").write_text(PROJECT)
    first = _definitions(tmp_path, "hunter2-pw", "tok-123456", "k" * 32)
    text = json.dumps(first)
    for secret in ("hunter2-pw", "tok-123456", "k" * 32):
        assert secret not in text
    rotated = _definitions(tmp_path, "other-pw-99", "tok-999999", "k" * 32)
    for name in ("source:db", "source:api"):
        assert fingerprint(first[name]) == fingerprint(rotated[name]), name
    # what is not secret still counts: another host is another definition
    assert "db.example.com" in json.dumps(first["source:db"])
    assert "Accept-Language" in json.dumps(first["source:api"])


def test_the_governance_key_enters_by_a_slow_salted_derivation(tmp_path: Path) -> None:
    (tmp_path / "weir.yaml").write_text(PROJECT)
    key = "correct horse battery staple"
    stored = _definitions(tmp_path, "pw-000000", "tok-000000", key)["clean:db"]["key"]
    assert stored != fingerprint("weir-governance-key:" + key)  # one SHA-256: an oracle
    slow = hashlib.scrypt(
        key.encode(), salt=b"weir-governance-key", n=2**14, r=8, p=1, dklen=32
    ).hex()
    assert stored == slow
    other = _definitions(tmp_path, "pw-000000", "tok-000000", key + "!")["clean:db"]["key"]
    assert other != stored  # a new key makes new pseudonyms: the step runs again
