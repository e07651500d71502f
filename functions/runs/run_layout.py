"""Where a run keeps its data in the runs bucket, and the shape of an entry's result.

    runs/<run>/entries.jsonl             the request's entries, one per line: {"index", "name", "entry"}
    runs/<run>/plans/<first>-<last>.txt     what the job of one batch runs (written by the submit function)
    runs/<run>/reports/<first>-<last>.bin   what that job reports of each entry (see batch_report.py)
    runs/<run>/outputs/<index>/          the files an entry's command left in its output folder
    runs/<run>/results/<first>-<last>.jsonl  the results of the entries first..last (one batch)
    runs/<run>/map/                      Step Functions' own record of the Map Run (ResultWriter)
    runs/<run>/summary.json              the run's end: its status and counts

A run is named after the parent execution (at most 80 characters of [A-Za-z0-9_-]).
"""

import json
from typing import Any

MAX_CAUSE_CHARS = 4096  # an entry's cause in its result (the job keeps the last 4 KiB of its stderr)


def run_prefix(run_id: str) -> str:
    return f"runs/{run_id}/"


def entries_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}entries.jsonl"


def results_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}results/"


def results_key(run_id: str, first: int, last: int) -> str:
    return f"{results_prefix(run_id)}{first:09d}-{last:09d}.jsonl"


def plan_key(run_id: str, first: int, last: int) -> str:
    return f"{run_prefix(run_id)}plans/{first:09d}-{last:09d}.txt"


def report_key(run_id: str, first: int, last: int) -> str:
    return f"{run_prefix(run_id)}reports/{first:09d}-{last:09d}.bin"


def outputs_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}outputs/"


def map_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}map"


def summary_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}summary.json"


def result_line(item: dict[str, Any], status: str, error: str = "", cause: str = "", **job: Any) -> str:
    """One entry's result, as a line of JSON."""
    record = {"index": item["index"], "name": item["name"], "status": status}
    if error:
        record |= {"error": error, "cause": cause[:MAX_CAUSE_CHARS]}
    record |= {k: v for k, v in job.items() if v is not None}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
