"""Stacks the emulator tests deploy (their parameters), a deployed stack's views, and the sample payloads."""

import json
import shlex
import time
from dataclasses import dataclass
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from local_emulator.deploy import Stack, deploy
from local_emulator.runner import OrchestratorRun, RunResult
from local_emulator.server import Emulator
from tests.support.paths import TEMPLATE, TEST_COMMANDS, TEST_INPUTS


def sleep_command(seconds: int) -> str:
    """The tests' entry command: it sleeps, and fails an entry that asks (expectedJobStatus FAILED)."""
    return f"sh {shlex.quote(str(TEST_COMMANDS / 'sleep-entry.sh'))} {seconds}"


# Small sleeps and heartbeats keep the suite fast; every wait below is bounded.
# FAST runs every batch through the demonstration patterns; the others take the lean path.
FAST = {
    "batchSleepDuration": "1",
    "EntryCommand": sleep_command(1),
    "NestedWaitSeconds": "1",
    "ArrayJobSize": "2",
    "Patterns": "full",
}


CALLBACK_ONLY = {"EntryCommand": sleep_command(1), "NestedWaitSeconds": "0", "ArrayJobSize": "0"}


# AWS's floor (template.yaml: JobHeartbeatSeconds MinValue; a Fargate job takes a minute or more to
# start its script): the tests that wait the heartbeat out are marked `minutes` and run by
# make test-scale, not make test.
SLOW_HEARTBEAT_SECONDS = 120


SLOW = {
    "EntryCommand": sleep_command(300),
    "NestedWaitSeconds": "0",
    "ArrayJobSize": "0",
    "JobHeartbeatSeconds": str(SLOW_HEARTBEAT_SECONDS),
}


@dataclass
class Deployed:
    emulator: Emulator
    stack: Stack

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.emulator.endpoint_url)

    def run(self, payload: dict[str, Any], timeout: float = 300) -> RunResult:
        runner = OrchestratorRun(self.emulator.endpoint_url, self.stack)
        started = time.monotonic()
        execution = runner.start(payload)
        description = runner.wait(execution, timeout, progress=False)
        return runner.result(description, time.monotonic() - started)

    def start_with_running_job(self, name: str) -> tuple[OrchestratorRun, str, str, Any]:
        """Start one entry; return once its callback job's process runs (and has sent its first heartbeat)."""
        runner = OrchestratorRun(self.emulator.endpoint_url, self.stack)
        execution = runner.start({"input": {"entries": [{"name": name}]}})
        deadline = time.monotonic() + 240
        while (job_id := self._running_job_of(execution)) is None or (
            process := self.emulator.batch.running.get(job_id)
        ) is None:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.2)
        time.sleep(1)  # let the script send its first heartbeat
        return runner, execution, job_id, process

    def _running_job_of(self, execution_arn: str) -> str | None:
        """The running job submitted for this run (its audit key names the run), never another test's."""
        batch, queue = self.client("batch"), self.stack.outputs["JobQueueArn"]
        running = [j["jobId"] for j in batch.list_jobs(jobQueue=queue, jobStatus="RUNNING")["jobSummaryList"]]
        run_id = execution_arn.rsplit(":", 1)[-1]
        mine = [
            j["jobId"]
            for j in (batch.describe_jobs(jobs=running)["jobs"] if running else [])
            if j["parameters"].get("auditRunId") == run_id
        ]
        return mine[0] if mine else None

    def finished_job(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        """The job once it has ended: a script that reported can still be exiting when its task ends."""
        batch = self.client("batch")
        deadline = time.monotonic() + timeout
        while (job := batch.describe_jobs(jobs=[job_id])["jobs"][0])["status"] not in ("SUCCEEDED", "FAILED"):
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout} s"
            time.sleep(0.2)
        return job

    def audit(self, execution_arn: str) -> list[dict[str, Any]]:
        """The run's audit items, as a Query returns them: the summary (entryIndex -1), then its entries."""
        run_id = execution_arn.rsplit(":", 1)[-1]
        items = self.client("dynamodb").query(
            TableName=self.stack.outputs["AuditTableName"],
            KeyConditionExpression="runId = :run",
            ExpressionAttributeValues={":run": {"S": run_id}},
        )["Items"]
        plain = TypeDeserializer()
        return [{key: plain.deserialize(value) for key, value in item.items()} for item in items]

    def executions(self) -> list[str]:
        """Every execution of the stack: its runs, their batches (Map Run children), the nested ones."""
        sfn = self.client("stepfunctions")
        runner = OrchestratorRun(self.emulator.endpoint_url, self.stack)
        runs = [
            execution["executionArn"]
            for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.stack.outputs["OrchestratorStateMachineArn"]
            )
            for execution in page["executions"]
        ]
        nested = [
            execution["executionArn"]
            for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.stack.outputs["CallbackNotifyStateMachineArn"]
            )
            for execution in page["executions"]
        ]
        return [arn for run in runs for arn in runner.executions_of(run)] + nested

    def batches(self, execution_arn: str) -> list[dict[str, Any]]:
        """The run's batches: its Map Run's child executions, described, in the order of their entries."""
        sfn = self.client("stepfunctions")
        runner = OrchestratorRun(self.emulator.endpoint_url, self.stack)
        described = [sfn.describe_execution(executionArn=arn) for arn in runner.executions_of(execution_arn)[1:]]
        return sorted(described, key=lambda d: json.loads(d["input"])["Items"][0]["index"])

    def task_tokens(self) -> set[str]:
        """Every task token the stack's executions handed out (their histories hold them)."""
        tokens = set()
        for execution in self.executions():
            for event in self.history(execution):
                parameters = event.get("taskScheduledEventDetails", {}).get("parameters")
                if parameters and "taskToken" in parameters:
                    tokens.add(json.loads(parameters)["Payload"]["taskToken"])
        return tokens

    def token_of_job(self, job_id: str) -> str:
        """The token a job reads by its reference, as the job's script reads it."""
        job = self.client("batch").describe_jobs(jobs=[job_id])["jobs"][0]
        table = {e["name"]: e["value"] for e in job["container"]["environment"]}["TASK_TOKEN_TABLE"]
        key = {"ref": {"S": job["parameters"]["taskRef"]}}
        return self.client("dynamodb").get_item(TableName=table, Key=key)["Item"]["taskToken"]["S"]

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        return [
            e
            for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
            for e in page["events"]
        ]


def deployed(emulator: Emulator, name: str, parameters: dict[str, str]) -> Deployed:
    return Deployed(emulator, deploy(emulator.endpoint_url, TEMPLATE, parameters, stack_name=name))


def payload(name: str) -> dict[str, Any]:
    return json.loads((TEST_INPUTS / name).read_text())
