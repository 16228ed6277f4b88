"""Token-bucket rate limiting: shared per model, per HTTP attempt, learned from the API."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2

from agent.config import Settings
from agent.model.anthropic import AnthropicModel
from agent.model.client import ChatMessage, ModelRequest
from agent.model.ratelimit import RateLimiter, limiter_for
from agent.testing.fake_server import FakeMessagesAPI, ServerRateLimit, overloaded, text_reply

KEY = "sk-test-not-a-real-key"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(clock: FakeClock, **limits: Any) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **limits)


def request(text: str = "hello", model: str = "claude-test") -> ModelRequest:
    message = ChatMessage(role="user", content=[{"type": "text", "text": text}])
    return ModelRequest(model=model, max_tokens=50, system="Be brief.", messages=[message])


def model_for(server: FakeMessagesAPI, **settings: object) -> AnthropicModel:
    options: dict[str, object] = {"retry_base_delay": 0.001, "cache": False, **settings}
    return AnthropicModel(Settings(base_url=server.base_url, **options), api_key=KEY)


def test_a_bucket_lets_a_short_burst_out_then_paces_at_the_rate():
    clock = FakeClock()
    bucket = limiter(clock, requests_per_minute=600)  # 10/s, holds one second: 10

    waits = [bucket.acquire(1) for _ in range(12)]

    assert waits[:10] == [0.0] * 10  # never a whole minute's budget at once
    assert 0.09 < waits[10] <= 0.1 and 0.09 < waits[11] <= 0.1
    assert bucket.acquired == 12


def test_input_tokens_and_output_debt_hold_requests_back():
    clock = FakeClock()
    bucket = limiter(clock, input_tokens_per_minute=6000, output_tokens_per_minute=600)

    assert bucket.acquire(100) == 0.0  # the input bucket holds 100 tokens
    assert bucket.acquire(50) == 0.5  # 50 more tokens accrue in half a second
    bucket.pay_output(30)  # a reply used 30 output tokens: 10 more than the bucket held
    assert bucket.acquire(1) > 1.0  # waits until the output debt is repaid


def test_limits_and_remaining_budget_are_learned_from_headers():
    clock = FakeClock()
    bucket = limiter(clock)
    assert bucket.acquire(10_000) == 0.0  # nothing known yet: no waiting

    headers = httpx2.Headers(
        {
            "anthropic-ratelimit-requests-limit": "60",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-input-tokens-limit": "60000",
            "anthropic-ratelimit-input-tokens-remaining": "59000",
        }
    )
    bucket.learn(headers, 200)

    assert bucket.limits() == {"requests": 60.0, "input-tokens": 60000.0}
    assert bucket.acquire(10) == 1.0  # no request left: one accrues per second


def requests_left(limit: int, remaining: int) -> httpx2.Headers:
    return httpx2.Headers(
        {
            "anthropic-ratelimit-requests-limit": str(limit),
            "anthropic-ratelimit-requests-remaining": str(remaining),
        }
    )


def test_the_bucket_grows_to_the_burst_the_server_shows():
    clock = FakeClock()
    bucket = limiter(clock, requests_per_minute=60)  # one a second, a burst of one at first
    assert bucket.bursts() == {"requests": 1.0}
    assert bucket.acquire(1) == 0.0

    bucket.learn(requests_left(60, 29), 200)  # the server's bucket held 30 before this one

    assert bucket.bursts() == {"requests": 29.0}  # one request short of it: arrival slack
    assert [bucket.acquire(1) for _ in range(28)] == [0.0] * 28
    assert bucket.acquire(1) == 1.0  # then the rate: one a second
    bucket.learn(requests_left(60, 3), 200)  # a lower level never shrinks the bucket
    assert bucket.bursts() == {"requests": 29.0}


def test_the_bucket_never_holds_more_than_the_server_has_left():
    clock = FakeClock()
    bucket = limiter(clock, requests_per_minute=60)
    bucket.learn(requests_left(60, 59), 200)  # grows to 59, but someone else used 50 since:
    bucket.learn(requests_left(60, 9), 200)

    assert bucket.bursts() == {"requests": 59.0}
    assert [bucket.acquire(1) for _ in range(9)] == [0.0] * 9
    assert bucket.acquire(1) == 1.0


def test_a_429_halves_a_grown_bucket_for_good_and_spares_one_at_its_floor():
    clock = FakeClock()
    bucket = limiter(clock, requests_per_minute=60)
    bucket.learn(requests_left(60, 40), 200)
    assert bucket.bursts() == {"requests": 40.0}

    bucket.learn(requests_left(60, 0), 429)  # the server let out less than it showed
    assert bucket.bursts() == {"requests": 20.0}
    bucket.learn(requests_left(60, 59), 200)  # never grows past what a 429 cut it to
    assert bucket.bursts() == {"requests": 20.0}
    for _ in range(6):
        bucket.learn(requests_left(60, 0), 429)
    assert bucket.bursts() == {"requests": 1.0}  # a few 429s at most, then the floor

    fresh = limiter(clock, requests_per_minute=60)
    fresh.learn(requests_left(60, 0), 429)  # at its floor: it guessed nothing, still learns
    fresh.learn(requests_left(60, 30), 200)
    assert fresh.bursts() == {"requests": 30.0}


def test_retry_after_on_a_429_holds_every_caller():
    clock = FakeClock()
    bucket = limiter(clock)

    bucket.learn(httpx2.Headers({"retry-after": "2"}), 429)

    assert bucket.acquire(1) == 2.0
    bucket.learn(httpx2.Headers({"retry-after-ms": "250"}), 429)
    assert bucket.acquire(1) == 0.25


def test_retry_after_holds_callers_no_longer_than_the_cap():
    clock = FakeClock()
    bucket = RateLimiter(clock=clock, sleep=clock.sleep, retry_after_cap=0.5)

    bucket.learn(httpx2.Headers({"retry-after": "15"}), 429)

    assert bucket.acquire(1) == 0.5  # as the retry policy caps it, not the 15 s asked for


def test_limiter_is_shared_per_model_across_threads():
    seen: list[RateLimiter] = []

    def grab() -> None:
        seen.append(limiter_for("claude-shared", requests_per_minute=60))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(x) for x in seen}) == 1
    assert limiter_for("claude-other") is not seen[0]


def test_every_http_attempt_takes_from_the_bucket_retries_included(fake_api: FakeMessagesAPI):
    fake_api.add(text_reply("third time", faults=[overloaded(1), overloaded(1)]))
    model = model_for(fake_api, requests_per_minute=60_000)

    response = model.respond(request())

    assert response.retries == 2
    assert model.limiter("claude-test").acquired == 3


def test_limits_learned_from_the_fake_server_avoid_429s():
    server_limit = ServerRateLimit(requests_per_minute=240)  # 4/s, a burst of 4
    with FakeMessagesAPI(rate_limit=server_limit, responder=lambda _: text_reply("ok")) as api:
        model = model_for(api)  # no limits configured: all learned from headers
        for i in range(10):
            model.respond(request(f"message {i}"))
        answers = [r.answer for r in api.requests]

    assert answers.count("stream") == 10
    assert answers.count("rate limited") == 0
    assert model.limiter("claude-test").limits()["requests"] == 240.0


def test_a_burst_the_server_allows_is_used_without_429s():
    server_limit = ServerRateLimit(requests_per_minute=1200, burst_seconds=3)  # 20/s, 60 at once
    with FakeMessagesAPI(rate_limit=server_limit, responder=lambda _: text_reply("ok")) as api:
        model = model_for(api)  # no limits configured: all learned from headers

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: model.respond(request(f"message {i}")), range(90)))
        answers = [r.answer for r in api.requests]

    assert answers.count("stream") == 90
    assert answers.count("rate limited") == 0
    assert model.limiter("claude-test").bursts()["requests"] > 20  # more than a second's worth


def test_the_fake_server_enforces_its_bucket_with_headers():
    server_limit = ServerRateLimit(requests_per_minute=60, burst_seconds=2)  # a burst of 2
    with FakeMessagesAPI(rate_limit=server_limit, responder=lambda _: text_reply("ok")) as api:
        client = httpx2.Client(base_url=api.base_url)
        body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
        answers = [client.post("/v1/messages", json=body) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["anthropic-ratelimit-requests-limit"] == "60"
    assert answers[1].headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert float(answers[2].headers["retry-after-ms"]) > 0
    assert answers[2].json()["error"]["type"] == "rate_limit_error"
