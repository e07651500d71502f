"""Every change the emulator makes to moto, in one registry (see registry.py). Modules register
their patches as they are imported, in this order; a later patch wraps what an earlier one set."""

# isort: off
from local_emulator.patches import botocore_data  # first: moto reads botocore's data as it imports its services
from local_emulator.patches import awslambda, batch, cloudformation, dynamodb, events, iam, moto_server, stepfunctions
from local_emulator.patches import batch_array_jobs
from local_emulator.patches import distributed_map  # after stepfunctions, whose API patches it wraps
from local_emulator.patches import iam_enforcement  # it authorizes the requests the others serve
from local_emulator.patches import role_credentials  # last: it wraps what the Step Functions patches set

# isort: on
from local_emulator.patches.registry import PATCHES, Patch, applied, install, uninstall

__all__ = [
    "PATCHES",
    "Patch",
    "applied",
    "awslambda",
    "batch",
    "batch_array_jobs",
    "botocore_data",
    "cloudformation",
    "distributed_map",
    "dynamodb",
    "events",
    "iam",
    "iam_enforcement",
    "install",
    "moto_server",
    "role_credentials",
    "stepfunctions",
    "uninstall",
]
