"""Column policies: what happens to a classified column before anything downstream sees it.

pseudonymise  HMAC-SHA256 under the project's key, computed in the engine: the same value
              gets the same artificial ID in every table (joins still work), and without
              the key nobody can recompute or reverse it. The key's pads travel as query
              parameters, never in SQL text, so no error message can show them.
mask          '*' for every character but the last `keep_last`
truncate      dates to year, month or day (1984-05-17 -> 1984-01-01); text to `length`
drop          the column is removed
keep          kept as is; its class still travels with it
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from weir.project.cleaning import ColumnPolicy

ID_HEX_CHARS = 32  # 128 bits of the HMAC: collisions are out of reach at any table size
_BLOCK = 64


def hmac_pads(key: str) -> dict[str, bytes]:
    """HMAC's inner and outer pads for `key` (RFC 2104), as query parameters."""
    raw = key.encode()
    if len(raw) > _BLOCK:
        import hashlib

        raw = hashlib.sha256(raw).digest()
    padded = raw.ljust(_BLOCK, b"\0")
    return {
        "weir_hmac_ipad": bytes(b ^ 0x36 for b in padded),
        "weir_hmac_opad": bytes(b ^ 0x5C for b in padded),
    }


def pseudonym_sql(column: str) -> str:
    inner = f"unhex(sha256($weir_hmac_ipad || encode({column}::VARCHAR)))"
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE substr(sha256($weir_hmac_opad || {inner}), 1, {ID_HEX_CHARS}) END"


@dataclass(frozen=True)
class PolicySql:
    """The SELECT item for a governed column (None: dropped), and what a change looks like."""

    item: str | None
    changed: str | None


def policy_sql(name: str, quoted: str, duckdb_type: str, policy: ColumnPolicy) -> PolicySql:
    if policy.action == "drop":
        return PolicySql(None, None)
    if policy.action == "keep":
        return PolicySql(quoted, None)
    if policy.action == "pseudonymise":
        expression = pseudonym_sql(quoted)
    elif policy.action == "mask":
        text = f"{quoted}::VARCHAR"
        keep = policy.keep_last
        visible = f"right({text}, {keep})" if keep else "''"
        expression = f"CASE WHEN {quoted} IS NULL THEN NULL ELSE repeat('*', greatest(length({text}) - {keep}, 0)) || {visible} END"
    elif policy.to is not None:
        if not duckdb_type.startswith(("DATE", "TIMESTAMP")):
            from weir.core.errors import ConfigError

            raise ConfigError(
                f"governance: column '{name}' is {duckdb_type}; truncate 'to: {policy.to}' needs a date or timestamp",
                fix="use 'length' to truncate text",
            )
        expression = f"CAST(date_trunc('{policy.to}', {quoted}) AS {duckdb_type})"
    else:
        expression = f"left({quoted}::VARCHAR, {policy.length})"
    return PolicySql(f"{expression} AS {quoted}", f"({quoted} IS NOT NULL)::INT")


def governance_params(key: str | None, policies: dict[str, ColumnPolicy]) -> dict[str, Any]:
    if any(p.action == "pseudonymise" for p in policies.values()):
        assert key is not None  # the config model refuses pseudonymise without a key
        return dict(hmac_pads(key))
    return {}
