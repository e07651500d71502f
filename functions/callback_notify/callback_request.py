"""Event of the notify function: which task to complete and how."""

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field


class CallbackRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    task_token: str = Field(alias="taskToken", min_length=1, max_length=2048)
    status: Literal["SUCCEEDED", "FAILED"]
    output: Any = Field(default_factory=dict)
    error: str = Field(default="TaskFailed", min_length=1, max_length=256)
    cause: str = Field(default="", max_length=32768)


class BatchContainer(BaseModel):
    exit_code: int | None = Field(default=None, alias="exitCode")
    reason: str | None = None


class BatchJob(BaseModel):
    """The `detail` of a "Batch Job State Change" event: the job as DescribeJobs shows it."""

    job_id: str = Field(alias="jobId")
    job_name: str = Field(alias="jobName")
    status: str
    status_reason: str = Field(default="", alias="statusReason")
    parameters: dict[str, str] = Field(default_factory=dict)
    container: BatchContainer = Field(default_factory=BatchContainer)
    attempts: list[dict[str, Any]] = Field(default_factory=list)


class BatchJobStateChange(EventBridgeModel):
    detail: BatchJob
