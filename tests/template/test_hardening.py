"""What a real account would hit, checked against the template: tokens kept out of Batch, redeploys that
leave runs in flight working, encrypted TLS-only queues, scoped permissions, bounded custom resources,
callback timeouts that outlast Lambda's asynchronous retries, and function packages with one SDK."""

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


def job_definition() -> dict[str, Any]:
    return resources("AWS::Batch::JobDefinition")["JobDefinition"]["Properties"]


def test_a_job_receives_a_reference_to_its_token_never_the_token():
    definition = job_definition()
    assert not [name for name in definition["Parameters"] if "token" in name.lower()]
    assert "Ref::taskRef" in definition["ContainerProperties"]["Command"]
    table = resources("AWS::DynamoDB::Table")["TaskTokenTable"]["Properties"]
    assert table["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert table["TimeToLiveSpecification"]["Enabled"] is True
    readers = {
        name
        for name, statement in allow_statements()
        if "dynamodb:GetItem" in as_list(statement["Action"])
        and {"Fn::GetAtt": ["TaskTokenTable", "Arn"]} in as_list(statement["Resource"])
    }
    assert readers == {"JobRole", "JobEventsFunctionRole"}, "only the job and the dead-job path read tokens"


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
    assert reader["Resource"] == {"Fn::Sub": "${ScriptBucket.Arn}/${BatchScriptName}"}


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
    assert set(custom) == {"BatchScript", "ParameterCheck"}
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
