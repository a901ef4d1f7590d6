"""DFFML's own HTTP service, serving only our dataflows (see dffml_k8s_analysis/serve/dffml_http.py).

    k8s-analysis dffml-service --mc-config dataflows/dffml-service --port 8081
    curl -s localhost:8081/predict -H 'Content-Type: application/json' \\
      -d '{"one": [{"value": "Fix a panic in kubelet", "definition": "release_note"}]}'

It is `dffml service http server -insecure -mc-atomic -mc-config DIR`: the routes of the
directory's dataflows and nothing else (no training, sources, models, uploads), plus a guard
that refuses other hosts, cross-origin requests and bodies that are not application/json.
The dataflows read out/model and data/kubernetes__kubernetes.sqlite from the working
directory (DIR/override/ changes them). Binds 127.0.0.1 unless --host says otherwise.
"""
import argparse

from .options import port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mc-config", default="dataflows/dffml-service",
                        help="DFFML multicomm directory: mc/http/*.json routes, df/ dataflows (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=port, default=8081, help="port (default: %(default)s; 0 picks a free one)")


def main(args: argparse.Namespace) -> int:
    import asyncio
    import pathlib

    from ..errors import UserError
    from ..serve.dffml_http import serve_forever

    if not (pathlib.Path(args.mc_config) / "mc" / "http").is_dir():
        raise UserError(f"--mc-config {args.mc_config} has no mc/http/ directory of routes")

    def announce(message: str) -> None:
        print(f"k8s-analysis dffml-service: {message}", flush=True)

    try:
        asyncio.run(serve_forever(args.mc_config, args.host, args.port, announce))
    except OSError as error:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    except Exception as error:  # DFFML's errors loading the directory's routes and dataflows
        raise UserError(f"cannot serve {args.mc_config}: {type(error).__name__}: {error}") from error
    return 0
