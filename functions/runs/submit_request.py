"""Event of the submit function, as the batch's "Run job" state sends it."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EXECUTION_ARN_PATTERN = r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$"


class Item(BaseModel):
    """One entry of the batch, as the run's entries file holds it."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    name: str = Field(min_length=1)
    entry: dict[str, Any]


class SubmitJobRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    task_token: str = Field(alias="taskToken", min_length=1, max_length=2048)
    execution_arn: str = Field(alias="executionArn", pattern=EXECUTION_ARN_PATTERN)
    run_id: str = Field(alias="runId", pattern=r"^[A-Za-z0-9_-]{1,80}$")
    items: list[Item] = Field(min_length=1)
    sleep_seconds: int = Field(alias="sleepSeconds", default=0, ge=0, le=86400)

    @property
    def first(self) -> int:
        return self.items[0].index

    @property
    def last(self) -> int:
        return self.items[-1].index
