"""Dataset roots as the archives unpack them and as mmaction2 keeps them (softpool3d.datasets.layout):
the loaders and tools/prepare_dataset.py find videos and lists without moving files, and say where
they looked when they find nothing. Small real videos (MPEG-4 .avi, H.264 .mp4) in tmp folders."""
import shutil

import pytest

from softpool3d.datasets import build_dataset
from softpool3d.datasets.encode import write_video
from softpool3d.datasets.synthetic import decode_frame_numbers, frame_number_video
from softpool3d.datasets.video_dataset import VideoDataset

SMALL = dict(num_frames=4, sampling_rate=1, crop_size=32, num_clips=1, num_crops=1)
UCF_CLASSES = ("Archery", "YoYo")
HMDB_CLASSES = ("jump", "wave")


def video(path, n=8):
    codec = "mpeg4" if str(path).endswith(".avi") else None
    return write_video(path, frame_number_video(n, 48, 64), codec=codec, crf=3 if codec else None)


def ucf101(root, videos="UCF-101", lists="ucfTrainTestlist"):
    """UCF-101 with videos under ``root/videos`` and lists under ``root/lists``; groups 1 test, 2 train."""
    (root / lists).mkdir(parents=True, exist_ok=True)
    (root / lists / "classInd.txt").write_text(
        "".join(f"{i} {c}\r\n" for i, c in enumerate(UCF_CLASSES, 1)))
    train, test = [], []
    for i, c in enumerate(UCF_CLASSES, 1):
        for g in (1, 2):
            rel = f"{c}/v_{c}_g{g:02d}_c01.avi"
            video(root / videos / rel)
            (test.append(f"{rel}\r\n") if g == 1 else train.append(f"{rel} {i}\r\n"))
    (root / lists / "trainlist01.txt").write_text("".join(train))
    (root / lists / "testlist01.txt").write_text("".join(test))
    return root


def hmdb51(root, videos=".", lists="testTrainMulti_7030_splits"):
    """HMDB-51: 3 videos per class, codes 1 (train), 2 (test), 0 (unused) for fold 1."""
    (root / lists).mkdir(parents=True, exist_ok=True)
    for c in HMDB_CLASSES:
        for i in range(3):
            video(root / videos / c / f"{c}_{i}.avi")
        (root / lists / f"{c}_test_split1.txt").write_text(
            "".join(f"{c}_{i}.avi {code} \n" for i, code in enumerate((1, 2, 0))))
    return root


def kinetics(root, csv_dir="annotations", csv_name="train", videos="train/{label}"):
    (root / csv_dir).mkdir(parents=True, exist_ok=True)
    rows = [("abseiling", "aaa"), ("riding a bike", "bbb")]
    (root / csv_dir / f"{csv_name}.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        + "".join(f'"{lab}",{y},0,10,train\n' for lab, y in rows))
    for lab, y in rows:
        video(root / videos.format(label=lab) / f"{y}_000000_000010.mp4")
    return root


def check(ds, n, classes):
    assert isinstance(ds, VideoDataset) and len(ds) == n and tuple(ds.classes) == classes
    assert ds[0]["video"].shape[-4:] == (3, 4, 32, 32)


# ----------------------------------------------------------------------------------- loaders
@pytest.mark.parametrize("videos,lists,root_at", [
    ("UCF-101", "ucfTrainTestlist", "."),         # UCF101.rar + the split zip, side by side
    ("UCF-101", "ucfTrainTestlist", "UCF-101"),   # root = the video folder, lists beside it
    ("videos", "annotations", "."),               # mmaction2
    (".", "ucfTrainTestlist", "."),               # prepared (tools/prepare_dataset.py output)
])
def test_ucf101_roots(tmp_path, videos, lists, root_at):
    ucf101(tmp_path, videos, lists)
    root = tmp_path / root_at
    test = build_dataset("ucf101", root, "test", **SMALL)
    check(test, 2, UCF_CLASSES)
    assert test.labels == [0, 1] and test.records[1].path.endswith("YoYo/v_YoYo_g01_c01.avi")
    assert build_dataset("ucf101", root, "train", **SMALL).labels == [0, 1]


@pytest.mark.parametrize("videos,lists", [(".", "testTrainMulti_7030_splits"),
                                          ("videos", "annotations"),
                                          ("hmdb51_org", "test_train_splits/testTrainMulti_7030_splits")])
def test_hmdb51_roots(tmp_path, videos, lists):
    hmdb51(tmp_path, videos, lists)
    test = build_dataset("hmdb51", tmp_path, "test", **SMALL)
    check(test, 2, HMDB_CLASSES)
    assert [r.path.rsplit("/", 1)[1] for r in test.records] == ["jump_1.avi", "wave_1.avi"]


@pytest.mark.parametrize("csv_dir,csv_name,videos", [
    ("annotations", "train", "train/{label}"),    # CVDF / official CSVs, label folders
    (".", "train", "train"),                      # CSV in the root, flat video folder
    ("annotations", "kinetics_train", "videos_train"),  # mmaction2
])
def test_kinetics_roots(tmp_path, csv_dir, csv_name, videos):
    kinetics(tmp_path, csv_dir, csv_name, videos)
    check(build_dataset("kinetics400", tmp_path, "train", **SMALL), 2,
          ("abseiling", "riding a bike"))


def test_loader_errors_name_the_folders_searched_and_an_expected_path(tmp_path):
    ucf = ucf101(tmp_path / "ucf")
    shutil.rmtree(ucf / "UCF-101")
    with pytest.raises(FileNotFoundError) as e:
        build_dataset("ucf101", ucf, "test", **SMALL)
    text = str(e.value)
    assert "no UCF-101 videos found" in text and "testlist01.txt" in text
    assert str(ucf / "UCF-101") in text and str(ucf / "videos") in text
    assert f"expected e.g. {ucf / 'UCF-101' / 'Archery' / 'v_Archery_g01_c01.avi'}" in text
    shutil.rmtree(ucf / "ucfTrainTestlist")
    with pytest.raises(FileNotFoundError) as e:
        build_dataset("ucf101", ucf, "test", **SMALL)
    assert "classInd.txt not found" in str(e.value) and str(ucf / "annotations") in str(e.value)
    assert f"expected e.g. {ucf / 'ucfTrainTestlist' / 'classInd.txt'}" in str(e.value)

    hmdb = tmp_path / "hmdb"
    hmdb.mkdir()
    with pytest.raises(FileNotFoundError, match=r"HMDB-51 split files '\*_test_split1\.txt'.*"
                       r"expected e\.g\. .*testTrainMulti_7030_splits/<class>_test_split1\.txt"):
        build_dataset("hmdb51", hmdb, "test", **SMALL)

    k = kinetics(tmp_path / "k")
    shutil.rmtree(k / "train")
    with pytest.raises(FileNotFoundError, match=r"no Kinetics videos found: none of the 2 clips .*"
                       r"expected e\.g\. .*train/abseiling/aaa_000000_000010\.mp4"):
        build_dataset("kinetics400", k, "train", **SMALL)
    with pytest.raises(FileNotFoundError, match=r"Kinetics val CSV validate\.csv not found; "
                       r"searched .*annotations.*also looked for val\.csv, kinetics_val\.csv"):
        build_dataset("kinetics400", k, "val", **SMALL)


# ------------------------------------------------------------------------------ prepare_dataset
def prepare(argv):
    from softpool3d.cli.prepare_dataset import main
    return main([str(a) for a in argv] + ["--workers", "1", "--short-side", "0"])


def test_prepare_official_and_mmaction2_layouts(tmp_path, capsys):
    ucf = ucf101(tmp_path / "ucf")
    assert prepare(["ucf101", ucf, tmp_path / "ucf_out"]) == 0
    assert "ucf101: 4 annotated videos found, 0 missing" in capsys.readouterr().out
    out = build_dataset("ucf101", tmp_path / "ucf_out", "test", **SMALL)
    assert out.records[0].path == str(tmp_path / "ucf_out/Archery/v_Archery_g01_c01.mp4")
    assert decode_frame_numbers(_frames(out.records[0].path)).tolist() == list(range(8))

    # the video folder as source, the lists given apart (--annotations works for every dataset)
    lists = tmp_path / "lists"
    shutil.move(str(ucf / "ucfTrainTestlist"), str(lists))
    assert prepare(["ucf101", ucf / "UCF-101", tmp_path / "ucf_out2", "--annotations", lists]) == 0
    assert (tmp_path / "ucf_out2/ucfTrainTestlist/testlist01.txt").read_text().splitlines() == \
        ["Archery/v_Archery_g01_c01.mp4", "YoYo/v_YoYo_g01_c01.mp4"]

    hmdb = hmdb51(tmp_path / "hmdb", "videos", "annotations")
    assert prepare(["hmdb51", hmdb, tmp_path / "hmdb_out"]) == 0
    check(build_dataset("hmdb51", tmp_path / "hmdb_out", "test", **SMALL), 2, HMDB_CLASSES)

    k = kinetics(tmp_path / "k", "annotations", "kinetics_train", "videos_train")
    assert prepare(["kinetics", tmp_path / "k" / "videos_train", tmp_path / "k_out",
                    "--annotations", k / "annotations"]) == 0
    check(build_dataset("kinetics400", tmp_path / "k_out", "train", **SMALL), 2,
          ("abseiling", "riding a bike"))


def _frames(path):
    import numpy as np
    from softpool3d.datasets import read_frames
    return read_frames(path, np.arange(8))


def test_prepare_usage_errors_exit_2_with_the_folders_searched(tmp_path, capsys):
    ucf = ucf101(tmp_path / "ucf")
    assert prepare(["ucf101", ucf / "UCF-101" / "Archery", tmp_path / "o"]) == 2
    err = capsys.readouterr().err
    assert "classInd.txt not found; searched" in err and "Traceback" not in err
    assert str(ucf / "UCF-101" / "Archery" / "ucfTrainTestlist") in err
    shutil.rmtree(ucf / "UCF-101")
    assert prepare(["ucf101", ucf, tmp_path / "o"]) == 2
    assert "no UCF-101 videos found" in capsys.readouterr().err
    (ucf / "ucfTrainTestlist" / "trainlist01.txt").write_text("Archery/v.avi 2\n")
    assert prepare(["ucf101", ucf, tmp_path / "o"]) == 2
    assert "trainlist01.txt:1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        prepare(["hmdb51", tmp_path / "nowhere", tmp_path / "o"])
    assert e.value.code == 2 and "does not exist" in capsys.readouterr().err
    assert prepare(["kinetics", tmp_path, tmp_path / "o2"]) == 2
    assert "no Kinetics CSVs" in capsys.readouterr().err
