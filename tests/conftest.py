from typing import Any

import pytest

from tests.support.faults import FAULTS

FOLDER_MARKERS = ("unit", "script", "template", "emulator")
# The modules that take longest (seconds of their tests, summed, on 2 cores), run first: xdist hands
# each module to one worker (--dist loadfile), and a long module started late holds the run up.
LONGEST_FIRST = (
    "tests/emulator/test_end_to_end.py",  # 168
    "tests/emulator/test_real_account.py",  # 130
    "tests/script/test_batch_script.py",  # 120
    "tests/emulator/test_fault_injection.py",  # 105
    "tests/emulator/test_command_line.py",  # 99
    "tests/emulator/test_patches.py",  # 95
    "tests/template/test_template.py",  # 79
    "tests/emulator/test_large_requests.py",  # 70
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test is marked by its folder (tests/<marker>/); `slow` it says itself. The longest
    modules come first, the others after in their order."""
    for item in items:
        folder = item.path.parent.name
        if folder in FOLDER_MARKERS:
            item.add_marker(folder)
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.relative_to(config.rootpath).as_posix(), len(rank)))


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
