"""The Weir version: part of every built-in step's code identity, so an upgrade re-runs steps."""

__version__ = "0.1.0"
