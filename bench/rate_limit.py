"""Rate-limit benchmark: a burst of conversations against a rate-limited fake API.

Run from the repository root:

    python -m bench.rate_limit [--conversations 200] [--threads 16] [--rps 10]

The fake Messages API enforces token buckets (--rps requests per second with a burst of
one second, and an input-token limit), answers after --latency seconds and reports
`anthropic-ratelimit-*` headers and `retry-after` on 429s. The same conversations (one
model call each) run twice, each against a fresh server, on --threads threads:

- sdk:  the bare SDK with its default retries (2), streaming, as an integration would;
- ours: AnthropicModel (our retry policy, a token bucket per model learned from the
        headers, one shared by all threads, acquired per HTTP attempt); nothing configured.

Prints failed conversations, the share of HTTP calls that were 429s, and the achieved
share of the request limit (answered calls per second over the limit), side by side.
Bounded: every call has a deadline; prints how long each run took.
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import anthropic

from agent.config import Settings
from agent.logs import configure_logging
from agent.model.anthropic import AnthropicModel
from agent.model.client import ChatMessage, ModelError, ModelRequest
from agent.testing.fake_server import FakeMessagesAPI, ServerRateLimit, text_reply

KEY = "sk-bench-not-a-real-key"
MODEL = "claude-sonnet-5-5"
SYSTEM = "You are a support agent for an online store. Be brief and accurate. " * 10


@dataclass
class Outcome:
    """One run's figures."""

    label: str
    failed: int
    calls: int
    rejected: int
    answered: int
    seconds: float
    rps: float

    @property
    def share_429(self) -> float:
        """429s as a fraction of all HTTP calls."""
        return self.rejected / self.calls if self.calls else 0.0

    @property
    def limit_share(self) -> float:
        """Answered calls per second as a fraction of the request limit."""
        return self.answered / self.seconds / self.rps if self.seconds else 0.0

    def line(self) -> str:
        """A printable summary."""
        return (
            f"{self.label:>4}: {self.failed} failed, {self.calls} HTTP calls, "
            f"{self.rejected} 429s ({self.share_429:.1%}), {self.answered} answered in "
            f"{self.seconds:.1f} s = {self.limit_share:.0%} of the {self.rps:g}/s limit"
        )


def server(rps: float, latency: float) -> FakeMessagesAPI:
    """A fresh fake API enforcing the limits, answering every request after `latency`."""
    limit = ServerRateLimit(requests_per_minute=rps * 60, input_tokens_per_minute=rps * 60 * 400)
    return FakeMessagesAPI(
        rate_limit=limit,
        responder=lambda _: text_reply("Your order shipped."),
        latency_seconds=latency,
    )


def question(n: int) -> str:
    """The customer's message in conversation n."""
    return f"Hello, this is customer {n}. Where is my order #W{1000000 + n}?"


def run_sdk(api: FakeMessagesAPI, conversations: int, threads: int) -> int:
    """Conversations through the bare SDK (default retries); returns how many failed."""
    client = anthropic.Anthropic(api_key=KEY, base_url=api.base_url, timeout=30.0)
    failed = 0
    lock = threading.Lock()

    def one(n: int) -> None:
        nonlocal failed
        messages = [{"role": "user", "content": question(n)}]
        try:
            with client.messages.stream(
                model=MODEL,
                max_tokens=100,
                system=SYSTEM,
                messages=messages,  # type: ignore[arg-type]
            ) as stream:
                stream.get_final_message()
        except anthropic.APIError:
            with lock:
                failed += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(conversations)))
    client.close()
    return failed


def run_ours(api: FakeMessagesAPI, conversations: int, threads: int) -> int:
    """Conversations through AnthropicModel; returns how many failed."""
    settings = Settings(base_url=api.base_url, cache=False, deadline=60.0)
    model = AnthropicModel(settings, api_key=KEY)
    failed = 0
    lock = threading.Lock()

    def one(n: int) -> None:
        nonlocal failed
        user = ChatMessage(role="user", content=[{"type": "text", "text": question(n)}])
        request = ModelRequest(model=MODEL, max_tokens=100, system=SYSTEM, messages=[user])
        try:
            model.respond(request)
        except ModelError:
            with lock:
                failed += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(conversations)))
    model.close()
    return failed


def measure(label: str, args: argparse.Namespace) -> Outcome:
    """Run one side against a fresh server and collect its figures."""
    runner = run_sdk if label == "sdk" else run_ours
    with server(args.rps, args.latency) as api:
        started = time.perf_counter()
        failed = runner(api, args.conversations, args.threads)
        seconds = time.perf_counter() - started
        answers = [r.answer for r in api.requests]
    outcome = Outcome(
        label=label,
        failed=failed,
        calls=len(answers),
        rejected=answers.count("rate limited"),
        answered=answers.count("stream"),
        seconds=seconds,
        rps=args.rps,
    )
    print(outcome.line(), flush=True)
    return outcome


def main(argv: list[str] | None = None) -> int:
    """Print both runs and the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rps", type=float, default=10.0, help="requests per second allowed")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    args = parser.parse_args(argv)
    configure_logging("ERROR")
    began = time.perf_counter()
    print(
        f"{args.conversations} conversations, {args.threads} threads, limit {args.rps:g} req/s "
        f"(burst 1 s), {args.latency:g} s latency",
        flush=True,
    )
    sdk = measure("sdk", args)
    ours = measure("ours", args)
    print(f"took {time.perf_counter() - began:.1f} s")
    print(
        f"RESULT ours_failed={ours.failed} ours_429_share={ours.share_429:.4f} "
        f"ours_limit_share={ours.limit_share:.3f} sdk_failed={sdk.failed} "
        f"sdk_429_share={sdk.share_429:.4f} sdk_limit_share={sdk.limit_share:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
