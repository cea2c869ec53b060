"""One self-contained HTML file per model version: metrics, plots, data, settings, model card.

It is written for the person who must decide whether to trust the model: what it was
trained on, how it was chosen, how it does on rows it never saw, and where it falls short.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np

from weir.ml import plots
from weir.ml.train import TrainedModel
from weir.project.ml_config import TrainConfig

_STYLE = """
body{font-family:system-ui,sans-serif;margin:28px auto;max-width:1100px;color:#222;line-height:1.4}
h1{margin-bottom:0}.sub{color:#666;margin-top:4px}
table{border-collapse:collapse;margin:8px 0 18px}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.figs{display:flex;flex-wrap:wrap;gap:12px}.figs>div{border:1px solid #eee;padding:6px}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:6px 10px;margin:6px 0}
code,pre{background:#f6f6f6;padding:1px 4px}pre{padding:8px;overflow:auto}
"""


@dataclass
class ReportContext:
    """What the report says beyond the training result itself."""

    model: str
    version: int
    project: str
    trained_on: list[str]
    environment: dict[str, Any]
    git: dict[str, Any]
    created_at: str
    warnings: list[str] = field(default_factory=list)


def render(trained: TrainedModel, spec: TrainConfig, context: ReportContext) -> str:
    title = f"{context.model} v{context.version}"
    sections = [
        f"<h1>{escape(title)}</h1>",
        f"<p class='sub'>{escape(spec.task)} · {escape(spec.algorithm)} · project {escape(context.project)} · "
        f"{escape(context.created_at)}</p>",
        _card(spec, context, trained),
        _metrics(trained),
        _figures(trained, spec),
        _data(trained, spec, context),
        _settings(trained, spec),
        _environment(context),
    ]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )


def _card(spec: TrainConfig, context: ReportContext, trained: TrainedModel) -> str:
    card = spec.card
    rows = [
        ("Purpose", spec.description or "not stated"),
        ("Intended use", card.intended_use or "not stated: say it in ml.<model>.card.intended_use"),
        ("Owner", card.owner or "not stated"),
        (
            "Training data",
            ", ".join(context.trained_on) + f" ({trained.rows.get('train', 0):,} training rows)",
        ),
        ("Evaluation", _evaluation_text(spec, trained)),
        ("Limitations", card.limitations or "not stated: say them in ml.<model>.card.limitations"),
    ]
    html = "<h2>Model card</h2>" + _table(["", ""], rows, header=False)
    for warning in context.warnings:
        html += f"<div class='warn'>{escape(warning)}</div>"
    return html


def _evaluation_text(spec: TrainConfig, trained: TrainedModel) -> str:
    split = spec.split_method
    where = {
        "time": f"the latest {spec.split.test_fraction:.0%} of rows by {spec.split.column} (train on the past, test on the future)",
        "group": f"{spec.split.test_fraction:.0%} of the groups of {spec.split.column}, never seen in training",
        "stratified": f"a stratified random {spec.split.test_fraction:.0%} of rows",
        "random": f"a random {spec.split.test_fraction:.0%} of rows",
    }[split]
    text = f"{trained.rows.get('test', 0):,} held-out test rows: {where}; not used for tuning or the threshold."
    if trained.cv:
        text += f" Cross-validation: {spec.folds} folds on the training rows."
    return text


def _metrics(trained: TrainedModel) -> str:
    rows = []
    for name, value in trained.metrics.items():
        cv = trained.cv.get(name)
        rows.append(
            (name, _number(value), f"{_number(cv['mean'])} ± {_number(cv['std'])}" if cv else "")
        )
    html = "<h2>Metrics</h2>" + _table(
        ["metric", "test rows", "cross-validation (mean ± std)"], rows
    )
    if trained.threshold is not None and trained.cv:
        html += (
            f"<p>Label metrics (accuracy, precision, recall, F1) on test rows use the chosen decision "
            f"threshold {trained.threshold:.4f}; in cross-validation they use 0.5. Ranking metrics "
            "(ROC-AUC, PR-AUC) and log loss do not depend on it.</p>"
        )
    if trained.tuning is not None:
        t = trained.tuning
        html += (
            f"<p>Tuned by {escape(t.method)} search on {escape(t.metric)} ({escape(t.direction)}): "
            f"{t.trials} trials ({t.pruned} pruned, {t.new_trials} in this run), best "
            f"{_number(t.best_value)}{' ± ' + _number(t.best_std) if t.best_std is not None else ''}. "
            f"Study <code>{escape(t.study)}</code> in the catalog database.</p>"
        )
    return html


def _figures(trained: TrainedModel, spec: TrainConfig) -> str:
    evaluation = trained.evaluation
    if evaluation is None:
        return ""
    figures: list[str] = []
    if spec.task == "classification" and evaluation.y is not None:
        classes = trained.classes
        if len(classes) == 2:
            truth = np.asarray(evaluation.y == classes[1], dtype=int)
            scores = evaluation.predictions[:, 1]
            if 0 < truth.sum() < len(truth):
                figures += [
                    plots.roc_curve(truth, scores),
                    plots.pr_curve(truth, scores),
                    plots.calibration(truth, scores),
                ]
        if evaluation.confusion is not None:
            figures.append(plots.confusion_matrix(evaluation.confusion, [str(c) for c in classes]))
    elif spec.task == "regression" and evaluation.y is not None:
        figures += [
            plots.predicted_vs_actual(evaluation.y, evaluation.predictions),
            plots.residuals(evaluation.y, evaluation.predictions),
        ]
    else:
        figures.append(plots.cluster_sizes(evaluation.predictions))
    importance = _importance(trained, spec)
    if importance:
        figures.append(importance)
    return (
        "<h2>Plots</h2><div class='figs'>" + "".join(f"<div>{f}</div>" for f in figures) + "</div>"
    )


def _importance(trained: TrainedModel, spec: TrainConfig) -> str:
    """Permutation importance of the input columns on (a sample of) the test rows."""
    from sklearn.inspection import permutation_importance

    evaluation = trained.evaluation
    if evaluation is None or evaluation.y is None or spec.task == "clustering":
        return ""
    x, y = evaluation.x, evaluation.y
    if len(x) > 5000:
        rows = np.random.default_rng(spec.seed).choice(len(x), 5000, replace=False)
        x, y = x.iloc[np.sort(rows)], y[np.sort(rows)]
    if spec.task == "classification":
        if len(np.unique(y)) < 2:
            return ""
        scoring, metric = (
            ("roc_auc", "ROC-AUC") if len(trained.classes) == 2 else ("f1_macro", "macro F1")
        )
    else:
        scoring, metric = "neg_root_mean_squared_error", "RMSE"
    result = permutation_importance(
        trained.pipeline, x, y, scoring=scoring, n_repeats=5, random_state=spec.seed, n_jobs=1
    )
    return plots.importance(
        list(x.columns), result.importances_mean, result.importances_std, metric
    )


def _data(trained: TrainedModel, spec: TrainConfig, context: ReportContext) -> str:
    rows = [(name, f"{count:,}") for name, count in trained.rows.items()]
    html = (
        "<h2>Data</h2><p>Table versions read: "
        + ", ".join(f"<code>{escape(t)}</code>" for t in context.trained_on)
        + "</p>"
    )
    html += _table(["rows", "count"], rows)
    if (
        trained.classes
        and spec.task == "classification"
        and trained.evaluation is not None
        and trained.evaluation.y is not None
    ):
        values, counts = np.unique(trained.evaluation.y, return_counts=True)
        share = [
            (str(v), f"{c:,}", f"{c / counts.sum():.2%}")
            for v, c in zip(values, counts, strict=True)
        ]
        html += _table(["class (test rows)", "rows", "share"], share)
    return html


def _settings(trained: TrainedModel, spec: TrainConfig) -> str:
    features = spec.features.model_dump(mode="json", exclude_defaults=True)
    html = "<h2>Settings</h2>"
    html += f"<p>Seed <code>{spec.seed}</code>; split <code>{escape(spec.split_method)}</code>"
    if trained.threshold is not None:
        html += f"; decision threshold <code>{trained.threshold:.4f}</code> chosen for {escape(spec.threshold.metric if spec.threshold else '')} on validation rows"
    html += ".</p><h3>Hyper-parameters</h3>"
    html += _table(
        ["parameter", "value"],
        [(k, json.dumps(v)) for k, v in sorted(trained.resolved_params.items())]
        or [("(defaults)", "")],
    )
    html += "<h3>Features</h3><pre>" + escape(json.dumps(features, indent=2)) + "</pre>"
    return html


def _environment(context: ReportContext) -> str:
    packages = context.environment.get("packages", {})
    rows = [
        ("python", context.environment.get("python", "")),
        *[(k, v or "not installed") for k, v in packages.items()],
    ]
    git = context.git
    state = (
        f"{git.get('commit', '')[:12]}{' (uncommitted changes)' if git.get('dirty') else ''}"
        if git.get("repository")
        else "not a git repository"
    )
    return (
        "<h2>Reproduce</h2>"
        + (
            f"<p><code>weir train --reproduce {escape(context.model)}@{context.version}</code> retrains from the "
            f"recorded data versions, settings and seed and compares predictions. Project git state: {escape(state)}.</p>"
        )
        + _table(["library", "version"], rows)
    )


def _table(headers: list[str], rows: list[tuple[Any, ...]], header: bool = True) -> str:
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>" if header else ""
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if _numeric(c) else ''}>{escape(str(c))}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def _numeric(value: Any) -> bool:
    return (
        isinstance(value, str)
        and value.replace(",", "")
        .replace(".", "")
        .replace("-", "")
        .replace("%", "")
        .strip()
        .isdigit()
    )


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.4f}"
    return str(value)
