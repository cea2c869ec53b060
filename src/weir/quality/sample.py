"""A uniform, seeded row sample drawn while a table is being written.

Profiling a large table needs a sample; drawing one afterwards means decoding the whole
table again (DuckDB's block sampling still reads every vector). A writer that streams the
rows anyway can keep a sample on the way: each row is kept with probability `rate`, and
when more than twice the target is kept, half is dropped and `rate` halves, so every row
ends with the same chance of being in the sample, whatever the table's size.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa


class StreamSample:
    def __init__(self, schema: pa.Schema, target_rows: int, seed: int = 42) -> None:
        self.schema, self.target = schema, target_rows
        self.rate = 1.0
        self.kept: list[pa.RecordBatch] = []
        self.kept_rows = 0
        self.seen_rows = 0
        self._random = np.random.default_rng(seed)

    def observe(self, batch: pa.RecordBatch) -> None:
        self.seen_rows += batch.num_rows
        if self.rate < 1.0:
            batch = batch.filter(pa.array(self._random.random(batch.num_rows) < self.rate))
        if batch.num_rows:
            self.kept.append(batch)
            self.kept_rows += batch.num_rows
        while self.kept_rows > 2 * self.target:
            self.rate /= 2
            self.kept = [
                b.filter(pa.array(self._random.random(b.num_rows) < 0.5)) for b in self.kept
            ]
            self.kept_rows = sum(b.num_rows for b in self.kept)

    def passing(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """`reader`, observed as it is consumed."""

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                self.observe(batch)
                yield batch

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def table(self) -> pa.Table:
        return pa.Table.from_batches(self.kept, schema=self.schema)
