"""What a config may say to a checkpoint it tests: the checkpoint's own config decides what the
model is (name, pools, pool sites, classes, input geometry) and what it was trained on; a config
or override given to the test may change only where the data is and how the test views are made
and run. Any other difference is refused, listing each one, as a refused resume does."""
from __future__ import annotations

from typing import Any, Dict, List

from softpool3d.config import ConfigError

from .resume import MAY_CHANGE, _allowed, differences

# keys a test may set to other values than the checkpoint's config: where the data is and how it
# is read, how the test views are made and run, logging; the pretrained file a run started from
# (the checkpoint replaces every weight, so it is neither loaded nor needed)
TEST_MAY_CHANGE = tuple(MAY_CHANGE) + (
    "data.root", "data.decoder", "data.options.frame_cache", "data.options.decode_threads",
    "train.device", "train.amp", "model.init_checkpoint")


class TestRefused(ConfigError):
    """The config contradicts the tested checkpoint's own (the message lists how)."""

    __test__ = False  # not a pytest test class


def check(path: str, saved: Dict[str, Any], current: Dict[str, Any]) -> Dict[str, List[Any]]:
    """Refuse (:class:`TestRefused`) testing checkpoint ``path`` (its config ``saved``) with the
    config ``current`` when they differ in anything but :data:`TEST_MAY_CHANGE`. Returns the
    accepted changes ``{key: [checkpoint value, value now]}``."""
    diffs = differences(saved or {}, current)
    refused = {k: v for k, v in diffs.items() if not _allowed(k, TEST_MAY_CHANGE)}
    if refused:
        lines = "\n".join(f"  {k}: {old!r} in the checkpoint, {new!r} now"
                          for k, (old, new) in refused.items())
        hint = ""
        if "data.fold" in refused:
            hint = (" A checkpoint is tested on the fold it was trained on: put {fold} in "
                    "--checkpoint to test each fold's own run.")
        raise TestRefused(
            f"cannot test {path} with this config: it contradicts the checkpoint's own config, "
            f"which decides what the model is and what it was trained on:\n{lines}\n"
            "A test may only change " + ", ".join(k + ("*" if k.endswith(".") else "")
                                                  for k in TEST_MAY_CHANGE) + "."
            + hint + " Leave the config file out (the checkpoint's own config is used) and pass "
            "overrides of those keys only.")
    return {k: [old, new] for k, (old, new) in diffs.items()}
