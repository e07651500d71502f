"""Write the report of one run of a deployed stack:

    python -m run_report --execution-arn ARN --out report.html [--stack-name NAME] [--endpoint-url URL]
    python -m run_report --stack-name NAME --run-id RUN --out report.html

The stack (for its RunsBucketName and AuditTableName outputs) is the one named, else the one the
execution's state machine belongs to (<stack>-orchestrator); --bucket and --table skip CloudFormation.
Credentials and region: the AWS SDK's own configuration (the region defaults to the ARN's).
"""

import argparse
import os
import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from run_report.collect import Clients, Locations, ReportError, collect, parse_execution_arn
from run_report.page import write

DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"})
PERMISSIONS = (
    "states:DescribeExecution, states:ListMapRuns, states:DescribeMapRun, states:ListExecutions, "
    "dynamodb:Query on the audit table, batch:DescribeJobs, s3:GetObject and s3:ListBucket on the runs "
    "bucket, cloudformation:DescribeStacks (unless --bucket and --table are given)"
)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m run_report",
        description="Write the report of one run of a deployed stack: one self-contained HTML file.",
    )
    run = parser.add_mutually_exclusive_group(required=True)
    run.add_argument("--execution-arn", help="the run's parent execution")
    run.add_argument("--run-id", help="the run's id (its execution's name), with --stack-name")
    parser.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file to write")
    parser.add_argument("--stack-name", help="the stack (default: from the state machine's name)")
    parser.add_argument("--endpoint-url", help="e.g. the local emulator's http://127.0.0.1:PORT")
    parser.add_argument("--region", help="default: the execution ARN's region")
    parser.add_argument("--bucket", help="the runs bucket (RunsBucketName), instead of the stack's output")
    parser.add_argument("--table", help="the audit table (AuditTableName), instead of the stack's output")
    args = parser.parse_args(argv)
    if args.run_id and not args.stack_name:
        parser.error("--run-id needs --stack-name")
    return args


def stack_outputs(args: argparse.Namespace, region: str | None, stack: str) -> dict[str, str]:
    cloudformation = boto3.client("cloudformation", endpoint_url=args.endpoint_url, region_name=region)
    try:
        [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ValidationError":
            where = f" in {region}" if region else ""
            raise ReportError(f"no stack {stack!r}{where}: give its name with --stack-name") from None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    wanted = ("RunsBucketName", "AuditTableName", "OrchestratorStateMachineArn")
    if not all(name in outputs for name in wanted):
        raise ReportError(f"stack {stack!r} has no {'/'.join(wanted)} outputs: is it this application's?")
    return outputs


def execution_arn(args: argparse.Namespace) -> str:
    """The run's execution: as given, or the stack's orchestrator's execution named --run-id."""
    if args.execution_arn:
        return args.execution_arn
    machine = stack_outputs(args, args.region, args.stack_name)["OrchestratorStateMachineArn"]
    return f"{machine.replace(':stateMachine:', ':execution:', 1)}:{args.run_id}"


def locations(args: argparse.Namespace, region: str, state_machine: str) -> Locations:
    if args.bucket and args.table:
        return Locations(args.bucket, args.table)
    outputs = stack_outputs(args, region, args.stack_name or state_machine.removesuffix("-orchestrator"))
    return Locations(args.bucket or outputs["RunsBucketName"], args.table or outputs["AuditTableName"])


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    try:
        arn = execution_arn(args)
        arn_region, state_machine, _ = parse_execution_arn(arn)
        region = args.region or arn_region
        where = locations(args, region, state_machine)
        data = collect(Clients.create(args.endpoint_url, region), arn, where)
        # Links to the AWS console are for runs on AWS, not on an emulator.
        on_aws = not (args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL"))
        write(data, args.out, console_links=on_aws)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ClientError as exc:
        code, message = exc.response["Error"].get("Code", ""), exc.response["Error"].get("Message", "")
        if code in DENIED:
            print(f"error: missing permission: {exc.operation_name} was denied ({message}).", file=sys.stderr)
            print(f"The report needs {PERMISSIONS}.", file=sys.stderr)
        else:
            print(f"error: {exc.operation_name} failed: {code}: {message}", file=sys.stderr)
        return 2
    except NoCredentialsError:
        print("error: no AWS credentials found (set a profile, or AWS_ACCESS_KEY_ID and the rest)", file=sys.stderr)
        return 2
    except BotoCoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if data.in_progress:
        print(f"The run is still in progress: the report shows it so far, marked so. {args.out}")
    else:
        print(f"Report of run {data.run_id} ({data.status}): {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
