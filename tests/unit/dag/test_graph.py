from __future__ import annotations

import pytest

from weir.core import ConfigError
from weir.dag import Pipeline, Step


def s(name: str, *after: str) -> Step:
    return Step(name=name, kind="x", target=name, after=after, where=f"{name}.sql")


def test_order_respects_dependencies_and_is_stable() -> None:
    steps = [s("d", "b", "c"), s("c", "a"), s("b", "a"), s("a")]
    first = Pipeline(steps).names()
    assert first == ["a", "b", "c", "d"]
    assert Pipeline(list(reversed(steps))).names() == first


def test_cycle_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        Pipeline([s("a", "c"), s("b", "a"), s("c", "b"), s("z")])
    assert "cycle: a.sql -> c.sql -> b.sql -> a.sql" in str(info.value)


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(ConfigError, match=r"cycle: a.sql -> a.sql"):
        Pipeline([s("a", "a")])


def test_unknown_dependency_and_duplicate_names() -> None:
    with pytest.raises(ConfigError, match="did you mean 'alpha'"):
        Pipeline([s("alpha"), s("b", "alpah")])
    with pytest.raises(ConfigError, match="two steps"):
        Pipeline([s("a"), s("a")])


def test_upstream_and_downstream() -> None:
    pipeline = Pipeline([s("a"), s("b", "a"), s("c", "b"), s("d")])
    assert pipeline.downstream("a") == {"b", "c"}
    assert pipeline.upstream("c") == {"a", "b"}
    assert pipeline.downstream("d") == set()
    with pytest.raises(ConfigError):
        pipeline["nope"]
