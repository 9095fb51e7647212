"""Train a video model from a config, then run the multi-view test and write results.json.

    python tools/train.py configs/synthetic/x3d_xs_tiny.yaml [key.sub=value ...] [--output-dir D]
    torchrun --nproc_per_node=N tools/train.py CONFIG ...        # DDP (gloo on CPU, NCCL on CUDA)

A run resumes automatically from OUTPUT_DIR/last.pth when it exists (previous.pth when last.pth is
corrupt); ``--resume [PATH]`` insists on a checkpoint, ``--fresh`` ignores it. A resume refuses a
config that changes what is trained (only optim.epochs, logging, evaluation and test settings may
change; ``--allow-change KEY`` accepts one more). See docs/reliability.md.
Exit status: 0 done, 2 bad config/arguments/checkpoint, 3 non-finite loss, 4 a rank stalled.
"""
import argparse
import os
import shlex
import sys

from softpool3d.config import ConfigError, load_config
from softpool3d.datasets import AnnotationError
from softpool3d.engine import run
from softpool3d.engine.checkpoint import CheckpointError
from softpool3d.engine.distributed import StalledRankError
from softpool3d.engine.resume import ResumeRefused
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
    p.add_argument("--allow-change", action="append", default=[], metavar="KEY",
                   help="let a resume change config KEY although it changes what is trained "
                   "(e.g. optim.lr after a divergence); repeatable")
    return p.parse_args(argv)


def fresh_command(args) -> str:
    """The command line that starts this run over (same config and folder, ``--fresh``)."""
    prog = os.path.basename(sys.argv[0]) if sys.argv else ""
    cmd = [prog] if prog == "softpool3d-train" else ["python", "tools/train.py"]
    cmd += [args.config, *args.overrides]
    if args.output_dir:
        cmd += ["--output-dir", args.output_dir]
    return shlex.join(cmd + ["--fresh"])


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
    except (ConfigError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        run.train(cfg, output_dir=args.output_dir, resume=False if args.fresh else args.resume,
                  allow_changes=args.allow_change)
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except StalledRankError as e:
        print(f"error: {e}", file=sys.stderr)
        return 4
    except (CheckpointError, ResumeRefused) as e:
        print(f"error: {e}\nto start this run over instead: {fresh_command(args)}", file=sys.stderr)
        return 2
    except (ConfigError, FileNotFoundError, AnnotationError) as e:  # bad input: exit 2
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
