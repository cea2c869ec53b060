"""Busy polling is on by default only where no CPU quota counts it: the quota as cgroups
v2 and v1 state it, in a container (the namespace's root is its cgroup) and outside."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.serve import cpu_quota as module
from weir.serve.cpu_quota import DEFAULT_BUSY_POLL_MS, busy_poll_seconds, cpu_quota


def put(root: Path, relative: str, files: dict[str, str]) -> None:
    directory = root / relative
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def test_v2_no_limit_anywhere(tmp_path: Path) -> None:
    put(tmp_path, "", {"cgroup.controllers": "cpu memory"})  # the real root has no cpu.max
    put(tmp_path, "system.slice/weir.service", {"cpu.max": "max 100000\n"})
    assert cpu_quota(tmp_path, "0::/system.slice/weir.service\n") is None


def test_v2_limit_on_the_process_cgroup_or_an_ancestor(tmp_path: Path) -> None:
    put(tmp_path, "kubepods/pod1", {"cpu.max": "150000 100000\n"})
    put(tmp_path, "kubepods/pod1/app", {"cpu.max": "max 100000\n"})
    assert cpu_quota(tmp_path, "0::/kubepods/pod1/app\n") == 1.5
    put(tmp_path, "kubepods/pod1/app", {"cpu.max": "50000 100000\n"})
    assert cpu_quota(tmp_path, "0::/kubepods/pod1/app\n") == 0.5  # the tightest


def test_v2_inside_a_container_namespace(tmp_path: Path) -> None:
    put(tmp_path, "", {"cpu.max": "200000 100000\n"})
    assert cpu_quota(tmp_path, "0::/\n") == 2.0


def test_v1_cpu_controller_mounted_with_cpuacct(tmp_path: Path) -> None:
    membership = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n"
    put(
        tmp_path,
        "cpu,cpuacct/docker/abc",
        {"cpu.cfs_quota_us": "-1\n", "cpu.cfs_period_us": "100000\n"},
    )
    assert cpu_quota(tmp_path, membership) is None
    put(tmp_path, "cpu,cpuacct/docker/abc", {"cpu.cfs_quota_us": "250000\n"})
    assert cpu_quota(tmp_path, membership) == 2.5


def test_v1_cpu_controller_alone_and_unreadable_files(tmp_path: Path) -> None:
    put(tmp_path, "cpu", {"cpu.cfs_quota_us": "-1\n", "cpu.cfs_period_us": "100000\n"})
    assert cpu_quota(tmp_path, "1:cpu:/\n2:cpuacct:/\n") is None
    put(tmp_path, "cpu", {"cpu.cfs_quota_us": "garbage\n"})
    assert cpu_quota(tmp_path, "1:cpu:/\n") is None
    assert cpu_quota(tmp_path / "absent", "0::/\n1:cpu:/\n") is None
    assert cpu_quota(tmp_path, "") is None and cpu_quota(tmp_path, "nonsense\n") is None


def test_the_setting_wins_and_unset_means_off_only_under_a_quota(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert busy_poll_seconds(0) == 0.0 and busy_poll_seconds(2.5) == 0.0025
    monkeypatch.setattr(module, "cpu_quota", lambda: 2.0)
    assert busy_poll_seconds(None) == 0.0 and busy_poll_seconds(3) == 0.003
    monkeypatch.setattr(module, "cpu_quota", lambda: None)
    assert busy_poll_seconds(None) == DEFAULT_BUSY_POLL_MS / 1000
