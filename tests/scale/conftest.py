from collections.abc import Iterator

import pytest

from local_emulator.server import Emulator, free_port


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(port=free_port()) as running:
        yield running
