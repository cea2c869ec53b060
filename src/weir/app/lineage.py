"""Column lineage over the whole project: source columns -> cleaned -> models -> features.

Edges come from what each step really does: a clean step keeps a column's name (its policy
may transform or drop it; a flag column derives from its column), a SQL model's columns come
from sqlglot's lineage over the input schemas the catalog recorded, and a trained model
reads its feature columns. Where sqlglot cannot trace a column, the column is marked unknown
rather than guessed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from weir.app.kinds.planning import view_models
from weir.app.plan import Plan
from weir.catalog import Catalog
from weir.core.errors import NotFoundError
from weir.core.suggest import suggestion_text
from weir.project import Project
from weir.transform import column_sources, output_columns

Node = tuple[str, str]  # (table, column); models appear as ("model:NAME", feature)


@dataclass
class ColumnGraph:
    parents: dict[Node, set[Node]] = field(default_factory=lambda: defaultdict(set))
    children: dict[Node, set[Node]] = field(default_factory=lambda: defaultdict(set))
    columns: dict[str, list[str]] = field(default_factory=dict)
    unknown: set[Node] = field(default_factory=set)
    notes: dict[Node, str] = field(default_factory=dict)

    def link(self, parent: Node, child: Node) -> None:
        self.parents[child].add(parent)
        self.children[parent].add(child)

    def walk(self, start: Node, direction: str) -> list[tuple[int, Node]]:
        """Depth-first (depth, node) pairs from `start`, each node once."""
        edges = self.parents if direction == "up" else self.children
        seen: set[Node] = {start}
        order: list[tuple[int, Node]] = []

        def visit(node: Node, depth: int) -> None:
            for nxt in sorted(edges.get(node, ())):
                if nxt not in seen:
                    seen.add(nxt)
                    order.append((depth, nxt))
                    visit(nxt, depth + 1)

        visit(start, 1)
        return order


def build_graph(
    project: Project, catalog: Catalog, plan: Plan, only: set[str] | None = None
) -> ColumnGraph:
    """The column graph; with `only`, sqlglot's lineage (the costly part) is traced for those
    SQL models alone, which is all an OpenLineage event about one output needs."""
    graph = ColumnGraph()
    for table in project.tables():
        record = catalog.current_version(table)
        graph.columns[table] = [f["name"] for f in record.schema] if record else []
    views = view_models(project)

    def view_columns(name: str, seen: frozenset[str] = frozenset()) -> list[str]:
        if not graph.columns.get(name) and name in views and name not in seen:
            model = plan.sql_models[name]
            inputs = {d: view_columns(d, seen | {name}) for d in model.dependencies}
            graph.columns[name] = output_columns(model, inputs) or []
        return graph.columns.get(name, [])

    for view in sorted(views):
        view_columns(view)
    for table in project.tables():
        declared = project.docs(table).get("classes", {})
        for column, class_ in declared.items() if isinstance(declared, dict) else []:
            graph.notes[(table, column)] = str(class_)
    for raw, target in project.cleaned_tables().items():
        policies = project.config.governance.for_table(raw)
        for column in graph.columns.get(target, []):
            base = column.removesuffix("_outlier") if column.endswith("_outlier") else column
            if base in graph.columns.get(raw, []):
                graph.link((raw, base), (target, column))
                policy = policies.get(base)
                if policy is not None:
                    graph.notes[(target, column)] = f"{policy.class_}, {policy.action}"
        for column, policy in policies.items():
            if policy.action == "drop":
                graph.notes[(raw, column)] = f"{policy.class_}, dropped by clean:{raw}"
    for name, model in plan.sql_models.items():
        if only is not None and name not in only:
            continue
        inputs = {d: graph.columns.get(d, []) for d in model.dependencies}
        for column in graph.columns.get(name, []):
            sources = column_sources(model, column, inputs)
            if sources is None:
                graph.unknown.add((name, column))
                continue
            for source in sources:
                graph.link(source, (name, column))
    for name, step in project.config.steps.items():
        for column in graph.columns.get(name, []):
            declared = step.lineage.get(column)
            if declared is None:
                graph.unknown.add((name, column))
                continue
            for origin in declared:
                table, _, source_column = origin.partition(".")
                graph.link((table, source_column), (name, column))
    for name, spec in project.config.ml.items():
        for feature in spec.features.columns:
            graph.link((spec.table, feature), (f"model:{name}", feature))
        if spec.target is not None:
            graph.link((spec.table, spec.target), (f"model:{name}", f"{spec.target} (target)"))
    return graph


def parse_column(text: str, graph: ColumnGraph) -> Node:
    table, dot, column = text.partition(".")
    if not dot or not column:
        raise NotFoundError(
            f"'{text}' is not TABLE.COLUMN", fix="e.g. weir lineage customers.email"
        )
    if table not in graph.columns:
        raise NotFoundError(f"no table '{table}'", fix=suggestion_text(table, graph.columns))
    if not graph.columns[table]:
        raise NotFoundError(f"table '{table}' has not been built yet", fix="run 'weir run' first")
    if column not in graph.columns[table]:
        raise NotFoundError(
            f"table '{table}' has no column '{column}'",
            fix=suggestion_text(column, graph.columns[table]),
        )
    return table, column
