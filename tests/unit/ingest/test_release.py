"""A source stream that is never read to its end must not outlive its load: its generators
refer back to the SourceRead, pyarrow holds them from C++, and the cycle (invisible to the
garbage collector) kept the DuckDB connection alive until exit ('nanobind: leaked')."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_LOAD_REFUSED = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from weir.engines import DuckDBEngine
    from weir.ingest import open_source
    from weir.project.sources import FileSource

    source = FileSource.model_validate({"format": sys.argv[2], "path": "in/*"})
    try:
        with open_source(DuckDBEngine(), Path(sys.argv[1]), "t", source, prior=None) as read:
            if sys.argv[3] == "part":
                read.batches.read_next_batch()
            raise ValueError("refused before the stream was read")
    except ValueError:
        pass
    print("done")
    """
)


@pytest.mark.parametrize("how", ["unread", "part"])
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_an_unread_stream_leaves_nothing_alive_at_exit(tmp_path: Path, how: str, kind: str) -> None:
    (tmp_path / "in").mkdir()
    if kind == "csv":
        rows = "".join(f"{i},{i * 2}\n" for i in range(20_000))
        (tmp_path / "in" / "a.csv").write_text("id,v\n" + rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"id": range(20_000)}), tmp_path / "in" / "a.parquet")
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_REFUSED, str(tmp_path), kind, how],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
    assert "leaked" not in done.stderr and "terminate called" not in done.stderr, done.stderr
