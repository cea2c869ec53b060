"""Whether this process runs under a CPU quota (a container's CPU limit), read from its
cgroups, v2 or v1.

Busy polling between requests (see `PredictionLog`) takes only CPU nobody else wants, at
the lowest priority; but under a quota that CPU is counted all the same, and a server
whose own work is then throttled answers late. So busy polling is on by default only where
no quota applies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
MEMBERSHIP = Path("/proc/self/cgroup")
DEFAULT_BUSY_POLL_MS = 5.0  # longer than the gap between one caller's requests


def busy_poll_seconds(configured_ms: float | None) -> float:
    """`serve.busy_poll_ms` in seconds; unset means the default, or 0 under a CPU quota."""
    if configured_ms is not None:
        return configured_ms / 1000
    return 0.0 if cpu_quota() is not None else DEFAULT_BUSY_POLL_MS / 1000


def cpu_quota(root: Path = CGROUP_ROOT, membership: str | None = None) -> float | None:
    """The tightest CPU limit, in cores, over this process's cgroup and its ancestors;
    None when there is none, or when the cgroups cannot be read (not Linux)."""
    if membership is None:
        try:
            membership = MEMBERSHIP.read_text()
        except OSError:
            return None
    limits: list[float] = []
    for line in membership.splitlines():
        _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        if not path:
            continue
        if controllers == "":  # v2: one hierarchy, cpu.max = "QUOTA PERIOD" or "max PERIOD"
            limits += _along(root, path, _v2_limit)
        elif "cpu" in controllers.split(","):  # v1: the cpu controller's own mount
            for mount in (root / controllers, root / "cpu", root / "cpu,cpuacct"):
                if mount.is_dir():
                    limits += _along(mount, path, _v1_limit)
                    break
    return min(limits) if limits else None


def _along(mount: Path, path: str, limit_of: Callable[[Path], float | None]) -> list[float]:
    """The limits set on `path` and on each cgroup above it (inside a container, the
    namespace's root is its own cgroup and holds the container's limit)."""
    parts = [p for p in path.split("/") if p]
    found = []
    for depth in range(len(parts), -1, -1):
        limit = limit_of(mount.joinpath(*parts[:depth]))
        if limit is not None:
            found.append(limit)
    return found


def _v2_limit(directory: Path) -> float | None:
    with contextlib.suppress(OSError, ValueError):
        quota, period = (directory / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
    return None


def _v1_limit(directory: Path) -> float | None:
    with contextlib.suppress(OSError, ValueError):
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        if quota > 0:  # -1: no limit
            return quota / int((directory / "cpu.cfs_period_us").read_text())
    return None
