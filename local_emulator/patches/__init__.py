"""Every change the emulator makes to moto, in one registry (see registry.py)."""

from local_emulator.patches import awslambda, batch, cloudformation, dynamodb, events, stepfunctions
from local_emulator.patches.registry import PATCHES, Patch, applied, install, uninstall

__all__ = [
    "PATCHES",
    "Patch",
    "applied",
    "awslambda",
    "batch",
    "cloudformation",
    "dynamodb",
    "events",
    "install",
    "stepfunctions",
    "uninstall",
]
