"""The `schedule:` section: what loads, and what each mistake is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.project import ProjectFileError, parse_project_text
from weir.project.schedule_config import SCHEDULABLE_COMMANDS, ScheduleConfig

FILE = Path("weir.yaml")


def config(jobs: str, extra: str = "") -> ScheduleConfig:
    parsed = parse_project_text(f"name: p\nschedule:\n{extra}  jobs:\n{jobs}", FILE, {})
    assert parsed.schedule is not None
    return parsed.schedule


def problems(jobs: str, extra: str = "") -> list[str]:
    with pytest.raises(ProjectFileError) as info:
        config(jobs, extra)
    return [p.render(FILE) for p in info.value.problems]


def test_a_schedule_loads_with_its_defaults() -> None:
    loaded = config('    nightly: {cron: "0 2 * * *", run: run}\n')
    assert loaded.timezone == "UTC"
    assert loaded.catch_up == "latest"
    assert loaded.stop_grace_seconds == 60
    assert loaded.jobs["nightly"].argv == ["run"]
    assert loaded.jobs["nightly"].timeout_seconds is None
    assert loaded.catch_up_of("nightly") == "latest"


def test_a_project_without_a_schedule_has_none() -> None:
    assert parse_project_text("name: p\n", FILE, {}).schedule is None


def test_a_job_may_have_its_own_catch_up_policy() -> None:
    loaded = config(
        '    a: {cron: "0 2 * * *", run: run, catch_up: all}\n    b: {cron: "0 3 * * *", run: run}\n',
        extra="  catch_up: skip\n",
    )
    assert (loaded.catch_up_of("a"), loaded.catch_up_of("b")) == ("all", "skip")


@pytest.mark.parametrize(
    ("cron", "said"),
    [
        ("0 25 * * *", "is not a cron expression"),
        ("61 * * * *", "is not a cron expression"),
        ("*/0 * * * *", "is not a cron expression"),
        ("every day", "has 2 field(s)"),
        ("0 2 * *", "has 4 field(s)"),
        ("0 2 * * * 0 2030", "has 7 field(s)"),
        ("0 0 30 2 *", "never fires"),
        ("H 2 * * *", "uses H or R"),
        ("R R * * *", "uses H or R"),
        ("@reboot", "is not a cron alias"),
    ],
)
def test_a_cron_expression_that_does_not_parse_names_the_key_the_expression_and_an_example(
    cron: str, said: str
) -> None:
    [message] = problems(f'    nightly: {{cron: "{cron}", run: run}}\n')
    assert message.startswith("weir.yaml:4: schedule.jobs.nightly.cron: "), message
    assert f"'{cron}'" in message and said in message
    assert "e.g. '0 2 * * *'" in message


@pytest.mark.parametrize(
    "cron", ["0 2 * * *", "*/15 * * * *", "0 2 * * mon-fri", "0 2 L * *", "@daily", "* * * * * */5"]
)
def test_cron_expressions_people_write_are_accepted(cron: str) -> None:
    assert config(f'    j: {{cron: "{cron}", run: run}}\n').jobs["j"].cron == cron


def test_an_unknown_command_is_refused_with_a_suggestion_and_the_choices() -> None:
    [message] = problems('    nightly: {cron: "0 2 * * *", run: "rnu --force"}\n')
    assert "schedule.jobs.nightly.run: 'rnu' is not a command a job may run" in message
    assert "did you mean 'run'?" in message
    assert ", ".join(SCHEDULABLE_COMMANDS) in message


@pytest.mark.parametrize("verb", ["serve fraud", "schedule", "demo", "ui", "init x"])
def test_commands_that_do_not_work_on_the_project_cannot_be_scheduled(verb: str) -> None:
    [message] = problems(f'    j: {{cron: "0 2 * * *", run: "{verb}"}}\n')
    assert f"'{verb.split()[0]}' is not a command a job may run" in message


@pytest.mark.parametrize(
    ("run", "said"),
    [
        ("weir run", "write the command without 'weir', e.g. 'run'"),
        ("run -p elsewhere", "'-p' is not allowed: a job runs on the scheduler's project"),
        ("run --project=elsewhere", "'--project' is not allowed"),
        ("run --help", "'--help' prints help and does no work"),
        ("run 'unclosed", "cannot be split into arguments"),
        ("''", "say which command to run"),
        ("", "say which command to run"),
    ],
)
def test_a_command_line_a_job_cannot_run_is_explained(run: str, said: str) -> None:
    [message] = problems(f'    j: {{cron: "0 2 * * *", run: "{run}"}}\n')
    assert "schedule.jobs.j.run" in message and said in message, message


def test_shell_metacharacters_are_plain_arguments() -> None:
    loaded = config(
        "    j:\n      cron: '0 2 * * *'\n"
        "      run: predict fraud --input 'data/a b.csv' --output \"x; rm -rf ~\" '$(touch p)' '|'\n"
    )
    assert loaded.jobs["j"].argv == [
        "predict",
        "fraud",
        "--input",
        "data/a b.csv",
        "--output",
        "x; rm -rf ~",
        "$(touch p)",
        "|",
    ]


def test_an_unknown_key_in_a_job_suggests_the_right_one() -> None:
    found = problems('    j: {crn: "0 2 * * *", run: run}\n')
    assert any("schedule.jobs.j.crn: unknown key 'crn'" in m and "'cron'" in m for m in found)


def test_zone_policy_jobs_and_names_are_checked() -> None:
    found = problems("    {}\n", extra="  timezone: Europe/Pari\n  catch_up: lates\n")
    assert any("schedule.timezone" in m and "did you mean 'Europe/Paris'?" in m for m in found)
    assert any("schedule.catch_up" in m and "did you mean 'latest'?" in m for m in found)
    assert any("schedule.jobs: no jobs" in m for m in found)
    [message] = problems('    Nightly: {cron: "0 2 * * *", run: run}\n')
    assert "job name 'Nightly' must be lower case" in message


def test_a_grace_period_and_a_timeout_must_be_positive() -> None:
    found = problems(
        '    j: {cron: "0 2 * * *", run: run, timeout_seconds: 0}\n',
        extra="  stop_grace_seconds: -1\n",
    )
    assert any("schedule.stop_grace_seconds" in m for m in found)
    assert any("schedule.jobs.j.timeout_seconds" in m for m in found)
