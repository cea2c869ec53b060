"""What can be wrong with a lake table, found before a reader trips over it, and what can go
wrong writing one, said as its real cause.

A version is its Delta log entries plus the data files they list, each with the size it
was written at. A file that is gone (deleted, vacuumed) or not that size (truncated, half
copied) means the version cannot be read whole; it is named with the table and the version
instead of surfacing later as a Parquet reader's traceback. A log with a gap (a commit file
missing) is named the same way.

A write fails for one of two reasons that must not be confused: the rows fed to it failed
(a source broke off, a type changed mid-stream) or the lake could not store them (a full
disk, a file-size limit, permissions). The message says which, with the cause itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa
from deltalake import DeltaTable

from weir.core.errors import WRITE_FIXES, LakeError, Terminal, WeirError


@dataclass(frozen=True)
class DamagedFile:
    """A data file a version lists: missing (`actual` None) or not the size it was written."""

    name: str
    expected: int
    actual: int | None

    def describe(self) -> str:
        if self.actual is None:
            return f"{self.name} is missing"
        return f"{self.name} has {self.actual:,} of {self.expected:,} bytes"


class MissingDataError(LakeError):
    """A table version lists data files that are gone or damaged."""

    def __init__(
        self, table: str, version: int, files: Sequence[DamagedFile], total: int, latest: int
    ) -> None:
        shown = "; ".join(f.describe() for f in files[:3])
        more = f"; and {len(files) - 3} more" if len(files) > 3 else ""
        gone = all(f.actual is None for f in files)
        what = "missing" if gone else "missing or damaged"
        if version == latest:
            fix = (
                "restore the file(s) from a backup of the lake; or build the table again: "
                "'weir run' rebuilds it, and 'weir run --full-refresh' is needed for a table "
                "loaded or built incrementally (its earlier rows are only in the lake)"
            )
        else:
            fix = (
                f"version {version}'s files were removed (by a vacuum or by hand): read a "
                f"newer version (the latest is {latest}), or restore them from a backup"
            )
        super().__init__(
            f"table '{table}' version {version}: {len(files)} of its {total} data file(s) "
            f"{'are' if len(files) > 1 else 'is'} {what} ({shown}{more}); "
            "its rows cannot be read",
            fix=fix,
        )
        self.table, self.version, self.files = table, version, list(files)


class UnreadableDataError(LakeError):
    """A table version's data files are all there at their sizes, but some cannot be read:
    their content was changed in place (a bad disk, a hand edit, a copy over them)."""

    def __init__(
        self, table: str, version: int, files: Sequence[tuple[str, str]], total: int, latest: int
    ) -> None:
        shown = "; ".join(f"{name}: {first_line(error)[:200]}" for name, error in files[:3])
        more = f"; and {len(files) - 3} more" if len(files) > 3 else ""
        if version == latest:
            fix = (
                "restore the file(s) from a backup of the lake; or build the table again with "
                "'weir run --force' ('weir run' alone does not see this damage: the files kept "
                "their size), adding --full-refresh for a table loaded or built incrementally"
            )
        else:
            fix = f"read a newer version (the latest is {latest}), or restore the file(s) from a backup"
        super().__init__(
            f"table '{table}' version {version}: {len(files)} of its {total} data file(s) "
            f"cannot be read ({shown}{more}); their content changed after Weir wrote them",
            fix=fix,
        )
        self.table, self.version, self.files = table, version, list(files)


class BrokenLogError(LakeError):
    """The table's Delta log cannot be read (a commit file missing, or unreadable)."""


class InputStreamError(WeirError, Terminal):
    """The rows being written failed, not the lake: a source or query broke off."""


def damaged_files(root: Path, delta: DeltaTable) -> tuple[list[DamagedFile], int]:
    """The data files of `delta`'s version that are gone or not the size the log recorded,
    and how many files the version has. One stat per file; nothing is read."""
    actions = pa.table(delta.get_add_actions(flatten=False))
    paths = actions.column("path").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    damaged = []
    for path, expected in zip(paths, sizes, strict=True):
        local = _local(root, str(path))
        try:
            actual: int | None = local.stat().st_size
        except FileNotFoundError:
            actual = None
        if actual is None or (expected is not None and actual != int(expected)):
            damaged.append(DamagedFile(local.name, int(expected or 0), actual))
    return damaged, len(paths)


def unreadable_files(root: Path, delta: DeltaTable) -> tuple[list[tuple[str, str]], int]:
    """The data files of `delta`'s version that cannot be read whole, with why, and how many
    files the version has. Decodes every byte, a batch at a time (never a whole file in
    memory): for after a read failed with the error a damaged file gives, not before each."""
    import pyarrow.parquet as pq

    paths = pa.table(delta.get_add_actions(flatten=False)).column("path").to_pylist()
    found = []
    for path in paths:
        local = _local(root, str(path))
        try:
            with pq.ParquetFile(local) as parquet:
                for _ in parquet.iter_batches():
                    pass
        except (OSError, pa.ArrowException) as exc:
            found.append((local.name, f"{type(exc).__name__}: {exc}"))
    return found, len(paths)


def _local(root: Path, path: str) -> Path:
    """A data file's path from the log: relative and percent-encoded, or a file:// URI."""
    if "://" in path:
        return Path(unquote(urlparse(path).path))
    return root / unquote(path)


_LOG_NAME = re.compile(r"^(\d{20})\.(json|checkpoint\.parquet)$")


def log_gap(root: Path) -> int | None:
    """The first commit number missing from the table's log after its newest checkpoint (the
    versions a reader needs), or None when the log has no gap."""
    commits: set[int] = set()
    checkpoints: set[int] = set()
    for entry in (root / "_delta_log").iterdir():
        found = _LOG_NAME.match(entry.name)
        if found:
            (commits if found.group(2) == "json" else checkpoints).add(int(found.group(1)))
    if not commits:
        return None
    start = max((c for c in checkpoints if c <= max(commits)), default=0)
    expected = range(start + 1 if start in checkpoints else start, max(commits) + 1)
    return next((v for v in expected if v not in commits), None)


def broken_log(table: str, root: Path, cause: str) -> BrokenLogError:
    gap = log_gap(root)
    if gap is not None:
        name = f"_delta_log/{gap:020d}.json"
        return BrokenLogError(
            f"table '{table}': the Delta log at {root} is missing commit {gap} ({name}); "
            "the table cannot be read past it",
            fix=f"restore {name} from a backup of the lake. Without it, the table's data is "
            "lost from that commit on: move the table's folder aside, run 'weir catalog "
            "rebuild --force', then 'weir run' to load it again",
        )
    checkpoint = damaged_checkpoint(root)
    if checkpoint is not None:
        name, why = checkpoint
        complete = log_gap(root) is None and (root / "_delta_log" / f"{0:020d}.json").exists()
        stale = "_delta_log/_last_checkpoint" + (
            "" if "missing" in why or name == "_last_checkpoint" else f" and _delta_log/{name}"
        )
        return BrokenLogError(
            f"table '{table}': the Delta log at {root} cannot be read: its checkpoint "
            f"_delta_log/{name} {why} ({first_line(cause)})",
            fix=f"delete {stale}: every commit file the checkpoint summarises is still "
            "there, and the table is read from them"
            if complete
            else f"restore _delta_log/{name} from a backup of the lake",
        )
    return BrokenLogError(
        f"table '{table}': the Delta log at {root} cannot be read: {first_line(cause)}",
        fix="restore the table's _delta_log folder from a backup of the lake",
    )


def damaged_checkpoint(root: Path) -> tuple[str, str] | None:
    """The checkpoint a reader of the table starts from, by name, and what is wrong with it:
    the one `_last_checkpoint` points to is missing, or a checkpoint file cannot be read."""
    import json

    import pyarrow.parquet as pq

    log = root / "_delta_log"
    hint = log / "_last_checkpoint"
    if hint.exists():
        try:
            version = int(json.loads(hint.read_text())["version"])
        except (ValueError, KeyError, TypeError, OSError):
            return "_last_checkpoint", "cannot be read"
        name = f"{version:020d}.checkpoint.parquet"
        if not (log / name).exists() and not any(log.glob(f"{version:020d}.checkpoint.*")):
            return name, "is missing (_delta_log/_last_checkpoint points to it)"
    for checkpoint in sorted(log.glob("*.checkpoint*.parquet"), reverse=True):
        try:
            pq.read_metadata(checkpoint)
        except (OSError, pa.ArrowException):
            return checkpoint.name, "cannot be read"
    return None


# writing ------------------------------------------------------------------------------------


def watched(data: pa.RecordBatchReader, failures: list[BaseException]) -> pa.RecordBatchReader:
    """`data`, with any error raised while producing its batches kept in `failures`: the
    Delta writer turns such an error into its own text, and the real cause would be lost."""

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from data
        except GeneratorExit:
            raise
        except BaseException as exc:  # pyo3 panics derive from BaseException
            failures.append(exc)
            raise

    return pa.RecordBatchReader.from_batches(data.schema, batches())


def stream_failure(table: str, error: BaseException) -> BaseException:
    """The error to raise when the rows fed to a write failed: the stream's own error if it
    is Weir's (it names its place), else one that names the table and the real cause."""
    if isinstance(error, WeirError | KeyboardInterrupt | SystemExit):
        return error
    if isinstance(error, OSError) and error.errno in _FIXES:  # e.g. staging rejects, disk full
        where = f" ({error.filename})" if error.filename else ""
        return LakeError(
            f"the load of table '{table}' failed: {os.strerror(error.errno)}{where}; "
            "nothing was committed",
            fix=_FIXES[error.errno],
        )
    return InputStreamError(
        f"the rows for table '{table}' could not be read: {type(error).__name__}: "
        f"{first_line(str(error))}; nothing was committed",
        fix="the cause is in what feeds the table (its source or query), not in the lake; "
        "run again with --debug for the traceback",
    )


_OS_ERROR = re.compile(r"\(os error (\d+)\)")
_FIXES = WRITE_FIXES


def write_failure(table: str, target: Path, error: BaseException, action: str) -> LakeError:
    """The lake could not store the rows: say why, from the OS error when there is one."""
    code = error.errno if isinstance(error, OSError) else None
    if code is None:
        found = _OS_ERROR.search(str(error))
        code = int(found.group(1)) if found else None
    cause = os.strerror(code) if code is not None else first_line(str(error))
    fix = _FIXES.get(code or -1, "run again with --debug for the details")
    return LakeError(
        f"could not {action} table '{table}' at {target}: {cause}; nothing was committed",
        fix=fix,
    )


def first_line(text: str) -> str:
    """The message without what libraries append: tracebacks, 'Detail:' blocks, URLs' dumps."""
    text = text.split("Detail: Python exception", 1)[0]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[0] if lines else text.strip()
    return line if len(line) <= 400 else line[:400] + " …"
