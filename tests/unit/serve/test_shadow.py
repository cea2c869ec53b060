"""The shadow's logic without a server: which requests are sampled, the bounded queue that
drops (and counts) rather than waits, what a challenger cannot answer, and a shutdown that
writes every champion row exactly once. The challenger and the log are in-memory
implementations of the shadow's two seams (`Holder`, `Sink`)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from weir.project.ml_config import ServeConfig
from weir.serve.metrics import ShadowMetrics
from weir.serve.model import NotFiniteError
from weir.serve.schemas import batch_model, repeated_key, request_model
from weir.serve.shadow import Job, Shadow, log_columns, sampled

CARRIED = {"amount": "number", "channel": "category"}


@dataclass
class Model:
    """A challenger in memory: a label from the amount, with what it refuses declared."""

    version: int = 2
    task: str = "classification"
    inputs: dict[str, str] = field(default_factory=lambda: dict(CARRIED))
    known_categories: dict[str, frozenset[str]] = field(default_factory=dict)
    answer: Callable[[dict[str, Any]], dict[str, Any]] = lambda row: {
        "label": int(row["amount"] > 10),
        "probability": 0.9 if row["amount"] > 10 else 0.1,
    }
    gate: threading.Event | None = None  # predict waits for it
    entered: threading.Event = field(default_factory=threading.Event)
    calls: int = 0

    def predict(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.calls += 1
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        return [self.answer(row) for row in rows]


@dataclass
class Holding:
    current: Model | None
    problem: str | None = None

    def refresh(self) -> None:
        pass


@dataclass
class Rows:
    """The log in memory: (request id, champion version, inputs, answer, shadow fields)."""

    rows: list[tuple[str, int, dict[str, Any], dict[str, Any], dict[str, Any]]] = field(
        default_factory=list
    )

    def add(
        self,
        request_id: str,
        version: int,
        inputs: str,
        output: dict[str, Any],
        latency_ms: float,
        *,
        shadow: Mapping[str, Any] | None = None,
        logged_at: int | None = None,
    ) -> None:
        assert logged_at is not None  # a shadowed row keeps the time its answer went
        self.rows.append((request_id, version, json.loads(inputs), output, dict(shadow or {})))

    def of(self, request_id: str) -> list[dict[str, Any]]:
        return [r[4] for r in self.rows if r[0] == request_id]


Row = request_model("m", CARRIED, {"region": "category"})


def job(request_id: str, *amounts: float, **fields: Any) -> Job:
    rows = [Row.model_validate({"amount": a, "channel": "web", **fields}) for a in amounts]
    answers = [{"label": 0, "probability": 0.2} for _ in amounts]
    return Job(request_id, 1, rows, [r.model_dump() for r in rows], answers, 0.5)


def counted(metrics: ShadowMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, {"model": "m", **labels})
    return float(value or 0)


@pytest.fixture
def metrics() -> ShadowMetrics:
    return ShadowMetrics(CollectorRegistry())


@pytest.fixture
def made(metrics: ShadowMetrics) -> Iterator[Callable[..., tuple[Shadow, Rows]]]:
    shadows: list[Shadow] = []

    def make(
        model: Model | None, *, fraction: float = 1.0, queue_size: int = 100
    ) -> tuple[Shadow, Rows]:
        sink = Rows()
        shadow = Shadow(
            Holding(model),
            model="m",
            fraction=fraction,
            queue_size=queue_size,
            metrics=metrics,
            sink=sink,
            carried={**CARRIED, "region": "category"},
            optional=frozenset({"region"}),
            dump=lambda row: row.model_dump_json(include=set(CARRIED)),
        )
        shadows.append(shadow)
        return shadow, sink

    yield make
    for shadow in shadows:
        shadow.close(timeout=1)


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# sampling -----------------------------------------------------------------------------------


def test_sampling_is_the_share_asked_for_of_ids_shaped_like_the_servers() -> None:
    ids = [f"{'ab12' * 4}{n:016x}" for n in range(20_000)]  # a prefix and a counter
    chosen = sum(sampled(i, 0.1) for i in ids)
    assert 1_830 <= chosen <= 2_170  # 2,000 +- 4 standard deviations
    assert all(sampled(i, 1.0) for i in ids[:100])


def test_sampling_is_the_same_in_every_process() -> None:
    """Python's own hash() is salted per process: a replay would shadow other requests."""
    ids = [f"req-{n}" for n in range(200)]
    here = [sampled(i, 0.3) for i in ids]
    script = (
        "import json, sys; from weir.serve.shadow import sampled; "
        "print(json.dumps([sampled(i, 0.3) for i in json.loads(sys.argv[1])]))"
    )
    there = subprocess.run(
        [sys.executable, "-c", script, json.dumps(ids)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": ":".join(sys.path)},
    )
    assert json.loads(there.stdout) == here and 30 < sum(here) < 90


@given(st.text(min_size=1, max_size=128), st.floats(0.001, 1.0), st.floats(0.001, 1.0))
def test_a_request_sampled_at_a_fraction_is_sampled_at_every_larger_one(
    request_id: str, low: float, high: float
) -> None:
    low, high = sorted((low, high))
    assert not sampled(request_id, low) or sampled(request_id, high)


# the queue ----------------------------------------------------------------------------------


def test_a_full_queue_is_not_waited_for_the_request_is_logged_unshadowed_and_counted(
    made: Callable[..., tuple[Shadow, Rows]], metrics: ShadowMetrics
) -> None:
    gate = threading.Event()
    model = Model(gate=gate)
    shadow, sink = made(model, queue_size=2)
    assert shadow.offer(job("r0", 20.0))
    wait_for(model.entered.is_set)  # the worker holds r0 in the challenger
    assert shadow.offer(job("r1", 20.0)) and shadow.offer(job("r2", 5.0, 5.0))
    assert shadow.offer(job("r3", 20.0, 20.0))  # full: written now, not waited
    assert [r[0] for r in sink.rows] == ["r3", "r3"]
    assert sink.of("r3") == [{"shadow_skipped": "queue_full"}] * 2
    assert counted(metrics, "weir_shadow_skipped_total", reason="queue_full") == 2
    gate.set()
    wait_for(lambda: len(sink.rows) == 6)
    assert model.calls == 2  # r0; then r1 and r2, which waited together, in one call
    assert sink.of("r2")[0]["shadow_label"] == "0" and sink.of("r2")[0]["shadow_version"] == 2
    assert sink.of("r0")[0] | {"shadow_latency_ms": 0} == {
        "shadow_version": 2,
        "shadow_label": "1",
        "shadow_probability": 0.9,
        "shadow_latency_ms": 0,
    }
    # the champion's answers and inputs are logged as they were given
    assert {(r[1], json.dumps(r[3])) for r in sink.rows} == {
        (1, '{"label": 0, "probability": 0.2}')
    }
    assert all(set(r[2]) == set(CARRIED) for r in sink.rows)  # not the shadow's extra field
    assert counted(metrics, "weir_shadow_answers_total", version="2") == 4
    # champion 0 everywhere: r2's two rows (challenger 0) agree, the 20s do not
    assert counted(metrics, "weir_shadow_agreements_total", version="2") == 2


def test_requests_not_sampled_are_left_to_the_caller(
    made: Callable[..., tuple[Shadow, Rows]],
) -> None:
    shadow, sink = made(Model(), fraction=0.5)
    ids = [f"id-{n}" for n in range(200)]
    taken = [i for i in ids if shadow.offer(job(i, 1.0))]
    assert taken == [i for i in ids if sampled(i, 0.5)] and 60 < len(taken) < 140
    wait_for(lambda: len(sink.rows) == len(taken))
    assert {r[0] for r in sink.rows} == set(taken)


# what the challenger cannot answer ----------------------------------------------------------


def test_a_field_only_the_challenger_takes_is_read_when_sent_and_skipped_when_not(
    made: Callable[..., tuple[Shadow, Rows]], metrics: ShadowMetrics
) -> None:
    def by_region(row: dict[str, Any]) -> dict[str, Any]:
        return {"label": row["region"] or "none", "probability": 0.5}

    model = Model(inputs={**CARRIED, "region": "category"}, answer=by_region)
    shadow, sink = made(model)
    shadow.process([job("sent", 1.0, region="east")])
    shadow.process([job("null", 1.0, region=None)])  # sent as null: the model imputes it
    shadow.process([job("absent", 1.0)])
    assert sink.of("sent")[0]["shadow_label"] == "east"
    assert sink.of("null")[0]["shadow_label"] == "none"
    assert sink.of("absent") == [{"shadow_skipped": "missing_input"}]
    assert counted(metrics, "weir_shadow_skipped_total", reason="missing_input") == 1


def test_a_field_the_requests_cannot_carry_skips_every_row(
    made: Callable[..., tuple[Shadow, Rows]],
) -> None:
    """A challenger promoted after the start, with a field the schema has never seen, or
    with another kind for a field it has."""
    for inputs in ({**CARRIED, "age": "number"}, {"amount": "category"}):
        shadow, sink = made(Model(inputs=inputs))
        shadow.process([job("r", 1.0, 2.0)])
        assert sink.of("r") == [{"shadow_skipped": "missing_input"}] * 2


def test_refused_categories_and_answers_that_are_not_finite_skip_only_their_rows(
    made: Callable[..., tuple[Shadow, Rows]], metrics: ShadowMetrics
) -> None:
    class Unbounded(Model):
        def predict(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            bad = [i for i, row in enumerate(rows) if row["amount"] > 1e30]
            if bad:
                raise NotFiniteError(bad)
            return super().predict(rows)

    model = Unbounded(known_categories={"channel": frozenset({"web"})})
    shadow, sink = made(model)
    batch = job("r", 1.0, 1e31, 20.0)
    batch.prepared[0]["channel"] = "shop"  # a category the champion knows, the challenger not
    shadow.process([batch])
    assert [s.get("shadow_skipped") for s in sink.of("r")] == [
        "unknown_category",
        "not_finite",
        None,
    ]
    assert sink.of("r")[2]["shadow_label"] == "1"
    assert counted(metrics, "weir_shadow_answers_total", version="2") == 1


def test_a_challenger_that_fails_or_is_missing_is_counted_and_warned_once(
    made: Callable[..., tuple[Shadow, Rows]],
    metrics: ShadowMetrics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(_: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the session is gone")

    shadow, sink = made(Model(answer=broken))
    for n in range(3):
        shadow.process([job(f"f{n}", 1.0)])
    assert [s for n in range(3) for s in sink.of(f"f{n}")] == [{"shadow_skipped": "failed"}] * 3
    assert counted(metrics, "weir_shadow_skipped_total", reason="failed") == 3
    assert sum("the session is gone" in r.getMessage() for r in caplog.records) == 1
    empty, rows = made(None)
    empty.process([job("n", 1.0)])
    assert rows.of("n") == [{"shadow_skipped": "no_challenger"}]


def test_a_challenger_that_now_answers_as_the_champion_is_not_its_own_shadow(
    made: Callable[..., tuple[Shadow, Rows]],
) -> None:
    """Promoted to production between two looks of the shadow: the champion's rows are not
    shadowed by the same version."""
    shadow, sink = made(Model(version=2))
    promoted = job("same", 1.0)
    promoted.version = 2
    shadow.process([job("before", 1.0), promoted, job("other", 1.0)])
    assert sink.of("same") == [{"shadow_skipped": "no_challenger"}]
    assert sink.of("before")[0]["shadow_version"] == sink.of("other")[0]["shadow_version"] == 2


def test_regression_answers_are_compared_by_their_difference(
    made: Callable[..., tuple[Shadow, Rows]], metrics: ShadowMetrics
) -> None:
    model = Model(task="regression", answer=lambda row: {"prediction": row["amount"] * 2})
    shadow, sink = made(model)
    work = job("r", 3.0, 5.0)
    work.answers = [{"prediction": 3.0}, {"prediction": 5.0}]
    shadow.process([work])
    assert [s["shadow_prediction"] for s in sink.of("r")] == [6.0, 10.0]
    assert counted(metrics, "weir_shadow_abs_difference_sum", version="2") == 8.0
    assert counted(metrics, "weir_shadow_abs_difference_count", version="2") == 2


# shutdown -----------------------------------------------------------------------------------


def test_a_challenger_still_busy_at_shutdown_leaves_every_row_written_once(
    made: Callable[..., tuple[Shadow, Rows]], metrics: ShadowMetrics
) -> None:
    gate = threading.Event()
    model = Model(gate=gate)
    shadow, sink = made(model, queue_size=5)
    shadow.offer(job("busy", 20.0))
    wait_for(model.entered.is_set)
    shadow.offer(job("waiting", 20.0, 20.0))
    shadow.close(timeout=0.2)
    assert sorted(r[0] for r in sink.rows) == ["busy", "waiting", "waiting"]
    assert all(r[4] == {"shadow_skipped": "shutdown"} for r in sink.rows)
    gate.set()  # the challenger answers at last: nothing is written twice
    shadow._thread.join(10)
    assert not shadow._thread.is_alive()
    assert len(sink.rows) == 3 and model.calls == 1
    assert counted(metrics, "weir_shadow_skipped_total", reason="shutdown") == 3


def test_a_clean_shutdown_works_off_the_queue_first(
    made: Callable[..., tuple[Shadow, Rows]],
) -> None:
    shadow, sink = made(Model(), queue_size=1000)
    for n in range(300):
        assert shadow.offer(job(f"r{n}", float(n)))
    shadow.close()
    assert len(sink.rows) == 300 and all("shadow_version" in r[4] for r in sink.rows)


# the request schema and the log's columns ---------------------------------------------------


def test_the_challengers_own_fields_are_optional_and_unknown_ones_still_refused() -> None:
    absent = Row.model_validate_json(json.dumps({"amount": 1.0, "channel": "web"}))
    null = Row.model_validate_json(json.dumps({"amount": 1.0, "channel": "web", "region": None}))
    assert "region" not in absent.model_fields_set and "region" in null.model_fields_set
    with pytest.raises(ValidationError):
        Row.model_validate_json(json.dumps({"amount": 1.0, "channel": "web", "colour": "red"}))
    with pytest.raises(ValidationError):  # the champion's fields stay required
        Row.model_validate_json(json.dumps({"amount": 1.0, "region": "east"}))
    schema = Row.model_json_schema()
    assert schema["required"] == ["amount", "channel"]
    assert "shadow" in schema["properties"]["region"]["description"]


def test_a_field_given_twice_is_found_in_a_batch_where_an_optional_field_hides_the_count() -> None:
    """Two rows, `region` twice in the first and not in the second: counting its name
    (two, for two rows) would pass the body."""
    body = (
        b'{"rows": [{"amount": 1.0, "channel": "web", "region": "a", "region": "b"},'
        b' {"amount": 2.0, "channel": "web"}]}'
    )
    batch = batch_model("m", Row, 10)
    assert len(batch.model_validate_json(body).rows) == 2  # type: ignore[attr-defined]
    fields = ("amount", "channel", "region")
    problem = repeated_key(body, fields, 2, optional=("region",))
    assert problem is not None and "region" in problem
    assert repeated_key(body, fields, 2) is None  # what the count alone concluded
    clean = body.replace(b', "region": "b"', b"")
    assert repeated_key(clean, fields, 2, optional=("region",)) is None


def test_the_log_declares_the_shadow_columns_of_the_champions_task() -> None:
    assert list(log_columns("classification")) == [
        "shadow_version",
        "shadow_label",
        "shadow_probability",
        "shadow_probabilities",
        "shadow_latency_ms",
        "shadow_skipped",
    ]
    assert "shadow_prediction" in log_columns("regression")
    assert "shadow_cluster" in log_columns("clustering")


# configuration -------------------------------------------------------------------------------


def test_the_shadow_is_off_by_default_and_its_keys_are_checked() -> None:
    assert ServeConfig().shadow is None
    on = ServeConfig.model_validate({"shadow": {"fraction": 0.1}})
    assert on.shadow is not None and on.shadow.stage == "staging" and on.shadow.queue == 1000
    assert ServeConfig.model_validate({"shadow": {"fraction": 1}}).shadow is not None
    for wrong, said in (
        ({"fraction": 0}, "greater than 0"),
        ({"fraction": 1.5}, "less than or equal to 1"),
        ({}, "fraction"),
        ({"fraction": 0.1, "stage": "archived"}, "stage"),
        ({"fraction": 0.1, "queue": 0}, "queue"),
    ):
        with pytest.raises(ValidationError, match=said):
            ServeConfig.model_validate({"shadow": wrong})
    with pytest.raises(ValidationError, match="the challenger must be another version"):
        ServeConfig.model_validate({"stage": "staging", "shadow": {"fraction": 0.5}})
    served_staging = {"stage": "staging", "shadow": {"fraction": 0.5, "stage": "candidate"}}
    assert ServeConfig.model_validate(served_staging).shadow is not None


def test_request_ids_from_the_servers_generator_are_sampled_near_the_fraction() -> None:
    from weir.serve.app import request_ids

    new = request_ids()
    chosen = sum(sampled(new(), 0.25) for _ in itertools.repeat(None, 8_000))
    assert 1_820 <= chosen <= 2_180  # 2,000 +- 4.6 standard deviations
