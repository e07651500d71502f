from collections.abc import Iterator

import pytest
from moto import mock_aws

from local_emulator import patches
from local_emulator.server import ENVIRONMENT
from local_emulator.waiting_tasks import WaitingTasks
from tests.support.clients import client
from tests.support.cloudformation_responses import responses  # noqa: F401  (a fixture kept with its helper)
from tests.support.lambda_context import FakeLambdaContext

# Step Functions executes state machines (real task tokens); Batch records jobs without Docker;
# boto3's default session is kept from one test to the next (each new one loads its models again):
# its credentials and profile are those of the first test, so a test that changes them makes its own.
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "batch": {"use_docker": False},
    "core": {"reset_boto3_session": False},
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # moto's Step Functions engine (and DynamoDB) as the emulator runs them, its EC2 as well (no AMIs)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", ENVIRONMENT["MOTO_EC2_LOAD_DEFAULT_AMIS"])
    with patches.applied({"stepfunctions", "dynamodb"}), mock_aws(config=MOTO_CONFIG):
        yield


@pytest.fixture
def waiting_tasks(aws: None) -> WaitingTasks:
    return WaitingTasks(client("stepfunctions"), client("sqs"))


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
