"""Shared pieces of the end-to-end tests that train a real tiny model on generated videos: the
dataset, the overrides that keep a run to seconds, and ``train`` (tools/train.py in-process)."""
import os

import pytest
import torch

from softpool3d.cli import train as train_tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "synthetic", "r3d_tiny.yaml")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    from softpool3d.datasets import synthetic
    root = tmp_path_factory.mktemp("synthetic")
    # 2 classes x (3 train + 1 test) real H.264 clips of 8 frames, 40 px
    synthetic.generate(str(root), seed=0, num_classes=2, train_per_class=3, test_per_class=1,
                       frames=8, size=40, workers=1, progress=False)
    return str(root)


def overrides(root, *extra):
    return [f"data.root={root}", "data.crop_size=32", "data.train_scale=[32,36]",
            "data.test_scale=32", "data.test_crop_size=32", "data.workers=0", "data.num_clips=1",
            "train.batch_size=2", "optim.epochs=1", "train.tensorboard=false", "model.pool=max",
            *extra]


def train(root, out, *extra, config=CONFIG):
    """tools/train.py on the tiny recipe; ``extra`` are more overrides and flags."""
    torch.set_num_threads(1)
    return train_tool.main([config, *overrides(root), *extra, "--output-dir", str(out)])


def snapshot(folder):
    """``{relative path: bytes}`` of every file under ``folder`` (to show it was not touched)."""
    out = {}
    for d, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = fh.read()
    return out
