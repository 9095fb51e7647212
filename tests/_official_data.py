"""Tiny UCF-101 / HMDB-51 copies in the layouts their official archives unpack to, with all three
splits, made of real encoded videos (MPEG-4 .avi, as in the archives), and a tiny "Kinetics
pretrained" checkpoint in pytorchvideo's hub format. Shared by test_test_tool and
test_finetune_guide."""
from pathlib import Path

import numpy as np
import torch

from softpool3d.datasets.encode import write_video

UCF_CLASSES = ("ApplyEyeMakeup", "Archery", "YoYo")
HMDB_CLASSES = ("brush_hair", "jump", "wave")


def clip(path, seed, frames=8, height=48, width=64):
    """A short real .avi: a bright square whose position depends on ``seed``, on noise."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 60, (frames, height, width, 3), dtype=np.uint8)
    y, x = rng.integers(0, height - 16), rng.integers(0, width - 16)
    for t in range(frames):
        video[t, y:y + 16, (x + t) % (width - 16):(x + t) % (width - 16) + 16] = 230
    return write_video(path, video, codec="mpeg4", crf=3)


def ucf101_unpacked(root, classes=UCF_CLASSES, groups=3, clips=1):
    """``root/UCF-101/<Class>/v_<Class>_gXX_cYY.avi`` (UCF101.rar) beside ``root/ucfTrainTestlist/``
    (UCF101TrainTestSplits-RecognitionTask.zip): classInd.txt, trainlist0k.txt / testlist0k.txt
    for k = 1..3 with CRLF line ends; split k tests the groups g with g % 3 == k % 3 (the official
    lists test groups 1-7, 8-14, 15-21). Returns ``root``."""
    root = Path(root)
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_text(
        "".join(f"{i} {c}\r\n" for i, c in enumerate(classes, 1)), newline="")
    train = {k: [] for k in (1, 2, 3)}
    test = {k: [] for k in (1, 2, 3)}
    n = 0
    for i, c in enumerate(classes, 1):
        for g in range(1, groups + 1):
            for cc in range(1, clips + 1):
                rel = f"{c}/v_{c}_g{g:02d}_c{cc:02d}.avi"
                clip(root / "UCF-101" / rel, seed=n)
                n += 1
                for k in (1, 2, 3):
                    if g % 3 == k % 3:
                        test[k].append(f"{rel}\r\n")
                    else:
                        train[k].append(f"{rel} {i}\r\n")
    for k in (1, 2, 3):
        (lists / f"trainlist{k:02d}.txt").write_text("".join(train[k]), newline="")
        (lists / f"testlist{k:02d}.txt").write_text("".join(test[k]), newline="")
    return root


def hmdb51_unpacked(root, classes=HMDB_CLASSES, videos=3):
    """``root/<class>/<name>.avi`` (the class archives inside hmdb51_org.rar) beside
    ``root/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt`` (test_train_splits.rar):
    ``name.avi code`` lines, code 1 train, 2 test, 0 unused; split k tests video k - 1 of each class.
    Returns ``root``."""
    root = Path(root)
    lists = root / "testTrainMulti_7030_splits"
    lists.mkdir(parents=True, exist_ok=True)
    n = 0
    for c in classes:
        names = [f"{c}_example_u_nm_np1_fr_med_{v}.avi" for v in range(videos)]
        for name in names:
            clip(root / c / name, seed=100 + n)
            n += 1
        for k in (1, 2, 3):
            (lists / f"{c}_test_split{k}.txt").write_text(
                "".join(f"{name} {2 if v == k - 1 else 1} \n" for v, name in enumerate(names)))
    return root


def hub_checkpoint(path, model_name, num_classes=400, **build_kwargs):
    """A pytorchvideo model-zoo style file (``{"model_state": state_dict}``, as in
    SLOW_8x8_R50.pyth) of ``model_name`` built for ``num_classes`` (Kinetics-400: 400) with random
    weights. Returns the state dict."""
    from softpool3d.models import build_model
    torch.manual_seed(1234)
    model = build_model(model_name, num_classes, **build_kwargs)
    state = model.state_dict()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_state": state}, path)
    return state
