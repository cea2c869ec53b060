"""Monitor outcomes in the catalog: one result per model, check and window, with the
measures behind its verdict, and the state a monitor carries between invocations.

A result's `window` is a stable key ("2026-12-01T00:00Z/1d", "rows 4000-5999"), so that a
later invocation knows which windows were judged and judges only the new ones; a window
judged again (new labels arrived for it) gets a new result, and readers take the newest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from weir.catalog.base import CatalogBase, _utc
from weir.catalog.schema import MonitorResult, MonitorState

Status = Literal["ok", "bad", "undecided"]


class Measure(BaseModel):
    """One number a verdict rests on: a feature's drift statistic against its threshold, or
    a performance metric (realised or estimated) against its floor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # the feature, the model's output, or the metric
    test: str  # distribution | null_rate | new_categories | realised | estimated
    statistic: str
    value: float
    threshold: float
    bad: bool
    p_value: float | None = None
    low: float | None = None  # an estimate's interval
    high: float | None = None
    rows: int | None = None  # rows (or labels) it rests on
    detail: str = ""


@dataclass(frozen=True)
class WindowRef:
    key: str
    start: datetime | None
    end: datetime | None
    rows: int


@dataclass(frozen=True)
class MonitorResultRecord:
    id: int
    model: str
    model_version: int | None
    check: str
    window: WindowRef
    status: Status
    summary: str
    measures: tuple[Measure, ...]
    data: dict[str, int]  # table -> version judged
    report: str | None
    created_at: datetime


class MonitorCatalog(CatalogBase):
    def record_monitor_result(
        self,
        *,
        model: str,
        model_version: int | None,
        check: str,
        window: WindowRef,
        status: Status,
        summary: str,
        measures: tuple[Measure, ...],
        data: dict[str, int],
        report: str | None = None,
    ) -> int:
        with self._session() as session:
            row = MonitorResult(
                model=model,
                model_version=model_version,
                check=check,
                window=window.key,
                window_start=window.start,
                window_end=window.end,
                rows=window.rows,
                status=status,
                summary=summary,
                measures=[m.model_dump() for m in measures],
                data=dict(data),
                report=report,
            )
            session.add(row)
            session.flush()
            return row.id

    def monitor_results(
        self, model: str, check: str | None = None, limit: int | None = None
    ) -> list[MonitorResultRecord]:
        """Newest first."""
        with self._session() as session:
            query = select(MonitorResult).where(MonitorResult.model == model)
            if check is not None:
                query = query.where(MonitorResult.check == check)
            query = query.order_by(MonitorResult.id.desc())
            if limit is not None:
                query = query.limit(limit)
            return [_record(row) for row in session.scalars(query)]

    def judged_windows(self, model: str, check: str) -> dict[str, MonitorResultRecord]:
        """The newest result of each window already judged by `check`."""
        newest: dict[str, MonitorResultRecord] = {}
        for record in self.monitor_results(model, check):
            newest.setdefault(record.window.key, record)
        return newest

    def monitor_state(self, key: str) -> str | None:
        """The JSON text a monitor left under `key`, if any."""
        with self._session() as session:
            row = session.get(MonitorState, key)
            return None if row is None else str(row.state.get("json", ""))

    def set_monitor_state(self, key: str, text: str) -> None:
        with self._session() as session:
            row = session.get(MonitorState, key)
            if row is None:
                session.add(MonitorState(key=key, state={"json": text}))
            else:
                row.state = {"json": text}
                row.updated_at = datetime.now(UTC)


def _record(row: MonitorResult) -> MonitorResultRecord:
    return MonitorResultRecord(
        id=row.id,
        model=row.model,
        model_version=row.model_version,
        check=row.check,
        window=WindowRef(row.window, _utc(row.window_start), _utc(row.window_end), row.rows),
        status=row.status,  # type: ignore[arg-type]
        summary=row.summary,
        measures=tuple(Measure.model_validate(m) for m in row.measures),
        data={str(k): int(v) for k, v in row.data.items()},
        report=row.report,
        created_at=_utc(row.created_at) or row.created_at,
    )
