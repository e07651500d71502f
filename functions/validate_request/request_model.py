"""The orchestrator's request: {"input": {"entries": [{"name": ...}, ...]}}."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# An entry travels to its job as a Batch parameter, which ends up in the container overrides Batch
# sends to ECS (8,192 characters, JSON escaping included: the entry's JSON is escaped once more
# there). 7,168 leaves room for the rest of the command and Batch's own variables; the submit
# function counts the whole, exactly.
MAX_ENTRY_OVERRIDE_CHARS = 7168


class Entry(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=256)
    expected_job_status: Literal["SUCCEEDED", "FAILED"] = Field(default="SUCCEEDED", alias="expectedJobStatus")

    @field_validator("name")
    @classmethod
    def printable(cls, name: str) -> str:
        if any(ord(c) < 32 for c in name):
            raise ValueError("must not contain control characters")
        return name


class Request(BaseModel):
    entries: list[Any] = Field(min_length=1)


class Envelope(BaseModel):
    input: Request
