"""`srcnn reproduce --budget quick` end to end on a tiny synthetic data folder: the report's structure,
its figures, its machine-readable scores, and the reuse of finished runs."""

import json
import logging
import math
import shutil

import pytest
from PIL import Image

from srcnn.apps.cli import main
from srcnn.study.reproduce import STUDY
from conftest import shapes_image, smooth_image

SECTIONS = ["# SRCNN reproduction report", "## Training runs", "## 1. Comparison", "## 2. Filter numbers",
            "## 3. Filter sizes", "## 4. Convergence", "## 5. Zoomed crops", "## 6. Training degradation",
            "## 7. Where we differ from the paper and why", "## 8. Speed and quality", "## 9. Real inputs",
            "### Gain over bicubic on degraded LR inputs", "### Denoising", "### JPEG artefacts",
            "### Zoomed crops of a JPEG input"]

PUBLISHED = """dataset,scale,method,variant,training_data,psnr_y,ssim_y,source
Set5,3,bicubic,,,30.39,,test
Set5,3,sparse-coding,Yang et al. 2010,,31.42,0.882,test
Set5,3,sparse-coding,ScSR (common protocol),,31.34,0.8869,test
Set5,3,srcnn,9-5-5 n1=64 n2=32,ImageNet,32.75,0.909,test
Set5,3,srcnn,9-1-5 n1=64 n2=32,T91,32.39,,test
Set5,3,srcnn,9-1-5 n1=64 n2=32,ImageNet,32.52,,test
"""


def save(folder, name, array):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(folder / name)


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data"
    for i in range(6):
        save(root / "T91", f"t{i}.png", shapes_image(i, 64))
    for i in range(3):
        blend = smooth_image(66, 66, channels=3, seed=i) // 2 + shapes_image(20 + i, 66) // 2
        save(root / "BSD200", f"b{i}.png", blend)
    save(root / "Set5", "butterfly.png", shapes_image(40, 72))
    save(root / "Set5", "bird.png", shapes_image(41, 63))
    save(root / "Set14", "comic.png", shapes_image(50, 69))
    save(root / "Set14", "face.png", smooth_image(60, 66, channels=3, seed=51))
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "published.csv").write_text(PUBLISHED)
    return root


def test_quick_reproduce_writes_the_report_and_reuses_its_runs(data, tmp_path, capsys, caplog):
    out = tmp_path / "out"
    argv = ["reproduce", "--data", str(data), "--out", str(out), "--budget", "quick"]
    with caplog.at_level(logging.INFO, logger="srcnn.study.report"):
        assert main(argv) == 0, capsys.readouterr().err
    progress = [r.getMessage() for r in caplog.records if r.name == "srcnn.study.report"]
    assert [m.split(":")[0] for m in progress] == [f"report {i}/9" for i in range(1, 10)]  # a line per section

    report = (out / "report.md").read_text()
    positions = [report.find(heading) for heading in SECTIONS]
    assert -1 not in positions, [h for h, p in zip(SECTIONS, positions) if p == -1]
    assert positions == sorted(positions), "sections out of order"
    for run in STUDY:
        assert f"| {run.name} |" in report, run.name
    assert "![" in report and "(convergence.png)" in report and "(crops.png)" in report
    assert "30.39" in report and "Yang et al. 2010: 31.42 / 0.8820" in report  # published beside ours
    assert "Budget `quick`: a check of the report's structure, not a reproduction" in report

    figures = (("convergence.png", (300, 200)), ("crops.png", (400, 150)), ("speed_quality.png", (300, 200)),
               ("real_inputs_crops.png", (400, 150)))
    for name, min_size in figures:
        with Image.open(out / name) as image:
            assert image.format == "PNG"
            assert image.width >= min_size[0] and image.height >= min_size[1], (name, image.size)

    scores = json.loads((out / "scores.json").read_text())
    speed = scores["speed_quality"]
    assert {"bicubic", "srcnn", "fsrcnn", "fsrcnn-s", "filter_9-5-5"} <= set(speed)
    assert all(cell["output_mp_per_s"] > 0 and 10 < cell["psnr"] < 60 for cell in speed.values())
    for set_name in ("Set5", "Set14"):
        for method in ("bicubic", "sparse-coding", "srcnn"):
            cell = scores["comparison"][set_name]["x3"][method]
            assert math.isfinite(cell["psnr"]) and 10 < cell["psnr"] < 60, (set_name, method, cell)
            assert 0 < cell["ssim"] <= 1, (set_name, method, cell)
    assert scores["comparison"]["sparse_coding_seconds_per_image"]["seconds"] > 0
    assert set(scores["runs"]) == {run.name for run in STUDY}
    assert all(scores["width"][name]["parameters"] > 0 for name in ("width_128_64", "width_64_32", "width_32_16"))
    assert scores["degradation"]["degrade_subsample"]["subsample"]["psnr"] > 0
    assert scores["convergence"]["backprops"] == sorted(scores["convergence"]["backprops"])
    real = scores["real_inputs"]
    clean_gain = real["gain_over_bicubic"]["fsrcnn"]["3"]
    assert set(clean_gain) == {"bicubic", "jpeg:75", "jpeg:50", "noise:10"}
    assert all(math.isclose(c["gain_db"], c["model_psnr"] - c["bicubic_psnr"]) for c in clean_gain.values())
    assert set(real["denoising"]) == {"15", "25", "50"} and set(real["jpeg"]) == {"10", "20", "30", "40"}
    for sigma, cells in real["denoising"].items():  # the noisy input is scored; a missing anchor or model says why
        assert 10 < cells["input"]["psnr"] < 40, (sigma, cells)
        assert all("psnr" in cell or cell["skipped"] for cell in cells.values())
    assert all(cells["input"]["psnr"] > 20 for cells in real["jpeg"].values())
    assert real["restore_crop"] == 96 and len(real["restore_images"]) == 1
    assert "(real_inputs_crops.png)" in report
    bicubic_gap = [d for d in scores["differences"] if d["what"] == "Set5 x3, Bicubic"]
    assert len(bicubic_gap) == 1 and bicubic_gap[0]["published"] == 30.39

    # Again, without published.csv: the finished runs are reused and published cells become dashes.
    summaries = {run.name: (out / "runs" / run.name / "summary.json").stat().st_mtime_ns for run in STUDY}
    (tmp_path / "reference" / "published.csv").unlink()
    assert main(argv) == 0, capsys.readouterr().err
    assert summaries == {run.name: (out / "runs" / run.name / "summary.json").stat().st_mtime_ns for run in STUDY}
    again = json.loads((out / "scores.json").read_text())
    assert again["differences"] == []
    assert again["comparison"]["Set5"]["x3"]["bicubic"]["published"] == []
    assert "30.39" not in (out / "report.md").read_text()

    # Set14 is optional: without it, its columns go and everything else stays.
    shutil.rmtree(data / "Set14")
    assert main(argv) == 0, capsys.readouterr().err
    assert "Set14 PSNR" not in (out / "report.md").read_text()
    comparison = json.loads((out / "scores.json").read_text())["comparison"]
    assert set(comparison) == {"Set5", "sparse_coding_seconds_per_image"}


def test_missing_runs_are_a_one_line_error(data, tmp_path, capsys):
    from srcnn.errors import SRCNNError
    from srcnn.study.report import write_report

    (tmp_path / "runs" / "width_128_64").mkdir(parents=True)
    with pytest.raises(SRCNNError, match="width_128_64"):
        write_report(data, tmp_path / "out", tmp_path / "runs", "quick")
    with pytest.raises(SRCNNError, match="no such folder"):
        write_report(data, tmp_path / "out", tmp_path / "nowhere", "quick")
