"""Checks of template.yaml: IAM, parameters, outputs, and the linters and builders users run."""

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local_emulator.runtime_python import runtime_python_dir
from tests.support.paths import ROOT
from tests.support.template import sam_template
from tests.support.tools import tool
from tests.support.translated import translated_template

# Actions that accept no resource-level permission: "*" is the narrowest resource AWS allows.
ACTIONS_WITHOUT_RESOURCE_LEVEL = {
    "states:SendTaskSuccess",  # the task token is the credential
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
    "batch:DescribeJobs",
    "batch:DescribeJobDefinitions",
    "batch:ListJobs",
    "ecr:GetAuthorizationToken",
    "logs:CreateLogDelivery",  # vended log delivery for Step Functions logging
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",  # added by SAM for Tracing
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
}


def conditional_items(items: list[Any]) -> list[Any]:
    """List items, each branch of an `Fn::If` item counted (a policy is checked whether or not it applies)."""
    found = []
    for item in items:
        branches = item["Fn::If"][1:] if isinstance(item, dict) and "Fn::If" in item else [item]
        found.extend(b for b in branches if b != {"Ref": "AWS::NoValue"})
    return found


def allow_statements() -> list[tuple[str, dict[str, Any]]]:
    """Every Allow statement of every IAM policy the deployed stack would hold."""
    found = []
    for name, resource in translated_template()["Resources"].items():
        properties = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in conditional_items(properties.get("Policies", []))]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [properties["PolicyDocument"]]
        for document in documents:
            statements = document["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                if statement["Effect"] == "Allow":
                    found.append((name, statement))
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_stack_has_iam_policies_to_check():
    roles = [n for n, r in translated_template()["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) >= 11, roles  # 7 functions (the publisher among them), 2 state machines, job role, execution role
    assert len(allow_statements()) >= 15


def test_no_iam_policy_allows_a_wildcard_action():
    offenders = [
        (name, action)
        for name, statement in allow_statements()
        for action in as_list(statement["Action"])
        if action == "*" or action.endswith(":*")
    ]
    assert offenders == []


def test_wildcard_resources_only_where_aws_offers_nothing_narrower():
    offenders = [
        (name, action)
        for name, statement in allow_statements()
        if "*" in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
        if action not in ACTIONS_WITHOUT_RESOURCE_LEVEL
    ]
    assert offenders == []


def test_every_parameter_is_described_and_validated():
    for name, parameter in sam_template()["Parameters"].items():
        assert parameter.get("Description"), name
        validation = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue", "MinLength"} & parameter.keys()
        typed = parameter["Type"].startswith(("AWS::", "List<AWS::"))
        assert validation or typed, f"{name} has no validation"


def test_outputs_name_every_state_machine_and_the_job_resources():
    outputs = sam_template()["Outputs"]
    machines = [n for n, r in sam_template()["Resources"].items() if r["Type"] == "AWS::Serverless::StateMachine"]
    assert sorted(machines) == ["CallbackNotifyStateMachine", "OrchestratorStateMachine"]
    for machine in machines:
        assert f"{machine}Arn" in outputs and f"{machine}Name" in outputs
    for key in ("ScriptBucketName", "RunsBucketName", "BatchScriptS3Uri", "JobQueueArn", "JobDefinitionArn"):
        assert key in outputs


@pytest.mark.parametrize("bucket_name", ["ScriptBucket", "RunsBucket"])
def test_buckets_are_encrypted_private_and_tls_only(bucket_name):
    resources = sam_template()["Resources"]
    bucket = resources[bucket_name]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    [policy] = [
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_name}
    ]
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [{"Fn::GetAtt": [bucket_name, "Arn"]}, {"Fn::Sub": f"${{{bucket_name}.Arn}}/*"}]


def test_state_machine_logs_carry_no_execution_data_and_are_traced():
    machines = [r for r in sam_template()["Resources"].values() if r["Type"] == "AWS::Serverless::StateMachine"]
    assert len(machines) == 2
    for machine in machines:
        assert machine["Properties"]["Logging"]["IncludeExecutionData"] is False  # no task tokens in logs
        assert machine["Properties"]["Tracing"] == {"Enabled": True}


def test_job_definition_retries_end_with_an_exit_rule_and_attempts_are_bounded():
    definition = sam_template()["Resources"]["JobDefinition"]["Properties"]
    rules = definition["RetryStrategy"]["EvaluateOnExit"]
    assert rules[-1] == {"OnReason": "*", "Action": "EXIT"}
    assert "AttemptDurationSeconds" in definition["Timeout"]
    placeholders = {a[5:] for a in definition["ContainerProperties"]["Command"] if a.startswith("Ref::")}
    assert placeholders == set(definition["Parameters"]), "every Ref:: placeholder needs a default"


def run_tool(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, **kwargs)


def test_cfn_lint_with_serverless_rules_is_clean():
    result = run_tool([tool("cfn-lint", ".venv"), "template.yaml", "--append-rules", "cfn_lint_serverless.rules"])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_validate_lint_is_clean():
    result = run_tool([tool("sam", ".venv-sam"), "validate", "--lint"], env=sam_environment())
    assert result.returncode == 0, result.stdout + result.stderr


# Checks a resource of this stack skips, each for its own reasons: the same check still applies to any other.
SKIPPED_BY_SOME_RESOURCES = {
    "CKV_AWS_18",  # S3 access logging
    "CKV_AWS_21",  # S3 versioning
    "CKV_AWS_27",  # SQS KMS
    "CKV_AWS_28",  # DynamoDB point-in-time recovery
    "CKV_AWS_115",  # Lambda reserved concurrency
    "CKV_AWS_116",  # Lambda dead-letter queue
    "CKV_AWS_117",  # Lambda in a VPC
    "CKV_AWS_119",  # DynamoDB customer-managed key
    "CKV_AWS_158",  # CloudWatch Logs KMS
    "CKV_AWS_173",  # Lambda environment KMS
}


def checkov(template: Path, folder: Path) -> dict[str, Any]:
    """checkov's findings on TEMPLATE with no check skipped for the whole template: a resource skips a check
    in its own Metadata, with its reason. Run in FOLDER: checkov also reads the .checkov.yaml of the folder it
    runs in."""
    options = ["--framework", "cloudformation", "--skip-download", "--compact", "--quiet", "-o", "json"]
    result = subprocess.run(
        [tool("checkov", ".venv-checkov"), "-f", str(template), *options],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stdout[-5000:] + result.stderr[-2000:]
    return json.loads(result.stdout)


def test_every_checkov_skip_is_a_resources_own_with_its_reason():
    skips = {
        (name, skip["id"]): skip.get("comment", "")
        for name, resource in sam_template()["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    assert {check for _, check in skips} == SKIPPED_BY_SOME_RESOURCES
    assert [key for key, comment in skips.items() if len(comment) < 40] == [], "each skip says why"


@pytest.mark.slow
def test_checkov_finds_nothing_unjustified(tmp_path):
    found = checkov(ROOT / "template.yaml", tmp_path)
    failed = [(f["check_id"], f["resource"]) for f in found["results"].get("failed_checks", [])]
    assert failed == []
    assert found["summary"]["passed"] > 30, found["summary"]


@pytest.mark.slow
def test_a_new_resource_is_held_to_every_check_another_resource_skips(tmp_path):
    """A check skipped by resources of the stack still fails a new resource that does not meet it."""
    template = copy.deepcopy(sam_template())
    function = {"CodeUri": "functions/runs/", "Handler": "new.handler", "Environment": {"Variables": {"A": "b"}}}
    template["Resources"].update(
        {
            "NewFunction": {"Type": "AWS::Serverless::Function", "Properties": function},
            "NewLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
            "NewBucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "NewQueue": {"Type": "AWS::SQS::Queue", "Properties": {"SqsManagedSseEnabled": True}},
            "NewTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                },
            },
        }
    )
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    findings = checkov(path, tmp_path)["results"]["failed_checks"]
    failed = {(f["check_id"], f["resource"].split(".")[-1]) for f in findings}
    expected = {
        ("CKV_AWS_115", "NewFunction"),
        ("CKV_AWS_116", "NewFunction"),
        ("CKV_AWS_117", "NewFunction"),
        ("CKV_AWS_173", "NewFunction"),
        ("CKV_AWS_158", "NewLogGroup"),
        ("CKV_AWS_18", "NewBucket"),
        ("CKV_AWS_21", "NewBucket"),
        ("CKV_AWS_27", "NewQueue"),
        ("CKV_AWS_119", "NewTable"),
        ("CKV_AWS_28", "NewTable"),
    }
    assert {check for check, _ in expected} == SKIPPED_BY_SOME_RESOURCES
    assert expected <= failed
    assert {resource for _, resource in failed} <= {resource for _, resource in expected}, "the stack's own pass"


def sam_environment(extra_path: str | None = None) -> dict[str, str]:
    import os

    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    if extra_path:
        env["PATH"] = f"{extra_path}:{env['PATH']}"
    return env


@pytest.mark.slow
def test_sam_build_succeeds_without_docker(tmp_path):
    interpreter_dir = runtime_python_dir()
    if interpreter_dir is None:
        runtime = sam_template()["Globals"]["Function"]["Runtime"]
        pytest.skip(f"sam build needs {runtime} on PATH (or under pyenv); this machine has none")
    build_dir = tmp_path / "build"
    result = run_tool(
        [tool("sam", ".venv-sam"), "build", "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache")],
        env=sam_environment(interpreter_dir),
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    built = {path.name for path in build_dir.iterdir()}
    assert {
        "BatchSubmitFunction",
        "CallbackNotifyFunction",
        "JobEventsFunction",
        "PrepareRunFunction",
        "AccountBatchFunction",
        "FinishRunFunction",
        "ScriptPublisherFunction",
        "ParameterCheckFunction",
        "template.yaml",
    } <= built
    assert (build_dir / "ScriptPublisherFunction" / "batch-notify-step-function.sh").is_file()
    # The module every handler shares is packaged with each function.
    functions = [
        n for n, r in sam_template()["Resources"].items() if r["Properties"].get("CodeUri") == "functions/runs/"
    ]
    assert len(functions) == 7
    assert all((build_dir / name / "shared.py").is_file() for name in functions)
    # ... and its dependencies are installed once for all seven (a function whose resource Metadata
    # differs is built on its own: pip again).
    resources = sam_template()["Resources"].values()
    folders = {r["Properties"]["CodeUri"] for r in resources if r["Type"] == "AWS::Serverless::Function"}
    assert result.stderr.count("Building codeuri: ") == len(folders) == 3, result.stderr[-3000:]
    assert (build_dir / "BatchSubmitFunction" / "aws_lambda_powertools").is_dir()
    # aws-xray-sdk brings botocore: the function ships the matching boto3 too, not the runtime's.
    assert (build_dir / "BatchSubmitFunction" / "botocore").is_dir()
    assert (build_dir / "BatchSubmitFunction" / "boto3").is_dir()


def test_the_docs_document_every_parameter_and_output():
    operating = (ROOT / "docs" / "operating.md").read_text()
    missing = [
        name for name in [*sam_template()["Parameters"], *sam_template()["Outputs"]] if f"`{name}`" not in operating
    ]
    assert missing == []


def test_the_docs_links_lead_somewhere():
    """Every relative link of the README and docs/ names a file that exists, and a heading in it."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target, anchor in re.findall(r"\]\((?!https?:)([^)#]*)(?:#([^)]*))?\)", page.read_text()):
            linked = (page.parent / target).resolve() if target else page
            if not linked.is_file():
                broken.append(f"{page.name}: {target}")
            elif anchor and anchor not in anchors(linked):
                broken.append(f"{page.name}: {target}#{anchor}")
    assert broken == []


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown page's headings."""
    headings = re.findall(r"^#+ (.*)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_readme_commands_exist_in_the_makefile():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "setup"):
        assert f"\n{target}:" in makefile
