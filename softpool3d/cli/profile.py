"""Profile a model: parameters, GFLOPs (per view and x views), peak memory of inference and of one
training step, latency and throughput. Defaults to the model's published test view.

    python tools/profile.py --model slow_r50                      # 8x256x256, 3x10 views
    python tools/profile.py --model x3d_s --pool soft --convention full --json out/x3d_s_soft.json
    python tools/profile.py --model r3d_tiny --pool soft --compile    # eager and torch.compile
    python tools/profile.py --model r3d_tiny --pool original --compare soft --batch 8 --frames 4 \
        --crop 64                                                 # side-by-side train-step cost

See softpool3d/flops.py for the two FLOP conventions and softpool3d/profiling.py for how memory and
time are measured; the models are built here, by name, and handed to it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

from softpool3d._files import atomic_write_text


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
    p.add_argument("--pool-sites", nargs="+", default=["paper"],
                   help="'paper' (the paper's protocol), 'all' or site names")
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
    p.add_argument("--compile", action="store_true",
                   help="also time torch.compile(model): latency and train step beside eager")
    p.add_argument("--json", help="write the result as JSON here")
    p.add_argument("--compare", nargs="+", metavar="POOL",
                   help="instead: train-step time of --pool and these pools side by side "
                        "(interleaved rounds; --iters steps per round, --rounds rounds), and "
                        "each one's overhead over --pool")
    p.add_argument("--rounds", type=_int_at_least(1), default=9, help="rounds of --compare")
    args = p.parse_args(argv)
    if args.model not in list_models():
        p.error(f"argument --model: unknown model {args.model!r}; valid: {', '.join(list_models())}")
    pools = set(pool_names()) | {"original"}
    for pool in [args.pool] + (args.compare or []):
        if pool not in pools:
            p.error(f"unknown pool {pool!r}; valid: {', '.join(sorted(pools))}")
    return args


def _builder(name: str, spec, pool_sites, num_classes: int, frames: Optional[int],
             crop: Optional[int]):
    """``build(pool)``: the registered model ``name`` with that pooling method, built for
    ``frames``/``crop`` (default: its spec's training geometry)."""
    from softpool3d.models import build_model

    def build(pool: str):
        return build_model(name, num_classes=num_classes, pool=pool, pool_sites=pool_sites,
                           num_frames=frames or spec["num_frames"],
                           crop_size=crop or spec["crop_size"])
    return build


def profile_model(name: str, *, pool: str = "original", pool_sites="paper", num_classes: int = 400,
                  frames: Optional[int] = None, crop: Optional[int] = None, batch: int = 1,
                  device="cpu", convention: str = "paper", amp: str = "none", warmup: int = 2,
                  iters: int = 5, train: bool = True, flops: bool = True, seed: int = 0,
                  progress: Optional[bool] = None, compile: bool = False) -> Dict[str, Any]:
    """Build a registered model (``softpool3d.models``) and profile it at its published test view
    (overridable with ``frames``/``crop``); views = clips x crops of the spec.

    As in the model zoo, the network is built for its training geometry and run on the test crop
    (a head pool sized for 224 px on a 256 px clip pools 2x2 positions, each projected by the
    linear layer, then averaged). A ``crop`` given explicitly builds the head for that crop.
    """
    import torch
    from softpool3d import ops
    from softpool3d.flops import import_fvcore
    from softpool3d.profiling import make_inputs, profile_module
    import_fvcore()  # before pytorchvideo imports it: without its FutureWarning
    from softpool3d.models import model_input_spec

    torch.manual_seed(seed)
    spec = model_input_spec(name)
    model = _builder(name, spec, pool_sites, num_classes, frames, crop)(pool)
    inputs = make_inputs(spec, batch, frames, crop)
    views = (spec.get("num_clips") or 1) * (spec.get("num_crops") or 1)
    result = {"model": name, "pool": pool, "pool_sites": pool_sites, "num_classes": num_classes,
              "num_frames": frames or spec["num_frames"],
              "crop_size": crop or spec.get("test_crop_size") or spec["crop_size"],
              "num_clips": spec.get("num_clips"), "num_crops": spec.get("num_crops"),
              "softpool_extension": bool(ops.HAS_EXTENSION)}
    result.update(profile_module(model, inputs, convention=convention, views=views, device=device,
                                 amp=amp, warmup=warmup, iters=iters, train=train, flops=flops,
                                 progress=progress, compile=compile))
    return result


def compare_pools(name: str, pools: List[str], *, pool_sites="paper", rounds: int = 9,
                  iters: int = 5, warmup: int = 3, batch: int = 8, frames: Optional[int] = None,
                  crop: Optional[int] = None, num_classes: int = 400, device="cpu",
                  seed: int = 0) -> Dict[str, Any]:
    """``softpool3d.profiling.compare_train_steps`` of the registered model ``name`` built with
    each pooling method of ``pools``, on clips of its spec (``frames``/``crop`` override it)."""
    from softpool3d.flops import import_fvcore
    from softpool3d.profiling import compare_train_steps, make_inputs
    import_fvcore()
    from softpool3d.models import model_input_spec

    spec = model_input_spec(name)
    inputs = make_inputs(spec, batch, frames, crop)
    result = compare_train_steps(_builder(name, spec, pool_sites, num_classes, frames, crop), pools,
                                 inputs, rounds=rounds, iters=iters, warmup=warmup, device=device,
                                 seed=seed)
    return {"model": name, "pool_sites": pool_sites, **result}


def compare(args, sites) -> int:
    result = compare_pools(args.model, [args.pool] + args.compare, pool_sites=sites,
                           rounds=args.rounds, iters=args.iters, warmup=args.warmup,
                           batch=args.batch, frames=args.frames, crop=args.crop,
                           num_classes=args.num_classes, device=args.device)
    print(f"{args.model}, batch {args.batch}, {result['device_name']}, sites {sites}: train step "
          f"(ms, median of {args.rounds} rounds x {args.iters} steps, interleaved)")
    for pool, t in result["pools"].items():
        extra = ""
        if pool in result["overhead"]:
            lo, hi = result["ratio_range"][pool]
            extra = (f"  {100 * result['overhead'][pool]:+.1f} % vs {args.pool} (per-round ratio "
                     f"{lo:.3f}-{hi:.3f})")
        print(f"  {pool:12s} {t['median_ms']:8.2f}{extra}")
    if args.json:
        _write_json(args.json, result)
    return 0


def _write_json(path: str, result: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=2, sort_keys=True))
    print(f"wrote {path}")


def main(argv=None) -> int:
    import torch
    from softpool3d.profiling import format_table

    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    sites = args.pool_sites[0] if args.pool_sites in (["all"], ["paper"]) else args.pool_sites
    if args.compare:
        return compare(args, sites)
    result = profile_model(args.model, pool=args.pool, pool_sites=sites,
                           num_classes=args.num_classes, frames=args.frames, crop=args.crop,
                           batch=args.batch, device=args.device, convention=args.convention,
                           amp=args.amp, warmup=args.warmup, iters=args.iters,
                           train=not args.no_train, flops=not args.no_flops,
                           compile=args.compile)
    print(format_table(result))
    if args.compile:
        line = f"torch.compile: inference {result['compiled_infer_latency_ms']:.1f} ms (eager " \
               f"{result['infer_latency_ms']:.1f})"
        if "compiled_train_step_ms" in result:
            line += (f", train step {result['compiled_train_step_ms']:.1f} ms (eager "
                     f"{result['train_step_ms']:.1f})")
        print(line + f"; first calls incl. compiling {result['compile_s']:.1f} s")
    if args.json:
        _write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
