"""Options that several commands share."""
import argparse

from ..github.client import DEFAULT_BASE_URL
from ..store import SPEC_HELP


def add_repo_options(parser: argparse.ArgumentParser) -> None:
    """--repo, --base-url and --store, as every command on a repository's store takes them."""
    parser.add_argument("--repo", default="kubernetes/kubernetes", help="OWNER/NAME (default: %(default)s)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="API root (GitHub Enterprise, the emulator)")
    parser.add_argument("--store", metavar="SPEC", help=SPEC_HELP)
