"""Serve the GitHub emulator on its own, until SIGTERM or SIGINT.

It serves a deterministic sample of issues and pull requests (on the shared
real release notes unless --no-notes) with GitHub's semantics: listings and
their pagination, comments and labels, ETags, rate limits, faults. Once it
listens, it writes the bound port to --portfile and prints its URL.
"""
import argparse
import sys

from ..emulator.config import LINK_STYLES, EmulatorConfig
from .options import HelpFormatter, port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``emulate-github`` command."""
    defaults = EmulatorConfig()
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=port, default=0, help="port (0 picks a free one)")
    parser.add_argument("--portfile", help="write the bound port to this file")
    parser.add_argument("--items", type=int, default=defaults.items, help="issues and pull requests in the sample")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the sample's random seed")
    parser.add_argument("--latency-ms", type=float, default=defaults.latency_ms,
                        help="milliseconds added to every answer")
    parser.add_argument("--rate-limit", type=int, default=defaults.rate_limit,
                        help="requests per rate-limit budget (the primary limit, REST)")
    parser.add_argument("--rate-reset", type=float, default=defaults.rate_reset_s,
                        help="seconds until the rate-limit budget refills")
    parser.add_argument("--token", help="require this token (default: any token or none)")
    parser.add_argument("--fault-rate", type=float, default=defaults.fault_rate,
                        help="fraction of requests answered 502")
    parser.add_argument("--drop-rate", type=float, default=defaults.drop_rate,
                        help="fraction of requests whose connection is dropped")
    parser.add_argument("--secondary-every", type=int, default=defaults.secondary_every,
                        help="every Kth request hits a secondary rate limit (0: never)")
    parser.add_argument("--link-style", choices=LINK_STYLES, default=defaults.link_style,
                        help="the issues listing's links: cursors (after) or page numbers")
    parser.add_argument("--page-offset-limit", type=int, default=defaults.page_offset_limit,
                        help="answer the large-dataset 422 to page numbers past this offset (0: page 100 of "
                        "listings over 10,000 items)")
    parser.add_argument("--since-exclusive", action="store_true",
                        help="since means strictly after (GitHub documents at or after)")
    parser.add_argument("--latency-spread-ms", type=float, default=defaults.latency_spread_ms,
                        help="latency uniform in --latency-ms +- this (seeded)")
    parser.add_argument("--no-secondary-limits", action="store_true",
                        help="do not enforce GitHub's secondary limits (900 points and 90 s of response "
                        "time per window, 100 concurrent requests)")
    parser.add_argument("--secondary-window", type=float, default=defaults.secondary_window_s,
                        help="seconds of the secondary limits' rolling window (GitHub: 60)")
    parser.add_argument("--public-url", default="", help="the API root the bodies name, e.g. https://api.github.com "
                        "(default: the URL it is reached at)")
    parser.add_argument("--no-notes", action="store_true",
                        help="generate release notes instead of using the real ones")


def main(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT."""
    import asyncio

    from ..emulator.rest import Emulator, serve_forever

    config = EmulatorConfig(
        items=args.items, seed=args.seed, use_notes=not args.no_notes,
        latency_ms=args.latency_ms, rate_limit=args.rate_limit,
        rate_reset_s=args.rate_reset, token=args.token, fault_rate=args.fault_rate,
        drop_rate=args.drop_rate, secondary_every=args.secondary_every, link_style=args.link_style,
        page_offset_limit=args.page_offset_limit, since_exclusive=args.since_exclusive,
        latency_spread_ms=args.latency_spread_ms, secondary_limits=not args.no_secondary_limits,
        secondary_window_s=args.secondary_window, public_url=args.public_url)
    asyncio.run(serve_forever(Emulator(config), args.host, args.port, args.portfile))
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="emulate-github", description=__doc__, formatter_class=HelpFormatter)
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
