"""python -m local_emulator {run,serve,invoke}: the application on this machine, offline, without Docker."""

import argparse
import json
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from local_emulator.deploy import DeployError, Stack, deploy, parse_overrides
from local_emulator.patches.stepfunctions import DEFAULT_TASK_TOKEN_LENGTH, MAX_TASK_TOKEN_LENGTH
from local_emulator.run_record import write_record
from local_emulator.runner import OrchestratorRun, print_table
from local_emulator.server import DEFAULT_PORT, REGION, Emulator

ROOT = Path(__file__).resolve().parents[1]


def port(text: str) -> int:
    """A TCP port the emulator can listen on and tell its clients: 0 (any free port) is not one."""
    number = int(text)
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port from 1 to 65535")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_emulator", description=__doc__)
    parser.add_argument(
        "--template", type=Path, default=ROOT / "template.yaml", help="SAM template (default: %(default)s)"
    )
    parser.add_argument("--port", type=port, default=DEFAULT_PORT, help="port on 127.0.0.1 (default: %(default)s)")
    parser.add_argument(
        "--task-token-length",
        type=int,
        default=DEFAULT_TASK_TOKEN_LENGTH,
        help=f"characters of each task token, as AWS's run to hundreds (default: %(default)s; at most "
        f"{MAX_TASK_TOKEN_LENGTH}, the API's bound)",
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="template parameter override (repeatable)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="deploy, run the orchestrator with PAYLOAD, report every entry")
    run.add_argument(
        "payload", type=Path, help="orchestrator input, e.g. test-inputs/orchestrator-step-function-payload.json"
    )
    run.add_argument(
        "--record-dir", type=Path, default=ROOT / ".local-runs", help="where run records go (default: %(default)s)"
    )
    run.add_argument(
        "--timeout", type=float, default=3600, help="stop the run after this many seconds (default: %(default)s)"
    )

    commands.add_parser("serve", help="deploy and keep the stack running for the AWS CLI (Ctrl-C stops)")

    invoke = commands.add_parser("invoke", help="invoke one function, as `sam local invoke` does")
    invoke.add_argument("function", help="logical id (BatchSubmitFunction) or function name")
    invoke.add_argument("--event", type=Path, required=True, help="event JSON file")

    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.param)
        # The input first: a file that is missing or not JSON is refused before a deploy of seconds.
        args.document = read_json(args.payload if args.command == "run" else getattr(args, "event", None))
        with Emulator(args.port, task_token_length=args.task_token_length) as emulator:
            print(f"Deploying {args.template.name} into the emulator at {emulator.endpoint_url} ...", flush=True)
            started = time.monotonic()
            stack = deploy(emulator.endpoint_url, args.template, overrides)
            print(f"Stack {stack.name} created in {time.monotonic() - started:.1f} s", flush=True)
            return {"run": command_run, "serve": command_serve, "invoke": command_invoke}[args.command](
                args, emulator, stack
            )
    except (DeployError, RuntimeError, FileNotFoundError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def read_json(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RuntimeError(f"{path} is not JSON: {error}") from None


def command_run(args: argparse.Namespace, emulator: Emulator, stack: Stack) -> int:
    runner = OrchestratorRun(emulator.endpoint_url, stack)
    started = time.monotonic()
    execution_arn = runner.start(args.document)
    print(f"Started run {execution_arn.rsplit(':', 1)[-1]} with {args.payload}", flush=True)
    description = runner.wait(execution_arn, args.timeout)
    result = runner.result(description, time.monotonic() - started)
    print()
    print_table(result)
    folder = args.record_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{execution_arn.rsplit(':', 1)[-1]}"
    write_record(runner, result, folder, emulator.lambdas.journal)
    print(f"Record of the run (results, executions with their histories, job records and logs): {folder}")
    return 0 if result.succeeded else 1


def command_serve(args: argparse.Namespace, emulator: Emulator, stack: Stack) -> int:
    stack.print_outputs()
    print(
        f"""
The stack runs at {emulator.endpoint_url} until Ctrl-C. In another shell:

  export AWS_ENDPOINT_URL={emulator.endpoint_url} AWS_DEFAULT_REGION={REGION} \\
         AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  aws stepfunctions start-execution --state-machine-arn {stack.outputs["OrchestratorStateMachineArn"]} \\
      --input file://test-inputs/orchestrator-step-function-payload.json
""",
        flush=True,
    )
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    print("stopping")
    return 0


def command_invoke(args: argparse.Namespace, emulator: Emulator, stack: Stack) -> int:
    cloudformation = boto3.client("cloudformation", endpoint_url=emulator.endpoint_url)
    resources = cloudformation.describe_stack_resources(StackName=stack.name)["StackResources"]
    names = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in resources
        if r.get("ResourceType") == "AWS::Lambda::Function"
    }
    function = names.get(args.function, args.function)
    if function not in names.values():
        print(f"error: no function {args.function!r}; the stack has {', '.join(sorted(names))}", file=sys.stderr)
        return 2
    response = boto3.client("lambda", endpoint_url=emulator.endpoint_url).invoke(
        FunctionName=function, Payload=args.event.read_bytes(), LogType="Tail"
    )
    invocation = emulator.lambdas.journal.invocations[-1]
    sys.stderr.write(invocation.logs)
    print(response["Payload"].read().decode())
    return 1 if response.get("FunctionError") else 0
