"""CloudFormation: what moto's CloudFormation lacks to create this application's stack as AWS does."""

import json
import time
from typing import Any

from local_emulator.patches.registry import Patcher, patch

MOTO = "5.2.5"
RESOURCE_REFERENCE = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference"
CUSTOM_RESOURCE_TIMEOUT_SECONDS = 3600  # CloudFormation's default ServiceTimeout
IAM_BATCH_SERVICE_LINKED_ROLE = "AWSServiceRoleForBatch"


@patch(
    service="cloudformation",
    defect="custom resources are given a ResponseURL on host.docker.internal, unreachable without Docker",
    aws="the ResponseURL is a pre-signed URL the function can reach",
    reference="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html",
    seen_in=MOTO,
)
def custom_resources_respond_on_loopback(patcher: Patcher, emulator: Any) -> None:
    import moto.settings

    patcher.replace(moto.settings, "moto_server_host", lambda: "http://127.0.0.1")


@patch(
    service="cloudformation",
    defect="AWS::StepFunctions::StateMachine is created in moto's non-executing backend, ignoring Definition, "
    "DefinitionS3Location and DefinitionSubstitutions, and has no GetAtt Arn",
    aws="the state machine is created from its definition with every ${name} substituted; GetAtt Arn and Name work",
    reference=f"{RESOURCE_REFERENCE}/aws-resource-stepfunctions-statemachine.html",
    seen_in=MOTO,
)
def state_machines_in_the_executing_backend(patcher: Patcher, emulator: Any) -> None:
    from moto.s3.models import s3_backends
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend

    def definition_of(properties: dict[str, Any], account_id: str) -> str:
        if "Definition" in properties:
            text = json.dumps(properties["Definition"])
        elif "DefinitionS3Location" in properties:
            location = properties["DefinitionS3Location"]
            text = s3_backends[account_id]["aws"].get_object(location["Bucket"], location["Key"]).value.decode()
        else:
            text = properties.get("DefinitionString", "")
        for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${" + name + "}", value if isinstance(value, str) else json.dumps(value))
        return text

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        return get_backend(account_id, region_name).create_state_machine(
            properties.get("StateMachineName", resource_name),
            definition_of(properties, account_id),
            properties.get("RoleArn", ""),
            tags=[{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])],
            sm_type=properties.get("StateMachineType", "STANDARD"),
        )

    def delete(cls, resource_name, cloudformation_json, account_id, region_name):
        get_backend(account_id, region_name).delete_state_machine(resource_name)

    attribute = StateMachine.get_cfn_attribute
    patcher.replace(StateMachine, "create_from_cloudformation_json", classmethod(create))
    patcher.replace(StateMachine, "delete_from_cloudformation_json", classmethod(delete))
    patcher.replace(StateMachine, "has_cfn_attr", classmethod(lambda cls, name: name in {"Arn", "Name"}))
    patcher.replace(
        StateMachine, "get_cfn_attribute", lambda self, name: self.arn if name == "Arn" else attribute(self, name)
    )


@patch(
    service="cloudformation",
    defect="a Number parameter passed into a function's environment stays a number, which "
    "GetFunctionConfiguration then returns",
    aws="environment variable values are strings",
    reference=f"{RESOURCE_REFERENCE}/aws-properties-lambda-function-environment.html",
    seen_in=MOTO,
)
def lambda_environment_values_are_strings(patcher: Patcher, emulator: Any) -> None:
    from moto.awslambda.models import LambdaFunction

    create = LambdaFunction.create_from_cloudformation_json.__func__

    def with_string_values(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        variables = (properties.get("Environment") or {}).get("Variables")
        if variables:
            environment = {**properties["Environment"], "Variables": {k: str(v) for k, v in variables.items()}}
            cloudformation_json = {**cloudformation_json, "Properties": {**properties, "Environment": environment}}
        return create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    patcher.replace(LambdaFunction, "create_from_cloudformation_json", classmethod(with_string_values))


class _AddedResource:
    """A resource type moto's CloudFormation lacks. Deliberately not a CloudFormationModel subclass:
    moto lists those subclasses to find resource types, and a subclass could not be removed again."""

    logical_type = ""

    def __init__(self, physical_id: str) -> None:
        self.physical_resource_id = physical_id

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.logical_type

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attribute: str) -> bool:
        return False

    def is_created(self) -> bool:
        return True

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name) -> None:
        pass


def _add_resource_types(patcher: Patcher, *added: type) -> None:
    from moto.cloudformation import parsing

    listed = parsing.get_model_list

    def with_added() -> list[Any]:
        return [*listed(), *added]

    def forget_cached_maps() -> None:  # the maps moto builds from the list are cached
        parsing.get_model_map.cache_clear()
        parsing.get_name_type_map.cache_clear()

    patcher.replace(parsing, "get_model_list", with_added)
    forget_cached_maps()
    patcher.call_on_undo(forget_cached_maps)


@patch(
    service="cloudformation",
    defect="no AWS::Lambda::Alias resource (SAM's AutoPublishAlias creates one)",
    aws="the alias is created; Ref and GetAtt Arn give its ARN",
    reference=f"{RESOURCE_REFERENCE}/aws-resource-lambda-alias.html",
    seen_in=MOTO,
)
def lambda_aliases(patcher: Patcher, emulator: Any) -> None:
    from moto.awslambda.models import get_backend

    class LambdaAlias(_AddedResource):
        logical_type = "AWS::Lambda::Alias"

        @classmethod
        def has_cfn_attr(cls, attribute: str) -> bool:
            return attribute == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.physical_resource_id

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            properties = cloudformation_json["Properties"]
            version = str(properties["FunctionVersion"]).rsplit(":", 1)[-1]
            alias = get_backend(account_id, region_name).create_alias(
                properties["Name"], properties["FunctionName"], version, properties.get("Description", ""), None
            )
            return cls(alias.arn)

    _add_resource_types(patcher, LambdaAlias)


@patch(
    service="cloudformation",
    defect="AWS::Lambda::Version answers Ref with its logical id instead of the version's ARN",
    aws="Ref gives the version's ARN; GetAtt Version its number",
    reference=f"{RESOURCE_REFERENCE}/aws-resource-lambda-version.html",
    seen_in=MOTO,
)
def lambda_version_refs_are_arns(patcher: Patcher, emulator: Any) -> None:
    from moto.awslambda.models import LambdaVersion, get_backend

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        function_name = cloudformation_json["Properties"]["FunctionName"]
        published = get_backend(account_id, region_name).publish_version(function_name)
        version = cls({"Version": published.version})
        version.arn = f"{published.function_arn.rsplit(':', 1)[0]}:{published.version}"
        return version

    patcher.replace(LambdaVersion, "create_from_cloudformation_json", classmethod(create))
    patcher.replace(LambdaVersion, "physical_resource_id", property(lambda self: self.arn))
    patcher.replace(LambdaVersion, "has_cfn_attr", classmethod(lambda cls, name: name == "Version"))
    patcher.replace(LambdaVersion, "get_cfn_attribute", lambda self, name: self.version)


@patch(
    service="cloudformation",
    defect="no AWS::Lambda::EventInvokeConfig resource: asynchronous retries and event age stay unset",
    aws="the function's asynchronous invocation configuration is set",
    reference=f"{RESOURCE_REFERENCE}/aws-resource-lambda-eventinvokeconfig.html",
    seen_in=MOTO,
)
def lambda_event_invoke_configs(patcher: Patcher, emulator: Any) -> None:
    from moto.awslambda.models import get_backend

    class EventInvokeConfig(_AddedResource):
        logical_type = "AWS::Lambda::EventInvokeConfig"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            properties = dict(cloudformation_json["Properties"])
            function_name = properties.pop("FunctionName")
            qualifier = properties.pop("Qualifier", None)
            # Asynchronous invocations reach the unqualified function; the configuration applies to them.
            get_backend(account_id, region_name).put_function_event_invoke_config(function_name, properties)
            return cls(f"{function_name}:{qualifier}")

    _add_resource_types(patcher, EventInvokeConfig)


@patch(
    service="cloudformation",
    defect="AWS::Batch::ComputeEnvironment requires ServiceRole",
    aws="without ServiceRole, Batch uses its service-linked role AWSServiceRoleForBatch (created if missing)",
    reference=f"{RESOURCE_REFERENCE}/aws-resource-batch-computeenvironment.html",
    seen_in=MOTO,
)
def batch_compute_environment_uses_the_service_linked_role(patcher: Patcher, emulator: Any) -> None:
    from moto.batch.models import ComputeEnvironment
    from moto.iam.models import iam_backends

    create = ComputeEnvironment.create_from_cloudformation_json.__func__

    def with_service_role(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        if "ServiceRole" not in properties:
            iam = iam_backends[account_id]["global"]
            path = "/aws-service-role/batch.amazonaws.com/"
            try:
                role = iam.get_role(IAM_BATCH_SERVICE_LINKED_ROLE)
            except Exception:  # first compute environment of the account: create the role, as Batch does
                role = iam.create_role(IAM_BATCH_SERVICE_LINKED_ROLE, "{}", path, None, "", [], None)
            cloudformation_json = {**cloudformation_json, "Properties": {**properties, "ServiceRole": role.arn}}
        return create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    patcher.replace(ComputeEnvironment, "create_from_cloudformation_json", classmethod(with_service_role))


@patch(
    service="cloudformation",
    defect="AWS::Batch::JobDefinition lower-cases only top-level keys (nested Environment, "
    "ResourceRequirements, EvaluateOnExit stay PascalCase) and drops Timeout, PlatformCapabilities and "
    "PropagateTags",
    aws="the job definition is registered as RegisterJobDefinition would register it",
    reference=f"{RESOURCE_REFERENCE}/aws-resource-batch-jobdefinition.html",
    seen_in=MOTO,
)
def batch_job_definitions_as_the_api_stores_them(patcher: Patcher, emulator: Any) -> None:
    import botocore.session
    from moto.batch.models import JobDefinition, batch_backends

    shape = (
        botocore.session.get_session().get_service_model("batch").operation_model("RegisterJobDefinition").input_shape
    )

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        request = api_shaped(cloudformation_json["Properties"], shape)
        return batch_backends[account_id][region_name].register_job_definition(
            def_name=resource_name,
            parameters=request.get("parameters", {}),
            _type=request["type"],
            tags=request.get("tags", {}),
            retry_strategy=request.get("retryStrategy", {"attempts": 1}),
            container_properties=request.get("containerProperties"),
            node_properties=request.get("nodeProperties"),
            eks_properties=request.get("eksProperties"),
            timeout=request.get("timeout", {}),
            platform_capabilities=request.get("platformCapabilities", ["EC2"]),
            propagate_tags=request.get("propagateTags", False),
        )

    patcher.replace(JobDefinition, "create_from_cloudformation_json", classmethod(create))


def api_shaped(value: Any, shape: Any) -> Any:
    """CloudFormation properties (PascalCase, numbers as strings) as an API request of SHAPE.
    Map keys are data and stay as they are."""
    if shape is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        members = {name.lower(): (name, member) for name, member in shape.members.items()}
        shaped = {}
        for key, item in value.items():
            name, member = members.get(key.lower(), (key, None))
            shaped[name] = api_shaped(item, member)
        return shaped
    if shape.type_name == "list" and isinstance(value, list):
        return [api_shaped(item, shape.member) for item in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {key: api_shaped(item, shape.value) for key, item in value.items()}
    if shape.type_name in ("integer", "long") and isinstance(value, str):
        return int(value)
    if shape.type_name == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    return value


@patch(
    service="cloudformation",
    defect="a custom resource's function is invoked in the background while the resources using its GetAtt "
    "values are created without them; a FAILED response is ignored and the stack waits forever",
    aws="dependents wait for the custom resource's response; FAILED fails the stack with the given reason "
    "(here CreateStack itself fails with it: moto creates a stack's resources within the call)",
    reference="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html",
    seen_in=MOTO,
)
def custom_resources_complete_before_their_dependents(patcher: Patcher, emulator: Any) -> None:
    from moto.cloudformation.custom_model import CustomModel
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse

    create = CustomModel.create_from_cloudformation_json.__func__

    def create_and_wait(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        resource = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        deadline = time.monotonic() + CUSTOM_RESOURCE_TIMEOUT_SECONDS
        while not resource.is_created() and getattr(resource, "failure", None) is None:
            if time.monotonic() > deadline:
                raise ValidationError(resource.logical_id, "no response from the custom resource's function")
            time.sleep(0.05)
        if getattr(resource, "failure", None) is not None:
            raise ValidationError(resource.logical_id, f"{resource.logical_id} failed: {resource.failure}")
        return resource

    process = CloudFormationResponse.process_cfn_response

    def process_cfn_response(self: CloudFormationResponse) -> Any:
        if self._get_param("Status") == "FAILED":
            stack = self.cloudformation_backend.get_stack(self._get_param("StackId"))
            resource = stack.get_custom_resource(self._get_param("LogicalResourceId"))
            resource.failure = self._get_param("Reason") or "custom resource failed"
            return 200, {"status": 200}, json.dumps("{}")
        return process(self)

    patcher.replace(CustomModel, "create_from_cloudformation_json", classmethod(create_and_wait))
    patcher.replace(CloudFormationResponse, "process_cfn_response", process_cfn_response)
