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


class _JsonFirstYaml:
    """Stands in for the yaml module inside moto's CloudFormation: `load` reads a JSON document as
    JSON, anything else with moto's YAML loader; every other name is the yaml module's."""

    @staticmethod
    def load(stream: Any, Loader: Any) -> Any:  # noqa: N803 (yaml.load's own parameter name)
        try:
            return json.loads(stream, parse_constant=_not_json)
        except ValueError:
            import yaml

            return yaml.load(stream, Loader=Loader)  # noqa: S506 (moto's own call, its Loader)

    def __getattr__(self, name: str) -> Any:
        import yaml

        return getattr(yaml, name)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # NaN and Infinity: Python's json accepts them, JSON does not


@patch(
    service="cloudformation",
    defect="a JSON template is read as YAML (PyYAML's pure-Python loader, about 0.25 s of CPU for this "
    "application's translated template, at each read): an escaped character outside the Basic Multilingual "
    "Plane (\\ud83d\\ude00, as json.dumps writes it) becomes two lone surrogates, and CreateStack fails "
    "with an internal error",
    aws="a JSON template is read as JSON: a surrogate pair is the one character it escapes",
    reference="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-formats.html; "
    "https://www.rfc-editor.org/rfc/rfc8259#section-7",
    seen_in=MOTO,
)
def json_templates_are_read_as_json(patcher: Patcher, emulator: Any) -> None:
    from moto.cloudformation import models, responses

    for module in (models, responses):
        patcher.replace(module, "yaml", _JsonFirstYaml())


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


@patch(
    service="cloudformation",
    defect="a list item that resolves to AWS::NoValue (!If [cond, item, !Ref AWS::NoValue]) stays in the list "
    "as null: an IAM role's optional inline policy crashes the stack (TypeError)",
    aws="a list item that resolves to AWS::NoValue is removed from the list",
    reference="https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/pseudo-parameter-reference.html"
    "#cfn-pseudo-param-novalue",
    seen_in=MOTO,
)
def novalue_list_items_are_removed(patcher: Patcher, emulator: Any) -> None:
    from moto.cloudformation import parsing

    clean = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, list):
            cleaned = [(item, clean_json(item, resources_map)) for item in resource_json]
            # A null that a template wrote as null stays; one an intrinsic resolved to is NoValue.
            return [value for item, value in cleaned if value is not None or item is None]
        return clean(resource_json, resources_map)

    patcher.replace(parsing, "clean_json", clean_json)


@patch(
    service="cloudformation",
    defect="AWS::S3::Bucket ignores VersioningConfiguration: objects get no version id",
    aws="the bucket's versioning is set as the template says (Enabled: every put returns a VersionId)",
    reference=f"{RESOURCE_REFERENCE}/aws-properties-s3-bucket-versioningconfiguration.html",
    seen_in=MOTO,
)
def s3_bucket_versioning_is_set(patcher: Patcher, emulator: Any) -> None:
    from moto.s3.models import FakeBucket, s3_backends
    from moto.utilities.utils import get_partition

    create = FakeBucket.create_from_cloudformation_json.__func__

    def with_versioning(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        bucket = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        status = (cloudformation_json.get("Properties", {}).get("VersioningConfiguration") or {}).get("Status")
        if status:
            s3_backends[account_id][get_partition(region_name)].put_bucket_versioning(bucket.name, status)
        return bucket

    patcher.replace(FakeBucket, "create_from_cloudformation_json", classmethod(with_versioning))


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
    aws="the job definition is registered as RegisterJobDefinition would register it, under its JobDefinitionName "
    "when it has one",
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
            def_name=request.get("jobDefinitionName") or resource_name,
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
    "values are created without them; a FAILED response is ignored and the stack waits forever; a SUCCESS "
    "response creates the stack's remaining resources from its own thread, racing the stack's creation (two "
    "copies of a state machine, one of them holding the executions)",
    aws="dependents wait for the custom resource's response, for its ServiceTimeout at most (default 3,600 s); "
    "FAILED or no response fails the stack with the reason (here CreateStack itself fails with it: moto "
    "creates a stack's resources within the call)",
    reference="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html; "
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html (ServiceTimeout)",
    seen_in=MOTO,
)
def custom_resources_complete_before_their_dependents(patcher: Patcher, emulator: Any) -> None:
    from moto.cloudformation.custom_model import CustomModel
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse

    create = CustomModel.create_from_cloudformation_json.__func__

    def create_and_wait(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        resource = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        timeout = int(cloudformation_json["Properties"].get("ServiceTimeout", CUSTOM_RESOURCE_TIMEOUT_SECONDS))
        deadline = time.monotonic() + timeout
        while not resource.is_created() and getattr(resource, "failure", None) is None:
            if time.monotonic() > deadline:
                message = f"CloudFormation did not receive a response from your Custom Resource in {timeout} s"
                raise ValidationError(resource.logical_id, f"{resource.logical_id} failed: {message} (ServiceTimeout)")
            time.sleep(0.05)
        if getattr(resource, "failure", None) is not None:
            raise ValidationError(resource.logical_id, f"{resource.logical_id} failed: {resource.failure}")
        return resource

    def process_cfn_response(self: CloudFormationResponse) -> Any:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackId"))
        resource = stack.get_custom_resource(self._get_param("LogicalResourceId"))
        if self._get_param("Status") == "FAILED":
            resource.failure = self._get_param("Reason") or "custom resource failed"
        else:
            # moto would also check the stack's readiness here, which creates every resource not yet
            # created from this request's thread while the stack's own thread creates them too: a
            # race that gave stacks two copies of a resource. The waiting creation marks the stack.
            resource.set_data(self._get_param("Data"))
        return 200, {"status": 200}, json.dumps("{}")

    patcher.replace(CustomModel, "create_from_cloudformation_json", classmethod(create_and_wait))
    patcher.replace(CloudFormationResponse, "process_cfn_response", process_cfn_response)


# -- what CloudFormation checks before it creates anything -------------------------------------
def _template_and_values(template: str, given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parsed template, and every parameter's value (given, else its default)."""
    from moto.cloudformation.models import Stack

    parsed = Stack.parse_template(template)
    declared = parsed.get("Parameters") or {}
    values = {name: spec["Default"] for name, spec in declared.items() if "Default" in spec}
    values.update(given or {})
    return parsed, values


def _listed(spec: dict[str, Any], value: Any) -> list[str]:
    if spec.get("Type", "String").startswith("List<") or spec.get("Type") == "CommaDelimitedList":
        return [item.strip() for item in str(value).split(",")] if str(value) else []
    return [str(value)]


def _parameter_problem(name: str, spec: dict[str, Any], value: Any, ec2: Any) -> str | None:
    """AWS's message for a value that breaks its parameter's constraints, or None."""
    import re

    described = spec.get("ConstraintDescription")

    def failed(default: str) -> str:
        return f"Parameter '{name}' failed to satisfy constraint: {described}" if described else default

    kind = spec.get("Type", "String")
    items = _listed(spec, value)
    for item in items:
        if kind in ("Number", "List<Number>"):
            try:
                number = float(item)
            except ValueError:
                return f"Parameter '{name}' must be a number"
            if "MinValue" in spec and number < float(spec["MinValue"]):
                return failed(f"Parameter '{name}' must be a number not less than {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                return failed(f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}")
        if "AllowedValues" in spec and item not in [str(v) for v in spec["AllowedValues"]]:
            return failed(f"Parameter '{name}' must be one of AllowedValues")
        if "AllowedPattern" in spec and re.fullmatch(spec["AllowedPattern"], item) is None:
            return failed(f"Parameter '{name}' must match pattern {spec['AllowedPattern']}")
        if "MinLength" in spec and len(item) < int(spec["MinLength"]):
            return failed(f"Parameter '{name}' must contain at least {spec['MinLength']} characters")
        if "MaxLength" in spec and len(item) > int(spec["MaxLength"]):
            return failed(f"Parameter '{name}' must not contain more than {spec['MaxLength']} characters")
        if kind.removeprefix("List<").removesuffix(">") in _EC2_LOOKUPS and _ec2_attributes(ec2, kind, item) is None:
            return f"Parameter value {item} for parameter name {name} does not exist"
    return None


# AWS-specific parameter types the application uses, and how to find one of their values.
_EC2_LOOKUPS = {
    "AWS::EC2::VPC::Id": ("describe_vpcs", "vpc_ids"),
    "AWS::EC2::Subnet::Id": ("describe_subnets", "subnet_ids"),
}


def _ec2_attributes(ec2: Any, kind: str, value: str) -> dict[str, Any] | None:
    """The attributes CloudFormation's rules can read of an AWS-specific parameter value."""
    method, argument = _EC2_LOOKUPS[kind.removeprefix("List<").removesuffix(">")]
    try:
        found = getattr(ec2, method)(**{argument: [value]})
    except Exception:  # moto raises when the id is unknown
        return None
    if not found:
        return None
    resource = found[0]
    return {"VpcId": getattr(resource, "vpc_id", None) or getattr(resource, "id", None), "Tags": resource.get_tags()}


@patch(
    service="cloudformation",
    defect="parameter values are not checked: a value outside AllowedValues, not matching AllowedPattern, "
    "below MinValue, or naming a VPC or subnet that does not exist creates the stack",
    aws="CreateStack refuses the stack with ValidationError (\"Parameter 'X' must be one of AllowedValues\", "
    '"Parameter value vpc-... for parameter name X does not exist", or the parameter\'s ConstraintDescription)',
    reference="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html",
    seen_in=MOTO,
)
def stack_parameters_are_checked(patcher: Patcher, emulator: Any) -> None:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend
    from moto.ec2.models import ec2_backends

    create = CloudFormationBackend.create_stack

    def create_stack(self, name, template, parameters, *args, **kwargs):
        parsed, values = _template_and_values(template, parameters)
        declared = parsed.get("Parameters") or {}
        missing = sorted(set(declared) - set(values))
        if missing:
            raise ValidationError(name, f"Parameters: [{', '.join(missing)}] must have values")
        ec2 = ec2_backends[self.account_id][self.region_name]
        for parameter, spec in declared.items():
            problem = _parameter_problem(parameter, spec, values[parameter], ec2)
            if problem:
                raise ValidationError(name, problem)
        return create(self, name, template, parameters, *args, **kwargs)

    patcher.replace(CloudFormationBackend, "create_stack", create_stack)


class _Rules:
    """CloudFormation's rule functions over a stack's parameters (moto has no evaluator of its own)."""

    def __init__(self, declared: dict[str, Any], values: dict[str, Any], ec2: Any) -> None:
        self.declared, self.values, self.ec2 = declared, values, ec2

    def holds(self, expression: Any) -> bool:
        return bool(self.evaluate(expression))

    def evaluate(self, expression: Any) -> Any:
        if isinstance(expression, list):
            return [self.evaluate(item) for item in expression]
        if not isinstance(expression, dict) or len(expression) != 1:
            return expression
        [(function, argument)] = expression.items()
        if function == "Ref":
            return self.reference(argument)
        if function == "Fn::ValueOf":
            name, attribute = argument
            values = [self.attribute(self.declared[name]["Type"], v, attribute) for v in self.listed(name)]
            return values if self.declared[name]["Type"].startswith("List<") else values[0]
        if function == "Fn::ValueOfAll":
            kind, attribute = argument
            return [self.attribute(kind, value, attribute) for value in self.all_values(kind)]
        if function == "Fn::RefAll":
            return self.existing(argument)
        operands = self.evaluate(argument)
        operations = {
            "Fn::And": lambda: all(operands),
            "Fn::Or": lambda: any(operands),
            "Fn::Not": lambda: not operands[0],
            "Fn::Equals": lambda: str(operands[0]) == str(operands[1]),
            "Fn::Contains": lambda: str(operands[1]) in [str(v) for v in operands[0]],
            "Fn::EachMemberEquals": lambda: all(str(v) == str(operands[1]) for v in operands[0]),
            "Fn::EachMemberIn": lambda: all(str(v) in [str(w) for w in operands[1]] for v in operands[0]),
            "Fn::If": lambda: operands[1] if operands[0] else operands[2],
        }
        if function not in operations:
            raise ValueError(f"{function} is not a rule-specific intrinsic function")
        return operations[function]()

    def reference(self, name: str) -> Any:
        spec = self.declared.get(name, {})
        return self.listed(name) if spec.get("Type", "").startswith("List<") else str(self.values.get(name, ""))

    def listed(self, name: str) -> list[str]:
        return _listed(self.declared[name], self.values[name])

    def all_values(self, kind: str) -> list[str]:
        return [
            value
            for name, spec in self.declared.items()
            if spec.get("Type") in (kind, f"List<{kind}>")
            for value in self.listed(name)
        ]

    def attribute(self, kind: str, value: str, attribute: str) -> Any:
        attributes = _ec2_attributes(self.ec2, kind, value) or {}
        return attributes.get(attribute)

    def existing(self, kind: str) -> list[str]:
        if kind == "AWS::EC2::VPC::Id":
            return [vpc.id for vpc in self.ec2.describe_vpcs()]
        if kind == "AWS::EC2::Subnet::Id":
            return [subnet.id for subnet in self.ec2.describe_subnets()]
        return self.all_values(kind)


@patch(
    service="cloudformation",
    defect="a template's Rules are ignored: a stack whose parameters break an assertion is created",
    aws="CreateStack refuses the stack with ValidationError and the assertion's AssertDescription when a rule "
    "whose condition holds has an assertion that does not",
    reference="https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html",
    seen_in=MOTO,
)
def template_rules_are_enforced(patcher: Patcher, emulator: Any) -> None:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend
    from moto.ec2.models import ec2_backends

    create = CloudFormationBackend.create_stack

    def create_stack(self, name, template, parameters, *args, **kwargs):
        parsed, values = _template_and_values(template, parameters)
        rules = _Rules(parsed.get("Parameters") or {}, values, ec2_backends[self.account_id][self.region_name])
        for rule in (parsed.get("Rules") or {}).values():
            if "RuleCondition" in rule and not rules.holds(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not rules.holds(assertion["Assert"]):
                    raise ValidationError(name, assertion.get("AssertDescription", "Template rule assertion failed"))
        return create(self, name, template, parameters, *args, **kwargs)

    patcher.replace(CloudFormationBackend, "create_stack", create_stack)
