"""Load: the HTTP service under uvicorn + 3 workers on PostgreSQL, 200 conversations, 32 clients.

Run from the repository root (PostgreSQL URL from --db or $SUPPORT_AGENT_TEST_PG_URL):

    python -m bench.service_load [--conversations 200] [--clients 32] [--workers 3]

A fresh schema holds one order per conversation. The fake model answers from the request
after 50 ms. Each client conversation asks for a refund and says yes; every third refund
is over $500 and waits for a team lead, whom an approver thread plays through the API
while the load runs; workers resume those. Latency is a message's round trip minus the
model's time in it (50 ms per call, calls counted from the run's usage). The run is
bounded by --deadline and stops by itself. Last line:

    RESULT p50_ms=… p99_ms=… throughput=… errors=… duplicates=… lost_approvals=…
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx
from sqlmodel import Session, select

from agent.gate.approvals import ApprovalRow
from agent.service import runtime as _tables  # noqa: F401 - every service and worker table
from agent.service.users import add_user
from agent.store.engine import make_engine
from agent.store.tables import Conversation, Execution
from agent.testing.pg import fresh_schema
from tests.service.shop import ShopOrder

MODEL_SECONDS = 0.05
TOKENS_PER_CALL = 10  # ShopModel's input tokens per call: usage tells how many calls a run made


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", default=os.environ.get("SUPPORT_AGENT_TEST_PG_URL"))
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds, then stop")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def serve(url: str, port: int) -> None:
    """The service process: uvicorn on 127.0.0.1 with the shop domain and the 50 ms model."""
    import uvicorn

    from agent.config import Settings
    from agent.service.app import create_app
    from agent.service.runtime import ServiceContext, service_agent
    from tests.service.shop import DOMAIN, ShopModel

    engine = make_engine(url)
    ctx = ServiceContext(
        engine, lambda: service_agent(DOMAIN, Settings(), engine, ShopModel(MODEL_SECONDS))
    )
    uvicorn.run(create_app(ctx), host="127.0.0.1", port=port, log_level="warning")


@dataclass
class Tally:
    """What the clients saw."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # conversations waiting for approval
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, what: str) -> None:
        """Count one error."""
        with self.lock:
            self.errors.append(what)


def message(http: httpx.Client, cid: str, said: str, tally: Tally) -> dict[str, object]:
    """Send one customer message; record its latency minus the model's time."""
    started = time.perf_counter()
    response = http.post(f"/v1/conversations/{cid}/messages", json={"text": said})
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        tally.error(f"{cid}: HTTP {response.status_code} {response.text[:200]}")
        return {}
    run: dict[str, object] = response.json()
    usage = run.get("usage")
    calls = int(usage.get("input_tokens", 0)) // TOKENS_PER_CALL if isinstance(usage, dict) else 0
    with tally.lock:
        tally.latencies_ms.append((elapsed - calls * MODEL_SECONDS) * 1000)
    return run


def customer(base: str, token: str, numbers: list[int], tally: Tally, stop: float) -> None:
    """One client: for each conversation, ask for a refund, then say yes."""
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as http:
        for n in numbers:
            if time.monotonic() > stop:
                tally.error(f"conversation {n} not started before the deadline")
                continue
            made = http.post("/v1/conversations", json={"customer_id": f"cus_{n}"})
            if made.status_code != 201:
                tally.error(f"create {n}: HTTP {made.status_code}")
                continue
            cid = made.json()["id"]
            amount = 600 if n % 3 == 0 else 40
            first = message(http, cid, f"refund ${amount} on order #{10_000 + n}", tally)
            if first.get("reason") != "confirmation":
                tally.error(f"{cid}: expected a confirmation, got {first}")
                continue
            second = message(http, cid, "yes", tally)
            expected = ("paused", "approval") if amount > 500 else ("done", "")
            if (second.get("status"), second.get("reason")) != expected:
                tally.error(f"{cid}: expected {expected}, got {second}")
            elif amount > 500:
                with tally.lock:
                    tally.waiting.append(cid)


def approver(base: str, token: str, done: threading.Event, tally: Tally, stop: float) -> int:
    """The team lead: approve whatever is pending, through the API, while the load runs."""
    approved = 0
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as http:
        while time.monotonic() < stop:
            pending = http.get("/v1/approvals", params={"status": "pending"})
            if pending.status_code != 200:
                tally.error(f"list approvals: HTTP {pending.status_code}")
                break
            for request in pending.json():
                rid = request["request_id"]
                ok = http.post(f"/v1/approvals/{rid}/approve", json={"reason": "load test"})
                if ok.status_code == 200:
                    approved += 1
                else:
                    tally.error(f"approve {rid}: HTTP {ok.status_code}")
            if done.is_set() and not pending.json():
                break
            time.sleep(0.1)
    return approved


def wait_until_done(url: str, waiting: list[str], stop: float) -> None:
    """Until every approved conversation was resumed by a worker (or the deadline)."""
    engine = make_engine(url)
    while time.monotonic() < stop:
        with Session(engine) as session:
            statuses = [session.get(Conversation, cid) for cid in waiting]
        if all(c is not None and c.status == "done" for c in statuses):
            break
        time.sleep(0.2)
    engine.dispose()


def audit(url: str, total: int) -> tuple[int, int, int]:
    """(duplicates, lost approvals, refunds missing) from the store itself."""
    engine = make_engine(url)
    with Session(engine) as session:
        orders = session.exec(select(ShopOrder)).all()
        executions = session.exec(select(Execution)).all()
        approvals = session.exec(select(ApprovalRow)).all()
        done = {c.id for c in session.exec(select(Conversation)).all() if c.status == "done"}
    engine.dispose()
    duplicates = sum(max(0, o.refunds - 1) for o in orders)
    per_conversation: dict[str, int] = {}
    for execution in executions:
        per_conversation[execution.conversation_id] = (
            per_conversation.get(execution.conversation_id, 0) + 1
        )
    duplicates += sum(n - 1 for n in per_conversation.values() if n > 1)
    lost = sum(
        1
        for a in approvals
        if a.status != "approved"
        or a.conversation_id not in per_conversation
        or a.conversation_id not in done
    )
    lost += max(0, len(range(0, total, 3)) - len(approvals))  # asked for but never queued
    missing = sum(1 for o in orders if o.refunds == 0)
    return duplicates, lost, missing


def run(args: argparse.Namespace, url: str) -> int:
    """Set up, load, audit; print the figures and the RESULT line."""
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        for n in range(args.conversations):
            session.add(ShopOrder(order_id=f"#{10_000 + n}", customer_id=f"cus_{n}", total=900.0))
    app_token = add_user(engine, "helpdesk", "app", [])
    lead_token = add_user(engine, "lee", "supervisor", ["team-lead"])
    engine.dispose()
    here = os.getcwd()
    env = {**os.environ, "PYTHONPATH": here}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.service_load",
            "--serve",
            "--db",
            url,
            "--port",
            str(args.port),
        ],
        env=env,
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.worker.procs", url, "--delay", str(MODEL_SECONDS)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(args.workers)
    ]
    base = f"http://127.0.0.1:{args.port}"
    stop = time.monotonic() + args.deadline
    try:
        while time.monotonic() < stop:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        tally = Tally()
        shares = [list(range(args.conversations))[i :: args.clients] for i in range(args.clients)]
        clients_done = threading.Event()
        approved: list[int] = []
        lead = threading.Thread(
            target=lambda: approved.append(approver(base, lead_token, clients_done, tally, stop))
        )
        started = time.perf_counter()
        lead.start()
        clients = [
            threading.Thread(target=customer, args=(base, app_token, share, tally, stop))
            for share in shares
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        clients_done.set()
        lead.join()
        wait_until_done(url, tally.waiting, stop)
        elapsed = time.perf_counter() - started
    finally:
        for proc in [server, *workers]:
            proc.terminate()
        for proc in [server, *workers]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    duplicates, lost, missing = audit(url, args.conversations)
    latencies = sorted(tally.latencies_ms)
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = (
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if latencies
        else float("nan")
    )
    errors = len(tally.errors) + missing
    for problem in tally.errors[:10]:
        print(f"error: {problem}", file=sys.stderr)
    print(
        f"conversations={args.conversations} clients={args.clients} workers={args.workers} "
        f"messages={len(latencies)} approved={sum(approved)} seconds={elapsed:.1f} "
        f"messages_per_s={len(latencies) / elapsed:.1f} refunds_missing={missing}"
    )
    print(
        f"RESULT p50_ms={p50:.1f} p99_ms={p99:.1f} "
        f"throughput={args.conversations / elapsed:.2f} errors={errors} "
        f"duplicates={duplicates} lost_approvals={lost}"
    )
    return 0 if errors == duplicates == lost == 0 else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse(argv)
    if not args.db:
        print("a PostgreSQL URL is needed: --db or $SUPPORT_AGENT_TEST_PG_URL", file=sys.stderr)
        return 2
    if args.serve:
        serve(args.db, args.port)
        return 0
    with fresh_schema(args.db) as url:
        return run(args, url)


if __name__ == "__main__":
    sys.exit(main())
