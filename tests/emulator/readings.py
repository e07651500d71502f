"""What the emulator tests read back from a run: a job's record and log, the tasks an execution
scheduled, the states it entered."""

import json
from typing import Any

from tests.emulator.stacks import Deployed


def job(deployed: Deployed, job_id: str) -> dict[str, Any]:
    return deployed.client("batch").describe_jobs(jobs=[job_id])["jobs"][0]


def job_log(deployed: Deployed, described: dict[str, Any]) -> str:
    events = deployed.client("logs").get_log_events(
        logGroupName=deployed.stack.outputs["JobLogGroupName"], logStreamName=described["container"]["logStreamName"]
    )["events"]
    return "\n".join(e["message"] for e in events)


def scheduled(history: list[dict[str, Any]]) -> list[str]:
    """resourceType:resource of every task the execution scheduled, in order."""
    details = [e["taskScheduledEventDetails"] for e in history if e["type"] == "TaskScheduled"]
    return [f"{d['resourceType']}:{d['resource']}" for d in details]


def entered(history: list[dict[str, Any]]) -> list[str]:
    """The states the execution entered, in order: its state transitions."""
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def transitions_of_run(deployed: Deployed, execution_arn: str) -> int:
    """The states every execution of the run entered: the parent's, its batches', and the nested
    executions those started (named in their task's output)."""
    histories = [deployed.history(execution_arn)]
    histories += [deployed.history(batch["executionArn"]) for batch in deployed.batches(execution_arn)]
    nested = [
        json.loads(e["taskSucceededEventDetails"]["output"])["ExecutionArn"]
        for history in histories[1:]
        for e in history
        if e["type"] == "TaskSucceeded" and e["taskSucceededEventDetails"]["resource"] == "startExecution.sync:2"
    ]
    histories += [deployed.history(arn) for arn in nested]
    return sum(len(entered(history)) for history in histories)
