"""The command line: one Typer app; commands render what the app layer returns."""

from weir.cli.main import app, main

__all__ = ["app", "main"]
