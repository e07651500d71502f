import signal
from collections.abc import Iterator

import pytest

from local_emulator.batch_runtime import signal_group
from local_emulator.server import Emulator, free_port
from tests.emulator.stacks import CALLBACK_ONLY, FAST, SLOW, Deployed, deployed


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(port=free_port()) as running:
        yield running


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that fails mid-way can leave a long job running; it must not slow or confuse the next."""
    if "emulator" not in request.fixturenames:
        yield
        return
    running = request.getfixturevalue("emulator").batch.running
    before = set(running)
    yield
    for job_id, process in list(running.items()):
        if job_id not in before:
            signal_group(process, signal.SIGKILL)


@pytest.fixture(scope="module")
def full(emulator: Emulator) -> Deployed:
    return deployed(emulator, "full", FAST)


@pytest.fixture(scope="module")
def callback_only(emulator: Emulator) -> Deployed:
    return deployed(emulator, "callback-only", CALLBACK_ONLY)


@pytest.fixture(scope="module")
def tolerant(emulator: Emulator) -> Deployed:
    return deployed(emulator, "tolerant", {**CALLBACK_ONLY, "ToleratedFailurePercentage": "50"})


@pytest.fixture(scope="module")
def slow(emulator: Emulator) -> Deployed:
    return deployed(emulator, "slow", SLOW)
