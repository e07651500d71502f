"""The finish function against moto, after runs prepared and accounted by the prepare and account
functions: the run's report, every entry's result exactly once, summary.json, the audit item, and
no job of the run left running."""

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.audit_table import audit_item, create_audit_table, pop_usage
from tests.support.batch_queue import fargate_queue, template_job_definition
from tests.support.clients import client
from tests.support.handlers import load_handler
from tests.support.job_reports import Record, put_report
from tests.support.paths import FUNCTIONS
from tests.support.template import sam_template

RUNS = "runs"
RUN = "run-1"
MAP_RUN = "arn:aws:states:us-east-1:123456789012:mapRun:app-orchestrator/run-1:batches:5f2a"
NOT_RUN_CAUSE = "the run stopped before this entry's batch ran"
STATS = ("durations", "failures", "cost")  # how the run went (run_stats.py, run_cost.py), beside its counts


def counts_of(report: dict[str, Any]) -> dict[str, Any]:
    """The report but its durations, failures and cost."""
    return {key: value for key, value in report.items() if key not in STATS}


def function_environment(function: str, resources: dict[str, str]) -> dict[str, str]:
    """FUNCTION's environment as template.yaml declares it (parameters at their defaults)."""
    template = sam_template()
    environment = {}
    for name, value in template["Resources"][function]["Properties"]["Environment"]["Variables"].items():
        if isinstance(value, dict):
            ref = value["Ref"]
            value = template["Parameters"][ref]["Default"] if ref in template["Parameters"] else resources[ref]
        environment[name] = str(value)
    return environment


class Runs:
    """The functions of a run (prepare, account, finish), the stack's queue and bucket."""

    def __init__(self, context: Any, queue: str, definition: str) -> None:
        self.context, self.queue, self.definition = context, queue, definition
        code = FUNCTIONS / "runs"
        self.prepare = load_handler(code, "prepare")
        self.account = load_handler(code, "account")
        self.finish = load_handler(code, "finish")
        self.s3, self.batch = client("s3"), client("batch")

    def start(self, entries: int, run_id: str = RUN, **settings: Any) -> dict[str, Any]:
        """The run as "Prepare run" leaves it at $.run."""
        request = {"input": {"entries": [{"name": f"entry-{i}"} for i in range(entries)], **settings}}
        run = self.prepare.lambda_handler({"request": request, "runId": run_id}, self.context)
        assert run["valid"] is True, run
        return run

    def batch_of(self, run: dict[str, Any], first: int, last: int) -> dict[str, Any]:
        """A child's input: {Items, BatchInput}, as the Distributed Map's ItemBatcher builds it."""
        lines = self.s3.get_object(Bucket=RUNS, Key=run["entries"]["key"])["Body"].read().decode().splitlines()
        items = [json.loads(line) for line in lines][first : last + 1]
        batch_input = {"runId": run["runId"], "patterns": run["patterns"], "settings": run["settings"]}
        return {"Items": items, "BatchInput": batch_input}

    def job(self, run: dict[str, Any], first: int, status: str = "SUCCEEDED") -> str:
        """A job of the batch FIRST, left in STATUS (moto's Batch ends every job at once)."""
        from moto.batch.models import batch_backends

        job_id = self.batch.submit_job(
            jobName=f"run-{run['runId']}-b{first}", jobQueue=self.queue, jobDefinition=self.definition
        )["jobId"]
        job = batch_backends["123456789012"]["us-east-1"]._jobs[job_id]
        job.status = status
        # One attempt of 90 s, as Batch records it: the run's cost bills its Fargate task 90 s.
        job.attempts = [{"startedAt": 1_700_000_000_000, "stoppedAt": 1_700_000_090_000, "container": {}}]
        return job_id

    def ran(self, run: dict[str, Any], first: int, last: int, failed: tuple[int, ...] = ()) -> dict[str, Any]:
        """The batch's job wrote its report and reported; the Account state made its entries' results
        and accounted it."""
        state = self.batch_of(run, first, last)
        job_id = self.job(run, first)
        records = [
            Record(item["index"], status=1, stderr=b"expected") if item["index"] in failed else Record(item["index"])
            for item in state["Items"]
        ]
        put_report(self.s3, RUNS, run["runId"], first, last, records)
        state["job"] = {"jobId": job_id, "attempt": 1, "entries": len(records), "failed": len(failed)}
        with contextlib.suppress(self.account.EntriesFailed):  # raised when an entry failed
            self.account.lambda_handler({"batch": state}, self.context)
        return state

    def map_results(self, run: dict[str, Any], children: list[dict[str, Any]]) -> dict[str, Any]:
        """The Map Run's ResultWriter files for CHILDREN (their records: Input, Status, Error...)."""
        base = f"{run['mapResultsPrefix']}/5f2a"
        kinds: dict[str, list[dict[str, Any]]] = {}
        for child in children:
            kinds.setdefault("SUCCEEDED" if child["Status"] == "SUCCEEDED" else "FAILED", []).append(child)
        for kind, records in kinds.items():
            body = "".join(json.dumps(record) + "\n" for record in records)
            self.s3.put_object(Bucket=RUNS, Key=f"{base}/{kind}_0.json", Body=body.encode())
        self.s3.put_object(Bucket=RUNS, Key=f"{base}/manifest.json", Body=b"{}")
        return {"MapRunArn": MAP_RUN, "ResultWriterDetails": {"Bucket": RUNS, "Key": f"{base}/manifest.json"}}

    def end(self, run: dict[str, Any], **outcome: Any) -> dict[str, Any]:
        """Finish run, with the Map's outcome ($.map, or $.failure when it failed)."""
        return self.finish.lambda_handler({"run": run, **outcome}, self.context)

    def results(self, run_id: str = RUN) -> dict[str, list[dict[str, Any]]]:
        listing = self.s3.list_objects_v2(Bucket=RUNS, Prefix=f"runs/{run_id}/results/").get("Contents", [])
        return {
            o["Key"].rsplit("/", 1)[1]: [
                json.loads(line)
                for line in self.s3.get_object(Bucket=RUNS, Key=o["Key"])["Body"].read().decode().splitlines()
            ]
            for o in listing
        }

    def summary(self, run_id: str = RUN) -> dict[str, Any]:
        return json.loads(self.s3.get_object(Bucket=RUNS, Key=f"runs/{run_id}/summary.json")["Body"].read())


def record(state: dict[str, Any], status: str, error: str | None = None, cause: str | None = None) -> dict[str, Any]:
    """A child's record in the Map Run's results (COMPACT)."""
    child = {"Input": json.dumps(state, separators=(",", ":")), "InputDetails": {"Included": True}, "Status": status}
    return child | {k: v for k, v in (("Error", error), ("Cause", cause)) if v is not None}


@pytest.fixture
def jobs_sized() -> Iterator[None]:
    """DescribeJobs shows each job's vCPUs and memory, as Batch does (the emulator's patch)."""
    from local_emulator.patches.batch import describe_jobs_shows_resource_requirements
    from local_emulator.patches.registry import Patcher

    patcher = Patcher()
    describe_jobs_shows_resource_requirements(patcher, None)
    yield
    patcher.undo()


@pytest.fixture
def runs(aws: None, jobs_sized: None, monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> Runs:
    client("s3").create_bucket(Bucket=RUNS)
    batch = client("batch")
    queue = fargate_queue(client("ec2"), client("iam"), batch, "queue", max_vcpus=4)
    resources = {"RunsBucket": RUNS, "AuditTable": create_audit_table("audit"), "JobQueue": queue}
    for function in ("PrepareRunFunction", "AccountBatchFunction", "FinishRunFunction"):
        for name, value in function_environment(function, resources).items():
            monkeypatch.setenv(name, value)
    return Runs(lambda_context, queue, template_job_definition(batch, "job"))


def entries_once(results: dict[str, list[dict[str, Any]]], total: int) -> list[str]:
    """Every entry's status, once it is known that each entry has exactly one result."""
    lines = sorted((line for body in results.values() for line in body), key=lambda line: line["index"])
    assert [line["index"] for line in lines] == list(range(total)), "every entry exactly once"
    assert all(line["name"] == f"entry-{line['index']}" for line in lines)
    return [line["status"] for line in lines]


def test_a_run_whose_batches_all_ran_succeeds(runs):
    run = runs.start(5, batchSize=2)
    states = [runs.ran(run, 0, 1), runs.ran(run, 2, 3), runs.ran(run, 4, 4)]
    map_output = runs.map_results(run, [record(state, "SUCCEEDED") for state in states])
    written = runs.results()

    report = runs.end(run, map=map_output)

    assert counts_of(report) == {
        "runId": RUN,
        "status": "SUCCEEDED",
        "total": 5,
        "succeeded": 5,
        "failed": 0,
        "notRun": 0,
        "results": "s3://runs/runs/run-1/results/",
        "summary": "s3://runs/runs/run-1/summary.json",
    }
    assert (report["durations"]["entries"]["count"], report["durations"]["batches"]["count"]) == (5, 3)
    assert report["failures"] == []
    cost = report["cost"]
    # The parent's 6 states and each child's 3; Prepare, three Accounts and Finish; three 90 s tasks
    # of the job definition's 0.25 vCPU and 0.5 GB.
    usage = {k: cost["usage"][k] for k in ("stateTransitions", "lambdaRequests", "fargateTasks")}
    assert usage == {"stateTransitions": 15, "lambdaRequests": 5, "fargateTasks": 3}
    assert (cost["usage"]["fargateVcpuSeconds"], cost["usage"]["fargateGbSeconds"]) == (67.5, 135.0)
    assert cost["parts"]["Fargate"] == round(67.5 * 0.04048 / 3600 + 135 * 0.004445 / 3600, 6)
    assert cost["total"] == pytest.approx(sum(cost["parts"].values()), abs=1e-5)
    assert runs.summary() == report
    assert runs.results() == written, "no result is added to a run whose every batch was accounted"
    assert entries_once(written, 5) == ["SUCCEEDED"] * 5
    item = audit_item("audit", RUN, -1)
    ended = item.pop("endedAt")
    assert ended >= item.pop("startedAt") and item.pop("updatedAt")
    assert json.loads(item.pop("report")) == report, "the report is kept with the run's end"
    assert pop_usage(item)["lambdaRequests"] == 1, "Prepare's usage: Finish's own is in the report"
    assert item == {
        "runId": RUN,
        "entryIndex": -1,
        "status": "SUCCEEDED",
        "total": 5,
        "succeeded": 5,
        "failed": 0,
        "notRun": 0,
        "batchSize": 2,
        "source": "inline",
        "results": "s3://runs/runs/run-1/results/",
    }


def test_failed_entries_within_the_tolerance_leave_the_run_succeeded(runs):
    run = runs.start(4, batchSize=2, toleratedFailureCount=2)
    states = [runs.ran(run, 0, 1, failed=(1,)), runs.ran(run, 2, 3)]
    map_output = runs.map_results(
        run,
        [
            record(states[0], "FAILED", "EntriesFailed", "batch 0-1: 1 of 2 entries failed"),
            record(states[1], "SUCCEEDED"),
        ],
    )

    report = runs.end(run, map=map_output)

    assert (report["status"], report["succeeded"], report["failed"], report["notRun"]) == ("SUCCEEDED", 3, 1, 0)
    assert "error" not in report and "cause" not in report
    assert entries_once(runs.results(), 4) == ["SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    assert audit_item("audit", RUN, -1)["status"] == "SUCCEEDED"


THRESHOLD = {
    "Error": "States.ExceedToleratedFailureThreshold",
    "Cause": "The specified tolerated failure threshold was exceeded",
}


@pytest.fixture
def stopped_run(runs: Runs) -> tuple[dict[str, Any], dict[str, str]]:
    """7 entries in batches of 2; the Map Run stopped past the tolerance (0 %): batch 0-1 ran and
    an entry failed, 2-3 was aborted while its job ran (no account), 4-5 ran, 6 never started."""
    run = runs.start(7, batchSize=2)
    first = runs.ran(run, 0, 1, failed=(1,))
    aborted = runs.batch_of(run, 2, 3)
    jobs = {"aborted": runs.job(run, 2, status="RUNNING")}
    third = runs.ran(run, 4, 5)
    runs.map_results(
        run,
        [
            record(first, "FAILED", "EntriesFailed", "batch 0-1: 1 of 2 entries failed (see their results)"),
            record(aborted, "ABORTED"),
            record(third, "SUCCEEDED"),
        ],
    )
    return run, jobs


def test_past_the_tolerance_the_run_fails_and_every_entry_gets_one_result(runs, stopped_run):
    run, _ = stopped_run
    before = runs.results()

    report = runs.end(run, failure=THRESHOLD)

    assert counts_of(report) == {
        "runId": RUN,
        "status": "FAILED",
        "total": 7,
        "succeeded": 3,
        "failed": 3,
        "notRun": 1,
        "results": "s3://runs/runs/run-1/results/",
        "summary": "s3://runs/runs/run-1/summary.json",
        "error": "EntriesFailed",
        "cause": "3 of 7 entries failed, more than tolerated (toleratedFailurePercentage 0; "
        "a failed batch counts all its entries); 1 did not run. Results: s3://runs/runs/run-1/results/",
    }
    assert {failure["error"]: failure["count"] for failure in report["failures"]} == {
        "States.Aborted": 2,
        "Entry.Failed": 1,
    }
    results = runs.results()
    assert {k: v for k, v in results.items() if k in before} == before, "the batches' own results stay"
    assert {k: v for k, v in results.items() if k not in before} == {
        "000000002-000000003.jsonl": [
            {
                "index": i,
                "name": f"entry-{i}",
                "status": "FAILED",
                "error": "States.Aborted",
                "cause": "its batch ended without an account",
            }
            for i in (2, 3)
        ],
        "000000006-000000006.jsonl": [
            {
                "index": 6,
                "name": "entry-6",
                "status": "NOT_RUN",
                "error": "States.ExceedToleratedFailureThreshold",
                "cause": NOT_RUN_CAUSE,
            }
        ],
    }
    assert entries_once(results, 7) == ["SUCCEEDED", "FAILED", "FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED", "NOT_RUN"]
    assert runs.summary() == report
    item = audit_item("audit", RUN, -1)
    assert (item["status"], item["succeeded"], item["failed"], item["notRun"]) == ("FAILED", 3, 3, 1)


def test_the_results_of_entries_no_batch_accounted_are_written_once(runs, stopped_run):
    run, _ = stopped_run
    runs.end(run, failure=THRESHOLD)
    s3 = client("s3")
    written = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=RUNS, Prefix="runs/run-1/results/")["Contents"]}

    runs.end(run, failure=THRESHOLD)  # a retried Finish run state

    again = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=RUNS, Prefix="runs/run-1/results/")["Contents"]}
    assert again == written
    assert len(written) == 4


def test_a_retried_finish_reports_what_the_first_did(runs, stopped_run):
    run, _ = stopped_run
    first = runs.end(run, failure=THRESHOLD)

    again = runs.end(run, failure=THRESHOLD)

    assert again == first
    assert runs.summary() == first
    assert audit_item("audit", RUN, -1)["notRun"] == 1


def test_the_runs_unfinished_jobs_are_terminated(runs, stopped_run):
    run, jobs = stopped_run
    queued = runs.job(run, 6, status="RUNNABLE")
    other = runs.job(runs.start(1, run_id="run-10"), 0, status="RUNNING")  # run-10's: not run-1's

    runs.end(run, failure=THRESHOLD)

    described = {job["jobId"]: job for job in runs.batch.describe_jobs(jobs=[jobs["aborted"], queued, other])["jobs"]}
    reason = "run run-1 ended: its jobs must not outlive it"
    assert described[jobs["aborted"]].get("statusReason") == reason
    assert described[queued].get("statusReason") == reason
    assert described[other].get("statusReason") is None
    finished = runs.batch.list_jobs(jobQueue=runs.queue, filters=[{"name": "JOB_NAME", "values": ["run-run-1-b0"]}])
    [done] = finished["jobSummaryList"]
    assert runs.batch.describe_jobs(jobs=[done["jobId"]])["jobs"][0].get("statusReason") is None


def test_the_end_of_a_run_leaves_another_runs_jobs_alone(runs):
    run = runs.start(1)
    runs.ran(run, 0, 0)
    other = runs.job(runs.start(1, run_id="run-1-b"), 0, status="RUNNING")

    runs.end(run, map={})

    [job] = runs.batch.describe_jobs(jobs=[other])["jobs"]
    assert job.get("statusReason") is None


def test_entries_of_every_batch_that_never_ran_are_not_run(runs):
    run = runs.start(25, batchSize=3)
    for first in (0, 6, 12, 18, 24):
        runs.ran(run, first, min(first + 2, 24))

    report = runs.end(run, failure={"Error": "States.ExceedToleratedFailureThreshold"})

    assert (report["succeeded"], report["failed"], report["notRun"]) == (13, 0, 12)
    results = runs.results()
    assert sorted(k for k in results if results[k][0]["status"] == "NOT_RUN") == [
        "000000003-000000005.jsonl",
        "000000009-000000011.jsonl",
        "000000015-000000017.jsonl",
        "000000021-000000023.jsonl",
    ]
    assert entries_once(results, 25) == (["SUCCEEDED"] * 3 + ["NOT_RUN"] * 3) * 4 + ["SUCCEEDED"]


def test_a_map_that_failed_before_any_batch_leaves_every_entry_not_run(runs):
    run = runs.start(3)
    cause = "S3 GetObject: Access Denied " + "x" * 5000

    report = runs.end(run, failure={"Error": "States.ItemReaderFailed", "Cause": cause})

    assert (report["status"], report["error"], report["cause"]) == ("FAILED", "States.ItemReaderFailed", cause[:4096])
    assert (report["succeeded"], report["failed"], report["notRun"]) == (0, 0, 3)
    assert runs.results() == {
        "000000000-000000002.jsonl": [
            {
                "index": i,
                "name": f"entry-{i}",
                "status": "NOT_RUN",
                "error": "States.ItemReaderFailed",
                "cause": NOT_RUN_CAUSE,
            }
            for i in range(3)
        ]
    }


def test_a_failure_without_a_name_is_a_runtime_error(runs):
    run = runs.start(2)

    report = runs.end(run, failure={"Cause": "no error name"})

    assert (report["status"], report["error"], report["cause"], report["notRun"]) == (
        "FAILED",
        "States.Runtime",
        "no error name",
        2,
    )
    assert {line["error"] for body in runs.results().values() for line in body} == {"States.Runtime"}


def test_a_batch_that_timed_out_without_an_account_fails_with_its_error(runs):
    run = runs.start(4, batchSize=2)
    first = runs.ran(run, 0, 1)
    late = runs.batch_of(run, 2, 3)
    map_output = runs.map_results(
        run, [record(first, "SUCCEEDED"), record(late, "TIMED_OUT", "States.Timeout", "the child timed out")]
    )

    report = runs.end(run, map=map_output)

    assert (report["status"], report["succeeded"], report["failed"], report["notRun"]) == ("SUCCEEDED", 2, 2, 0)
    assert runs.results()["000000002-000000003.jsonl"] == [
        {
            "index": i,
            "name": f"entry-{i}",
            "status": "FAILED",
            "error": "States.Timeout",
            "cause": "the child timed out",
        }
        for i in (2, 3)
    ]


def stopped_by_hand(runs: Runs, status: str = "ABORTED") -> dict[str, Any]:
    """The event of the parent's end, as the terminator receives it (StopExecution names no error)."""
    arn = f"arn:aws:states:us-east-1:123456789012:execution:app-orchestrator:{RUN}"
    detail = {"executionArn": arn, "name": RUN, "status": status, "error": None, "cause": None}
    return runs.terminate.lambda_handler(
        {"detail-type": "Step Functions Execution Status Change", "detail": detail}, runs.context
    )


def submitted(run: dict[str, Any], first: int, last: int, job_id: str) -> None:
    """The batch's audit item as the submit function leaves it."""
    client("dynamodb").put_item(
        TableName="audit",
        Item={
            "runId": {"S": run["runId"]},
            "entryIndex": {"N": str(first)},
            "lastIndex": {"N": str(last)},
            "status": {"S": "RUNNING"},
            "jobId": {"S": job_id},
        },
    )


@pytest.fixture
def terminating(runs: Runs, monkeypatch: pytest.MonkeyPatch) -> Runs:
    for name, value in function_environment(
        "TerminateRunJobsFunction", {"RunsBucket": RUNS, "AuditTable": "audit", "JobQueue": runs.queue}
    ).items():
        monkeypatch.setenv(name, value)
    runs.terminate = load_handler(FUNCTIONS / "runs", "terminate")
    return runs


def test_a_run_stopped_by_hand_ends_with_every_entry_once_and_can_be_rerun(terminating):
    """Stopped by StopExecution while its second batch's job runs: no Finish, no Map Run record."""
    runs = terminating
    run = runs.start(7, batchSize=2)
    runs.ran(run, 0, 1)
    job = runs.job(run, 2, status="RUNNING")
    submitted(run, 2, 3, job)
    # The batch's results, written by an Account that then stopped (its Lambda timed out) before it recorded them.
    unrecorded = (
        b'{"index":2,"name":"entry-2","status":"SUCCEEDED"}\n{"index":3,"name":"entry-3","status":"SUCCEEDED"}\n'
    )
    runs.s3.put_object(Bucket=RUNS, Key="runs/run-1/results/000000002-000000003.jsonl", Body=unrecorded)

    outcome = stopped_by_hand(runs)

    report = outcome["report"]
    assert outcome["terminated"] == [job]
    assert {k: report[k] for k in ("status", "succeeded", "failed", "notRun", "error")} == {
        "status": "ABORTED",
        "succeeded": 2,
        "failed": 2,
        "notRun": 3,
        "error": "States.Aborted",
    }
    assert runs.summary() == report
    results = runs.results()
    assert entries_once(results, 7) == ["SUCCEEDED"] * 2 + ["FAILED"] * 2 + ["NOT_RUN"] * 3
    assert [line["error"] for line in results["000000002-000000003.jsonl"]] == ["States.Aborted"] * 2
    item = audit_item("audit", RUN, -1)
    assert (item["status"], item["succeeded"], item["failed"], item["notRun"]) == ("ABORTED", 2, 2, 3)
    assert stopped_by_hand(runs)["report"] == report, "a second delivery of the event changes nothing"
    assert runs.end(run, failure={"Error": "States.Aborted"}) == report, "nor does a late Finish"

    rerun = runs.prepare.lambda_handler({"request": {"input": {"rerunOf": RUN}}, "runId": "run-2"}, runs.context)

    assert (rerun["valid"], rerun["total"]) == (True, 5)


def test_a_run_that_timed_out_ends_with_its_error_and_a_run_never_prepared_has_nothing_to_end(terminating):
    runs = terminating
    run = runs.start(3, batchSize=2)
    runs.ran(run, 0, 1)

    report = stopped_by_hand(runs, "TIMED_OUT")["report"]

    assert (report["status"], report["error"], report["notRun"]) == ("TIMED_OUT", "States.Timeout", 1)
    assert runs.terminate.lambda_handler(
        {"detail": {"executionArn": "arn", "name": "refused", "status": "FAILED"}}, runs.context
    ) == {"terminated": [], "report": None}


def test_a_failure_count_the_request_set_is_the_tolerance_named(runs):
    run = runs.start(3, batchSize=1, toleratedFailureCount=1)
    for index in range(3):
        runs.ran(run, index, index, failed=(index,))

    report = runs.end(run, failure=THRESHOLD)

    assert "more than tolerated (toleratedFailureCount 1; a failed batch" in report["cause"]
