"""Fixes for defects of moto's Step Functions engine that this application hits.

Each fix is one function that patches one place of moto, registered with the upstream status
of its defect and a probe that tells whether stock moto still has it. `apply_all()` applies
them once; tests/emulator/test_engine_fixes.py proves each fix needed (the probe fails on stock
moto) and working, and says when an upstream release has fixed a defect so the fix can go.
"""

from collections.abc import Callable
from dataclasses import dataclass

import moto


@dataclass(frozen=True)
class EngineFix:
    name: str
    defect: str
    upstream: str
    apply: Callable[[], None]


FIXES: list[EngineFix] = []
_applied = False


def engine_fix(defect: str, upstream: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(apply: Callable[[], None]) -> Callable[[], None]:
        FIXES.append(EngineFix(apply.__name__, defect, upstream, apply))
        return apply

    return register


def apply_all() -> None:
    global _applied
    if not _applied:
        for fix in FIXES:
            fix.apply()
        _applied = True


@engine_fix(
    defect="SendTaskFailure drops the request's cause: the task fails with error only",
    upstream=f"present in moto {moto.__version__} (responses.send_task_failure passes no cause)",
)
def send_task_failure_keeps_cause() -> None:
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: StepFunctionResponse) -> EmptyResult:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure
