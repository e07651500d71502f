"""How a run went, kept per batch and merged at its end: entry and batch durations, and failures by
their error.

A run of a million entries cannot hold every duration to take a median at its end, so each batch's
Account keeps its entries' durations as a histogram of logarithmic buckets (5 % apart): merged, the
buckets give every percentile within 5 %, and the maxima are kept exactly beside them.
"""

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

RATIO = 1.05
MAX_EXAMPLE_CHARS = 300


def bucket_of(ms: int) -> int:
    return int(math.log(max(ms, 0) + 1, RATIO))


def value_of(bucket: int) -> float:
    """The middle of BUCKET, in milliseconds."""
    return (RATIO ** (bucket + 0.5)) - 1


@dataclass
class Durations:
    buckets: Counter[int] = field(default_factory=Counter)
    max_ms: int = 0

    def add(self, ms: int) -> None:
        self.buckets[bucket_of(ms)] += 1
        self.max_ms = max(self.max_ms, ms)

    def merge(self, other: "Durations") -> None:
        self.buckets.update(other.buckets)
        self.max_ms = max(self.max_ms, other.max_ms)

    def summary(self) -> dict[str, Any]:
        """count, median, p95 and max, in seconds (median and p95 within 5 %)."""
        count = sum(self.buckets.values())
        if not count:
            return {"count": 0}

        def percentile(share: float) -> float:
            rank, seen = math.ceil(share * count), 0
            for bucket in sorted(self.buckets):
                seen += self.buckets[bucket]
                if seen >= rank:
                    return round(min(value_of(bucket), self.max_ms) / 1000, 3)
            return self.max_ms / 1000

        return {"count": count, "median": percentile(0.5), "p95": percentile(0.95), "max": self.max_ms / 1000}

    def to_item(self) -> dict[str, Any]:
        return {"M": {str(b): {"N": str(n)} for b, n in self.buckets.items()}}

    @classmethod
    def from_item(cls, buckets: dict[str, Any] | None, max_ms: dict[str, Any] | None) -> "Durations":
        found = Counter({int(b): int(n["N"]) for b, n in (buckets or {}).get("M", {}).items()})
        return cls(found, int((max_ms or {}).get("N", 0)))


@dataclass
class Failures:
    """Failed entries by error, with one example of each (index, name and the start of its cause)."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, error: str, index: int, name: str, cause: str, count: int = 1) -> None:
        self.counts[error] += count
        self.examples.setdefault(error, f"entry {index} ({name}): {cause[:MAX_EXAMPLE_CHARS]}")

    def merge(self, other: "Failures") -> None:
        self.counts.update(other.counts)
        for error, example in other.examples.items():
            self.examples.setdefault(error, example)

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"error": error, "count": count, "example": self.examples.get(error, "")}
            for error, count in self.counts.most_common()
        ]

    def to_items(self) -> tuple[dict[str, Any], dict[str, Any]]:
        counts = {"M": {e: {"N": str(n)} for e, n in self.counts.items()}}
        return counts, {"M": {e: {"S": x} for e, x in self.examples.items()}}

    @classmethod
    def from_items(cls, counts: dict[str, Any] | None, examples: dict[str, Any] | None) -> "Failures":
        found = Counter({e: int(n["N"]) for e, n in (counts or {}).get("M", {}).items()})
        return cls(found, {e: x["S"] for e, x in (examples or {}).get("M", {}).items()})
