from typing import Any

import pytest

from tests.support.faults import FAULTS

FOLDER_MARKERS = ("unit", "script", "template", "emulator")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked by its folder (tests/<marker>/); `slow` it says itself."""
    for item in items:
        folder = item.path.parent.name
        if folder in FOLDER_MARKERS:
            item.add_marker(folder)


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
