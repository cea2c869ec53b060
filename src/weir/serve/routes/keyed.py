"""The two ways of sending a key, as dependencies of the routes that need one.

The guard checks keys before a route runs (`weir.serve.guard`); these only put the two
ways into the OpenAPI document (and /docs's Authorize button)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPBearer

_BEARER = HTTPBearer(auto_error=False, description="a key: Authorization: Bearer KEY")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="or X-API-Key: KEY")
KEYED: list[Any] = [Depends(_BEARER), Depends(_API_KEY)]
