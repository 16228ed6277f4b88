"""Prompt-caching benchmark: retail conversations with caching on and off.

Run from the repository root:

    python -m bench.caching [--conversations 20] [--model claude-sonnet-5-5]

Each conversation has three customer turns (an email, an order id, a thank-you) on the
retail domain, answered by the fake Messages API's deterministic behaviour with its
prompt-cache emulation on (as `support-agent fake-api` runs it). The same conversations
run with caching on (breakpoints on tools, system and the newest message) and off.
Prints tokens by kind, input dollars by the price table, and the share of input tokens
read from the cache. Target: input cost with caching <= 35% of without.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agent.config import Settings
from agent.domain import load_domain
from agent.logs import configure_logging
from agent.model.anthropic import AnthropicModel
from agent.model.client import Usage
from agent.model.usage import PRICES_AS_OF, input_cost
from agent.runtime import build_agent
from agent.store.engine import make_engine
from agent.store.tables import Event
from agent.testing.fake_responder import respond
from agent.testing.fake_server import FakeMessagesAPI
from agent.testing.prompt_cache import PromptCache

KEY = "sk-bench-not-a-real-key"


@dataclass
class Totals:
    """Usage and input dollars of one run."""

    usage: Usage
    dollars: Decimal
    calls: int

    @property
    def input_tokens(self) -> int:
        """Every input token: fresh, written to and read from the cache."""
        u = self.usage
        return u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens

    def line(self, label: str) -> str:
        """A printable summary."""
        u = self.usage
        return (
            f"{label:>11}: {self.calls} calls, input {u.input_tokens} fresh + "
            f"{u.cache_creation_input_tokens} cache write + {u.cache_read_input_tokens} cache "
            f"read, output {u.output_tokens}; input ${self.dollars:.4f}"
        )


def customers(engine: Engine, count: int) -> list[tuple[str, str]]:
    """(email, order id) of the first `count` demo customers with an order."""
    from tools.retail.tables import RetailOrder as Order
    from tools.retail.tables import RetailUser as User

    with Session(engine) as session:
        pairs = []
        for user in session.exec(select(User)).all():
            order = session.exec(select(Order).where(Order.user_id == user.user_id)).first()
            if order is not None:
                pairs.append((user.email, order.order_id))
            if len(pairs) == count:
                return pairs
    return pairs


def run(cache: bool, conversations: int, model_id: str, tmp: Path) -> Totals:
    """All conversations with caching on or off, against one fake server; their totals."""
    domain = load_domain("tools.retail:DOMAIN")
    engine = make_engine(f"sqlite:///{tmp / f'cache-{cache}.db'}")
    with Session(engine) as session, session.begin():
        domain.seed_demo(session, 0)
    settings = Settings(model=model_id, cache=cache, max_retries=2)
    with FakeMessagesAPI(prompt_cache=PromptCache(), responder=respond) as api:
        settings = settings.model_copy(update={"base_url": api.base_url})
        model = AnthropicModel(settings, api_key=KEY)
        agent = build_agent(domain, settings, engine, model)
        for n, (email, order) in enumerate(customers(engine, conversations)):
            cid = f"bench-{n}"
            for text in (f"Hi, my email is {email}", f"Where is order {order}?", "Thanks!"):
                agent.run(cid, text)
        model.close()
    total, dollars, calls = Usage(), Decimal(0), 0
    with Session(engine) as session:
        for payload in session.exec(select(Event.payload).where(Event.type == "model_response")):
            usage = Usage.model_validate(payload["usage"])
            total = total + usage
            dollars += input_cost(model_id, usage) or Decimal(0)
            calls += 1
    engine.dispose()
    return Totals(total, dollars, calls)


def main(argv: list[str] | None = None) -> int:
    """Print both runs and the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--model", default="claude-sonnet-5-5", help="model id for prices")
    args = parser.parse_args(argv)
    configure_logging("ERROR")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-caching-") as tmp:
        off = run(False, args.conversations, args.model, Path(tmp))
        on = run(True, args.conversations, args.model, Path(tmp))
    print(
        f"{args.conversations} retail conversations x 3 turns, {args.model}, "
        f"prices of {PRICES_AS_OF}"
    )
    print(off.line("caching off"))
    print(on.line("caching on"))
    ratio = on.dollars / off.dollars if off.dollars else Decimal(0)
    read_share = on.usage.cache_read_input_tokens / on.input_tokens if on.input_tokens else 0.0
    print(f"input cost with caching = {ratio:.1%} of without (target <= 35%)")
    print(f"took {time.perf_counter() - began:.1f} s")
    print(f"RESULT cost_ratio={ratio:.3f} cache_read_share={read_share:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
