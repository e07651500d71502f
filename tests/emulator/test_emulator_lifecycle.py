"""An emulator's life in a process: it patches moto while it runs, leaves moto as it found it when it
stops, and a second one starts empty (pytest runs several modules, each with its emulator, per worker)."""

import json
import sys
from typing import Any

import boto3

from local_emulator.server import Emulator, free_port

# moto's own record of the objects its backends created (data, emptied by its reset), not code.
DATA = {"instances_tracked"}


def moto_attributes() -> dict[tuple[str, str], Any]:
    """Every attribute of every loaded moto module and of every class defined there, by identity."""
    found: dict[tuple[str, str], Any] = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "moto" or module_name.startswith("moto.")):
            continue
        for name, value in list(vars(module).items()):
            found[(module_name, name)] = id(value)
            if isinstance(value, type) and value.__module__ == module_name:
                for attribute, member in list(vars(value).items()):
                    if attribute not in DATA:
                        found[(f"{module_name}.{name}", attribute)] = id(member)
    return found


def test_a_stopped_emulator_leaves_moto_as_it_found_it():
    with Emulator(port=free_port()):  # first run: every module the patches touch is imported
        pass
    before = moto_attributes()
    with Emulator(port=free_port()):
        during = moto_attributes()
    after = moto_attributes()

    changed = {key for key in before if during.get(key) != before[key]}
    assert {("moto.batch.models.Job", "run"), ("moto.awslambda.models.LambdaFunction", "invoke")} <= changed, (
        "the snapshot sees the emulator's patches while it runs"
    )
    differences = {key for key in before if after.get(key) != before[key]}
    assert differences == set()


def test_an_emulator_started_after_another_in_one_process_starts_empty():
    # moto keeps its backends per process; pytest runs several modules, each with its emulator, per worker.
    template = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}})
    for _ in range(2):
        with Emulator(port=free_port()) as emulator:
            cloudformation = boto3.client("cloudformation", endpoint_url=emulator.endpoint_url)
            assert cloudformation.describe_stacks()["Stacks"] == []
            cloudformation.create_stack(StackName="same-name", TemplateBody=template)
