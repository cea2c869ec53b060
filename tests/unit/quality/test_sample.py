"""The sample drawn while writing: its size, its uniformity, its seed."""

from __future__ import annotations

import pyarrow as pa

from weir.quality.sample import StreamSample


def draw(rows: int, target: int, batch: int = 7_777, seed: int = 42) -> pa.Table:
    schema = pa.schema([("id", pa.int64())])
    sample = StreamSample(schema, target, seed)
    reader = pa.RecordBatchReader.from_batches(
        schema,
        (
            pa.record_batch([pa.array(range(i, min(i + batch, rows)))], schema=schema)
            for i in range(0, rows, batch)
        ),
    )
    assert sum(b.num_rows for b in sample.passing(reader)) == rows  # every row passes on
    return sample.table()


def test_a_small_table_is_kept_whole() -> None:
    assert draw(5_000, 10_000).column("id").to_pylist() == list(range(5_000))


def test_a_large_table_gives_between_one_and_two_targets_spread_evenly() -> None:
    ids = draw(1_000_000, 10_000).column("id").to_numpy()
    assert 10_000 <= len(ids) <= 20_000
    # each tenth of the table holds about a tenth of the sample (no block of rows favoured)
    tenths = [
        ((ids >= k * 100_000) & (ids < (k + 1) * 100_000)).sum() / len(ids) for k in range(10)
    ]
    assert all(0.08 < share < 0.12 for share in tenths), tenths
    assert abs(ids.mean() - 500_000) < 15_000


def test_the_same_seed_draws_the_same_rows() -> None:
    assert draw(300_000, 5_000).equals(draw(300_000, 5_000))
    assert not draw(300_000, 5_000).equals(draw(300_000, 5_000, seed=7))
