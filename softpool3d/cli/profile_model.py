"""Profile a model: parameters, GFLOPs (per view and x views), peak memory of inference and of one
training step, latency and throughput. Defaults to the model's published test view.

    python tools/profile_model.py --model slow_r50                      # 8x256x256, 3x10 views
    python tools/profile_model.py --model x3d_s --pool soft --convention full --json out/x3d_s_soft.json

See softpool3d/flops.py for the two FLOP conventions and softpool3d/profiling.py for how memory and
time are measured.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


def parse_args(argv=None) -> argparse.Namespace:
    """The arguments; usage errors (unknown model or pool, a non-positive size) exit 2."""
    import torch
    from softpool3d.flops import CONVENTION_HELP, CONVENTIONS
    from softpool3d.models import list_models
    from softpool3d.pools import pool_names
    from softpool3d.profiling import AMP_DTYPES

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a name of softpool3d.models.MODELS")
    p.add_argument("--pool", default="original",
                   help="'original' (the published pools) or a softpool3d.pools method")
    p.add_argument("--pool-sites", nargs="+", default=["all"], help="'all' or site names")
    p.add_argument("--num-classes", type=_int_at_least(1), default=400, help="head size (default: Kinetics-400)")
    p.add_argument("--frames", type=_int_at_least(1), help="clip length (SlowFast: fast pathway); default: spec")
    p.add_argument("--crop", type=_int_at_least(1), help="square crop size; default: the spec's test crop")
    p.add_argument("--batch", type=_int_at_least(1), default=1, help="clips per step for memory and speed")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   choices=["cpu", "cuda"])
    p.add_argument("--convention", default="paper", choices=CONVENTIONS,
                   help="how FLOPs are counted (1 multiply-add = 1 FLOP); default paper. " +
                   "; ".join(f"{name}: {text}" for name, text in CONVENTION_HELP.items()) +
                   " (details: softpool3d/flops.py)")
    p.add_argument("--amp", default="none", choices=sorted(AMP_DTYPES))
    p.add_argument("--warmup", type=_int_at_least(0), default=2, help="untimed runs before timing")
    p.add_argument("--iters", type=_int_at_least(1), default=5,
                   help="timed runs: the median is reported with its spread (IQR, min, max), and "
                        "a warning when the IQR exceeds 20%% of the median")
    p.add_argument("--threads", type=_int_at_least(1), help="torch.set_num_threads on CPU")
    p.add_argument("--no-train", action="store_true", help="skip the training-step measurements")
    p.add_argument("--no-flops", action="store_true", help="skip FLOP counting (one trace)")
    p.add_argument("--json", help="write the result as JSON here")
    args = p.parse_args(argv)
    if args.model not in list_models():
        p.error(f"argument --model: unknown model {args.model!r}; valid: {', '.join(list_models())}")
    pools = set(pool_names()) | {"original"}
    if args.pool not in pools:
        p.error(f"argument --pool: unknown pool {args.pool!r}; valid: {', '.join(sorted(pools))}")
    return args


def main(argv=None) -> int:
    import torch
    from softpool3d.profiling import format_table, profile_model

    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    sites = args.pool_sites[0] if args.pool_sites == ["all"] else args.pool_sites
    result = profile_model(args.model, pool=args.pool, pool_sites=sites,
                           num_classes=args.num_classes, frames=args.frames, crop=args.crop,
                           batch=args.batch, device=args.device, convention=args.convention,
                           amp=args.amp, warmup=args.warmup, iters=args.iters,
                           train=not args.no_train, flops=not args.no_flops)
    print(format_table(result))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
        print(f"wrote {args.json}")
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
