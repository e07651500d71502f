"""The local record of a run: the report (report.json, and report.html: run_report's page of it),
every entry's result, the executions with their histories, the jobs with their logs and each
function's log, with every task token shortened to its last 8 characters (tokens are credentials).
The emulator writes it after `run`; on AWS, CloudWatch and the run's results hold the same."""

import json
import re
import sys
from pathlib import Path
from typing import Any

from local_emulator.runner import OrchestratorRun, RunResult
from run_report import write_report

# A record of a large run keeps the first executions and jobs only (the results in S3 hold every entry).
RECORDED_EXECUTIONS = 200
RECORDED_JOBS = 400
TOKEN_FIELD = re.compile(r'("(?:taskToken|TaskToken|token)\\?"\s*:\s*\\?")([^"\\]{9,})(\\?")')


def redact_tokens(text: str) -> str:
    """Task tokens are credentials: a record keeps only their last 8 characters."""
    return TOKEN_FIELD.sub(lambda m: f"{m.group(1)}...{m.group(2)[-8:]}{m.group(3)}", text)


def write_record(runner: OrchestratorRun, result: RunResult, folder: Path, lambda_journal: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write = lambda name, data: (folder / name).write_text(redact_tokens(json.dumps(data, indent=2, default=str)))  # noqa: E731
    write("stack-outputs.json", runner.stack.outputs)
    write("report.json", {"execution": result.execution_arn, "status": result.status, "report": result.report})
    with (folder / "results.jsonl").open("w") as results:
        results.writelines(json.dumps(e.__dict__) + "\n" for e in result.entries)
    executions = folder / "executions"
    executions.mkdir(exist_ok=True)
    arns = runner.executions_of(result.execution_arn)
    for arn in arns[:RECORDED_EXECUTIONS]:
        history = [
            e for p in runner.sfn.get_paginator("get_execution_history").paginate(executionArn=arn) for e in p["events"]
        ]
        name = arn.split(":execution:", 1)[1].replace("/", ".").replace(":", ".")
        write(
            f"executions/{name}.json",
            {"execution": runner.sfn.describe_execution(executionArn=arn), "history": history},
        )
        history_of_nested = [
            json.loads(e["taskSucceededEventDetails"]["output"]).get("ExecutionArn")
            for e in history
            if e.get("taskSucceededEventDetails", {}).get("resource") == "startExecution.sync:2"
        ]
        for nested in filter(None, history_of_nested):
            events = [
                e
                for p in runner.sfn.get_paginator("get_execution_history").paginate(executionArn=nested)
                for e in p["events"]
            ]
            write(
                f"executions/{nested.split(':execution:', 1)[1].replace(':', '.')}.json",
                {"execution": runner.sfn.describe_execution(executionArn=nested), "history": events},
            )
    jobs = folder / "jobs"
    jobs.mkdir(exist_ok=True)
    log_group = runner.stack.outputs["JobLogGroupName"]
    for job in runner.all_jobs()[:RECORDED_JOBS]:
        write(f"jobs/{job['jobId'].replace(':', '-')}.json", job)
        stream = job.get("container", {}).get("logStreamName")
        if stream:
            try:
                events = runner.logs.get_log_events(logGroupName=log_group, logStreamName=stream)["events"]
                text = "".join(e["message"] + "\n" for e in events)
            except runner.logs.exceptions.ResourceNotFoundException:  # a job's log is published as it ends
                text = f"(no log yet: the job was {job['status']} when this record was written)\n"
            (jobs / f"{job['jobId'].replace(':', '-')}.log").write_text(redact_tokens(text))
    functions = folder / "functions"
    functions.mkdir(exist_ok=True)
    by_function: dict[str, list[str]] = {}
    for invocation in lambda_journal.invocations:
        by_function.setdefault(invocation.function_name, []).append(invocation.logs)
    for name, logs in by_function.items():
        (functions / f"{name}.log").write_text(redact_tokens("".join(logs)))
    try:  # the record stands without its page
        write_report(folder / "report.html", result.execution_arn, runner, runner.stack.outputs, console_links=False)
    except Exception as error:
        print(f"report.html not written: {error!r}", file=sys.stderr)
    result.record_dir = folder
