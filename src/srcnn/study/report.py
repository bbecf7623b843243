"""The ``srcnn reproduce`` report: the papers' tables and figures, our numbers beside the published ones.

``write_report`` reads the study's finished training runs (see :mod:`srcnn.study.reproduce`), scores them
and the shipped models on Set5 / Set14 with the papers' protocol (both through
:class:`srcnn.study.scoring.Context`, which reads the inputs and memoises the scores), and writes

- ``report.md``: one section per table or figure of the papers, then where and why we differ;
- ``convergence.png``, ``crops.png``, ``speed_quality.png`` and ``real_inputs_crops.png``, embedded in the report;
- ``scores.json``: every number the report shows, for machines.

Each section is one function that takes its numbers from the context (kept in ``Context.numbers``,
the future scores.json), draws its figure, if any, and returns its Markdown. A number shown twice
(bicubic on Set5 x3 appears in three sections) is scored once and is the same everywhere.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from ..errors import SRCNNError
from ..inference import make_upscaler
from ..io.atomic import atomic_output
from ..io.imageio import list_images, read_image, write_text_atomic
from ..models.weights import find_weights
from ..protocol.color import quantize, rgb2y, to_plane
from ..protocol.degrade import parse_degradation
from ..protocol.metrics import psnr
from ..protocol.resize import imresize, modcrop
from . import restoration_study as rs
from .reproduce import TRAIN_SETS
from .restoration_study import markdown_table as _table
from .scoring import SHIPPED_KINDS, SPARSE_STEP, Context, Published, read_runs, read_sets

__all__ = ["write_report"]

log = logging.getLogger(__name__)

BUDGET_SCALES = {"quick": (3,), "paper": (2, 3, 4)}  # the comparison table's scales per budget
# quick checks the report's structure (CI) in well under a minute, so it scores the smallest test
# images alone (and sparse coding on a coarser grid: scoring.SPARSE_STEP); paper scores every image.
TEST_IMAGES = {"quick": 2, "paper": None}  # per test set, the smallest first; None: all
STUDY_SCALE = 3  # every study model is x3, as in the papers' studies
DASH = "–"  # a number we do not have (no published value, no published.csv)
PAPER_TRAINING = "the paper's ImageNet (395,909 images)"
METHOD_NAMES = {"bicubic": "Bicubic", "sparse-coding": "Sparse coding (ScSR)", "srcnn": "SRCNN (shipped)"}
# The published sparse-coding figures come from two sources with different protocols; show both.
SPARSE_CODING_VARIANTS = ("Yang et al. 2010", "ScSR (common protocol)")
CROP_SIZE = 64  # HR pixels on a side of the zoomed crop
# The real-inputs section's denoising and JPEG tables: (test images, centre-crop side) per budget.
# BM3D costs about a minute per megapixel on one core, so quick takes one small crop.
RESTORE_SAMPLE = {"quick": (1, 96), "paper": (None, None)}
NLM_TUNING_IMAGES = 2  # the first T91 images, which choose OpenCV's h per sigma
REAL_KINDS = {"fsrcnn": "Clean model", "real": "Real model"}  # the gain table's models
REAL_CROP_INPUT = "jpeg:50"  # the zoomed crops' LR input, at STUDY_SCALE


# ---- formatting -------------------------------------------------------------------------------------

def _psnr(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def _ssim(value: float | None) -> str:
    return DASH if value is None else f"{value:.4f}"


def _pub(found: tuple[float | None, float | None] | None, with_ssim: bool = True) -> str:
    if not found:
        return DASH
    return f"{_psnr(found[0])} / {_ssim(found[1])}" if with_ssim else _psnr(found[0])


def _save_figure(figure, path: Path) -> None:
    with atomic_output(path) as tmp:  # a temporary file beside it, renamed when complete
        figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight", pad_inches=0.1)


def _figure(width: float, height: float):
    # A bare Figure draws with Agg and leaves pyplot's global state (and backend) alone.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


# ---- sections ---------------------------------------------------------------------------------------

def _comparison_section(ctx: Context) -> str:
    """Bicubic, sparse coding and the shipped SRCNN on Set5 / Set14 at each scale of the budget."""
    numbers: dict = {}
    rows = []
    for scale in BUDGET_SCALES[ctx.budget]:
        srcnn_cfg = ctx.upscaler("srcnn", scale).model.config
        srcnn_variant = f"{srcnn_cfg.arch} n1={srcnn_cfg.widths[0]} n2={srcnn_cfg.widths[1]}"
        for method in ("bicubic", "sparse-coding", "srcnn"):
            row = [f"x{scale}", METHOD_NAMES[method]]
            for set_name in ctx.sets:
                ours = ctx.score(method, set_name, scale)
                if method == "sparse-coding":
                    published = {v: ctx.published.find(set_name, scale, method, v) for v in SPARSE_CODING_VARIANTS}
                elif method == "srcnn":
                    published = {f"{srcnn_variant}, ImageNet":
                                 ctx.published.find(set_name, scale, method, srcnn_variant, "ImageNet")}
                else:
                    published = {"": ctx.published.find(set_name, scale, method)}
                published = {v: p for v, p in published.items() if p}
                for variant, found in published.items():
                    ctx.compare(f"{set_name} x{scale}, {METHOD_NAMES[method]}" + (f" vs {variant}" if variant else ""),
                                ours.psnr, found)
                cell = "; ".join((f"{v}: " if method == "sparse-coding" else "") + _pub(p)
                                 for v, p in published.items()) or DASH
                row += [_psnr(ours.psnr), _ssim(ours.ssim), cell]
                numbers.setdefault(set_name, {}).setdefault(f"x{scale}", {})[method] = {
                    "psnr": ours.psnr, "ssim": ours.ssim,
                    "published": [{"variant": v, "psnr": p[0], "ssim": p[1]} for v, p in published.items()]}
            rows.append(row)
    sc_seconds = ctx.score("sparse-coding", "Set5", STUDY_SCALE).seconds
    numbers["sparse_coding_seconds_per_image"] = {"set": "Set5", "scale": STUDY_SCALE, "seconds": sc_seconds}
    ctx.numbers["comparison"] = numbers
    header = ["Scale", "Method"]
    for set_name in ctx.sets:
        header += [f"{set_name} PSNR", f"{set_name} SSIM", f"{set_name} published PSNR / SSIM"]
    return "\n\n".join([
        "## 1. Comparison with bicubic and sparse coding",
        ("PSNR (dB) and SSIM on the Y channel, the papers' protocol (MATLAB bicubic down-scaling, "
         "`scale` pixels shaved from each border). SRCNN is the shipped default model of each scale."),
        _table(header, rows),
        f"Sparse coding takes {sc_seconds:.2f} s per image on this CPU (mean wall clock over Set5, x{STUDY_SCALE}).",
    ])


def _width_section(ctx: Context) -> str:
    """The filter-number study: 9-1-5 at three widths, accuracy against speed."""
    numbers, rows = {}, []
    for name in ("width_128_64", "width_64_32", "width_32_16"):
        run = ctx.runs[name]
        params = ctx.upscaler(name, STUDY_SCALE).model.num_parameters()
        ours = ctx.score(name, "Set5", STUDY_SCALE)
        published = ctx.published.find("Set5", STUDY_SCALE, "srcnn", run.variant, "ImageNet")
        ctx.compare(f"Set5 x3, {run.variant} ({name})", ours.psnr, published)
        numbers[name] = {"parameters": params, "psnr": ours.psnr, "ssim": ours.ssim, "seconds_per_image": ours.seconds,
                         "published_psnr": published[0] if published else None}
        rows.append([name, run.spec.label, f"{params:,}", _psnr(ours.psnr), f"{ours.seconds:.3f}",
                     _pub(published, with_ssim=False)])
    ctx.numbers["width"] = numbers
    return "\n\n".join([
        "## 2. Filter numbers (network width)",
        ("9-1-5 networks at three widths, x3. Time: mean over Set5 of one upscaling call (bicubic + network), "
         "fp32 on this CPU, after one warm-up call."),
        _table(["Run", "Model", "Parameters", "Set5 PSNR", "Seconds / image", "Published Set5 PSNR"], rows),
    ])


def _filter_section(ctx: Context) -> str:
    """The filter-size study: a larger mapping filter (9-1-5 -> 9-3-5 -> 9-5-5) at the same width."""
    numbers, rows = {}, []
    for name in ("width_64_32", "filter_9-3-5", "filter_9-5-5"):
        run = ctx.runs[name]
        row, numbers[name] = [name, run.config["arch"]], {}
        for set_name in ctx.sets:
            ours = ctx.score(name, set_name, STUDY_SCALE)
            published = ctx.published.find(set_name, STUDY_SCALE, "srcnn", run.variant, "ImageNet")
            ctx.compare(f"{set_name} x3, {run.variant} ({name})", ours.psnr, published)
            numbers[name][set_name] = {"psnr": ours.psnr, "ssim": ours.ssim,
                                       "published_psnr": published[0] if published else None}
            row += [_psnr(ours.psnr), _pub(published, with_ssim=False)]
        rows.append(row)
    ctx.numbers["filter_size"] = numbers
    header = ["Run", "Filters"]
    for set_name in ctx.sets:
        header += [f"{set_name} PSNR", f"{set_name} published PSNR"]
    return "\n\n".join(["## 3. Filter sizes", "n1/n2 = 64/32, x3.", _table(header, rows)])


def _convergence_section(ctx: Context) -> str:
    """Set5 PSNR of the 9-5-5 run during training, against the two baselines (the papers' Figure)."""
    run = ctx.runs["filter_9-5-5"]
    points = [(int(r["backprops"]), float(r["monitor_psnr"])) for r in run.log if r.get("monitor_psnr")]
    if not points:
        raise SRCNNError(f"{run.folder / 'log.csv'}: no monitor_psnr values (was the run made by `srcnn reproduce`?)")
    backprops, curve = zip(*points)
    bicubic = ctx.score("bicubic", "Set5", STUDY_SCALE).psnr
    sparse = ctx.score("sparse-coding", "Set5", STUDY_SCALE).psnr
    figure = _figure(6.4, 4.2)
    ax = figure.add_subplot()
    ax.plot(backprops, curve, marker="o" if len(points) < 30 else None, label="SRCNN 9-5-5 (filter_9-5-5)")
    ax.axhline(sparse, color="tab:green", linestyle="--", label=f"Sparse coding ({sparse:.2f} dB)")
    ax.axhline(bicubic, color="tab:red", linestyle=":", label=f"Bicubic ({bicubic:.2f} dB)")
    ax.set_xlabel("Number of backprops")
    ax.set_ylabel("Average test PSNR (dB), Set5 x3")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    _save_figure(figure, ctx.out / "convergence.png")
    ctx.numbers["convergence"] = {"run": run.spec.name, "backprops": list(backprops), "psnr": list(curve),
                                  "bicubic": bicubic, "sparse_coding": sparse}
    return "\n\n".join([
        "## 4. Convergence",
        ("Set5 x3 PSNR of the 9-5-5 model during training. Set5 is only logged for this curve; "
         "checkpoints are chosen on the validation split of the training images."),
        "![Set5 x3 PSNR against backprops](convergence.png)",
    ])


SPEED_METHODS = {"bicubic": "Bicubic", "sparse-coding": "Sparse coding", "width_32_16": "SRCNN 9-1-5 (32/16)",
                 "width_64_32": "SRCNN 9-1-5 (64/32)", "width_128_64": "SRCNN 9-1-5 (128/64)",
                 "filter_9-3-5": "SRCNN 9-3-5", "filter_9-5-5": "SRCNN 9-5-5 (study)",
                 "srcnn": "SRCNN 9-5-5 (shipped)", "fsrcnn": "FSRCNN (shipped)", "fsrcnn-s": "FSRCNN-s (shipped)"}


def _speed_quality_section(ctx: Context) -> str:
    """PSNR against speed, the FSRCNN paper's Figure 1 with this machine's numbers."""
    pixels = float(np.mean([(h // STUDY_SCALE * STUDY_SCALE) * (w // STUDY_SCALE * STUDY_SCALE)
                            for _, (h, w) in ((n, img.shape[:2]) for n, img in ctx.sets["Set5"])]))
    numbers, rows = {}, []
    for name, label in SPEED_METHODS.items():
        if name not in ctx.runs and name not in ("bicubic", "sparse-coding") + SHIPPED_KINDS:
            continue
        score = ctx.score(name, "Set5", STUDY_SCALE)
        rate = pixels / score.seconds / 1e6
        numbers[name] = {"label": label, "psnr": score.psnr, "seconds_per_image": score.seconds,
                         "output_mp_per_s": rate}
        rows.append([label, _psnr(score.psnr), f"{score.seconds:.3f}", f"{rate:.2f}"])
    figure = _figure(6.4, 4.4)
    ax = figure.add_subplot()
    for name, n in numbers.items():
        family = "tab:red" if name.startswith("fsrcnn") else "tab:gray" if name in ("bicubic", "sparse-coding") \
            else "tab:blue"
        ax.scatter(n["output_mp_per_s"], n["psnr"], color=family)
        ax.annotate(n["label"], (n["output_mp_per_s"], n["psnr"]), fontsize=7, xytext=(4, 3),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("Output megapixels per second, fp32, this CPU (log scale)")
    ax.set_ylabel("Average PSNR (dB), Set5 x3")
    ax.grid(alpha=0.3, which="both")
    _save_figure(figure, ctx.out / "speed_quality.png")
    ctx.numbers["speed_quality"] = numbers
    return "\n\n".join([
        "## 8. Speed and quality",
        ("Set5 x3 PSNR against output megapixels per second of one upscaling call per image (SRCNN: bicubic "
         "then the network; FSRCNN: the network on the LR image, its bicubic skip included), mean over Set5, "
         "fp32 on this CPU after one warm-up call: the FSRCNN paper's Figure 1 with our numbers. "
         "`srcnn upscale` runs bf16 where the CPU has it; `python benchmarks/realtime.py` measures that path."),
        _table(["Method", "Set5 PSNR", "Seconds / image", "Output MP/s"], rows),
        "![Set5 x3 PSNR against output megapixels per second](speed_quality.png)",
    ])


def _busiest_window(plane: np.ndarray, size: int) -> tuple[int, int]:
    """(top, left) of the size x size window with the most gradient: where methods differ most."""
    gy, gx = np.gradient(plane.astype(np.float64))
    integral = np.pad(np.hypot(gx, gy).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    top, left = np.unravel_index(np.argmax(sums), sums.shape)
    return int(top), int(left)


def _crops_section(ctx: Context) -> str:
    """Zoomed crops of one Set5 image at x3: colour results (Y by the method, CbCr by bicubic)."""
    images = ctx.sets["Set5"]
    name, image = next(((n, im) for n, im in images if n.lower().startswith("butterfly")), images[0])
    hr = modcrop(image, STUDY_SCALE)
    lr = imresize(hr, 1 / STUDY_SCALE)  # uint8 in, uint8 out, as MATLAB makes the LR image
    size = min(CROP_SIZE, *hr.shape[:2])
    top, left = _busiest_window(rgb2y(hr), size)
    panels = [("HR (original)", hr, None)]
    for method in ("bicubic", "sparse-coding", "srcnn"):
        sr = ctx.upscaler(method, STUDY_SCALE).upscale_array(lr)
        panels.append((METHOD_NAMES[method], sr, psnr(hr, sr, STUDY_SCALE)))
    figure = _figure(3.0 * len(panels), 3.4)
    for i, (title, picture, value) in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), i + 1)
        ax.imshow(picture[top : top + size, left : left + size], cmap="gray" if picture.ndim == 2 else None,
                  vmin=0, vmax=255, interpolation="nearest")  # enlarged pixels, not smoothed ones
        ax.set_title(title if value is None else f"{title}\n{value:.2f} dB")
        ax.set_axis_off()
    _save_figure(figure, ctx.out / "crops.png")
    ctx.numbers["crops"] = {"image": name, "scale": STUDY_SCALE, "box": {"top": top, "left": left, "size": size},
                            "psnr": {METHOD_NAMES[m]: p for m, (_, _, p) in zip(("bicubic", "sparse-coding", "srcnn"),
                                                                                 panels[1:])}}
    return "\n\n".join([
        "## 5. Zoomed crops",
        (f"Set5 `{name}` at x3, the {size}x{size} region at row {top}, column {left} (the one with the most "
         "gradient), enlarged with nearest-neighbour. Colour: Y through each method, Cb/Cr by bicubic. "
         "Each title gives the whole image's Y PSNR of the colour result shown, from an LR image rounded "
         "to uint8, so it can differ slightly from the tables' protocol."),
        "![Zoomed crops](crops.png)",
    ])


def _degradation_section(ctx: Context) -> str:
    """Models trained on one degradation, tested on both: what training on the wrong LR costs."""
    models = {"bicubic": "Bicubic interpolation",
              "filter_9-5-5": f"filter_9-5-5 ({ctx.runs['filter_9-5-5'].config['degradation']} LR)",
              "degrade_subsample": f"degrade_subsample ({ctx.runs['degrade_subsample'].config['degradation']} LR)"}
    tests = ("bicubic", "subsample")
    numbers, rows = {}, []
    for name, label in models.items():
        scores = {test: ctx.score(name, "Set5", STUDY_SCALE, test) for test in tests}
        numbers[name] = {test: {"psnr": s.psnr, "ssim": s.ssim} for test, s in scores.items()}
        rows.append([label] + [f"{_psnr(s.psnr)} / {_ssim(s.ssim)}" for s in scores.values()])
    ctx.numbers["degradation"] = numbers
    header = ["Model (trained on)"] + [f"Test LR by {test}: PSNR / SSIM" for test in tests]
    return "\n\n".join([
        "## 6. Training degradation",
        "Set5 x3. `bicubic`: MATLAB bicubic down-scaling; `subsample`: every third pixel, no low-pass filter.",
        _table(header, rows),
    ])


def _differences_section(ctx: Context) -> str:
    """Each number with a published counterpart, ours minus theirs, and the standing reasons."""
    lines = ["## 7. Where we differ from the paper and why", ""]
    if ctx.differences:
        lines += [f"- {d.what}: ours {d.ours:.2f}, published {d.published:.2f} ({d.ours - d.published:+.2f} dB)"
                  for d in ctx.differences]
    else:
        lines.append(f"- No published numbers to compare with ({ctx.published.path} not found).")
    ctx.numbers["differences"] = [{"what": d.what, "ours": d.ours, "published": d.published,
                                   "difference_db": d.ours - d.published} for d in ctx.differences]
    train_images = sum(len(list_images(ctx.data / name)) for name in TRAIN_SETS if (ctx.data / name).is_dir())
    configs = [run.config for run in ctx.runs.values()]
    held_out = max((int(c.get("val_count", 0)) for c in configs if not c.get("val_data")), default=0)
    recipes = sorted({c["recipe"] for c in configs})
    residual = all(c.get("residual") for c in configs)
    backprops = sorted(run.summary["backprops"] for run in ctx.runs.values())
    cut = [run for run in ctx.runs.values() if run.cut_short]
    shipped = find_weights("srcnn", STUDY_SCALE)
    lines += ["", "Why:", "",
              f"- **Training data**: {' + '.join(TRAIN_SETS)}, {train_images} images"
              + (f" ({train_images - held_out} trained on, {held_out} held out for checkpoint selection)" if held_out else "")
              + f", against {PAPER_TRAINING}.",
              f"- **Recipe**: {', '.join(recipes)}"
              + (" (Adam, warm-up and cosine decay)" if recipes == ["adam"] else "")
              + (" with a global residual connection" if residual else "")
              + ", against the paper's SGD with momentum and no residual connection.",
              (f"- **Budget**: the study runs made {_span(backprops)} backprops each (summary.json), "
               "against the paper's up to 8 x 10^8.")]
    if shipped is not None:
        lines.append(f"- **Shipped x{STUDY_SCALE} model** (the SRCNN rows of section 1): `{shipped.entry.recipe}`.")
    if cut:
        lines.append("- **Time limit**: " + "; ".join(
            f"{run.spec.name} stopped at step {run.summary['step']:,} of {run.config['steps']:,} "
            f"(time limit {run.config['time_limit']:.0f} s)" for run in cut) + ".")
    else:
        lines.append("- **Time limit**: no run was cut short; every run reached its configured steps.")
    lines.append("- **Model selection**: checkpoints were chosen on a validation split of the training images, "
                 "never on Set5 or Set14 (Set5 is only logged for the convergence curve).")
    lines.append("- **Sparse coding**: Yang et al.'s pipeline (gradient features, joint dictionary, 5x5 patches, "
                 "overlap averaging, back-projection) with two departures chosen on the validation split: the "
                 "HR half predicts the detail bicubic misses, scaled with the LR feature's norm, and the HR atoms "
                 "are refitted by least squares to the OMP codes of the training features (`srcnn.sparse`). "
                 "The published figures used the authors' MATLAB code and its feature-sign lasso solver.")
    return "\n".join(lines)


def _span(values: list[int]) -> str:
    return f"{values[0]:,}" if values[0] == values[-1] else f"{values[0]:,} to {values[-1]:,}"


def cpu_name() -> str:
    """The CPU's model name, for reports and benchmarks that state which machine gave a figure."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _header_section(ctx: Context, seconds: float) -> str:
    """Title, how the report was made, and the training runs it reads."""
    command = f"srcnn reproduce --data {ctx.data} --out {ctx.out}"
    if ctx.runs_dir != ctx.out / "runs":
        command += f" --runs {ctx.runs_dir}"
    command += f" --budget {ctx.budget}"
    date = datetime.now().astimezone().isoformat(timespec="seconds")
    cpu, threads = cpu_name(), torch.get_num_threads()
    rows, runs = [], {}
    for name, run in ctx.runs.items():
        s, best = run.summary, run.summary["best"]
        note = "stopped by the time limit" if run.cut_short else ""
        rows.append([name, run.spec.label, f"{s['step']:,} / {run.config['steps']:,}", f"{s['backprops']:,}",
                     f"{s['seconds']:.0f}", s["device"], f"{_psnr(best['psnr'])} (step {best['step']:,})", note])
        runs[name] = {"label": run.spec.label, "steps": s["step"], "configured_steps": run.config["steps"],
                      "backprops": s["backprops"], "seconds": s["seconds"], "device": s["device"],
                      "best_validation_psnr": best["psnr"], "best_validation_ssim": best["ssim"],
                      "best_step": best["step"], "stopped_by_time_limit": run.cut_short}
    ctx.numbers.update({"command": command, "date": date, "cpu": cpu, "torch_threads": threads,
                        "report_seconds": seconds, "runs": runs})
    made = (f"- Command: `{command}`\n- Date: {date}\n- CPU: {cpu}, {threads} torch threads\n"
            f"- Report generation: {seconds:.0f} s (evaluation and figures; training not included)")
    if ctx.budget == "quick":  # say plainly that these numbers check the structure, nothing more
        ctx.numbers["quick"] = {"test_images_per_set": TEST_IMAGES["quick"], "sparse_coding_step": SPARSE_STEP["quick"]}
        made += (f"\n- Budget `quick`: a check of the report's structure, not a reproduction: tiny training runs, "
                 f"the {TEST_IMAGES['quick']} smallest images of each test set, sparse coding on a patch grid of "
                 f"step {SPARSE_STEP['quick']} (the authors': 1)")
    return "\n\n".join([
        "# SRCNN reproduction report",
        made,
        "## Training runs",
        "All x3, Y channel. Best validation PSNR: on the held-out training images, the checkpoint kept.",
        _table(["Run", "Model", "Steps", "Backprops", "Seconds", "Device", "Best val. PSNR", "Note"], rows),
    ])


def _real_crops_figure(ctx: Context) -> dict:
    """Zoomed crops of a JPEG-compressed LR input at x3 through bicubic, the clean and the real
    model, beside the HR image; the grey Y plane, as the tables score it."""
    images = ctx.sets["Set5"]
    name, image = next(((n, im) for n, im in images if n.lower().startswith("butterfly")), images[0])
    hr = modcrop(to_plane(image, 1), STUDY_SCALE)
    lr = parse_degradation(REAL_CROP_INPUT).lr(hr / 255.0, STUDY_SCALE)  # deterministic: no draw
    size = min(CROP_SIZE, *hr.shape[:2])
    top, left = _busiest_window(hr, size)
    enlarged = np.kron(quantize(lr), np.ones((STUDY_SCALE, STUDY_SCALE), dtype=np.uint8))
    panels = [(f"LR input, JPEG q{REAL_CROP_INPUT.split(':')[1]}\n(nearest)", enlarged, None)]
    methods = {"Bicubic": make_upscaler(STUDY_SCALE, method="bicubic")}
    methods.update({f"{label} ({kind})": rs.model_method(kind, STUDY_SCALE) for kind, label in REAL_KINDS.items()})
    for label, method in methods.items():
        if isinstance(method, rs.Skipped):
            panels.append((label, None, method.note))
            continue
        sr = quantize(method(lr, STUDY_SCALE))
        panels.append((label, sr, psnr(hr, sr, STUDY_SCALE)))
    panels.append(("HR (original)", hr, None))
    figure = _figure(2.6 * len(panels), 3.2)
    for i, (title, picture, value) in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), i + 1)
        ax.set_axis_off()
        if picture is None:  # a model not shipped yet: say so where its crop would be
            ax.set_title(title)
            ax.text(0.5, 0.5, value.replace(" for ", "\nfor "), ha="center", va="center", fontsize=8,
                    transform=ax.transAxes)
            continue
        ax.imshow(picture[top : top + size, left : left + size], cmap="gray", vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_title(title if not isinstance(value, float) else f"{title}\n{value:.2f} dB")
    _save_figure(figure, ctx.out / "real_inputs_crops.png")
    return {"image": name, "scale": STUDY_SCALE, "input": REAL_CROP_INPUT,
            "box": {"top": top, "left": left, "size": size},
            "psnr": {title.split("\n")[0]: value for title, _, value in panels[1:-1]}}


def _real_inputs_section(ctx: Context) -> str:
    """Issue 14's real inputs: what the clean and the real models gain over bicubic on degraded LR
    inputs, and the scale-1 restorers beside their classical anchors, all measured in this run."""
    test = rs.grey_images(item for images in ctx.sets.values() for item in images)
    scales = BUDGET_SCALES[ctx.budget]
    gains = rs.gain_table(test, REAL_KINDS, scales)
    count, crop = RESTORE_SAMPLE[ctx.budget]
    restore = test[:count] if crop is None else rs.center_crops(test[:count], crop)
    tuning_paths = list_images(ctx.data / "T91")[:NLM_TUNING_IMAGES] if (ctx.data / "T91").is_dir() else []
    tuning = rs.grey_images((p.stem, read_image(p)) for p in tuning_paths)
    nlm_h = {sigma: rs.tune_nlm_h(tuning, sigma) if tuning else None for sigma in rs.DENOISE_SIGMAS}
    denoising = rs.denoising_table(restore, rs.DENOISE_SIGMAS, "denoise", nlm_h)
    jpeg = rs.jpeg_table(restore, rs.JPEG_QUALITIES, "jpeg")
    crops = _real_crops_figure(ctx)
    sets = " + ".join(ctx.sets)
    restore_what = (f"{len(restore)} image(s) of {sets}" if crop is None
                    else f"the central {crop}x{crop} pixels of {len(restore)} image(s) of {sets} (`{ctx.budget}` budget)")
    ctx.numbers["real_inputs"] = {
        "test_images": [name for name, _ in test], "restore_images": [name for name, _ in restore],
        "restore_crop": crop, "gain_over_bicubic": rs.table_dict(gains),
        "nlm_h": {f"{s:g}": h for s, h in nlm_h.items()}, "nlm_tuning_images": [p.name for p in tuning_paths],
        "denoising": rs.table_dict(denoising), "jpeg": rs.table_dict(jpeg), "crops": crops}
    return "\n\n".join([
        "## 9. Real inputs",
        (f"Grey images (Y), the `srcnn evaluate` protocol with seed 0: a random draw depends on the image "
         f"and the seed alone, so every method at a level sees the same degraded image. {sets}: "
         f"{len(test)} images."),
        "### Gain over bicubic on degraded LR inputs",
        ("PSNR of the model minus PSNR of bicubic, both fed the same LR image: MATLAB bicubic down-scaling, then "
         "the degradation (JPEG at quality 75 / 50, Gaussian noise of sigma 10 of 255). The clean model, `fsrcnn`, is "
         "trained on bicubic LR; the real model, `real` (at x3 a deep restorer on the LR grid in front of an FSRCNN, "
         "elsewhere an FSRCNN), on the `real` chain (blur, down-scaling, noise, JPEG). "
         "The last row: bicubic's own PSNR on each input."),
        rs.gain_markdown(gains),
        "### Denoising",
        (f"Gaussian noise, {restore_what}. OpenCV `fastNlMeansDenoising` on the uint8 noisy image, its `h` the best "
         f"of {rs.NLM_H_FACTORS[0]}..{rs.NLM_H_FACTORS[-1]} x sigma on {len(tuning_paths)} T91 training images "
         "(never the test images); BM3D (`bm3d` package) on the float noisy image with the true sigma; ours: the "
         "shipped `denoise` model, fp32. Seconds: one call per image on this CPU."),
        rs.denoising_markdown(denoising, nlm_h, "denoise"),
        "### JPEG artefacts",
        f"Grey JPEG (Pillow) at each quality, {restore_what}; ours: the shipped `jpeg` model.",
        rs.jpeg_markdown(jpeg, "jpeg"),
        "### Zoomed crops of a JPEG input",
        (f"Set5 `{crops['image']}` (Y) at x{STUDY_SCALE}, its LR image saved as JPEG quality "
         f"{REAL_CROP_INPUT.split(':')[1]}; the {crops['box']['size']}x{crops['box']['size']} region at row "
         f"{crops['box']['top']}, column {crops['box']['left']}, enlarged with nearest-neighbour. Titles: the whole "
         f"image's PSNR (dB, {STUDY_SCALE} pixels shaved)."),
        "![Zoomed crops of a JPEG-compressed LR input](real_inputs_crops.png)",
    ])


# ---- the report -------------------------------------------------------------------------------------

SECTIONS = (_comparison_section, _width_section, _filter_section, _convergence_section, _crops_section,
            _degradation_section, _differences_section, _speed_quality_section, _real_inputs_section)


def write_report(data: str | Path, out: str | Path, runs: str | Path, budget: str) -> Path:
    """Score the study's runs and the baselines, write OUT/report.md, its figures and OUT/scores.json;
    returns the report's path."""
    start = time.perf_counter()
    if budget not in BUDGET_SCALES:
        raise SRCNNError(f"unknown budget {budget!r}: use {' or '.join(BUDGET_SCALES)}")
    data, out, runs = Path(data), Path(out), Path(runs)
    if not runs.is_dir():
        raise SRCNNError(f"{runs}: no such folder of training runs")
    ctx = Context(data, out, runs, budget, read_sets(data, TEST_IMAGES[budget]), read_runs(runs),
                  Published(data.parent / "reference" / "published.csv"))
    for scale in BUDGET_SCALES[budget]:  # a missing sparse-coding dictionary fails now, not after minutes of scoring
        ctx.upscaler("sparse-coding", scale)
    out.mkdir(parents=True, exist_ok=True)
    body = []
    for number, section in enumerate(SECTIONS, 1):  # one line each: some take a while (sparse coding)
        log.info("report %d/%d: %s (%.0f s so far)", number, len(SECTIONS),
                 section.__name__.strip("_").removesuffix("_section"), time.perf_counter() - start)
        body.append(section(ctx))
    # The header reports the wall time, so it is written last and placed first.
    header = _header_section(ctx, time.perf_counter() - start)
    write_text_atomic(out / "scores.json", json.dumps(ctx.numbers, indent=2) + "\n")
    report = out / "report.md"
    write_text_atomic(report, "\n\n".join([header] + body) + "\n")
    return report
