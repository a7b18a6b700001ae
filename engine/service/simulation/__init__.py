"""Simulating a workflow before it is published: a stateless replay on the real runtime.

The designer's simulation panel and `flowdesk play` share this core. A replay starts
an instance in memory and applies actions one by one - complete a task, move the clock,
fire the next timer - with `engine.core.runtime`, the runtime published workflows run
on: there is no second interpreter. The page keeps the list of actions; stepping on is
adding one, going back is dropping the last, so nothing is kept between calls.

Nothing is written. Who a task would go to is read from the directory, in a reading
session, and said in words ("round robin in service-desk: next would be ann"); a pick
is worked out as the service makes it, but no group's turn moves. Data is checked as
the service checks it (`engine.service.submissions`), so the simulation refuses what
a real submission would.

`words` says things (sample data, the timeline), `people` says who a task goes to,
`replay` runs one instance, `service` reads a request and answers it; each imports
only those before it.
"""

from __future__ import annotations

from engine.service.simulation.people import MADE_UP_REQUESTER, People, Picked
from engine.service.simulation.replay import Limits, Refused, Replay, carry_out
from engine.service.simulation.service import Simulations, simulate
from engine.service.simulation.words import describe_event, sample_data

__all__ = [
    "MADE_UP_REQUESTER",
    "Limits",
    "People",
    "Picked",
    "Refused",
    "Replay",
    "Simulations",
    "carry_out",
    "describe_event",
    "sample_data",
    "simulate",
]
