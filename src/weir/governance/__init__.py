"""Governance: column classes and policies (pseudonymise, mask, truncate, drop)."""

from weir.governance.policies import (
    ID_HEX_CHARS,
    PolicySql,
    governance_params,
    hmac_pads,
    policy_sql,
    pseudonym_sql,
)

__all__ = [
    "ID_HEX_CHARS",
    "PolicySql",
    "governance_params",
    "hmac_pads",
    "policy_sql",
    "pseudonym_sql",
]
