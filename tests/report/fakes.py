"""Step Functions and Batch as the report reads them, for runs made up in a test (moto records no
Map Run, and its jobs' times are its own); S3 and DynamoDB are moto's."""

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from tests.report.fixtures import REGION_ACCOUNT, T0

MAP_RUN = f"arn:aws:states:{REGION_ACCOUNT}:mapRun:s-orchestrator/Run:m1"


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (a test's)"}}, operation)


class Pages:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return self.pages


class FakeStepFunctions:
    """A parent execution with one Map Run of CHILDREN, listed 100 a page."""

    def __init__(self, parent: dict[str, Any], children: list[dict[str, Any]]) -> None:
        self.parent, self.children = parent, children

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        if executionArn != self.parent["executionArn"]:
            raise client_error("ExecutionDoesNotExist", "DescribeExecution")
        return self.parent

    def describe_map_run(self, mapRunArn: str) -> dict[str, Any]:  # noqa: N803
        succeeded = sum(1 for c in self.children if c["status"] == "SUCCEEDED")
        counts = {"succeeded": succeeded, "failed": len(self.children) - succeeded, "total": len(self.children)}
        return {"mapRunArn": mapRunArn, "executionCounts": counts}

    def get_paginator(self, operation: str) -> Pages:
        if operation == "list_map_runs":
            return Pages([{"mapRuns": [{"mapRunArn": MAP_RUN}] if self.children else []}])
        assert operation == "list_executions"
        return Pages([{"executions": self.children[i : i + 100]} for i in range(0, len(self.children), 100)])


class FakeBatch:
    """Describes the jobs in JOBS; THROTTLED calls are refused first, as Batch past its rate."""

    def __init__(self, jobs: dict[str, dict[str, Any]], throttled: int = 0) -> None:
        self.jobs, self.throttled, self.calls = jobs, throttled, []

    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]:
        self.calls.append(len(jobs))
        assert len(jobs) <= 100, "DescribeJobs takes at most 100 jobs"
        if self.throttled:
            self.throttled -= 1
            raise client_error("TooManyRequestsException", "DescribeJobs")
        return {"jobs": [self.jobs[j] for j in jobs if j in self.jobs]}


def child(number: int, status: str = "SUCCEEDED", running: bool = False) -> dict[str, Any]:
    start = T0 + timedelta(seconds=number)
    found = {
        "executionArn": f"arn:aws:states:{REGION_ACCOUNT}:execution:s-orchestrator/Run:b{number}",
        "name": f"b{number}",
        "status": "RUNNING" if running else status,
        "startDate": start,
    }
    if not running:
        found["stopDate"] = start + timedelta(seconds=20)
    return found


def job(job_id: str, number: int, status: str = "SUCCEEDED") -> dict[str, Any]:
    created = int((T0 + timedelta(seconds=number + 1)).timestamp() * 1000)
    return {
        "jobId": job_id,
        "status": status,
        "createdAt": created,
        "startedAt": created + 2000,
        "stoppedAt": created + 15000,
    }
