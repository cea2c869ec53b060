"""The demo: a seeded fraud-detection world and the project that runs on it."""

from weir.demo.generate import DemoData, generate
from weir.demo.project import write_demo_project

__all__ = ["DemoData", "generate", "write_demo_project"]
