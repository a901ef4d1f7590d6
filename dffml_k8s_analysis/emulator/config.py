"""What the emulator serves and how it misbehaves, apart from the server (no aiohttp: emulate-github's --help)."""
import dataclasses
from typing import Dict, Optional

LINK_STYLES = ("cursor", "page")


@dataclasses.dataclass
class EmulatorConfig:
    """What the emulator serves and how it misbehaves."""

    items: int = 3000
    seed: int = 0
    owner: str = "kubernetes"
    repo: str = "kubernetes"
    use_notes: bool = True
    latency_ms: float = 0.0
    rate_limit: int = 5000
    rate_reset_s: float = 3600.0
    token: Optional[str] = None
    fault_rate: float = 0.0
    drop_rate: float = 0.0
    secondary_every: int = 0
    secondary_retry_after: int = 1
    large_listing: int = 10000
    users: Dict[str, str] = dataclasses.field(default_factory=dict)  # token -> login (others: USER_LOGIN)
    # the issues listing's links: ``cursor`` (after/before) or ``page`` (page=N)
    link_style: str = "cursor"
    # > 0: the large-dataset 422 for any page-numbered request past this offset
    page_offset_limit: int = 0
    # ``since`` as strictly after (a 2026 report) instead of at or after (the docs)
    since_exclusive: bool = False
    # GitHub's secondary limits (see .secondary), per rolling window (a minute; shorter in tests):
    # points (a GET costs 1, a write 5, a GraphQL query 1), seconds of response time, requests in flight
    secondary_limits: bool = True
    latency_spread_ms: float = 0.0  # latency uniform in latency_ms +- this (seeded)
    secondary_window_s: float = 60.0
    secondary_points: int = 900
    secondary_graphql_points: int = 2000
    public_url: str = ""  # e.g. https://api.github.com: the API root the JSON bodies name
    secondary_cpu_s: float = 90.0
    secondary_graphql_cpu_s: float = 60.0
    secondary_concurrency: int = 100
    # a renamed repository: its old OWNER/NAME answers ``moved_status`` (301; 302, 307 as temporary
    # redirects) with a Location under /repositories/{id}, the query kept, as GitHub does
    moved_from: str = ""
    moved_status: int = 301
