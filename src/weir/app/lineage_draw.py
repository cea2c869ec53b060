"""Draw one column's lineage as SVG (or HTML around it): tables as boxes in layers, only the
columns on the path, one curve per edge. Layers follow the longest path, so data flows left
to right and no edge runs backwards; nothing else in the project is drawn.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape

from weir.app.lineage import ColumnGraph, Node

BOX_WIDTH = 180
CHAR_WIDTH = 7.3  # 12px monospace
LAYER_GAP = 110
ROW = 22
HEADER = 28
BOX_GAP = 26
MARGIN = 24


def _involved(graph: ColumnGraph, start: Node) -> tuple[set[Node], set[tuple[Node, Node]]]:
    nodes = (
        {start}
        | {n for _, n in graph.walk(start, "up")}
        | {n for _, n in graph.walk(start, "down")}
    )
    edges = {(p, c) for c in nodes for p in graph.parents.get(c, ()) if p in nodes}
    return nodes, edges


def _layers(tables: set[str], edges: set[tuple[Node, Node]]) -> dict[str, int]:
    """Longest-path layer of each table among the tables drawn."""
    after: dict[str, set[str]] = defaultdict(set)
    for (parent, _), (child, _) in edges:
        if parent != child:
            after[child].add(parent)
    layer: dict[str, int] = {}

    def depth(table: str, seen: frozenset[str]) -> int:
        if table not in layer:
            parents = after[table] - seen
            layer[table] = 1 + max((depth(p, seen | {table}) for p in parents), default=-1)
        return layer[table]

    for table in tables:
        depth(table, frozenset({table}))
    return layer


def _layer_width(graph: ColumnGraph, tables: list[str], columns: dict[str, list[str]]) -> float:
    """Wide enough for the longest table name or column label in the layer."""
    longest = 0
    for table in tables:
        longest = max(longest, int(len(table) * 1.1))
        for column in columns[table]:
            note = graph.notes.get((table, column))
            unknown = (table, column) in graph.unknown
            longest = max(
                longest, len(column) + (len(note) + 3 if note else 0) + (10 if unknown else 0)
            )
    return max(float(BOX_WIDTH), longest * CHAR_WIDTH + 32)


def lineage_svg(graph: ColumnGraph, start: Node) -> str:
    nodes, edges = _involved(graph, start)
    columns: dict[str, list[str]] = defaultdict(list)
    for table, column in sorted(nodes):
        columns[table].append(column)
    layers = _layers(set(columns), edges)
    by_layer: dict[int, list[str]] = defaultdict(list)
    for table in sorted(columns, key=lambda t: (layers[t], t)):
        by_layer[layers[table]].append(table)
    position: dict[Node, tuple[float, float, float]] = {}  # node -> (left x, right x, y)
    parts: list[str] = []
    height = 0.0
    x = float(MARGIN)
    for layer in sorted(by_layer):
        width = _layer_width(graph, by_layer[layer], columns)
        y = float(MARGIN)
        for table in by_layer[layer]:
            rows = columns[table]
            box_height = HEADER + ROW * len(rows) + 6
            model = table.startswith("model:")
            fill = "#fff4e0" if model else "#eef3fb"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{width}" height="{box_height}" rx="6" fill="{fill}" stroke="#6b7a90"/>'
            )
            parts.append(f'<text x="{x + 10}" y="{y + 19}" class="table">{escape(table)}</text>')
            for row, column in enumerate(rows):
                row_y = y + HEADER + ROW * row + ROW / 2 + 2
                node = (table, column)
                selected = node == start
                if selected:
                    parts.append(
                        f'<rect x="{x + 4}" y="{row_y - ROW / 2 + 1}" width="{width - 8}" height="{ROW - 2}" rx="4" fill="#ffd54f"/>'
                    )
                note = graph.notes.get(node)
                label = escape(column) + (
                    f' <tspan class="note">({escape(note)})</tspan>' if note else ""
                )
                if node in graph.unknown:
                    label += ' <tspan class="unknown">(unknown)</tspan>'
                parts.append(f'<text x="{x + 14}" y="{row_y + 4}" class="column">{label}</text>')
                position[node] = (x, x + width, row_y)
            y += box_height + BOX_GAP
        height = max(height, y)
        x += width + LAYER_GAP
    curves = []
    for parent, child in sorted(edges):
        _, x1, y1 = position[parent]
        x2, _, y2 = position[child]
        bend = (x2 - x1) / 2
        curves.append(
            f'<path d="M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}" class="edge"/>'
        )
    width = int(x - LAYER_GAP + MARGIN)
    style = (
        "<style>.table{font:bold 13px sans-serif;fill:#1f2d3d}.column{font:12px monospace;fill:#1f2d3d}"
        ".note{fill:#a15c00}.unknown{fill:#c62828}.edge{fill:none;stroke:#8796ad;stroke-width:1.4}</style>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{int(height + MARGIN)}" '
        f'viewBox="0 0 {width} {int(height + MARGIN)}">{style}'
        f'<rect width="100%" height="100%" fill="white"/>{"".join(curves)}{"".join(parts)}</svg>'
    )


def lineage_html(graph: ColumnGraph, start: Node, project: str) -> str:
    title = f"Lineage of {start[0]}.{start[1]}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
        f"<body style='font-family:sans-serif;margin:24px'><h2>{escape(title)}</h2>"
        f"<p>Project {escape(project)}. Left to right: where the column comes from, then what it feeds. "
        f"Highlighted: the column asked about. Orange notes: governance classes and policies; red: lineage unknown.</p>"
        f"{lineage_svg(graph, start)}</body></html>"
    )
