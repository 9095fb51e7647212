"""softpool3d.results: the one record of results.json. Its keys are the ones (and in the order)
tools/train.py has always written, it writes and reads itself (older files without a key, unknown
keys, wrong types), docs/CONTRACTS.md's table is the record's, report.py reads through it, and a
real tiny training writes exactly what the record gives back."""
import json
import os

import pytest

from softpool3d import report
from softpool3d.results import KEYS, RunResult, TestResult, looks_like_results, update_doc
from _tiny_run import ROOT, train

# results.json's keys in the order softpool3d/engine/run.py writes them (the test's in the middle)
WRITTEN = ["model", "pool", "dataset", "pool_sites", "pool_swaps", "fold", "epochs",
           "best_val_top1", "final_train_loss",
           "top1", "top5", "mean_class_acc", "num_videos", "num_views", "skipped", "scores_file",
           "checkpoint",
           "skipped_videos", "bad_videos", "substitutions", "resumes", "train_time_s",
           "wall_time_s", "peak_memory", "world_size", "device", "ddp_weights_identical",
           "weights_sha1", "history", "config", "git_commit", "versions"]
TEST_KEYS = WRITTEN[WRITTEN.index("top1"):WRITTEN.index("checkpoint") + 1]


def _sample(**test):
    """A record as a tested run builds it (``test``: TestResult's values over the defaults)."""
    tested = dict(top1=0.75, top5=1.0, mean_class_acc=0.5, num_videos=4, num_views=2, skipped=0,
                  scores_file="/runs/a/test_scores.npz", checkpoint="/runs/a/last.pth")
    return RunResult(
        model="r3d_tiny", pool="soft", dataset="synthetic", pool_sites=["head", "global"],
        pool_swaps={"blocks.5.pool": "AvgPool3d -> SoftPool3d"}, fold=1, epochs=2,
        best_val_top1=None, final_train_loss=0.7, test=TestResult(**{**tested, **test}),
        skipped_videos={"train": 1, "val": 0, "test": 0, "total": 1},
        bad_videos=[{"path": "/v/x.mp4", "reason": "cannot decode", "splits": ["train"]}],
        substitutions={"train": 3, "val": 0, "test": 0},
        resumes=[{"epoch": 1, "changed": ["optim.epochs"]}], train_time_s=1.5, wall_time_s=3.25,
        peak_memory={"kind": "cpu_peak_rss", "bytes": 123}, world_size=1, device="cpu",
        ddp_weights_identical=True, weights_sha1="ab" * 20,
        history=[{"epoch": 1, "train": {"loss": 0.9, "top1": 0.5}}],
        config={"model": {"name": "r3d_tiny"}}, git_commit=None, versions={"torch": "2"})


def test_the_keys_are_the_ones_written_before_the_record_in_their_order():
    assert list(KEYS) == WRITTEN
    assert list(_sample().to_dict()) == WRITTEN


def test_the_file_is_what_the_project_json_writer_made_of_the_same_dict(tmp_path):
    record = _sample()
    path = tmp_path / "results.json"
    record.to_json(str(path))
    assert path.read_text() == json.dumps(record.to_dict(), indent=2, default=str)
    assert not [p for p in os.listdir(tmp_path) if p != "results.json"]  # no temporary left
    back = RunResult.from_json(str(path))
    assert back == record and back.source == str(path) and back.extra == {}


def test_an_untested_run_writes_no_test_key_and_rank_0_alone_names_the_scores_file():
    untested = _sample()
    untested.test = None
    assert list(untested.to_dict()) == [k for k in WRITTEN if k not in TEST_KEYS]
    other_rank = _sample(scores_file=None, checkpoint=None)  # the current weights tested
    keys = other_rank.to_dict()
    assert "scores_file" not in keys and keys["checkpoint"] is None
    assert list(keys) == [k for k in WRITTEN if k != "scores_file"]
    assert RunResult.from_dict(untested.to_dict()).test is None


def test_an_older_file_reads_with_the_keys_it_lacks_as_none_and_keeps_unknown_ones():
    old = {"model": "r3d_tiny", "pool": "max", "dataset": "synthetic", "top1": 0.5,
           "config": {"train": {"seed": 3}}, "num_classes": 4}  # no pool_sites, pool_swaps, ...
    record = RunResult.from_dict(old)
    assert record.pool_sites is None and record.pool_swaps is None and record.peak_memory is None
    assert record.value("top1") == 0.5 and record.value("num_views") is None
    assert record.extra == {"num_classes": 4}
    assert record.to_dict()["num_classes"] == 4 and list(record.to_dict())[-1] == "num_classes"
    assert looks_like_results(old) and not looks_like_results({"flops_per_view": 1.0})


@pytest.mark.parametrize("key, value", [("top1", "high"), ("epochs", 2.5), ("epochs", True),
                                        ("history", {}), ("pool_sites", 3)])
def test_a_key_of_the_wrong_type_is_refused_naming_it(key, value):
    with pytest.raises(ValueError, match=f"results key '{key}'"):
        RunResult.from_dict({"config": {}, key: value})


def test_value_knows_only_the_keys_of_the_file():
    record = _sample()
    assert record.value("top5") == 1.0 and record.value("pool") == "soft"
    with pytest.raises(KeyError, match="top_1"):
        record.value("top_1")


def test_the_contracts_doc_holds_the_table_the_record_generates():
    doc = os.path.join(ROOT, "docs", "CONTRACTS.md")
    assert update_doc(doc, check=True), \
        "docs/CONTRACTS.md disagrees with softpool3d/results.py: python -m softpool3d.results " \
        "docs/CONTRACTS.md"
    with open(doc) as f:
        rows = [line for line in f if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == WRITTEN
    peak = next(row for row in rows if row.startswith("| `peak_memory`"))
    assert "process's peak" in peak and "step peak" in peak


def test_report_reads_results_and_test_results_through_the_record(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _sample().to_json(str(run / "results.json"))
    (run / "test_results.json").write_text(json.dumps({"folds": {}, "mean": {"top1": 0.1}}))
    rerun = tmp_path / "published"
    rerun.mkdir()
    (rerun / "test_results.json").write_text(json.dumps(
        {"model": "r3d_tiny", "pool": "original", "dataset": "synthetic", "num_folds": 2,
         "folds": {"1": {"skipped": 1}, "2": {"skipped": 2}}, "mean": {"top1": 0.4, "top5": 0.9},
         "config": {}}))
    (tmp_path / "broken.json").write_text(json.dumps({"config": {}, "epochs": "two"}))
    results, profiles = report.load([str(tmp_path)])
    assert profiles == [] and all(isinstance(r, RunResult) for r in results)
    by_file = {os.path.relpath(r.source, tmp_path): r for r in results}
    assert sorted(by_file) == ["published/test_results.json", "run/results.json"]  # broken: out
    assert by_file["run/results.json"] == _sample()
    published = by_file["published/test_results.json"]
    assert (published.value("top1"), published.value("top5"), published.value("skipped")) == \
        (0.4, 0.9, 3)
    assert published.extra == {"num_folds": 2}


def test_a_real_training_writes_what_the_record_reads_back(data_root, tmp_path):
    out = tmp_path / "run"
    assert train(data_root, out) == 0
    text = (out / "results.json").read_text()
    record = RunResult.from_json(str(out / "results.json"))
    assert list(json.loads(text)) == WRITTEN and record.extra == {}
    assert json.dumps(record.to_dict(), indent=2, default=str) == text
    assert record.peak_memory["kind"] in ("cpu_peak_rss", "cuda_max_memory_allocated")
    assert record.peak_memory["bytes"] > 0
    assert record.test.checkpoint == str(out / "last.pth")
