"""Deploy template.yaml into the emulator as `sam deploy` deploys it into AWS.

Local CodeUri folders and DefinitionUri files are packaged into the emulator's S3 (as
`sam package` uploads them), the SAM transform runs with aws-sam-translator, and moto's
CloudFormation creates the stack, so that every Ref, GetAtt and DefinitionSubstitutions
value is the emulator's own. The batch script reaches the bucket by the template's own custom
resource.
"""

import copy
import functools
import hashlib
import io
import json
import shlex
import sys
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ARTIFACT_BUCKET = "local-emulator-artifacts"
DEFAULT_STACK_NAME = "sfn-batch-orchestrator"
DEPLOY_TIMEOUT_SECONDS = 180


class DeployError(Exception):
    pass


@dataclass
class Stack:
    name: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    descriptions: dict[str, str]

    def print_outputs(self, write: Any = print) -> None:
        write("CloudFormation outputs from deployed stack")
        write("-" * 100)
        for key, value in self.outputs.items():
            write(f"Key                 {key}")
            write(f"Description         {self.descriptions.get(key, '')}")
            write(f"Value               {value}")
            write("")
        write("-" * 100)


class _NoManagedPolicyNames:
    """The template names managed policies by ARN only; nothing needs looking up."""

    def load(self) -> dict[str, str]:
        return {}


def clients(endpoint_url: str) -> dict[str, Any]:
    return {name: boto3.client(name, endpoint_url=endpoint_url) for name in ("s3", "cloudformation", "ec2")}


def samconfig_overrides(samconfig: Path) -> dict[str, str]:
    """parameter_overrides of [default.deploy.parameters], as `sam deploy` reads them."""
    if not samconfig.is_file():
        return {}
    config = tomllib.loads(samconfig.read_text())
    overrides = config.get("default", {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    items = shlex.split(overrides) if isinstance(overrides, str) else overrides
    return dict(item.split("=", 1) for item in items)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise DeployError(f"parameter {pair!r} is not KEY=VALUE")
        result[key] = value
    return result


def default_network(ec2: Any) -> dict[str, str]:
    """The emulated account's default VPC and its subnets, for VPCID and Subnets."""
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    return {"VPCID": vpc, "Subnets": ",".join(sorted(s["SubnetId"] for s in subnets)[:2])}


def zip_folder(folder: Path) -> bytes:
    """A reproducible zip of FOLDER: the same files give the same bytes, hence the same key."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (path.stat().st_mode & 0o777) << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def upload(s3: Any, body: bytes, suffix: str) -> dict[str, str]:
    key = f"{hashlib.sha256(body).hexdigest()}{suffix}"
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=body)
    return {"Bucket": ARTIFACT_BUCKET, "Key": key}


def package(template: dict[str, Any], base: Path, s3: Any) -> dict[str, Any]:
    """Upload local code folders and definition files; point the template at the uploads."""
    packaged = copy.deepcopy(template)
    for resource in packaged["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and isinstance(properties.get("CodeUri"), str):
            properties["CodeUri"] = upload(s3, zip_folder(base / properties["CodeUri"]), ".zip")
        if resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(properties.get("DefinitionUri"), str):
            properties["DefinitionUri"] = upload(s3, (base / properties["DefinitionUri"]).read_bytes(), ".asl.json")
    return packaged


def resolve_parameters(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    declared = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise DeployError(f"unknown parameter(s) {', '.join(unknown)}; the template declares {', '.join(declared)}")
    values = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    values.update(given)
    missing = sorted(set(declared) - set(values))
    if missing:
        raise DeployError(f"no value for parameter(s) {', '.join(missing)}")
    return values


def deploy(
    endpoint_url: str,
    template_path: Path,
    overrides: dict[str, str] | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
    samconfig: Path | None = None,
) -> Stack:
    aws = clients(endpoint_url)
    template = read_template(template_path.read_text())
    given = {
        **default_network(aws["ec2"]),
        **samconfig_overrides(samconfig or template_path.with_name("samconfig.toml")),
    }
    parameters = resolve_parameters(template, {**given, **(overrides or {})})
    aws["s3"].create_bucket(Bucket=ARTIFACT_BUCKET)
    translated = transform(package(template, template_path.parent, aws["s3"]), parameters, _NoManagedPolicyNames())
    types = {r["Type"] for r in translated["Resources"].values() if not r["Type"].startswith("Custom::")}
    unsupported = sorted(types - supported_types())
    if unsupported:
        print(f"Not emulated (created as no-ops): {', '.join(unsupported)}", file=sys.stderr, flush=True)
    try:
        aws["cloudformation"].create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(translated),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    except ClientError as error:
        raise DeployError(f"stack {stack_name} was not created: {error}") from error
    description = wait_for_stack(aws["cloudformation"], stack_name)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
    descriptions = {name: spec.get("Description", "") for name, spec in template.get("Outputs", {}).items()}
    return Stack(stack_name, parameters, {k: outputs[k] for k in descriptions if k in outputs}, descriptions)


def read_template(text: str) -> dict[str, Any]:
    """The SAM template TEXT as data (a copy: deploy changes what it reads)."""
    return copy.deepcopy(_parsed(text))


@functools.lru_cache(maxsize=8)
def _parsed(text: str) -> dict[str, Any]:
    # Parsing the template took 0.2 s of CPU (PyYAML's pure-Python loader, as samtranslator uses it)
    # at each deploy; a test process deploys the same text many times.
    return yaml_parse(text)


def supported_types() -> set[str]:
    from moto.cloudformation.parsing import get_model_map

    return set(get_model_map())


def wait_for_stack(cloudformation: Any, stack_name: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEPLOY_TIMEOUT_SECONDS
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        if stack["StackStatus"] == "CREATE_COMPLETE":
            return stack
        if stack["StackStatus"].endswith("FAILED") or time.monotonic() > deadline:
            events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
            reasons = [e["ResourceStatusReason"] for e in events if e.get("ResourceStatusReason")]
            raise DeployError(f"stack {stack['StackStatus']}: {'; '.join(reasons) or 'timed out'}")
        time.sleep(0.1)
