from typing import Any

import pytest

from tests.support.faults import FAULTS

FOLDER_MARKERS = ("unit", "script", "template", "emulator", "scale")
# Folders whose tests carry another folder's marker: the run report's run in process, as unit tests do.
FOLDER_ALIASES = {"report": "unit"}
# The order modules start in, with their seconds (their tests' wall time, summed, in a whole run on
# 2 cores): xdist hands each module to one worker (--dist loadfile), so a long module started late
# holds the run up. The five workers start with the five longest, most of which mostly wait
# (heartbeat timeouts, Lambda's retry a minute later); the short modules come last, to even out the
# workers' ends. A module not listed comes after the listed ones of 20 s or more.
MODULE_ORDER = (
    "tests/emulator/test_real_account.py",  # 144, waits
    "tests/script/test_batch_script.py",  # 130
    "tests/emulator/test_fault_injection.py",  # 118, waits
    "tests/emulator/test_lean_path.py",  # 113, waits
    "tests/emulator/test_end_to_end.py",  # 92, waits
    "tests/template/test_template.py",  # 90, CPU
    "tests/emulator/test_command_line.py",  # 83
    "tests/emulator/test_patches.py",  # 82, CPU
    "tests/emulator/test_large_requests.py",  # 65, CPU
    "tests/unit/test_prepare_run.py",  # 23
    "tests/emulator/test_warm_aws_cli.py",  # 22
    "tests/unit/test_submit_batch.py",  # 19
    "tests/emulator/test_runtimes.py",  # 16
    "tests/emulator/test_entry_contract.py",  # 20
    "tests/emulator/test_run_report.py",  # 16
    "tests/unit/test_finish_run.py",  # 15
    "tests/report/test_browser.py",  # 13, Chromium
    "tests/emulator/test_lambda_fork_server.py",  # 12
    "tests/emulator/test_lambda_limits.py",  # 11
    "tests/emulator/test_iam_enforcement.py",  # 10
    "tests/unit/test_check_parameters.py",  # 9
    "tests/emulator/test_emulator_lifecycle.py",  # 8.5
    "tests/unit/test_account_batch.py",  # 5
    "tests/report/test_results.py",  # 5
    "tests/report/test_command.py",  # 5
    "tests/report/test_collect.py",  # 4
    "tests/unit/test_publish_script.py",  # 3.3
    "tests/template/test_state_machines.py",  # 2.6
    "tests/unit/test_job_events.py",  # 2.2
    "tests/unit/test_callback_notify.py",  # 1.5
    "tests/report/test_page.py",  # 1
    "tests/unit/test_terminate_run_jobs.py",  # 0.2
    "tests/template/test_hardening.py",  # 0.1
    "tests/unit/test_pinned_versions.py",  # 0
)
UNLISTED_RANK = MODULE_ORDER.index("tests/unit/test_submit_batch.py") - 0.5  # the first under 20 s


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test is marked by its folder (tests/<marker>/); `slow` it says itself. Modules run in
    MODULE_ORDER."""
    for item in items:
        folder = FOLDER_ALIASES.get(item.path.parent.name, item.path.parent.name)
        if folder in FOLDER_MARKERS:
            item.add_marker(folder)
    rank = {name: index for index, name in enumerate(MODULE_ORDER)}
    items.sort(key=lambda item: rank.get(item.path.relative_to(config.rootpath).as_posix(), UNLISTED_RANK))


@pytest.fixture(autouse=True)
def aws_test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a fixed region; nothing may reach a real AWS endpoint."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker hands its rows to the controller
        workeroutput["faults"] = FAULTS


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    FAULTS.extend(tuple(row) for row in node.workeroutput.get("faults", []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FAULTS:
        return
    terminalreporter.section("fault injection: scenario -> outcome -> time to detection")
    width = max(len(scenario) for scenario, _, _ in FAULTS)
    for scenario, outcome, seconds in sorted(FAULTS):
        terminalreporter.write_line(f"{scenario.ljust(width)}  {outcome}  ({seconds:.1f} s)")
