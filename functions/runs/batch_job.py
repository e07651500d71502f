"""The "Batch Job State Change" event: the job as DescribeJobs shows it."""

from typing import Any

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, Field


class BatchContainer(BaseModel):
    exit_code: int | None = Field(default=None, alias="exitCode")
    reason: str | None = None


class BatchJob(BaseModel):
    job_id: str = Field(alias="jobId")
    job_name: str = Field(alias="jobName")
    status: str
    status_reason: str = Field(default="", alias="statusReason")
    parameters: dict[str, str] = Field(default_factory=dict)
    container: BatchContainer = Field(default_factory=BatchContainer)
    attempts: list[dict[str, Any]] = Field(default_factory=list)


class BatchJobStateChange(EventBridgeModel):
    detail: BatchJob
