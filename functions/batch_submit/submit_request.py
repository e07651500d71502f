"""Event of the submit function, as the child state machine's "Run job with callback" state sends it."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EXECUTION_ARN_PATTERN = r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$"


class AuditKey(BaseModel):
    """Where the parent records this entry in the audit table; null when the child runs alone."""

    model_config = ConfigDict(populate_by_name=True)

    run_id: str = Field(alias="runId", min_length=1, max_length=80)
    entry_index: int = Field(alias="entryIndex", ge=0)


class SubmitJobRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    task_token: str = Field(alias="taskToken", min_length=1, max_length=2048)
    execution_arn: str = Field(alias="executionArn", pattern=EXECUTION_ARN_PATTERN)
    entry: dict[str, Any]
    sleep_seconds: int = Field(alias="sleepSeconds", default=0, ge=0, le=86400)
    audit: AuditKey | None = None

    @property
    def execution_name(self) -> str:
        return self.execution_arn.rsplit(":", 1)[1]
