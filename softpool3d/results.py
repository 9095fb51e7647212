"""The record of one training run, ``results.json``: :class:`RunResult` (and :class:`TestResult`, its
final multi-view test). Every key of the file is defined here once, with its type and meaning;
softpool3d/engine/run.py builds the record at the end of a training and writes it, softpool3d/report.py
reads it, and the list of keys in docs/CONTRACTS.md is generated from it (``python -m
softpool3d.results docs/CONTRACTS.md`` rewrites it; tests/test_results_record.py fails when the two
disagree).

The file is flat: the test's keys stand between ``final_train_loss`` and ``skipped_videos``, present
only when the run was tested (``test.enabled``). Writing keeps the keys in field order and uses the
project's one atomic JSON writer (softpool3d/_files.py). Reading is tolerant: a key missing from a
file (one written before the key existed, or by hand) reads as None, and keys this version does not
know are kept in ``extra`` (written back after the known ones); a key of the wrong JSON type is a
ValueError."""
from __future__ import annotations

import dataclasses
import json
import re
import sys
import typing
from typing import Any, Dict, List, Optional, Union

from ._files import atomic_write_json, atomic_write_text

__all__ = ["RunResult", "TestResult", "fields_markdown", "looks_like_results", "update_doc"]

TESTED = "when tested"
RANK0 = "when tested, rank 0"


def _key(doc: str, when: Optional[str] = None):
    """A key of ``results.json``: its one-line meaning and when it is written (None: always)."""
    return dataclasses.field(default=None, metadata={"doc": doc, "when": when})


def _internal():
    """An attribute of the record that is no key of the file."""
    return dataclasses.field(default=None, compare=False, repr=False, metadata={"json": False})


@dataclasses.dataclass
class TestResult:
    """The final multi-view test of a run (the keys from ``top1`` to ``checkpoint``)."""
    __test__ = False  # not a pytest test class
    top1: float = _key("test top-1 accuracy over videos, a fraction in [0, 1]", TESTED)
    top5: float = _key("test top-5 accuracy, a fraction", TESTED)
    mean_class_acc: float = _key("test accuracy averaged over classes, a fraction", TESTED)
    num_videos: int = _key("test videos scored (each counted once over the ranks)", TESTED)
    num_views: int = _key("views per test video (clips x crops)", TESTED)
    skipped: int = _key("distinct test videos that could not be read", TESTED)
    scores_file: str = _key("path of the per-video scores (`test_scores.npz`)", RANK0)
    checkpoint: Optional[str] = _key("checkpoint file tested; null: the weights as trained",
                                     TESTED)

    @classmethod
    def from_metrics(cls, metrics: Dict[str, Any]) -> "TestResult":
        """From the metrics of ``engine.run.test_checkpoint``."""
        return cls(**{f.name: metrics.get(f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass
class RunResult:
    """One training run's ``results.json`` (module docstring)."""
    model: str = _key("model registry name (`model.name`)")
    pool: str = _key("pooling method (`model.pool`; `original`: the published pools)")
    dataset: str = _key("dataset name (`data.name`)")
    pool_sites: Union[str, List[str]] = _key(
        "where the pools were replaced (`model.pool_sites`); null in older files: `all`")
    pool_swaps: Dict[str, str] = _key(
        "`{module: \"old -> new\"}` for each pooling module the run replaced")
    fold: int = _key("split fold trained and tested (`data.fold`)")
    epochs: int = _key("epochs trained (a resumed run counts its earlier epochs)")
    best_val_top1: Optional[float] = _key(
        "best validation top-1 over the epochs, a fraction; null without validation")
    final_train_loss: Optional[float] = _key(
        "mean training loss of the last epoch; null when no epoch ran")
    test: Optional[TestResult] = dataclasses.field(
        default=None, metadata={"flatten": TestResult})
    skipped_videos: Dict[str, int] = _key(
        "distinct unreadable videos per split (`train`, `val`, `test`) and `total`")
    bad_videos: List[Dict[str, Any]] = _key(
        "each unreadable video: `{path, reason, splits}`")
    substitutions: Dict[str, int] = _key(
        "times an unreadable video was replaced, per split (`train`, `val`, `test`)")
    resumes: List[Dict[str, Any]] = _key(
        "each resume that changed the config: `{epoch, changed}`")
    train_time_s: float = _key("seconds spent in training epochs (over all resumes)")
    wall_time_s: float = _key("seconds from the start of this process to the end of the test")
    peak_memory: Dict[str, Any] = _key(
        "the *process's peak* `{kind, bytes}` (`kind`: `cpu_peak_rss` or "
        "`cuda_max_memory_allocated`), the largest over the ranks; not a profile's step peak")
    world_size: int = _key("number of ranks (processes) that trained")
    device: str = _key("device name (rank 0's)")
    ddp_weights_identical: bool = _key("whether every rank ended with the same weights")
    weights_sha1: str = _key("SHA-1 of the final weights (rank 0's)")
    history: List[Dict[str, Any]] = _key(
        "per epoch: `{epoch, train: {loss, top1, clips, lr, time_s, ...}, val: {...}}`")
    config: Dict[str, Any] = _key("the resolved config the run trained with")
    git_commit: Optional[str] = _key(
        "commit of the git checkout around the working directory; null outside one")
    versions: Dict[str, str] = _key("versions of Python and the main packages")
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict, compare=False,
                                              metadata={"json": False})
    source: Optional[str] = _internal()  # the file it was read from

    # ---------------------------------------------------------------------------- writing
    def to_dict(self) -> Dict[str, Any]:
        """The keys of ``results.json`` in order (those of the test only when tested), then
        ``extra``."""
        out: Dict[str, Any] = {}
        for f in _json_fields(RunResult):
            if f.metadata.get("flatten"):
                if self.test is not None:
                    out.update((g.name, getattr(self.test, g.name))
                               for g in _json_fields(TestResult)
                               if getattr(self.test, g.name) is not None
                               or g.metadata["when"] != RANK0)
            else:
                out[f.name] = getattr(self, f.name)
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        return out

    def to_json(self, path: str) -> None:
        """Write ``path`` atomically (softpool3d._files.atomic_write_json)."""
        atomic_write_json(self.to_dict(), path)

    # ---------------------------------------------------------------------------- reading
    @classmethod
    def from_dict(cls, data: Dict[str, Any], source: Optional[str] = None) -> "RunResult":
        """A record from the keys of a ``results.json`` (module docstring: missing keys read as
        None, unknown ones go to ``extra``; ValueError for a key of the wrong type)."""
        if not isinstance(data, dict):
            raise ValueError(f"a results record is a JSON object, not {type(data).__name__}")
        hints = _hints()
        for f in _flat_fields():
            value = data.get(f.name)
            if value is not None and not _is(value, hints[f.name]):
                raise ValueError(f"results key {f.name!r}: expected {f.type}, got "
                                 f"{type(value).__name__}")
        test_keys = [f.name for f in _json_fields(TestResult)]
        test = TestResult(**{k: data.get(k) for k in test_keys}) \
            if any(k in data for k in test_keys) else None
        own = {f.name: data.get(f.name) for f in _json_fields(cls) if not f.metadata.get("flatten")}
        return cls(**own, test=test, extra={k: v for k, v in data.items() if k not in KEYS},
                   source=source)

    @classmethod
    def from_json(cls, path: str) -> "RunResult":
        """Read ``path`` (OSError, ValueError for a file that is not a results record)."""
        with open(path) as f:
            return cls.from_dict(json.load(f), source=path)

    def value(self, key: str) -> Any:
        """The value under ``key`` of the file (the test's keys included; None where the record
        has none). KeyError for a name that is no key of ``results.json``."""
        if key not in KEYS:
            raise KeyError(f"{key!r} is not a key of results.json")
        if key in _TEST_KEYS:
            return None if self.test is None else getattr(self.test, key)
        return getattr(self, key)


def _json_fields(cls) -> List[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("json", True)]


def _flat_fields() -> List[dataclasses.Field]:
    """The fields of ``results.json`` in file order (the test's in its place)."""
    out = []
    for f in _json_fields(RunResult):
        out += _json_fields(TestResult) if f.metadata.get("flatten") else [f]
    return out


KEYS = tuple(f.name for f in _flat_fields())  # every key of results.json, in file order
_TEST_KEYS = frozenset(f.name for f in _json_fields(TestResult))


def looks_like_results(data: Any) -> bool:
    """Whether a JSON document is meant as a ``results.json`` (it has a test's ``top1`` or the
    run's ``config``), as opposed to a profile or some other JSON file."""
    return isinstance(data, dict) and ("top1" in data or "config" in data)


def _is(value: Any, tp: Any) -> bool:
    """Whether a JSON value fits the annotation ``tp`` (containers checked one level deep)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if origin is Union:
        return any(_is(value, a) for a in args)
    if tp is type(None):
        return value is None
    if origin in (list, dict):
        return isinstance(value, origin)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _hints() -> Dict[str, Any]:
    """The annotations of every key, evaluated."""
    return {**typing.get_type_hints(RunResult), **typing.get_type_hints(TestResult)}


# ------------------------------------------------------------------------------ the document
DOC_BEGIN = ("<!-- results.json keys: generated from softpool3d/results.py by "
             "`python -m softpool3d.results docs/CONTRACTS.md`; do not edit by hand -->")
DOC_END = "<!-- end of results.json keys -->"


def fields_markdown() -> str:
    """The table of ``results.json`` keys (key, type, when written, meaning) for the docs."""
    lines = ["| key | type | written | meaning |", "|---|---|---|---|"]
    for f in _flat_fields():  # the type as the class spells it (a string: postponed annotations)
        lines.append(f"| `{f.name}` | `{f.type}` | "
                     f"{f.metadata['when'] or 'always'} | {f.metadata['doc']} |")
    return "\n".join(lines)


def doc_block() -> str:
    return f"{DOC_BEGIN}\n{fields_markdown()}\n{DOC_END}"


def update_doc(path: str, check: bool = False) -> bool:
    """Replace the generated block of ``path`` with the current table (``check``: only compare).
    Returns whether the file already held it; ValueError where the file has no such block."""
    with open(path) as f:
        text = f.read()
    pattern = re.compile(re.escape(DOC_BEGIN) + r".*?" + re.escape(DOC_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path}: no block between {DOC_BEGIN!r} and {DOC_END!r}")
    new = pattern.sub(lambda _: doc_block(), text, count=1)
    if new != text and not check:
        atomic_write_text(path, new)
    return new == text


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m softpool3d.results DOC.md  (rewrites its results.json table)",
              file=sys.stderr)
        sys.exit(2)
    print(f"{sys.argv[1]}: " + ("up to date" if update_doc(sys.argv[1]) else "updated"))
