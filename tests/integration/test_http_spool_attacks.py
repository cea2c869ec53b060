"""An HTTP source against an API that never stops: what a load writes to disk.

Each page is bounded (`max_response_bytes`), but an API whose every answer links to one
more page made the load spool up to `max_pages` x `max_response_bytes` (10,000 x 64 MiB)
to a file in the system's temporary directory, outside the workspace. Now the records a
load spools are bounded in all by `max_total_bytes`, and the spool lives in the workspace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.sources import run, write_project
from tests.integration.test_http_attacks import (
    Api,
    Reply,
    _credentials,
    api,
    assert_refused,
    ok,
    settings,
)

__all__ = ["_credentials", "api"]  # fixtures, used by name (the first on every test)

PAGE = [{"id": i, "text": "x" * 1000} for i in range(10)]  # about 10 KB a page


def endless(api: Api) -> None:
    """Every page links to the next; each holds other ids."""

    def handle(path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        number = int(query.get("page", "1"))
        records = [{**r, "id": r["id"] + 10 * number} for r in PAGE]
        return ok({"items": records, "next": f"{api.url}/items?page={number + 1}"})

    api.handle = handle


def load(tmp_path: Path, source: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    root = write_project(tmp_path / "p", {"items": source})
    return run(root)["source:items"], root


def test_an_api_that_never_stops_is_refused_at_max_total_bytes(api: Api, tmp_path: Path) -> None:
    endless(api)
    report, root = load(tmp_path, settings(api, max_total_bytes=50_000))
    assert_refused(report, root, "max_total_bytes (50,000)", "sources.items.max_total_bytes")
    assert len(api.requests) <= 6  # stopped on the page that crossed the bound


def test_the_default_bound_is_a_gibibyte(tmp_path: Path) -> None:
    from weir.project import load_project

    root = write_project(tmp_path / "p", {"items": {"kind": "http", "url": "http://x/items"}})
    source = load_project(root).config.sources["items"]
    assert getattr(source, "max_total_bytes", None) == 2**30


def test_the_spool_is_inside_the_workspace(api: Api, tmp_path: Path) -> None:
    """Looked for while the load runs (the server asks on page 2): the records, PII and
    all, are only ever in the workspace, which is the owner's alone."""
    workspace = tmp_path / "p" / ".weir"
    found: list[str] = []

    def handle(path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        if query.get("page") == "2":
            found.extend(str(p.relative_to(workspace)) for p in workspace.rglob("*.ndjson"))
            return ok({"items": [{"id": 99, "text": "last"}], "next": None})
        return ok({"items": PAGE, "next": f"{api.url}/items?page=2"})

    api.handle = handle
    report, _ = load(tmp_path, settings(api))
    assert report["status"] == "succeeded", report["error"]
    assert len(found) == 1 and found[0].startswith("tmp/"), found
