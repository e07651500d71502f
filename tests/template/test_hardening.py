"""What a real account would hit, checked against the template: tokens kept out of Batch and under a key only
their roles may use, redeploys that leave runs in flight working, encrypted TLS-only queues, scoped permissions,
bounded custom resources, callback timeouts that outlast Lambda's asynchronous retries, time to stop a run's
jobs, heartbeats a Fargate start can meet, the runs' record kept past the stack, and function packages with one
SDK."""

import fnmatch
import re
from typing import Any

from tests.support.handlers import load_handler
from tests.support.paths import FUNCTIONS, ROOT
from tests.support.template import resources, sam_template
from tests.support.translated import translated_template
from tests.template.test_state_machines import DEPLOYED, all_states, definition
from tests.template.test_template import allow_statements, as_list

JOB_TAG = "sfn-batch-orchestrator:stack"
TOKEN_TABLE = {"Fn::GetAtt": ["TaskTokenTable", "Arn"]}


def role_statements() -> list[tuple[str, dict[str, Any]]]:
    """Every Allow statement of the stack's IAM policies by the role that holds it (a policy resource of its own
    counted for each of its roles)."""
    translated = translated_template()["Resources"]
    found = []
    for name, statement in allow_statements():
        if translated[name]["Type"] == "AWS::IAM::Role":
            found.append((name, statement))
        else:
            found.extend((role["Ref"], statement) for role in translated[name]["Properties"].get("Roles", []))
    return found


def token_table_roles(*actions: str) -> set[str]:
    """The roles allowed any of ACTIONS (any action, if none is named) on the task token table."""
    return {
        role
        for role, statement in role_statements()
        for action in as_list(statement["Action"])
        if (action in actions or not actions) and TOKEN_TABLE in as_list(statement["Resource"])
    }


def job_definition() -> dict[str, Any]:
    return resources("AWS::Batch::JobDefinition")["JobDefinition"]["Properties"]


def test_a_job_receives_a_reference_to_its_token_never_the_token():
    definition = job_definition()
    assert not [name for name in definition["Parameters"] if "token" in name.lower()]
    assert "Ref::taskRef" in definition["ContainerProperties"]["Command"]
    table = resources("AWS::DynamoDB::Table")["TaskTokenTable"]["Properties"]
    assert table["TimeToLiveSpecification"]["Enabled"] is True
    readers = token_table_roles("dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem")
    assert readers == {"JobRole", "JobEventsFunctionRole"}, "only the job and the dead-job path read tokens"


# What a principal allowed these may do with a key's data; CreateGrant lets it give them to others.
KMS_USE = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:CreateGrant")


def test_the_token_table_is_under_a_key_only_the_roles_that_use_the_table_may_use():
    """Under the AWS-managed key, anyone with broad DynamoDB read access reads live tokens. The table's own key
    lets the account manage it but not use it (no IAM policy, however broad, reaches the tokens), and lets the
    roles of the table use it only through DynamoDB, which uses the key on their behalf."""
    template = sam_template()["Resources"]
    encryption = template["TaskTokenTable"]["Properties"]["SSESpecification"]
    assert encryption == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::GetAtt": ["TaskTokenKey", "Arn"]},
    }
    key = template["TaskTokenKey"]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    assert [r["Properties"]["TargetKeyId"] for r in resources("AWS::KMS::Alias").values()] == [{"Ref": "TaskTokenKey"}]
    through_dynamodb = {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}}
    root = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    users: dict[str, set[str]] = {}
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
        uses = {use for use in KMS_USE for a in as_list(statement["Action"]) if fnmatch.fnmatchcase(use, a)}
        if not uses:
            continue
        assert statement["Condition"]["StringEquals"] == through_dynamodb, statement["Sid"]
        principals = as_list(statement["Principal"]["AWS"])
        if principals == [root]:
            # The deploy's table creation: DynamoDB creates its own grant for the table, as the deployer.
            assert uses == {"kms:CreateGrant"}, statement["Sid"]
            assert statement["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": True}
            continue
        for principal in principals:
            role, attribute = principal["Fn::GetAtt"]
            assert attribute == "Arn"
            users.setdefault(role, set()).update(uses)
    assert set(users) == token_table_roles()
    writers = token_table_roles("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
    assert {role for role, uses in users.items() if uses - {"kms:Decrypt"}} == writers == {"BatchSubmitFunctionRole"}
    assert not [s for _, s in allow_statements() if any(a.startswith("kms:") for a in as_list(s["Action"]))], (
        "the key's policy alone says who may use it"
    )


def test_the_functions_that_stop_a_runs_jobs_have_time_to_stop_them_all():
    """A run holds up to MapMaxConcurrency's maximum of batches at once, each with its job, and Batch takes
    about 50 TerminateJob calls a second: minutes of calls, which the default 30 s cannot hold."""
    jobs = sam_template()["Parameters"]["MapMaxConcurrency"]["MaxValue"]
    terminations_per_second = 50
    functions = resources("AWS::Serverless::Function")
    defaults = sam_template()["Globals"]["Function"]
    stoppers = {name.removesuffix("Role") for name, s in allow_statements() if "batch:ListJobs" in as_list(s["Action"])}
    assert stoppers == {"FinishRunFunction", "TerminateRunJobsFunction"}
    for name in stoppers:
        properties = functions[name]["Properties"]
        timeout = properties.get("Timeout", defaults["Timeout"])
        assert timeout >= 2 * jobs / terminations_per_second, f"{name}: {timeout} s for {jobs} jobs"
        assert properties.get("MemorySize", defaults["MemorySize"]) >= 1024, f"{name}: the CPU of 10,000 calls"
        retries = properties.get("EventInvokeConfig")
        if retries:  # every asynchronous attempt fits in the event's age
            attempts = retries["MaximumRetryAttempts"] + 1
            assert attempts * timeout < retries["MaximumEventAgeInSeconds"], name


def test_the_heartbeat_leaves_time_for_a_fargate_job_to_start():
    """The first heartbeat comes after Batch's scheduling, Fargate's start (about 30 s by AWS's figure, 45-90 s
    measured, minutes for a large image) and the script's download: a shorter heartbeat fails every batch."""
    parameters = sam_template()["Parameters"]
    heartbeat = parameters["JobHeartbeatSeconds"]
    assert heartbeat["MinValue"] >= 120
    assert "Fargate" in heartbeat["Description"] and "120" in heartbeat["Description"]
    # Step Functions requires the heartbeat below the task's timeout (ParameterCheck): no timeout every
    # heartbeat would refuse.
    assert parameters["JobCallbackTimeoutSeconds"]["MinValue"] > heartbeat["MinValue"]


def test_the_record_of_every_run_outlives_the_stack_and_the_docs_say_so():
    """The audit table and the runs' results it points to are kept when the stack is deleted or they are
    replaced, the bucket still TLS-only; the docs say what `sam delete` keeps and how to remove it."""
    template = sam_template()["Resources"]
    kept = {name for name, resource in template.items() if resource.get("DeletionPolicy") == "Retain"}
    assert kept == {"AuditTable", "RunsBucket", "RunsBucketPolicy"}
    assert {name for name, resource in template.items() if resource.get("UpdateReplacePolicy") == "Retain"} == kept
    assert template["RunsBucketPolicy"]["Properties"]["Bucket"] == {"Ref": "RunsBucket"}
    operating = (ROOT / "docs" / "operating.md").read_text()
    clean_up = operating.split("### Clean up", 1)[1].split("\n## ", 1)[0]
    for output in ("AuditTableName", "RunsBucketName"):
        assert output in clean_up, output
    assert "aws dynamodb delete-table" in clean_up and "aws s3 rb" in clean_up


def test_a_redeploy_keeps_the_job_definition_a_run_in_flight_submits():
    definition = job_definition()
    assert definition["JobDefinitionName"] == {"Fn::Sub": "${AWS::StackName}-job"}
    assert definition["ResourceRetentionPolicy"] == {"SkipDeregisterOnUpdate": True}
    revisions = {
        "Fn::Sub": "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job-definition/${AWS::StackName}-job:*"
    }
    submitters = [statement for _, statement in allow_statements() if "batch:SubmitJob" in as_list(statement["Action"])]
    assert len(submitters) == 2
    for statement in submitters:
        assert revisions in statement["Resource"], "every revision of the name, not the one of the last deploy"
        assert {"Ref": "JobDefinition"} not in statement["Resource"]


def test_a_job_runs_the_script_version_of_its_definition():
    container = job_definition()["ContainerProperties"]
    assert '--version-id "$BATCH_SCRIPT_VERSION"' in container["Command"][2]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["BATCH_SCRIPT_VERSION"] == {"Fn::GetAtt": ["BatchScript", "VersionId"]}
    assert resources("AWS::S3::Bucket")["ScriptBucket"]["Properties"]["VersioningConfiguration"] == {
        "Status": "Enabled"
    }
    [reader] = [
        s for name, s in allow_statements() if name == "JobRole" and "s3:GetObjectVersion" in as_list(s["Action"])
    ]
    assert reader["Resource"] == [
        {"Fn::Sub": "${ScriptBucket.Arn}/${BatchScriptName}"},
        {"Fn::Sub": "${ScriptBucket.Arn}/${SampleCommandName}"},
    ]
    assert environment["SAMPLE_COMMAND_VERSION"] == {"Fn::GetAtt": ["SampleCommand", "VersionId"]}


def test_every_queue_is_encrypted_and_tls_only():
    translated = translated_template()["Resources"]
    queues = {name for name, r in translated.items() if r["Type"] == "AWS::SQS::Queue"}
    assert queues == {"UndeliveredEventsQueue"}, "no queue SAM creates on its own"
    for name in queues:
        properties = translated[name]["Properties"]
        assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties, name
        [policy] = [
            r["Properties"]["PolicyDocument"]
            for r in translated.values()
            if r["Type"] == "AWS::SQS::QueuePolicy" and {"Ref": name} in r["Properties"]["Queues"]
        ]
        assert {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": {"Fn::GetAtt": [name, "Arn"]},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        } in policy["Statement"]
    rules = [r for r in translated.values() if r["Type"] == "AWS::Events::Rule"]
    assert rules and all(
        t["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["UndeliveredEventsQueue", "Arn"]}
        for rule in rules
        for t in rule["Properties"]["Targets"]
    )


def test_only_this_stacks_jobs_can_be_terminated_and_only_its_own_tag_written():
    for action, key in (("batch:TerminateJob", "aws:ResourceTag"), ("batch:TagResource", "aws:RequestTag")):
        statements = [s for _, s in allow_statements() if action in as_list(s["Action"])]
        assert statements, action
        for statement in statements:
            assert statement["Condition"] == {"StringEquals": {f"{key}/{JOB_TAG}": {"Ref": "AWS::StackName"}}}


def test_the_job_roles_trust_ecs_of_this_account_only_and_pull_one_repository_at_most():
    roles = resources("AWS::IAM::Role")
    for name in ("JobRole", "JobExecutionRole"):
        [trust] = roles[name]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Condition"]["ArnLike"]["aws:SourceArn"] == {
            "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"
        }
    [trust] = roles["JobExecutionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    pulls = [s for name, s in allow_statements() if "ecr:BatchGetImage" in as_list(s["Action"])]
    assert [s["Resource"] for s in pulls] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${JobImageEcrRepository}"}
    ]
    [conditional] = [p for p in roles["JobExecutionRole"]["Properties"]["Policies"] if "Fn::If" in p]
    assert conditional["Fn::If"][0] == "PullsFromEcr" and conditional["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_no_function_whose_events_carry_tokens_keeps_its_failed_events_in_a_queue():
    """Their events carry task tokens (or CloudFormation's pre-signed response URL): a queue must not hold them.
    Only the terminator, fed the parent's status changes, and the job-event function, fed Batch's events (a
    reference to the token, never the token), keep their failures, in the encrypted, TLS-only queue of
    undelivered events."""
    assert "DeadLetterQueue" not in sam_template()["Globals"]["Function"]
    functions = resources("AWS::Serverless::Function")
    keeping = {
        n: f["Properties"]["EventInvokeConfig"]["DestinationConfig"]
        for n, f in functions.items()
        if "EventInvokeConfig" in f["Properties"] and "DestinationConfig" in f["Properties"]["EventInvokeConfig"]
    }
    assert [n for n, f in functions.items() if "DeadLetterQueue" in f["Properties"]] == []
    queue = {"OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["UndeliveredEventsQueue", "Arn"]}}}
    assert keeping == {"TerminateRunJobsFunction": queue, "JobEventsFunction": queue}
    sources = {
        n: [r["Properties"]["Pattern"]["source"] for r in functions[n]["Properties"]["Events"].values()]
        for n in keeping
    }
    assert sources == {"TerminateRunJobsFunction": [["aws.states"]], "JobEventsFunction": [["aws.batch"]]}


def test_custom_resources_answer_within_minutes():
    custom = {n: r for n, r in sam_template()["Resources"].items() if r["Type"].startswith("Custom::")}
    assert set(custom) == {"BatchScript", "SampleCommand", "ParameterCheck"}
    for name, resource in custom.items():
        assert 0 < int(resource["Properties"]["ServiceTimeout"]) <= 300, name


def functions_by_arn_substitution() -> dict[str, dict[str, Any]]:
    machines = resources("AWS::Serverless::StateMachine")
    found = {}
    for machine in machines.values():
        for key, value in machine["Properties"]["DefinitionSubstitutions"].items():
            if isinstance(value, dict) and value.get("Fn::GetAtt", [None, None])[1] == "Arn":
                found[key] = sam_template()["Resources"][value["Fn::GetAtt"][0]]["Properties"]
    return found


def test_callback_states_outlast_their_functions_asynchronous_retries():
    functions = {
        f"arn:aws:lambda:us-east-1:123456789012:function:{k}": v for k, v in functions_by_arn_substitution().items()
    }
    default_timeout = sam_template()["Globals"]["Function"]["Timeout"]
    checked = 0
    for machine, conditions in ((p.values[0], p.values[1]) for p in DEPLOYED):
        for name, state in all_states(definition(machine, conditions)["States"]):
            if state.get("Resource") != "arn:aws:states:::lambda:invoke.waitForTaskToken":
                continue
            function = functions[state["Parameters"]["FunctionName"]]
            if "BatchSubmit" in state["Parameters"]["FunctionName"]:
                continue  # the job's callback: bounded by its heartbeat and JobCallbackTimeoutSeconds
            events = function["EventInvokeConfig"]
            latest_answer = events["MaximumEventAgeInSeconds"] + function.get("Timeout", default_timeout)
            assert state["TimeoutSeconds"] > latest_answer, f"{name}: Lambda may answer after {latest_answer} s"
            assert "HeartbeatSeconds" not in state, f"{name}: a function sends no heartbeat; one would expire first"
            assert any(r["ErrorEquals"] == ["States.Timeout"] for r in state["Retry"]), f"{name}: a lost event is final"
            checked += 1
    assert checked >= 1


def test_the_orchestrator_may_start_its_own_children_and_use_the_runs_bucket():
    """A Distributed Map starts its children as executions of the parent's own state machine (by its name,
    known before it exists); its ItemReader reads the run's entries file and its ResultWriter writes the Map
    Run's record, at the keys the run's layout gives them."""
    layout = load_handler(FUNCTIONS / "runs", "run_layout")
    machine = sam_template()["Resources"]["OrchestratorStateMachine"]["Properties"]
    assert machine["Name"] == {"Fn::Sub": "${AWS::StackName}-orchestrator"}
    statements = [s for name, s in allow_statements() if name == "OrchestratorStateMachineRole"]

    def allowed(action: str, resource: str) -> bool:
        return any(
            action in as_list(s["Action"])
            and any(
                isinstance(r, dict) and fnmatch.fnmatchcase(resource, r.get("Fn::Sub", ""))
                for r in as_list(s["Resource"])
            )
            for s in statements
        )

    own = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-orchestrator"
    assert allowed("states:StartExecution", own)
    run_batches = definition("OrchestratorStateMachine")["States"]["Run batches"]
    assert run_batches["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert allowed("s3:GetObject", "${RunsBucket.Arn}/" + layout.entries_key("a-run"))
    assert run_batches["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    record = "${RunsBucket.Arn}/" + layout.map_prefix("a-run") + "/0b9a6a52-5c57-4d8e-9d53-6f3c2f0e7a11/manifest.json"
    for action in ("s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"):
        assert allowed(action, record), action
    prepare = sam_template()["Resources"]["PrepareRunFunction"]["Properties"]["Environment"]["Variables"]
    assert prepare["RUNS_BUCKET"] == {"Ref": "RunsBucket"}, "the entries and the records are in the runs bucket"


def test_the_template_checks_what_rules_can_express_before_anything_is_created():
    rules = sam_template()["Rules"]
    assert rules["SubnetsInTheVpc"]["Assertions"][0]["Assert"] == {
        "Fn::EachMemberEquals": [{"Fn::ValueOfAll": ["AWS::EC2::Subnet::Id", "VpcId"]}, {"Ref": "VPCID"}]
    }
    sizes = {name: rule for name, rule in rules.items() if name.startswith("FargateSizeVcpu")}
    assert sorted(r["RuleCondition"]["Fn::Equals"][1] for r in sizes.values()) == sorted(
        sam_template()["Parameters"]["JobVcpu"]["AllowedValues"]
    )
    for rule in rules.values():
        for assertion in rule["Assertions"]:
            assert re.search(r"JobMemoryMiB|MaxVcpus|VPCID|Subnets", assertion["AssertDescription"])


def requirement_pins(path: Any) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[name.split("[")[0].lower().replace("_", "-")] = version
    return pins


def test_a_function_that_bundles_botocore_bundles_its_boto3_too():
    development = requirement_pins(ROOT / "requirements" / "dev.txt")
    for requirements in sorted(FUNCTIONS.glob("*/requirements.txt")):
        pins = requirement_pins(requirements)
        if "aws-xray-sdk" in pins:  # it depends on botocore: the runtime's boto3 would not match it
            for package in ("boto3", "botocore", "s3transfer", "jmespath"):
                assert pins.get(package) == development[package], f"{requirements}: {package}"


def test_the_architecture_guide_says_what_each_role_may_do_as_the_template_allows():
    """docs/architecture.md, "What each role may do, and why": a row per role of the stack, naming every
    action the role's policies allow, and none they do not (the managed policies aside)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## What each role may do, and why", 1)[1].split("\n## ", 1)[0]
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `(\w+)`[^|]*\| ([^|]*) \|", section, flags=re.MULTILINE)
    }
    for role, said in list(rows.items()):
        if (alias := re.match(r"As `(\w+)`", said)) is not None:
            rows[role] = f"{said} {rows[alias.group(1)]}"
    roles = {n for n, r in translated_template()["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert set(rows) == roles
    granted: dict[str, set[str]] = {role: set() for role in roles}
    for role, statement in role_statements():
        granted[role] |= set(as_list(statement["Action"]))
    for role in roles:
        said = set(re.findall(r"`([a-z0-9-]+:[A-Za-z*]+)`", rows[role]))
        assert granted[role] == said, (role, sorted(granted[role] - said), sorted(said - granted[role]))
