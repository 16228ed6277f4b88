"""Progress: a bar on a terminal, plain lines otherwise; untrusted text never becomes markup."""

from __future__ import annotations

import io
from decimal import Decimal

from rich.console import Console

from agent.model.client import Usage
from tools.tickets.progress import BarReporter, LogReporter, Tally

USAGE = Usage(input_tokens=100, output_tokens=20, cache_read_input_tokens=1000)


def test_the_bar_counts_tokens_and_dollars_and_escapes_failure_reasons():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160, color_system=None)
    tally = Tally(total=2)
    with BarReporter(tally, console) as bar:
        bar.ticket("T-1", "triaged", "(return, normal)", USAGE, Decimal("0.001"))
        bar.ticket("T-2", "failed", "[bold]not markup[/bold]", USAGE, Decimal("0.002"))
        bar.note("batch [red]x[/red] submitted")
    out = buffer.getvalue()
    assert "[bold]not markup[/bold]" in out and "batch [red]x[/red] submitted" in out
    assert (tally.triaged, tally.failed, tally.done) == (1, 1, 2)
    assert tally.usage.cache_read_input_tokens == 2000 and tally.dollars == Decimal("0.003")
    assert "2/2" in out and "failed 1" in out and "2240 tokens" in out


def test_log_lines_say_outcome_id_progress_tokens_and_dollars():
    buffer = io.StringIO()
    reporter = LogReporter(Tally(total=3), Console(file=buffer, markup=False, width=200))
    reporter.ticket("T-7", "retry", "rate_limited; left for the next run", USAGE, None)
    assert buffer.getvalue().strip() == (
        "retry T-7 rate_limited; left for the next run [1/3] 1120 tokens $?"
    )
