"""The generated dataset is the same bytes every time: the same seed in another process gives
identical video files (x264's mbtree made them differ by up to 50 grey levels once decoded, so the
demo's "same seed" runs trained on different data)."""
import hashlib
import subprocess
import sys

GENERATE = """
import sys
from softpool3d.datasets import synthetic
synthetic.generate(sys.argv[1], seed=0, num_classes=8, train_per_class=2, test_per_class=1,
                   workers=1, progress=False)
"""


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.mp4"))}


def test_same_seed_gives_identical_videos_across_processes(tmp_path):
    roots = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for root in roots:  # separate processes: nothing shared but the code
        subprocess.run([sys.executable, "-c", GENERATE, str(root)], check=True)
    first = _digests(roots[0])
    assert len(first) == 24
    for root in roots[1:]:
        assert _digests(root) == first
