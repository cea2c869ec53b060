"""The gates a challenger passes before it replaces the champion.

- margin: it beats the champion by at least retrain.margin on the deciding comparison
  (retraining_compare says which); undecided when no comparison has enough rows.
- ONNX parity: its graph was exported and matched the native model on its test rows
  within the tolerance (training refuses a graph that does not, so this fails only for a
  version without an export, which could not be served).
- PII: no PII warning the champion did not have. Training warns when a feature derives
  from a PII column whose policy keeps part of the value (weir.app.pii.FeatureOrigin); the
  version records those origins, so the two versions' warnings are compared as recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from weir.app.pii import FeatureOrigin
from weir.app.retraining_compare import Comparison
from weir.app.retraining_score import bar, gain
from weir.catalog import ModelDetails

Verdict = Literal["promoted", "refused", "undecided"]


@dataclass(frozen=True)
class Gate:
    name: str  # margin | onnx parity | pii
    passed: bool | None  # None: cannot be told yet (too few rows)
    detail: str


def deciding(comparisons: Sequence[Comparison]) -> Comparison | None:
    """The recent window when it has enough rows (the world the model serves now), else
    the held-out rows; None when neither can decide."""
    by_kind = {c.kind: c for c in comparisons}
    for kind in ("recent", "held-out"):
        found = by_kind.get(kind)
        if found is not None and found.decided:
            return found
    return None


def margin_gate(comparisons: Sequence[Comparison], margin: float) -> Gate:
    chosen = deciding(comparisons)
    if chosen is None:
        why = "; ".join(f"{c.kind}: {c.undecided_reason()}" for c in comparisons)
        return Gate("margin", None, f"no comparison can decide ({why})")
    assert chosen.first is not None and chosen.second is not None
    won_by = gain(chosen.metric, chosen.first, chosen.second)
    needed = bar(chosen.metric, chosen.first, margin)
    detail = (
        f"on the {chosen.kind} rows ({chosen.rows}): {chosen.metric} {chosen.second:.4f} "
        f"against {chosen.first:.4f}, better by {won_by:+.4f} (margin {margin:+.4f}, "
        f"needs {needed:.4f})"
    )
    return Gate("margin", won_by >= margin, detail)


def parity_gate(version: int, details: ModelDetails) -> Gate:
    onnx = details.onnx
    if onnx is None or details.serving is None:
        return Gate("onnx parity", False, f"v{version} has no ONNX export to serve")
    parity = onnx.parity
    passed = parity.max_difference <= parity.tolerance
    detail = (
        f"ONNX differs from the native model by at most {parity.max_difference:.3g} on "
        f"{parity.rows} test rows (tolerance {parity.tolerance:g})"
    )
    return Gate("onnx parity", passed, detail)


def pii_warnings(features: Mapping[str, Any]) -> set[str]:
    """The PII warnings training gave for a version, from the feature origins it recorded
    (ModelVersionRecord.features["classified_origins"])."""
    found = set()
    for origin in features.get("classified_origins") or []:
        warning = FeatureOrigin(
            feature=str(origin.get("feature")),
            source=str(origin.get("source")),
            class_=str(origin.get("class")),
            action=str(origin.get("action")),
        ).warning
        if warning:
            found.add(warning)
    return found


def pii_gate(champion: Mapping[str, Any], challenger: Mapping[str, Any]) -> Gate:
    """`champion` and `challenger`: the versions' recorded features."""
    new = sorted(pii_warnings(challenger) - pii_warnings(champion))
    if new:
        return Gate("pii", False, f"new PII warnings: {'; '.join(new)}")
    return Gate("pii", True, "no PII warning the champion did not have")


def verdict(gates: Sequence[Gate]) -> tuple[Verdict, str]:
    """Refused when a gate failed (whatever the others say: a challenger that cannot be
    served or brings new PII is not promoted however well it scores), undecided when one
    cannot tell yet, else promoted; with the gates that decided it, in words."""
    failed = [g for g in gates if g.passed is False]
    open_ = [g for g in gates if g.passed is None]
    chosen: Verdict = "refused" if failed else "undecided" if open_ else "promoted"
    said = failed or open_ or [g for g in gates if g.name == "margin"] or list(gates)
    return chosen, "; ".join(f"{g.name}: {g.detail}" for g in said)
