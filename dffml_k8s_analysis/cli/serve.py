"""``k8s-analysis serve``: the prediction service and the labeling webhook (see ``dffml_k8s_analysis.serve``).

    k8s-analysis serve --model-dir out/model --port 8080
    curl -s localhost:8080/v1/models/kubernetes-analysis:predict -d '{"text": "Fix a panic in kubelet"}'

``POST /webhook`` takes GitHub's pull_request and issues events signed with
the secret in the environment variable WEBHOOK_SECRET (without it the route
answers 503) and labels the item through --base-url with the token in
GITHUB_TOKEN (or the file GITHUB_TOKEN_FILE names). Neither is ever printed or logged. Deliveries are answered
at once (202) and labelled in the background; --state is the bot's memory
(deliveries seen, what was applied, one lease per item), which replicas share.
Binds 127.0.0.1 unless --host says otherwise; stops on SIGINT or SIGTERM.
"""
import argparse
import os

from ..github.client import DEFAULT_BASE_URL
from .train import DEFAULT_MODEL_DIR

HELP = "serve predictions (POST /v1/models/kubernetes-analysis:predict) and the labeling webhook (POST /webhook)"
SECRET_ENV = "WEBHOOK_SECRET"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, help="artifact directory (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port (default: %(default)s; 0 picks a free one)")
    parser.add_argument("--repo", default="", help="webhook: handle only this OWNER/NAME's events (default: any)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="webhook: the GitHub API root (Enterprise, the emulator)")
    parser.add_argument("--state", default="out/bot/state.sqlite",
                        help="webhook: the bot's SQLite file, shared by every replica (default: %(default)s)")


def main(args: argparse.Namespace) -> int:
    import asyncio

    from ..bot.webhook import Secret
    from ..errors import UserError
    from ..github.client import check_repo
    from ..serve.service import ServeConfig, serve_forever

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be 0..65535, got {args.port}")
    if args.repo:
        check_repo(args.repo)
    secret = os.environ.get(SECRET_ENV)
    config = ServeConfig(args.model_dir, args.base_url, args.repo, Secret(secret) if secret else None, args.state)

    def announce(message: str) -> None:
        print(f"k8s-analysis serve: {message}", flush=True)

    if not secret:
        announce(f"webhook off: {SECRET_ENV} is not set")
    try:
        asyncio.run(serve_forever(config, args.host, args.port, announce))
    except OSError as error:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    return 0
