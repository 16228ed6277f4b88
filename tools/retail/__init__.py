"""The retail store domain: tables, tools, facts, demo data and the `db` commands."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from agent.domain import Domain
from agent.registry import ToolRegistry
from tools.retail.cli import db
from tools.retail.demo import seed_demo
from tools.retail.demo_fixtures import DemoFixtures, demo_fixtures
from tools.retail.facts import retail_facts
from tools.retail.prompt import SYSTEM_PROMPT
from tools.retail.read_tools import READ_TOOLS
from tools.retail.transfer import export_retail, import_retail
from tools.retail.write_tools import WRITE_TOOLS
from tools.tickets import tables as _ticket_tables  # noqa: F401 - the inbox lives in this store

POLICY_PATH = Path(str(importlib.resources.files("policies") / "retail.yaml"))

DOMAIN = Domain(
    name="retail",
    registry=ToolRegistry.of(
        [*READ_TOOLS, *WRITE_TOOLS], facts=retail_facts, payout_fact="refund_total"
    ),
    system_prompt=SYSTEM_PROMPT,
    policy_path=POLICY_PATH,
    seed_demo=seed_demo,
    import_file=import_retail,
    snapshot=export_retail,
    cli=db,
)

__all__ = [
    "DOMAIN",
    "POLICY_PATH",
    "DemoFixtures",
    "demo_fixtures",
    "export_retail",
    "import_retail",
    "retail_facts",
    "seed_demo",
]
