"""python -m run_report: the file it writes, and what it tells an operator who gave it the wrong thing."""

import pytest
from moto import mock_aws

from run_report import __main__ as command
from tests.report.fakes import client_error
from tests.report.fixtures import REGION_ACCOUNT, lines_of, run_data

ARN = f"arn:aws:states:{REGION_ACCOUNT}:execution:nightly-orchestrator:run-1"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = command.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_report_is_written_for_the_stack_of_the_execution(monkeypatch, capsys, tmp_path):
    read = []
    monkeypatch.setattr(command, "collect", lambda c, arn, where: read.append(where) or run_data(lines_of(10)))
    monkeypatch.setattr(command, "locations", lambda args, region, machine: read.append((region, machine)) or "here")

    code, out, _ = run(capsys, "--execution-arn", ARN, "--out", str(tmp_path / "r.html"))

    assert code == 0 and "Report of run run-1 (SUCCEEDED)" in out
    assert read == [("us-east-1", "nightly-orchestrator"), "here"]
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_a_run_in_progress_still_gets_its_report(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(command, "collect", lambda *_: run_data(lines_of(3), status="RUNNING", summary={}))
    argv = ("--execution-arn", ARN, "--bucket", "b", "--table", "t", "--out", str(tmp_path / "r.html"))

    code, out, _ = run(capsys, *argv)

    assert code == 0 and "still in progress" in out
    assert 'id="in-progress"' in (tmp_path / "r.html").read_text()


def test_a_wrong_arn_is_named(capsys):
    code, _, err = run(capsys, "--execution-arn", "arn:aws:states:us-east-1:123456789012:stateMachine:x")

    assert code == 2 and "not a run's execution ARN" in err


def test_a_missing_stack_is_named():
    args = command.arguments(["--execution-arn", ARN])
    with mock_aws(), pytest.raises(command.ReportError, match="no stack 'nightly' in us-east-1: give its name"):
        command.locations(args, "us-east-1", "nightly-orchestrator")


def test_a_missing_permission_names_the_call_and_what_the_report_needs(monkeypatch, capsys, tmp_path):
    def denied(*_):
        raise client_error("AccessDeniedException", "Query")

    monkeypatch.setattr(command, "collect", denied)
    code, _, err = run(capsys, "--execution-arn", ARN, "--bucket", "b", "--table", "t", "--out", str(tmp_path / "r"))

    assert code == 2 and "missing permission: Query was denied" in err
    assert "dynamodb:Query on the audit table" in err
    assert not (tmp_path / "r").exists()


def test_a_run_id_is_found_in_the_stacks_orchestrator(monkeypatch):
    machine = f"arn:aws:states:{REGION_ACCOUNT}:stateMachine:nightly-orchestrator"
    outputs = {"RunsBucketName": "b", "AuditTableName": "t", "OrchestratorStateMachineArn": machine}
    monkeypatch.setattr(command, "stack_outputs", lambda args, region, stack: outputs)

    assert command.execution_arn(command.arguments(["--stack-name", "nightly", "--run-id", "run-1"])) == ARN


def test_a_run_id_needs_its_stack(capsys):
    with pytest.raises(SystemExit):
        command.arguments(["--run-id", "run-1"])
    assert "--run-id needs --stack-name" in capsys.readouterr().err
