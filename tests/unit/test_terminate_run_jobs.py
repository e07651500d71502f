"""The terminator against moto and stubs: the unfinished jobs of a run that ended early are
terminated, and only that run's."""

from typing import Any

import pytest

from tests.support.audit_table import create_audit_table
from tests.support.clients import client
from tests.support.handlers import load_handler
from tests.support.paths import FUNCTIONS


@pytest.fixture
def terminate(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The terminator, with the stack's bucket and audit table (which hold no run of these names:
    never prepared, there is nothing for it to end but the jobs)."""
    client("s3").create_bucket(Bucket="runs")
    monkeypatch.setenv("RUNS_BUCKET", "runs")
    monkeypatch.setenv("AUDIT_TABLE", create_audit_table("audit"))
    return load_handler(FUNCTIONS / "runs", "terminate")


UUID = "1f0c2b7e-5d3a-4c1b-9e8f-0a1b2c3d4e5f"
ARRAY_JOB = f"run-7-array-{UUID}"  # run-<run>-array-<uuid>, as the ASL names it
ORCHESTRATOR = "arn:aws:states:us-east-1:123456789012:stateMachine:sfn-batch-orchestrator-orchestrator"


def execution_ended(name: str, status: str = "FAILED") -> dict[str, Any]:
    """The event of a run (an execution of the orchestrator) that ended."""
    arn = ORCHESTRATOR.replace(":stateMachine:", ":execution:") + f":{name}"
    return {
        "version": "0",
        "id": "e",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-23T10:00:00Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {"executionArn": arn, "stateMachineArn": ORCHESTRATOR, "name": name, "status": status},
    }


def test_the_rule_sends_the_ends_of_runs_of_the_orchestrator():
    from tests.support.template import sam_template

    function = sam_template()["Resources"]["TerminateRunJobsFunction"]["Properties"]
    pattern = function["Events"]["RunEnded"]["Properties"]["Pattern"]
    assert pattern["detail"]["status"] == ["FAILED", "TIMED_OUT", "ABORTED"]
    [machine] = pattern["detail"]["stateMachineArn"]
    assert machine["Fn::Sub"].endswith(":stateMachine:${AWS::StackName}-orchestrator")
    orchestrator = sam_template()["Resources"]["OrchestratorStateMachine"]["Properties"]
    assert orchestrator["Name"] == {"Fn::Sub": "${AWS::StackName}-orchestrator"}


def test_every_page_of_an_ended_runs_jobs_is_terminated(terminate, lambda_context, monkeypatch):
    from botocore.stub import Stubber

    monkeypatch.setenv("JOB_QUEUE", "arn:aws:batch:us-east-1:123456789012:job-queue/queue")
    listing = {
        "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/queue",
        "filters": [{"name": "JOB_NAME", "values": ["run-7-parent-*"]}],
    }
    reason = "run 7-parent FAILED: its jobs must not outlive it"
    with Stubber(terminate.batch) as batch:
        batch.add_response(
            "list_jobs",
            {
                "jobSummaryList": [{"jobId": "a", "jobName": "run-7-parent-b0", "status": "RUNNING"}],
                "nextToken": "more",
            },
            listing,
        )
        batch.add_response(
            "list_jobs",
            {
                "jobSummaryList": [
                    {"jobId": "b", "jobName": f"run-7-parent-array-{UUID}", "status": "RUNNABLE"},
                    {"jobId": "c", "jobName": "run-7-parent-b100", "status": "SUCCEEDED"},
                    {"jobId": "d", "jobName": "run-7-parent-b200", "status": "FAILED"},
                ]
            },
            {**listing, "nextToken": "more"},
        )
        # Every page is listed before any job is stopped (a job stopped does not move the listing on).
        batch.add_response("terminate_job", {}, {"jobId": "a", "reason": reason})
        batch.add_response("terminate_job", {}, {"jobId": "b", "reason": reason})

        result = terminate.lambda_handler(execution_ended("7-parent"), lambda_context)

        batch.assert_no_pending_responses()
    assert result == {"terminated": ["a", "b"], "report": None}


@pytest.mark.parametrize("status", ["TIMED_OUT", "ABORTED"])
def test_the_reason_names_how_the_run_ended(terminate, lambda_context, monkeypatch, status):
    from botocore.stub import Stubber

    monkeypatch.setenv("JOB_QUEUE", "queue")
    with Stubber(terminate.batch) as batch:
        batch.add_response(
            "list_jobs", {"jobSummaryList": [{"jobId": "a", "jobName": "run-r-b0", "status": "STARTING"}]}
        )
        batch.add_response(
            "terminate_job", {}, {"jobId": "a", "reason": f"run r {status}: its jobs must not outlive it"}
        )

        assert terminate.lambda_handler(execution_ended("r", status), lambda_context) == {
            "terminated": ["a"],
            "report": None,
        }

        batch.assert_no_pending_responses()


def test_only_the_unfinished_jobs_named_after_the_run_are_terminated(terminate, lambda_context, monkeypatch):
    """Against moto's Batch: the jobs of run 7 (its batches' and its array job), unfinished, are
    terminated; another run's (named run-70-..., or run-7-2-...: a run may be named after another and a
    dash), an old-style name, and a finished job are not."""
    from moto.batch.models import batch_backends

    from tests.support.batch_queue import fargate_queue, template_job_definition

    batch = client("batch")
    queue = fargate_queue(client("ec2"), client("iam"), batch, "queue", max_vcpus=4)
    definition = template_job_definition(batch, "job")
    monkeypatch.setenv("JOB_QUEUE", queue)
    ids = {
        name: batch.submit_job(jobName=name, jobQueue=queue, jobDefinition=definition)["jobId"]
        for name in ("run-7-b0", ARRAY_JOB, "run-7-b100", "run-70-b0", "run-7-2-b0", "7-job")
    }
    jobs = batch_backends["123456789012"]["us-east-1"]._jobs
    for name in ("run-7-b0", "run-70-b0", "run-7-2-b0", "7-job"):
        jobs[ids[name]].status = "RUNNING"
    jobs[ids[ARRAY_JOB]].status = "RUNNABLE"  # run-7-b100 has SUCCEEDED

    result = terminate.lambda_handler(execution_ended("7"), lambda_context)

    assert sorted(result["terminated"]) == sorted([ids["run-7-b0"], ids[ARRAY_JOB]])
    described = {job["jobName"]: job for job in batch.describe_jobs(jobs=list(ids.values()))["jobs"]}
    stopped = {
        name
        for name, job in described.items()
        if job.get("statusReason") == "run 7 FAILED: its jobs must not outlive it"
    }
    assert stopped == {"run-7-b0", ARRAY_JOB}
