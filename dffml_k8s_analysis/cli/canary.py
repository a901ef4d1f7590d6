"""The canary of a store's model registry: its figures so far, or a decision now.

    k8s-analysis canary status --models data/kubernetes__kubernetes.sqlite
    k8s-analysis canary decide --models data/kubernetes__kubernetes.sqlite [--force | --promote | --rollback]

`decide` promotes the canary to all traffic if it holds and rolls it back if not
(the criteria as `pipeline` takes them, and --min-clients), once its soak is over,
or at once with --force; `pipeline` runs the same decision first. --promote and
--rollback are the operator's gate: they decide now, whatever the figures (the way
to decide when one client alone sends predictions). Exit status 1 when it rolled back.
"""
import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..model.canary import Policy
    from .options import add_canary_options, add_models_option

    parser.add_argument("action", choices=("status", "decide"), help="status: the figures; decide: promote or roll back")
    add_models_option(parser)
    add_canary_options(parser)
    parser.add_argument("--min-clients", type=int, default=Policy.min_clients,
                        help="distinct clients the observations must come from (default: %(default)s)")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--force", action="store_true", help="decide now, before the soak is over")
    how.add_argument("--promote", dest="operator", action="store_const", const="promote",
                     help="promote the canary now, whatever its figures")
    how.add_argument("--rollback", dest="operator", action="store_const", const="rollback",
                     help="roll the canary back now, whatever its figures")


def main(args: argparse.Namespace) -> int:
    import dataclasses

    from ..errors import UserError
    from ..model import canary, versions
    from ..model.registry import open_registry
    from ..store.postgres import redact
    from .options import canary_policy

    models = open_registry(args.models)
    if not models.canaries:
        raise UserError(f"{redact(args.models)} is a model directory, which has no canary: give --models a store")
    if args.operator and args.action != "decide":
        raise UserError(f"--{args.operator} goes with `canary decide`")
    if args.action == "status":
        serving = models.routing().serving
        print(f"serving: {versions.shown(serving) if serving else 'none'}")
        current = models.canary()
        if current is None:
            print("no canary")
        else:
            found = canary.figures(models.observations(current["stamp"], canary.MAX_OBSERVATIONS * canary.REPLICAS_READ))
            print(canary.describe({"stamp": current["stamp"], "share": current["canary_share"],
                                   "until": current["canary_until"], "figures": found, "decision": "soaking"}))
        return 0
    policy = dataclasses.replace(canary_policy(args), min_clients=args.min_clients)
    result = canary.decide(models, policy, args.force, args.operator)
    print("no canary" if result is None else canary.describe(result))
    return 1 if result and result["decision"] == "rolled back" else 0
