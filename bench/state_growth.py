"""Benchmark: does what the emulator holds make later requests slower?

    .venv/bin/python -m bench.state_growth --levels 0 1000 10000 100000

One emulator, no stack: a trivial state machine, a Distributed Map, a task waiting for its token, a
Batch queue whose jobs run `true`, a table and a bucket. At each LEVEL the emulator is filled until it
holds LEVEL each of what a run leaves behind: Map Run children (finished executions), jobs (SUCCEEDED),
DynamoDB items and S3 objects. Then a fixed mix of requests, those a run makes for each batch and
those an operator watching it makes, goes through the API, --samples times each, one request at a
time; it prints each request's median milliseconds at each level, and the last level's over the
first's.

The filling goes through moto's backends in this process, as the API would have left them, because
the API would take hours: a SUCCEEDED job is a job submitted and marked ended without its process,
and the children are copies of one child that really ran (their own ARNs and names; everything a
request reads of a child, its status, its worker and its Map Run, is there).
"""

import argparse
import copy
import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any
from unittest import mock

import boto3
from botocore.config import Config
from moto.batch.models import Job, batch_backends
from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import s3_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from local_emulator.patches.distributed_map import children_of
from local_emulator.server import ACCOUNT_ID, REGION, Emulator, free_port
from local_emulator.waiting_tasks import WaitingTasks

LEVELS = (0, 1_000, 10_000, 100_000)
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/state-growth"
BATCH_PAUSE_SECONDS = 0.025  # Batch admits 50 requests a second per API (patches/batch.py): stay under it
PASS = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
FANOUT = {
    "StartAt": "Fan out",
    "States": {
        "Fan out": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **PASS},
            "End": True,
        }
    },
}


class Held:
    """What the emulator holds, and how to make it hold more."""

    def __init__(self, endpoint: str) -> None:
        config = Config(retries={"mode": "standard", "max_attempts": 10})
        self.sfn = boto3.client("stepfunctions", endpoint_url=endpoint, config=config)
        self.sqs = boto3.client("sqs", endpoint_url=endpoint)
        self.batch = boto3.client("batch", endpoint_url=endpoint, config=config)
        self.ec2 = boto3.client("ec2", endpoint_url=endpoint)
        self.dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
        self.s3 = boto3.client("s3", endpoint_url=endpoint)
        self.iam = boto3.client("iam", endpoint_url=endpoint)
        self.events = boto3.client("events", endpoint_url=endpoint)
        self.count = 0
        self.tokens: list[Any] = []  # tasks waiting for SendTaskSuccess, one per call

    def create(self) -> None:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        self.iam.create_role(RoleName=ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(trust))
        # What the role's machines and jobs do, as IAM is enforced: start the fan-out's children, write the
        # jobs' log streams.
        allowed = {"Effect": "Allow", "Action": ["states:StartExecution", "logs:CreateLogStream", "logs:PutLogEvents"]}
        self.iam.put_role_policy(
            RoleName=ROLE.rsplit("/", 1)[1],
            PolicyName="state-growth",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{**allowed, "Resource": "*"}]}),
        )
        self.trivial = self._machine("trivial", PASS)
        fanout = self._machine("fanout", FANOUT)
        started = self.sfn.start_execution(stateMachineArn=fanout, input=json.dumps({"items": list(range(5))}))
        self.fanout_execution = started["executionArn"]
        self._wait_ended(self.fanout_execution)
        self.map_run = self.sfn.list_map_runs(executionArn=self.fanout_execution)["mapRuns"][0]["mapRunArn"]
        self.waiting = WaitingTasks(self.sfn, self.sqs, timeout_seconds=3600, heartbeat_seconds=3000, iam=self.iam)
        self.task = self.waiting.start()

        vpc = self.ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        subnets = [s["SubnetId"] for s in self.ec2.describe_subnets()["Subnets"] if s["VpcId"] == vpc][:1]
        group = self.ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
        environment = self.batch.create_compute_environment(
            computeEnvironmentName="state-growth",
            type="MANAGED",
            state="ENABLED",
            computeResources={"type": "FARGATE", "maxvCpus": 4, "subnets": subnets, "securityGroupIds": [group]},
            serviceRole=ROLE,
        )["computeEnvironmentArn"]
        self.queue = self.batch.create_job_queue(
            jobQueueName="state-growth",
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
        )["jobQueueArn"]
        self.definition = self.batch.register_job_definition(
            jobDefinitionName="true",
            type="container",
            platformCapabilities=["FARGATE"],
            containerProperties={
                "image": "local",
                "command": ["true"],
                "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}],
                "executionRoleArn": ROLE,
            },
        )["jobDefinitionArn"]

        self.table = "state-growth"
        self.dynamodb.create_table(
            TableName=self.table,
            KeySchema=[
                {"AttributeName": "runId", "KeyType": "HASH"},
                {"AttributeName": "entryIndex", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "runId", "AttributeType": "S"},
                {"AttributeName": "entryIndex", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        self.bucket = "state-growth"
        self.s3.create_bucket(Bucket=self.bucket)

    def _machine(self, name: str, definition: dict[str, Any]) -> str:
        return self.sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
            "stateMachineArn"
        ]

    def _wait_ended(self, execution_arn: str) -> None:
        while self.sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
            time.sleep(0.05)

    def fill(self, level: int) -> None:
        """Hold LEVEL children, jobs, items and objects (each run's batch leaves one of each)."""
        sfn = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
        children = children_of(sfn)
        model = children.of_map_run(self.map_run)[0]
        other_run = self.map_run.rsplit(":", 1)[0] + ":earlier-runs"  # children of other, ended runs

        def ended_at_once(job: Job) -> None:
            job.job_started_at = job.job_created_at
            job._start_attempt()
            job.exit_code = 0
            job._mark_stopped(success=True)

        batch = batch_backends[ACCOUNT_ID][REGION]
        dynamodb = dynamodb_backends[ACCOUNT_ID][REGION]
        s3 = s3_backends[ACCOUNT_ID]["global"]
        with mock.patch.object(Job, "start", ended_at_once):
            for i in range(self.count, level):
                child = copy.copy(model)
                child.name = str(uuid.uuid4())
                child.exec_arn = model.exec_arn.rsplit(":", 1)[0] + ":" + child.name
                child.map_run_arn = other_run
                children.add(child)
                children.ended(child)
                batch.submit_job(
                    f"run-earlier-b{i:09d}",
                    self.definition,
                    self.queue,
                    array_properties={},
                    parameters={"taskRef": "none"},
                    tags={"sfn-batch-orchestrator:stack": "state-growth"},
                )
                dynamodb.put_item(
                    self.table, {"runId": {"S": "earlier"}, "entryIndex": {"N": str(i)}, "succeeded": {"N": "100"}}
                )
                s3.put_object(self.bucket, f"runs/earlier/results/{i:09d}.jsonl", b'{"index":0}\n' * 100)
        self.count = max(self.count, level)

    def mix(self) -> dict[str, Callable[[], Any]]:
        """The requests timed, by name: each a call of its own (names of their own, fresh keys)."""
        state: dict[str, Any] = {"n": 0}

        def unique() -> str:
            state["n"] += 1
            return f"{state['n']}-{uuid.uuid4().hex[:8]}"

        def start_execution() -> None:
            state["execution"] = self.sfn.start_execution(stateMachineArn=self.trivial, name=unique())["executionArn"]

        def submit_job() -> None:
            state["job"] = self.batch.submit_job(
                jobName=f"run-now-b{unique()}", jobQueue=self.queue, jobDefinition=self.definition
            )["jobId"]

        def send_task_success() -> None:
            self.sfn.send_task_success(taskToken=self.tokens.pop().token, output="{}")

        key = {"runId": {"S": "now"}, "entryIndex": {"N": "-1"}}
        return {
            "StartExecution": start_execution,
            "DescribeExecution": lambda: self.sfn.describe_execution(executionArn=state["execution"]),
            "SendTaskHeartbeat": lambda: self.sfn.send_task_heartbeat(taskToken=self.task.token),
            "SendTaskSuccess": send_task_success,
            "DescribeMapRun": lambda: self.sfn.describe_map_run(mapRunArn=self.map_run),
            "ListExecutions (Map Run)": lambda: self.sfn.list_executions(mapRunArn=self.map_run, maxResults=100),
            "SubmitJob": submit_job,
            "DescribeJobs": lambda: self.batch.describe_jobs(jobs=[state["job"]]),
            "ListJobs (name filter)": lambda: self.batch.list_jobs(
                jobQueue=self.queue, filters=[{"name": "JOB_NAME", "values": ["run-now-*"]}]
            ),
            "PutEvents (a job's state change)": lambda: self.events.put_events(
                Entries=[
                    {"Source": "aws.batch", "DetailType": "Batch Job State Change", "Detail": '{"status": "RUNNING"}'}
                ]
            ),
            "PutItem": lambda: self.dynamodb.put_item(TableName=self.table, Item={**key, "total": {"N": "1"}}),
            "UpdateItem": lambda: self.dynamodb.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="ADD succeeded :n",
                ExpressionAttributeValues={":n": {"N": "1"}},
            ),
            "GetItem": lambda: self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True),
            "PutObject": lambda: self.s3.put_object(Bucket=self.bucket, Key=f"runs/now/{unique()}", Body=b"x" * 1000),
            "GetObject": lambda: self.s3.get_object(Bucket=self.bucket, Key="runs/now/results.jsonl")["Body"].read(),
            "ListObjectsV2 (prefix)": lambda: self.s3.list_objects_v2(Bucket=self.bucket, Prefix="runs/now/results"),
        }


def timed(requests: dict[str, Callable[[], Any]], samples: int) -> dict[str, float]:
    """Each request's median milliseconds over SAMPLES calls, the requests taken in turn."""
    took: dict[str, list[float]] = {name: [] for name in requests}
    for _ in range(samples):
        for name, call in requests.items():
            started = time.perf_counter()
            call()
            took[name].append((time.perf_counter() - started) * 1000)
            time.sleep(BATCH_PAUSE_SECONDS)
    return {name: statistics.median(values) for name, values in took.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", nargs="+", type=int, default=list(LEVELS), metavar="N")
    parser.add_argument("--samples", type=int, default=30, help="calls of each request at each level (median)")
    args = parser.parse_args()
    levels = sorted(args.levels)
    with Emulator(port=free_port()) as emulator:
        held = Held(emulator.endpoint_url)
        held.create()
        requests = held.mix()
        requests["StartExecution"]()
        requests["SubmitJob"]()  # what DescribeExecution and DescribeJobs describe
        held.s3.put_object(Bucket=held.bucket, Key="runs/now/results.jsonl", Body=b'{"index":0}\n' * 100)
        medians = {}
        for level in levels:
            started = time.monotonic()
            held.fill(level)
            filled = time.monotonic() - started
            held.tokens = [held.waiting.start() for _ in range(args.samples)]
            medians[level] = timed(requests, args.samples)
            print(
                f"held {level:,} of each (filled in {filled:.0f} s), {args.samples} calls of each request", flush=True
            )
    print()
    first, last = levels[0], levels[-1]
    print("| Request | " + " | ".join(f"{level:,} held" for level in levels) + f" | {last:,} / {first:,} held |")
    print("|---|" + "---|" * len(levels) + "---|")
    for name in requests:
        cells = " | ".join(f"{medians[level][name]:.1f} ms" for level in levels)
        print(f"| {name} | {cells} | {medians[last][name] / medians[first][name]:.1f}x |")


if __name__ == "__main__":
    main()
