"""Which Delta versions of a prediction log become catalog versions: the last of each run of
commits answered by the same model versions."""

from __future__ import annotations

from weir.app.prediction_log import _Commit, _runs, _versions, log_table, model_of


def commits(*answered: tuple[int, ...] | None) -> list[_Commit]:
    return [_Commit(version, a) for version, a in enumerate(answered)]


def test_each_change_of_served_versions_ends_a_run() -> None:
    found = list(_runs(commits((1,), (1,), (1, 2), (2,), (2,), (1,))))
    assert found == [(1, (1,)), (2, (1, 2)), (4, (2,)), (5, (1,))]


def test_a_commit_without_weirs_metadata_continues_the_run_it_follows() -> None:
    """A compaction or vacuum adds no answers; commits before any metadata (a log written
    by an older Weir) make a run whose versions the rows must tell."""
    assert list(_runs(commits((3,), None, None))) == [(2, (3,))]
    assert list(_runs(commits(None, None, (2,)))) == [(1, None), (2, (2,))]
    assert list(_runs([])) == []


def test_commit_metadata_that_is_not_a_list_of_versions_is_unknown() -> None:
    assert _versions("[2, 1, 2]") == (1, 2)
    assert _versions("not json {") is None and _versions('["1"]') is None
    assert _versions(None) is None


def test_the_log_table_name_and_back() -> None:
    assert log_table("fraud") == "fraud__predictions"
    assert model_of("fraud__predictions") == "fraud"
    assert model_of("__predictions") is None and model_of("fraud") is None
