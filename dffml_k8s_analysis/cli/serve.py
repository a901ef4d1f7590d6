"""The prediction service and the labeling webhook (see dffml_k8s_analysis/serve/).

    k8s-analysis serve --models out/model --port 8080
    k8s-analysis serve --models data/kubernetes__kubernetes.sqlite --port 8080   # versions in the store
    curl -s localhost:8080/v1/models/kubernetes-analysis:predict -d '{"text": "Fix a panic in kubelet"}'

POST /webhook takes GitHub's pull_request and issues events signed with
the secret in the environment variable WEBHOOK_SECRET (without it the route
answers 503) and labels the item through --base-url with the token in
GITHUB_TOKEN (or the file GITHUB_TOKEN_FILE names). Neither is ever printed or logged. Deliveries are answered
at once (202) and labelled in the background; --state is the store of the
bot's memory (deliveries seen, what was applied, one lease per item), which
replicas share: by default the --models store, so on a cluster PostgreSQL;
it also keeps the bot's decisions for `k8s-analysis bot report`. --mode act
labels in the act band only, suggest comments only, shadow writes nothing to
GitHub (see docs/serve-and-bot.md).
A delivery is taken only once a model is loaded; GitHub's failures and rate
limits are tried again later by the queue (see serve/deliveries.py); past
10,000 queued deliveries a new one is refused with 503 and Retry-After.
Binds 127.0.0.1 unless --host says otherwise; stops at once on SIGINT or
SIGTERM, leaving the deliveries in hand queued for another replica (a replica
that was killed holds its items at most 15 s).
At start it says what it cannot do: no webhook without WEBHOOK_SECRET, no labels
on api.github.com without a token.

--models names the model registry (see dffml_k8s_analysis/model/registry.py):
a directory is reloaded as soon as its link moves; a store (a .sqlite file or
a postgresql:// URI) is asked every --poll seconds which version serves and
which is the canary, so every replica, on any node, follows the pipeline.
While a canary runs, both models answer each prediction, the request's hash
picks which answer is returned (the X-Model-Version header says which), and
both are recorded side by side in the store.
"""
import argparse
import os
import sys

from ..bot.state import DEFAULT_PATH
from ..github.client import DEFAULT_BASE_URL
from .options import add_bot_options, add_models_option, port

SECRET_ENV = "WEBHOOK_SECRET"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_models_option(parser)
    parser.add_argument("--poll", type=float, default=2.0,
                        help="seconds between asking a store which versions serve (default: %(default)s; 0: every request)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=port, default=8080, help="port (default: %(default)s; 0 picks a free one)")
    parser.add_argument("--repo", default="", help="webhook: handle only this OWNER/NAME's events (default: any)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="webhook: the GitHub API root (Enterprise, the emulator)")
    parser.add_argument("--state", default="",
                        help="webhook: the store of the bot's memory, shared by every replica (default: the --models "
                             f"store, or {DEFAULT_PATH} when the models are in a directory)")
    add_bot_options(parser)
    parser.add_argument("--sweep", type=float, default=600.0, metavar="SECONDS",
                        help="webhook with --repo: every SECONDS, reconcile the items updated since the last sweep "
                             "whose deliveries were lost (default: %(default)s; 0: never)")


def main(args: argparse.Namespace) -> int:
    import asyncio

    from ..bot.rules import BotMode
    from ..bot.webhook import Secret
    from ..errors import UserError
    from ..github.client import TOKEN_ENV, TOKEN_FILE_ENV, check_repo, token
    from ..serve.service import ServeConfig, serve_forever

    if args.poll < 0:
        raise UserError(f"--poll must not be negative, got {args.poll}")
    if not args.sweep >= 0:
        raise UserError(f"--sweep must not be negative, got {args.sweep}")
    if args.repo:
        check_repo(args.repo)
    secret = os.environ.get(SECRET_ENV)
    config = ServeConfig(args.models, args.base_url, args.repo, Secret(secret) if secret else None, args.state,
                         poll_s=args.poll, bot=BotMode(args.mode, args.apply_sigs), catch_up_s=args.sweep)

    def announce(message: str) -> None:
        print(f"k8s-analysis serve: {message}", flush=True)

    if not secret:
        announce(f"webhook off: {SECRET_ENV} is not set; POST /webhook answers 503")
    elif token() is None and args.base_url == DEFAULT_BASE_URL:
        print(f"k8s-analysis serve: warning: webhook on, but no token ({TOKEN_ENV} or {TOKEN_FILE_ENV}): every "
              "delivery will fail to label", file=sys.stderr, flush=True)
    try:
        asyncio.run(serve_forever(config, args.host, args.port, announce))
    except OSError as error:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    return 0
