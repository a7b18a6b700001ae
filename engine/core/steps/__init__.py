"""Step types: each one a `Step` subclass plugged in by its `type` name."""

from engine.core.steps.base import Step
from engine.core.steps.flow import (
    ActionStep,
    DecisionStep,
    EndStep,
    ParallelStep,
    SubflowStep,
    WaitStep,
)
from engine.core.steps.human import ApprovalStep, ReviewStep, TaskStep

STEP_TYPES: dict[str, type[Step]] = {
    cls.type: cls
    for cls in (
        TaskStep, ApprovalStep, ReviewStep, ParallelStep, DecisionStep,
        ActionStep, WaitStep, SubflowStep, EndStep,
    )
}  # fmt: skip

__all__ = ["STEP_TYPES", "Step"]
