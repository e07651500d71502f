"""Benchmark: the entry contract's own CPU per entry, above running the bare command.

    .venv/bin/python -m bench.entry_cost --entries 1 201 --command true

Runs the job script as a job runs it (a real task token, its plan, its report), against a fresh
emulator, once per ENTRIES, one entry at a time, and reads the CPU (user + system) of its whole
process tree; then runs the bare COMMAND as many times from a plain `sh` loop. The contract's cost per
entry is the slope between the two sizes of the job's CPU, less the bare command's per run: what each
more entry costs in a job, fixed costs (the token, the plan, the report, the callbacks) aside.
"""

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3

from local_emulator.server import Emulator, free_port
from local_emulator.waiting_tasks import ReferencedTasks

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions" / "runs"))
from batch_plan import plan_text  # noqa: E402
from batch_report import records  # noqa: E402

SCRIPT = ROOT / "batch-script" / "batch-notify-step-function.sh"
TABLE, BUCKET = "entry-cost-tokens", "entry-cost-runs"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str], cwd: str) -> float:
    before = children_cpu()
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return children_cpu() - before


def job_cpu(emulator: Emulator, tasks: ReferencedTasks, entries: int, command: str, folder: str) -> float:
    s3 = boto3.client("s3", endpoint_url=emulator.endpoint_url)
    settings = {
        "command": command,
        "timeout": 300,
        "attempts": 1,
        "backoff": 0,
        "parallelism": 1,
        "outputs": f"s3://{BUCKET}/runs/cost/outputs/",
        "run": "cost",
        "maxfiles": 1000,
    }
    items = [{"index": i, "name": f"e{i}", "entry": {"name": f"e{i}"}} for i in range(entries)]
    task = tasks.start(plan=plan_text(settings, items))
    report = f"runs/cost/reports/{entries:09d}.bin"
    env = {
        "PATH": emulator.batch.path,
        "HOME": folder,
        "TMPDIR": folder,
        "LANG": "C.UTF-8",
        "AWS_ENDPOINT_URL": emulator.endpoint_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_BATCH_JOB_ID": f"cost-{entries}",
        "TASK_TOKEN_TABLE": TABLE,
        "RUNS_BUCKET": BUCKET,
    }
    cpu = timed(["sh", str(SCRIPT), task.ref, report, "0", "0"], env, folder)
    reported = list(records(s3.get_object(Bucket=BUCKET, Key=report)["Body"].read()))
    if len(reported) != entries or any(r.exit_status for r in reported):
        raise RuntimeError(f"the job reported {len(reported)} of {entries} entries, or a failed one")
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, nargs=2, default=(1, 201), metavar=("FEW", "MANY"))
    parser.add_argument("--command", default="true", help="the bare entry command (default: %(default)s)")
    args = parser.parse_args()
    few, many = args.entries
    with Emulator(port=free_port()) as emulator, tempfile.TemporaryDirectory(prefix="entry-cost-") as folder:
        endpoint = emulator.endpoint_url
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "ref", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "ref", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        tasks = ReferencedTasks(
            dynamodb,
            TABLE,
            boto3.client("stepfunctions", endpoint_url=endpoint),
            boto3.client("sqs", endpoint_url=endpoint),
            iam=boto3.client("iam", endpoint_url=endpoint),
            s3=s3,
            bucket=BUCKET,
        )
        job = {n: job_cpu(emulator, tasks, n, args.command, folder) for n in (few, many)}
        loop = f'i=0; while [ $i -lt {many - few} ]; do sh -c "$0"; i=$((i + 1)); done'
        bare = timed(["sh", "-c", loop, args.command], {"PATH": "/usr/bin:/bin"}, folder)
    per_entry = (job[many] - job[few]) / (many - few)
    bare_per_run = bare / (many - few)
    print(
        f"job CPU: {job[few]:.2f} s for {few} entries, {job[many]:.2f} s for {many}; "
        f"bare `sh -c {args.command}`: {bare_per_run * 1000:.1f} ms a run\n"
        f"the contract's own CPU per entry: {(per_entry - bare_per_run) * 1000:.1f} ms "
        f"({per_entry * 1000:.1f} ms per entry in a job, less the bare command's)"
    )


if __name__ == "__main__":
    main()
