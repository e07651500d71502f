"""Rows of the fault-injection table: scenario -> outcome -> time to detection."""

FAULTS: list[tuple[str, str, float]] = []


def record_fault(scenario: str, outcome: str, seconds: float) -> None:
    FAULTS.append((scenario, outcome, seconds))
