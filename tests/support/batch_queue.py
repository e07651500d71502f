"""A Fargate compute environment and job queue, created through the Batch API."""

from typing import Any


def fargate_queue(ec2: Any, iam: Any, batch: Any, name: str, max_vcpus: int) -> str:
    """The queue's ARN; its compute environment runs MAX_VCPUS vCPUs of jobs at once."""
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
    group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    role = iam.create_role(RoleName=f"{name}-batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    environment = batch.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        serviceRole=role,
        computeResources={"type": "FARGATE", "maxvCpus": max_vcpus, "subnets": [subnet], "securityGroupIds": [group]},
    )["computeEnvironmentArn"]
    return batch.create_job_queue(
        jobQueueName=name,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
    )["jobQueueArn"]


def template_job_definition(batch: Any, name: str) -> str:
    """The template's job definition (its command, parameters and size), registered as NAME."""
    from tests.support.template import resources

    definition = resources("AWS::Batch::JobDefinition")["JobDefinition"]["Properties"]
    container = definition["ContainerProperties"]
    return batch.register_job_definition(
        jobDefinitionName=name,
        type="container",
        platformCapabilities=["FARGATE"],
        parameters=definition["Parameters"],
        containerProperties={
            "image": "example",
            "command": container["Command"],
            "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}],
        },
    )["jobDefinitionArn"]
