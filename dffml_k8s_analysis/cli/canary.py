"""The canary of a store's model registry: its figures so far, or a decision now.

    k8s-analysis canary status --models data/kubernetes__kubernetes.sqlite
    k8s-analysis canary decide --models data/kubernetes__kubernetes.sqlite [--force]

`decide` promotes the canary to all traffic if it holds and rolls it back if not
(the criteria as `pipeline` takes them), once its soak is over, or at once with
--force; `pipeline` runs the same decision first. Exit status 1 when it rolled back.
"""
import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .options import add_canary_options, add_models_option

    parser.add_argument("action", choices=("status", "decide"), help="status: the figures; decide: promote or roll back")
    add_models_option(parser)
    add_canary_options(parser)
    parser.add_argument("--force", action="store_true", help="decide now, before the soak is over")


def main(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..model import canary
    from ..model.registry import open_registry
    from .options import canary_policy

    models = open_registry(args.models)
    if not models.canaries:
        raise UserError(f"{args.models} is a model directory, which has no canary: give --models a store")
    if args.action == "status":
        serving = models.routing().serving
        print(f"serving: {serving or 'none'}")
        current = models.canary()
        if current is None:
            print("no canary")
        else:
            found = canary.figures(models.observations(current["stamp"]))
            print(canary.describe({"stamp": current["stamp"], "share": current["canary_share"],
                                   "until": current["canary_until"], "figures": found, "decision": "soaking"}))
        return 0
    result = canary.decide(models, canary_policy(args), args.force)
    print("no canary" if result is None else canary.describe(result))
    return 1 if result and result["decision"] == "rolled back" else 0
