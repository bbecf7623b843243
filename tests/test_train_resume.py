"""Resuming training runs from the command line: from config.json alone, contradictions refused,
finished runs extended by steps or by time, corrupt checkpoints reported in one line."""

import csv
import json
import logging

import pytest

from srcnn.apps.cli import main
from srcnn.training.train import TrainConfig, lr_factor


def read_log(run_dir):
    with open(run_dir / "log.csv") as f:
        return list(csv.DictReader(f))


def summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


def run(capsys, *argv):
    code = main([str(a) for a in argv] + ["--threads", "1", "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def start(capsys, tiny_set, run_dir, *extra):
    """A small x3 run made with the CLI (9-1-5, 16/8 filters, 8 patches of 24 pixels a step)."""
    train_dir, val_dir = tiny_set
    code, _, err = run(capsys, "train", "--data", train_dir, "--val-data", val_dir, "--out", run_dir, "--scale", 3,
                       "--arch", "9-1-5", "--n1", 16, "--n2", 8, "--patch-size", 24, "--batch-size", 8,
                       "--warmup-steps", 0, "--precision", "fp32", *extra)
    assert code == 0, err


def test_resume_alone_continues_from_config_json(tiny_set, tmp_path, capsys):
    run_dir = tmp_path / "run"
    start(capsys, tiny_set, run_dir, "--steps", 20, "--val-every", 10, "--stop-at", 10)
    assert not (run_dir / "summary.json").exists()
    code, out, err = run(capsys, "train", "--out", run_dir, "--resume")  # no --data, no --scale
    assert code == 0, err
    assert [int(r["step"]) for r in read_log(run_dir)] == [10, 20]
    assert summary(run_dir)["step"] == 20
    assert json.loads((run_dir / "config.json").read_text())["arch"] == "9-1-5"
    assert "best weights" in out


@pytest.mark.parametrize("option, value, saved", [("--scale", 2, "3"), ("--arch", "9-5-5", "9-1-5"),
                                                  ("--n1", 64, "16"), ("--no-residual", None, "on"),
                                                  ("--degradation", "subsample", "bicubic"),
                                                  ("--patch-size", 33, "24"), ("--recipe", "paper", "adam")])
def test_an_option_contradicting_the_saved_run_is_refused_naming_it(tiny_set, tmp_path, capsys, option, value,
                                                                    saved):
    run_dir = tmp_path / "run"
    start(capsys, tiny_set, run_dir, "--steps", 10, "--val-every", 10, "--stop-at", 5)
    config = (run_dir / "config.json").read_text()
    given = [option] if value is None else [option, value]
    code, _, err = run(capsys, "train", "--out", run_dir, "--resume", *given)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("srcnn: "), err
    assert option.replace("--no-", "--") in lines[0] and saved in lines[0], lines[0]
    if value is not None:
        assert str(value) in lines[0]
    assert (run_dir / "config.json").read_text() == config  # nothing rewritten
    assert not (run_dir / "summary.json").exists()


def test_options_agreeing_with_the_saved_run_and_other_data_are_judged_alike(tiny_set, tmp_path, capsys):
    run_dir = tmp_path / "run"
    start(capsys, tiny_set, run_dir, "--steps", 10, "--val-every", 10, "--stop-at", 5)
    # the saved values given again (the scale is argparse's default here) are no contradiction
    code, _, err = run(capsys, "train", "--out", run_dir, "--resume", "--scale", 3, "--arch", "9-1-5",
                       "--data", tiny_set[0])
    assert code == 0, err
    assert summary(run_dir)["step"] == 10
    code, _, err = run(capsys, "train", "--out", run_dir, "--resume", "--data", tmp_path)
    assert code == 2 and "--data" in err and len(err.strip().splitlines()) == 1, err


def test_the_api_refuses_a_contradicting_config_too(tiny_set, tmp_path, capsys):
    from srcnn.errors import SRCNNError
    from srcnn.training.train import TrainConfig, train

    run_dir = tmp_path / "run"
    start(capsys, tiny_set, run_dir, "--steps", 10, "--val-every", 10, "--stop-at", 5)
    saved = json.loads((run_dir / "config.json").read_text())
    cfg = TrainConfig(**dict(saved, scale=2, resume=True, hr_scales=()))
    with pytest.raises(SRCNNError, match="--scale 2 contradicts the run's 3"):
        train(cfg, progress=False)


def test_a_finished_run_is_extended_by_steps_with_the_schedule_stretched(tiny_set, tmp_path, capsys, caplog):
    run_dir = tmp_path / "run"
    start(capsys, tiny_set, run_dir, "--steps", 10, "--val-every", 5)
    first = read_log(run_dir)
    assert float(first[-1]["lr"]) < 1e-4  # the cosine ended near zero

    with caplog.at_level(logging.INFO, logger="srcnn.training.train"):
        code, _, err = run(capsys, "train", "--out", run_dir, "--resume")  # nothing to extend
    assert code == 0, err
    assert "already finished at step 10" in caplog.text and "--steps N above 10" in caplog.text
    assert len(read_log(run_dir)) == len(first)

    code, _, err = run(capsys, "train", "--out", run_dir, "--resume", "--steps", 20)
    assert code == 0, err
    rows = read_log(run_dir)
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20]
    # the schedule of a 20-step run: the lr of step 15 rises back well above the 10-step run's end
    stretched = 1e-3 * lr_factor(14, TrainConfig(steps=20, warmup_steps=0))
    assert float(rows[2]["lr"]) == pytest.approx(stretched, rel=0.01)
    assert float(rows[2]["lr"]) > 5 * float(first[-1]["lr"])
    assert summary(run_dir)["step"] == 20
    assert json.loads((run_dir / "config.json").read_text())["steps"] == 20


def test_a_finished_run_is_extended_by_time(tiny_set, tmp_path, capsys):
    run_dir = tmp_path / "run"
    start(capsys, tiny_set, run_dir, "--steps", 100000, "--val-every", 1000, "--time-limit", 1)
    before = summary(run_dir)
    assert before["step"] < 100000

    code, _, err = run(capsys, "train", "--out", run_dir, "--resume", "--time-limit", 3)
    assert code == 0, err
    after = summary(run_dir)
    assert after["step"] > before["step"] and after["seconds"] >= 3
    assert json.loads((run_dir / "config.json").read_text())["time_limit"] == 3

    # extending by steps alone lifts the time limit the run reached
    code, _, err = run(capsys, "train", "--out", run_dir, "--resume", "--steps", after["step"] + 4)
    assert code == 0, err
    assert summary(run_dir)["step"] == after["step"] + 4
    assert json.loads((run_dir / "config.json").read_text())["time_limit"] is None


def test_a_run_that_ended_at_its_steps_needs_steps_to_be_extended(tiny_set, tmp_path, capsys):
    run_dir = tmp_path / "run"
    start(capsys, tiny_set, run_dir, "--steps", 5, "--val-every", 5)
    code, _, err = run(capsys, "train", "--out", run_dir, "--resume", "--time-limit", 60)
    assert code == 2 and "--steps N above 5" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_checkpoint_is_one_line_and_exit_2(tiny_set, tmp_path, capsys, damage):
    run_dir = tmp_path / "run"
    start(capsys, tiny_set, run_dir, "--steps", 10, "--val-every", 5, "--stop-at", 5)
    checkpoint = run_dir / "checkpoint.safetensors"
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x00garbage" * 100)
    code, _, err = run(capsys, "train", "--out", run_dir, "--resume")
    assert code == 2
    assert err.startswith(f"srcnn: {checkpoint}: not a readable checkpoint (") and err.count("\n") == 1, err


def test_resume_without_a_run_or_data_is_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--out", tmp_path / "none", "--resume")
    assert code == 2 and "--data" in err and len(err.strip().splitlines()) == 1, err


def test_with_a_time_limit_the_progress_bar_counts_seconds(capsys):
    from srcnn.training.train import _advance, _progress_bar

    cfg = TrainConfig(steps=1000, time_limit=10.0)
    bar = _progress_bar(cfg, step=50, elapsed=3.0, enabled=True)  # resumed 3 s into a 10 s run
    assert (bar.total, bar.n, bar.unit) == (10, 3, "s")
    _advance(bar, cfg, 51, 4.5)
    _advance(bar, cfg, 52, 12.0)  # the last step may end past the limit: the bar stops at it
    assert bar.n == 10
    bar.close()
    assert "step 52: 100%" in capsys.readouterr().err.split("\r")[-1]
    steps = _progress_bar(TrainConfig(steps=1000), step=50, elapsed=3.0, enabled=True)
    assert (steps.total, steps.n, steps.unit) == (1000, 50, "step")
    steps.close()
