"""The two pipelines behind the tools: ``train`` (train, checkpoint, resume, final multi-view test,
``results.json``) and ``test`` (multi-view evaluation of a checkpoint)."""
from __future__ import annotations

import copy
import dataclasses
import os
import statistics
import time
from typing import Dict, Iterable, Optional, Union

import torch
from torch.nn.parallel import DistributedDataParallel

from softpool3d.config import ConfigError, resolve_dict_paths, save_config, to_dict
from softpool3d.results import RunResult, TestResult

from . import compose
from . import checkpoint as ckpt
from . import confusion
from . import distributed as du
from . import resume as resume_rules
from . import runinfo
from . import testconfig
from . import runlock
from .badvideos import BadVideos
from .evaluate import evaluate, save_video_scores
from .._files import atomic_write_json
from .logger import log_test, results_metrics
from .optim import build_optimizer, build_scheduler, follow_config
from .trainer import (TrainState, effective_batch, fit, load_train_state, seed_all,
                      steps_per_epoch, weights_digest)


def _main_print(text: str) -> None:
    if du.is_main():
        print(text, flush=True)


def _load_resume(out_dir: str, resume: Union[bool, str, None]):
    """``(state, path)`` to resume from, or None. ``resume``: a checkpoint path, True (the output
    folder's checkpoint, which must exist), ``"auto"``/None (the folder's checkpoint if present:
    ``last.pth``, or ``previous.pth`` when ``last.pth`` is corrupt) or False (start fresh)."""
    if resume is False:
        return None
    if isinstance(resume, str) and resume != "auto":
        return ckpt.load_training_state(resume), resume
    found = ckpt.load_latest(out_dir, warn=_main_print)
    if resume is True and found is None:
        raise FileNotFoundError(f"--resume: no {ckpt.LAST} in {out_dir}")
    return found


def _agree_resume(out_dir: str, resume: Union[bool, str, None]):
    """``_load_resume`` agreed over the ranks, which need not share a filesystem (each node may have
    its own ``out_dir``, where only rank 0 wrote): the newest checkpoint any rank can read, sent to
    every rank from the lowest rank that read it. A checkpoint error on any rank stops every rank;
    a missing checkpoint is an error only when no rank has it."""
    if not du.is_dist():
        return _load_resume(out_dir, resume)
    found, error = None, None
    try:
        found = _load_resume(out_dir, "auto" if resume is True else resume)
    except ckpt.CheckpointError as e:
        error = (e.path, e.reason, e.unsafe)
    except FileNotFoundError:  # an explicit path that this node lacks
        pass
    views = du.all_gather_object((error, None if found is None else int(found[0]["epoch"])))
    errors = [e for e, _ in views if e is not None]
    if errors:
        raise ckpt.CheckpointError(*errors[0])
    epochs = [epoch for _, epoch in views]
    if all(epoch is None for epoch in epochs):
        if resume is True:
            raise FileNotFoundError(f"--resume: no {ckpt.LAST} in {out_dir} on any node")
        if isinstance(resume, str) and resume != "auto":
            raise FileNotFoundError(f"no such checkpoint on any node: {resume}")
        return None
    src = max(range(len(epochs)), key=lambda r: (epochs[r] is not None, epochs[r] or 0, -r))
    if du.rank() != src:
        found = None  # free this rank's copy before receiving src's
    return du.broadcast_object(found, src=src)


def _summary(metrics: Dict) -> Dict:
    return {k: metrics[k] for k in ("top1", "top5", "mean_class_acc", "num_videos", "num_views",
                                    "skipped", "scores_file") if k in metrics}


def train(cfg, output_dir: Optional[str] = None, resume: Union[bool, str, None] = "auto",
          allow_changes: Iterable[str] = ()) -> Optional[Dict]:
    """Train ``cfg`` (one process, or one rank under torchrun), then test; rank 0 writes
    ``config.yaml``, checkpoints, ``metrics.jsonl``, TensorBoard logs, ``results.json``.
    Returns the results dict (on every rank). A resume must keep the checkpoint's config except
    for ``resume.MAY_CHANGE`` and ``allow_changes`` (ConfigError otherwise). Raises
    NonFiniteLossError on a NaN/inf loss, CheckpointError on an unusable checkpoint,
    StalledRankError when another rank stops answering for ``train.dist_timeout_s``."""
    wall0 = time.time()
    compose.resolve(cfg)
    device = du.pick_device(cfg.train.device)
    try:
        du.init(device, cfg.train.dist_timeout_s)
        return _train(cfg, device, wall0, output_dir, resume, allow_changes)
    except RuntimeError as e:
        _raise_if_stalled(e, cfg, "The last checkpoint is kept; rerun the same command to resume.")
        raise
    finally:
        du.shutdown()


def _raise_if_stalled(error: RuntimeError, cfg, then: str) -> None:
    """StalledRankError with a clear message when ``error`` is a collective that timed out."""
    if du.is_timeout(error):
        rank = os.environ.get("RANK", du.rank())
        raise du.StalledRankError(
            f"rank {rank}: another rank did not answer within train.dist_timeout_s="
            f"{cfg.train.dist_timeout_s:g} s (it stalled or died; see its log), so the run "
            f"stopped. {then} [{' '.join(str(error).split())[:160]}]") from None


def _train(cfg, device, wall0, output_dir, resume, allow_changes) -> Dict:
    """The run folder locked (one training per folder: a second one stops here, before it reads
    or writes anything in it), then ``_train_locked``."""
    out_dir = os.path.abspath(output_dir or cfg.train.output_dir or compose.default_output_dir(cfg))
    agree = (lambda error: du.broadcast_object(error, src=0)) if du.is_dist() else None
    with runlock.hold(out_dir, main=du.is_main(), agree=agree):
        return _train_locked(cfg, device, wall0, out_dir, resume, allow_changes)


def _start_fresh(out_dir: str) -> None:
    """``--fresh``: remove what an earlier run wrote into ``out_dir`` (nothing of it is mixed into
    the new run's files) and say so."""
    removed, kept = runlock.clear_run(out_dir)
    if removed:
        print(f"a fresh start in {out_dir}: removed the earlier run's {', '.join(removed)}"
              + (f" (left in place, not written by a training: {', '.join(kept)})" if kept else ""),
              flush=True)


def _train_locked(cfg, device, wall0, out_dir, resume, allow_changes) -> Dict:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    cfg.train.output_dir = out_dir
    seed_all(cfg.train.seed)
    # one process per filesystem builds what a dataset caches on disk; the others then read it
    train_ds = du.in_turn(lambda: compose.build_split(cfg, cfg.data.train_split, "train"))
    if cfg.model.num_classes is None:
        cfg.model.num_classes = train_ds.num_classes
    num_classes = cfg.model.num_classes
    val_ds = du.in_turn(lambda: compose.build_split(cfg, cfg.data.val_split, "val", views=(1, 1))) \
        if cfg.train.eval_every else None
    # every split the run will read, checked now rather than after the training
    compose.check_run_splits(cfg, train_ds, val_ds, main=du.is_main())
    model = compose.build_model(cfg, num_classes).to(device)
    if du.world_size() > 1:
        if cfg.model.sync_bn and device.type == "cuda":  # SyncBatchNorm is CUDA-only
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = DistributedDataParallel(model, device_ids=[device.index]
                                        if device.type == "cuda" else None)
    train_loader = compose.train_loader(cfg, train_ds, device)
    val_loader = compose.eval_loader(cfg, val_ds, device) if val_ds is not None else None
    steps = steps_per_epoch(cfg, train_loader)
    if steps == 0:
        raise ConfigError(f"config key 'train.batch_size': no training batches: {len(train_ds)} "
                          f"clips, batch size {cfg.train.batch_size} x {du.world_size()} ranks")
    optimizer = build_optimizer(model, cfg.optim, effective_batch(cfg))
    scheduler = build_scheduler(optimizer, cfg.optim, steps)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.amp == "fp16"
                                  and device.type == "cuda")
    state = TrainState()
    config_dict = to_dict(cfg)
    found = _agree_resume(out_dir, resume)
    if found:
        blob, path = found
        # paths compared resolved: a relative one of an older checkpoint against this directory
        changes = resume_rules.check(path, resolve_dict_paths(blob.get("config")), config_dict,
                                     int(blob["epoch"]), allow_changes)
        ckpt.restore(blob, model, optimizer, scheduler, scaler, du.rank(), du.world_size(),
                     path=path)
        follow_config(scheduler, cfg.optim, steps, effective_batch(cfg))
        state = load_train_state(blob)
        if changes:
            state.resumes.append({"epoch": state.epoch, "changed": changes})
        _main_print(f"resumed from {path} (epoch {state.epoch}/{cfg.optim.epochs})"
                    + (f"; changed: {', '.join(changes)}" if changes else ""))
    if du.is_main():
        if cfg.train.amp != "none" and device.type != "cuda":
            print(f"note: train.amp={cfg.train.amp} applies on CUDA only; running in float32",
                  flush=True)
        os.makedirs(out_dir, exist_ok=True)
        if not found:  # a fresh start: nothing of an earlier run in this folder is kept
            _start_fresh(out_dir)
        save_config(cfg, os.path.join(out_dir, "config.yaml"))
        print(f"training {cfg.model.name} pool={cfg.model.pool} on {cfg.data.name} "
              f"({len(train_ds)} clips, {num_classes} classes) on {device}"
              f"{f' x {du.world_size()} ranks' if du.world_size() > 1 else ''} -> {out_dir}",
              flush=True)
    state = fit(cfg, model, optimizer, scheduler, scaler, train_loader, val_loader, device,
                out_dir, num_classes, state, config_dict)
    train_s = state.elapsed_s
    digests = du.all_gather_object(weights_digest(model))

    # results.json: the record's keys and their meaning are softpool3d/results.py's
    results = RunResult(
        model=cfg.model.name, pool=cfg.model.pool, dataset=cfg.data.name,
        pool_sites=cfg.model.pool_sites,
        pool_swaps=dict(getattr(ckpt.unwrap(model), "pool_swaps", {})),
        fold=cfg.data.fold, epochs=state.epoch, best_val_top1=state.best_metric,
        final_train_loss=state.history[-1]["train"]["loss"] if state.history else None)
    bad = BadVideos(state.bad_videos)
    if cfg.test.enabled:
        test = test_checkpoint(cfg, model, device, out_dir, checkpoint=cfg.test.checkpoint,
                               known_bad=bad)
        bad.add("test", test["bad_videos"], test["substitutions"])
        results.test = TestResult.from_metrics(test)
        if du.is_main():  # TensorBoard's test/ tags and a "test" record in metrics.jsonl
            log_test(out_dir, state.epoch, results_metrics(test), cfg.train.tensorboard)
    mems = du.all_gather_object(runinfo.peak_memory(device))
    results = dataclasses.replace(
        results, skipped_videos=bad.counts(), bad_videos=bad.listing(),
        substitutions={s: bad.substitutions.get(s, 0) for s in ("train", "val", "test")},
        resumes=state.resumes, train_time_s=round(train_s, 3),
        wall_time_s=round(time.time() - wall0, 3),
        peak_memory=max(mems, key=lambda m: m["bytes"]), world_size=du.world_size(),
        device=runinfo.device_name(device),
        ddp_weights_identical=len(set(digests)) == 1, weights_sha1=digests[0],
        history=state.history, config=config_dict, git_commit=runinfo.git_commit(),
        versions=runinfo.package_versions())
    if du.is_main():
        results.to_json(os.path.join(out_dir, "results.json"))
        if bad.videos:
            print(f"bad videos: {len(bad.videos)} distinct (listed in results.json), "
                  f"{sum(bad.substitutions.values())} substitutions", flush=True)
    return results.to_dict()


def test_checkpoint(cfg, model, device, out_dir: Optional[str], checkpoint: str = "last",
                    fold: Optional[int] = None, tag: str = "test",
                    known_bad: Optional[BadVideos] = None, state: Optional[Dict] = None,
                    progress: Optional[bool] = None) -> Dict:
    """Load the run folder's checkpoint ``checkpoint`` (``last``/``best``: ``out_dir/last.pth``,
    never a file of that name elsewhere) or a checkpoint path into ``model`` (``state``: that
    file already loaded) and run the multi-view test of ``cfg`` (videos in ``known_bad`` are
    not tried again); rank 0 writes ``<tag>_confusion.csv/.png`` and the per-video scores
    ``<tag>_scores.npz`` (``save_video_scores``; also returned under ``videos``)."""
    if checkpoint in ckpt.RUN_NAMES:
        path = ckpt.in_run(out_dir, checkpoint) if out_dir else None
    else:
        path = checkpoint
    have = path is not None and os.path.isfile(path)
    if have:
        blob = state if state is not None else ckpt.load_training_state(path)
        ckpt.load_weights(model, blob["model"], path)
    holders = du.all_gather_object(have)  # nodes without the file (no shared filesystem) get
    if any(holders):                       # the weights from the lowest rank that has it
        src = holders.index(True)
        du.broadcast_state(ckpt.unwrap(model), src=src)
        path = du.broadcast_object(path, src=src)
    else:
        _main_print(f"warning: no checkpoint {path or checkpoint}; testing the current weights")
        path = None
    ds = du.in_turn(lambda: compose.build_split(cfg, cfg.data.test_split, "test", fold=fold))
    if known_bad is not None:
        known_bad.push([ds])
    loader = compose.eval_loader(cfg, ds, device)
    t0 = time.perf_counter()
    metrics = evaluate(ckpt.unwrap(model), loader, device, cfg.model.num_classes or ds.num_classes,
                       cfg.train.amp, cfg.test.average, progress=progress, desc=tag,
                       per_video=True)
    metrics["time_s"] = time.perf_counter() - t0
    metrics["checkpoint"] = path
    metrics["classes"] = list(ds.classes)
    if du.is_main():
        print(f"{tag}: top1 {100 * metrics['top1']:.2f}  top5 {100 * metrics['top5']:.2f}  "
              f"mean class acc {100 * metrics['mean_class_acc']:.2f}  ({metrics['num_videos']} "
              f"videos x {metrics['num_views']} views; {metrics['skipped']} bad videos, "
              f"{metrics['substitutions']} substitutions)", flush=True)
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            confusion.write(metrics["confusion"], list(ds.classes),
                            os.path.join(out_dir, f"{tag}_confusion"),
                            f"{cfg.model.name} pool={cfg.model.pool} {cfg.data.name} {tag}")
            scores_file = os.path.join(out_dir, f"{tag}_scores.npz")
            save_video_scores(scores_file, metrics["videos"], [r.path for r in ds.records],
                              list(ds.classes), cfg.test.average, fold)
            metrics["scores_file"] = scores_file
    return metrics


def _without_init(cfg):
    """A copy of ``cfg`` without ``model.init_checkpoint``: a model about to receive a trained
    checkpoint's weights must not load (or need) the pretrained file it started from."""
    bare = copy.deepcopy(cfg)
    bare.model.init_checkpoint = None
    return bare


def fold_stats(per_fold: Dict, keys=("top1", "top5", "mean_class_acc")) -> Dict[str, Dict]:
    """``{"mean": {key: mean over folds}, "std": {key: sample standard deviation (n - 1) over
    folds, None for one fold}}``."""
    values = {k: [float(m[k]) for m in per_fold.values()] for k in keys}
    return {"mean": {k: statistics.fmean(v) for k, v in values.items()},
            "std": {k: statistics.stdev(v) if len(v) > 1 else None for k, v in values.items()}}


def _fold_paths(checkpoint, folds) -> Dict[int, str]:
    """``{fold: checkpoint file}`` from a ``{fold}`` template or such a dict (a run folder
    means its ``last.pth``)."""
    paths = {}
    for fold in folds:
        path = checkpoint[fold] if isinstance(checkpoint, dict) else checkpoint.format(fold=fold)
        paths[fold] = os.path.join(path, ckpt.LAST) if os.path.isdir(path) else path
    return paths


def _agree_configs(cfg, paths: Dict[int, str]) -> Dict[int, Dict]:
    """Before anything is evaluated: every fold's checkpoint config (read on the nodes that have
    the file, without its tensors) against ``cfg`` for that fold (``testconfig.check``: a
    contradiction is refused). Sets ``cfg.model.num_classes`` from the first checkpoint when the
    config leaves it open. Returns the accepted changes per fold."""
    mine = [ckpt.read_config(p) if not du.is_dist() or os.path.isfile(p) else False
            for p in paths.values()]
    views = du.all_gather_object(mine) if du.is_dist() else [mine]
    saved = {}
    for i, (fold, path) in enumerate(paths.items()):
        found = [v[i] for v in views if v[i] is not False]
        if not found:
            raise FileNotFoundError(f"no such checkpoint on any node: {path}")
        if found[0] is None:
            raise ckpt.CheckpointError(path, "holds no config, so nothing says what model it is",
                                       corrupt=False)
        saved[fold] = found[0]
    first = saved[next(iter(paths))]
    if cfg.model.num_classes is None:
        cfg.model.num_classes = first.get("model", {}).get("num_classes")
    changes = {}
    for fold, path in paths.items():
        cfg.data.fold = fold
        changes[fold] = testconfig.check(path, saved[fold], to_dict(cfg))
    return changes


def test(cfg, checkpoint, out_dir: Optional[str], folds=None,
         progress: Optional[bool] = None) -> Dict:
    """Evaluate a checkpoint (``{fold}`` in its path is replaced per fold, or ``{fold: path}``)
    on each fold; rank 0 writes ``test_results.json`` (+ confusion and per-video score files)
    into ``out_dir``. Every fold's checkpoint config is checked against ``cfg`` first
    (``testconfig.check``: the checkpoint decides what the model is; TestRefused otherwise).
    The model is built without ``model.init_checkpoint`` (the checkpoint replaces every weight).
    Returns per-fold metrics, their mean and sample standard deviation over the folds."""
    compose.resolve(cfg)
    device = du.pick_device(cfg.train.device)
    try:
        du.init(device, cfg.train.dist_timeout_s)
        folds = list(folds) if folds else [cfg.data.fold]
        paths = _fold_paths(checkpoint, folds)
        changes = _agree_configs(cfg, paths)
        if len(folds) > 1 and len(set(paths.values())) == 1 and du.is_main():
            print(f"warning: one checkpoint for folds {folds}: a model trained on one split is "
                  "tested on the others' test lists (put {fold} in --checkpoint)", flush=True)
        per_fold = {}
        model = None
        for fold in folds:
            cfg.data.fold = fold
            path = paths[fold]
            # every node that has the file reads it; test_checkpoint sends the weights to the others
            blob = ckpt.load_training_state(path) \
                if not du.is_dist() or os.path.isfile(path) else None
            holders = du.all_gather_object(blob is not None)
            if not any(holders):
                raise FileNotFoundError(f"no such checkpoint on any node: {path}")
            saved = du.broadcast_object((blob.get("config") or {}) if blob is not None else None,
                                        src=holders.index(True))
            num_classes = cfg.model.num_classes or saved.get("model", {}).get("num_classes")
            if num_classes is None:
                num_classes = du.in_turn(lambda: compose.build_split(
                    cfg, cfg.data.test_split, "test")).num_classes
            cfg.model.num_classes = num_classes
            if model is None:
                model = compose.build_model(_without_init(cfg), num_classes).to(device)
            tag = f"test_fold{fold}" if len(folds) > 1 else "test"
            per_fold[fold] = test_checkpoint(cfg, model, device, out_dir, path, fold=fold, tag=tag,
                                             state=blob, progress=progress)
            del blob
        stats = fold_stats(per_fold)
        out = {"model": cfg.model.name, "pool": cfg.model.pool, "dataset": cfg.data.name,
               "folds": {str(f): {**_summary(m), "checkpoint": m["checkpoint"],
                                  "confusion": m["confusion"], "config_changes": changes[f]}
                         for f, m in per_fold.items()},
               "mean": stats["mean"], "std": stats["std"], "num_folds": len(per_fold),
               "config": to_dict(cfg), "git_commit": runinfo.git_commit(),
               "versions": runinfo.package_versions()}
        if du.is_main() and out_dir:
            atomic_write_json(out, os.path.join(out_dir, "test_results.json"))
        return out
    except RuntimeError as e:
        _raise_if_stalled(e, cfg, "Rerun the same command.")
        raise
    finally:
        du.shutdown()
