"""The CLI never loses a user's file, says plainly what happened, and documents itself (issue 12)."""

import argparse
import subprocess
import sys
from pathlib import Path, PurePath

import numpy as np
import pytest
from PIL import Image

import srcnn
from srcnn.apps.cli import _parser, main
from srcnn.errors import SRCNNError
from srcnn.models import SRCNN, SRCNNConfig
from srcnn.apps.outputs import output_name, plan_outputs
from srcnn.models.weights import save_model
from conftest import smooth_image

BICUBIC = ("--scale", "2", "--method", "bicubic")


def write(path, array, **params):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **params)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def weights(tmp_path):
    model = SRCNN(SRCNNConfig.from_arch("9-1-5", 8, 4, residual=True))
    model.init_weights("kaiming")
    path = tmp_path / "x3.safetensors"
    save_model(model, path, scale=3)
    return path


# --- 1. no silent data loss ------------------------------------------------------------------

def test_output_name_keeps_the_input_format_by_default():
    assert output_name(PurePath("sub/pic.jpg")) == PurePath("sub/pic.jpg")
    assert output_name(PurePath("pic.JPEG"), "auto") == PurePath("pic.JPEG")
    assert output_name(PurePath("anim.gif")) == PurePath("anim.png")  # 256 colours is no output format
    assert output_name(PurePath("sub/pic.jpg"), "png") == PurePath("sub/pic.png")
    assert output_name(PurePath("pic.png"), "tif") == PurePath("pic.tif")
    assert output_name(PurePath("clip.mp4"), "png") == PurePath("clip.mp4")  # videos keep theirs
    with pytest.raises(SRCNNError, match="--ext"):
        output_name(PurePath("pic.png"), "xyz")


def test_same_stem_different_formats_both_survive(tmp_path, capsys):
    coll = tmp_path / "coll"
    write(coll / "pic.jpg", smooth_image(10, 12, channels=3), quality=95)
    write(coll / "pic.png", smooth_image(10, 12, channels=3, seed=1))
    code, out, err = run(capsys, "upscale", coll, "-o", tmp_path / "out", *BICUBIC)
    assert code == 0, err
    assert Image.open(tmp_path / "out" / "pic.jpg").format == "JPEG"
    assert Image.open(tmp_path / "out" / "pic.png").format == "PNG"
    assert "wrote 2 of 2 files" in out


def test_two_inputs_with_one_output_are_refused_naming_both(tmp_path, capsys):
    coll = tmp_path / "coll"
    write(coll / "pic.jpg", smooth_image(10, 12, channels=3))
    write(coll / "pic.png", smooth_image(10, 12, channels=3))
    code, _, err = run(capsys, "upscale", coll, "-o", tmp_path / "out", "--ext", "png", *BICUBIC)
    assert_one_line_error(code, err, "pic.jpg", "pic.png", "both")
    assert not (tmp_path / "out").exists()  # refused before any work
    a, b = write(tmp_path / "a" / "x.png", smooth_image(8, 8)), write(tmp_path / "b" / "x.png", smooth_image(8, 8))
    code, _, err = run(capsys, "upscale", a, b, "-o", tmp_path / "out", *BICUBIC)
    assert_one_line_error(code, err, str(a), str(b))


def test_output_equal_to_input_is_refused_before_any_work(tmp_path, capsys):
    src = write(tmp_path / "plain.jpg", smooth_image(10, 12, channels=3))
    before = src.read_bytes()
    for extra in ((), ("--overwrite",)):
        code, _, err = run(capsys, "upscale", src, "-o", src, *BICUBIC, *extra)
        assert_one_line_error(code, err, "plain.jpg", "input")
        assert src.read_bytes() == before
    code, _, err = run(capsys, "upscale", tmp_path, "-o", tmp_path, *BICUBIC)
    assert_one_line_error(code, err, "output folder")
    assert src.read_bytes() == before


def test_existing_output_error_overwrite_and_skip(tmp_path, capsys):
    src = write(tmp_path / "in" / "a.png", smooth_image(10, 12))
    out = tmp_path / "out"
    write(out / "a.png", np.zeros((3, 3), np.uint8))
    keep = (out / "a.png").read_bytes()
    code, _, err = run(capsys, "upscale", src, "-o", out / "a.png", *BICUBIC)
    assert_one_line_error(code, err, "a.png", "exists", "--overwrite")
    assert (out / "a.png").read_bytes() == keep
    code, out_text, err = run(capsys, "upscale", src.parent, "-o", out, *BICUBIC, "--skip-existing")
    assert code == 0 and "skipped 1" in out_text, err
    assert (out / "a.png").read_bytes() == keep
    code, _, err = run(capsys, "upscale", src, "-o", out / "a.png", *BICUBIC, "--overwrite")
    assert code == 0, err
    assert Image.open(out / "a.png").size == (24, 20)


def test_existing_output_in_a_folder_stops_everything_before_work(tmp_path, capsys):
    folder = tmp_path / "in"
    write(folder / "a.png", smooth_image(10, 12))
    write(folder / "b.png", smooth_image(10, 12))
    write(tmp_path / "out" / "b.png", np.zeros((3, 3), np.uint8))
    code, _, err = run(capsys, "upscale", folder, "-o", tmp_path / "out", *BICUBIC)
    assert_one_line_error(code, err, "b.png", "exists")
    assert not (tmp_path / "out" / "a.png").exists()


def test_overwrite_and_skip_existing_exclude_each_other(tmp_path, capsys):
    src = write(tmp_path / "a.png", smooth_image(8, 8))
    with pytest.raises(SystemExit) as exc:
        main(["upscale", str(src), "-o", str(tmp_path / "o.png"), *BICUBIC, "--overwrite", "--skip-existing"])
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_output_folder_inside_the_input_folder_is_never_walked(tmp_path, capsys):
    nest = tmp_path / "nest"
    write(nest / "a.png", smooth_image(10, 12))
    code, _, err = run(capsys, "upscale", nest, "-o", nest / "up", *BICUBIC)
    assert code == 0, err
    code, out, err = run(capsys, "upscale", nest, "-o", nest / "up", *BICUBIC, "--skip-existing")
    assert code == 0, err
    assert "skipped 1" in out
    assert sorted(p.relative_to(nest).as_posix() for p in nest.rglob("*.png")) == ["a.png", "up/a.png"]
    code, _, err = run(capsys, "upscale", nest, "-o", nest / "up", *BICUBIC, "--overwrite")
    assert code == 0, err
    assert not (nest / "up" / "up").exists()


def test_plan_outputs_lists_pairs_and_skipped(tmp_path):
    a = write(tmp_path / "in" / "a.jpg", smooth_image(8, 8))
    b = write(tmp_path / "in" / "sub" / "b.png", smooth_image(8, 8))
    write(tmp_path / "out" / "sub" / "b.webp", np.zeros((2, 2), np.uint8))
    plan = plan_outputs([tmp_path / "in"], tmp_path / "out", ext="webp", existing="skip", quality=80)
    assert list(plan) == [(a, tmp_path / "out" / "a.webp")]
    assert plan.skipped == [(b, tmp_path / "out" / "sub" / "b.webp")]
    with pytest.raises(SRCNNError, match="exists"):
        plan_outputs([tmp_path / "in"], tmp_path / "out", ext="webp")


# --- 2. formats --------------------------------------------------------------------------------

def test_jpeg_defaults_to_quality_95_and_quality_is_checked(tmp_path, capsys):
    src = write(tmp_path / "photo.png", smooth_image(40, 40, channels=3))
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "default.jpg", *BICUBIC)
    assert code == 0, err
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "q95.jpg", *BICUBIC, "--quality", "95")
    assert code == 0, err
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "q75.jpg", *BICUBIC, "--quality", "75")
    assert code == 0, err
    assert (tmp_path / "default.jpg").read_bytes() == (tmp_path / "q95.jpg").read_bytes()
    assert (tmp_path / "default.jpg").read_bytes() != (tmp_path / "q75.jpg").read_bytes()
    for bad in ("0", "101"):
        with pytest.raises(SystemExit) as exc:
            main(["upscale", str(src), "-o", str(tmp_path / "bad.jpg"), *BICUBIC, "--quality", bad])
        assert exc.value.code == 2
        assert "--quality" in capsys.readouterr().err
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "q.png", *BICUBIC, "--quality", "90")
    assert_one_line_error(code, err, "--quality", "PNG")
    assert not (tmp_path / "q.png").exists()


def test_alpha_to_jpeg_warns_in_one_line(tmp_path):
    rgba = np.dstack([smooth_image(10, 12, channels=3), np.full((10, 12), 128, np.uint8)])
    src = write(tmp_path / "alpha.png", rgba)
    done = subprocess.run([sys.executable, "-m", "srcnn", "upscale", str(src), "-o", str(tmp_path / "flat.jpg"),
                           *BICUBIC], capture_output=True, text=True)  # a real process: logging as users see it
    code, err = done.returncode, done.stderr
    assert code == 0, err
    warning = [line for line in err.splitlines() if "alpha" in line]
    assert len(warning) == 1 and "flat.jpg" in warning[0] and "Traceback" not in err
    assert Image.open(tmp_path / "flat.jpg").mode == "RGB"


def test_unknown_output_extension_is_an_error_not_a_folder(tmp_path, capsys):
    src = write(tmp_path / "a.png", smooth_image(8, 8))
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "x.xyz", *BICUBIC)
    assert_one_line_error(code, err, "x.xyz", ".xyz")
    assert not (tmp_path / "x.xyz").exists()


def test_several_inputs_with_a_file_output_is_an_error(tmp_path, capsys):
    a, b = write(tmp_path / "a.png", smooth_image(8, 8)), write(tmp_path / "b.png", smooth_image(8, 8))
    code, _, err = run(capsys, "upscale", a, b, "-o", tmp_path / "single.png", *BICUBIC)
    assert_one_line_error(code, err, "single.png", "folder")
    assert not (tmp_path / "single.png").exists()
    code, _, err = run(capsys, "upscale", a, "-o", tmp_path / "o.png", *BICUBIC, "--ext", "jpg")
    assert_one_line_error(code, err, "--ext")


# --- 3. feedback -------------------------------------------------------------------------------

def test_single_file_ends_with_a_wrote_line(tmp_path, capsys):
    src = write(tmp_path / "a.png", smooth_image(8, 8))
    code, out, err = run(capsys, "upscale", src, "-o", tmp_path / "o.png", *BICUBIC)
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"wrote {tmp_path / 'o.png'} (") and " B, " in last and last.endswith(" s)")


def test_a_jpeg_into_a_folder_stays_a_jpeg_at_quality_95(tmp_path, capsys):
    src = write(tmp_path / "photo.jpg", smooth_image(30, 30, channels=3), quality=90)
    code, _, err = run(capsys, "upscale", src, "-o", f"{tmp_path / 'o1'}/", *BICUBIC)  # '-o o1/': a folder
    assert code == 0, err
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "q95.jpg", *BICUBIC, "--quality", "95")
    assert code == 0, err
    assert Image.open(tmp_path / "o1" / "photo.jpg").format == "JPEG"
    assert (tmp_path / "o1" / "photo.jpg").read_bytes() == (tmp_path / "q95.jpg").read_bytes()


def test_evaluate_and_export_end_with_what_they_did(tmp_path, capsys, weights, tiny_set):
    code, out, err = run(capsys, "evaluate", tiny_set[1], "--scale", "2", "--method", "bicubic",
                         "--json", tmp_path / "s.json")
    assert code == 0, err
    assert out.strip().splitlines()[-1].startswith(f"wrote {tmp_path / 's.json'} (")
    pytest.importorskip("onnx")
    code, out, err = run(capsys, "export", "--model", weights, "-o", tmp_path / "m.onnx")
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"wrote {tmp_path / 'm.onnx'} (") and "KB" in last and last.endswith(" s)")


def test_tile_progress_on_a_terminal_only(tmp_path, capsys, monkeypatch, weights):
    src = write(tmp_path / "a.png", smooth_image(20, 20))
    argv = ["upscale", src, "-o", tmp_path / "o.png", "--scale", "3", "--model", weights, "--tile", "16"]
    code, out, err = run(capsys, *argv)  # captured stderr is no terminal: no bars
    assert code == 0 and "tile" not in err and "\r" not in err, err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = run(capsys, *argv, "--overwrite")
    assert code == 0 and "/20 [" in err and "tile" in err  # 60x60 output in bands of 16x16 pixels: 20 rows
    code, out, err = run(capsys, *argv, "--overwrite", "--quiet")
    assert code == 0 and "tile" not in err
    assert out.strip().splitlines()[-1].startswith("wrote ")


def test_upscaler_reports_tile_progress(weights):
    from srcnn.inference import make_upscaler

    calls = []
    upscaler = make_upscaler(3, str(weights), tile=16)
    upscaler.progress = lambda done, total: calls.append((done, total))
    upscaler.upscale_array(smooth_image(20, 20))
    assert calls == [(i, 20) for i in range(1, 21)]  # 20 LR rows, one band each: 16 * 16 // (20 * 3 * 3) = 1


# --- 4. help and discovery ---------------------------------------------------------------------

def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    raise AssertionError("no subcommands")


def test_every_option_of_every_command_has_help_with_its_default():
    missing = []
    for name, sub in _subparsers(_parser()).items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if not action.option_strings or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            label = f"srcnn {name} {'/'.join(action.option_strings)}"
            if not action.help:
                missing.append(f"{label}: no help")
                continue
            flag = action.nargs == 0 and action.default is False  # a plain on/off switch: off by default
            if not (action.required or flag or "default" in formatter._get_help_string(action)):
                missing.append(f"{label}: no default shown")
    assert not missing, "\n".join(missing)


def test_help_does_not_import_torch():
    for argv in (["--help"], ["upscale", "--help"], ["train", "--help"], ["export", "--help"]):
        code = ("import sys\nfrom srcnn.apps.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
                "assert 'torch' not in sys.modules, 'torch imported'\n" % argv)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, (argv, done.stderr)
        assert "usage: srcnn" in done.stdout


def test_version_and_bare_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"srcnn {srcnn.__version__}"
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "usage: srcnn" in err and "upscale" in err and "exit codes" in err


def test_models_lists_every_shipped_model_with_its_card(capsys):
    from srcnn.models.weights import Weights

    code, out, err = run(capsys, "models")
    assert code == 0, err
    for w in Weights:
        line = next(line for line in out.splitlines() if line.startswith(w.name + " "))
        assert f"x{w.value.scale}" in line and str(w.value.params) in line and w.value.file in line
        for set_name, (psnr, _) in w.value.metrics.items():
            assert f"{set_name} {psnr:.2f}" in line
    first = next(iter(Weights))
    code, out, err = run(capsys, "models", first.name)
    assert code == 0 and first.value.recipe in out and first.value.file in out
    code, _, err = run(capsys, "models", "NO_SUCH_MODEL")
    assert_one_line_error(code, err, "NO_SUCH_MODEL")


# --- 6. one line, never a traceback ------------------------------------------------------------

@pytest.fixture
def no_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_device_cuda_without_cuda_is_one_line(tmp_path, capsys, no_cuda, tiny_set):
    src = write(tmp_path / "a.png", smooth_image(8, 8))
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "o.png", "--scale", "2", "--device", "cuda")
    assert_one_line_error(code, err, "--device cuda", "CUDA")
    assert not (tmp_path / "o.png").exists()
    code, _, err = run(capsys, "evaluate", tiny_set[1], "--scale", "2", "--device", "cuda")
    assert_one_line_error(code, err, "CUDA")
    code, _, err = run(capsys, "train", "--data", tiny_set[0], "--out", tmp_path / "run", "--device", "cuda",
                       "--steps", "1")
    assert_one_line_error(code, err, "CUDA")
    assert not (tmp_path / "run").exists()
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "o.png", "--scale", "2", "--device", "gpu")
    assert_one_line_error(code, err, "gpu")


def test_method_bicubic_with_a_model_is_refused(tmp_path, capsys, weights, tiny_set):
    src = write(tmp_path / "a.png", smooth_image(8, 8))
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "o.png", "--scale", "3", "--method", "bicubic",
                       "--model", weights)
    assert_one_line_error(code, err, "--method")
    assert not (tmp_path / "o.png").exists()
    code, _, err = run(capsys, "evaluate", tiny_set[1], "--scale", "3", "--method", "bicubic", "--model", weights)
    assert_one_line_error(code, err, "--method")


# --- 7. one behaviour for API and CLI ----------------------------------------------------------

def test_api_and_cli_give_the_same_pixels(tmp_path, capsys, weights):
    import inspect

    assert inspect.signature(srcnn.upscale).parameters["precision"].default == "auto"
    src = write(tmp_path / "in.png", smooth_image(30, 34, channels=3))
    code, _, err = run(capsys, "upscale", src, "-o", tmp_path / "cli.png", "--scale", "3", "--model", weights)
    assert code == 0, err
    api = srcnn.upscale(Image.open(src), scale=3, model=str(weights))
    np.testing.assert_array_equal(np.asarray(api), np.asarray(Image.open(tmp_path / "cli.png")))


def test_export_help_states_the_onnx_contract():
    text = _subparsers(_parser())["export"].format_help()
    for fragment in ("upscaled by bicubic", "float32", "(N, C, H, W)", "clamped to [0, 1]", "Y plane", "dynamic"):
        assert fragment in " ".join(text.split()), fragment


def test_export_and_learn_dictionary_never_replace_an_existing_file(tmp_path, capsys):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"mine")
    code, out, err = run(capsys, "export", "--model", "fsrcnn", "--scale", "3", "-o", target)
    assert code == 2 and "already exists" in err and target.read_bytes() == b"mine"
    dictionary = tmp_path / "dict.safetensors"
    dictionary.write_bytes(b"mine")
    code, out, err = run(capsys, "learn-dictionary", "--data", tmp_path, "--scale", "3", "-o", dictionary)
    assert code == 2 and "already exists" in err and dictionary.read_bytes() == b"mine"


def test_a_model_kind_without_a_scale_names_the_choices(tmp_path, capsys):
    code, out, err = run(capsys, "export", "--model", "fsrcnn", "-o", tmp_path / "m.onnx")
    assert code == 2 and "FSRCNN_X3" in err and len(err.strip().splitlines()) == 1
