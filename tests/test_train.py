"""Training on a tiny synthetic set: learning happens, resume is exact, both precisions work."""

import csv

import numpy as np
import pytest
import torch

from srcnn.inference import bf16_supported
from srcnn.training.train import TrainConfig, train
from srcnn.models.weights import load_model


def small_config(tiny_set, out, **overrides) -> TrainConfig:
    train_dir, val_dir = tiny_set
    options = dict(data=[str(train_dir)], val_data=[str(val_dir)], out=str(out), scale=3, arch="9-1-5",
                   n1=32, n2=16, patch_size=24, batch_size=16, steps=300, warmup_steps=20, val_every=100,
                   lr=3e-3, precision="fp32", seed=0)
    options.update(overrides)
    return TrainConfig(**options)


def read_log(run_dir):
    with open(run_dir / "log.csv") as f:
        return list(csv.DictReader(f))


def test_a_few_hundred_steps_lower_the_loss_and_beat_bicubic(tiny_set, tmp_path):
    from srcnn.study.evaluate import evaluate_folder, summary
    from srcnn.inference import Upscaler

    best = train(small_config(tiny_set, tmp_path / "run"), progress=False)
    rows = read_log(tmp_path / "run")
    assert [int(r["step"]) for r in rows] == [100, 200, 300]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    bicubic = summary(evaluate_folder(tiny_set[1], 3, Upscaler(None, 3)))["mean"]["psnr"]
    model, meta = load_model(best, scale=3)
    trained = summary(evaluate_folder(tiny_set[1], 3, Upscaler(model, 3)))["mean"]["psnr"]
    assert float(meta["val_psnr"]) == pytest.approx(max(float(r["val_psnr"]) for r in rows), abs=1e-3)
    assert trained > bicubic + 0.3, (trained, bicubic)


def test_killed_and_resumed_run_equals_an_uninterrupted_one(tiny_set, tmp_path):
    straight = small_config(tiny_set, tmp_path / "straight", steps=40, val_every=10)
    train(straight, progress=False)
    interrupted = small_config(tiny_set, tmp_path / "killed", steps=40, val_every=10)
    train(interrupted, progress=False, stop_at=25)  # last checkpoint at step 20; steps 21-25 are lost
    train(small_config(tiny_set, tmp_path / "killed", steps=40, val_every=10, resume=True), progress=False)
    a = load_model(tmp_path / "straight" / "best.safetensors")[0].state_dict()
    b = load_model(tmp_path / "killed" / "best.safetensors")[0].state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [r["val_psnr"] for r in read_log(tmp_path / "straight")] == \
        [r["val_psnr"] for r in read_log(tmp_path / "killed")]


def test_an_existing_run_is_not_overwritten_without_resume(tiny_set, tmp_path):
    from srcnn.errors import SRCNNError

    train(small_config(tiny_set, tmp_path / "run", steps=10, val_every=10), progress=False)
    with pytest.raises(SRCNNError, match="--resume"):
        train(small_config(tiny_set, tmp_path / "run", steps=10, val_every=10), progress=False)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_works_in_both_precisions(tiny_set, tmp_path, precision):
    if precision == "bf16" and not bf16_supported():
        pytest.skip("this CPU has no native bf16")
    train(small_config(tiny_set, tmp_path / precision, steps=60, val_every=30, precision=precision), progress=False)
    rows = read_log(tmp_path / precision)
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])


def test_paper_recipe_runs_with_sub_images(tiny_set, tmp_path):
    cfg = TrainConfig.paper(data=[str(tiny_set[0])], val_data=[str(tiny_set[1])], out=str(tmp_path / "paper"),
                            scale=3, arch="9-1-5", n1=16, n2=8, batch_size=8, steps=20, val_every=20)
    assert (cfg.patch_size, cfg.stride, cfg.patch_mode, cfg.init, cfg.residual) == (33, 14, "grid", "paper", False)
    train(cfg, progress=False)
    model, _ = load_model(tmp_path / "paper" / "best.safetensors")
    assert model.config.residual is False


def test_a_time_limit_ends_the_run_and_the_schedule_together(tiny_set, tmp_path):
    import json

    # no warm-up: on a loaded machine 2 s can run out before a warm-up would end
    cfg = small_config(tiny_set, tmp_path / "run", steps=100000, val_every=50, time_limit=2.0, warmup_steps=0)
    train(cfg, progress=False)
    rows = read_log(tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert 0 < summary["step"] < 100000
    assert int(rows[-1]["step"]) == summary["step"]  # the last step is validated and logged
    assert float(rows[-1]["lr"]) < 0.05 * 3e-3  # the cosine reached (almost) zero with the clock
    # resuming a finished run does nothing
    train(small_config(tiny_set, tmp_path / "run", steps=100000, val_every=50, time_limit=2.0, warmup_steps=0,
                       resume=True),
          progress=False)
    assert len(read_log(tmp_path / "run")) == len(rows)


def test_a_monitor_set_is_logged_but_never_chooses_the_checkpoint(tiny_set, tmp_path):
    train_dir, val_dir = tiny_set
    cfg = small_config(tiny_set, tmp_path / "run", steps=40, val_every=10, monitor_data=[str(train_dir)])
    train(cfg, progress=False)
    rows = read_log(tmp_path / "run")
    assert all(float(r["monitor_psnr"]) > 0 for r in rows)
    meta = load_model(tmp_path / "run" / "best.safetensors")[1]
    assert float(meta["val_psnr"]) == pytest.approx(max(float(r["val_psnr"]) for r in rows), abs=1e-3)


def test_hr_scales_add_down_scaled_copies_of_every_image(tiny_set):
    from srcnn.training.data import load_pairs

    paths = sorted(tiny_set[0].glob("*.png"))[:2]
    pairs = load_pairs(paths, 3, hr_scales=(0.75,))
    assert [p.name for p in pairs] == ["img00", "img00@0.75", "img01", "img01@0.75"]
    assert pairs[1].target.shape == (54, 54)  # 72 * 0.75, a multiple of 3


def _box_pairs(count=3, scale=3, seed=0):
    """Pairs whose LR input is the HR target's block mean: any aligned crop pair, turned by the
    same flip / rotation, stays such a pair, so a mismatch shows as a non-zero difference."""
    from srcnn.training.data import Pair

    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(count):
        h, w = rng.integers(8, 14, size=2) * scale
        target = rng.random((h, w)).astype(np.float32)
        inp = target.reshape(h // scale, scale, w // scale, scale).mean(axis=(1, 3))
        pairs.append(Pair(f"img{i}", inp, target))
    return pairs


def test_patches_cut_on_the_device_stay_aligned_pairs_through_every_flip_and_rotation():
    from srcnn.training.data import DevicePatches

    source = DevicePatches(_box_pairs(), 12, 256, torch.device("cpu"), seed=4)
    x, y = source.batch(7)
    assert x.shape == (256, 1, 4, 4) and y.shape == (256, 1, 12, 12)
    assert torch.allclose(torch.nn.functional.avg_pool2d(y, 3), x, atol=1e-6)
    assert (y != 0).all()  # no crop reaches the zero padding beyond a smaller image


def test_device_patches_are_a_function_of_seed_and_step_and_split_over_ranks():
    from srcnn.training.data import DevicePatches

    source = DevicePatches(_box_pairs(), 12, 8, torch.device("cpu"), seed=1)
    x, y = source.batch(3)
    again_x, again_y = source.batch(3)
    assert torch.equal(x, again_x) and torch.equal(y, again_y)
    assert not torch.equal(x, source.batch(4)[0])
    shares = [source.batch(3, rank, 2) for rank in range(2)]
    assert torch.equal(torch.cat([s[0] for s in shares]), x)
    assert torch.equal(torch.cat([s[1] for s in shares]), y)


def test_device_patches_take_every_flip_and_rotation():
    from srcnn.training.data import DevicePatches, Pair

    # one 6x6 LR image of distinct values, cropped whole: each turn gives a different patch
    target = np.arange(18 * 18, dtype=np.float32).reshape(18, 18) + 1
    pair = Pair("grid", target.reshape(6, 3, 6, 3).mean(axis=(1, 3)), target)
    x, _ = DevicePatches([pair], 18, 64, torch.device("cpu"), seed=0).batch(0)
    turns = {tuple(p.flatten().tolist()) for p in x}
    assert len(turns) == 8
    base = torch.from_numpy(pair.input)
    expected = set()
    for k in range(4):
        for flip in (False, True):
            t = torch.rot90(base, k)
            expected.add(tuple((t.flip(1) if flip else t).flatten().tolist()))
    assert turns == expected


def test_training_with_patches_cut_on_the_device_learns_and_resumes_exactly(tiny_set, tmp_path, monkeypatch):
    """The GPU's data path (DevicePatches), run here on the CPU device."""
    import srcnn.training.train as train_module

    monkeypatch.setattr(train_module, "_cuts_patches_on_device", lambda cfg, device, degradation: True)
    cfg = lambda out, **kw: small_config(tiny_set, tmp_path / out, family="fsrcnn", dsm=(16, 8, 1),  # noqa: E731
                                         steps=60, val_every=20, **kw)
    train(cfg("straight"), progress=False)
    train(cfg("killed"), progress=False, stop_at=30)
    train(cfg("killed", resume=True), progress=False)
    rows = read_log(tmp_path / "straight")
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert [r["val_psnr"] for r in rows] == [r["val_psnr"] for r in read_log(tmp_path / "killed")]


def test_a_moving_average_of_the_weights_is_what_is_validated_and_kept(tiny_set, tmp_path):
    from safetensors.torch import load_file

    cfg = small_config(tiny_set, tmp_path / "run", steps=20, val_every=20, ema=0.9)
    best = train(cfg, progress=False)
    saved = load_file(str(tmp_path / "run" / "checkpoint.safetensors"))
    kept = load_model(best)[0].state_dict()
    assert kept and all(torch.equal(kept[k], saved[f"ema.{k}"]) for k in kept)
    assert any(not torch.equal(kept[k], saved[f"model.{k}"]) for k in kept)  # the average, not the last step


def test_the_moving_average_follows_its_decay():
    from srcnn.training.train import _moving_average, _update_average

    model = torch.nn.Conv2d(1, 2, 3)
    average = _moving_average(model, TrainConfig(ema=0.75))
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    _update_average(average, model, 0.75)
    _update_average(average, model, 0.75)
    expected = start + 1.0 - 0.75**2  # two steps towards the moved weights
    assert torch.allclose(average.weight, expected)
    assert not average.weight.requires_grad


def test_a_killed_run_with_a_moving_average_resumes_exactly(tiny_set, tmp_path):
    straight = small_config(tiny_set, tmp_path / "straight", steps=40, val_every=10, ema=0.8)
    train(straight, progress=False)
    train(small_config(tiny_set, tmp_path / "killed", steps=40, val_every=10, ema=0.8), progress=False, stop_at=25)
    train(small_config(tiny_set, tmp_path / "killed", steps=40, val_every=10, ema=0.8, resume=True), progress=False)
    a = load_model(tmp_path / "straight" / "best.safetensors")[0].state_dict()
    b = load_model(tmp_path / "killed" / "best.safetensors")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["val_psnr"] for r in read_log(tmp_path / "straight")] == \
        [r["val_psnr"] for r in read_log(tmp_path / "killed")]


@pytest.mark.parametrize("decay", [1.0, -0.5, 1.5])
def test_a_decay_outside_zero_and_one_is_refused_before_anything_is_written(tiny_set, tmp_path, decay):
    from srcnn.errors import SRCNNError

    with pytest.raises(SRCNNError, match="--ema"):
        train(small_config(tiny_set, tmp_path / "run", ema=decay), progress=False)
    assert not (tmp_path / "run").exists()


def test_the_interior_loss_scores_only_pixels_whose_receptive_field_lies_in_the_patch(tiny_set, tmp_path,
                                                                                       monkeypatch):
    import srcnn.training.train as train_module
    from srcnn.errors import SRCNNError

    shapes = []
    compute_loss = train_module.compute_loss
    monkeypatch.setattr(train_module, "compute_loss",
                        lambda out, target, cfg: shapes.append((out.shape, target.shape)) or compute_loss(out, target, cfg))
    fsrcnn = dict(family="fsrcnn", dsm=(32, 5, 1), patch_size=36, steps=4, val_every=4)
    train(small_config(tiny_set, tmp_path / "interior", interior_loss=True, **fsrcnn), progress=False)
    border = 3 * 4  # FSRCNN-s x3 sees 4 LR pixels each side: 12 HR pixels
    assert shapes and all(o[-2:] == t[-2:] == (36 - 2 * border,) * 2 for o, t in shapes)
    shapes.clear()
    train(small_config(tiny_set, tmp_path / "whole", **fsrcnn), progress=False)
    assert all(o[-2:] == t[-2:] == (36, 36) for o, t in shapes)
    with pytest.raises(SRCNNError, match="--interior-loss"):
        train(small_config(tiny_set, tmp_path / "small", interior_loss=True, **dict(fsrcnn, patch_size=24)),
              progress=False)
    assert not (tmp_path / "small").exists()  # refused before the run's folder is made


def _fsrcnn_file(path, scale: int = 3, seed: int = 1):
    from srcnn.models import FSRCNN, FSRCNNConfig
    from srcnn.models.weights import save_model

    torch.manual_seed(seed)
    teacher = FSRCNN(FSRCNNConfig(scale, 32, 5, 1))
    teacher.init_weights()
    torch.nn.init.normal_(teacher.last.weight, 0.0, 0.05)  # an output visibly unlike the HR targets
    save_model(teacher, path, scale)
    return path


def test_a_teacher_blends_its_output_into_every_target_by_its_weight(tiny_set, tmp_path, monkeypatch):
    import srcnn.training.train as train_module

    targets, taught = [], []
    compute_loss = train_module.compute_loss
    monkeypatch.setattr(train_module, "compute_loss",
                        lambda out, target, cfg: targets.append(target.clone()) or compute_loss(out, target, cfg))
    load_teacher = train_module.load_teacher

    def recording_teacher(cfg, model, device):
        teacher = load_teacher(cfg, model, device)
        if teacher is not None:
            teacher.register_forward_hook(lambda module, args, output: taught.append(output.float().clone()))
        return teacher

    monkeypatch.setattr(train_module, "load_teacher", recording_teacher)
    teacher = str(_fsrcnn_file(tmp_path / "teacher.safetensors"))
    fsrcnn = dict(family="fsrcnn", dsm=(32, 5, 1), patch_size=36, steps=3, val_every=3)
    train(small_config(tiny_set, tmp_path / "plain", **fsrcnn), progress=False)
    hr = targets[:]  # every batch is a function of (seed, step): the same HR patches in each run
    assert not taught
    for weight in (0.5, 1.0):
        targets.clear()
        taught.clear()
        train(small_config(tiny_set, tmp_path / f"taught{weight}", teacher=teacher, teacher_weight=weight, **fsrcnn),
              progress=False)
        assert len(targets) == len(taught) == len(hr) == 3
        for target, y, t in zip(targets, hr, taught):
            assert (t - y).abs().mean() > 0.01  # the teacher is not the HR image, so the check has teeth
            torch.testing.assert_close(target, torch.lerp(y, t, weight), rtol=0, atol=1e-6)


def test_a_teacher_of_another_scale_or_grid_is_refused_before_anything_is_written(tiny_set, tmp_path):
    from srcnn.errors import SRCNNError
    from srcnn.models import SRCNN, SRCNNConfig
    from srcnn.models.weights import save_model

    fsrcnn = dict(family="fsrcnn", dsm=(32, 5, 1), patch_size=36, steps=3, val_every=3)
    other_scale = _fsrcnn_file(tmp_path / "x2.safetensors", scale=2)
    save_model(SRCNN(SRCNNConfig.from_arch("9-1-5", 8, 4)), tmp_path / "srcnn.safetensors", 3)
    for teacher, message in ((other_scale, "x2, not x3"), (tmp_path / "srcnn.safetensors", "input grid"),
                             (tmp_path / "missing.safetensors", "--teacher")):
        with pytest.raises(SRCNNError, match=message):
            train(small_config(tiny_set, tmp_path / "run", teacher=str(teacher), **fsrcnn), progress=False)
        assert not (tmp_path / "run").exists()
    with pytest.raises(SRCNNError, match="--teacher-weight"):
        train(small_config(tiny_set, tmp_path / "run", teacher=str(other_scale), teacher_weight=0.0, **fsrcnn),
              progress=False)
