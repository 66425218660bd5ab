"""`waifugan serve`: the This-Waifu-Does-Not-Exist page and face API."""

from __future__ import annotations

import argparse

from waifugan.cli import add_model_argument, formatter
from waifugan.serve.config import PSI_MAX, PSI_MIN, ServeConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `serve` subcommand."""
    defaults = ServeConfig()
    p = subparsers.add_parser(
        "serve",
        help="serve the This-Waifu-Does-Not-Exist page and a face API",
        description="Serve a page showing a new face every --interval seconds, and "
        "/api/face?seed=N&psi=X[&size=S] (PNG), /api/card?seed=N&psi=X (name, tags, story), "
        "/api/random, /healthz. Binds to localhost unless --host says otherwise.",
        formatter_class=formatter,
    )
    add_model_argument(p)
    p.add_argument("--host", default=defaults.host, help="address to bind (0.0.0.0: all)")
    p.add_argument("--port", type=int, default=defaults.port, help="TCP port")
    p.add_argument(
        "--interval",
        type=float,
        default=defaults.interval_s,
        help="seconds between faces on the page",
    )
    p.add_argument(
        "--psi",
        type=float,
        default=defaults.psi,
        help=f"default truncation psi, in [{PSI_MIN}, {PSI_MAX}]",
    )
    p.add_argument(
        "--trunc-cutoff",
        type=int,
        default=defaults.truncation_cutoff,
        help="truncate only the first N layers (default: all)",
    )
    p.add_argument("--device", default=defaults.device, help="torch device; auto picks CUDA")
    p.add_argument(
        "--queue-size",
        type=int,
        default=defaults.queue_size,
        help="faces waiting to render before requests get 503",
    )
    p.add_argument(
        "--max-batch",
        type=int,
        default=defaults.max_batch,
        help="faces rendered per generator call",
    )
    p.add_argument(
        "--cache-size", type=int, default=defaults.cache_size, help="rendered faces kept in memory"
    )
    p.add_argument(
        "--tagger",
        default=None,
        help="tagger for the faces' character cards (default: MODEL.tagger.safetensors "
        "beside the model, if there is one)",
    )
    p.add_argument(
        "--story-model", default=None, help="local causal LM folder that writes the stories"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the config and serve until interrupted."""
    from waifugan.serve.app import serve

    cfg = ServeConfig(
        host=args.host,
        port=args.port,
        interval_s=args.interval,
        psi=args.psi,
        truncation_cutoff=args.trunc_cutoff,
        device=args.device,
        queue_size=args.queue_size,
        max_batch=args.max_batch,
        cache_size=args.cache_size,
    )
    print(f"serving {args.model} on http://{cfg.host}:{cfg.port}/ (Ctrl-C stops)", flush=True)
    serve(args.model, cfg, tagger=args.tagger, story_model=args.story_model)
    return 0
