"""Shadow mode: a challenger (the version in `serve.shadow.stage`, staging by default)
answers a declared fraction of the requests beside the served version (the champion). Its
answers are logged and compared live, never returned.

Choices, and why:

- **Off the response path.** The champion answers and the response is sent as without a
  shadow. Only then (in the response's background task, as the prediction log's hand-over)
  is the request sampled and, if chosen, put on a bounded queue that one worker thread
  empties. A full queue is never waited for: the request is not shadowed, and that is
  counted (`weir_shadow_skipped_total{reason="queue_full"}`). The worker computes with one
  onnxruntime thread, which releases the interpreter lock while it runs; what it holds the
  lock for (preparing columns, deciding labels) is tens of microseconds, and that is what a
  champion request can wait for. Requests that wait together are answered in one call
  (up to MAX_ROWS rows): most of a one-row call is its fixed cost, so under load the
  challenger takes less of the CPU the champion needs. bench/serve_shadow.py measures the
  cost. The worker runs at normal priority, not at the lowest like the log's writer
  (weir.serve.log_writer): it holds the interpreter lock in stretches, and a holder at
  the lowest priority can be kept off the CPU by any other work while the champion waits
  for the lock. A process of its own would not share the lock; the bench's figures did
  not call for one.
- **Sampling by a hash of the request id** (BLAKE2b, not Python's salted `hash`): the same
  id is chosen by every server and every restart, so a replay shadows the same requests,
  and a caller that sends X-Request-ID can tell which were.
- **The same row of the log.** A sampled request's row is written once the challenger has
  answered (or given up), with the challenger's answer in `shadow_*` columns:
  `shadow_version`, the answer's fields (`shadow_label`, `shadow_probability`,
  `shadow_probabilities`; `shadow_prediction`; `shadow_cluster`), `shadow_latency_ms`, and
  `shadow_skipped` (why a sampled row has no shadow answer; then `shadow_version` is null).
  Not separate rows with a role column: every reader of the log (profiles, `weir show`,
  drift checks, the catalog's `answered_by` from the `version` column) keeps reading one
  row per answer given, and comparing champion and challenger once labels arrive is the
  labels' join on `request_id` the champion needs anyway, reading two columns of one row.
  The columns are declared whenever a shadow is configured (null on rows not sampled), so
  every flush has them; appends merge the schema, so an older log gains them.
- **Lineage stays true.** The commit metadata names the champion's versions under
  `weir.model_versions` (what `answered_by` and the catalog's model outputs read) and the
  challenger's under `weir.shadow_versions` (`weir.app.prediction_log.shadowed_by`): the
  challenger answered nobody.
- **Promotions are followed**: the challenger is looked up with the champion
  (`reload_seconds`, /admin/reload). Another version in the stage is loaded; an empty stage
  stops the shadow; a version that cannot be loaded (its artifact changed or gone) or that
  has another task stops it too, and is tried again when the stage names another version.
  Each change is said once in the server's log, and `weir_shadow_version` shows it (0: none).
- **Other inputs.** The request schema is the champion's, plus, optional, the fields only
  the challenger at start takes (a new feature): callers may send them. A challenger that
  needs a field the request did not send (or that this server's schema cannot carry: a
  challenger promoted later, with a field it has never seen) skips that row
  (`missing_input`), as it skips a category it refuses (`unknown_category`) and answers
  that are not finite (`not_finite`). Whatever the challenger does (`failed`: it raised)
  never reaches the caller. The log keeps the champion's inputs only: a field the champion
  does not take is not logged (its PII status is the challenger's training data's).
- **Shutdown.** The queue is worked off before the prediction log closes; a challenger
  still busy after the timeout leaves its rows logged without a shadow answer
  (`shutdown`). Every champion row is written exactly once (`Job.claimed`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from weir.ml.rows import MISSING
from weir.serve.metrics import ShadowMetrics
from weir.serve.model import NotFiniteError, load

if TYPE_CHECKING:  # only types here: the weir.app package loads every stage
    from weir.app.workspace import Workspace
    from weir.catalog import ModelVersionRecord
    from weir.project.ml_config import ShadowConfig

logger = logging.getLogger("weir.serve")
MAX_ROWS = 1000  # rows of waiting requests the challenger answers in one call

ANSWER_COLUMNS = {
    "classification": {
        "shadow_label": "string",
        "shadow_probability": "float64",
        "shadow_probabilities": "string",  # JSON, as the champion's `probabilities`
    },
    "regression": {"shadow_prediction": "float64"},
    "clustering": {"shadow_cluster": "int64"},
}


def sampled(request_id: str, fraction: float) -> bool:
    """Whether the request with this id is shadowed: the first 8 bytes of its BLAKE2b
    digest, as a share of 2**64, below `fraction`. The same for every process."""
    if fraction >= 1:
        return True
    digest = hashlib.blake2b(request_id.encode(), digest_size=8, person=b"weir-shadow")
    return int.from_bytes(digest.digest(), "big") < fraction * 2**64


def log_columns(task: str) -> dict[str, str]:
    """The log's shadow columns (name -> Arrow type name) for a champion of `task`."""
    return {
        "shadow_version": "int64",
        **ANSWER_COLUMNS[task],
        "shadow_latency_ms": "float64",
        "shadow_skipped": "string",
    }


class Answerer(Protocol):
    """What the shadow needs of a challenger (weir.serve.model.LoadedModel is one)."""

    @property
    def version(self) -> int: ...
    @property
    def task(self) -> str: ...
    @property
    def inputs(self) -> dict[str, str]: ...
    @property
    def known_categories(self) -> dict[str, frozenset[str]]: ...
    def predict(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


class Holder(Protocol):
    """Who holds the challenger (`Challenger`; tests hold one in memory)."""

    @property
    def current(self) -> Answerer | None: ...
    @property
    def problem(self) -> str | None: ...
    def refresh(self) -> None: ...


class Sink(Protocol):
    """Where a request's rows go (weir.serve.log.PredictionLog)."""

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
    ) -> None: ...


class Challenger:
    """The version in the shadow's stage, loaded, and followed on promotion (`refresh`).
    `problem` says why nothing answers in the shadow, or why it cannot answer every
    request."""

    def __init__(
        self,
        ws: Workspace,
        model: str,
        stage: str,
        task: str,
        carried: Mapping[str, str],
        metrics: ShadowMetrics,
    ) -> None:
        self.ws, self.model, self.stage, self.task = ws, model, stage, task
        self.carried, self.metrics = dict(carried), metrics
        self.current: Answerer | None = None
        self.problem: str | None = None
        self._tried: int | None = None  # the version last loaded or failed
        self._said: list[str] = []
        self._unread = False  # the registry could not be read at the last look
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Load the version the stage names now, if it changed; never raises (a registry
        that cannot be read keeps the challenger as it is)."""
        with self._lock:
            try:
                wanted = self.ws.catalog.in_stage(self.model, self.stage)
            except Exception as exc:
                if not self._unread:  # once, not at every look while it lasts
                    logger.warning("shadow: the registry could not be read (%s)", _message(exc))
                self._unread = True
                return
            self._unread = False
            if wanted is None:
                self._tried = None
                self._become(None, f"no version of {self.model} in {self.stage}: no shadow")
            elif wanted.version != self._tried:
                self._tried = wanted.version
                self._load(wanted)

    def _load(self, record: ModelVersionRecord) -> None:
        name = f"{self.model} v{record.version} ({self.stage})"
        try:
            loaded = load(self.ws, record, threads=1)  # computes in the worker's thread
        except Exception as exc:
            self._become(None, f"{name} cannot answer in the shadow: {_message(exc)}")
            return
        if loaded.task != self.task:
            self._become(None, f"{name} is a {loaded.task} model, the served one is not")
            return
        lacking = sorted(n for n, k in loaded.inputs.items() if self.carried.get(n) != k)
        problem = None
        if lacking:
            problem = (
                f"{name} takes {', '.join(lacking)}, which requests to this server cannot "
                "carry: each shadowed row is skipped (missing_input); restart weir serve"
            )
        self._become(loaded, problem)

    def _become(self, current: Answerer | None, problem: str | None) -> None:
        self.current, self.problem = current, problem
        self.metrics.version.labels(self.model).set(current.version if current else 0)
        said = [f"{self.model} v{current.version} ({self.stage}) now answers"] if current else []
        said += [problem] if problem else []
        if said != self._said:  # each change once, not at every look
            self._said = said
            for line in said:
                logger.warning("shadow: %s", line)


@dataclass(eq=False)
class Job:
    """One sampled request: what the champion was given and answered."""

    request_id: str
    version: int  # the champion's
    rows: Sequence[BaseModel]
    prepared: list[dict[str, Any]]  # the rows as the champion took them
    answers: list[dict[str, Any]]  # the champion's
    latency_ms: float
    logged_at: int = field(default_factory=lambda: time.time_ns() // 1000)
    claimed: bool = False  # its rows are being written (exactly once)


class Shadow:
    """The sampling, the bounded queue and the worker thread that has the challenger
    answer, counts, compares and writes the rows."""

    def __init__(
        self,
        holder: Holder,
        *,
        model: str,
        fraction: float,
        queue_size: int,
        metrics: ShadowMetrics,
        sink: Sink | None,
        carried: Mapping[str, str],
        optional: frozenset[str] = frozenset(),
        dump: Callable[[BaseModel], str] = lambda row: row.model_dump_json(),
    ) -> None:
        """`carried`: the request schema's fields and kinds; `optional`: those a request
        may leave out (fields only the challenger takes); `dump`: a row as the log's
        input JSON."""
        self.holder, self.model, self.fraction = holder, model, fraction
        self.metrics, self.sink, self.dump = metrics, sink, dump
        self.carried, self.optional = dict(carried), optional
        self._queue: queue.Queue[Job | None] = queue.Queue(queue_size)
        self._lock = threading.Lock()
        self._in_flight: list[Job] = []
        self._warned: set[tuple[int, str]] = set()
        self._thread = threading.Thread(target=self._work, name="weir-shadow", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def offer(self, job: Job) -> bool:
        """Take `job` if its request is sampled (True: its rows are the shadow's to
        write); never waits. A full queue writes the rows now, without a shadow answer."""
        if not sampled(job.request_id, self.fraction):
            return False
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self._finish(job, self._skipped(job, "queue_full"))
        return True

    def process(self, jobs: Sequence[Job]) -> None:
        """The challenger's answers to the rows of `jobs` (in one call), counted, compared
        and written with the champion's rows."""
        for job, fields in zip(jobs, self._answer(jobs), strict=True):
            self._finish(job, fields)

    def close(self, timeout: float = 30.0) -> None:
        """Work off the queue, then stop; rows the worker has not written by `timeout`
        are written without a shadow answer (`shutdown`)."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = list(self._in_flight)
        with contextlib.suppress(queue.Empty):
            while True:
                job = self._queue.get_nowait()
                if job is not None:
                    left.append(job)
        with contextlib.suppress(queue.Full):  # the worker stops when it is free again
            self._queue.put_nowait(None)
        for job in left:
            self._finish(job, self._skipped(job, "shutdown"))

    def _work(self) -> None:
        while (first := self._queue.get()) is not None:
            jobs = [first]
            stop = self._more(jobs)
            with self._lock:
                self._in_flight = list(jobs)
            try:
                self.process(jobs)
            except Exception:  # a bug here must not stop the shadow, nor lose the rows
                logger.exception("shadow: requests %s", [job.request_id for job in jobs])
                for job in jobs:
                    self._finish(job, self._skipped(job, "failed"))
            finally:
                with self._lock:
                    self._in_flight = []
            if stop:
                return

    def _more(self, jobs: list[Job]) -> bool:
        """Add the requests waiting now, up to MAX_ROWS rows: one call answers them for
        less than a call each (most of a one-row call is its fixed cost), so a busy server
        gives the challenger less CPU. True if the stop mark was among them."""
        rows = len(jobs[0].rows)
        while rows < MAX_ROWS:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            jobs.append(job)
            rows += len(job.rows)
        return False

    def _finish(self, job: Job, fields: list[dict[str, Any]]) -> None:
        """Write the job's rows, champion's answers and shadow fields, once."""
        with self._lock:
            if job.claimed:
                return
            job.claimed = True
        if self.sink is None:
            return
        for row, answer, shadow in zip(job.rows, job.answers, fields, strict=True):
            self.sink.add(
                job.request_id,
                job.version,
                self.dump(row),
                answer,
                job.latency_ms,
                shadow=shadow,
                logged_at=job.logged_at,
            )

    def _skipped(self, job: Job, reason: str) -> list[dict[str, Any]]:
        self.metrics.skipped.labels(self.model, reason).inc(len(job.rows))
        return [{"shadow_skipped": reason} for _ in job.rows]

    def _answer(self, jobs: Sequence[Job]) -> list[list[dict[str, Any]]]:
        """Each job's shadow fields, a dict per row."""
        challenger = self.holder.current
        if challenger is None:
            return [self._skipped(job, "no_challenger") for job in jobs]
        if any(job.version == challenger.version for job in jobs):
            # promoted to the served stage, found there before the shadow looked again
            same = [j for j in jobs if j.version == challenger.version]
            answered = iter(self._answer([j for j in jobs if j.version != challenger.version]))
            done = {id(j): self._skipped(j, "no_challenger") for j in same}
            return [done[id(j)] if id(j) in done else next(answered) for j in jobs]
        places = [(job, i) for job in jobs for i in range(len(job.rows))]
        reasons = [self._refusal(challenger, job.rows[i], job.prepared[i]) for job, i in places]
        started = time.perf_counter()
        answers = self._predict(challenger, [job.prepared[i] for job, i in places], reasons)
        seconds = time.perf_counter() - started
        version = str(challenger.version)
        if answers:
            self.metrics.latency.labels(self.model, version).observe(seconds)
            self.metrics.answers.labels(self.model, version).inc(len(answers))
        fields: dict[int, list[dict[str, Any]]] = {id(job): [] for job in jobs}
        for index, ((job, row), reason) in enumerate(zip(places, reasons, strict=True)):
            if reason is not None:
                self.metrics.skipped.labels(self.model, reason).inc()
                fields[id(job)].append({"shadow_skipped": reason})
                continue
            self._compare(version, job.answers[row], answers[index])
            fields[id(job)].append(
                {
                    "shadow_version": challenger.version,
                    **stored(answers[index]),
                    "shadow_latency_ms": seconds * 1000,
                }
            )
        return [fields[id(job)] for job in jobs]

    def _predict(
        self, challenger: Answerer, rows: list[dict[str, Any]], reasons: list[str | None]
    ) -> dict[int, dict[str, Any]]:
        """Answers of the rows not refused, by index; rows it cannot answer get a reason."""
        chosen = [i for i, reason in enumerate(reasons) if reason is None]
        while chosen:
            try:
                return dict(zip(chosen, challenger.predict([rows[i] for i in chosen]), strict=True))
            except NotFiniteError as exc:
                for position in exc.rows:
                    reasons[chosen[position]] = "not_finite"
                chosen = [i for i in chosen if reasons[i] is None]
            except Exception as exc:
                self._warn(challenger.version, exc)
                for i in chosen:
                    reasons[i] = "failed"
                return {}
        return {}

    def _refusal(
        self, challenger: Answerer, row: BaseModel, prepared: dict[str, Any]
    ) -> str | None:
        """Why the challenger cannot answer this row: a field it needs was not sent (or
        cannot be: another kind, or not in the request schema), or a category it refuses."""
        for name, kind in challenger.inputs.items():
            if self.carried.get(name) != kind:
                return "missing_input"
            if name in self.optional and name not in row.model_fields_set:
                return "missing_input"
        for column, known in challenger.known_categories.items():
            value = prepared.get(column)
            if (MISSING if value in (None, "") else value) not in known:
                return "unknown_category"
        return None

    def _compare(self, version: str, champion: dict[str, Any], challenger: dict[str, Any]) -> None:
        if "label" in champion and str(champion["label"]) == str(challenger.get("label")):
            self.metrics.agreements.labels(self.model, version).inc()
        elif "prediction" in champion and "prediction" in challenger:
            gap = abs(float(champion["prediction"]) - float(challenger["prediction"]))
            self.metrics.difference.labels(self.model, version).observe(gap)

    def _warn(self, version: int, exc: Exception) -> None:
        """Said once per challenger version and kind of failure: a failing challenger
        would otherwise write a line per request."""
        key = (version, type(exc).__name__)
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(
                "shadow: %s v%s failed (%s); its rows are counted as failed",
                self.model, version, _message(exc),
            )  # fmt: skip


def stored(answer: dict[str, Any]) -> dict[str, Any]:
    """The challenger's answer as the log's shadow columns hold it (as the champion's:
    labels as text, probabilities as JSON)."""
    found: dict[str, Any] = {}
    for name, value in answer.items():
        if name == "label":
            value = str(value)
        elif name == "probabilities":
            value = json.dumps(value)
        found[f"shadow_{name}"] = value
    return found


def _message(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc or type(exc).__name__)


def start_shadow(
    ws: Workspace,
    model: str,
    config: ShadowConfig,
    champion: Answerer,
    metrics: ShadowMetrics,
    sink: Sink | None,
) -> Shadow:
    """The shadow of `champion`: the request schema carries the champion's inputs and,
    optionally, those only the challenger at start takes (`Shadow.optional`)."""
    extra: dict[str, str] = {}
    with contextlib.suppress(Exception):  # no challenger yet, or unreadable: said below
        record = ws.catalog.in_stage(model, config.stage)
        serving = record.details.serving if record is not None else None
        if serving is not None:
            extra = {n: k for n, k in serving.inputs.items() if n not in champion.inputs}
    carried = {**champion.inputs, **extra}
    holder = Challenger(ws, model, config.stage, champion.task, carried, metrics)
    fields = set(champion.inputs)
    return Shadow(
        holder,
        model=model,
        fraction=config.fraction,
        queue_size=config.queue,
        metrics=metrics,
        sink=sink,
        carried=carried,
        optional=frozenset(extra),
        dump=(lambda row: row.model_dump_json(include=fields)) if extra else _dump,
    )


def _dump(row: BaseModel) -> str:
    return row.model_dump_json()
