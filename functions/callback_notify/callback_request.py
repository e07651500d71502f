"""Event of the notify function: which task to complete and how."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class CallbackRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    task_token: str = Field(alias="taskToken", min_length=1, max_length=2048)
    status: Literal["SUCCEEDED", "FAILED"]
    output: Any = Field(default_factory=dict)
    error: str = Field(default="TaskFailed", min_length=1, max_length=256)
    cause: str = Field(default="", max_length=32768)
