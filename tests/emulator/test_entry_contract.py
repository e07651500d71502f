"""The entry contract through the whole application (docs/entry-contract.md): a user's own command,
living outside the project, over 1,000 entries with no edit to the project; a request's own command
only where the stack allows it; a timeout and the outputs as the results record them."""

import json
from pathlib import Path

import pytest

from tests.emulator.stacks import Deployed, deployed

# The user's command: the entry's index doubled and its JSON's length as its output document, and the
# entry itself as an output file. Plain sh, no jq.
OWN_COMMAND = """#!/bin/sh
set -eu
length=$(wc -c <"$ENTRY_FILE")
printf '{"doubled": %d, "length": %d, "attempt": %d}' $((ENTRY_INDEX * 2)) "$length" "$ENTRY_ATTEMPT" >"$ENTRY_OUTPUT"
cp "$ENTRY_FILE" "$ENTRY_OUTPUT_DIR/entry.json"
"""


@pytest.fixture(scope="module")
def own(emulator, tmp_path_factory) -> Deployed:
    folder = tmp_path_factory.mktemp("my-work")  # the user's own folder, outside the project
    (folder / "double.sh").write_text(OWN_COMMAND)
    parameters = {
        "EntryCommand": f"sh {folder / 'double.sh'}",
        "AllowRequestCommand": "true",
        "NestedWaitSeconds": "0",
        "ArrayJobSize": "0",
        "MapMaxConcurrency": "10",
        "EntryParallelism": "8",
    }
    return deployed(emulator, "own-command", parameters)


def results_of(stack: Deployed, run_id: str) -> list[dict]:
    s3, bucket = stack.client("s3"), stack.stack.outputs["RunsBucketName"]
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"runs/{run_id}/results/"):
        for listed in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read().decode()
            lines += [json.loads(line) for line in body.split("\n") if line]
    return sorted(lines, key=lambda r: r["index"])


@pytest.mark.scale  # about 40 s: make test-scale
def test_a_users_own_command_runs_over_1000_entries_with_no_edit_to_the_project(own: Deployed):
    entries = [{"name": f"item-{i:04d}", "payload": "x" * (i % 7)} for i in range(1000)]

    result = own.run({"input": {"entries": entries, "batchSize": 100}}, timeout=600)

    assert result.status == "SUCCEEDED", result.report
    results = results_of(own, result.run_id)
    assert [r["index"] for r in results] == list(range(1000))
    bucket = own.stack.outputs["RunsBucketName"]
    for r, entry in zip(results, entries, strict=True):
        length = len(json.dumps(entry, separators=(",", ":"))) + 1  # the line the command read
        assert (r["status"], r["output"]) == ("SUCCEEDED", {"doubled": 2 * r["index"], "length": length, "attempt": 1})
        assert r["outputs"] == f"s3://{bucket}/runs/{result.run_id}/outputs/{r['index']}/"
        assert r["attempts"] == 1 and r["seconds"] >= 0 and r["startedAt"] <= r["endedAt"]
    s3 = own.client("s3")
    kept = s3.get_object(Bucket=bucket, Key=f"runs/{result.run_id}/outputs/999/entry.json")["Body"].read()
    assert json.loads(kept) == entries[999]


def test_a_request_may_run_its_own_command_and_timeout_where_the_stack_allows(own: Deployed):
    request = {
        "entries": [{"name": "quick"}, {"name": "slow"}],
        "entry": {"command": 'case "$ENTRY_NAME" in slow) sleep 30;; esac', "timeoutSeconds": 1, "attempts": 1},
        "toleratedFailureCount": 1,
        "batchSize": 1,  # a failed batch counts all its entries against the tolerance
    }

    result = own.run({"input": request}, timeout=120)

    assert result.status == "SUCCEEDED", result.report
    quick, slow = results_of(own, result.run_id)
    assert quick["status"] == "SUCCEEDED" and "output" not in quick
    assert (slow["status"], slow["error"], slow["attempts"]) == ("FAILED", "Entry.Timeout", 1)


def test_a_request_cannot_choose_the_command_on_a_stack_that_does_not_allow_it(callback_only: Deployed, tmp_path):
    marker = tmp_path / "ran"
    request = {"entries": [{"name": "a"}], "entry": {"command": f"touch {marker}"}}

    result = callback_only.run({"input": request}, timeout=120)

    assert (result.status, result.error) == ("FAILED", "InvalidRequest")
    assert "AllowRequestCommand" in result.cause
    assert not Path(marker).exists()


READ_MY_DATA = 'aws s3api get-object --bucket my-data --key greeting.txt "$ENTRY_OUTPUT_DIR/greeting.txt"'


def test_what_the_command_needs_beyond_the_stack_is_granted_by_job_policy_arns(emulator, own: Deployed):
    """A command reading the user's own bucket is refused as AWS would refuse it, until the stack
    attaches the user's managed policy to the job's role (JobPolicyArns)."""
    s3, iam = own.client("s3"), own.client("iam")
    s3.create_bucket(Bucket="my-data")
    s3.put_object(Bucket="my-data", Key="greeting.txt", Body=b"hello")
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::my-data/*"}],
    }
    policy = iam.create_policy(PolicyName="read-my-data", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    granted = deployed(emulator, "own-policies", {**own.stack.parameters, "JobPolicyArns": policy})
    request = {"input": {"entries": [{"name": "greet"}], "entry": {"command": READ_MY_DATA, "attempts": 1}}}

    refused, allowed = own.run(request, timeout=120), granted.run(request, timeout=120)

    [entry] = refused.entries
    assert (refused.status, entry.status, entry.error) == ("FAILED", "FAILED", "Entry.Failed")
    assert "AccessDenied" in entry.cause
    assert allowed.status == "SUCCEEDED", allowed.report
    bucket = granted.stack.outputs["RunsBucketName"]
    kept = granted.client("s3").get_object(Bucket=bucket, Key=f"runs/{allowed.run_id}/outputs/0/greeting.txt")
    assert kept["Body"].read() == b"hello"
