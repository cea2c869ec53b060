"""Column-name rules: properties that must hold for any name a source can send."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weir.core import SourceRefusedError
from weir.ingest.names import check_names, normalise

names = st.text(min_size=0, max_size=20)


@pytest.mark.parametrize(
    ("raw", "snake"),
    [
        ("Order ID", "order_id"),
        ("customerId", "customer_id"),
        ("HTTPStatus", "http_status"),
        ("Prix (€)", "prix"),
        ("Café", "cafe"),
        ("2nd place", "_2nd_place"),
        ("  amount__EUR ", "amount_eur"),
    ],
)
def test_snake_case_examples(raw: str, snake: str) -> None:
    assert normalise(raw, "snake_case") == snake


@given(names)
def test_snake_case_is_an_identifier_and_idempotent(raw: str) -> None:
    once = normalise(raw, "snake_case")
    assert once == "" or re.fullmatch(r"[a-z_][a-z0-9_]*", once)
    assert normalise(once, "snake_case") == once


@given(st.lists(names, min_size=1, max_size=8))
def test_accepted_names_are_unique_and_non_empty_or_the_load_is_refused(raw: list[str]) -> None:
    for rule in ("keep", "lower", "snake_case"):
        try:
            stored = check_names(raw, rule, "s", "here")  # type: ignore[arg-type]
        except SourceRefusedError as exc:
            assert "nothing was committed" in str(exc) and "sources.s.normalise_names" in str(exc)
            continue
        assert len(stored) == len(raw)
        assert all(stored) and len({n.lower() for n in stored}) == len(stored)


def test_keep_refuses_names_that_differ_only_by_case() -> None:
    with pytest.raises(SourceRefusedError, match="differ only by case"):
        check_names(["Id", "id"], "keep", "s", "x.csv header")
