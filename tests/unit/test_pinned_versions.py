"""The functions are tested with the very library versions they are deployed with."""

from importlib.metadata import version

import pytest

from tests.support.paths import FUNCTIONS

REQUIREMENTS = sorted(FUNCTIONS.glob("*/requirements.txt"))


@pytest.mark.parametrize("requirements", REQUIREMENTS, ids=lambda p: p.parent.name)
def test_function_requirements_are_pinned_to_the_tested_versions(requirements):
    pins = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    pins = [pin for pin in pins if pin]
    assert pins
    for pin in pins:
        name, _, pinned = pin.partition("==")
        assert pinned, f"{pin} is not pinned"
        assert version(name.split("[")[0]) == pinned, f"{pin}: tests run {version(name.split('[')[0])}"
