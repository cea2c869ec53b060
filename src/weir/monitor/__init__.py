"""Watching a deployed model: drift of its inputs and outputs against a reference, its
performance as labels arrive (and an estimate before they do), and alerts with hysteresis.

A stage package like ml and quality: it works on Arrow tables and numbers handed to it and
knows nothing of the catalog, the lake or the project file; weir.app reads the reference
and the prediction log, runs these, records the outcomes and delivers the alerts.
"""

# Each module is imported where it is used (weir.monitor.drift, .performance, .labels,
# .alerts, .delivery, .webhook): scipy and scikit-learn load only for the checks that need
# them, and the alert and delivery modules stay light for the scheduler.
__all__: list[str] = []
