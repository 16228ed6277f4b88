"""`support-agent triage`: a three-line gist for every new ticket, realtime or as a batch."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from agent.cli.common import DbOption, fail, settings_for
from agent.model.usage import total_tokens
from agent.store.engine import make_engine, redacted_url
from tools.tickets.batch import Backoff, BatchTriage
from tools.tickets.claims import candidates, new_owner, reopen_failed
from tools.tickets.connection import NoRoute, make_limiter, open_route
from tools.tickets.progress import BarReporter, LogReporter, Reporter, Tally, is_terminal
from tools.tickets.realtime import RealtimeTriage


def _split_ids(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def triage(
    new: Annotated[bool, typer.Option("--new", help="New tickets (the default).")] = False,
    all_: Annotated[bool, typer.Option("--all", help="New tickets and failed ones again.")] = False,
    ids: Annotated[
        list[str] | None, typer.Option("--ids", help="These tickets (comma-separated or repeated).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Requests in flight.")] = 4,
    batch: Annotated[
        bool, typer.Option("--batch", help="Message Batches API: half price.")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Use a fake API started in this process.")
    ] = False,
    model: Annotated[str | None, typer.Option(help="Gist model (else gist_model).")] = None,
    poll: Annotated[float, typer.Option(min=0.01, help="First batch poll interval (s).")] = 2.0,
    db: DbOption = None,
) -> None:
    """Gist tickets: exactly three lines, category, urgency, next step (resumable)."""
    if sum((new, all_, ids is not None)) > 1:
        fail("choose one of --new, --all and --ids")
    settings = settings_for(db)
    gist_model = model or settings.gist_model
    engine = make_engine(settings.db_url)
    wanted = _split_ids(ids)
    reopened = reopen_failed(engine, wanted) if all_ or wanted else 0
    todo = candidates(engine, wanted)
    console = Console(highlight=False, markup=False, soft_wrap=True)
    tally = Tally(total=len(todo))
    owner = new_owner()
    try:
        with open_route(settings, offline=offline) as route:
            console.print(route.description)
            console.print(
                f"{len(todo)} ticket(s) to triage with {gist_model} "
                f"({'batch, half price' if batch else f'realtime, {concurrency} at a time'}) "
                f"in {redacted_url(str(engine.url))}"
                + (f"; {reopened} failed ticket(s) reopened" if reopened else "")
            )
            bar = BarReporter(tally, Console()) if is_terminal() else None
            reporter: Reporter = bar or LogReporter(tally, console)
            if bar is not None:
                bar.__enter__()
            try:
                if batch:
                    BatchTriage(
                        engine,
                        route.client,
                        gist_model,
                        owner,
                        reporter,
                        backoff=Backoff(first=poll),
                    ).run(wanted)
                else:
                    limiter = make_limiter(settings)
                    RealtimeTriage(
                        engine, route.client, limiter, gist_model, owner, reporter, concurrency
                    ).run(todo)
            finally:
                if bar is not None:
                    bar.__exit__(None, None, None)
    except NoRoute as exc:
        fail(str(exc))
    usage = tally.usage
    console.print(
        f"triaged {tally.triaged}, failed {tally.failed}, left for the next run {tally.retry}; "
        f"tokens {usage.input_tokens} input, {usage.output_tokens} output, "
        f"{usage.cache_read_input_tokens} cache read, {usage.cache_creation_input_tokens} cache "
        f"write ({total_tokens(usage)} in all); ${tally.dollars:.6f}"
        + (" at the batch price" if batch else "")
    )
    if tally.failed:
        raise typer.Exit(1)
