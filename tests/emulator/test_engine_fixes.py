"""Each engine fix is needed (stock moto misbehaves without it) and works (with it, moto behaves as AWS).

When an upstream moto release fixes a defect, test_each_fix_is_still_needed fails and names the
fix to delete from local_emulator/engine_fixes.py.
"""

import json
import subprocess
import sys

import pytest

from local_emulator import engine_fixes
from tests.emulator.engine_probes import PROBES
from tests.support.paths import ROOT


@pytest.fixture(scope="module")
def stock_moto() -> dict[str, bool]:
    """The probes run in a fresh interpreter where no fix is applied."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.emulator.engine_probes"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_every_fix_has_a_probe_and_every_probe_a_fix():
    assert {fix.name for fix in engine_fixes.FIXES} == set(PROBES)


@pytest.mark.parametrize("fix", engine_fixes.FIXES, ids=lambda fix: fix.name)
def test_each_fix_is_still_needed(fix, stock_moto):
    assert stock_moto[fix.name] is False, (
        f"moto now behaves correctly without the fix {fix.name} ({fix.defect}): delete it from engine_fixes.py"
    )


@pytest.mark.parametrize("name", sorted(PROBES))
def test_each_fix_works(name):
    from moto import mock_aws

    engine_fixes.apply_all()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        assert PROBES[name]() is True
