"""What a long-running process (a web process, a worker) holds from its start, kept out of
the garbage collector's sight once it is started.

Such a process holds hundreds of thousands of objects made at start (modules, SQLAlchemy's
mappings, templates) that live as long as it does. Each full pass of the collector walked
them all: 70 to 110 ms in a web process, during which the request (or job) it fell in
waited. Frozen (`gc.freeze`), only what requests and jobs make is walked.
"""

from __future__ import annotations

import gc


def freeze_heap() -> None:
    """Collect the garbage of the start, then freeze what is left out of later passes."""
    gc.collect()
    gc.freeze()
