"""Where governed PII may and may not show outside its raw table.

`withheld_columns`: the columns of a table whose values no profile, statistic or message
may keep: the governed PII columns of a raw table, the value-bearing columns of that
table's quarantine (the raw lines hold the same PII), PII columns a clean step keeps as
they are (`action: keep`), and the columns of models and Python steps made from those:
traced by lineage, or, where lineage cannot tell, every such column whose step reads
kept PII (it fails closed).

`kept_pii_read`: the classes of kept PII a model or Python step reads, through any chain of
models and steps; its engine errors are then cut to their kind (they may quote a value).

`feature_origins`: walks column lineage from each feature back through SQL models to the
columns a clean step governs. A feature that derives from a PII column whose policy kept
part of the value (mask, truncate, keep) is reported: that information reaches the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from weir.app.lake_format import QUARANTINE_SUFFIX
from weir.catalog import Catalog
from weir.project import Project
from weir.transform import SqlModel, column_sources

SAFE_ACTIONS = ("pseudonymise", "drop")
QUARANTINE_VALUES = ("raw", "error", "key")  # quarantine columns that can quote a row
UNTRACED = "(lineage unknown)"  # said of a column withheld because lineage cannot follow it


def keeps_pii(project: Project) -> bool:
    """Whether a clean step keeps some PII column as is (its values then travel on)."""
    return any(p.is_pii and p.action == "keep" for p in project.config.governance.columns.values())


def withheld_columns(
    project: Project,
    table: str,
    *,
    catalog: Catalog | None = None,
    models: Mapping[str, SqlModel] | None = None,
    columns: Iterable[str] = (),
) -> dict[str, str]:
    """Column -> PII class, for the columns of `table` whose values must stay in the lake.

    With `catalog`, `models` and the table's `columns`, the columns of models and Python
    steps that column lineage traces to a PII column kept as is count too, and so does a
    column lineage cannot trace (a Python step without `lineage`, SQL sqlglot cannot
    follow) through a step that reads kept PII: it may carry the value as is.
    """
    governance = project.config.governance
    raw_pii = {c: p.class_ for c, p in governance.for_table(table).items() if p.is_pii}
    if raw_pii:
        return raw_pii
    if table.endswith(QUARANTINE_SUFFIX):
        source = table.removesuffix(QUARANTINE_SUFFIX)
        classes = sorted({p.class_ for p in governance.for_table(source).values() if p.is_pii})
        if classes:
            return dict.fromkeys(QUARANTINE_VALUES, ", ".join(classes))
    cleaned_from = {target: raw for raw, target in project.cleaned_tables().items()}
    if table in cleaned_from:
        policies = governance.for_table(cleaned_from[table])
        return {c: p.class_ for c, p in policies.items() if p.is_pii and p.action == "keep"}
    if not keeps_pii(project) or catalog is None or models is None:
        return {}
    withheld: dict[str, str] = {}
    for column in columns:
        origins, unknown = _trace(project, catalog, models, table, column, cleaned_from)
        kept = {o.class_ for o in origins if o.action == "keep" and _is_pii(o.class_)}
        if kept:
            withheld[column] = ", ".join(sorted(kept))
            continue
        read: set[str] = set()  # lineage stops at a step: what it reads may pass as is
        for node in unknown:
            read |= kept_pii_read(project, models, node.partition(".")[0])
        if read:
            withheld[column] = f"{', '.join(sorted(read))} {UNTRACED}"
    return withheld


def kept_pii_read(project: Project, models: Mapping[str, SqlModel], name: str) -> set[str]:
    """The classes of PII kept as is (`action: keep`) that the model or Python step `name`
    reads, directly or through the models and steps it reads."""
    cleaned_from = {target: raw for raw, target in project.cleaned_tables().items()}
    policies = project.config.governance
    classes: set[str] = set()
    frontier, seen = [name], set()
    while frontier:
        current = frontier.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in cleaned_from:
            classes |= {
                p.class_
                for p in policies.for_table(cleaned_from[current]).values()
                if p.action == "keep" and _is_pii(p.class_)
            }
        elif (step := project.config.steps.get(current)) is not None:
            frontier.extend(step.inputs)
        elif (model := models.get(current)) is not None:
            frontier.extend(model.dependencies)
    return classes


def _is_pii(class_: str) -> bool:
    return class_ == "pii" or class_.startswith("pii.")


@dataclass(frozen=True)
class FeatureOrigin:
    feature: str
    source: str  # raw_table.column
    class_: str
    action: str

    @property
    def warning(self) -> str | None:
        if self.action in SAFE_ACTIONS or not _is_pii(self.class_):
            return None
        return (
            f"feature '{self.feature}' derives from {self.source} (class {self.class_}, "
            f"action {self.action}): part of that PII value reaches the model"
        )


def feature_origins(
    project: Project,
    catalog: Catalog,
    models: Mapping[str, SqlModel],
    table: str,
    features: list[str],
) -> tuple[list[FeatureOrigin], list[str]]:
    """Classified origins of each feature, and the columns whose lineage is unknown."""
    cleaned_from = {target: raw for raw, target in project.cleaned_tables().items()}
    origins: set[FeatureOrigin] = set()
    unknown: set[str] = set()
    for feature in features:
        found, lost = _trace(project, catalog, models, table, feature, cleaned_from)
        origins |= found
        unknown |= lost
    return sorted(origins, key=lambda o: (o.feature, o.source)), sorted(unknown)


def _trace(
    project: Project,
    catalog: Catalog,
    models: Mapping[str, SqlModel],
    table: str,
    feature: str,
    cleaned_from: Mapping[str, str],
) -> tuple[set[FeatureOrigin], set[str]]:
    """The classified origins of one column, and the 'table.column's where lineage stops."""
    origins: set[FeatureOrigin] = set()
    unknown: set[str] = set()
    frontier, seen = [(table, feature)], set()
    while frontier:
        current = frontier.pop()
        if current in seen:
            continue
        seen.add(current)
        name, column = current
        if name in cleaned_from:
            raw = cleaned_from[name]
            base = column.removesuffix("_outlier")
            policy = project.config.governance.for_table(raw).get(base)
            if policy is not None:
                origins.add(FeatureOrigin(feature, f"{raw}.{base}", policy.class_, policy.action))
            continue
        step = project.config.steps.get(name)
        if step is not None:
            declared = step.lineage.get(column)
            if declared is None:
                unknown.add(f"{name}.{column}")
            else:
                frontier.extend((o.partition(".")[0], o.partition(".")[2]) for o in declared)
            continue
        model = models.get(name)
        if model is None:
            continue  # a source: classes live on the clean step that governs it
        inputs = {}
        for dependency in model.dependencies:
            record = catalog.current_version(dependency)
            inputs[dependency] = [f["name"] for f in record.schema] if record else []
        sources = column_sources(model, column, inputs)
        if sources is None:
            unknown.add(f"{name}.{column}")
            continue
        frontier.extend(sources)
    return origins, unknown
