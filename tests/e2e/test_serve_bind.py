"""`weir serve` refuses a non-loopback bind without API keys, before it announces anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.conftest import Weir

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_a_public_bind_without_keys_is_refused_before_it_is_announced(
    weir: Weir, tmp_path: Path, host: str
) -> None:
    weir("init", "shop")
    result = weir("serve", "anything", "--host", host, cwd=tmp_path / "shop", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no API key is configured" in result.stdout + result.stderr
    assert "serving" not in result.stdout  # never claims to serve on a bind it refuses
    assert "Traceback" not in result.stdout + result.stderr
