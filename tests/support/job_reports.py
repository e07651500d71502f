"""A batch's report as its job writes it (batch-script/batch-notify-step-function.sh): one record an
entry, a header line of numbers, then the entry's output document and the end of its standard
error. For the tests of the functions that read it (see functions/runs/batch_report.py)."""

from dataclasses import dataclass
from typing import Any

from tests.support.handlers import load_handler
from tests.support.paths import FUNCTIONS

run_layout = load_handler(FUNCTIONS / "runs", "run_layout")

STDERR_KEPT = 4096  # the job keeps the last 4 KiB of an entry's standard error (tail -c 4096)
STARTED_MS = 1_780_000_000_000  # 2026-05-28T20:26:40.000Z


@dataclass(frozen=True)
class Record:
    """What the job saw of one entry: by default, its first attempt exited 0 in 1.5 s, printing nothing."""

    index: int
    status: int = 0
    timed_out: bool = False
    attempts: int = 1
    started_ms: int = STARTED_MS
    ended_ms: int = STARTED_MS + 1500
    output: bytes = b""
    stderr: bytes = b""
    files: int = 0


def record_bytes(record: Record) -> bytes:
    """One entry's record, byte for byte as the job's run_entry writes it."""
    stderr = record.stderr[-STDERR_KEPT:]
    header = (
        f"entry {record.index} {record.status} {int(record.timed_out)} {record.attempts} {record.started_ms} "
        f"{record.ended_ms} {len(record.output)} {len(stderr)} {record.files}\n"
    )
    return header.encode() + record.output + stderr


def report_body(records: list[Record]) -> bytes:
    """The report of RECORDS, in their order (the job writes them in its plan's order)."""
    return b"".join(record_bytes(record) for record in records)


def put_report(s3: Any, bucket: str, run_id: str, first: int, last: int, body: bytes | list[Record]) -> str:
    """The report of the batch FIRST..LAST of RUN_ID where its job puts it (BODY: bytes, or records);
    its key."""
    key = run_layout.report_key(run_id, first, last)
    s3.put_object(Bucket=bucket, Key=key, Body=body if isinstance(body, bytes) else report_body(body))
    return key
