"""Evaluate a checkpoint with the multi-view protocol (clips x crops per video, scores averaged):
top-1, top-5, mean class accuracy, confusion matrix (CSV + PNG), test_results.json.

    python tools/test.py --checkpoint runs/synthetic/x3d_xs_tiny_soft/best.pth
    python tools/test.py configs/ucf101/x3d_s.yaml --checkpoint 'runs/ucf101/x3d_s_max_fold{fold}/best.pth' \
        --folds 1 2 3 data.num_clips=10

Without a config, the one saved in the checkpoint is used. ``{fold}`` in the checkpoint path is
replaced by each fold (UCF-101 / HMDB-51 train one model per split); the mean over folds is
reported too. Also runs under torchrun (the videos are split over the ranks). Checkpoints load
with ``weights_only=True`` (a file holding code is refused); a corrupt one is named, with the
run's previous.pth as the alternative when there is one. Exit status: 0 done, 2 bad arguments,
config or checkpoint, 4 a rank stopped answering (train.dist_timeout_s).
"""
import argparse
import os
import sys


from softpool3d.config import ConfigError, config_from_dict, load_config
from softpool3d.engine import checkpoint as ckpt
from softpool3d.engine import distributed as du
from softpool3d.datasets import AnnotationError
from softpool3d.engine import run


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("args", nargs="*", metavar="[CONFIG] [key=value ...]",
                   help="optional YAML config, then key.sub=value overrides")
    p.add_argument("--checkpoint", required=True, help="checkpoint path ({fold} is replaced)")
    p.add_argument("--folds", type=int, nargs="+", help="folds to test (UCF-101/HMDB-51: 1 2 3)")
    p.add_argument("--output-dir", help="where results go (default: the checkpoint's folder)")
    return p.parse_args(argv)


def load(args):
    config = args.args[0] if args.args and "=" not in args.args[0] else None
    overrides = args.args[1:] if config else args.args
    if config:
        return load_config(config, overrides)
    first = args.checkpoint.format(fold=(args.folds or [1])[0])
    saved = ckpt.load(first).get("config")
    if saved is None:
        raise ConfigError(f"{first} holds no config: pass the YAML config")
    return config_from_dict(saved, overrides)


def _alternative(error: ckpt.CheckpointError) -> str:
    """A hint naming the run's previous.pth when a corrupt checkpoint has one beside it."""
    prev = os.path.join(os.path.dirname(os.path.abspath(error.path)), ckpt.PREVIOUS)
    if error.unsafe or not os.path.isfile(prev) or os.path.abspath(error.path) == prev:
        return ""
    return f"\nthe run's previous checkpoint may be intact: --checkpoint {prev}"


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load(args)
    except ckpt.CheckpointError as e:
        print(f"error: {e}{_alternative(e)}", file=sys.stderr)
        return 2
    except (ConfigError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out_dir = args.output_dir or os.path.dirname(os.path.abspath(args.checkpoint.format(fold="all")))
    try:
        out = run.test(cfg, args.checkpoint, out_dir, args.folds)
    except ckpt.CheckpointError as e:
        print(f"error: {e}{_alternative(e)}", file=sys.stderr)
        return 2
    except du.StalledRankError as e:
        print(f"error: {e}", file=sys.stderr)
        return 4
    except (ConfigError, FileNotFoundError, AnnotationError) as e:  # bad input: exit 2
        print(f"error: {e}", file=sys.stderr)
        return 2
    if du.is_main() and len(out["folds"]) > 1:
        for fold, m in out["folds"].items():
            print(f"fold {fold}: top1 {100 * m['top1']:.2f}  top5 {100 * m['top5']:.2f}  "
                  f"mean class acc {100 * m['mean_class_acc']:.2f}")
        mean = out["mean"]
        print(f"mean:   top1 {100 * mean['top1']:.2f}  top5 {100 * mean['top5']:.2f}  "
              f"mean class acc {100 * mean['mean_class_acc']:.2f}")
    if du.is_main() and out_dir:
        print(f"wrote {os.path.join(out_dir, 'test_results.json')}")
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
