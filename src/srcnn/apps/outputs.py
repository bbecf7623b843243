"""Where each input's output goes, decided before any work, so that no user file is lost.

``plan_outputs`` turns the command line's inputs (files and folders) and ``-o`` into a list of
(source, target) pairs and refuses, with one line naming the files, every plan that would lose
data: an output that is an input, two inputs writing the same output, an existing output (unless
``existing`` says to overwrite or skip it), a file-like ``-o`` for several inputs, an ``-o`` with an
extension no writer knows. A folder walk never descends into the output folder, so running the same
command twice does not upscale its own outputs. Pure path logic: no torch, no pixels read.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from ..errors import SRCNNError
from ..io.imageio import IMAGE_SUFFIXES, QUALITY_FORMATS, image_format, list_images
from ..io.video import VIDEO_SUFFIXES

__all__ = ["EXTENSIONS", "EXISTING", "Plan", "output_name", "plan_outputs"]

EXTENSIONS = ("auto", "png", "jpg", "webp", "tif")  # --ext: auto keeps the input's format
EXISTING = ("error", "overwrite", "skip")  # what to do with an output that already exists
# Inputs whose own format makes a poor output: GIF holds 256 colours, so --ext auto writes PNG instead.
_AUTO_REPLACEMENT = {".gif": ".png"}


def output_name(rel: PurePath, ext: str = "auto") -> PurePath:
    """The output's path relative to the output folder, for an input's path relative to its folder
    (or its bare name): the same path, with ``ext`` as its extension unless ``ext`` is 'auto' (keep
    the input's format; GIF becomes PNG). Videos keep their extension whatever ``ext`` says."""
    if ext not in EXTENSIONS:
        raise SRCNNError(f"unknown --ext {ext!r}: choose from {', '.join(EXTENSIONS)}")
    rel = PurePath(rel)
    suffix = rel.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return rel
    if ext == "auto":
        return rel.with_suffix(_AUTO_REPLACEMENT[suffix]) if suffix in _AUTO_REPLACEMENT else rel
    return rel.with_suffix("." + ext)


class Plan(list):
    """A list of (source, target) pairs to process; ``skipped`` holds those left alone because
    their target exists (``existing='skip'``)."""

    def __init__(self, pairs=(), skipped=()):
        super().__init__(pairs)
        self.skipped: list[tuple[Path, Path]] = list(skipped)


def _is_video(path: PurePath) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _looks_like_folder(output: str | os.PathLike) -> bool:
    text = os.fspath(output)
    return text.endswith(("/", os.sep)) or Path(text).is_dir() or not Path(text).suffix


def _key(path: Path) -> str:
    """Two paths naming the same file give the same key (symlinks and '..' resolved)."""
    return os.path.normcase(str(path.resolve()))


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _collect(inputs, output: Path, to_folder: bool) -> list[tuple[Path, PurePath]]:
    """(input file, its path relative to the output folder) for every file the inputs name."""
    found: list[tuple[Path, PurePath]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            if to_folder and _key(item) == _key(output):
                raise SRCNNError(f"{item}: the output folder is this input folder; choose another -o")
            # Never walk into the output folder: a second run would upscale its own outputs.
            skip_output = to_folder and _inside(output, item)
            files = [p for p in list_images(item) if not (skip_output and _inside(p, output))]
            if not files:
                raise SRCNNError(f"{item}: no images found outside the output folder {output}")
            found += [(p, p.relative_to(item)) for p in files]
        elif item.is_file():
            found.append((item, PurePath(item.name)))
        elif item.exists():
            raise SRCNNError(f"{item}: not a file or folder")
        else:
            raise SRCNNError(f"{item}: no such file or folder")
    unique: dict[str, tuple[Path, PurePath]] = {}
    for source, rel in found:  # a file named twice (e.g. a folder and a file in it) is upscaled once
        unique.setdefault(_key(source), (source, rel))
    return list(unique.values())


def _check_file_target(source: Path, target: Path, ext: str) -> None:
    suffix = target.suffix.lower()
    if _is_video(source) and suffix not in VIDEO_SUFFIXES:
        raise SRCNNError(f"{target}: a video needs a video file as output ({', '.join(sorted(VIDEO_SUFFIXES))})")
    if not _is_video(source) and suffix in VIDEO_SUFFIXES:
        raise SRCNNError(f"{target}: {source} is an image; give an image file as output")
    if ext != "auto" and suffix not in {"jpg": (".jpg", ".jpeg"), "tif": (".tif", ".tiff")}.get(ext, ("." + ext,)):
        raise SRCNNError(f"{target}: --ext {ext} contradicts the output's extension; drop one of them")


def plan_outputs(inputs, output, ext: str = "auto", existing: str = "error",
                 quality: int | None = None) -> Plan:
    """The (source, target) pairs for ``srcnn upscale INPUT... -o OUTPUT``, checked before any work.

    ``output`` is a file (one input file, an image or video extension) or a folder (anything else:
    a path ending in '/', an existing folder, or a name without an extension). Into a folder, each
    input keeps its path below the folder it was found in, named by :func:`output_name`.
    ``existing``: 'error' (refuse, naming the first existing output), 'overwrite', or 'skip' (such
    pairs go to ``Plan.skipped``). ``quality`` is refused when no output format takes one.
    Raises SRCNNError for: a missing input, an unknown output extension, several inputs with a
    file-like output, an output that is an input, two inputs with one output, an existing output.
    """
    if existing not in EXISTING:
        raise ValueError(f"existing must be one of {EXISTING}, got {existing!r}")
    if quality is not None and not 1 <= quality <= 100:
        raise SRCNNError(f"--quality must be between 1 and 100, got {quality}")
    output = Path(output)
    to_folder = _looks_like_folder(output)
    if not to_folder and output.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
        known = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
        raise SRCNNError(f"{output}: unknown output extension {output.suffix!r} (images and videos: {known}; "
                         "a folder: a name without an extension or ending in '/')")
    found = _collect(inputs, output, to_folder)
    if not to_folder:
        if len(found) != 1 or any(Path(i).is_dir() for i in inputs):
            raise SRCNNError(f"{output}: {len(found)} inputs need a folder as output (-o FOLDER/), not a file")
        _check_file_target(found[0][0], output, ext)
        pairs = [(found[0][0], output)]
    else:
        pairs = [(source, output / output_name(rel, ext)) for source, rel in found]

    sources = {_key(source): source for source, _ in pairs}
    writers: dict[str, Path] = {}
    for source, target in pairs:
        key = _key(target)
        if key in sources:
            raise SRCNNError(f"{target}: the output would replace the input {sources[key]}; choose another -o")
        if key in writers:
            raise SRCNNError(f"{writers[key]} and {source} would both be written to {target}; "
                             "upscale them separately or rename one")
        writers[key] = source
        if target.is_dir():
            raise SRCNNError(f"{target}: a folder is in the way of this output")

    todo, skipped, clashes = [], [], []
    for source, target in pairs:
        if not target.exists():
            todo.append((source, target))
        elif existing == "overwrite":
            todo.append((source, target))
        elif existing == "skip":
            skipped.append((source, target))
        else:
            clashes.append(target)
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise SRCNNError(f"{clashes[0]}: already exists{more}; --overwrite replaces, --skip-existing skips")
    if quality is not None and pairs and not any(image_format(t) in QUALITY_FORMATS for _, t in pairs):
        fmt = image_format(pairs[0][1]) or pairs[0][1].suffix
        raise SRCNNError(f"--quality applies to JPEG and WebP outputs only, not {fmt}")
    return Plan(todo, skipped)
