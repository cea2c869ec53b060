"""weir init prints the directory it was given as text: a name is data, not rich markup."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from weir.cli.main import app


def test_init_shows_a_directory_named_like_markup_as_written(tmp_path: Path) -> None:
    target = tmp_path / "[bold]shop[/bold]"
    result = CliRunner().invoke(app, ["init", str(target), "--name", "shop"])
    assert result.exit_code == 0, result.output
    assert f"cd {target} && weir run" in result.output
    assert "[bold]shop[/bold]:" in result.output
