"""The prepare function against moto: every rule of a request, causes that say exactly what is wrong
and where, the run's entries file, its settings and its audit item."""

import json
import re
from typing import Any

import pytest

from tests.support.audit_table import audit_item, create_audit_table, pop_usage
from tests.support.clients import client
from tests.support.handlers import load_handler
from tests.support.paths import FUNCTIONS, STATE_MACHINES, TEST_INPUTS
from tests.support.template import sam_template

RUNS = "runs"
REQUESTS = "requests"
RUN = "run-1"
# The stack's defaults (template.yaml) as the function receives them.
DEFAULT_ENTRY = {"command": "s3-digest", "timeoutSeconds": 300, "attempts": 2, "backoffSeconds": 1, "parallelism": 4}
DEFAULT_SETTINGS = {
    "sleepSeconds": 20,
    "arrayJobSize": 2,
    "nestedWaitSeconds": 5,
    "nestedTimeoutSeconds": 5 + 780,
    "jobCallbackTimeoutSeconds": 3600,
    "jobHeartbeatSeconds": 600,
    "maxConcurrency": 64,
    "entry": DEFAULT_ENTRY,
}


def template_environment(function: str, resources: dict[str, str]) -> dict[str, str]:
    """FUNCTION's environment as template.yaml declares it: each parameter at its default, each
    resource by the name RESOURCES gives it."""
    template = sam_template()
    variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
    environment = {}
    for name, value in variables.items():
        if isinstance(value, dict):
            ref = value["Ref"]
            value = template["Parameters"][ref]["Default"] if ref in template["Parameters"] else resources[ref]
        environment[name] = str(value)
    return environment


@pytest.fixture
def prepare(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    s3 = client("s3")
    for bucket in (RUNS, REQUESTS):
        s3.create_bucket(Bucket=bucket)
    resources = {"RunsBucket": RUNS, "AuditTable": create_audit_table("audit")}
    for name, value in template_environment("PrepareRunFunction", resources).items():
        monkeypatch.setenv(name, value)
    return load_handler(FUNCTIONS / "runs", "prepare")


def prepared(prepare: Any, context: Any, request: Any, run_id: str = RUN) -> dict[str, Any]:
    """What the orchestrator's "Prepare run" state receives for REQUEST (the execution's input)."""
    return prepare.lambda_handler({"request": request, "runId": run_id}, context)


def inline(*entries: Any, **settings: Any) -> dict[str, Any]:
    return {"input": {"entries": list(entries), **settings}}


def from_object(key: str, body: str | bytes, bucket: str = REQUESTS, **source: Any) -> dict[str, Any]:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return {"input": {"source": {"bucket": bucket, "key": key, **source}}}


def entries_file(run_id: str = RUN) -> list[dict[str, Any]]:
    body = client("s3").get_object(Bucket=RUNS, Key=f"runs/{run_id}/entries.jsonl")["Body"].read()
    return [json.loads(line) for line in body.decode().splitlines()]


def run_objects() -> list[str]:
    return [o["Key"] for o in client("s3").list_objects_v2(Bucket=RUNS).get("Contents", [])]


def cause_of_refusal(result: dict[str, Any], run_id: str = RUN) -> str:
    """The cause of a refused request, once it is known that nothing was prepared for its run."""
    assert set(result) == {"valid", "error", "cause"}
    assert (result["valid"], result["error"]) == (False, "InvalidRequest")
    assert [key for key in run_objects() if key.startswith(f"runs/{run_id}/")] == [], "a refused request writes nothing"
    items = client("dynamodb").scan(TableName="audit")["Items"]
    assert [item for item in items if item["runId"]["S"] == run_id] == [], "a refused request is no run"
    return result["cause"]


def accepted(run_id: str, total: int, **settings: Any) -> dict[str, Any]:
    """The whole answer for an accepted request of TOTAL entries, at the stack's defaults but SETTINGS."""
    return {
        "valid": True,
        "runId": run_id,
        "total": total,
        "batchSize": 100,
        "toleratedFailurePercentage": 0.0,
        "toleratedFailureCount": total,
        "patterns": "lean",
        "settings": DEFAULT_SETTINGS,
        "entries": {"bucket": RUNS, "key": f"runs/{run_id}/entries.jsonl"},
        "results": {"bucket": RUNS, "prefix": f"runs/{run_id}/results/"},
        "mapResultsPrefix": f"runs/{run_id}/map",
        **settings,
    }


# ------------------------------------------------------------------ inline entries


@pytest.mark.parametrize(
    "payload", ["orchestrator-step-function-payload.json", "orchestrator-with-failure-payload.json"]
)
def test_sample_payloads_are_accepted(prepare, lambda_context, payload):
    request = json.loads((TEST_INPUTS / payload).read_text())
    entries = request["input"]["entries"]

    assert prepared(prepare, lambda_context, request) == accepted(RUN, len(entries))
    assert entries_file() == [{"index": i, "name": e["name"], "entry": e} for i, e in enumerate(entries)]


def test_inline_entries_are_written_in_order_with_every_field(prepare, lambda_context):
    entries = [{"name": "b", "expectedJobStatus": "FAILED", "size": 3}, {"name": "a", "nested": {"x": [1, None]}}]

    result = prepared(prepare, lambda_context, inline(*entries))

    assert result["valid"] is True and result["total"] == 2
    assert entries_file() == [
        {"index": 0, "name": "b", "entry": {"name": "b", "expectedJobStatus": "FAILED", "size": 3}},
        {"index": 1, "name": "a", "entry": {"name": "a", "nested": {"x": [1, None]}}},
    ]
    assert run_objects() == ["runs/run-1/entries.jsonl"]


def test_every_field_the_orchestrator_reads_is_in_the_answer(prepare, lambda_context):
    """Each $.run.* and $.BatchInput.settings.* path of the orchestrator resolves in the answer."""
    run = prepared(prepare, lambda_context, inline({"name": "a"}))
    definition = (STATE_MACHINES / "orchestrator.asl.json").read_text()

    run_paths = set(re.findall(r"\$\.run\.([A-Za-z.]+)", definition)) - {"valid", "error", "cause"}
    settings_paths = set(re.findall(r"\$\.BatchInput\.settings\.([A-Za-z]+)", definition))

    assert run_paths >= {"entries.bucket", "entries.key", "batchSize", "runId", "settings.maxConcurrency"}
    for path in run_paths:
        value: Any = run
        for part in path.split("."):
            value = value[part]
        assert value is not None, path
    assert settings_paths and settings_paths <= set(run["settings"])
    entry = run["settings"].pop("entry")
    assert all(isinstance(value, int) for value in run["settings"].values())
    # What "Run job" passes on to the submit function, which must accept it.
    submit_request = load_handler(FUNCTIONS / "runs", "submit_request")
    assert submit_request.EntrySettings.model_validate(entry).model_dump(by_alias=True) == entry


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        ({}, "input: Field required"),
        ({"input": {}}, "input: Value error, give exactly one of entries, source or rerunOf (given: none)"),
        ({"input": {"entries": "a"}}, "input.entries: Input should be a valid list"),
        ({"input": {"entries": []}}, "input.entries: List should have at least 1 item after validation, not 0"),
        (
            inline(*({"name": str(i)} for i in range(4))),
            "4 entries, at most 3 in one run (MaxEntries): split the request into several runs",
        ),
        (inline(7), "input.entries[0]: must be a JSON object, not int"),
        (inline(None), "input.entries[0]: must be a JSON object, not NoneType"),
        (inline({"id": 1}), "input.entries[0].name: Field required"),
        (inline({"name": ""}), "input.entries[0].name: String should have at least 1 character"),
        (inline({"name": "x" * 257}), "input.entries[0].name: String should have at most 256 characters"),
        (inline({"name": 5}), "input.entries[0].name: Input should be a valid string"),
        (inline({"name": "a\nb"}), "input.entries[0].name: Value error, must not contain control characters"),
        (
            inline({"name": "a", "expectedJobStatus": "MAYBE"}),
            "input.entries[0].expectedJobStatus: Input should be 'SUCCEEDED' or 'FAILED'",
        ),
        (inline({"name": "a"}, {"name": "a"}), "input.entries[1].name: duplicate name 'a' (also input.entries[0])"),
        (
            # An entry travels with its batch: 32 KiB of JSON (UTF-8 bytes, not characters) at most.
            inline({"name": "big", "data": "x" * 32745}),
            "input.entries[0]: 32769 bytes, at most 32768 per entry: pass an S3 key instead",
        ),
        (
            inline({"name": "wide", "data": "é" * 16372}),
            "input.entries[0]: 32769 bytes, at most 32768 per entry: pass an S3 key instead",
        ),
        (inline({"name": "a"}, extra=1), "input.extra: Extra inputs are not permitted"),
        (
            {"input": {"entries": [{"name": "a"}], "source": {"bucket": REQUESTS, "key": "e.csv"}}},
            "input: Value error, give exactly one of entries, source or rerunOf (given: entries, source)",
        ),
        (inline({"name": "a"}, batchSize=0), "input.batchSize: Input should be greater than or equal to 1"),
        (inline({"name": "a"}, batchSize=1001), "input.batchSize: Input should be less than or equal to 1000"),
        (
            inline({"name": "a"}, toleratedFailurePercentage=100.5),
            "input.toleratedFailurePercentage: Input should be less than or equal to 100",
        ),
        (
            inline({"name": "a"}, toleratedFailureCount=-1),
            "input.toleratedFailureCount: Input should be greater than or equal to 0",
        ),
        (inline({"name": "a"}, patterns="medium"), "input.patterns: Input should be 'full' or 'lean'"),
        (
            {"input": {"rerunOf": "../other"}},
            "input.rerunOf: String should match pattern '^[A-Za-z0-9_-]{1,80}$'",
        ),
        (
            {"input": {"source": {"bucket": REQUESTS, "key": "entries.txt"}}},
            "input: Value error, source.format: give jsonl, json or csv (the key 'entries.txt' does not say)",
        ),
        (
            {"input": {"source": {"bucket": REQUESTS, "key": "e.xml", "format": "xml"}}},
            "input.source.format: Input should be 'jsonl', 'json' or 'csv'",
        ),
        (
            {"input": {"source": {"bucket": "ab", "key": "e.csv"}}},
            "input.source.bucket: String should have at least 3 characters",
        ),
    ],
)
def test_each_rule_refuses_with_a_cause_naming_the_problem(prepare, lambda_context, monkeypatch, request_, named):
    monkeypatch.setenv("MAX_ENTRIES", "3")

    cause = cause_of_refusal(prepared(prepare, lambda_context, request_))

    assert cause == f"1 problem(s): {named}"


def test_the_largest_entry_allowed_is_accepted(prepare, lambda_context):
    entry = {"name": "big", "data": "x" * 32744}
    assert len(json.dumps(entry, separators=(",", ":"))) == 32768

    assert prepared(prepare, lambda_context, inline(entry))["valid"] is True
    assert entries_file()[0]["entry"] == entry


def test_every_problem_is_named_with_its_place(prepare, lambda_context):
    result = prepared(prepare, lambda_context, inline({"name": "a"}, 7, {"name": "a"}, {"name": "b"}, {"id": 1}))

    assert cause_of_refusal(result) == (
        "3 problem(s): input.entries[1]: must be a JSON object, not int; "
        "input.entries[2].name: duplicate name 'a' (also input.entries[0]); input.entries[4].name: Field required"
    )


def test_every_problem_is_listed_up_to_a_bound(prepare, lambda_context):
    entries = [{"name": "same"} for _ in range(30)]

    cause = cause_of_refusal(prepared(prepare, lambda_context, inline(*entries)))

    assert cause.startswith("29 problem(s): input.entries[1].name: duplicate name 'same' (also input.entries[0]); ")
    assert cause.endswith("input.entries[20].name: duplicate name 'same' (also input.entries[0]); and 9 more")
    assert cause.count("duplicate name") == 20


def test_too_many_entries_is_named_first_and_every_entry_is_still_checked(prepare, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_ENTRIES", "2")

    cause = cause_of_refusal(prepared(prepare, lambda_context, inline(*({"name": ""} for _ in range(25)))))

    assert cause.startswith(
        "26 problem(s): 25 entries, at most 2 in one run (MaxEntries): split the request into several runs; "
        "input.entries[0].name: "
    )
    assert cause.endswith("; and 6 more")


def test_exactly_max_entries_are_accepted(prepare, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_ENTRIES", "3")
    assert prepared(prepare, lambda_context, inline(*({"name": str(i)} for i in range(3))))["total"] == 3


def test_hostile_names_and_fields_are_accepted_as_data(prepare, lambda_context):
    entry = {"name": 'quote " backslash \\ unicode é✓ $(rm -rf /)', "nested": {"x": [1, None]}, "'": "`"}

    assert prepared(prepare, lambda_context, inline(entry))["valid"] is True

    raw = client("s3").get_object(Bucket=RUNS, Key="runs/run-1/entries.jsonl")["Body"].read().decode()
    assert "é✓" in raw, "the entries file keeps text as it is (UTF-8), not escaped"
    assert entries_file() == [{"index": 0, "name": entry["name"], "entry": entry}]


# ------------------------------------------------------------------ the run's name


@pytest.mark.parametrize("run_id", ["run.1", "run 1", "ré", "a/b", "x" * 81, ""])
def test_a_run_whose_name_cannot_key_its_data_is_refused(prepare, lambda_context, run_id):
    result = prepared(prepare, lambda_context, inline({"name": "a"}), run_id=run_id)

    assert cause_of_refusal(result) == (
        f"1 problem(s): the execution's name {run_id!r}: a run's name is 1 to 80 letters, digits, - and _"
    )


@pytest.mark.parametrize("run_id", ["x" * 80, "A-b_9", "0"])
def test_names_of_letters_digits_dashes_and_underscores_are_runs(prepare, lambda_context, run_id):
    result = prepared(prepare, lambda_context, inline({"name": "a"}), run_id=run_id)

    assert result == accepted(run_id, 1)
    assert run_objects() == [f"runs/{run_id}/entries.jsonl"]


# ------------------------------------------------------------------ the run's settings


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {"batchSize": 100, "toleratedFailurePercentage": 5.0, "toleratedFailureCount": 4, "patterns": "lean"}),
        ({"batchSize": 2}, {"batchSize": 2, "toleratedFailurePercentage": 5.0, "toleratedFailureCount": 4}),
        ({"toleratedFailurePercentage": 25}, {"toleratedFailurePercentage": 25.0, "toleratedFailureCount": 4}),
        ({"toleratedFailurePercentage": 12.5}, {"toleratedFailurePercentage": 12.5, "toleratedFailureCount": 4}),
        # A count alone: the percentage is set where it never binds (Step Functions applies both).
        ({"toleratedFailureCount": 1}, {"toleratedFailurePercentage": 100.0, "toleratedFailureCount": 1}),
        (
            {"toleratedFailurePercentage": 0, "toleratedFailureCount": 0},
            {"toleratedFailurePercentage": 0.0, "toleratedFailureCount": 0},
        ),
        ({"toleratedFailurePercentage": 0}, {"toleratedFailurePercentage": 0.0, "toleratedFailureCount": 4}),
        ({"patterns": "full"}, {"patterns": "full", "toleratedFailurePercentage": 5.0}),
        ({"patterns": "lean", "batchSize": 1000}, {"patterns": "lean", "batchSize": 1000}),
    ],
)
def test_the_requests_settings_override_the_stacks(prepare, lambda_context, monkeypatch, given, expected):
    monkeypatch.setenv("TOLERATED_FAILURE_PERCENTAGE", "5")

    result = prepared(prepare, lambda_context, inline(*({"name": str(i)} for i in range(4)), **given))

    defaults = {"batchSize": 100, "toleratedFailurePercentage": 5.0, "toleratedFailureCount": 4, "patterns": "lean"}
    assert {k: result[k] for k in defaults} == defaults | expected
    assert audit_item("audit", RUN, -1)["batchSize"] == (defaults | expected)["batchSize"]


def test_the_stacks_settings_are_the_runs_unless_the_request_says(prepare, lambda_context, monkeypatch):
    for name, value in {
        "BATCH_SIZE": "7",
        "PATTERNS": "full",
        "TOLERATED_FAILURE_PERCENTAGE": "2.5",
        "JOB_SLEEP_SECONDS": "0",
        "ARRAY_JOB_SIZE": "0",
        "NESTED_WAIT_SECONDS": "60",
        "JOB_CALLBACK_TIMEOUT_SECONDS": "900",
        "JOB_HEARTBEAT_SECONDS": "30",
        "MAP_MAX_CONCURRENCY": "3",
        "ENTRY_COMMAND": "digest --all",
        "ENTRY_TIMEOUT_SECONDS": "120",
        "ENTRY_ATTEMPTS": "3",
        "ENTRY_BACKOFF_SECONDS": "0",
        "ENTRY_PARALLELISM": "8",
    }.items():
        monkeypatch.setenv(name, value)

    result = prepared(prepare, lambda_context, inline({"name": "a"}, {"name": "b"}))

    assert result == accepted(
        RUN,
        2,
        batchSize=7,
        patterns="full",
        toleratedFailurePercentage=2.5,
        settings={
            "sleepSeconds": 0,
            "arrayJobSize": 0,
            "nestedWaitSeconds": 60,
            "nestedTimeoutSeconds": 840,
            "jobCallbackTimeoutSeconds": 900,
            "jobHeartbeatSeconds": 30,
            "maxConcurrency": 3,
            "entry": {
                "command": "digest --all",
                "timeoutSeconds": 120,
                "attempts": 3,
                "backoffSeconds": 0,
                "parallelism": 8,
            },
        },
    )


@pytest.mark.parametrize(
    ("stack", "request_patterns", "expected"),
    [
        # MaxVcpus 16 / JobVcpu 0.25 = 64 jobs at once: with the full path's arrays of 2, 32 batches
        ({"MAP_MAX_CONCURRENCY": "64", "MAX_VCPUS": "16", "JOB_VCPU": "0.25", "ARRAY_JOB_SIZE": "2"}, "full", 32),
        ({"MAP_MAX_CONCURRENCY": "64", "MAX_VCPUS": "16", "JOB_VCPU": "0.25", "ARRAY_JOB_SIZE": "2"}, "lean", 64),
        ({"MAP_MAX_CONCURRENCY": "10", "MAX_VCPUS": "16", "JOB_VCPU": "0.25", "ARRAY_JOB_SIZE": "2"}, "full", 10),
        ({"MAP_MAX_CONCURRENCY": "64", "MAX_VCPUS": "16", "JOB_VCPU": "0.25", "ARRAY_JOB_SIZE": "0"}, "full", 64),
        ({"MAP_MAX_CONCURRENCY": "64", "MAX_VCPUS": "2", "JOB_VCPU": "1", "ARRAY_JOB_SIZE": "5"}, "full", 1),
    ],
)
def test_a_full_path_request_runs_no_more_jobs_at_once_than_the_compute_environment_holds(
    prepare, lambda_context, monkeypatch, stack, request_patterns, expected
):
    """The deploy checks MapMaxConcurrency against the stack's own path; a request may choose the
    other, whose batches each run an array of ArrayJobSize jobs."""
    for name, value in stack.items():
        monkeypatch.setenv(name, value)

    result = prepared(prepare, lambda_context, inline({"name": "a"}, patterns=request_patterns))

    assert result["settings"]["maxConcurrency"] == expected


# ------------------------------------------------------------------ how each entry runs


def test_each_entry_runs_as_the_stack_says_unless_the_request_says(prepare, lambda_context):
    request = inline({"name": "a"}, entry={"timeoutSeconds": 60, "attempts": 5})

    result = prepared(prepare, lambda_context, request)

    assert result["settings"]["entry"] == DEFAULT_ENTRY | {"timeoutSeconds": 60, "attempts": 5}


@pytest.mark.parametrize(
    "given",
    [
        {"command": "s3-digest"},  # even the stack's own
        {"command": "other-digest --fast", "timeoutSeconds": 10},
    ],
)
def test_a_request_may_not_choose_the_command_unless_the_stack_allows_it(prepare, lambda_context, given):
    cause = cause_of_refusal(prepared(prepare, lambda_context, inline({"name": "a"}, entry=given)))

    assert cause == (
        "1 problem(s): entry.command: this stack runs its own command only (deploy it with "
        "AllowRequestCommand=true to let requests choose theirs)"
    )


@pytest.mark.parametrize("allowed", ["false", "True", "yes", "1", ""])
def test_only_true_lets_a_request_choose_its_command(prepare, lambda_context, monkeypatch, allowed):
    monkeypatch.setenv("ALLOW_REQUEST_COMMAND", allowed)

    result = prepared(prepare, lambda_context, inline({"name": "a"}, entry={"command": "cat"}))

    assert (result["valid"], result.get("error")) == (False, "InvalidRequest")


def test_a_stack_that_allows_it_runs_the_requests_command(prepare, lambda_context, monkeypatch):
    monkeypatch.setenv("ALLOW_REQUEST_COMMAND", "true")
    command = 'python3 -c \'import json, sys; print(json.load(sys.stdin)["name"])\' | tee "$ENTRY_OUTPUT"'
    overrides = {"command": command, "timeoutSeconds": 0, "attempts": 1, "backoffSeconds": 0, "parallelism": 1000}

    result = prepared(prepare, lambda_context, inline({"name": "a"}, entry=overrides))

    assert result["settings"]["entry"] == overrides


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"attempts": 0}, "input.entry.attempts: Input should be greater than or equal to 1"),
        ({"attempts": 11}, "input.entry.attempts: Input should be less than or equal to 10"),
        ({"command": "a\nb"}, "input.entry.command: String should match pattern '^[^\\n\\r\\t]+$'"),
        ({"command": "a\tb"}, "input.entry.command: String should match pattern '^[^\\n\\r\\t]+$'"),
        ({"command": "a\r"}, "input.entry.command: String should match pattern '^[^\\n\\r\\t]+$'"),
        ({"command": ""}, "input.entry.command: String should have at least 1 character"),
        ({"command": "x" * 4097}, "input.entry.command: String should have at most 4096 characters"),
        ({"timeoutSeconds": -1}, "input.entry.timeoutSeconds: Input should be greater than or equal to 0"),
        ({"timeoutSeconds": 604801}, "input.entry.timeoutSeconds: Input should be less than or equal to 604800"),
        ({"backoffSeconds": 3601}, "input.entry.backoffSeconds: Input should be less than or equal to 3600"),
        ({"parallelism": 0}, "input.entry.parallelism: Input should be greater than or equal to 1"),
        ({"parallelism": 1001}, "input.entry.parallelism: Input should be less than or equal to 1000"),
        (
            {"attempts": "two"},
            "input.entry.attempts: Input should be a valid integer, unable to parse string as an integer",
        ),
        ({"sleepSeconds": 5}, "input.entry.sleepSeconds: Extra inputs are not permitted"),
        ("s3-digest", "input.entry: Input should be a valid dictionary"),
    ],
)
def test_bad_entry_settings_are_refused_naming_the_setting(prepare, lambda_context, monkeypatch, entry, named):
    monkeypatch.setenv("ALLOW_REQUEST_COMMAND", "true")  # a command is refused for what it is, not for being given

    cause = cause_of_refusal(prepared(prepare, lambda_context, inline({"name": "a"}, entry=entry)))

    assert cause.startswith(f"1 problem(s): {named}") and "; " not in cause


def test_an_entry_whose_attempts_could_outlast_its_job_is_refused_with_the_numbers(
    prepare, lambda_context, monkeypatch
):
    monkeypatch.setenv("JOB_ATTEMPT_DURATION_SECONDS", "900")
    monkeypatch.setenv("JOB_CALLBACK_TIMEOUT_SECONDS", "3600")
    # 3 attempts of 300 s, and backoffs of 1 and 2 s: 903 s, past the job's 900 s.
    request = inline({"name": "a"}, entry={"timeoutSeconds": 300, "attempts": 3})

    cause = cause_of_refusal(prepared(prepare, lambda_context, request))

    assert cause == (
        "1 problem(s): entry: 3 attempt(s) of up to 300 s and their backoff could take 903 s, more than a job may "
        "run on this stack (900 s, JobAttemptDurationSeconds and JobCallbackTimeoutSeconds): lower "
        "entry.timeoutSeconds or entry.attempts"
    )


@pytest.mark.parametrize(
    ("stack", "entry", "fits"),
    [
        # The lower of the two limits binds.
        ({"JOB_ATTEMPT_DURATION_SECONDS": "900", "JOB_CALLBACK_TIMEOUT_SECONDS": "600"}, {"attempts": 2}, False),
        ({"JOB_ATTEMPT_DURATION_SECONDS": "900", "JOB_CALLBACK_TIMEOUT_SECONDS": "601"}, {"attempts": 2}, True),
        ({"JOB_ATTEMPT_DURATION_SECONDS": "601", "JOB_CALLBACK_TIMEOUT_SECONDS": "3600"}, {"attempts": 2}, True),
        ({"JOB_ATTEMPT_DURATION_SECONDS": "600", "JOB_CALLBACK_TIMEOUT_SECONDS": "3600"}, {"attempts": 2}, False),
        # The backoff doubles before each further attempt: 300 * 3 + 100 + 200 = 1200 s.
        ({"JOB_ATTEMPT_DURATION_SECONDS": "1200"}, {"attempts": 3, "backoffSeconds": 100}, True),
        ({"JOB_ATTEMPT_DURATION_SECONDS": "1199"}, {"attempts": 3, "backoffSeconds": 100}, False),
        # No timeout: no bound to check.
        ({"JOB_ATTEMPT_DURATION_SECONDS": "60"}, {"timeoutSeconds": 0, "attempts": 10}, True),
    ],
)
def test_an_entrys_worst_case_is_held_to_the_lower_of_the_jobs_limits(
    prepare, lambda_context, monkeypatch, stack, entry, fits
):
    for name, value in stack.items():
        monkeypatch.setenv(name, value)

    result = prepared(prepare, lambda_context, inline({"name": "a"}, entry={"timeoutSeconds": 300} | entry))

    assert result["valid"] is fits, result


def test_the_stacks_own_entry_settings_are_held_to_the_jobs_limits(prepare, lambda_context, monkeypatch):
    monkeypatch.setenv("ENTRY_TIMEOUT_SECONDS", "1000")

    cause = cause_of_refusal(prepared(prepare, lambda_context, inline({"name": "a"})))

    assert cause.startswith("1 problem(s): entry: 2 attempt(s) of up to 1000 s and their backoff could take 2001 s")


# ------------------------------------------------------------------ entries in an S3 object


@pytest.mark.parametrize(
    ("key", "source"),
    [
        ("in/entries.jsonl", {}),
        ("in/entries.ndjson", {}),
        ("in/ENTRIES.JSONL", {}),
        ("in/entries.txt", {"format": "jsonl"}),
        ("in/entries.json", {"format": "jsonl"}),  # the format given wins over the key's
    ],
)
def test_a_json_lines_object_is_read_line_by_line(prepare, lambda_context, key, source):
    body = '{"name":"a"}\n\n  \n{"name":"b","expectedJobStatus":"FAILED","size":3}\n{"name":"c"}'

    result = prepared(prepare, lambda_context, from_object(key, body, **source))

    assert result == accepted(RUN, 3)
    assert entries_file() == [
        {"index": 0, "name": "a", "entry": {"name": "a"}},
        {"index": 1, "name": "b", "entry": {"name": "b", "expectedJobStatus": "FAILED", "size": 3}},
        {"index": 2, "name": "c", "entry": {"name": "c"}},
    ]
    assert audit_item("audit", RUN, -1)["source"] == f"s3://{REQUESTS}/{key}"


def test_a_json_array_object_is_read(prepare, lambda_context):
    body = json.dumps([{"name": "a"}, {"name": "b", "n": [1, None]}], indent=2)

    result = prepared(prepare, lambda_context, from_object("in/entries.json", body))

    assert result == accepted(RUN, 2)
    assert entries_file() == [
        {"index": 0, "name": "a", "entry": {"name": "a"}},
        {"index": 1, "name": "b", "entry": {"name": "b", "n": [1, None]}},
    ]


def test_a_csv_object_is_read_by_its_header(prepare, lambda_context):
    body = 'name,expectedJobStatus,note\r\na,SUCCEEDED,"x, y"\r\n\r\nb,FAILED,\r\n'

    result = prepared(prepare, lambda_context, from_object("in/entries.csv", body))

    assert result == accepted(RUN, 2)
    assert entries_file() == [
        {"index": 0, "name": "a", "entry": {"name": "a", "expectedJobStatus": "SUCCEEDED", "note": "x, y"}},
        {"index": 1, "name": "b", "entry": {"name": "b", "expectedJobStatus": "FAILED", "note": ""}},
    ]


def test_the_large_request_sample_is_accepted(prepare, lambda_context):
    request = json.loads((TEST_INPUTS / "orchestrator-large-request-payload.json").read_text())
    source = request["input"]["source"]
    lines = "".join(json.dumps({"name": f"entry-{i:05d}"}) + "\n" for i in range(250))
    client("s3").put_object(Bucket=REQUESTS, Key=source["key"], Body=lines.encode())
    source["bucket"] = REQUESTS

    result = prepared(prepare, lambda_context, request)

    assert result == accepted(RUN, 250, toleratedFailurePercentage=1.0)
    assert [line["index"] for line in entries_file()] == list(range(250))


def test_a_malformed_line_refuses_the_whole_request_naming_its_line(prepare, lambda_context):
    body = '{"name":"a"}\n\n{"name": "b",\n{"name":"c"}\n'

    cause = cause_of_refusal(prepared(prepare, lambda_context, from_object("in/entries.jsonl", body)))

    assert cause.startswith("1 problem(s): s3://requests/in/entries.jsonl line 3: not JSON (")
    assert "line 1:" not in cause and "line 4" not in cause


def test_every_bad_line_of_an_object_is_named(prepare, lambda_context):
    body = '{"name":"a"}\n[1]\n{"name":"a"}\n{"id":2}\nnot json\n'

    cause = cause_of_refusal(prepared(prepare, lambda_context, from_object("in/e.jsonl", body)))

    place = "s3://requests/in/e.jsonl"
    assert cause.startswith(
        f"4 problem(s): {place} line 2: must be a JSON object, not list; "
        f"{place} line 3.name: duplicate name 'a' (also {place} line 1); "
        f"{place} line 4.name: Field required; {place} line 5: not JSON ("
    )


@pytest.mark.parametrize(
    ("key", "body", "problem"),
    [
        ("in/e.json", '{"entries": [{"name": "a"}]}', "a JSON array of entries is expected, not dict"),
        ("in/e.json", '"a"', "a JSON array of entries is expected, not str"),
        ("in/e.json", "[{'name': 'a'}]", "not a JSON document (lexical error: invalid char in json text)"),
        ("in/e.json", "", "not a JSON document (parse error: premature EOF)"),
        ("in/e.csv", "id,size\n1,2\n", "the first row must name the columns, one of them 'name'"),
        ("in/e.csv", "", "the first row must name the columns, one of them 'name'"),
        ("in/e.csv", "name,size,name\na,1,b\n", "the header row names a column twice"),
        ("in/e.jsonl", b'{"name": "caf\xe9"}\n', "not UTF-8 text (invalid continuation byte at byte 13)"),
        ("in/e.csv", b"name\ncaf\xe9\n", "not UTF-8 text (invalid continuation byte at byte 8)"),
        (
            "in/e.json",
            b'[{"name": "caf\xe9"}]',
            "not UTF-8 text (lexical error: invalid bytes in UTF8 string)",
        ),
    ],
)
def test_an_object_in_the_wrong_format_is_refused(prepare, lambda_context, key, body, problem):
    cause = cause_of_refusal(prepared(prepare, lambda_context, from_object(key, body)))

    assert cause.startswith(f"1 problem(s): s3://requests/{key}: {problem}")


def test_a_csv_row_with_too_few_or_too_many_fields_is_named_by_its_line(prepare, lambda_context):
    # A quoted field may span lines: a row is named by the line it starts on.
    body = 'name,size\na,1\nb\n"c\nd",3,4\n\ne,5\nf\n'

    cause = cause_of_refusal(prepared(prepare, lambda_context, from_object("in/e.csv", body)))

    assert cause == (
        "3 problem(s): s3://requests/in/e.csv line 3: the row has 1 field where the header has 2; "
        "s3://requests/in/e.csv line 4: the row has 3 fields where the header has 2; "
        "s3://requests/in/e.csv line 8: the row has 1 field where the header has 2"
    )


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        ([{"name": "a"}], "the request is a JSON array"),
        ("entries.jsonl", "the request is a JSON string"),
        ({"input": [{"name": "a"}]}, "input is a JSON array"),
        ({"entries": [{"name": "a"}]}, "the request has no input (its entries, source or rerunOf are outside it)"),
    ],
)
def test_a_request_that_is_no_object_is_told_what_a_request_is(prepare, lambda_context, request_, named):
    cause = cause_of_refusal(prepared(prepare, lambda_context, request_))

    assert cause == (
        f'1 problem(s): {named}: a request is a JSON object {{"input": {{...}}}} whose input gives its entries '
        "in one of entries (a list of objects, each with a name), source (an S3 object of entries: "
        '{"bucket": ..., "key": ...}) or rerunOf (an earlier run\'s name)'
    )


@pytest.mark.parametrize(("key", "body"), [("in/e.csv", "name,size\n"), ("in/e.jsonl", "\n\n"), ("in/e.json", "[]")])
def test_an_object_without_entries_is_refused(prepare, lambda_context, key, body):
    cause = cause_of_refusal(prepared(prepare, lambda_context, from_object(key, body)))
    assert cause == "1 problem(s): the request holds no entries"


def test_too_many_entries_in_an_object_are_refused(prepare, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_ENTRIES", "3")
    body = "".join(f'{{"name":"{i}"}}\n' for i in range(5))

    cause = cause_of_refusal(prepared(prepare, lambda_context, from_object("in/e.jsonl", body)))

    assert cause == "1 problem(s): 5 entries, at most 3 in one run (MaxEntries): split the request into several runs"


def test_a_missing_object_is_named(prepare, lambda_context):
    request = {"input": {"source": {"bucket": REQUESTS, "key": "in/missing.jsonl"}}}

    cause = cause_of_refusal(prepared(prepare, lambda_context, request))

    assert cause == "1 problem(s): s3://requests/in/missing.jsonl: no such object"


def test_an_object_that_cannot_be_read_is_named_with_the_reason(prepare, lambda_context):
    request = {"input": {"source": {"bucket": "no-such-bucket", "key": "in/e.jsonl"}}}

    cause = cause_of_refusal(prepared(prepare, lambda_context, request))

    assert cause.startswith("1 problem(s): s3://no-such-bucket/in/e.jsonl: cannot be read (NoSuchBucket: ")


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("in/e.csv", "\ufeffname,size\na,1\n"),
        ("in/e.jsonl", '\ufeff{"name":"a","size":"1"}\n'),
        ("in/e.json", '\ufeff[{"name":"a","size":"1"}]'),
    ],
)
def test_a_byte_order_mark_is_not_part_of_the_entries(prepare, lambda_context, key, body):
    """Spreadsheets save "CSV UTF-8" with a byte order mark: it is no part of the first column's name."""
    result = prepared(prepare, lambda_context, from_object(key, body))

    assert result["valid"] is True, result
    assert entries_file() == [{"index": 0, "name": "a", "entry": {"name": "a", "size": "1"}}]


# ------------------------------------------------------------------ a rerun of an earlier run


def earlier_run(
    prepare: Any, context: Any, statuses: dict[int, str], run_id: str = "run-0", ended: bool = True
) -> None:
    """Run RUN_ID prepared with five entries, and results written for those in STATUSES, in
    objects of two entries each, as batches of two would have left them; ENDED: its summary too."""
    entries = [{"name": f"e{i}", "attempt": 1} for i in range(5)]
    assert prepared(prepare, context, inline(*entries), run_id=run_id)["valid"] is True
    s3 = client("s3")
    for first in range(0, 5, 2):
        indexes = [i for i in (first, first + 1) if i in statuses]
        if indexes:
            body = "".join(json.dumps({"index": i, "name": f"e{i}", "status": statuses[i]}) + "\n" for i in indexes)
            key = f"runs/{run_id}/results/{first:09d}-{min(first + 1, 4):09d}.jsonl"
            s3.put_object(Bucket=RUNS, Key=key, Body=body.encode())
    if ended:
        s3.put_object(Bucket=RUNS, Key=f"runs/{run_id}/summary.json", Body=b"{}")


def test_a_rerun_holds_the_entries_that_did_not_succeed_in_their_order(prepare, lambda_context):
    earlier_run(prepare, lambda_context, {0: "SUCCEEDED", 1: "FAILED", 2: "NOT_RUN", 3: "SUCCEEDED", 4: "FAILED"})

    result = prepared(prepare, lambda_context, {"input": {"rerunOf": "run-0"}}, run_id="run-2")

    assert result == accepted("run-2", 3)
    assert entries_file("run-2") == [
        {"index": 0, "name": "e1", "entry": {"name": "e1", "attempt": 1}},
        {"index": 1, "name": "e2", "entry": {"name": "e2", "attempt": 1}},
        {"index": 2, "name": "e4", "entry": {"name": "e4", "attempt": 1}},
    ]
    assert audit_item("audit", "run-2", -1)["source"] == "rerun of run-0"


def test_the_rerun_sample_is_accepted_with_the_requests_settings(prepare, lambda_context):
    earlier_run(prepare, lambda_context, {0: "SUCCEEDED", 1: "FAILED", 2: "SUCCEEDED", 3: "SUCCEEDED", 4: "SUCCEEDED"})
    request = json.loads((TEST_INPUTS / "orchestrator-rerun-payload.json").read_text())
    request["input"]["rerunOf"] = "run-0"
    request["input"]["batchSize"] = 1

    result = prepared(prepare, lambda_context, request, run_id="run-2")

    assert result == accepted("run-2", 1, batchSize=1)
    assert [line["name"] for line in entries_file("run-2")] == ["e1"]


def test_a_rerun_of_a_run_that_fully_succeeded_is_refused(prepare, lambda_context):
    earlier_run(prepare, lambda_context, dict.fromkeys(range(5), "SUCCEEDED"))

    result = prepared(prepare, lambda_context, {"input": {"rerunOf": "run-0"}}, run_id="run-2")

    assert cause_of_refusal(result, "run-2") == (
        "1 problem(s): rerunOf: every entry of run 'run-0' succeeded: nothing to run again"
    )


def test_a_rerun_of_an_unknown_run_is_refused(prepare, lambda_context):
    result = prepared(prepare, lambda_context, {"input": {"rerunOf": "run-9"}}, run_id="run-2")

    assert (result["valid"], result["cause"]) == (
        False,
        "1 problem(s): rerunOf: run 'run-9' has no summary (runs/run-9/summary.json): it is still running, its "
        "request was refused, or it is no run of this stack (a run that was stopped, timed out or failed gets "
        "its summary within moments of its end)",
    )


def test_a_rerun_of_a_run_still_going_is_refused(prepare, lambda_context):
    """Batches still running have no results yet: their entries would be left out of the rerun."""
    earlier_run(prepare, lambda_context, {0: "SUCCEEDED", 1: "FAILED"}, ended=False)

    result = prepared(prepare, lambda_context, {"input": {"rerunOf": "run-0"}}, run_id="run-2")

    assert (result["valid"], result["cause"]) == (
        False,
        "1 problem(s): rerunOf: run 'run-0' has no summary (runs/run-0/summary.json): it is still running, its "
        "request was refused, or it is no run of this stack (a run that was stopped, timed out or failed gets "
        "its summary within moments of its end)",
    )


def test_a_rerun_is_held_to_max_entries_naming_the_earlier_runs_entries(prepare, lambda_context, monkeypatch):
    earlier_run(prepare, lambda_context, dict.fromkeys(range(5), "FAILED"))
    monkeypatch.setenv("MAX_ENTRIES", "4")

    result = prepared(prepare, lambda_context, {"input": {"rerunOf": "run-0"}}, run_id="run-2")

    assert (
        cause_of_refusal(result, "run-2")
        == "1 problem(s): 5 entries, at most 4 in one run (MaxEntries): split the request into several runs"
    )


# ------------------------------------------------------------------ the run's audit item


def test_the_run_is_recorded_running_with_what_it_holds(prepare, lambda_context):
    prepared(prepare, lambda_context, inline({"name": "a"}, {"name": "b"}, batchSize=1))

    item = audit_item("audit", RUN, -1)
    started = item.pop("startedAt")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", started)
    usage = pop_usage(item)  # the entries file uploaded, the item put, the usage added
    assert usage == {"lambdaRequests": 1, "lambdaMbMs": usage["lambdaMbMs"], "s3PutList": 1, "dynamodbWrites": 2}
    assert item == {
        "runId": RUN,
        "entryIndex": -1,
        "status": "RUNNING",
        "total": 2,
        "succeeded": 0,
        "failed": 0,
        "batchSize": 1,
        "source": "inline",
    }
    assert len(client("dynamodb").scan(TableName="audit")["Items"]) == 1


def test_a_retried_invocation_leaves_the_runs_item_as_it_is(prepare, lambda_context):
    request = inline({"name": "a"}, {"name": "b"})
    first = prepared(prepare, lambda_context, request)
    recorded = audit_item("audit", RUN, -1)
    # A batch was counted meanwhile: a late retry of the preparation must not reset the counts.
    client("dynamodb").update_item(
        TableName="audit",
        Key={"runId": {"S": RUN}, "entryIndex": {"N": "-1"}},
        UpdateExpression="ADD succeeded :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )

    again = prepared(prepare, lambda_context, request)

    assert again == first
    again_recorded = audit_item("audit", RUN, -1)
    first_usage, both_usage = pop_usage(recorded), pop_usage(again_recorded)
    assert again_recorded == recorded | {"succeeded": 1}
    assert both_usage["lambdaRequests"] == 2 and both_usage["s3PutList"] == 2 * first_usage["s3PutList"]
    assert entries_file() == [
        {"index": 0, "name": "a", "entry": {"name": "a"}},
        {"index": 1, "name": "b", "entry": {"name": "b"}},
    ]


def padded_entries(count: int, padding: int) -> str:
    return "".join(json.dumps({"name": f"e{i}", "data": "x" * padding}) + "\n" for i in range(count))


def test_the_entries_file_is_written_without_a_local_file(prepare, lambda_context, monkeypatch):
    """Lambda's /tmp holds 512 MB by default, less than a million entries: nothing goes there."""
    import tempfile

    def no_space(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp"):  # (moto's S3 spools its objects)
        monkeypatch.setattr(tempfile, name, no_space)

    result = prepared(prepare, lambda_context, from_object("in/e.jsonl", padded_entries(3, 10)))

    assert result["valid"] is True and [e["name"] for e in entries_file()] == ["e0", "e1", "e2"]


def test_an_entries_file_of_several_parts_is_whole_and_in_order(prepare, lambda_context, monkeypatch):
    # S3's smallest part: three parts here
    monkeypatch.setitem(prepare.S3Upload.write.__globals__, "PART_BYTES", 5 * 1024 * 1024)
    result = prepared(prepare, lambda_context, from_object("in/e.jsonl", padded_entries(2600, 4000)))

    assert result["valid"] is True
    assert [e["index"] for e in entries_file()] == list(range(2600))
    assert client("s3").list_multipart_uploads(Bucket=RUNS).get("Uploads", []) == []


def test_a_request_refused_after_parts_were_written_leaves_no_object_and_no_part(prepare, lambda_context, monkeypatch):
    monkeypatch.setitem(prepare.S3Upload.write.__globals__, "PART_BYTES", 5 * 1024 * 1024)
    body = padded_entries(2600, 4000) + "not json\n"

    cause = cause_of_refusal(prepared(prepare, lambda_context, from_object("in/e.jsonl", body)))

    assert (
        cause
        == "1 problem(s): s3://requests/in/e.jsonl line 2601: not JSON (Expecting value: line 1 column 1 (char 0))"
    )
    assert client("s3").list_multipart_uploads(Bucket=RUNS).get("Uploads", []) == []


def test_a_json_array_is_read_element_by_element(prepare, lambda_context, monkeypatch):
    """The array is never parsed whole (json.load of the object's text)."""
    import io

    load = json.load

    def not_whole(document: Any, *args: Any, **kwargs: Any) -> Any:
        assert not isinstance(document, io.TextIOWrapper), "the whole array was parsed at once"
        return load(document, *args, **kwargs)

    monkeypatch.setattr(json, "load", not_whole)
    body = json.dumps([{"name": f"e{i}", "n": i / 2} for i in range(1000)])

    result = prepared(prepare, lambda_context, from_object("in/e.json", body))

    assert result["valid"] is True and result["total"] == 1000
    assert entries_file()[3]["entry"] == {"name": "e3", "n": 1.5}
