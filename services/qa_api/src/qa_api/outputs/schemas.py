"""Outputs (runs) as the v2 API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from qa_api.models import OutputStatus
from qa_api.outputs.repository import OutputRow


class TestInputPublic(BaseModel):
    database: str = Field(examples=["/mnt/datasets/images"])
    path: str = Field(examples=["night/A.jpg"])
    metadata: dict[str, Any]


class OutputPublic(BaseModel):
    id: int
    batch_id: int
    status: OutputStatus
    test_input: TestInputPublic
    platform: str = Field(examples=["linux"])
    configurations: list[Any] = Field(examples=[["base", {"threshold": 0.5}]])
    extra_parameters: dict[str, Any] = Field(examples=[{"iterations": 3}])
    metrics: dict[str, Any] = Field(examples=[{"psnr": 41.2, "is_failed": False}])
    params: dict[str, Any]
    data: dict[str, Any]
    output_type: str | None
    output_dir: str | None = Field(examples=["/mnt/qa/group/repo/99/fcebb1272352a1/output/linux/a"])
    storage_size: int | None = Field(description="Bytes the run's files take, as the CLI measured.")
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, out: OutputRow) -> OutputPublic:
        return cls(
            id=out.id,
            batch_id=out.batch_id,
            status=OutputStatus(out.status),
            test_input=TestInputPublic(
                database=out.test_input_database,
                path=out.test_input_path,
                metadata=out.test_input_metadata,
            ),
            platform=out.platform,
            configurations=out.configurations,
            extra_parameters=out.extra_parameters,
            metrics=out.metrics,
            params=out.params,
            data=out.data,
            output_type=out.output_type,
            output_dir=out.output_dir,
            storage_size=out.storage_size,
            created_at=out.created_at,
            updated_at=out.updated_at,
        )
