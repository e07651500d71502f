"""Aggregates of a run's result lines, read one at a time: a million-entry run is never held whole.

Kept: counts by status, entries finished per second (per minute once more than MAX_TIMES seconds
saw an entry end, per hour past as many minutes), the slowest entries (a heap of SLOWEST), failures
by error with one example each (at most MAX_ERRORS distinct errors, the rest under OTHER_ERROR).
"""

import heapq
import itertools
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from run_report.model import FailureGroup, SlowEntry, Throughput

SLOWEST = 20
MAX_ERRORS = 500
OTHER_ERROR = "(other errors)"
NO_ERROR = "(no error given)"
# Bucket widths a reader takes in at a glance; the narrowest that gives at most MAX_BUCKETS bars.
BUCKET_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
MAX_BUCKETS = 120
MAX_TIMES = 10_000
# Each divides every bucket width a run that needs it gets (over MAX_TIMES of them: over 120 bars).
RESOLUTIONS = (1, 60, 3600)
_order = itertools.count()  # ties in the heap never compare SlowEntry objects


def parse_time(text: Any) -> datetime | None:
    """An ISO 8601 time (2026-12-07T21:03:24.123Z) as an aware UTC datetime; None if not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class ResultsAggregate:
    def __init__(self) -> None:
        self.by_status: Counter[str] = Counter()
        self.finished: Counter[tuple[int, str]] = Counter()  # (epoch second, status) -> entries
        self.resolution = 1  # seconds: the keys of finished are multiples of it
        self.slow_heap: list[tuple[float, int, int, SlowEntry]] = []
        self.groups: dict[tuple[str, str], FailureGroup] = {}
        self.lines = self.bad_lines = self.timed = 0
        self.seconds_total, self.seconds_max = 0.0, None

    def add_line(self, raw: bytes | str) -> None:
        if not raw.strip():
            return
        try:
            record = json.loads(raw)
        except ValueError:
            self.bad_lines += 1
            return
        if isinstance(record, dict):
            self.add(record)
        else:
            self.bad_lines += 1

    def add(self, record: dict[str, Any]) -> None:
        self.lines += 1
        status = str(record.get("status") or "UNKNOWN")
        self.by_status[status] += 1
        ended = parse_time(record.get("endedAt"))
        if ended is not None:
            second = int(ended.timestamp())
            self.finished[(second - second % self.resolution, status)] += 1
            if len(self.finished) > MAX_TIMES and self.resolution != RESOLUTIONS[-1]:
                self.coarsen(RESOLUTIONS[RESOLUTIONS.index(self.resolution) + 1])
        seconds = record.get("seconds")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            self._add_seconds(record, float(seconds), status)
        if status != "SUCCEEDED":
            self._add_failure(record, status)

    def _add_seconds(self, record: dict[str, Any], seconds: float, status: str) -> None:
        self.timed += 1
        self.seconds_total += seconds
        self.seconds_max = seconds if self.seconds_max is None else max(self.seconds_max, seconds)
        index = record.get("index")
        index = index if isinstance(index, int) else -1
        if len(self.slow_heap) == SLOWEST and (seconds, -index) <= self.slow_heap[0][:2]:
            return  # ties keep the first entry: the same 20 whatever the order of reading
        attempts = record.get("attempts", record.get("attempt"))
        entry = SlowEntry(
            index=index,
            name=str(record.get("name", "")),
            seconds=seconds,
            status=status,
            attempts=attempts if isinstance(attempts, int) else None,
            job_id=str(record.get("jobId") or ""),
            started_at=str(record.get("startedAt") or ""),
            ended_at=str(record.get("endedAt") or ""),
        )
        item = (seconds, -index, next(_order), entry)
        if len(self.slow_heap) < SLOWEST:
            heapq.heappush(self.slow_heap, item)
        else:
            heapq.heappushpop(self.slow_heap, item)

    def _add_failure(self, record: dict[str, Any], status: str) -> None:
        error = str(record.get("error") or NO_ERROR)
        key = (error, status)
        if key not in self.groups and len(self.groups) >= MAX_ERRORS:
            key = (OTHER_ERROR, status)
        group = self.groups.get(key)
        if group is None:
            index = record.get("index")
            group = self.groups[key] = FailureGroup(
                error=key[0],
                status=status,
                count=0,
                example_index=index if isinstance(index, int) else None,
                example_name=str(record.get("name", "")),
                example_cause=str(record.get("cause") or ""),
            )
        group.count += 1

    def coarsen(self, resolution: int) -> None:
        counts = Counter[tuple[int, str]]()
        for (second, status), count in self.finished.items():
            counts[(second - second % resolution, status)] += count
        self.finished, self.resolution = counts, resolution

    def merge(self, other: "ResultsAggregate") -> None:
        """Add OTHER (the aggregate of other lines, e.g. another results file) to this one."""
        self.by_status.update(other.by_status)
        if other.resolution > self.resolution:
            self.coarsen(other.resolution)
        for (second, status), count in other.finished.items():
            self.finished[(second - second % self.resolution, status)] += count
        for item in other.slow_heap:
            if len(self.slow_heap) < SLOWEST:
                heapq.heappush(self.slow_heap, item)
            elif item[:2] > self.slow_heap[0][:2]:
                heapq.heappushpop(self.slow_heap, item)
        for key, group in other.groups.items():
            if key not in self.groups and len(self.groups) >= MAX_ERRORS:
                key = (OTHER_ERROR, group.status)
            mine = self.groups.setdefault(key, FailureGroup(key[0], group.status, 0, group.example_index))
            if mine.count == 0:
                mine.example_index, mine.example_name = group.example_index, group.example_name
                mine.example_cause = group.example_cause
            mine.count += group.count
        self.lines += other.lines
        self.bad_lines += other.bad_lines
        self.timed += other.timed
        self.seconds_total += other.seconds_total
        if other.seconds_max is not None:
            self.seconds_max = max(self.seconds_max or 0.0, other.seconds_max)

    def slowest(self) -> list[SlowEntry]:
        return [item[3] for item in sorted(self.slow_heap, reverse=True)]

    def failures(self) -> list[FailureGroup]:
        return sorted(self.groups.values(), key=lambda g: (-g.count, g.status, g.error))

    def throughput(self) -> Throughput:
        if not self.finished:
            return Throughput()
        seconds = [second for second, _ in self.finished]
        first, last = min(seconds), max(seconds)
        fits = (w for w in BUCKET_SECONDS if w % self.resolution == 0 and (last - first) // w + 1 <= MAX_BUCKETS)
        width = next(fits, BUCKET_SECONDS[-1])
        start = first - first % width
        buckets = (last - start) // width + 1
        counts: dict[str, list[int]] = {}
        for (second, status), count in self.finished.items():
            counts.setdefault(status, [0] * buckets)[(second - start) // width] += count
        starts = [datetime.fromtimestamp(start + i * width, UTC) for i in range(buckets)]
        return Throughput(width, starts, dict(sorted(counts.items())))
