from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from weir.app import build_plan, open_workspace, run_project
from weir.app.lineage import build_graph
from weir.app.lineage_draw import lineage_html, lineage_svg
from weir.project import load_project, scaffold_project

SVG = "{http://www.w3.org/2000/svg}"


def graph_of(tmp_path: Path):  # type: ignore[no-untyped-def]
    scaffold_project(tmp_path)
    ws = open_workspace(load_project(tmp_path))
    try:
        assert run_project(ws).ok
        return build_graph(ws.project, ws.catalog, build_plan(ws.project))
    finally:
        ws.close()


def test_the_drawing_holds_the_path_and_nothing_else(tmp_path: Path) -> None:
    graph = graph_of(tmp_path)
    svg = ET.fromstring(lineage_svg(graph, ("orders", "amount")))
    texts = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]
    assert {"orders", "customer_totals", "big_spenders"} <= set(texts)
    assert "customers" not in texts  # not on the path of orders.amount
    edges = svg.findall(f"{SVG}path")
    assert len(edges) == 2  # orders.amount -> customer_totals.spend -> big_spenders.spend
    for edge in edges:  # data flows left to right
        start, end = edge.get("d", "").split(" C")[0][1:], edge.get("d", "").rsplit(" ", 1)[1]
        assert float(start.split(",")[0]) < float(end.split(",")[0])
    highlighted = [r for r in svg.iter(f"{SVG}rect") if r.get("fill") == "#ffd54f"]
    assert len(highlighted) == 1


def test_html_wraps_the_svg(tmp_path: Path) -> None:
    graph = graph_of(tmp_path)
    page = lineage_html(graph, ("customer_totals", "spend"), "shop")
    assert (
        page.startswith("<!doctype html>")
        and "<svg" in page
        and "Lineage of customer_totals.spend" in page
    )
