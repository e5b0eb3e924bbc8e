"""The client behaviours of test/support/behaviours.json, run against the Python client.

Run by test/clients/python/python-client.int.test.ts (part of ``npm test``), which starts the harness — the service's
real handler and the Identity Cloud simulator behind a proxy that counts and holds requests, with a
clock of its own — and gives its address in ``TVS_HARNESS_URL``. This client follows the harness's clock
with an offset of its own.
"""

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.request import Request, urlopen

import pytest
from botocore.credentials import Credentials

from tvs_client import TokenClient, TokenServiceError, fingerprint_of

HARNESS = os.environ.get("TVS_HARNESS_URL", "")
BEHAVIOURS = os.environ.get("TVS_BEHAVIOURS", "")
if not HARNESS or not BEHAVIOURS:
    raise RuntimeError("run these through test/clients/python/python-client.int.test.ts (npm test): it starts the harness")

with open(BEHAVIOURS, encoding="utf-8") as file:
    SCENARIOS = json.load(file)["scenarios"]

#: The longest a step that must not wait on the service may take before it counts as waiting, seconds.
STEP_TIMEOUT = 3.0


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = Request(f"{HARNESS}/_harness/{path}", data=data, method=method, headers={"content-type": "application/json"})
    with urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def poll(read, accept, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if accept(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


class Runner:
    """Runs one scenario's steps against one Python client."""

    def __init__(self, scope):
        self.scope = scope
        self.offset = 0.0
        self.saved = {}
        self.tokens = self.new_client()

    def follow(self, answer):
        self.offset = answer["now"] / 1000 - time.time()

    def new_client(self):
        return TokenClient(
            HARNESS,
            region="us-east-1",
            credentials=Credentials(os.environ["TVS_TEST_ACCESS_KEY_ID"], os.environ["TVS_TEST_SECRET_ACCESS_KEY"]),
            clock=lambda: time.time() + self.offset,
        )

    def get(self, step):
        """get_token in a thread, so a call that waits on a held request fails the step instead of hanging."""
        outcome = {}

        def call():
            try:
                outcome["token"] = self.tokens.get_token("behaviour-us", step.get("scope", self.scope), step.get("min_ttl"))
            except TokenServiceError as error:
                outcome["error"] = error

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(STEP_TIMEOUT)
        assert not worker.is_alive(), f"get_token did not end within {STEP_TIMEOUT} s"
        return outcome

    def matches(self, token, expectation):
        if not isinstance(expectation, str):
            return True
        kind, name = expectation.split(":")
        other = self.saved[name]
        same = token.access_token == other.access_token
        return same if kind == "same" else not same

    def run(self, step):
        action = step["do"]
        if action == "get":
            expectation = step.get("expect")
            if isinstance(expectation, dict):
                error = self.get(step).get("error")
                wanted = expectation["error"]
                assert error is not None, f"expected {wanted}, got a token"
                assert error.status == wanted["status"] and error.error == wanted["error"], str(error)
                assert error.code == wanted["code"], f"code {error.code}, expected {wanted['code']}"
                if wanted.get("retry_after"):
                    assert error.retry_after and error.retry_after > 0
                return
            with ThreadPoolExecutor(max_workers=step.get("concurrent", 1)) as pool:
                outcomes = list(pool.map(lambda _: self.get(step), range(step.get("concurrent", 1))))
            tokens = [outcome.get("token") for outcome in outcomes]
            assert all(tokens), [str(outcome.get("error")) for outcome in outcomes]
            for token in tokens:
                assert self.matches(token, expectation), expectation
                assert token.access_token == tokens[0].access_token
            if "as" in step:
                self.saved[step["as"]] = tokens[0]
        elif action == "eventually":
            for _ in range(50):
                token = self.get(step).get("token")
                if token is not None and self.matches(token, step["expect"]):
                    return
                time.sleep(0.1)
            raise AssertionError(f"no token {step['expect']} within 50 tries")
        elif action == "clock":
            token = self.saved[step["token"]]
            self.follow(control("POST", "clock", {"at": round((token.expires_at - step["before_expiry"]) * 1000)}))
        elif action == "upstream":
            control("POST", "upstream", {"down": step["down"]})
        elif action == "hold":
            control("POST", "hold", {"on": step["on"]})
        elif action == "requests":
            arrived = poll(lambda: control("GET", "requests")["arrived"], lambda n: n == step["count"])
            assert arrived == step["count"]
            time.sleep(0.2)  # nothing more arrives on its own shortly after
            assert control("GET", "requests")["arrived"] == step["count"]
        elif action == "settle":
            answered = poll(lambda: control("GET", "requests")["answered"], lambda n: n >= step["count"])
            assert answered >= step["count"]
            time.sleep(0.05)
        elif action == "new_client":
            self.tokens = self.new_client()
        elif action == "reject":
            token = self.saved.get(step["token"])
            assert self.tokens.reject(token.access_token if token else "not-a-token-this-client-handed-out") is step["expect"]
        elif action == "rejected":
            last = json.loads(control("GET", "requests")["bodies"][-1])
            assert last.get("reject") == fingerprint_of(self.saved[step["token"]].access_token)
        else:
            raise AssertionError(f"unknown step {action}")


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[scenario["name"] for scenario in SCENARIOS])
def test_behaviour(index):
    runner = Runner(f".:behaviour/py-{index}/**")
    runner.follow(control("POST", "reset"))
    try:
        for step in SCENARIOS[index]["steps"]:
            runner.run(step)
    finally:
        runner.tokens.clear()
