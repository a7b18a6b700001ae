"""Errors of the forms package. Problems with documents use the core's `Problem`."""

from engine.core.errors import DefinitionError, FlowdeskError, Problem

__all__ = ["DefinitionError", "FlowdeskError", "Problem"]
