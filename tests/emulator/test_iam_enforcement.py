"""IAM enforced as AWS enforces it (local_emulator/patches/iam_enforcement.py): an emulator started with
enforce_iam=True refuses what AWS would refuse. Sessions come from sts:AssumeRole in process, as the
Lambda and Batch runtimes will hand them out; the emulator's own key `local` is the account's root user.

The policy language is tested without a server first; then requests against an emulator, on roles of
the tests' own and on the roles, bucket policies and tags of the application's template."""

import datetime
import io
import json
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local_emulator.container_credentials import FULL_URI, ContainerCredentials
from local_emulator.patches import iam_enforcement
from local_emulator.patches.iam_enforcement import Check, Context, Policy, Principal, RequestRefusedError, requested
from local_emulator.server import Emulator, free_port
from tests.emulator.probes_iam import ACCOUNT, REGION, TRUST_THE_ACCOUNT
from tests.emulator.stacks import CALLBACK_ONLY, Deployed, deployed

STACK_TAG = "sfn-batch-orchestrator:stack"


# == the policy language, without a server ===================================================
def decision(statements: list[dict[str, Any]], action: str, resource: str, **context: Any) -> str:
    """What an identity policy of STATEMENTS says of ACTION on RESOURCE: deny, allow or neutral."""
    principal = Principal("root", f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, REGION)
    check = Check(action, resource, {key.lower(): value for key, value in context.items()})
    denied, allowed, _ = Policy({"Version": "2012-10-17", "Statement": statements}).evaluate(
        check, Context(check, principal), None
    )
    return "deny" if denied else "allow" if allowed else "neutral"


def allow(condition: dict[str, Any] | None = None, **statement: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **statement, "Condition": condition or {}}


def test_actions_match_case_insensitively_and_wildcards_are_the_only_patterns():
    statements = [{"Effect": "Allow", "Action": ["S3:Get*", "dynamodb:?etItem"], "Resource": "arn:aws:s3:::b/a.json"}]
    assert decision(statements, "s3:GetObject", "arn:aws:s3:::b/a.json") == "allow"
    assert decision(statements, "dynamodb:GetItem", "arn:aws:s3:::b/a.json") == "allow"
    assert decision(statements, "s3:PutObject", "arn:aws:s3:::b/a.json") == "neutral"
    assert decision(statements, "s3:GetObject", "arn:aws:s3:::b/aXjson") == "neutral", "a dot is literal"
    one_character = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/?.json"}]
    assert decision(one_character, "s3:GetObject", "arn:aws:s3:::b/ab.json") == "neutral"


def test_wildcards_stay_within_an_arn_segment_but_span_the_resource_part():
    statements = [{"Effect": "Allow", "Action": "states:*", "Resource": "arn:aws:states:*:123456789012:execution:m/*"}]
    assert (
        decision(statements, "states:StopExecution", "arn:aws:states:us-east-1:123456789012:execution:m/r:c") == "allow"
    )
    assert decision(statements, "states:StopExecution", "arn:aws:states:us-east-1:a:b:123456789012:execution:m/r") == (
        "neutral"
    )


def test_not_action_and_not_resource_cover_everything_else():
    statements = [
        {"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::kept/*"},
    ]
    assert decision(statements, "s3:GetObject", "arn:aws:s3:::kept/a") == "allow"
    assert decision(statements, "s3:DeleteObject", "arn:aws:s3:::kept/a") == "neutral"
    assert decision(statements, "s3:GetObject", "arn:aws:s3:::other/a") == "deny"


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        ({"StringEquals": {"aws:RequestTag/stack": "s"}}, {}, "neutral"),  # an absent key fails
        ({"StringNotEquals": {"aws:RequestTag/stack": "s"}}, {}, "allow"),  # ...but for a negated operator
        ({"StringEqualsIfExists": {"aws:RequestTag/stack": "s"}}, {}, "allow"),
        ({"StringEqualsIfExists": {"aws:RequestTag/stack": "s"}}, {"aws:RequestTag/stack": "t"}, "neutral"),
        ({"StringNotEquals": {"aws:RequestTag/stack": ["s", "t"]}}, {"aws:RequestTag/stack": "t"}, "neutral"),
        ({"StringLike": {"s3:prefix": "runs/*"}}, {"s3:prefix": "runs/r1/"}, "allow"),
        ({"StringNotLike": {"s3:prefix": "runs/*"}}, {"s3:prefix": "runs/r1/"}, "neutral"),
        ({"Null": {"aws:RequestTag/stack": "true"}}, {}, "allow"),
        ({"Null": {"aws:RequestTag/stack": "false"}}, {}, "neutral"),
        ({"Bool": {"aws:SecureTransport": "false"}}, {}, "neutral"),  # SDKs reach AWS over HTTPS
        ({"Bool": {"aws:SecureTransport": True}}, {}, "allow"),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:ecs:us-east-1:123456789012:*"}}, {}, "neutral"),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:ecs:us-east-1:123456789012:*"}},
            {"aws:SourceArn": "arn:aws:ecs:us-east-1:123456789012:task/c/1"},
            "allow",
        ),
        (
            {"ArnEquals": {"aws:SourceArn": "arn:aws:ecs:us-east-1:123456789012:task/*"}},
            {"aws:SourceArn": "arn:aws:ecs:eu-west-1:123456789012:task/c/1"},
            "neutral",
        ),
        ({"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}, {}, "allow"),
        ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}, "allow"),
        ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "50"}, "neutral"),
        ({"DateGreaterThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}}, {}, "allow"),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a"]}, "allow"),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a", "c"]}, "neutral"),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {}, "allow"),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["c"]}}, {"aws:TagKeys": ["a", "c"]}, "allow"),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["c"]}}, {}, "neutral"),
        ({"StringEquals": {"aws:RequestTag/a": "1", "aws:RequestTag/b": "2"}}, {"aws:RequestTag/a": "1"}, "neutral"),
        ({"NoSuchOperator": {"aws:RequestTag/a": "1"}}, {"aws:RequestTag/a": "1"}, "neutral"),
    ],
)
def test_conditions_hold_as_aws_evaluates_them(condition: dict[str, Any], context: dict[str, Any], expected: str):
    assert decision([allow(condition)], "s3:GetObject", "arn:aws:s3:::b/k", **context) == expected


def test_policy_variables_are_replaced_and_their_values_are_literal():
    statements = [allow(Resource="arn:aws:s3:::b/${aws:PrincipalAccount}/*")]
    assert decision(statements, "s3:GetObject", f"arn:aws:s3:::b/{ACCOUNT}/k") == "allow"
    assert decision(statements, "s3:GetObject", "arn:aws:s3:::b/999999999999/k") == "neutral"
    unknown = [allow(Resource="arn:aws:s3:::b/${aws:username}/*")]  # the root user has no user name
    assert decision(unknown, "s3:GetObject", "arn:aws:s3:::b//k") == "neutral"


def test_enforcement_is_on_unless_turned_off(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LOCAL_EMULATOR_ENFORCE_IAM", raising=False)
    assert requested() is True and requested(False) is False
    assert Emulator(port=free_port()).enforce_iam is True
    for off in ("0", "false", "off"):
        monkeypatch.setenv("LOCAL_EMULATOR_ENFORCE_IAM", off)
        assert requested() is False and requested(True) is True
    assert Emulator(port=free_port()).enforce_iam is False


# == requests against an emulator that enforces IAM =========================================
@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """An emulator enforcing IAM (named as conftest's, whose cleanup of jobs then applies)."""
    with Emulator(port=free_port(), enforce_iam=True) as running:
        yield running


@pytest.fixture(scope="module")
def stack(emulator: Emulator) -> Deployed:
    """The application's stack, deployed with IAM enforced (by the root user, as `sam deploy` is)."""
    return deployed(emulator, "iam", CALLBACK_ONLY)


def keyed(emulator: Emulator, service: str, key: str, secret: str) -> Any:
    """A client signing with KEY and SECRET."""
    return boto3.client(
        service,
        endpoint_url=emulator.endpoint_url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def root(emulator: Emulator, service: str) -> Any:
    return keyed(emulator, service, "local", "local")


def as_role(emulator: Emulator, role_name: str) -> Callable[[str], Any]:
    """Clients of a session of ROLE_NAME (sts:AssumeRole in process, as the runtimes will)."""
    from moto.sts.models import sts_backends

    arn = root(emulator, "iam").get_role(RoleName=role_name)["Role"]["Arn"]
    session = sts_backends[ACCOUNT]["aws"].assume_role(
        region_name=REGION, role_session_name="test", role_arn=arn, policy=None, duration=3600, external_id=None
    )

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=emulator.endpoint_url,
            region_name=REGION,
            aws_access_key_id=session.access_key_id,
            aws_secret_access_key=session.secret_access_key,
            aws_session_token=session.session_token,
        )

    return client


def new_role(emulator: Emulator, *statements: dict[str, Any]) -> str:
    name = f"test-{time.monotonic_ns()}"
    iam = root(emulator, "iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_THE_ACCOUNT))
    if statements:
        policy = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=policy)
    return name


def refused(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    return {**raised.value.response["Error"], "status": raised.value.response["ResponseMetadata"]["HTTPStatusCode"]}


def test_a_role_reads_its_prefix_of_its_bucket_and_nothing_else(emulator: Emulator):
    s3 = root(emulator, "s3")
    for bucket in ("iam-requests", "iam-elsewhere"):
        s3.create_bucket(Bucket=bucket)
        for key in ("requests/a.json", "responses/a.json"):
            s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
    role = new_role(
        emulator, {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::iam-requests/requests/*"}
    )
    reader = as_role(emulator, role)("s3")

    assert reader.get_object(Bucket="iam-requests", Key="requests/a.json")["Body"].read() == b"{}"
    assert reader.head_object(Bucket="iam-requests", Key="requests/a.json")["ContentLength"] == 2
    for bucket, key in (("iam-requests", "responses/a.json"), ("iam-elsewhere", "requests/a.json")):
        assert refused(lambda b=bucket, k=key: reader.get_object(Bucket=b, Key=k)) == {
            "Code": "AccessDenied",
            "Message": "Access Denied",
            "status": 403,
        }
    assert refused(lambda: reader.list_objects_v2(Bucket="iam-requests"))["Code"] == "AccessDenied"
    assert refused(lambda: reader.put_object(Bucket="iam-requests", Key="requests/b.json", Body=b""))["status"] == 403


def test_multipart_uploads_versions_and_copies_need_their_own_actions(emulator: Emulator):
    s3 = root(emulator, "s3")
    s3.create_bucket(Bucket="iam-objects")
    s3.put_bucket_versioning(Bucket="iam-objects", VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket="iam-objects", Key="in/a", Body=b"first")["VersionId"]
    s3.put_object(Bucket="iam-objects", Key="in/a", Body=b"second")
    objects = "arn:aws:s3:::iam-objects"
    role = new_role(
        emulator,
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{objects}/out/*"},
        {"Effect": "Allow", "Action": "s3:AbortMultipartUpload", "Resource": f"{objects}/out/aborted"},
        {"Effect": "Allow", "Action": "s3:GetObjectVersion", "Resource": f"{objects}/in/*"},
        {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"{objects}/gone/*"},
    )
    client = as_role(emulator, role)("s3")

    upload = client.create_multipart_upload(Bucket="iam-objects", Key="out/whole")["UploadId"]
    part = client.upload_part(Bucket="iam-objects", Key="out/whole", UploadId=upload, PartNumber=1, Body=b"x")
    client.complete_multipart_upload(
        Bucket="iam-objects",
        Key="out/whole",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    aborted = client.create_multipart_upload(Bucket="iam-objects", Key="out/aborted")["UploadId"]
    client.abort_multipart_upload(Bucket="iam-objects", Key="out/aborted", UploadId=aborted)
    kept = client.create_multipart_upload(Bucket="iam-objects", Key="out/kept")["UploadId"]
    error = refused(lambda: client.abort_multipart_upload(Bucket="iam-objects", Key="out/kept", UploadId=kept))
    assert error["Code"] == "AccessDenied", "s3:AbortMultipartUpload is an action of its own"
    # s3:GetObjectVersion reads a version, not the current object (s3:GetObject).
    assert client.get_object(Bucket="iam-objects", Key="in/a", VersionId=version)["Body"].read() == b"first"
    assert refused(lambda: client.get_object(Bucket="iam-objects", Key="in/a"))["Code"] == "AccessDenied"
    # A copy reads its source: s3:GetObject (or s3:GetObjectVersion of a version) there too.
    source = {"Bucket": "iam-objects", "Key": "in/a"}
    client.copy_object(Bucket="iam-objects", Key="out/copy", CopySource={**source, "VersionId": version})
    assert refused(lambda: client.copy_object(Bucket="iam-objects", Key="out/copy", CopySource=source))["status"] == 403
    # DeleteObjects: s3:DeleteObject for a key, s3:DeleteObjectVersion for a key named with its version.
    gone = s3.put_object(Bucket="iam-objects", Key="gone/a", Body=b"x")["VersionId"]
    answer = client.delete_objects(
        Bucket="iam-objects", Delete={"Objects": [{"Key": "gone/a", "VersionId": gone}, {"Key": "gone/b"}]}
    )
    assert [(e["Key"], e["Code"]) for e in answer.get("Errors", [])] == [("gone/a", "AccessDenied")]
    assert [d["Key"] for d in answer["Deleted"]] == ["gone/b"]


def test_step_functions_actions_are_scoped_to_their_machine_and_executions(emulator: Emulator):
    sfn, iam = root(emulator, "stepfunctions"), root(emulator, "iam")
    role_arn = iam.create_role(RoleName="iam-machine", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    mine, other = (
        sfn.create_state_machine(name=name, definition=definition, roleArn=role_arn)["stateMachineArn"]
        for name in ("iam-mine", "iam-other")
    )
    other_execution = sfn.start_execution(stateMachineArn=other)["executionArn"]
    executions = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:iam-mine:*"
    role = new_role(
        emulator,
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": mine},
        {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"], "Resource": executions},
        {"Effect": "Allow", "Action": "states:SendTaskSuccess", "Resource": "*"},
    )
    client = as_role(emulator, role)("stepfunctions")

    execution = client.start_execution(stateMachineArn=mine)["executionArn"]
    assert client.describe_execution(executionArn=execution)["stateMachineArn"] == mine
    assert refused(lambda: client.start_execution(stateMachineArn=other))["Code"] == "AccessDeniedException"
    error = refused(lambda: client.describe_execution(executionArn=other_execution))
    assert error["Message"].endswith(
        f"states:DescribeExecution on resource: {other_execution} "
        "because no identity-based policy allows the states:DescribeExecution action"
    )
    # SendTaskSuccess takes no resource: the token is the credential (here, one of no task).
    assert refused(lambda: client.send_task_success(taskToken="x" * 20, output="{}"))["Code"] != "AccessDeniedException"


def test_an_explicit_deny_wins_over_any_allow(emulator: Emulator):
    dynamodb = root(emulator, "dynamodb")
    dynamodb.create_table(
        TableName="iam-deny",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/iam-deny"
    role = new_role(
        emulator,
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": table_arn},
    )
    client = as_role(emulator, role)("dynamodb")
    key = {"k": {"S": "a"}}
    client.put_item(TableName="iam-deny", Item=key)

    error = refused(lambda: client.delete_item(TableName="iam-deny", Key=key))
    assert error == {
        "Code": "AccessDeniedException",
        "Message": f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role}/test is not authorized to perform: "
        f"dynamodb:DeleteItem on resource: {table_arn} with an explicit deny in an identity-based policy",
        "status": 400,
    }
    # A transaction is authorized item by item: its delete is the same action, refused the same way.
    transaction = [{"Put": {"TableName": "iam-deny", "Item": key}}, {"Delete": {"TableName": "iam-deny", "Key": key}}]
    assert refused(lambda: client.transact_write_items(TransactItems=transaction))["Code"] == "AccessDeniedException"
    assert "Item" in client.get_item(TableName="iam-deny", Key=key)


def test_the_root_key_may_do_anything_and_an_unknown_key_nothing(emulator: Emulator):
    assert root(emulator, "sts").get_caller_identity()["Account"] == ACCOUNT
    root(emulator, "sqs").create_queue(QueueName="iam-root")
    stranger = keyed(emulator, "sqs", "AKIAUNKNOWNKEY000000", "x")
    assert refused(lambda: stranger.list_queues())["Code"] == "InvalidClientTokenId"


def test_what_the_emulator_does_for_a_role_is_authorized_as_its_requests_are(emulator: Emulator):
    bucket_arn = "arn:aws:s3:::iam-internal"
    root(emulator, "s3").create_bucket(Bucket="iam-internal")
    root(emulator, "s3").put_bucket_policy(
        Bucket="iam-internal",
        Policy=json.dumps(
            {
                "Statement": [
                    {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/x"}
                ]
            }
        ),
    )
    role = new_role(emulator, {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/*"})
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"

    iam_enforcement.authorize_role(role_arn, "s3:GetObject", f"{bucket_arn}/items.jsonl")
    with pytest.raises(RequestRefusedError) as denied:
        iam_enforcement.authorize_role(role_arn, "s3:GetObject", f"{bucket_arn}/x", session_name="map")
    assert denied.value.message() == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role}/map is not authorized to perform: s3:GetObject on "
        f"resource: {bucket_arn}/x with an explicit deny in a resource-based policy"
    )


def test_what_a_service_does_as_itself_is_authorized_by_the_resources_policy(emulator: Emulator):
    sqs = root(emulator, "sqs")
    url = sqs.create_queue(QueueName="iam-undelivered")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:iam-undelivered"
    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/job-events"
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Statement": [statement]})})

    iam_enforcement.authorize_service("events.amazonaws.com", "sqs:SendMessage", queue_arn, {"aws:SourceArn": rule_arn})
    for service, source in (("events.amazonaws.com", f"{rule_arn}-other"), ("sns.amazonaws.com", rule_arn)):
        with pytest.raises(RequestRefusedError):
            iam_enforcement.authorize_service(service, "sqs:SendMessage", queue_arn, {"aws:SourceArn": source})


def test_the_journal_names_the_statements_that_allowed_each_request(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
):
    root(emulator, "sqs").create_queue(QueueName="iam-journal")
    role = new_role(
        emulator,
        {"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": "*"},
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:iam-journal"},
    )
    client = as_role(emulator, role)("sqs")
    journal: list[tuple[str, str, str, list[tuple[str, int]]]] = []
    monkeypatch.setattr(iam_enforcement, "journal", lambda *entry: journal.append(entry))

    client.send_message(QueueUrl=client.get_queue_url(QueueName="iam-journal")["QueueUrl"], MessageBody="x")
    refused(lambda: client.purge_queue(QueueUrl=client.get_queue_url(QueueName="iam-journal")["QueueUrl"]))
    caller = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/test"
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:iam-journal"
    assert journal == [
        (caller, "sqs:GetQueueUrl", queue_arn, [(f"{role}/inline", 0)]),
        (caller, "sqs:SendMessage", queue_arn, [(f"{role}/inline", 1)]),
        (caller, "sqs:GetQueueUrl", queue_arn, [(f"{role}/inline", 0)]),
        (caller, "sqs:PurgeQueue", queue_arn, None),  # refused
    ]


def role_of(stack: Deployed, logical_id: str) -> str:
    resources = stack.client("cloudformation").describe_stack_resources(StackName=stack.stack.name)
    [found] = [r for r in resources["StackResources"] if r["LogicalResourceId"] == logical_id]
    return found["PhysicalResourceId"]


def test_the_templates_bucket_policies_deny_no_request_of_the_stacks_roles(emulator: Emulator, stack: Deployed):
    runs, scripts = stack.stack.outputs["RunsBucketName"], stack.stack.outputs["ScriptBucketName"]
    policy = json.loads(root(emulator, "s3").get_bucket_policy(Bucket=runs)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["DenyInsecureTransport"]
    finish = as_role(emulator, role_of(stack, "FinishRunFunctionRole"))("s3")

    finish.put_object(Bucket=runs, Key="runs/r1/summary.json", Body=b"{}")
    assert finish.get_object(Bucket=runs, Key="runs/r1/summary.json")["Body"].read() == b"{}"
    assert finish.list_objects_v2(Bucket=runs, Prefix="runs/r1/")["KeyCount"] == 1
    assert refused(lambda: finish.put_object(Bucket=runs, Key="elsewhere/summary.json", Body=b"{}"))["status"] == 403
    assert refused(lambda: finish.list_objects_v2(Bucket=scripts))["Code"] == "AccessDenied"
    # SAM's roles hold their managed policies (ManagedPolicyArns), as on AWS.
    attached = root(emulator, "iam").list_attached_role_policies(RoleName=role_of(stack, "FinishRunFunctionRole"))
    assert "AWSLambdaBasicExecutionRole" in {p["PolicyName"] for p in attached["AttachedPolicies"]}


def sleeping_job(emulator: Emulator, stack: Deployed, tags: dict[str, str] | None = None, as_: Any = None) -> str:
    """A job of the stack's queue and of a revision of its job definition that only sleeps."""
    batch = root(emulator, "batch")
    name = f"{stack.stack.name}-job"
    definition = batch.register_job_definition(
        jobDefinitionName=name,
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "local",
            "command": ["sleep", "30"],
            "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}],
        },
    )["jobDefinitionArn"]
    return (as_ or batch).submit_job(
        jobName="iam",
        jobQueue=stack.stack.outputs["JobQueueArn"],
        jobDefinition=definition,
        **({"tags": tags} if tags else {}),
    )["jobId"]


def test_terminate_job_honours_the_condition_on_the_jobs_tag(emulator: Emulator, stack: Deployed):
    ours = sleeping_job(emulator, stack, tags={STACK_TAG: stack.stack.name})
    theirs = sleeping_job(emulator, stack, tags={STACK_TAG: "another-stack"})
    untagged = sleeping_job(emulator, stack)
    role = role_of(stack, "TerminateRunJobsFunctionRole")
    batch = as_role(emulator, role)("batch")

    batch.terminate_job(jobId=ours, reason="run failed")
    for job_id in (theirs, untagged):
        error = refused(lambda j=job_id: batch.terminate_job(jobId=j, reason="run failed"))
        assert error == {
            "Code": "AccessDeniedException",
            "Message": f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role}/test is not authorized to perform: "
            f"batch:TerminateJob on resource: arn:aws:batch:{REGION}:{ACCOUNT}:job/{job_id} "
            "because no identity-based policy allows the batch:TerminateJob action",
            "status": 403,
        }
    root(emulator, "batch").terminate_job(jobId=theirs, reason="test over")
    root(emulator, "batch").terminate_job(jobId=untagged, reason="test over")


def test_submit_job_may_tag_with_its_own_stack_only(emulator: Emulator, stack: Deployed):
    batch = as_role(emulator, role_of(stack, "BatchSubmitFunctionRole"))("batch")

    submitted = [
        sleeping_job(emulator, stack, tags={STACK_TAG: stack.stack.name}, as_=batch),
        sleeping_job(emulator, stack, as_=batch),  # no tags: no batch:TagResource to authorize
    ]
    error = refused(lambda: sleeping_job(emulator, stack, tags={STACK_TAG: "another-stack"}, as_=batch))
    assert error["Code"] == "AccessDeniedException"
    assert f"batch:TagResource on resource: arn:aws:batch:{REGION}:{ACCOUNT}:job/*" in error["Message"]
    for job_id in submitted:
        root(emulator, "batch").terminate_job(jobId=job_id, reason="test over")


def test_a_run_succeeds_with_iam_enforced(stack: Deployed):
    """The functions, the job and the state machines call with their roles' sessions: the template's
    policies allow all a run does (tests/emulator/test_least_privilege.py: and no more)."""
    result = stack.run({"input": {"entries": [{"name": "enforced"}]}}, timeout=240)
    assert result.status == "SUCCEEDED"


# == what runs with a role calls with its credentials ========================================
def test_the_step_functions_engines_own_key_is_no_identity(emulator: Emulator):
    engine = keyed(emulator, "sqs", "ak", "sk")
    assert refused(lambda: engine.list_queues())["Code"] == "InvalidClientTokenId"


def log_streams(emulator: Emulator, group: str) -> list[str]:
    try:
        streams = root(emulator, "logs").describe_log_streams(logGroupName=group)["logStreams"]
    except ClientError:
        return []  # no such group
    return [stream["logStreamName"] for stream in streams]


def test_a_function_runs_with_its_roles_session_and_writes_its_log_only_if_its_role_may(emulator: Emulator):
    role = new_role(emulator, {"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"})
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr(
            "app.py",
            "import boto3\ndef handler(event, context):\n    print('logged')\n"
            "    return [boto3.client('sqs').list_queues().get('QueueUrls', [])[:0], "
            "boto3.client('sts').get_caller_identity()['Arn']]\n",
        )
    awslambda = root(emulator, "lambda")
    awslambda.create_function(
        FunctionName="iam-logs",
        Runtime="python3.13",
        Role=f"arn:aws:iam::{ACCOUNT}:role/{role}",
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
    )

    def invoked() -> Any:
        response = awslambda.invoke(FunctionName="iam-logs", Payload=b"{}")
        assert "FunctionError" not in response
        return json.loads(response["Payload"].read())

    assert invoked() == [[], f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/iam-logs"]
    assert log_streams(emulator, "/aws/lambda/iam-logs") == [], "no logs:CreateLogGroup, no log"
    root(emulator, "iam").attach_role_policy(
        RoleName=role, PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    )
    invoked()
    assert len(log_streams(emulator, "/aws/lambda/iam-logs")) == 1


def job_definition(emulator: Emulator, name: str, command: str, **roles: str) -> str:
    return root(emulator, "batch").register_job_definition(
        jobDefinitionName=name,
        type="container",
        platformCapabilities=["FARGATE"],
        retryStrategy={
            "attempts": 2,
            "evaluateOnExit": [{"onReason": "ResourceInitializationError*", "action": "RETRY"}],
        },
        containerProperties={
            "image": "local",
            "command": ["sh", "-c", command],
            "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}],
            **roles,
        },
    )["jobDefinitionArn"]


def ended_job(emulator: Emulator, stack: Deployed, definition: str) -> dict[str, Any]:
    batch = root(emulator, "batch")
    job_id = batch.submit_job(jobName="iam", jobQueue=stack.stack.outputs["JobQueueArn"], jobDefinition=definition)[
        "jobId"
    ]
    return stack.finished_job(job_id)


def job_output(emulator: Emulator, job: dict[str, Any]) -> str:
    events = root(emulator, "logs").get_log_events(
        logGroupName="/aws/batch/job", logStreamName=job["container"]["logStreamName"]
    )["events"]
    return "\n".join(event["message"] for event in events)


def test_a_job_gets_its_roles_session_from_the_credentials_endpoint(emulator: Emulator, stack: Deployed):
    role = new_role(emulator)
    command = 'env | grep -c "^AWS_ACCESS_KEY_ID=" ; aws sts get-caller-identity --query Arn --output text'
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    job = ended_job(emulator, stack, job_definition(emulator, "iam-job-role", command, jobRoleArn=role_arn))
    assert job["status"] == "SUCCEEDED"
    assert job_output(emulator, job).split() == ["0", f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{job['jobId']}-1"]

    without = ended_job(emulator, stack, job_definition(emulator, "iam-no-role", "aws sts get-caller-identity"))
    assert without["status"] == "FAILED", "a job without a role has no credentials, as on Fargate"
    assert "Unable to locate credentials" in job_output(emulator, without)


def test_a_task_whose_execution_role_may_not_create_its_log_stream_does_not_start(emulator: Emulator, stack: Deployed):
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{new_role(emulator)}"
    job = ended_job(emulator, stack, job_definition(emulator, "iam-no-logs", "true", executionRoleArn=role_arn))
    assert job["status"] == "FAILED" and len(job["attempts"]) == 2, "retried as its strategy says"
    assert job["statusReason"].startswith(
        "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: "
        "failed to create Cloudwatch log stream: AccessDeniedException: User: "
    )
    assert "not authorized to perform: logs:CreateLogStream" in job["statusReason"]


def test_the_credentials_endpoint_serves_expiring_sessions_and_renews_them(emulator: Emulator):
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{new_role(emulator)}"

    def fetched(uri: str) -> dict[str, str]:
        with urllib.request.urlopen(uri, timeout=10) as response:
            return json.loads(response.read())

    for renew_seconds, renewed in ((60, False), (7200, True)):  # a session of 3,600 s renewed under 7,200 s left
        endpoint = ContainerCredentials(REGION, seconds=3600, renew_seconds=renew_seconds)
        try:
            variables = endpoint.register(role_arn, "task")
            first, second = fetched(variables[FULL_URI]), fetched(variables[FULL_URI])
            assert first["RoleArn"] == role_arn and first["Token"] and first["SecretAccessKey"]
            expiration = datetime.datetime.strptime(first["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
            assert (
                3500 < (expiration - datetime.datetime.now(datetime.UTC).replace(tzinfo=None)).total_seconds() <= 3600
            )
            assert (first["AccessKeyId"] != second["AccessKeyId"]) is renewed
            endpoint.unregister(variables)
            with pytest.raises(urllib.error.HTTPError) as gone:
                fetched(variables[FULL_URI])
            assert gone.value.code == 404
        finally:
            endpoint.stop()
