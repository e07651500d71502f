"""Benchmark: the Prepare function on a million entries, through the emulator, under the limits
Lambda enforces (the function's MemorySize and its /tmp, as the emulator enforces them).

    .venv/bin/python -m bench.prepare_benchmark --entries 1000000 --entry-bytes 1024

For each source format (JSON Lines, a JSON array, CSV) it uploads ENTRIES entries of about
ENTRY_BYTES of JSON each to the stack's runs bucket under requests/, invokes PrepareRunFunction as
the orchestrator does, checks that every entry was written to the run's entries file in order, and
prints one JSON document per format: the object's size, the invocation's wall time, and its peak
memory as Lambda reports it ("Max Memory Used" of the invocation's REPORT line) against the
function's MemorySize and the /tmp it has.
"""

import argparse
import csv
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from local_emulator.deploy import deploy
from local_emulator.server import Emulator, free_port

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("jsonl", "json", "csv")


def entry(index: int, entry_bytes: int) -> dict[str, str]:
    name = f"entry-{index:09d}"
    overhead = len(json.dumps({"name": name, "data": ""}, separators=(",", ":")))
    return {"name": name, "data": "x" * max(0, entry_bytes - overhead)}


def request_body(entries: int, entry_bytes: int, kind: str) -> bytes:
    if kind == "jsonl":
        return "".join(json.dumps(entry(i, entry_bytes), separators=(",", ":")) + "\n" for i in range(entries)).encode()
    if kind == "json":
        lines = (json.dumps(entry(i, entry_bytes), separators=(",", ":")) for i in range(entries))
        return ("[" + ",\n".join(lines) + "]").encode()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "data"])
    for i in range(entries):
        writer.writerow(entry(i, entry_bytes).values())
    return out.getvalue().encode()


def max_memory_used(logs: str) -> int | None:
    match = re.search(r"Max Memory Used: (\d+) MB", logs)
    return int(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--entry-bytes", type=int, default=1024)
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    args = parser.parse_args()
    with Emulator(port=free_port()) as emulator:
        stack = deploy(emulator.endpoint_url, ROOT / "template.yaml", {}, stack_name="bench-prepare")
        config = Config(read_timeout=1000, retries={"max_attempts": 0})
        s3 = boto3.client("s3", endpoint_url=emulator.endpoint_url)
        lam = boto3.client("lambda", endpoint_url=emulator.endpoint_url, config=config)
        function = stack.outputs.get("PrepareRunFunctionName") or next(
            f["FunctionName"] for f in lam.list_functions()["Functions"] if "PrepareRun" in f["FunctionName"]
        )
        configuration = lam.get_function_configuration(FunctionName=function)
        bucket = stack.outputs["RunsBucketName"]
        for kind in args.formats:
            body = request_body(args.entries, args.entry_bytes, kind)
            key = f"requests/bench-{args.entries}.{kind}"
            s3.upload_fileobj(io.BytesIO(body), bucket, key)
            size = len(body)
            del body
            run_id = f"bench-prepare-{kind}"
            event = {"runId": run_id, "request": {"input": {"source": {"bucket": bucket, "key": key}}}}
            invocations = len(emulator.lambdas.journal.invocations)
            started = time.monotonic()
            response = lam.invoke(FunctionName=function, Payload=json.dumps(event).encode())
            wall = time.monotonic() - started
            result: dict[str, Any] = json.loads(response["Payload"].read())
            logs = "".join(i.logs for i in emulator.lambdas.journal.invocations[invocations:])
            if response.get("FunctionError") or not result.get("valid") or result.get("total") != args.entries:
                raise RuntimeError(f"{kind}: Prepare did not prepare every entry: {json.dumps(result)[:500]}")
            written = s3.head_object(Bucket=bucket, Key=f"runs/{run_id}/entries.jsonl")["ContentLength"]
            print(
                json.dumps(
                    {
                        "format": kind,
                        "entries": args.entries,
                        "object_bytes": size,
                        "entries_file_bytes": written,
                        "wall_seconds": round(wall, 1),
                        "max_memory_used_mb": max_memory_used(logs),
                        "memory_size_mb": configuration["MemorySize"],
                        "ephemeral_storage_mb": configuration.get("EphemeralStorage", {}).get("Size", 512),
                    }
                ),
                flush=True,
            )
            s3.delete_object(Bucket=bucket, Key=key)


if __name__ == "__main__":
    main()
