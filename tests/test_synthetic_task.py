"""The embedded synthetic task is honest: only the order of frames decides between the two classes
of a pair, so a single frame (at a random time) or the mean frame carries no class information.

1. Construction: for the same random stream, each class of a pair renders the other one's frames in
   reverse order; the set of frames, hence the mean frame, is the same.
2. Measured on real decoded videos: a leave-one-out nearest-centroid classifier on mean frames, and
   on one random frame per video, stays at chance for every pair, while the same classifier finds
   a small static cue planted in one class (so the check can fail).
"""
import numpy as np
import pytest

from softpool3d.datasets import build_dataset, read_frames, synthetic

PAIRS = [("MoveRight", "MoveLeft"), ("MoveUp", "MoveDown"),
         ("RotateClockwise", "RotateCounterclockwise"), ("Approach", "Recede")]
PER_CLASS = 20


@pytest.mark.parametrize("a,b", PAIRS)
def test_pairs_are_time_reversals(a, b):
    for seed in range(3):
        va, ia = synthetic.render_clip(a, np.random.default_rng(seed), frames=12, size=40)
        vb, ib = synthetic.render_clip(b, np.random.default_rng(seed), frames=12, size=40)
        assert np.array_equal(va, vb[::-1]) and np.array_equal(ia["cx"], ib["cx"][::-1])
        assert not np.array_equal(va, vb)          # the order differs: that is the class
        assert np.array_equal(va.mean(0), vb.mean(0))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """{class name: [decoded video uint8 (T, H, W, 3)]} of a generated set."""
    root = tmp_path_factory.mktemp("task") / "syn"
    synthetic.generate(root, seed=11, num_classes=8, train_per_class=PER_CLASS, test_per_class=0,
                       frames=12, size=40, workers=2, progress=False)
    ds = build_dataset("synthetic", root, "train", num_frames=4, sampling_rate=2, crop_size=40)
    out = {}
    for rec in ds.records:
        out.setdefault(ds.classes[rec.label], []).append(read_frames(rec.path, np.arange(12)).numpy())
    return out


def _loo_nearest_centroid(x, y, k=3):
    """Leave-one-out accuracy of a nearest-centroid classifier on the ``k`` standardised features
    that best separate the classes in each training fold."""
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    correct = 0
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        a, b = x[keep & (y == 0)], x[keep & (y == 1)]
        score = np.abs(a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) + b.var(0) + 1e-6)
        top = np.argsort(score)[-k:]
        dist = [np.sum((x[i, top] - c.mean(0)[top]) ** 2) for c in (a, b)]
        correct += int(np.argmin(dist) == y[i])
    return correct / len(x)


def _features(frames):
    """8 x 8 x 3 block means of an (H, W, 3) image."""
    h, w, _ = frames.shape
    return frames.reshape(8, h // 8, 8, w // 8, 3).mean((1, 3)).ravel()


def test_single_and_mean_frames_carry_no_class_information(videos):
    rng = np.random.default_rng(0)
    n = 2 * PER_CLASS
    # chance is 0.5; under the null, P(accuracy >= 0.75) for 40 leave-one-out votes is ~0.1 %
    for a, b in PAIRS:
        vids = videos[a] + videos[b]
        y = np.array([0] * PER_CLASS + [1] * PER_CLASS)
        mean = np.stack([_features(v.mean(0)) for v in vids])
        single = np.stack([_features(v[rng.integers(len(v))].astype(np.float64)) for v in vids])
        acc_mean, acc_single = _loo_nearest_centroid(mean, y), _loo_nearest_centroid(single, y)
        assert acc_mean < 0.75 and acc_single < 0.75, (a, b, acc_mean, acc_single)
        # a small static cue (a 5 x 5 light patch, 1.6 % of the frame) in one class is found
        planted = [v.astype(np.float64).mean(0) for v in vids]
        for img in planted[PER_CLASS:]:
            img[:5, :5] = 200.0
        acc_cue = _loo_nearest_centroid(np.stack([_features(p) for p in planted]), y)
        assert acc_cue >= 0.85, (a, b, acc_cue)
        assert n == len(vids)
