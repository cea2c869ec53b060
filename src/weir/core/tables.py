"""How a table version is laid out, for engines that can read files directly."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class TableFiles:
    """A table version that is exactly these Parquet files: no deletes, no partitions.

    Engines read such a version with their own Parquet reader, which is faster than going
    through an Arrow dataset, and may be granted access to these files' directories only.
    """

    paths: tuple[str, ...]
    schema: pa.Schema
