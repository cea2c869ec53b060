"""What went wrong with the catalog database, said plainly: which file or database, which
cause (corrupt, full, unreachable, locked), and what to do.

SQLAlchemy raises one family of exceptions for every database; the driver's own error
(sqlite3's error name, PostgreSQL's SQLSTATE) says which of these it is. Every catalog
call goes through `translate`, so no driver error reaches a user as a traceback.
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from weir.core.errors import CatalogError, Terminal, Transient

REBUILD_FIX = (
    "restore {where} from a backup, or run 'weir catalog rebuild' to rebuild the table "
    "versions from the lake's commit metadata (the damaged file is kept beside it)"
)


class CatalogUnavailableError(CatalogError, Transient):
    """The catalog database did not answer; it may answer later."""


class CatalogCorruptError(CatalogError, Terminal):
    """The catalog exists but cannot be read: truncated, overwritten or damaged."""


class CatalogWriteError(CatalogError, Terminal):
    """The catalog could not be written: a full disk, a file-size limit, a read-only file."""


class CatalogLostError(CatalogError, Terminal):
    """The catalog holds no history while the lake holds tables: it was lost or replaced."""


# sqlite3 error names (Python 3.11 exposes them) -> what they mean for the user
_SQLITE_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_SQLITE_FULL = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY")
_SQLITE_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
# PostgreSQL SQLSTATE classes: 53 insufficient resources, 08 connection, 57P crash/shutdown
_PG_FULL = ("53",)
_PG_UNAVAILABLE = ("08", "57P")


def translate(error: SQLAlchemyError, where: str) -> CatalogError:
    """A catalog error that names `where` (the file or masked URL) and the real cause."""
    original = error.orig if isinstance(error, DBAPIError) else None
    text = _first_line(str(original) if original is not None else str(error))
    if isinstance(original, sqlite3.Error):
        name = str(getattr(original, "sqlite_errorname", "") or "")
        family = "_".join(name.split("_")[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
        if family in _SQLITE_CORRUPT:
            return corrupt(where, f"SQLite says: {text}")
        if family in _SQLITE_FULL:
            return CatalogWriteError(
                f"the catalog at {where} could not be written: {text} ({name})",
                fix="free space on the disk that holds it, and check the file-size limit "
                "('ulimit -f') and its permissions; then run again (nothing half-written "
                "was kept: the catalog rolls back the failed change)",
            )
        if family == "SQLITE_CANTOPEN":
            return CatalogUnavailableError(
                f"the catalog at {where} cannot be opened: {text}",
                fix="check that its folder exists and that you may read and write it",
            )
        if family in _SQLITE_BUSY:
            return CatalogUnavailableError(
                f"the catalog at {where} is locked by another process: {text}",
                fix="wait for the other weir command to finish, then run again",
            )
    state = str(getattr(original, "sqlstate", "") or "")
    if state.startswith(_PG_FULL):
        return CatalogWriteError(
            f"the catalog database {where} could not be written: {text} (SQLSTATE {state})",
            fix="free space on the database server (or raise its limits), then run again",
        )
    if state.startswith(_PG_UNAVAILABLE) or isinstance(error, OperationalError):
        return CatalogUnavailableError(
            f"the catalog database {where} did not answer: {text}",
            fix="check the catalog url in weir.yaml and that the database is running",
        )
    return CatalogError(
        f"the catalog at {where} refused a change: {text}",
        fix="run again with --debug for the details; if it repeats, report it with them",
    )


def corrupt(where: str, why: str) -> CatalogCorruptError:
    return CatalogCorruptError(
        f"the catalog at {where} exists but cannot be read ({why}); "
        "it was left as it is and nothing was recorded",
        fix=REBUILD_FIX.format(where=where),
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


_SQLITE_MAGIC = b"SQLite format 3\x00"


def sqlite_damage(path: Path) -> str | None:
    """Why the SQLite file at `path` cannot be a whole database, from its 100-byte header
    alone (cheap enough for every command), or None when it looks whole.

    An empty file is not damage here: SQLite makes one when it creates a database. Whether an
    empty catalog beside a full lake means a lost catalog is for the workspace to judge."""
    status = path.stat()
    if not stat.S_ISREG(status.st_mode):
        kind = (
            "directory"
            if stat.S_ISDIR(status.st_mode)
            else "fifo"
            if stat.S_ISFIFO(status.st_mode)
            else "special file"
        )
        return f"it is a {kind}, not a SQLite database"
    size = status.st_size
    if size == 0:
        return None
    with path.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        return "it is not a SQLite database: its header is missing or overwritten"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counted = header[24:28] == header[92:96]  # the page count is valid only when these agree
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return None  # pages may still be in the write-ahead log; SQLite will judge
    if counted and pages and size < page_size * pages:
        return f"it is truncated: {size:,} of {page_size * pages:,} bytes"
    return None
