"""The worker: claim jobs, keep their leases alive, run their handlers, stop gracefully."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Protocol

from loguru import logger
from sqlalchemy.engine import Engine

from agent.worker.queue import Claimed, JobQueue, worker_id
from agent.worker.webhooks import backoff

Handler = Callable[[Claimed], None]


class Busy(Exception):
    """The job cannot run now (its conversation is leased elsewhere); give it back untouched."""

    def __init__(self, message: str, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class WorkSource(Protocol):
    """Something that finds work to enqueue on each poll (e.g. the breaker closing)."""

    def poll(self, engine: Engine) -> None:
        """Enqueue whatever became due since the last poll."""
        ...


@dataclass
class Worker:
    """Runs `concurrency` loops that claim jobs of the handled kinds until told to stop."""

    engine: Engine
    handlers: Mapping[str, Handler]
    concurrency: int = 1
    lease_seconds: float = 30.0
    poll_seconds: float = 0.2
    backoff_base: float = 2.0
    sources: Sequence[WorkSource] = ()
    stopping: threading.Event = field(default_factory=threading.Event)
    owner: str = field(default_factory=worker_id)

    def run(self) -> None:
        """Work until `stopping` is set; each loop finishes (or releases) its current job."""
        loops = [
            threading.Thread(target=self._loop, args=(f"{self.owner}/{n}",), daemon=True)
            for n in range(self.concurrency)
        ]
        for loop in loops:
            loop.start()
        while not self.stopping.wait(max(self.poll_seconds, 1.0)):
            for source in self.sources:
                try:
                    source.poll(self.engine)
                except Exception as exc:
                    logger.warning("work source {} failed: {}", type(source).__name__, exc)
        for loop in loops:
            loop.join()

    def stop_on_signals(self) -> None:
        """SIGTERM and SIGINT ask for a graceful stop (main thread only)."""

        def stop(signum: int, _frame: FrameType | None) -> None:
            logger.info("signal {}: finishing current jobs, then stopping", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def _loop(self, owner: str) -> None:
        queue = JobQueue(self.engine, self.lease_seconds, owner)
        kinds = tuple(self.handlers)
        while not self.stopping.is_set():
            try:
                job = queue.claim(kinds)
            except Exception as exc:  # the database went away: wait and try again
                logger.warning("claiming a job failed: {}", exc)
                self.stopping.wait(self.poll_seconds * 5)
                continue
            if job is None:
                self.stopping.wait(self.poll_seconds)
                continue
            self.run_one(queue, job)

    def run_one(self, queue: JobQueue, job: Claimed) -> None:
        """Run one claimed job with a heartbeat; finish, retry with backoff, or release it."""
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(queue, job, done), daemon=True)
        beat.start()
        try:
            self.handlers[job.kind](job)
        except Busy as exc:
            queue.release(job, exc.delay)
            return
        except Exception as exc:
            delay = backoff(job.attempts, self.backoff_base)
            queue.retry(job, f"{type(exc).__name__}: {exc}", delay)
            logger.warning(
                "job {} ({}) failed, attempt {}: {}", job.id, job.kind, job.attempts, exc
            )
            return
        finally:
            done.set()
            beat.join()
        if not queue.finish(job.id):
            logger.warning("job {} lost its lease before it finished", job.id)

    def _heartbeat(self, queue: JobQueue, job: Claimed, done: threading.Event) -> None:
        while not done.wait(self.lease_seconds / 3):
            if not queue.heartbeat(job.id):
                logger.warning("job {}: lease lost", job.id)
                return
