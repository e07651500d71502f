"""Probes of the IAM enforcement patches (local_emulator/patches/iam_enforcement.py).

The probes run with IAM not enforced, as stock moto runs them; each probe that needs enforcement turns
it on for its duration with moto's own switch, `POST /moto-api/reset-auth` (0: every request is checked), which
stock moto and the emulator share, and puts it back as it was. What a probe sets up, it sets up
before, with the root key `local`; what it checks, it checks as a role's session, whose credentials
come from sts:AssumeRole.
"""

import json
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3
from botocore.exceptions import ClientError

from tests.emulator.patch_probes import (
    ECHO,
    Aws,
    create_function,
    create_stack,
    job_queue,
    keyed_table,
    probe,
    unique,
    until,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
TRUST_THE_ACCOUNT = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    ],
}


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def reset_auth(aws: Aws, value: str) -> str:
    """Set moto's INITIAL_NO_AUTH_ACTION_COUNT; the value it had."""
    request = urllib.request.Request(
        f"{aws.endpoint_url}/moto-api/reset-auth",
        data=value.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # not a form: moto reads the body as it came
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]


@contextmanager
def enforced(aws: Aws) -> Iterator[None]:
    """IAM enforced meanwhile (as it was before, after)."""
    previous = reset_auth(aws, "0")
    try:
        yield
    finally:
        reset_auth(aws, previous)


@dataclass
class Session:
    endpoint_url: str
    credentials: dict[str, str]
    arn: str

    def client(self, service: str, secret: str | None = None) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=self.credentials["AccessKeyId"],
            aws_secret_access_key=secret or self.credentials["SecretAccessKey"],
            aws_session_token=self.credentials["SessionToken"],
        )


def role_with(aws: Aws, *statements: dict[str, Any], **create: Any) -> str:
    """A role of the account whose inline policy holds STATEMENTS (none: no policy); its name."""
    name = unique("role")
    iam = aws.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_THE_ACCOUNT), **create)
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=document(*statements))
    return name


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def session_of(aws: Aws, role: str) -> Session:
    """A session of ROLE (assumed with the root key, before IAM is enforced)."""
    credentials = aws.client("sts").assume_role(RoleArn=role_arn(role), RoleSessionName="probe")["Credentials"]
    return Session(aws.endpoint_url, credentials, f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/probe")


def outcome(call: Callable[[], Any]) -> str:
    """ "ok", or the error code of CALL's refusal."""
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    return "ok"


def refusal(call: Callable[[], Any]) -> tuple[str, str, int] | None:
    """(code, message, HTTP status) of CALL's refusal; None when it succeeded."""
    try:
        call()
    except ClientError as error:
        return (
            error.response["Error"]["Code"],
            error.response["Error"].get("Message", ""),
            error.response["ResponseMetadata"]["HTTPStatusCode"],
        )
    return None


def bucket_with(aws: Aws, *keys: str) -> str:
    bucket = unique("bucket")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"data")
    return bucket


DENY_INSECURE_TRANSPORT = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


@probe("iam_policies_are_evaluated_as_aws_does")
def policies_decide_as_aws_evaluates_them(aws: Aws) -> bool:
    bucket = bucket_with(
        aws, "requests/a.json", "requests/ab.json", "requests/aXjson", "other/a.json", "secret/a", "cfn/a.json"
    )
    objects = f"arn:aws:s3:::{bucket}"
    role = role_with(
        aws,
        # Action names match case-insensitively; ? is one character and . is literal.
        {"Effect": "Allow", "Action": "S3:getobject", "Resource": f"{objects}/requests/?.json"},
        # A condition whose key the request lacks does not hold.
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{objects}/secret/*",
            "Condition": {"StringLike": {"aws:PrincipalTag/team": "data*"}},
        },
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": objects,
            "Condition": {"StringEquals": {"s3:prefix": "requests/"}},
        },
        # An explicit Deny (NotResource: all but these) beats another policy's Allow.
        {
            "Effect": "Deny",
            "Action": "s3:GetObject",
            "NotResource": [f"{objects}/requests/*", f"{objects}/secret/*", f"{objects}/cfn/*"],
        },
    )
    iam = aws.client("iam")
    others = iam.create_policy(
        PolicyName=unique("other-objects"),
        PolicyDocument=document({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{objects}/other/*"}),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=others)
    # An inline policy CloudFormation creates (stored as a dict).
    stack = create_stack(
        aws,
        {
            "Reads": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "cfn",
                    "Roles": [role],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{objects}/cfn/*"}],
                    },
                },
            }
        },
    )
    if stack["StackStatus"] != "CREATE_COMPLETE":
        return False
    s3 = session_of(aws, role).client("s3")
    with enforced(aws):
        results = [
            outcome(lambda key=key: s3.get_object(Bucket=bucket, Key=key))
            for key in ("requests/a.json", "requests/ab.json", "requests/aXjson", "other/a.json", "secret/a")
        ]
        results.append(outcome(lambda: s3.list_objects_v2(Bucket=bucket, Prefix="requests/")))
        results.append(outcome(lambda: s3.list_objects_v2(Bucket=bucket)))
        results.append(outcome(lambda: s3.get_object(Bucket=bucket, Key="cfn/a.json")))
    denied = "AccessDenied"
    return results == ["ok", denied, denied, denied, denied, "ok", denied, "ok"]


@probe("the_emulators_access_keys_are_the_account_root")
def the_local_key_may_do_anything_and_an_expired_session_nothing(aws: Aws) -> bool:
    from moto.core.utils import utcnow
    from moto.sts.models import sts_backends

    table = keyed_table(aws, "root")
    session = session_of(aws, role_with(aws, {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}))
    dynamodb = session.client("dynamodb")
    with enforced(aws):
        as_root = outcome(lambda: aws.client("dynamodb").put_item(TableName=table, Item={"k": {"S": "root"}}))
        fresh = outcome(lambda: dynamodb.get_item(TableName=table, Key={"k": {"S": "root"}}))
        for assumed in sts_backends[ACCOUNT]["aws"].assumed_roles:
            if assumed.access_key_id == session.credentials["AccessKeyId"]:
                assumed.expiration = utcnow().replace(year=utcnow().year - 1)
        expired = outcome(lambda: dynamodb.get_item(TableName=table, Key={"k": {"S": "root"}}))
    return (as_root, fresh, expired) == ("ok", "ok", "ExpiredTokenException")


@probe("cloudformation_roles_attach_their_managed_policies")
def a_templates_managed_policy_arns_are_attached(aws: Aws) -> bool:
    managed = aws.client("iam").create_policy(
        PolicyName=unique("managed"),
        PolicyDocument=document({"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}),
    )["Policy"]["Arn"]
    name = unique("role")
    stack = create_stack(
        aws,
        {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": name,
                    "AssumeRolePolicyDocument": TRUST_THE_ACCOUNT,
                    "ManagedPolicyArns": [managed],
                },
            }
        },
    )
    attached = aws.client("iam").list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    return stack["StackStatus"] == "CREATE_COMPLETE" and [p["PolicyArn"] for p in attached] == [managed]


@probe("inline_policies_read_back_as_json")
def a_templates_inline_policy_reads_back_as_json(aws: Aws) -> bool:
    name = unique("role")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    role = {"RoleName": name, "AssumeRolePolicyDocument": TRUST_THE_ACCOUNT}
    role["Policies"] = [{"PolicyName": "inline", "PolicyDocument": policy}]
    stack = create_stack(aws, {"Role": {"Type": "AWS::IAM::Role", "Properties": role}})
    if stack["StackStatus"] != "CREATE_COMPLETE":
        return False
    document = aws.client("iam").get_role_policy(RoleName=name, PolicyName="inline")["PolicyDocument"]
    return (json.loads(document) if isinstance(document, str) else document) == policy


@probe("requests_name_their_iam_actions_and_resources")
def resource_scoped_permissions_allow_their_resources_only(aws: Aws) -> bool:
    mine, other = keyed_table(aws, "mine"), keyed_table(aws, "other")
    function = create_function(aws)
    queue = job_queue(aws)
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{mine}"
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
    role = role_with(
        aws,
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": table_arn},
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": [function_arn, f"{function_arn}:*"]},
        {"Effect": "Allow", "Action": "batch:DescribeJobQueues", "Resource": "*"},
    )
    session = session_of(aws, role)
    dynamodb, batch, awslambda = session.client("dynamodb"), session.client("batch"), session.client("lambda")
    key = {"k": {"S": "a"}}

    def put(table: str) -> dict[str, Any]:
        return {"Put": {"TableName": table, "Item": key}}

    with enforced(aws):
        results = [
            outcome(lambda: dynamodb.get_item(TableName=mine, Key=key)),
            outcome(lambda: dynamodb.get_item(TableName=other, Key=key)),
            outcome(lambda: dynamodb.transact_write_items(TransactItems=[put(mine)])),
            outcome(lambda: dynamodb.transact_write_items(TransactItems=[put(mine), put(other)])),
            outcome(lambda: batch.describe_job_queues(jobQueues=[queue])),
            outcome(lambda: awslambda.invoke(FunctionName=function, Payload=b"{}")),
        ]
    denied = "AccessDeniedException"
    return results == ["ok", denied, "ok", denied, "ok", "ok"]


@probe("access_denied_is_shaped_as_each_service_returns_it")
def refusals_read_as_each_service_writes_them(aws: Aws) -> bool:
    table = keyed_table(aws, "shape")
    bucket = bucket_with(aws)
    queue_url = aws.client("sqs").create_queue(QueueName=unique("shape"))["QueueUrl"]
    session = session_of(aws, role_with(aws))
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    with enforced(aws):
        dynamodb = refusal(lambda: session.client("dynamodb").get_item(TableName=table, Key={"k": {"S": "a"}}))
        awslambda = refusal(lambda: session.client("lambda").list_functions())
        s3 = refusal(lambda: session.client("s3").list_objects_v2(Bucket=bucket))
        sqs = refusal(lambda: session.client("sqs").send_message(QueueUrl=queue_url, MessageBody="x"))
        sts = refusal(
            lambda: session.client("sts").assume_role(RoleArn=role_arn(unique("none")), RoleSessionName="probe")
        )
        unknown = refusal(
            lambda: boto3.client(
                "stepfunctions",
                endpoint_url=aws.endpoint_url,
                region_name=REGION,
                aws_access_key_id="AKIAUNKNOWN000000000",
                aws_secret_access_key="x",
            ).list_state_machines()
        )
    expected_dynamodb = (
        "AccessDeniedException",
        f"User: {session.arn} is not authorized to perform: dynamodb:GetItem on resource: {table_arn} "
        "because no identity-based policy allows the dynamodb:GetItem action",
        400,
    )
    return (
        dynamodb == expected_dynamodb
        and awslambda is not None
        and awslambda[::2] == ("AccessDeniedException", 403)
        and s3 == ("AccessDenied", "Access Denied", 403)
        and sqs is not None
        and sqs[0] == "AccessDenied"
        and sts is not None
        and sts[::2] == ("AccessDenied", 403)
        and unknown is not None
        and unknown[0] == "UnrecognizedClientException"
    )


@probe("signatures_are_checked_over_the_body_as_sent")
def requests_without_a_body_are_signed_as_sent(aws: Aws) -> bool:
    function = create_function(aws, ECHO)
    session = session_of(aws, role_with(aws, {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}))
    with enforced(aws):
        read = outcome(lambda: session.client("lambda").get_function(FunctionName=function))
        forged = outcome(lambda: session.client("lambda", secret="not-the-secret").get_function(FunctionName=function))
    return read == "ok" and forged in ("InvalidSignatureException", "SignatureDoesNotMatch")


@probe("s3_bucket_policies_are_evaluated_as_aws_does")
def bucket_policies_decide_with_the_requests_context(aws: Aws) -> bool:
    bucket = bucket_with(aws)
    objects = f"arn:aws:s3:::{bucket}"
    role = role_with(aws)  # no identity policy: what it may do, the bucket policy says
    policy = document(
        {**DENY_INSECURE_TRANSPORT, "Resource": [objects, f"{objects}/*"]},
        {
            "Effect": "Allow",
            "Principal": {"AWS": role_arn(role)},
            "Action": "s3:GetObject",
            "Resource": f"{objects}/shared/*",
        },
        {
            "Effect": "Deny",
            "Principal": {"AWS": role_arn(role)},
            "Action": "s3:GetObject",
            "Resource": f"{objects}/shared/private*",
        },
    )
    s3 = aws.client("s3")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    # Not enforcing IAM: the bucket policy's DenyInsecureTransport does not deny requests over HTTPS.
    written = [
        outcome(lambda k=k: s3.put_object(Bucket=bucket, Key=k, Body=b"x")) for k in ("shared/a", "shared/private-1")
    ]
    session = session_of(aws, role).client("s3")
    with enforced(aws):
        results = [
            outcome(lambda k=k: session.get_object(Bucket=bucket, Key=k)) for k in ("shared/a", "shared/private-1")
        ]
        results.append(outcome(lambda: s3.get_object(Bucket=bucket, Key="shared/private-1")))  # the root user
    return written == ["ok", "ok"] and results == ["ok", "AccessDenied", "ok"]


@probe("missing_keys_are_denied_to_who_may_not_list_the_bucket")
def a_missing_key_is_not_found_only_by_who_may_list(aws: Aws) -> bool:
    bucket = bucket_with(aws)
    objects = f"arn:aws:s3:::{bucket}"
    reads = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{objects}/*"}
    lister = session_of(aws, role_with(aws, reads, {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": objects}))
    reader = session_of(aws, role_with(aws, reads))
    with enforced(aws):
        results = [
            refusal(lambda c=client: c.get_object(Bucket=bucket, Key="missing"))
            for client in (lister.client("s3"), reader.client("s3"))
        ]
        results.append(refusal(lambda: reader.client("s3").head_object(Bucket=bucket, Key="missing")))
    return results == [
        ("NoSuchKey", "The specified key does not exist.", 404),
        ("AccessDenied", "Access Denied", 403),
        ("403", "Forbidden", 403),
    ]


@probe("sqs_queue_policies_are_evaluated")
def queue_policies_allow_and_deny(aws: Aws) -> bool:
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName=unique("policy"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = role_with(aws, {"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": queue_arn})
    policy = document(
        {"Effect": "Allow", "Principal": {"AWS": role_arn(role)}, "Action": "sqs:SendMessage", "Resource": queue_arn},
        {"Effect": "Deny", "Principal": "*", "Action": "sqs:ReceiveMessage", "Resource": queue_arn},
    )
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})
    client = session_of(aws, role).client("sqs")
    with enforced(aws):
        sent = outcome(lambda: client.send_message(QueueUrl=queue_url, MessageBody="x"))
        received = outcome(lambda: client.receive_message(QueueUrl=queue_url))
    return (sent, received) == ("ok", "AccessDenied")


@probe("lambda_function_policies_are_evaluated")
def a_function_policy_lets_the_role_it_names_invoke(aws: Aws) -> bool:
    allowed, other = create_function(aws), create_function(aws)
    role = role_with(aws)
    aws.client("lambda").add_permission(
        FunctionName=allowed, StatementId="probe", Action="lambda:InvokeFunction", Principal=role_arn(role)
    )
    client = session_of(aws, role).client("lambda")
    with enforced(aws):
        invoked = outcome(lambda: client.invoke(FunctionName=allowed, Payload=b"{}"))
        refused = outcome(lambda: client.invoke(FunctionName=other, Payload=b"{}"))
    return (invoked, refused) == ("ok", "AccessDeniedException")


@probe("cloudformation_creates_bucket_policies")
def a_templates_bucket_policy_is_set(aws: Aws) -> bool:
    bucket = unique("bucket")
    statement = {**DENY_INSECURE_TRANSPORT, "Resource": f"arn:aws:s3:::{bucket}/*"}
    stack = create_stack(
        aws,
        {
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": bucket}},
            "Policy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Bucket"},
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                },
            },
        },
    )
    if stack["StackStatus"] != "CREATE_COMPLETE":
        return False
    policy = json.loads(aws.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    return policy["Statement"] == [statement]


@probe("cloudformation_creates_queue_policies")
def a_templates_queue_policy_is_set(aws: Aws) -> bool:
    statement = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage"}
    stack = create_stack(
        aws,
        {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Policy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "Queue"}],
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                },
            },
        },
        Outputs={"Url": {"Value": {"Ref": "Queue"}}},
    )
    if stack["StackStatus"] != "CREATE_COMPLETE":
        return False
    url = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Url"]
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]
    return "Policy" in attributes and json.loads(attributes["Policy"])["Statement"] == [statement]


# == what runs with a role calls with its credentials (role_credentials.py) ===================
def machine_of(aws: Aws, role: str, definition: dict[str, Any]) -> str:
    return aws.client("stepfunctions").create_state_machine(
        name=unique("m"), definition=json.dumps(definition), roleArn=role_arn(role)
    )["stateMachineArn"]


def ended(aws: Aws, machine: str) -> dict[str, Any] | None:
    """The execution of MACHINE, started by the root user, once it has ended (None if it never does)."""
    sfn = aws.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    return until(lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d, 20)


@probe("integrations_sign_with_the_execution_role")
def integrations_may_do_what_the_machines_role_allows(aws: Aws) -> bool:
    mine, other = keyed_table(aws, "mine"), keyed_table(aws, "other")
    role = role_with(
        aws, {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": f"arn:aws:dynamodb:*:*:table/{mine}"}
    )

    def putting(table: str) -> str:
        parameters = {"TableName": table, "Item": {"k": {"S": "from-the-machine"}}}
        task = {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "Parameters": parameters, "End": True}
        return machine_of(aws, role, {"StartAt": "Put", "States": {"Put": task}})

    allowed, refused = putting(mine), putting(other)
    with enforced(aws):
        results = [ended(aws, allowed), ended(aws, refused)]
    return [r and r["status"] for r in results] == ["SUCCEEDED", "FAILED"] and (
        results[1]["error"] == "DynamoDB.AccessDeniedException"
    )


DISTRIBUTED_MAP = {
    "StartAt": "Items",
    "States": {
        "Items": {"Type": "Pass", "Result": [1, 2], "ResultPath": "$.items", "Next": "Map"},
        "Map": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Child",
                "States": {"Child": {"Type": "Pass", "End": True}},
            },
            "End": True,
        },
    },
}


@probe("map_runs_start_children_as_the_execution_role")
def a_distributed_map_starts_children_its_role_may_start(aws: Aws) -> bool:
    may, may_not = role_with(aws), role_with(aws)
    allowed, refused = machine_of(aws, may, DISTRIBUTED_MAP), machine_of(aws, may_not, DISTRIBUTED_MAP)
    statement = {"Effect": "Allow", "Action": "states:StartExecution", "Resource": allowed}
    aws.client("iam").put_role_policy(RoleName=may, PolicyName="children", PolicyDocument=document(statement))
    with enforced(aws):
        results = [ended(aws, allowed), ended(aws, refused)]
    return [r and r["status"] for r in results] == ["SUCCEEDED", "FAILED"] and results[1]["error"] == "States.Runtime"


@contextmanager
def functions_invoked() -> Iterator[list[str]]:
    """The name of each function invoked meanwhile, which then returns an empty payload (nothing runs)."""
    from moto.awslambda.models import LambdaFunction

    seen: list[str] = []

    def spy(function: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
        seen.append(function.function_name)
        return b"{}"

    with mock.patch.object(LambdaFunction, "invoke", spy):
        yield seen


@probe("rules_invoke_functions_their_policies_allow")
def a_rule_invokes_the_functions_whose_policy_lets_it(aws: Aws) -> bool:
    events, awslambda = aws.client("events"), aws.client("lambda")
    permitted, unpermitted = create_function(aws), create_function(aws)
    rule = unique("rule")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [rule]}))["RuleArn"]
    targets = [awslambda.get_function(FunctionName=f)["Configuration"]["FunctionArn"] for f in (permitted, unpermitted)]
    events.put_targets(Rule=rule, Targets=[{"Id": f"fn{i}", "Arn": arn} for i, arn in enumerate(targets)])
    awslambda.add_permission(
        FunctionName=permitted,
        StatementId="rule",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )
    with functions_invoked() as invoked, enforced(aws):
        # A rule delivers as PutEvents matches it, before PutEvents answers.
        events.put_events(Entries=[{"Source": rule, "DetailType": "Probe", "Detail": "{}"}])
    return invoked == [permitted]
