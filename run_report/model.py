"""What a run report shows: plain data, read by collect.py, drawn by page.py."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Batch:
    """One batch: its child execution and its job (either may be unknown)."""

    first: int | None
    last: int | None
    status: str = ""  # the audit item's
    child_arn: str = ""
    child_status: str = ""
    child_started: datetime | None = None
    child_stopped: datetime | None = None
    job_id: str = ""
    job_status: str = ""
    job_created: datetime | None = None
    job_started: datetime | None = None
    job_stopped: datetime | None = None

    @property
    def label(self) -> str:
        if self.first is None:
            return self.child_arn.rsplit(":", 1)[-1] or self.job_id
        return f"entries {self.first}-{self.last}" if self.last != self.first else f"entry {self.first}"


@dataclass
class SlowEntry:
    index: int
    name: str
    seconds: float
    status: str
    attempts: int | None = None
    job_id: str = ""
    started_at: str = ""
    ended_at: str = ""


@dataclass
class FailureGroup:
    """The entries that did not succeed with one error (and status: FAILED or NOT_RUN)."""

    error: str
    status: str
    count: int
    example_index: int | None = None
    example_name: str = ""
    example_cause: str = ""


@dataclass
class Throughput:
    """Entries finished per bucket of BUCKET_SECONDS from START, by status."""

    bucket_seconds: int = 1
    starts: list[datetime] = field(default_factory=list)
    counts: dict[str, list[int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(c) for c in self.counts.values())


@dataclass
class RunData:
    run_id: str
    execution_arn: str
    status: str  # the parent execution's
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    generated_at: datetime | None = None
    error: str = ""
    cause: str = ""
    total: int | None = None
    counts: dict[str, int] = field(default_factory=dict)  # SUCCEEDED, FAILED, NOT_RUN
    results_uri: str = ""
    summary_uri: str = ""
    summary: dict[str, Any] = field(default_factory=dict)  # summary.json, {} before the run's end
    batches: list[Batch] = field(default_factory=list)
    map_run_counts: dict[str, int] = field(default_factory=dict)
    throughput: Throughput = field(default_factory=Throughput)
    slowest: list[SlowEntry] = field(default_factory=list)
    failures: list[FailureGroup] = field(default_factory=list)
    entries_read: int = 0  # result lines read
    entry_seconds_max: float | None = None
    entry_seconds_mean: float | None = None
    notes: list[str] = field(default_factory=list)  # what could not be read, shown on the page

    @property
    def in_progress(self) -> bool:
        return self.status == "RUNNING"

    @property
    def wall_seconds(self) -> float | None:
        end = self.stopped_at or self.generated_at
        return (end - self.started_at).total_seconds() if self.started_at and end else None

    @property
    def durations(self) -> dict[str, Any] | None:
        return self.summary.get("durations") or None

    @property
    def cost(self) -> dict[str, Any] | None:
        return self.summary.get("cost") or None
