"""init -> run -> rerun (all skipped) -> edit -> rerun (only the affected steps), via the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.conftest import Weir, statuses

pytestmark = pytest.mark.e2e


def test_init_run_rerun_edit(weir: Weir, tmp_path: Path) -> None:
    weir("init", "shop")
    project = tmp_path / "shop"

    first = weir("run", cwd=project)
    assert set(statuses(first.stdout).values()) == {"succeeded"}, first.stdout
    assert "run 1: 5 succeeded" in first.stdout

    second = weir("run", cwd=project)
    assert set(statuses(second.stdout).values()) == {"skipped"}, second.stdout
    assert "unchanged since run 1" in second.stdout

    comment_only = project / "sql" / "big_spenders.sql"
    comment_only.write_text("-- reviewed\n" + comment_only.read_text())
    assert set(statuses(weir("run", cwd=project).stdout).values()) == {"skipped"}

    comment_only.write_text(comment_only.read_text().replace("spend > 50", "spend > 100"))
    third = weir("run", cwd=project)
    ran = {s for s, status in statuses(third.stdout).items() if status == "succeeded"}
    assert ran == {"sql:big_spenders"}, third.stdout
    assert "code changed" in third.stdout

    totals = project / "sql" / "customer_totals.sql"
    # Same rows for this data (every customer has orders): the dependent is cut off.
    totals.write_text(
        totals.read_text().replace("count(o.order_id) AS orders", "count(*) AS orders")
    )
    fourth = weir("run", cwd=project)
    assert statuses(fourth.stdout)["sql:customer_totals"] == "succeeded"
    assert statuses(fourth.stdout)["sql:big_spenders"] == "skipped", fourth.stdout

    # New values: the dependent re-runs and says which input changed.
    totals.write_text(
        totals.read_text().replace("coalesce(sum(o.amount), 0)", "coalesce(sum(o.amount), 0) + 1")
    )
    fifth = weir("run", cwd=project)
    ran = {s for s, status in statuses(fifth.stdout).items() if status == "succeeded"}
    assert ran == {"sql:customer_totals", "sql:big_spenders"}, fifth.stdout
    assert (
        "input customer_totals changed (v0 -> v2)" in fifth.stdout
    )  # it last read v0; v1 had equal rows

    orders = project / "data" / "orders.csv"
    orders.write_text(orders.read_text() + "9,5,1.00,2026-01-12T10:00:00Z\n")
    sixth = weir("run", cwd=project)
    ran = {s for s, status in statuses(sixth.stdout).items() if status == "succeeded"}
    assert ran == {"source:orders", "check:orders", "sql:customer_totals", "sql:big_spenders"}, (
        sixth.stdout
    )
    assert statuses(sixth.stdout)["source:customers"] == "skipped"


def test_dry_run_changes_nothing(weir: Weir, tmp_path: Path) -> None:
    weir("init", "p")
    plan = weir("run", "--dry-run", cwd=tmp_path / "p")
    assert set(statuses(plan.stdout).values()) == {"planned"}
    assert "dry run" in plan.stdout
    assert not (tmp_path / "p" / ".weir" / "lake").exists()
    weir("run", cwd=tmp_path / "p")
    assert set(statuses(weir("run", "--dry-run", cwd=tmp_path / "p").stdout).values()) == {
        "skipped"
    }


def test_failed_step_blocks_dependents_and_the_next_run_resumes(weir: Weir, tmp_path: Path) -> None:
    weir("init", "p")
    project = tmp_path / "p"
    totals = project / "sql" / "customer_totals.sql"
    good = totals.read_text()
    totals.write_text(good.replace("c.country,", "c.countryy,", 1))
    failed = weir("run", cwd=project, check=False)
    assert failed.returncode == 1
    found = statuses(failed.stdout)
    assert found["sql:customer_totals"] == "failed" and found["sql:big_spenders"] == "blocked"
    assert (
        "sql/customer_totals.sql:4:7 (first use of that name)" in failed.stdout
        and "countryy" in failed.stdout
    )
    totals.write_text(good)
    resumed = weir("run", cwd=project)
    ran = {s for s, status in statuses(resumed.stdout).items() if status == "succeeded"}
    assert ran == {"sql:customer_totals", "sql:big_spenders"}
    runs = weir("runs", cwd=project).stdout
    assert "failed" in runs and "succeeded" in runs
    steps = weir("runs", "1", cwd=project).stdout
    assert "countryy" in steps and "blocked" in steps


def test_a_failing_error_check_stops_its_dependents(weir: Weir, tmp_path: Path) -> None:
    weir("init", "p")
    project = tmp_path / "p"
    orders = project / "data" / "orders.csv"
    orders.write_text(orders.read_text() + "10,1,-5.00,2026-01-12T10:00:00Z\n")
    result = weir("run", cwd=project, check=False)
    assert result.returncode == 1
    found = statuses(result.stdout)
    assert found["check:orders"] == "failed" and found["sql:customer_totals"] == "blocked"
    assert "range(amount in [0.0, ])" in result.stdout and "1 failing rows" in result.stdout
    checks = weir("checks", cwd=project).stdout
    assert "FAIL" in checks and "pass" in checks


def test_validate_reports_key_path_line_and_fix(weir: Weir, tmp_path: Path) -> None:
    weir("init", "p")
    config = tmp_path / "p" / "weir.yaml"
    config.write_text(
        config.read_text().replace("    path: data/orders.csv", "    pth: data/orders.csv")
    )
    result = weir("validate", cwd=tmp_path / "p", check=False)
    assert result.returncode == 2
    assert "sources.orders.pth: unknown key 'pth'" in result.stderr
    assert "did you mean 'path'?" in result.stderr
    assert "sources.orders.path: required key is missing" in result.stderr
    assert "weir.yaml:" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_lists_the_steps(weir: Weir, tmp_path: Path) -> None:
    weir("init", "p")
    result = weir("validate", "-p", str(tmp_path / "p"))
    assert "ok" in result.stdout and "sql:big_spenders  after sql:customer_totals" in result.stdout


def test_reading_commands(weir: Weir, shop: Path) -> None:
    project = shop
    tables = weir("tables", cwd=project).stdout
    for name in ("orders", "customers", "customer_totals", "big_spenders", "orders__quarantine"):
        assert name in tables
    shown = weir("show", "customer_totals@0", cwd=project).stdout
    assert (
        "customer_totals@0" in shown
        and "made from: customers@0, orders@0" in shown
        and "spend" in shown
    )
    missing = weir("show", "customer_total", cwd=project, check=False)
    assert missing.returncode == 1 and "did you mean 'customer_totals'?" in missing.stderr
    bad = weir("show", "orders@x", cwd=project, check=False)
    assert bad.returncode == 2 and "must be a number" in bad.stderr
    profiled = weir("profile", "orders", cwd=project).stdout
    assert (
        "Profile of orders@0 (8 rows" in profiled and "amount" in profiled and "300.0" in profiled
    )
    assert (
        "Profile of orders__quarantine@0 (0 rows"
        in weir("profile", "orders__quarantine", cwd=project).stdout
    )
    assert "succeeded" in weir("runs", cwd=project).stdout
    assert "Models" in weir("models", cwd=project).stdout


def test_outside_a_project_says_how_to_start(weir: Weir, tmp_path: Path) -> None:
    result = weir("run", check=False)
    assert result.returncode == 2 and "weir init" in result.stderr


def test_quarantine_checks_divert_rows_in_the_making_step(weir: Weir, tmp_path: Path) -> None:
    weir("init", "p")
    project = tmp_path / "p"
    config = project / "weir.yaml"
    config.write_text(
        config.read_text().replace(
            "    - {rule: range, column: amount, min: 0}",
            "    - {rule: range, column: amount, min: 0, severity: quarantine}\n"
            "    - {rule: relationships, column: customer_id, to: customers, field: customer_id}\n"
            "  customer_totals:\n"
            "    - {rule: expression, expression: spend < 250, severity: quarantine}\n"
            "    - {rule: regex, column: country, pattern: '[A-Z]{2}'}",
        )
    )
    orders = project / "data" / "orders.csv"
    orders.write_text(
        orders.read_text() + "10,1,-5.00,2026-01-12T10:00:00Z\n11,99,3.00,2026-01-12T11:00:00Z\n"
    )
    result = weir("run", cwd=project, check=False)
    found = statuses(result.stdout)
    # the negative amount is quarantined by source:orders; the orphan customer 99 fails the check
    assert found["source:orders"] == "succeeded" and "1 quarantined" in result.stdout, result.stdout
    assert (
        found["check:orders"] == "failed"
        and "relationships(customer_id -> customers.customer_id)" in result.stdout
    )
    assert found["sql:customer_totals"] == "blocked"

    orders.write_text(orders.read_text().replace("11,99,3.00", "11,2,3.00"))
    result = weir("run", cwd=project)
    found = statuses(result.stdout)
    assert (
        found["sql:customer_totals"] == "succeeded"
        and found["check:customer_totals"] == "succeeded"
    )
    quarantine = weir("show", "orders__quarantine", cwd=project).stdout
    assert "range(amount in [0.0, ])" in quarantine and '"amount":-5.0' in quarantine
    totals_quarantine = weir("show", "customer_totals__quarantine", cwd=project).stdout
    assert "expression(spend < 250)" in totals_quarantine  # customer 4 spent 355.10
    checks = weir("checks", "--history", "5", cwd=project).stdout
    assert "quarantined" in checks and "FAIL" in checks and "pass" in checks
    assert set(statuses(weir("run", cwd=project).stdout).values()) == {"skipped"}


def test_freshness_checks_run_every_time_and_say_why(weir: Weir, tmp_path: Path) -> None:
    weir("init", "p")
    project = tmp_path / "p"
    config = project / "weir.yaml"
    config.write_text(
        config.read_text().replace(
            "    - {rule: range, column: amount, min: 0}",
            "    - {rule: range, column: amount, min: 0}\n    - {rule: freshness, column: ordered_at, max_age: 1d, severity: warn}",
        )
    )
    weir("run", cwd=project)
    again = weir("run", cwd=project).stdout
    assert (
        statuses(again)["check:orders"] == "succeeded" and "freshness depends on the clock" in again
    )
    assert (
        statuses(again)["sql:customer_totals"] == "skipped"
    )  # same table version: nothing else re-runs


def test_catalog_and_describe(weir: Weir, tmp_path: Path) -> None:
    weir("init", "p")
    project = tmp_path / "p"
    totals = project / "sql" / "customer_totals.sql"
    totals.write_text(
        "-- weir:\n--   owner: growth-team\n--   tags: [kpi]\n--   column_descriptions:\n"
        "--     spend: sum of order amounts\n--   column_classes:\n--     spend: sensitive\n"
        + totals.read_text()
    )
    before = weir("catalog", cwd=project).stdout
    assert "customer_totals" in before and "not built" in before
    weir("run", cwd=project)
    listed = weir("catalog", "--tag", "kpi", cwd=project).stdout
    assert (
        "customer_totals" in listed
        and "growth-team" in listed
        and "orders" not in listed.replace("customer_totals", "")
    )
    assert (
        "customer_totals" in weir("catalog", "order amounts", cwd=project).stdout
    )  # column descriptions are searched
    described = weir("describe", "customer_totals", cwd=project).stdout
    assert (
        "made by sql:customer_totals" in described and "Orders and spend per customer." in described
    )
    assert "reads: customers, orders" in described and "read by: big_spenders" in described
    assert "sum of order amounts" in described and "current version 0 of 1" in described
    assert "sensitive" in described
    assert (
        "customer_totals.spend  (sensitive)" in weir("lineage", "orders.amount", cwd=project).stdout
    )
    orders = weir("describe", "orders", cwd=project).stdout
    assert "range(amount in [0.0, ])" in orders and "pass" in orders
    drawn = weir("lineage", "orders.amount", "--format", "svg", "-o", "amount.svg", cwd=project)
    assert "wrote amount.svg" in drawn.stdout and (project / "amount.svg").read_text().startswith(
        "<svg"
    )
    assert "<svg" in weir("lineage", "orders.amount", "-f", "html", cwd=project).stdout
    bad_format = weir("lineage", "orders.amount", "-f", "png", cwd=project, check=False)
    assert bad_format.returncode == 2 and "use text, svg or html" in bad_format.stderr
    missing = weir("describe", "ordres", cwd=project, check=False)
    assert missing.returncode == 1 and "did you mean 'orders'?" in missing.stderr
