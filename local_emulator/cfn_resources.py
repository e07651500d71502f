"""What moto's CloudFormation lacks to create this application's stack as AWS does.

Each function below adds one resource type or corrects one, and says what moto does instead.
They are applied with `install()`; the deploy tests fail without them.
"""

import functools
import json
import time
from typing import Any

IAM_BATCH_SERVICE_LINKED_ROLE = "AWSServiceRoleForBatch"
CUSTOM_RESOURCE_TIMEOUT_SECONDS = 300


@functools.cache  # patches moto once per process, however many emulators start
def install() -> None:
    from moto.cloudformation import parsing

    state_machines_in_the_executing_backend()
    lambda_environment_values_are_strings()
    lambda_aliases()
    lambda_version_refs_are_arns()
    lambda_event_invoke_configs()
    batch_compute_environment_uses_the_service_linked_role()
    batch_job_definitions_as_the_api_stores_them()
    custom_resources_complete_before_their_dependents()
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


def state_machines_in_the_executing_backend() -> None:
    """moto creates CloudFormation state machines in its non-executing backend, ignores
    Definition, DefinitionS3Location and DefinitionSubstitutions, and has no GetAtt Arn."""
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
    StateMachine.create_from_cloudformation_json = classmethod(create)
    StateMachine.delete_from_cloudformation_json = classmethod(delete)
    StateMachine.has_cfn_attr = classmethod(lambda cls, name: name in {"Arn", "Name", "StateMachineName"})
    StateMachine.get_cfn_attribute = lambda self, name: self.arn if name == "Arn" else attribute(self, name)


def lambda_environment_values_are_strings() -> None:
    """CloudFormation passes a Number parameter into a function's environment as a string;
    moto keeps the number, which GetFunctionConfiguration then returns."""
    from moto.awslambda.models import LambdaFunction

    create = LambdaFunction.create_from_cloudformation_json.__func__

    def with_string_values(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        variables = (properties.get("Environment") or {}).get("Variables")
        if variables:
            environment = {**properties["Environment"], "Variables": {k: str(v) for k, v in variables.items()}}
            cloudformation_json = {**cloudformation_json, "Properties": {**properties, "Environment": environment}}
        return create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    LambdaFunction.create_from_cloudformation_json = classmethod(with_string_values)


def lambda_aliases() -> None:
    """moto has no AWS::Lambda::Alias resource (SAM's AutoPublishAlias creates one)."""
    from moto.awslambda.models import get_backend
    from moto.core.common_models import CloudFormationModel

    class LambdaAliasResource(CloudFormationModel):
        def __init__(self, arn: str) -> None:
            self.arn = arn

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Lambda::Alias"

        @classmethod
        def has_cfn_attr(cls, attribute: str) -> bool:
            return attribute == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            properties = cloudformation_json["Properties"]
            version = str(properties["FunctionVersion"]).rsplit(":", 1)[-1]
            alias = get_backend(account_id, region_name).create_alias(
                properties["Name"], properties["FunctionName"], version, properties.get("Description", ""), None
            )
            return cls(alias.arn)


def lambda_version_refs_are_arns() -> None:
    """moto's AWS::Lambda::Version answers Ref with its logical id instead of the version ARN."""
    from moto.awslambda.models import LambdaVersion, get_backend

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        function_name = cloudformation_json["Properties"]["FunctionName"]
        published = get_backend(account_id, region_name).publish_version(function_name)
        version = cls({"Version": published.version})
        version.arn = f"{published.function_arn.rsplit(':', 1)[0]}:{published.version}"
        return version

    LambdaVersion.create_from_cloudformation_json = classmethod(create)
    LambdaVersion.physical_resource_id = property(lambda self: self.arn)
    LambdaVersion.has_cfn_attr = classmethod(lambda cls, name: name == "Version")
    LambdaVersion.get_cfn_attribute = lambda self, name: self.version


def lambda_event_invoke_configs() -> None:
    """moto has no AWS::Lambda::EventInvokeConfig resource: asynchronous retries would be unset."""
    from moto.awslambda.models import get_backend
    from moto.core.common_models import CloudFormationModel

    class EventInvokeConfigResource(CloudFormationModel):
        def __init__(self, name: str) -> None:
            self.name = name

        @property
        def physical_resource_id(self) -> str:
            return self.name

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Lambda::EventInvokeConfig"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            properties = dict(cloudformation_json["Properties"])
            function_name = properties.pop("FunctionName")
            qualifier = properties.pop("Qualifier", None)
            backend = get_backend(account_id, region_name)
            # Asynchronous invocations reach the unqualified function; the configuration applies to them.
            backend.put_function_event_invoke_config(function_name, properties)
            return cls(f"{function_name}:{qualifier}")


def batch_compute_environment_uses_the_service_linked_role() -> None:
    """moto requires ServiceRole; AWS then uses Batch's service-linked role."""
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

    ComputeEnvironment.create_from_cloudformation_json = classmethod(with_service_role)


def batch_job_definitions_as_the_api_stores_them() -> None:
    """moto's AWS::Batch::JobDefinition lower-cases only top-level keys (nested Environment,
    ResourceRequirements, EvaluateOnExit stay PascalCase), drops Timeout, PlatformCapabilities
    and PropagateTags. Here the properties take the RegisterJobDefinition request's shape."""
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

    JobDefinition.create_from_cloudformation_json = classmethod(create)


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


def custom_resources_complete_before_their_dependents() -> None:
    """moto invokes a custom resource's function in the background and goes on creating the
    resources that use its GetAtt values, which are then missing; a FAILED response is ignored
    and the stack waits forever. Here creation waits for the response, and FAILED fails it."""
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

    CustomModel.create_from_cloudformation_json = classmethod(create_and_wait)
    CloudFormationResponse.process_cfn_response = process_cfn_response
