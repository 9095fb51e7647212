"""Evaluate checkpoints with the multi-view protocol (clips x crops per video, scores averaged):
top-1, top-5, mean class accuracy, confusion matrix (CSV + PNG), the per-video scores (.npz) and
test_results.json.

    python tools/test.py --checkpoint runs/synthetic/x3d_xs_tiny_soft
    python tools/test.py --checkpoint 'runs/ucf101/x3d_s_soft_fold{fold}' --folds 1 2 3 data.num_clips=10
    python tools/test.py --checkpoint runs/ucf101/x3d_s_soft_fold1/last.pth data.root=/data/ucf101

--checkpoint is a checkpoint file or a run folder, which means its last.pth: the final weights,
the published protocol. Do not report best.pth on UCF-101/HMDB-51: it is the epoch with the best
validation top-1, and these datasets have no validation split (their configs validate on the test
split), so best.pth is chosen on the test videos and overstates the accuracy.

The checkpoint's own saved config decides what the model is (name, pools, pool sites, classes,
clip geometry) and what it was trained on; without a config file it is used as it is. A config
file or a key=value override may change only where the data is and how the test runs (data.root,
the test views, data.workers, test.*, train.device, ...; see docs/reliability.md): one that
contradicts the checkpoint in anything else is refused, listing each difference, before anything
is evaluated. key=value overrides may stand anywhere on the line (also after --folds). The pretrained file named in the saved config
(model.init_checkpoint) is not loaded, nor needed: the checkpoint replaces every weight.
``{fold}`` (or ``{fold:02d}``, a format of the integer) in the checkpoint path is replaced by each
fold (UCF-101 / HMDB-51 train one model per split; --folds on a dataset without folds is refused); with several folds, each fold and the mean +- sample standard deviation over the folds
are printed and written to test_results.json ("folds", "mean", "std").

Written to --output-dir (default: the checkpoint's folder; with {fold} in the path, that path with
fold "all"), per fold (TAG = test, or test_fold<k> with several folds): TAG_confusion.csv/.png and
TAG_scores.npz, one row per video in dataset order: scores (N, classes: the softmax probabilities
averaged over the views; averaged logits with test.average=logits), labels, pred, paths, index,
views, classes, average, fold; np.load(path) reads it without allow_pickle. For ensembling and
re-scoring without rerunning the model.

A checkpoint is verified before it is used (the zip CRCs of its records; a damaged file is
refused like a truncated one) and must be one that tools/train.py wrote (a plain state dict is
refused with the way to use it).

Also runs under torchrun (the videos are split over the ranks; every video is gathered once, in
dataset order). A progress bar is drawn on rank 0 when stderr is a terminal (--no-progress or
TQDM_DISABLE=1: none). Checkpoints load with ``weights_only=True`` (a file holding code is refused);
a corrupt one is named, with the run's previous.pth as the alternative when there is one.
Exit status: 0 done, 2 bad arguments, config or checkpoint, 4 a rank stopped answering
(train.dist_timeout_s).
"""
import argparse
import os
import string
import sys

from softpool3d.config import ConfigError, config_from_dict, load_config, parse_override
from softpool3d.engine import checkpoint as ckpt
from softpool3d.engine import distributed as du
from softpool3d.datasets import DATASETS, AnnotationError
from softpool3d.engine import run

CONFIG_SUFFIXES = (".yaml", ".yml")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("args", nargs="*", metavar="[CONFIG] [key=value ...]",
                   help="optional YAML config, and key.sub=value overrides (anywhere on the line)")
    p.add_argument("--checkpoint", required=True, metavar="PATH",
                   help="a checkpoint file, or a run folder (its last.pth); {fold} is replaced by "
                   "each fold")
    p.add_argument("--folds", nargs="+", metavar="FOLD",
                   help="folds to test (UCF-101/HMDB-51: 1 2 3); overrides may follow")
    p.add_argument("--output-dir", help="where results go (default: the checkpoint's folder)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (default: one on rank 0 when stderr is a terminal)")
    return p


def parse_args(argv=None):
    """Arguments with ``config`` (a path or None), ``overrides`` (``key=value`` strings, checked)
    and ``folds`` (ints or None). Overrides may stand anywhere, also among the folds after
    ``--folds``; a token that is neither exits with status 2, naming it."""
    p = _parser()
    args = p.parse_intermixed_args(argv)
    folds, loose = [], []
    for i, token in enumerate(args.folds or []):
        if token.lstrip("+-").isdigit():
            folds.append(int(token))
        elif i == 0:
            p.error(f"--folds: {token!r} is not a fold number (e.g. --folds 1 2 3)")
        else:
            loose.append(token)
    for fold in folds:
        if fold < 1:
            p.error(f"--folds: fold {fold} is not a fold number (1, 2, 3, ...)")
    if len(set(folds)) != len(folds):
        p.error(f"--folds: a fold is given twice ({' '.join(map(str, folds))})")
    args.folds = folds or None
    args.config, args.overrides = None, []
    for token in [*args.args, *loose]:
        if "=" in token:
            try:
                parse_override(token)
            except ConfigError as e:
                p.error(str(e))
            args.overrides.append(token)
        elif not (token.endswith(CONFIG_SUFFIXES) or os.path.isfile(token)):
            p.error(f"{token!r} is neither a key.sub=value override nor a YAML config file")
        elif args.config is not None:
            p.error(f"two configs given ({args.config!r} and {token!r}); pass one")
        else:
            args.config = token
    try:
        fill_fold(args.checkpoint, "all")
        for fold in args.folds or [1]:
            fill_fold(args.checkpoint, fold)
    except ValueError as e:
        p.error(f"--checkpoint {args.checkpoint!r}: {e}")
    args.checkpoint = checkpoint_template(args.checkpoint, args.folds)
    return args


def fill_fold(template: str, fold) -> str:
    """``template`` with each ``{fold}`` / ``{fold:SPEC}`` field replaced by ``fold`` (an int,
    formatted by SPEC) or, for the folder of several folds' results, the text ``"all"``; ``{{``
    and ``}}`` are literal braces. ValueError for any other field (``{fold.x}``, ``{0}``,
    ``{fold!r}``), a SPEC that does not format an integer, or unbalanced braces."""
    out = []
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(f"braces may only hold {{fold}} or {{fold:FORMAT}} ({e})") from None
    for literal, name, spec, conversion in fields:
        out.append(literal)
        if name is None:
            continue
        if name != "fold" or conversion:
            raise ValueError(f"braces may only hold {{fold}} or {{fold:FORMAT}} (e.g. "
                             f"{{fold:02d}}), not {{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}}")
        if "{" in spec:
            raise ValueError(f"the format of {{fold:{spec}}} may not hold braces")
        if isinstance(fold, int):
            try:
                out.append(format(fold, spec))
            except ValueError as e:
                raise ValueError(f"{{fold:{spec}}} does not format the fold number ({e})") from None
        else:
            out.append(str(fold))
    return "".join(out)


def fold_paths(template: str, folds) -> dict:
    """``{fold: checkpoint path}`` of ``template`` for each fold."""
    return {fold: fill_fold(template, fold) for fold in folds}


def checkpoint_template(path: str, folds=None) -> str:
    """``path`` (a file, or a run folder: ``<folder>/last.pth``) as a template with ``{fold}``; the
    first fold's path decides whether it names a folder."""
    first = fill_fold(path, (folds or [1])[0])
    if os.path.isdir(first):
        return os.path.join(path, ckpt.LAST)
    return path


def check_folds(cfg, folds) -> None:
    """ConfigError unless every fold of ``folds`` is one of the dataset's (before any is tested)."""
    spec = DATASETS.get(cfg.data.name)
    if not folds or spec is None:
        return
    bad = [f for f in folds if f not in spec.folds]
    if bad:
        have = (f"folds {', '.join(map(str, spec.folds))}" if len(spec.folds) > 1
                else "no folds (one split: leave --folds out)")
        raise ConfigError(f"--folds {' '.join(map(str, folds))}: {cfg.data.name} has {have}; "
                          f"{', '.join(map(str, bad))} is not one of them")


def load(args, paths=None):
    """The config to test with: the first fold's checkpoint's own, with the overrides, or the
    config file given (checked against the checkpoint by ``run.test`` before any fold runs)."""
    if args.config:
        return load_config(args.config, args.overrides)
    first = (paths or fold_paths(args.checkpoint, args.folds or [1]))[(args.folds or [1])[0]]
    saved = ckpt.read_config(first)
    if saved is None:
        raise ckpt.CheckpointError(first, "holds no config, so nothing says what model it is",
                                   corrupt=False)
    return config_from_dict(saved, args.overrides)


def _alternative(error: ckpt.CheckpointError) -> str:
    """A hint naming the run's previous.pth when a corrupt checkpoint has one beside it."""
    prev = os.path.join(os.path.dirname(os.path.abspath(error.path)), ckpt.PREVIOUS)
    if not error.corrupt or not os.path.isfile(prev) or os.path.abspath(error.path) == prev:
        return ""
    return f"\nthe run's previous checkpoint may be intact: --checkpoint {prev}"


def _pct(mean, std) -> str:
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def print_summary(out) -> None:
    """Each fold, then the mean ± sample standard deviation over the folds."""
    for fold, m in out["folds"].items():
        print(f"fold {fold}: top1 {100 * m['top1']:.2f}  top5 {100 * m['top5']:.2f}  "
              f"mean class acc {100 * m['mean_class_acc']:.2f}  ({m['num_videos']} videos)")
    mean, std = out["mean"], out["std"]
    print(f"mean ± std over {out['num_folds']} folds: top1 {_pct(mean['top1'], std['top1'])}  "
          f"top5 {_pct(mean['top5'], std['top5'])}  "
          f"mean class acc {_pct(mean['mean_class_acc'], std['mean_class_acc'])}")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load(args)
        check_folds(cfg, args.folds)
        paths = fold_paths(args.checkpoint, args.folds or [cfg.data.fold])
    except ckpt.CheckpointError as e:
        print(f"error: {e}{_alternative(e)}", file=sys.stderr)
        return 2
    except (ConfigError, OSError, ValueError) as e:  # AnnotationError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    out_dir = args.output_dir or os.path.dirname(os.path.abspath(fill_fold(args.checkpoint, "all")))
    try:
        out = run.test(cfg, paths, out_dir, args.folds,
                       progress=False if args.no_progress else None)
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
        print_summary(out)
    if du.is_main() and out_dir:
        scores = [os.path.basename(m["scores_file"]) for m in out["folds"].values()
                  if m.get("scores_file")]
        print(f"wrote {os.path.join(out_dir, 'test_results.json')}; per-video scores: "
              f"{', '.join(scores)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
