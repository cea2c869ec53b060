"""Python steps: a function in the project that takes named tables and returns one.

The function's code identity for caching is its file plus every project module it imports,
transitively (found by reading the imports, not by running them), so editing a helper
re-runs the steps that use it and nothing else.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from weir.core.errors import ConfigError, StepError
from weir.core.hashing import fingerprint


def _local_imports(path: Path, root: Path) -> set[Path]:
    """Files under `root` that `path` imports, directly or through each other."""
    found: set[Path] = set()
    pending = [path]
    while pending:
        current = pending.pop()
        try:
            tree = ast.parse(current.read_text(encoding="utf-8"), filename=str(current))
        except SyntaxError:
            continue  # reported when the step is loaded
        names: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.append(node.module)
        for name in names:
            for base in (current.parent, root):
                candidate = base.joinpath(*name.split(".")).with_suffix(".py")
                package = base.joinpath(*name.split("."), "__init__.py")
                for option in (candidate, package):
                    if (
                        option.is_file()
                        and option.resolve().is_relative_to(root.resolve())
                        and option not in found
                    ):
                        found.add(option)
                        pending.append(option)
    return found


def code_identity(root: Path, relative: str) -> str:
    """The text the cache key hashes: the step's file and its project imports, by path."""
    path = root / relative
    files = sorted({path, *_local_imports(path, root)})
    return "\n".join(
        f"{f.relative_to(root).as_posix()}:{fingerprint(f.read_bytes())}" for f in files
    )


def load_function(root: Path, relative: str, name: str, where: str) -> Callable[..., Any]:
    path = root / relative
    if not path.is_file():
        raise ConfigError(
            f"{where}: no file {relative}", fix="paths are relative to the project directory"
        )
    module_name = f"weir_step_{fingerprint(str(path))[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise StepError(
            where,
            f"importing {relative} failed: {type(exc).__name__}: {exc}",
            fix=_user_frames(exc, path),
        ) from None
    finally:
        sys.path.remove(str(path.parent))
    function = getattr(module, name, None)
    if not callable(function):
        from weir.core.suggest import suggestion_text

        options = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise ConfigError(
            f"{where}: {relative} has no function '{name}'", fix=suggestion_text(name, options)
        )
    return function  # type: ignore[no-any-return]


def _user_frames(exc: BaseException, path: Path) -> str:
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if Path(f.filename).resolve() == path.resolve()
    ]
    if not frames:
        return "see the exception above"
    last = frames[-1]
    return f"look at {path.name}, line {last.lineno}: {last.line}"


def _convert_in(table: pa.Table, format: str) -> Any:
    if format == "arrow":
        return table
    if format == "pandas":
        return table.to_pandas()
    try:
        import polars as pl
    except ImportError:
        raise ConfigError(
            "format: polars needs the polars package", fix="pip install 'weir[polars]'"
        ) from None
    return pl.from_arrow(table)


def _convert_out(value: Any, where: str) -> pa.Table:
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    module = type(value).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(value, preserve_index=False)
    if module == "polars":
        return value.to_arrow()
    raise StepError(
        where,
        f"the function returned {type(value).__name__}, not a table",
        fix="return a pyarrow Table, or a pandas/polars DataFrame",
    )


def call_step(
    function: Callable[..., Any],
    inputs: Mapping[str, pa.Table],
    format: str,
    where: str,
    path: Path,
    *,
    withheld: bool = False,
) -> pa.Table:
    """`function` called with `inputs`, its result as Arrow. An exception becomes a step
    error naming the line of `path` that raised it; with `withheld` (the inputs hold PII
    kept as is) its message is left out, since it may quote a value ('annie-secret')."""
    arguments = {name: _convert_in(table, format) for name, table in inputs.items()}
    try:
        result = function(**arguments)
    except Exception as exc:
        said = (
            f"{type(exc).__name__} (the rest of the message is withheld: it may quote a "
            "value of a PII column)"
            if withheld
            else f"{type(exc).__name__}: {exc}"
        )
        raise StepError(where, said, fix=_user_frames(exc, path)) from None
    return _convert_out(result, where)
