"""Watching a deployed model: drift of its inputs and outputs against a reference, its
performance as labels arrive (and an estimate before they do), and alerts with hysteresis.

A stage package like ml and quality: it works on Arrow tables and numbers handed to it and
knows nothing of the catalog, the lake or the project file; weir.app reads the reference
and the prediction log, runs these, records the outcomes and delivers the alerts.
"""
