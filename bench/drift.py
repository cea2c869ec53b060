"""Data drift: Weir's calibrated drift checks against Evidently's default DataDriftPreset, on
the same simulated data, in one run.

1. Quality. Ten features of assorted shapes (normal, lognormal, uniform, Poisson counts,
   zero-inflated, Student-t; three categorical; one binary). For each (reference rows m,
   window rows n) case, every trial draws a fresh reference and three fresh windows from
   one world: no drift (any feature flagged is a false alarm: the family-wise rate, target
   5 % +- 2 %), `normal` shifted by 0.4 x its IQR (power: `normal` flagged), and 1 % of
   `colour` rows in never-seen categories (power: `colour` flagged). A fresh reference per
   trial matters: with one fixed reference the rate per window is conditional on how
   typical that reference happened to be, and at large n it is near 0 or near 1.
   Evidently runs the same trials (the same numbers, drawn by the same code with the same
   seeds) through `Report([DataDriftPreset()])` with its defaults; a column counts as
   drifted when Evidently says so (p-value below, or distance at or above, its threshold).
   Evidently takes seconds to a minute per report, so it gets fewer trials (printed).
2. Speed and memory: one drift check of a 1M-row x 50-column window against a 1M-row
   reference (40 numeric, 10 categorical), Weir (fit + compare, and compare alone) against
   Evidently; peak resident memory during the check (Linux VmHWM, reset after the data is
   built) beside the data's own size; and Weir's cost per extra column (10 vs 50 columns).

Evidently is a bench-only dependency. It is used from this interpreter if it imports here,
else from --evidently-python (default /work/benchenv/bin/python; evidently 0.7.23 needs
pandas < 3, so it lives in its own venv), which runs this file with --evidently-worker;
skipped with a note if neither is there. It installs beside Weir's pins without changing
them, but 0.7.23 fails to import under pandas 3 (pandas.core.dtypes.common lost
infer_dtype_from_object), so it needs a venv of its own, with the same numpy as Weir's so
both draw the same numbers:

    python3.11 -m venv /work/benchenv
    /work/benchenv/bin/pip install evidently==0.7.23 pandas==2.3.3 numpy==2.4.6 pyarrow==26.0.1

    python bench/drift.py [--quick] [--trials 200] [--evidently-trials 20] [--skip-evidently]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__)
BENCHENV = Path("/work/benchenv/bin/python")
IQR_OF_STANDARD_NORMAL = 1.3489795
NUMERIC = ["normal", "lognormal", "uniform", "counts", "zeros", "heavy"]
CATEGORIES = {
    "merchant": [f"m{i:02d}" for i in range(30)],
    "channel": ["web", "shop", "phone"],
    "colour": ["red", "green", "blue", "grey", "black", "white", "pink", "teal", "navy", "gold"],
}
NEW_COLOURS = [f"new-{i}" for i in range(10)]
MERCHANT_SHARES = 1 / np.arange(1, 31) ** 1.2 / (1 / np.arange(1, 31) ** 1.2).sum()
KINDS = {
    **dict.fromkeys(NUMERIC, "numeric"),
    **dict.fromkeys(CATEGORIES, "categorical"),
    "flag": "binary",
}


# The world --------------------------------------------------------------------------------


def population(
    rows: int, rng: np.random.Generator, *, shift: float = 0.0, new: float = 0.0
) -> dict[str, np.ndarray]:
    """One sample of the world: numbers as float64, categories as codes into their labels
    (colour's codes 10..19 are never-seen colours). `shift`: `normal` moves by that many IQRs;
    `new`: that share of `colour` rows get never-seen colours."""
    colour = rng.integers(0, 10, rows)
    is_new = rng.random(rows) < new
    colour[is_new] = 10 + rng.integers(0, 10, int(is_new.sum()))
    return {
        "normal": rng.normal(size=rows) + shift * IQR_OF_STANDARD_NORMAL,
        "lognormal": rng.lognormal(size=rows),
        "uniform": rng.random(rows),
        "counts": rng.poisson(3, rows).astype(np.float64),
        "zeros": np.where(rng.random(rows) < 0.6, 0.0, rng.exponential(size=rows)),
        "heavy": rng.standard_t(3, size=rows),
        "merchant": rng.choice(30, rows, p=MERCHANT_SHARES),
        "channel": rng.choice(3, rows, p=[0.6, 0.3, 0.1]),
        "colour": colour,
        "flag": rng.random(rows) < 0.2,
    }


def wide(rows: int, columns: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """`columns` columns, four numeric to one categorical, cycling through the shapes above."""
    base = population(rows, rng)
    out: dict[str, np.ndarray] = {}
    for index in range(columns):
        source = list(CATEGORIES)[(index // 5) % 3] if index % 5 == 4 else NUMERIC[index % 6]
        out[f"{source}_{index}"] = rng.permutation(base[source])
    return out


def source_of(name: str) -> str:
    return name.split("_")[0]


def is_categorical(name: str) -> bool:
    return source_of(name) in CATEGORIES


def labels_of(name: str) -> list[str]:
    source = source_of(name)
    return CATEGORIES[source] + (NEW_COLOURS if source == "colour" else [])


def kinds_of(names: list[str]) -> dict[str, str]:
    return {name: KINDS[source_of(name)] for name in names}


# Weir ---------------------------------------------------------------------------------------


def to_arrow(data: dict[str, np.ndarray]) -> Any:
    import pyarrow as pa

    columns = {}
    for name, values in data.items():
        if is_categorical(name):
            dictionary = pa.array(labels_of(name))
            columns[name] = pa.DictionaryArray.from_arrays(pa.array(values, pa.int32()), dictionary)
        else:
            columns[name] = pa.array(values)
    return pa.table(columns)


@dataclass
class Tally:
    trials: int = 0
    false_alarms: int = 0
    shift_found: int = 0
    shift_elsewhere: int = 0
    new_found: int = 0
    fit_seconds: list[float] = field(default_factory=list)
    check_seconds: list[float] = field(default_factory=list)
    flagged: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        t = max(self.trials, 1)
        fit = f"fit {np.median(self.fit_seconds):.3f}s, " if self.fit_seconds else ""
        return (
            f"false alarms {self.false_alarms}/{self.trials} = {100 * self.false_alarms / t:4.1f} %  "
            f"shift found {self.shift_found}/{self.trials} = {100 * self.shift_found / t:5.1f} %  "
            f"new categories found {self.new_found}/{self.trials} = {100 * self.new_found / t:5.1f} %  "
            f"({fit}check {np.median(self.check_seconds):.3f}s median)"
        )


def windows(
    m: int, n: int, seed: int, trials: int
) -> Iterator[tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]]:
    """Per trial: a reference and the three windows (none, shift, new), from one seeded stream."""
    for trial in range(trials):
        rng = np.random.default_rng([seed, m, n, trial])
        reference = population(m, rng)
        yield (
            reference,
            [population(n, rng), population(n, rng, shift=0.4), population(n, rng, new=0.01)],
        )


def weir_quality(m: int, n: int, trials: int, seed: int) -> Tally:
    from weir.monitor.drift import DriftReference

    tally = Tally()
    for reference, (none, shift, new) in windows(m, n, seed, trials):
        started = time.perf_counter()
        fitted = DriftReference.fit(to_arrow(reference), KINDS)
        tally.fit_seconds.append(time.perf_counter() - started)
        results = []
        for window in (none, shift, new):
            table = to_arrow(window)
            started = time.perf_counter()
            results.append(fitted.compare(table).drifted_features)
            tally.check_seconds.append(time.perf_counter() - started)
        record(tally, *results)
    return tally


def record(
    tally: Tally,
    none: tuple[str, ...] | list[str],
    shift: tuple[str, ...] | list[str],
    new: tuple[str, ...] | list[str],
) -> None:
    tally.trials += 1
    tally.false_alarms += bool(none)
    tally.shift_found += "normal" in shift
    tally.shift_elsewhere += bool(set(shift) - {"normal"})
    tally.new_found += "colour" in new
    for name in none:
        tally.flagged[name] = tally.flagged.get(name, 0) + 1


@contextlib.contextmanager
def peak_memory() -> Iterator[dict[str, float]]:
    """Peak resident memory (MB) inside the block: VmHWM, reset on entry (Linux)."""
    out: dict[str, float] = {}
    status = Path("/proc/self/status")
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    out["before_mb"] = _status_mb(status, "VmRSS")
    yield out
    out["peak_mb"] = _status_mb(status, "VmHWM")


def _status_mb(status: Path, key: str) -> float:
    for line in status.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def weir_speed(rows: int, columns: int, seed: int) -> dict[str, float]:
    from weir.monitor.drift import DriftReference

    rng = np.random.default_rng([seed, rows, columns])
    reference, current = to_arrow(wide(rows, columns, rng)), to_arrow(wide(rows, columns, rng))
    data_mb = (reference.nbytes + current.nbytes) / 2**20
    with peak_memory() as memory:
        started = time.perf_counter()
        fitted = DriftReference.fit(reference, kinds_of(reference.column_names))
        fitted_at = time.perf_counter()
        result = fitted.compare(current)
        done = time.perf_counter()
    second = time.perf_counter()
    fitted.compare(current)
    again = time.perf_counter() - second
    assert result.decided
    return {
        "fit_s": fitted_at - started,
        "compare_s": done - fitted_at,
        "compare_again_s": again,
        "total_s": done - started,
        "data_mb": data_mb,
        "flagged": len(result.drifted_features),
        **memory,
    }


# Evidently ----------------------------------------------------------------------------------


def to_pandas(data: dict[str, np.ndarray]) -> Any:
    import pandas as pd

    columns = {}
    for name, values in data.items():
        if is_categorical(name):
            columns[name] = pd.Categorical.from_codes(values, labels_of(name))
        elif values.dtype == bool:
            columns[name] = pd.Categorical(values)
        else:
            columns[name] = values
    return pd.DataFrame(columns)


def evidently_drifted(reference: Any, current: Any) -> list[str]:
    """Columns Evidently's default DataDriftPreset calls drifted."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in reference.columns if reference[c].dtype.kind == "f"]
    categorical = [c for c in reference.columns if c not in numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    drifted = []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            value, threshold = float(metric["value"]), float(config["threshold"])
            by_p_value = "p_value" in config.get("method", "")
            if (value < threshold) if by_p_value else (value >= threshold):
                drifted.append(config["column"])
    return drifted


def evidently_quality(m: int, n: int, trials: int, seed: int) -> Tally:
    tally = Tally()
    for reference, (none, shift, new) in windows(m, n, seed, trials):
        frames = to_pandas(reference)
        results = []
        for window in (none, shift, new):
            current = to_pandas(window)
            started = time.perf_counter()
            results.append(evidently_drifted(frames, current))
            tally.check_seconds.append(time.perf_counter() - started)
        record(tally, *results)
    return tally


def evidently_speed(rows: int, columns: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng([seed, rows, columns])
    reference, current = to_pandas(wide(rows, columns, rng)), to_pandas(wide(rows, columns, rng))
    data_mb = (
        reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum()
    ) / 2**20
    with peak_memory() as memory:
        started = time.perf_counter()
        flagged = evidently_drifted(reference, current)
        total = time.perf_counter() - started
    return {"total_s": total, "data_mb": data_mb, "flagged": len(flagged), **memory}


def worker(spec: dict[str, Any]) -> None:
    """Run in Evidently's interpreter: the asked-for measurements, as one JSON line."""
    warnings.filterwarnings("ignore")
    out: dict[str, Any] = {"python": sys.executable}
    if spec["job"] == "quality":
        out["tally"] = asdict(evidently_quality(spec["m"], spec["n"], spec["trials"], spec["seed"]))
    else:
        out["speed"] = evidently_speed(spec["rows"], spec["columns"], spec["seed"])
    print(json.dumps(out))


def evidently_python() -> str | None:
    try:
        import evidently  # noqa: F401

        return sys.executable
    except ImportError:
        return str(BENCHENV) if BENCHENV.exists() else None


def run_worker(python: str, spec: dict[str, Any]) -> dict[str, Any]:
    environment = {**os.environ, "DO_NOT_TRACK": "1", "PYTHONWARNINGS": "ignore"}
    environment.pop("PYTHONPATH", None)
    done = subprocess.run(
        [python, str(HERE), "--evidently-worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"evidently worker failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# Main ---------------------------------------------------------------------------------------


def quality(
    cases: list[tuple[int, int]],
    trials: int,
    evidently_trials: dict[int, int],
    python: str | None,
    seed: int,
) -> None:
    print("\n== quality: family-wise false alarms with no drift, and power (same data for both)")
    for m, n in cases:
        print(f"\n-- reference {m:,} rows, windows {n:,} rows")
        tally = weir_quality(m, n, trials, seed)
        print(f"   weir      {tally.line()}")
        if tally.flagged:
            print(f"             no-drift alarms by feature: {tally.flagged}")
        e_trials = evidently_trials.get(n, 2)
        if python and e_trials:
            found = Tally(
                **run_worker(
                    python, {"job": "quality", "m": m, "n": n, "trials": e_trials, "seed": seed}
                )["tally"]
            )
            print(f"   evidently {found.line()}")
            print(f"             no-drift alarms by feature: {found.flagged}")


def speed(rows: int, columns: list[int], python: str | None, seed: int) -> None:
    print(f"\n== speed and memory: one check, {rows:,}-row reference and window")
    measured = {c: weir_speed(rows, c, seed) for c in columns}
    for c, s in measured.items():
        print(
            f"   weir      {c:>3} columns: fit {s['fit_s']:.2f}s + compare {s['compare_s']:.2f}s = {s['total_s']:.2f}s "
            f"(compare again, reference reused: {s['compare_again_s']:.2f}s); peak RSS {s['peak_mb']:.0f} MB "
            f"with {s['data_mb']:.0f} MB of data held before ({s['before_mb']:.0f} MB RSS); flagged {s['flagged']}"
        )
    if len(columns) > 1:
        low, high = min(columns), max(columns)
        per = (measured[high]["total_s"] - measured[low]["total_s"]) / (high - low)
        per_compare = (measured[high]["compare_again_s"] - measured[low]["compare_again_s"]) / (
            high - low
        )
        print(
            f"   weir      cost per extra column: {per * 1000:.0f} ms (fit + compare), {per_compare * 1000:.0f} ms (compare alone)"
        )
    if python:
        widest = max(columns)
        found = run_worker(python, {"job": "speed", "rows": rows, "columns": widest, "seed": seed})[
            "speed"
        ]
        print(
            f"   evidently {widest:>3} columns: {found['total_s']:.2f}s; peak RSS {found['peak_mb']:.0f} MB "
            f"with {found['data_mb']:.0f} MB of data held before ({found['before_mb']:.0f} MB RSS); flagged {found['flagged']}"
        )
        ours = measured[widest]
        print(
            f"   ratio evidently/weir: {found['total_s'] / ours['total_s']:.1f}x (fit + compare), "
            f"{found['total_s'] / ours['compare_again_s']:.1f}x (compare with a fitted reference)"
        )


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]  # progress under nohup
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: fewer trials, smaller sizes"
    )
    parser.add_argument("--trials", type=int, help="Weir trials per case (default 200; quick 30)")
    parser.add_argument(
        "--evidently-trials", type=int, help="Evidently trials at 1k rows (fewer at larger n)"
    )
    parser.add_argument("--evidently-python", help="interpreter with evidently installed")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--speed-rows", type=int, help="rows of the speed check (default 1,000,000)"
    )
    parser.add_argument(
        "--cases", help="reference:window row counts, e.g. 1000000:10000000,1000:1000"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--evidently-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.evidently_worker:
        worker(json.loads(args.evidently_worker))
        return
    python = None if args.skip_evidently else (args.evidently_python or evidently_python())
    missing = "not available (install evidently 0.7.23 with pandas<3, or pass --evidently-python)"
    print(f"evidently: {'skipped' if args.skip_evidently else python or missing}")
    if args.quick:
        cases, trials, e_small = (
            [(1_000, 1_000), (100_000, 100_000)],
            args.trials or 30,
            args.evidently_trials or 5,
        )
        speed_rows, columns = args.speed_rows or 200_000, [10, 20]
    else:
        cases = [(1_000, 1_000), (10_000, 1_000), (100_000, 100_000), (1_000_000, 1_000_000)]
        trials, e_small = args.trials or 200, args.evidently_trials or 40
        speed_rows, columns = args.speed_rows or 1_000_000, [10, 50]
    if args.cases:
        cases = [(int(m), int(n)) for m, n in (case.split(":") for case in args.cases.split(","))]
    e_trials = {1_000: e_small, 100_000: max(e_small // 4, 2), 1_000_000: max(e_small // 10, 2)}
    if not args.skip_quality:
        quality(cases, trials, e_trials, python, args.seed)
    if not args.skip_speed:
        speed(speed_rows, columns, python, args.seed)


if __name__ == "__main__":
    main()
