"""The report a batch's job writes, read into its entries' results.

The job script has no JSON tool, so it writes what it saw of each entry as a header line of numbers
followed by bytes whose lengths the header gives:

    entry <index> <exit status> <timed out 0|1> <attempts> <started ms> <ended ms> <output bytes>
        <stderr bytes> <output files>\\n                                    (one line)
    <the entry's output document><the end of its standard error>

This module turns that into result lines: JSON is made here, where bytes that are not UTF-8 or an
output that is not JSON can be handled, never in the shell.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from run_layout import MAX_CAUSE_CHARS

MAX_OUTPUT_BYTES = 16 * 1024  # an entry's output document in its result line
MAX_OUTPUT_FILES = 1000  # files an entry may leave in its output folder (the plan tells the job)
HEADER_FIELDS = 10


class ReportError(ValueError):
    """The report is not what the job script writes."""


@dataclass(frozen=True)
class EntryRecord:
    index: int
    exit_status: int
    timed_out: bool
    attempts: int
    started_ms: int
    ended_ms: int
    output: bytes
    stderr: bytes
    output_files: int


def records(body: bytes) -> Iterator[EntryRecord]:
    """Every entry's record in BODY, in order; ReportError where it is cut or malformed."""
    at = 0
    while at < len(body):
        end = body.find(b"\n", at)
        if end < 0:
            raise ReportError(f"the record at byte {at} has no end of line")
        fields = body[at:end].split(b" ")
        if len(fields) != HEADER_FIELDS or fields[0] != b"entry" or not all(f.isdigit() for f in fields[1:]):
            raise ReportError(f"the record at byte {at} is not 'entry' and 9 numbers")
        index, status, timed_out, attempts, started, ended, output_bytes, stderr_bytes, files = map(int, fields[1:])
        output_at = end + 1
        stderr_at = output_at + output_bytes
        at = stderr_at + stderr_bytes
        if at > len(body):
            raise ReportError(f"the record of entry {index} is cut short")
        yield EntryRecord(
            index,
            status,
            timed_out == 1,
            attempts,
            started,
            ended,
            body[output_at:stderr_at],
            body[stderr_at:at],
            files,
        )


def not_json(constant: str) -> None:
    raise ValueError(f"{constant} is JavaScript, not JSON")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result(record: EntryRecord | None, outputs_uri: str) -> tuple[str, str, str, dict[str, Any]]:
    """(status, error, cause, fields) of one entry from its record; none: the job did not run it."""
    if record is None:
        return "FAILED", "Entry.NotReported", "the job's report has no record of this entry", {}
    fields: dict[str, Any] = {
        "attempts": record.attempts,
        "seconds": round((record.ended_ms - record.started_ms) / 1000, 3),
        "startedAt": iso(record.started_ms),
        "endedAt": iso(record.ended_ms),
    }
    if record.output_files > MAX_OUTPUT_FILES:
        cause = f"it left {record.output_files} files in its output folder; at most {MAX_OUTPUT_FILES}, none kept"
        return "FAILED", "Entry.TooManyOutputs", cause, fields
    if record.output_files:
        fields["outputs"] = f"{outputs_uri}{record.index}/"
    stderr = record.stderr.decode("utf-8", errors="replace")
    if record.timed_out:
        said = f"stopped at its timeout (attempt {record.attempts}); "
        return "FAILED", "Entry.Timeout", said + stderr[len(said) - MAX_CAUSE_CHARS :], fields
    if record.exit_status != 0:
        return "FAILED", "Entry.Failed", stderr or f"the command exited with status {record.exit_status}", fields
    if record.output:
        if len(record.output) > MAX_OUTPUT_BYTES:
            cause = f"its output document has {len(record.output)} bytes; at most {MAX_OUTPUT_BYTES} are kept"
            return "FAILED", "Entry.OutputTooLarge", cause, fields
        try:
            fields["output"] = json.loads(record.output, parse_constant=not_json)
        except ValueError as error:  # UnicodeDecodeError included
            return "FAILED", "Entry.InvalidOutput", f"its output document is not JSON: {error}", fields
    return "SUCCEEDED", "", "", fields
