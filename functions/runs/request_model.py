"""The orchestrator's request (see README, "Requests"): the entries inline, in an S3 object, or the
failed entries of an earlier run; how many go to one job; how many may fail; which path they take."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMATS = ("jsonl", "json", "csv")


class Entry(BaseModel):
    """What every entry must have; any other field goes to the job as it is."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=256)
    expected_job_status: Literal["SUCCEEDED", "FAILED"] = Field(default="SUCCEEDED", alias="expectedJobStatus")

    @field_validator("name")
    @classmethod
    def printable(cls, name: str) -> str:
        if any(ord(c) < 32 for c in name):
            raise ValueError("must not contain control characters")
        return name


class Source(BaseModel):
    """An S3 object of entries: a JSON array, JSON Lines, or CSV with a header row."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    format: Literal["jsonl", "json", "csv"] | None = None

    @property
    def input_format(self) -> str:
        """The format given, or the key's extension's."""
        if self.format:
            return self.format
        suffix = self.key.rsplit(".", 1)[-1].lower()
        return {"jsonl": "jsonl", "ndjson": "jsonl", "json": "json", "csv": "csv"}.get(suffix, "")


class EntryOverrides(BaseModel):
    """How each entry runs, where the request differs from the stack (docs/entry-contract.md)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    command: str | None = Field(default=None, min_length=1, max_length=4096, pattern=r"^[^\n\r\t]+$")
    timeout_seconds: int | None = Field(default=None, alias="timeoutSeconds", ge=0, le=7 * 86400)
    attempts: int | None = Field(default=None, ge=1, le=10)
    backoff_seconds: int | None = Field(default=None, alias="backoffSeconds", ge=0, le=3600)
    parallelism: int | None = Field(default=None, ge=1, le=1000)


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    entries: list[Any] | None = Field(default=None, min_length=1)
    source: Source | None = None
    rerun_of: str | None = Field(default=None, alias="rerunOf", pattern=r"^[A-Za-z0-9_-]{1,80}$")
    batch_size: int | None = Field(default=None, alias="batchSize", ge=1, le=1000)
    tolerated_failure_percentage: float | None = Field(default=None, alias="toleratedFailurePercentage", ge=0, le=100)
    tolerated_failure_count: int | None = Field(default=None, alias="toleratedFailureCount", ge=0)
    patterns: Literal["full", "lean"] | None = None
    entry: EntryOverrides | None = None

    @model_validator(mode="after")
    def one_kind_of_entries(self) -> "Request":
        given = [
            name
            for name, value in (("entries", self.entries), ("source", self.source), ("rerunOf", self.rerun_of))
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(f"give exactly one of entries, source or rerunOf (given: {', '.join(given) or 'none'})")
        if self.source is not None and not self.source.input_format:
            raise ValueError(f"source.format: give jsonl, json or csv (the key {self.source.key!r} does not say)")
        return self


class Envelope(BaseModel):
    input: Request
