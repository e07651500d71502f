"""Every patch of moto is registered with its defect and its reference, is needed (its probe fails on
stock moto), works (its probe passes in the emulator), and is undone when the emulator stops.

When an upstream moto release fixes a defect, test_each_patch_is_still_needed fails and names the
patch to delete from local_emulator/patches/.
"""

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from local_emulator import patches
from local_emulator.server import Emulator, free_port
from tests.emulator.patch_probes import PROBES, Aws, run_probe
from tests.support.paths import ROOT

NAMES = [registered.name for registered in patches.PATCHES]


# Stock moto's probes run in this many fresh interpreters at once: most of their time is spent
# waiting (for what stock moto never does, within each probe's bound).
STOCK_INTERPRETERS = 3


@pytest.fixture(scope="module")
def stock_moto(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bool]:
    """The probes in fresh interpreters where no patch is applied, each with a moto server of its own."""
    folder = tmp_path_factory.mktemp("stock")
    started = []
    for group in range(STOCK_INTERPRETERS):
        results, errors = folder / f"probes-{group}.json", (folder / f"errors-{group}.txt").open("w")
        command = [sys.executable, "-m", "tests.emulator.patch_probes", str(results), *NAMES[group::STOCK_INTERPRETERS]]
        started.append((subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors), results))
        errors.close()
    verdicts: dict[str, bool] = {}
    for group, (process, results) in enumerate(started):
        assert process.wait(timeout=600) == 0, (folder / f"errors-{group}.txt").read_text()[-3000:]
        verdicts |= json.loads(results.read_text())
    return verdicts


@pytest.fixture(scope="module")
def emulated() -> Iterator[Aws]:
    """The emulator, IAM not enforced, as stock moto runs its probes: a probe's roles have no policies
    unless it is about IAM, and such a probe enforces IAM itself for what it checks."""
    with Emulator(port=free_port(), enforce_iam=False) as emulator:
        yield Aws(emulator.endpoint_url)


def test_every_patch_has_a_probe_and_every_probe_a_patch():
    assert sorted(NAMES) == sorted(PROBES)
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("registered", patches.PATCHES, ids=lambda p: p.name)
def test_each_patch_says_what_it_fixes_and_where_aws_says_so(registered: patches.Patch):
    assert registered.defect and registered.aws and registered.reference
    assert registered.seen_in[:1].isdigit(), "a literal moto version, not the installed one"
    assert registered.upstream is None or registered.upstream.startswith("https://github.com/")


@pytest.mark.parametrize("name", NAMES)
def test_each_patch_is_still_needed(name: str, stock_moto: dict[str, bool]):
    assert stock_moto[name] is False, f"stock moto now passes the probe of {name}: delete the patch"


@pytest.mark.parametrize("name", NAMES)
def test_each_patch_works(name: str, emulated: Aws):
    assert run_probe(name, emulated) is True
