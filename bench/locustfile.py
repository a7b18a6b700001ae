"""Locust: requesters and agents using Flowdesk at a stated rate (issue 19, load).

    locust -f bench/locustfile.py --headless -u 40 -r 40 -t 60s --host http://127.0.0.1:5000

The mix, per public report submitted:
- a requester opens the public `it-incident` form and submits it (`submit`), then reads
  the tracking page the answer leads to (`track`);
- an agent reads their inbox (`inbox`); every other time, opens the first task in it and
  resolves it (`task`, `complete`).

Rate (an open loop as far as Locust allows): `FLOWDESK_LOAD_RATE` reports a second in
all (default 10); agents read their inboxes at the same rate in all. Each user keeps a
schedule of its own (one start every users / rate seconds, from a random offset)
and does not slow down when answers do; a start it makes late is recorded as a
`schedule` entry of type `LAG` (its delay in ms): if its p95 grows, add users (-u).
Locust's own times run from sending a request, so read them with the LAG beside them.

Users: `FLOWDESK_LOAD_AGENTS` (default 4) of the -u users are agents, the rest
requesters; -u must exceed it. Agent i signs in as `loadagent<i>` (1-based) with
`FLOWDESK_LOAD_PASSWORD`: `python bench/load.py` creates them (`prepare_agents`), in the
group the pack's hardware incidents go to (`desktop-support`).

Each requester comes from an address of its own (X-Forwarded-For): start the server
with `FLOWDESK_TRUSTED_PROXIES=1`, as behind a proxy, and the default rate limits
(20 reports a minute per address) stay on and are not reached.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import time
from typing import Any

from locust import HttpUser, events, task

FORM = "/new/it-incident"
REPORT = {
    "name": "Ada Lovelace", "email": "ada@example.org", "description": "It blinks red.",
    "category": "hardware", "impact": "medium", "urgency": "high",
}  # fmt: skip
RESOLUTION = {"resolution": "Replaced the toner.", "cause": "hardware-fault"}
#: The agents `bench/load.py` creates (it keeps a copy of these three: keep them alike).
AGENT = "loadagent{}"
AGENT_GROUP = "desktop-support"
DEFAULT_PASSWORD = "load-test-password"
HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')
#: A start later than this behind its schedule is recorded (as `LAG`, `schedule`).
LAG_REPORTED_S = 0.01
TASK_LINK = re.compile(r'href="/tasks/(\d+)"')


def rate() -> float:
    return float(os.environ.get("FLOWDESK_LOAD_RATE", "10"))


def agent_count() -> int:
    return int(os.environ.get("FLOWDESK_LOAD_AGENTS", "4"))


def password() -> str:
    return os.environ.get("FLOWDESK_LOAD_PASSWORD", DEFAULT_PASSWORD)


_addresses = itertools.count(1)
_agents = itertools.count(1)


class Paced(HttpUser):
    """A user that starts its task on a fixed schedule of its own, late or not."""

    abstract = True
    #: Which share of the users this class has, and so the seconds between two starts.
    users: int = 1

    def on_start(self) -> None:
        self.interval = self.users / rate()
        # Users started together would move in step: each begins at a random moment.
        self.next_start = time.monotonic() + random.uniform(0, self.interval)
        time.sleep(max(0.0, self.next_start - time.monotonic()))  # cooperative under Locust

    def wait_time(self) -> float:
        self.next_start += self.interval
        lag = time.monotonic() - self.next_start
        if lag > LAG_REPORTED_S:  # this start comes late: the user was still busy
            events.request.fire(  # type: ignore[no-untyped-call]
                request_type="LAG", name="schedule", response_time=1000 * lag,
                response_length=0, exception=None, context={},
            )  # fmt: skip
        return max(0.0, -lag)


class Requester(Paced):
    """Someone without an account: reports an incident and follows it."""

    weight = 1

    def on_start(self) -> None:
        runner = self.environment.runner
        total = runner.target_user_count if runner is not None else 1
        type(self).users = max(1, (total or 1) - agent_count())
        super().on_start()

    @task
    def report_and_follow(self) -> None:
        number = next(_addresses)
        headers = {"X-Forwarded-For": f"10.{number >> 16 & 255}.{number >> 8 & 255}."
                                      f"{number & 255}"}  # fmt: skip
        self.client.cookies.clear()  # each report is a new requester
        page = self.client.get(FORM, headers=headers, name="form")
        fields = {**dict(HIDDEN.findall(page.text)), **REPORT,
                  "summary": f"Printer {number} on floor 3 is jammed"}  # fmt: skip
        with self.client.post(FORM, data=fields, headers=headers, name="submit",
                              allow_redirects=False, catch_response=True) as answer:  # fmt: skip
            if answer.status_code != 303:
                answer.failure(f"status {answer.status_code}")
                return
            answer.success()
            tracking = answer.headers["Location"]
        self.client.get(tracking, headers=headers, name="track")


class Agent(Paced):
    """A member of the service desk: reads their inbox, resolves a task now and then."""

    fixed_count = 4  # replaced by FLOWDESK_LOAD_AGENTS when the file is loaded

    def on_start(self) -> None:
        type(self).users = agent_count()
        super().on_start()
        number = next(_agents)
        self.username = AGENT.format(number)
        self.address = f"10.255.{number >> 8 & 255}.{number & 255}"
        self.turn = 0
        # An agent's every request from its own address: a session is bound to the
        # address it began from.
        self.client.headers["X-Forwarded-For"] = self.address
        page = self.client.get("/sign-in", name="sign-in page")
        fields = dict(HIDDEN.findall(page.text))
        fields.update(username=self.username, password=password())
        self.client.post("/sign-in", data=fields, name="sign-in")

    @task
    def work(self) -> None:
        inbox = self.client.get("/inbox", name="inbox")
        self.turn += 1
        found = TASK_LINK.findall(inbox.text)
        if self.turn % 2 == 0 and found:
            self.complete(int(found[0]))

    def complete(self, task_id: int) -> None:
        page = self.client.get(f"/tasks/{task_id}", name="task")
        form = page.text.split(f'action="/tasks/{task_id}/complete"', 1)
        if len(form) < 2:
            return  # completed or taken by someone else meanwhile
        fields: dict[str, Any] = dict(HIDDEN.findall(form[1])[:2])  # csrf_token, submission
        fields.update({f"t{task_id}.{k}": v for k, v in RESOLUTION.items()})
        fields["outcome"] = "resolved"
        with self.client.post(f"/tasks/{task_id}/complete", data=fields, name="complete",
                              allow_redirects=False, catch_response=True) as answer:  # fmt: skip
            # 409: another agent's completion came first, which people do too.
            if answer.status_code in (303, 409):
                answer.success()
            else:
                answer.failure(f"status {answer.status_code}")


Agent.fixed_count = agent_count()
