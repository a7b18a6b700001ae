"""The integration suite's fixtures live in `tests.infrastructure` (the web tests share them)."""

from tests.infrastructure import INCIDENT, MAJOR, PACK, PEOPLE, Clock

__all__ = ["INCIDENT", "MAJOR", "PACK", "PEOPLE", "Clock"]
