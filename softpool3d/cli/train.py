"""Train a video model from a config, then run the multi-view test and write results.json.

    python tools/train.py configs/synthetic/x3d_xs_tiny.yaml [key.sub=value ...] [--output-dir D]
    torchrun --nproc_per_node=N tools/train.py CONFIG ...        # DDP (gloo on CPU, NCCL on CUDA)

A run resumes automatically from OUTPUT_DIR/last.pth when it exists (``--resume [PATH]`` insists on
a checkpoint, ``--fresh`` ignores it). Exit status: 0 done, 2 bad config/arguments, 3 non-finite loss.
"""
import argparse
import sys


from softpool3d.config import ConfigError, load_config
from softpool3d.engine import run
from softpool3d.engine.trainer import NonFiniteLossError


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("config", help="YAML config (configs/<dataset>/<model>.yaml)")
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. model.pool=soft")
    p.add_argument("--output-dir", help="run folder (default: train.output_dir or runs/<data>/<model>_<pool>)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", nargs="?", const=True, default="auto", metavar="PATH",
                   help="resume from PATH or from OUTPUT_DIR/last.pth (which must exist)")
    g.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    return p.parse_args(argv)


def main(argv=None, hooks=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
    except (ConfigError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        run.train(cfg, output_dir=args.output_dir, resume=False if args.fresh else args.resume,
                  hooks=hooks)
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except (ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
