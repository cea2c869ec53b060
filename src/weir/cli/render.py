"""How the CLI shows things: rich tables and one line per finished step."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from weir.app import RunResult, Workspace
    from weir.catalog import ModelVersionRecord, RunRecord, VersionRecord
    from weir.dag import StepReport

STATUS_STYLE = {
    "succeeded": "green",
    "skipped": "dim",
    "failed": "bold red",
    "blocked": "yellow",
    "planned": "cyan",
    "running": "cyan",
    "died": "bold red",
    "rebuilt": "magenta",
}

# C0 and C1 controls (ESC, BEL, backspace, CR, ...), DEL, and the invisible format
# characters that reorder or hide text (bidi overrides and isolates, zero-width ones)
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_IN_VALUES = re.compile(f"[\t\n{_CONTROLS}]")
_IN_MESSAGES = re.compile(f"[{_CONTROLS}]")


def visible(value: object, *, lines: bool = False) -> str:
    """`value` as text whose control characters show as escapes (`\\x1b`, `\\r`, `\\u202e`).

    Values, names, docs and errors come from data and from outside: a terminal obeys an
    ESC sequence (clear the screen, an OSC 8 hyperlink, a new window title), `\\r` and
    backspace overwrite what was printed, a bidi override reverses it. Shown as escapes,
    they are seen rather than obeyed. Messages (`lines=True`) keep their line breaks and tabs.
    """
    text = "" if value is None else str(value)
    pattern = _IN_MESSAGES if lines else _IN_VALUES
    return pattern.sub(lambda m: repr(m.group(0))[1:-1], text)


def cell(value: object) -> Text:
    """A table cell holding `value` as plain text: never read as rich markup."""
    return Text(visible(value))


def safe(value: object, *, lines: bool = False) -> str:
    """`value` fit to put inside a markup string: escaped, controls shown as escapes."""
    return _escape_markup(visible(value, lines=lines))


# rich's own tag pattern (rich.markup.RE_TAGS), with the backslashes before it
_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
_BEFORE_BRACKET = re.compile(r"(\\+)\[")
_AT_END = re.compile(r"(\\+)$")


def _escape_markup(text: str) -> str:
    """`text` as markup that rich shows exactly as `text`.

    `rich.markup.escape` covers what looks like a tag, but rich also reads a backslash before
    any other '[' as an escape (`\\[` shows as `[`), and backslashes at the end as escaping
    whatever tag follows them in the caller's markup. So: before a tag, each backslash is
    doubled and one more escapes the tag; before another '[', one backslash is added; at the
    end, the backslashes are doubled and closed by an empty span of no style, so that what
    follows is read the same whatever it is."""
    parts: list[str] = []
    start = 0
    for match in _TAG.finditer(text):
        parts.append(_BEFORE_BRACKET.sub(r"\1\\[", text[start : match.start()]))
        slashes, tag = match.groups()
        parts.append(f"{slashes}{slashes}\\{tag}")
        start = match.end()
    parts.append(_BEFORE_BRACKET.sub(r"\1\\[", text[start:]))
    return _AT_END.sub(r"\1\1[none][/none]", "".join(parts))


def step_line(report: StepReport, explain: bool = False) -> str:
    style = STATUS_STYLE.get(report.status, "")
    summary = report.summary
    detail = safe(summary.outcome()) if summary is not None else ""
    line = f"[{style}]{report.status:>9}[/] {safe(report.step.name):<32} {safe(report.reason)}"
    if detail:
        line += f"  [dim]({detail})[/]"
    if report.status == "succeeded" or report.status == "failed":
        line += f" [dim]{report.seconds:.1f}s[/]"
    if explain and report.key is not None:
        line += f"\n{'':>10} key {report.key.digest[:12]}"
        for part, digest in report.key.parts.items():
            label = report.key.labels.get(part, "")
            # parts and labels name input files: names an outsider may choose
            line += f"\n{'':>12}{safe(part):<28} {digest[:12]} {safe(label)}"
    for found in summary.recovered if summary is not None else ():  # a killed run's leftovers
        line += f"\n{'':>10} [cyan]recovered: {safe(found, lines=True)}[/]"
    for warning in summary.warnings if summary is not None else ():
        line += f"\n{'':>10} [yellow]warning: {safe(warning, lines=True)}[/]"
    if report.error:
        indented = safe(report.error, lines=True).replace("\n", "\n" + " " * 12)
        line += f"\n{'':>10} [red]{indented}[/]"
    return line


def metric_text(metrics: dict[str, Any], limit: int = 4) -> str:
    """The headline metrics, as a train step's line shows them (one rule for both)."""
    from weir.app.kinds import metric_text as headline

    return headline(metrics, limit)


def run_footer(console: Console, result: RunResult) -> None:
    """The run's counts, after a table of what each source loaded."""
    from weir.app.kinds import SourceSummary

    counts = ", ".join(
        f"{result.count(s)} {s}"
        for s in ("succeeded", "skipped", "failed", "blocked", "planned")
        if result.count(s)
    )
    loads: list[tuple[str, SourceSummary]] = []
    for report in result.reports:
        if report.status == "succeeded" and isinstance(report.summary, SourceSummary):
            loads.append((report.step.target, report.summary))
    if loads:
        table = Table(title="Sources", title_justify="left")
        for column in ("source", "lines read", "rows in", "quarantined", "version", "rows now"):
            table.add_column(column, justify="left" if column == "source" else "right")
        for source, s in loads:
            table.add_row(
                source,
                f"{s.lines.read:,}" if s.lines is not None else "",
                f"{s.new_rows:,}",
                f"{s.quarantine.rows:,}",
                f"{s.table}@{s.version}",
                f"{s.rows:,}",
            )
        console.print(table)
    run = f"run {result.run_id}: " if result.run_id is not None else "dry run: "
    colour = "green" if result.ok else "red"
    console.print(f"[{colour}]{run}{counts or 'nothing to do'}[/]")


def tables_table(records: list[VersionRecord], title: str = "Tables") -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("table", "kind", "version", "rows", "columns", "made by run", "description"):
        table.add_column(
            column, justify="right" if column in ("version", "rows", "columns") else "left"
        )
    for r in records:
        table.add_row(
            cell(r.table),
            r.kind,
            str(r.version),
            f"{r.row_count:,}",
            str(len(r.schema)),
            str(r.run_id or ""),
            cell(r.description or ""),
        )
    return table


def models_table(records: list[ModelVersionRecord]) -> Table:
    table = Table(title="Models", title_justify="left")
    for column in (
        "model",
        "version",
        "stage",
        "algorithm",
        "metrics (held-out)",
        "trained on",
        "seed",
        "run",
    ):
        table.add_column(column)
    for r in records:
        table.add_row(
            cell(r.model),
            str(r.version),
            r.stage,
            cell(r.algorithm),
            metric_text(r.metrics),
            cell(", ".join(r.trained_on)),
            str(r.seed),
            str(r.run_id or ""),
        )
    return table


def runs_table(records: list[RunRecord]) -> Table:
    """Runs, newest first. A run whose process died says so, with its pid, in `note`."""
    table = Table(title="Runs", title_justify="left")
    for column in ("run", "status", "started (UTC)", "seconds", "weir", "git", "note"):
        table.add_column(column, overflow="fold")
    for r in records:
        seconds = (r.finished_at - r.started_at).total_seconds() if r.finished_at else None
        git = (
            r.git.get("commit", "")[:10] + (" dirty" if r.git.get("dirty") else "")
            if r.git.get("repository")
            else "-"
        )
        table.add_row(
            str(r.id),
            f"[{STATUS_STYLE.get(r.status, '')}]{r.status}[/]",
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{seconds:.1f}" if seconds is not None else "",
            cell(r.weir_version),
            cell(git),
            cell(r.note or _running_note(r)),
        )
    return table


def _running_note(run: RunRecord) -> str:
    if run.status == "running" and run.process is not None:
        return f"pid {run.process.pid} on {run.process.host}"
    return ""


def where_lines(ws: Workspace) -> list[str]:
    from weir.catalog import masked

    return [
        f"project    {safe(ws.project.file)}",
        f"lake       {safe(ws.project.lake_root)}  (Delta tables)",
        f"catalog    {safe(masked(ws.project.catalog_url))}",
        f"artifacts  {safe(ws.project.artifacts_root)}",
    ]


def profile_table(record: VersionRecord, profile: dict[str, Any]) -> Table:
    """A profile as one row per column; numbers rounded for reading, not for storage."""
    sampled = profile.get("sample_rows")
    basis = f"; distribution from a sample of {sampled:,} rows" if sampled else ""
    table = Table(
        title=f"Profile of {safe(record.table)}@{record.version} ({profile['rows']:,} rows; ~ = approximate{basis})",
        title_justify="left",
    )
    for column in (
        "column",
        "type",
        "nulls",
        "distinct~",
        "min",
        "max",
        "mean",
        "std",
        "p50~",
        "top values",
    ):
        table.add_column(column, overflow="fold")
    for c in profile["columns"]:
        top = ", ".join(
            f"{visible(t['value'])} ({t['count']:,})" for t in (c.get("top_values") or [])[:3]
        )
        if c.get("withheld"):  # a governed PII column: counts only, values stay in the lake
            top = f"values withheld ({visible(c['withheld'])})"
        quantiles = c.get("quantiles_approx") or {}
        table.add_row(
            cell(c["name"]),
            cell(c["type"]),
            f"{c['null_fraction']:.1%}"
            + (f" (+{c['not_finite']:,} NaN/inf)" if c.get("not_finite") else ""),
            "" if c.get("distinct_approx") is None else f"{c['distinct_approx']:,}",
            _short(c.get("min")),
            _short(c.get("max")),
            _number(c.get("mean")),
            _number(c.get("std")),
            _number(quantiles.get("p50")),
            Text(top),
        )
    return table


def _number(value: Any) -> str:
    return "" if value is None else f"{value:,.4g}"


def _short(value: Any, width: int = 24) -> Text:
    text = visible(value)
    return Text(text if len(text) <= width else text[: width - 1] + "…")


def check_result(passed: bool, severity: str) -> str:
    if passed:
        return "[green]pass[/]"
    return {"warn": "[yellow]warn[/]", "quarantine": "[yellow]quarantined[/]"}.get(
        severity, "[red]FAIL[/]"
    )


def comparison(a: ModelVersionRecord, b: ModelVersionRecord) -> Table:
    """Two model versions side by side; rows that differ are marked."""
    table = Table(
        title=f"{safe(a.model)} v{a.version} vs {safe(b.model)} v{b.version}", title_justify="left"
    )
    for column in ("", f"v{a.version}", f"v{b.version}", "change"):
        table.add_column(column)

    def row(label: str, left: Any, right: Any, delta: str = "") -> None:
        mark = "" if left == right else "*"
        table.add_row(cell(f"{label}{mark}"), _short(left, 40), _short(right, 40), delta)

    row("stage", a.stage, b.stage)
    row("algorithm", a.algorithm, b.algorithm)
    row("trained on", ", ".join(a.trained_on), ", ".join(b.trained_on))
    row("seed", a.seed, b.seed)
    row("created", a.created_at.strftime("%Y-%m-%d %H:%M"), b.created_at.strftime("%Y-%m-%d %H:%M"))
    for name in sorted({*a.metrics, *b.metrics}):
        left, right = a.metrics.get(name), b.metrics.get(name)
        delta = (
            f"{right - left:+.4f}"
            if isinstance(left, int | float) and isinstance(right, int | float)
            else ""
        )
        row(
            f"test {name}",
            _number(left) if left is not None else "",
            _number(right) if right is not None else "",
            delta,
        )
    cv_a, cv_b = a.details.cv, b.details.cv
    for name in sorted({*cv_a, *cv_b}):
        left, right = cv_a.get(name), cv_b.get(name)
        row(
            f"cv {name}",
            f"{left.mean:.4f}±{left.std:.4f}" if left else "",
            f"{right.mean:.4f}±{right.std:.4f}" if right else "",
            f"{right.mean - left.mean:+.4f}" if left and right else "",
        )
    params_a, params_b = a.details.resolved_params, b.details.resolved_params
    for name in sorted({*params_a, *params_b}):
        row(f"param {name}", params_a.get(name, "(default)"), params_b.get(name, "(default)"))
    features_a = {k: v for k, v in a.features.items() if k not in ("rows", "classified_origins")}
    features_b = {k: v for k, v in b.features.items() if k not in ("rows", "classified_origins")}
    for name in sorted({*features_a, *features_b}):
        row(name, features_a.get(name), features_b.get(name))
    return table


def reproduction(console: Console, result: Any) -> None:
    if result.identical:
        console.print(
            f"[green]reproduced[/] {safe(result.model)} v{result.version}: identical predictions on "
            f"{result.rows:,} test rows"
            + (" (matches the recorded digest)" if result.matches_recorded_digest else "")
        )
    else:
        console.print(
            f"[red]not reproduced[/] {safe(result.model)} v{result.version}: predictions differ on the test rows "
            f"(largest difference {result.max_difference:.3g})"
        )
    for name, value in result.metrics.items():
        then = result.recorded_metrics.get(name)
        console.print(
            f"  {name}: recorded {_number(then) if then is not None else '-'}, now {_number(value)}"
        )
    for package, (then, now) in result.environment_changes.items():
        console.print(f"  [yellow]{safe(package)} changed: {safe(then)} -> {safe(now)}[/]")
