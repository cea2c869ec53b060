"""The monitoring report's figures, drawn from numbers handed in, as inline SVG.

Drawn with matplotlib's object API (`matplotlib.figure.Figure`), never pyplot: no backend
is chosen, no window opens, and a figure is not kept in pyplot's registry, so it is freed
when the function returns (a scheduler that writes a report every hour does not grow).
Text stays text in the SVG (`svg.fonttype: none`): the file is smaller, and what a figure
says can be searched, so a test can check that no value of a PII column is drawn.

Every function takes plain numbers (numpy arrays, mappings of counts, window names) and
returns one `<svg>` element; the caller decides what may be shown (weir.app.monitor_report
leaves PII columns out before anything reaches here).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

BINS = 40  # shared histogram bins: enough to see a shape, few enough to read at 150 rows
CATEGORY_BARS = 15  # category bars drawn at most; the rest is pooled
NEW_BARS = 3  # new categories always drawn (the largest), however small
WINDOW_TICKS = 12  # window names written under an axis at most
MISSING = "(missing)"
RATIO_RANGE = (0.01, 100.0)  # statistic / threshold as drawn (log scale, clipped)
_REFERENCE, _CURRENT, _BAD, _OK, _UNDECIDED = "#7f9cc0", "#d1495b", "#c0392b", "#2e8b57", "#e0b040"


def _figure(draw: Callable[[Any], None], width: float = 5.0, height: float = 3.2) -> str:
    """One figure as an `<svg>` element (no XML prolog, no metadata block)."""
    import matplotlib
    from matplotlib.figure import Figure

    # text stays text; names are never math ("$5-$10" is a category, not an equation)
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": "weir", "font.size": 8.0, "text.parse_math": False}
    ):
        figure = Figure(figsize=(width, height))
        axes = figure.add_subplot()
        draw(axes)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    start, end = text.find("<metadata>"), text.find("</metadata>")
    if start != -1 and end != -1:
        text = text[:start] + text[end + len("</metadata>") :]
    return text


def _empty(axes: Any, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def _window_axis(axes: Any, windows: Sequence[str]) -> None:
    """Window names under the x axis: at most WINDOW_TICKS of them, evenly spaced."""
    step = max(1, -(-len(windows) // WINDOW_TICKS))
    shown = list(range(len(windows) - 1, -1, -step))[::-1]  # the newest window always named
    axes.set_xticks(shown, labels=[_short(windows[i]) for i in shown], rotation=30, ha="right")
    axes.set_xlim(-0.6, max(len(windows) - 0.4, 0.6))


def _short(name: str, most: int = 26) -> str:
    return name if len(name) <= most else name[: most - 1] + "…"


# distributions -----------------------------------------------------------------------------


def _numbers(values: FloatArray) -> tuple[FloatArray, int]:
    """Values that are not missing (NaN is missing, ±inf is a value) and the missing count."""
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    return present, len(values) - len(present)


def shared_edges(reference: FloatArray, current: FloatArray, bins: int = BINS) -> FloatArray:
    """Bin edges both sides share: from the lower 0.5 % to the upper 99.5 % of either side's
    finite values (a few wild values would otherwise squeeze everything into one bar; they
    land in the outer bins), `bins` equal bins; one unit-wide span for a constant."""
    bounds = [
        np.quantile(side, [0.005, 0.995])
        for side in (reference[np.isfinite(reference)], current[np.isfinite(current)])
        if len(side)
    ]
    if not bounds:
        return np.asarray([-0.5, 0.5])
    low = float(min(b[0] for b in bounds))
    high = float(max(b[1] for b in bounds))
    if not high > low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def numeric_distribution(
    reference: FloatArray, current: FloatArray, *, title: str, bins: int = BINS
) -> str:
    """Shares of rows per shared bin, reference filled and current as a step line; each
    side's rows and missing share in the legend. NaN counts as missing."""
    ref, ref_missing = _numbers(reference)
    cur, cur_missing = _numbers(current)
    edges = shared_edges(ref, cur, bins)

    def shares(values: FloatArray) -> FloatArray:
        clipped = np.clip(values, edges[0], edges[-1])
        counts, _ = np.histogram(clipped, edges)
        return np.asarray(counts / max(len(values), 1), dtype=np.float64)

    def draw(axes: Any) -> None:
        if not len(ref) and not len(cur):
            _empty(axes, "no values on either side (all missing or no rows)")
        else:
            axes.stairs(
                shares(ref),
                edges,
                fill=True,
                color=_REFERENCE,
                alpha=0.55,
                label=_side("reference", len(ref), ref_missing),
            )
            axes.stairs(
                shares(cur),
                edges,
                color=_CURRENT,
                linewidth=1.6,
                label=_side("current", len(cur), cur_missing),
            )
            axes.set(xlabel="value (the outer bins hold the values beyond them)")
            axes.set(ylabel="share of rows")
            axes.legend(loc="upper right", fontsize=7)
        axes.set_title(title)

    return _figure(draw)


def _side(name: str, present: int, missing: int) -> str:
    total = present + missing
    if total == 0:
        return f"{name} (no rows)"
    text = f"{name} ({total:,} rows"
    return text + (f", {missing / total:.1%} missing)" if missing else ")")


@dataclass(frozen=True)
class Bars:
    """Category bars as drawn: names, both sides' shares, which are new (never in the
    reference), and how many categories the last bar pools (0: no pooled bar)."""

    names: tuple[str, ...]
    reference: FloatArray
    current: FloatArray
    new: BoolArray
    pooled: int


def category_bars(
    reference: Mapping[str, int], current: Mapping[str, int], limit: int = CATEGORY_BARS
) -> Bars:
    """At most `limit` bars: the categories with the largest share on either side, the
    largest new ones always among them (they are what the new-categories test is about),
    and the rest pooled in one bar of seen and one of new categories, so a column with
    thousands of categories still draws `limit` bars. Ties go by name: the same counts
    give the same picture."""
    ref_total, cur_total = max(sum(reference.values()), 1), max(sum(current.values()), 1)
    names = list(dict.fromkeys([*reference, *current]))
    ref_share = np.asarray([reference.get(n, 0) / ref_total for n in names], dtype=np.float64)
    cur_share = np.asarray([current.get(n, 0) / cur_total for n in names], dtype=np.float64)
    new = np.asarray([n not in reference and n != MISSING for n in names], dtype=np.bool_)
    biggest = np.maximum(ref_share, cur_share)
    order = sorted(range(len(names)), key=lambda i: (-biggest[i], not new[i], names[i]))
    if len(names) <= limit:
        kept, rest = order, []
    else:
        newest = [i for i in order if new[i]][:NEW_BARS]
        kept = sorted(
            {*newest, *[i for i in order if i not in newest][: limit - 2 - len(newest)]},
            key=order.index,
        )
        taken = set(kept)
        rest = [i for i in order if i not in taken]
    shown = [(names[i], ref_share[i], cur_share[i], bool(new[i])) for i in kept]
    for is_new in (False, True):
        pooled = [i for i in rest if bool(new[i]) == is_new]
        if pooled:
            what = "new categories" if is_new else "categories"
            shown.append(
                (
                    f"other ({len(pooled):,} {what})",
                    ref_share[pooled].sum(),
                    cur_share[pooled].sum(),
                    is_new,
                )
            )
    return Bars(
        tuple(s[0] for s in shown),
        np.asarray([s[1] for s in shown], dtype=np.float64),
        np.asarray([s[2] for s in shown], dtype=np.float64),
        np.asarray([s[3] for s in shown], dtype=np.bool_),
        len(rest),
    )


def category_distribution(
    reference: Mapping[str, int], current: Mapping[str, int], *, title: str
) -> str:
    """Shares of rows per category, reference and current side by side (horizontal bars,
    so long names stay readable); categories the reference never saw are hatched and
    marked "(new)"."""
    bars = category_bars(reference, current)

    def draw(axes: Any) -> None:
        if not bars.names:
            _empty(axes, "no rows on either side")
            axes.set_title(title)
            return
        y = np.arange(len(bars.names))[::-1]
        axes.barh(y + 0.2, bars.reference, height=0.4, color=_REFERENCE, label="reference")
        hatches = ["//" if new else "" for new in bars.new]
        axes.barh(
            y - 0.2,
            bars.current,
            height=0.4,
            color=_CURRENT,
            hatch=hatches,
            label="current (hatched: new)" if bars.new.any() else "current",
        )
        labels = [
            _short(n, 30) + (" (new)" if new and not n.startswith("other (") else "")
            for n, new in zip(bars.names, bars.new, strict=True)
        ]
        axes.set_yticks(y, labels=labels)
        for tick, new in zip(axes.get_yticklabels(), bars.new, strict=True):
            if new:
                tick.set_color(_BAD)
        axes.set(xlabel="share of rows", title=title)
        axes.legend(loc="lower right", fontsize=7)  # the smallest bars are at the bottom

    return _figure(draw, 5.0, max(2.4, 0.28 * len(bars.names) + 1.2))


# over time ---------------------------------------------------------------------------------


def drift_ratio(values: FloatArray, thresholds: FloatArray) -> FloatArray:
    """statistic / threshold: above 1 exactly where a test said drift (value > threshold).
    A test left out of the family (threshold infinite) is 0; 0 / 0 is 0; x / 0 is infinite."""
    values = np.asarray(values, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = values / thresholds
    ratio = np.where(np.isinf(thresholds), 0.0, ratio)
    ratio = np.where((thresholds == 0) & (values <= 0), 0.0, ratio)
    return np.asarray(np.where(np.isnan(values), np.nan, ratio), dtype=np.float64)


def _log_ratio(ratios: FloatArray) -> FloatArray:
    low, high = RATIO_RANGE
    clipped = np.clip(np.asarray(ratios, dtype=np.float64), low, high)
    return np.asarray(np.log10(clipped), dtype=np.float64)


def drift_heatmap(
    windows: Sequence[str], columns: Sequence[str], ratios: FloatArray, drifted: BoolArray
) -> str:
    """Every watched column (rows) in every window (columns): colour is the largest
    statistic / threshold of the column's tests on a log scale, blue far below 1, red
    beyond it; a cross marks a drifted column; grey: not tested in that window."""
    from matplotlib.colors import TwoSlopeNorm

    ratios = np.asarray(ratios, dtype=np.float64).reshape(len(columns), len(windows))
    marks = np.asarray(drifted, dtype=np.bool_).reshape(len(columns), len(windows))

    def draw(axes: Any) -> None:
        if not columns or not windows:
            _empty(axes, "no drift verdict with measures yet")
            return
        shown = np.ma.masked_invalid(_log_ratio(ratios))
        import matplotlib

        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#e8e8e8")
        image = axes.imshow(
            shown,
            aspect="auto",
            cmap=cmap,
            norm=TwoSlopeNorm(0.0, -2.0, 2.0),
            interpolation="nearest",
        )
        rows, cols = np.nonzero(marks)
        axes.scatter(cols, rows, marker="x", color="black", s=18, linewidths=1.2, label="drifted")
        axes.set_yticks(range(len(columns)), labels=[_short(c, 28) for c in columns])
        _window_axis(axes, windows)
        axes.set_ylim(len(columns) - 0.5, -0.5)
        bar = axes.figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02)
        ticks = [0.01, 0.1, 1.0, 10.0, 100.0]
        bar.set_ticks(np.log10(ticks), labels=["≤0.01", "0.1", "1", "10", "≥100"])
        bar.set_label("statistic / threshold (>1: drifted)")
        axes.set_title("Drift per column and window")

    width = min(12.0, max(5.5, 0.28 * len(windows) + 3.5))
    return _figure(draw, width, max(2.2, 0.26 * len(columns) + 1.6))


def drift_lines(
    windows: Sequence[str], columns: Sequence[str], ratios: FloatArray, drifted: BoolArray
) -> str:
    """statistic / threshold per window of a few columns, on a log scale, the threshold
    (1) dashed, drifted windows marked red. Missing points: not tested in that window."""
    ratios = np.asarray(ratios, dtype=np.float64).reshape(len(columns), len(windows))
    marks = np.asarray(drifted, dtype=np.bool_).reshape(len(columns), len(windows))
    x = np.arange(len(windows))

    def draw(axes: Any) -> None:
        if not columns or not windows:
            _empty(axes, "no column drifted in the windows shown")
            return
        low, high = RATIO_RANGE
        for name, row, bad in zip(columns, ratios, marks, strict=True):
            shown = np.clip(row, low, high)
            axes.plot(x, shown, marker="o", markersize=3, linewidth=1.2, label=_short(name))
            axes.scatter(x[bad], shown[bad], s=46, facecolors="none", edgecolors=_BAD, zorder=3)
        axes.axhline(1.0, color="black", linestyle="--", linewidth=1, label="threshold")
        axes.set_yscale("log")
        axes.set_ylim(low * 0.8, high * 1.25)
        axes.set(
            ylabel="statistic / threshold", title="Drifted columns over time (red ring: drifted)"
        )
        _window_axis(axes, windows)
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)

    return _figure(draw, min(12.0, max(5.5, 0.25 * len(windows) + 3.0)), 3.4)


@dataclass(frozen=True)
class PerformanceSeries:
    """One metric per window (NaN: none): the newest estimate with its interval, the newest
    realised value with the labels it rests on, and the floor it was judged against."""

    metric: str
    estimated: FloatArray
    low: FloatArray
    high: FloatArray
    realised: FloatArray
    labels: IntArray
    floor: FloatArray
    lower_is_better: bool = False


def performance_over_time(windows: Sequence[str], series: PerformanceSeries) -> str:
    """Estimates as points in their interval (a band per window), realised values as
    black points labelled with their label count, the floor as a dashed step; values on
    the wrong side of the floor are ringed red."""
    x = np.arange(len(windows))

    def draw(axes: Any) -> None:
        est, real = np.asarray(series.estimated), np.asarray(series.realised)
        if not len(windows) or (np.isnan(est).all() and np.isnan(real).all()):
            _empty(axes, "no window has an estimated or realised metric yet")
            axes.set_title(f"Performance over time: {series.metric}")
            return
        band = np.isfinite(series.low) & np.isfinite(series.high)
        axes.bar(
            x[band],
            (series.high - series.low)[band],
            bottom=series.low[band],
            width=0.6,
            color=_REFERENCE,
            alpha=0.35,
            label="estimate's interval",
        )
        axes.plot(x, est, marker="s", markersize=4, color="#3b5b92", label="estimated (CBPE)")
        axes.plot(
            x,
            real,
            marker="o",
            linestyle="none",
            color="black",
            label="realised (number: its labels)",
        )
        for i in np.flatnonzero(np.isfinite(real)):
            axes.annotate(
                f"{int(series.labels[i]):,}",
                (x[i], real[i]),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                fontsize=6.5,
            )
        _floor(axes, x, series)
        axes.set(
            ylabel=series.metric,
            title=f"Performance over time: {series.metric}",
        )
        axes.margins(y=0.15)
        _window_axis(axes, windows)
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)

    return _figure(draw, min(12.0, max(5.5, 0.25 * len(windows) + 3.0)), 3.4)


def _floor(axes: Any, x: IntArray, series: PerformanceSeries) -> None:
    floor = np.asarray(series.floor, dtype=np.float64)
    if np.isnan(floor).all():
        return
    axes.step(
        x,
        floor,
        where="mid",
        color=_BAD,
        linestyle="--",
        linewidth=1,
        label="floor (test score - max_drop)",
    )
    for values in (series.estimated, series.realised):
        with np.errstate(invalid="ignore"):
            bad = values > floor if series.lower_is_better else values < floor
        axes.scatter(x[bad], values[bad], s=70, facecolors="none", edgecolors=_BAD, zorder=3)


Status = Literal["ok", "bad", "undecided"]
_STATUS_VALUE = {"ok": 0, "undecided": 1, "bad": 2}


@dataclass(frozen=True)
class TimelineEvent:
    """An alert on the timeline: which check, at which window (its index), opened or resolved."""

    check: str
    window: int
    event: Literal["opened", "resolved"]


def status_timeline(
    windows: Sequence[str],
    statuses: Mapping[str, Sequence[Status | None]],
    events: Sequence[TimelineEvent] = (),
) -> str:
    """One row per check, one cell per window coloured by its newest verdict (green ok,
    yellow undecided, red bad, blank not judged), alerts as triangles on the cells where
    they were raised (black, pointing up: opened) or resolved (white, pointing down)."""
    from matplotlib.colors import ListedColormap

    checks = list(statuses)
    grid = np.full((len(checks), len(windows)), np.nan)
    for row, check in enumerate(checks):
        for column, status in enumerate(statuses[check]):
            if status is not None:
                grid[row, column] = _STATUS_VALUE[status]

    def draw(axes: Any) -> None:
        if not checks or not windows:
            _empty(axes, "nothing judged yet")
            return
        cmap = ListedColormap([_OK, _UNDECIDED, _BAD]).with_extremes(bad="white")
        axes.imshow(
            np.ma.masked_invalid(grid),
            aspect="auto",
            cmap=cmap,
            vmin=-0.5,
            vmax=2.5,
            interpolation="nearest",
        )
        for event in events:
            if event.check in checks and 0 <= event.window < len(windows):
                opened = event.event == "opened"
                axes.scatter(
                    event.window,
                    checks.index(event.check),
                    s=80,
                    zorder=3,
                    marker="^" if opened else "v",
                    color="black" if opened else "white",
                    edgecolors="black",
                    linewidths=0.9,
                )
        axes.set_yticks(range(len(checks)), labels=checks)
        axes.set_ylim(len(checks) - 0.5, -0.5)
        _window_axis(axes, windows)
        axes.set_xticks(np.arange(len(windows) + 1) - 0.5, minor=True)
        axes.grid(which="minor", axis="x", color="white", linewidth=1.0)
        axes.tick_params(which="minor", length=0)
        axes.legend(
            handles=_status_patches(),
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=7,
            frameon=False,
        )
        axes.set_title("Verdicts and alerts (▲ alert opened, ▼ resolved)")

    width = min(12.0, max(5.5, 0.28 * len(windows) + 2.5))
    return _figure(draw, width, 1.1 + 0.45 * max(len(checks), 1) + 0.6)


def _status_patches() -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [
        Patch(color=_OK, label="ok"),
        Patch(color=_UNDECIDED, label="undecided"),
        Patch(color=_BAD, label="bad"),
        Line2D([], [], marker="^", color="black", linestyle="none", label="alert opened"),
        Line2D(
            [],
            [],
            marker="v",
            markerfacecolor="white",
            markeredgecolor="black",
            linestyle="none",
            label="alert resolved",
        ),
    ]
