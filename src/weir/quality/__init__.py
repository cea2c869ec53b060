"""Data quality: declarative check rules compiled to SQL and run in the engine."""

from weir.quality.profile import ColumnProfile, TableProfile, profile_table
from weir.quality.rules import RULES, CompiledCheck, compile_check
from weir.quality.runner import CheckOutcome, compiled_checks, run_checks

__all__ = [
    "RULES",
    "CheckOutcome",
    "ColumnProfile",
    "CompiledCheck",
    "TableProfile",
    "compile_check",
    "compiled_checks",
    "profile_table",
    "run_checks",
]
