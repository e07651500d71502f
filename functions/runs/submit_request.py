"""Event of the submit function, as the batch's "Run job" state sends it."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EXECUTION_ARN_PATTERN = r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$"


class Item(BaseModel):
    """One entry of the batch, as the run's entries file holds it."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    name: str = Field(min_length=1, pattern=r"^[^\x00-\x1f]+$")  # a tab or line break would split its plan line
    entry: dict[str, Any]


class EntrySettings(BaseModel):
    """How the job runs each entry (the prepare function chose them: the stack's, or the request's)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    command: str = Field(min_length=1, max_length=4096, pattern=r"^[^\n\r\t]+$")
    timeout_seconds: int = Field(alias="timeoutSeconds", ge=0, le=7 * 86400)
    attempts: int = Field(ge=1, le=10)
    backoff_seconds: int = Field(alias="backoffSeconds", ge=0, le=3600)
    parallelism: int = Field(ge=1, le=1000)


class SubmitJobRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    task_token: str = Field(alias="taskToken", min_length=1, max_length=2048)
    execution_arn: str = Field(alias="executionArn", pattern=EXECUTION_ARN_PATTERN)
    run_id: str = Field(alias="runId", pattern=r"^[A-Za-z0-9_-]{1,80}$")
    items: list[Item] = Field(min_length=1)
    entry: EntrySettings

    @property
    def first(self) -> int:
        return self.items[0].index

    @property
    def last(self) -> int:
        return self.items[-1].index
