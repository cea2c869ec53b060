"""Data quality: declarative check rules compiled to SQL and run in the engine."""

from weir.quality.rules import RULES, CompiledCheck, compile_check
from weir.quality.runner import CheckOutcome, run_checks

__all__ = ["RULES", "CheckOutcome", "CompiledCheck", "compile_check", "run_checks"]
