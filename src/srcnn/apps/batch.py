"""``srcnn batch``: upscale every image under a folder or an object-store prefix, on Ray Data or in
one process.

Both engines call the same per-file function (:func:`upscale_file`) with the upscaler that
``srcnn upscale`` builds (``inference.make_upscaler`` -> ``Upscaler.upscale_picture``), read and written
by ``imageio.load_picture`` / ``save_picture``: the pixels are those of ``srcnn upscale``.

On Ray, the list of pending files is a Ray Data dataset; ``map_batches`` runs it through a pool of
actors that each build their upscaler once. Files are listed, read and written through pyarrow's
filesystem layer, so INPUT and OUTPUT may be local folders or any URI pyarrow opens (``s3://``,
``gs://``, ``hdfs://``...). A file that cannot be read or written is a record in the manifest
(``OUTPUT/_srcnn_manifest.json``) and a line on stderr, not the end of the job; a file whose output
already exists is skipped, and outputs are written whole or not at all, so a rerun finishes a job.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

from ..errors import SRCNNError

__all__ = ["BatchSettings", "Location", "BatchReport", "MANIFEST_NAME", "RAY_MISSING", "list_inputs",
           "upscale_file", "run_batch"]

MANIFEST_NAME = "_srcnn_manifest.json"
RAY_MISSING = 'Ray is not installed; install it with: pip install -e ".[ray]"'


@dataclass(frozen=True)
class BatchSettings:
    """What ``srcnn upscale`` takes, as data every worker receives."""

    scale: int
    model: str | None = None
    method: str = "srcnn"
    precision: str = "auto"
    device: str = "cpu"
    tile: int | None = None
    threads: int | None = None  # torch threads per worker (Ray: also the CPUs each actor reserves)
    quality: int | None = None
    ext: str = "auto"  # see outputs.output_name

    def make_upscaler(self):
        import torch

        from ..inference import make_upscaler, resolve_device

        resolve_device(self.device)  # a missing GPU is one line, before any model loads
        if self.threads:
            torch.set_num_threads(self.threads)
        return make_upscaler(self.scale, self.model, self.method, self.precision, self.device, self.tile)


@dataclass(frozen=True)
class Location:
    """A folder on a pyarrow filesystem (local disk, S3, GCS, HDFS...), and the name the user gave it."""

    fs: object  # pyarrow.fs.FileSystem; picklable, so workers get it with its options
    root: str  # the folder's path on ``fs``, without a trailing slash
    uri: str

    @classmethod
    def parse(cls, uri: str) -> "Location":
        import pyarrow.fs as pafs

        if "://" not in uri:  # a plain path, relative or not
            return cls(pafs.LocalFileSystem(), Path(uri).resolve().as_posix(), uri)
        try:
            fs, root = pafs.FileSystem.from_uri(uri)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError or ValueError by scheme
            raise SRCNNError(f"{uri}: cannot open ({_one_line(exc)})") from None
        return cls(fs, root.rstrip("/"), uri)

    @property
    def is_local(self) -> bool:
        import pyarrow.fs as pafs

        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def display(self, rel: str) -> str:
        """How to name a file under this folder in messages (an URI's options left out)."""
        return f"{self.uri.split('?', 1)[0].rstrip('/')}/{rel}"

    def files(self) -> list[str] | None:
        """Paths (POSIX, relative to the folder) of every file under it, sorted; None if it does not exist."""
        from pyarrow.fs import FileSelector, FileType

        try:
            kind = self.fs.get_file_info(self.root).type
            if kind == FileType.NotFound:
                return None
            if kind != FileType.Directory:
                raise SRCNNError(f"{self.uri}: not a folder")
            entries = self.fs.get_file_info(FileSelector(self.root, recursive=True))
        except OSError as exc:
            raise SRCNNError(f"{self.uri}: cannot list ({_one_line(exc)})") from None
        root = PurePosixPath(self.root)
        return sorted(PurePosixPath(e.path).relative_to(root).as_posix() for e in entries if e.type == FileType.File)

    def write_text(self, rel: str, text: str) -> None:
        if self.is_local:
            from ..io.imageio import write_text_atomic

            write_text_atomic(self.path(rel), text)
        else:
            with self.fs.open_output_stream(self.path(rel)) as stream:  # an object appears once uploaded whole
                stream.write(text.encode())


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def list_inputs(source: Location, target: Location | None = None) -> list[str]:
    """The images under ``source`` (relative POSIX paths, sorted, as ``imageio.list_images`` picks
    them), leaving out ``target`` when the output folder lies inside the input folder."""
    from ..io.imageio import IMAGE_SUFFIXES

    files = source.files()
    if files is None:
        raise SRCNNError(f"{source.uri}: no such folder")
    inside = None
    if target is not None and type(target.fs) is type(source.fs) and target.root.startswith(source.root + "/"):
        inside = target.root[len(source.root) + 1 :] + "/"
    images = [rel for rel in files if PurePosixPath(rel).suffix.lower() in IMAGE_SUFFIXES
              and not (inside and rel.startswith(inside))]
    if not images:
        raise SRCNNError(f"{source.uri}: no images found")
    return images


def output_rel(rel: str, settings: BatchSettings) -> str:
    from .outputs import output_name

    return output_name(PurePosixPath(rel), settings.ext).as_posix()


@contextmanager
def _local_input(source: Location, rel: str, scratch: Path) -> Iterator[str]:
    """A local path holding the input: the file itself on local disk, else a downloaded copy."""
    if source.is_local:
        yield source.path(rel)
        return
    copy = scratch / f"in{PurePosixPath(rel).suffix}"
    with source.fs.open_input_stream(source.path(rel)) as stream:
        copy.write_bytes(stream.read())
    try:
        yield str(copy)
    finally:
        copy.unlink(missing_ok=True)


@contextmanager
def _local_output(target: Location, rel: str, scratch: Path) -> Iterator[str]:
    """A local path to write the output to: the output itself on local disk (save_picture writes it
    atomically), else a scratch file uploaded whole once the block succeeds."""
    if target.is_local:
        yield target.path(rel)
        return
    copy = scratch / f"out{PurePosixPath(rel).suffix}"
    try:
        yield str(copy)
        data = copy.read_bytes()
        path = target.path(rel)
        target.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with target.fs.open_output_stream(path) as stream:  # S3 & co. show an object once uploaded whole
            stream.write(data)
    finally:
        copy.unlink(missing_ok=True)


def upscale_file(upscaler, settings: BatchSettings, source: Location, target: Location, rel: str,
                 scratch: Path) -> dict:
    """Upscale one input into its output; any failure becomes the record's one-line reason."""
    from ..io.imageio import QUALITY_FORMATS, image_format, load_picture, save_picture

    out = output_rel(rel, settings)
    record = {"input": rel, "output": out, "status": "done", "reason": ""}
    local_paths: list[str] = []
    try:
        with _local_input(source, rel, scratch) as local_in:
            local_paths.append(local_in)
            picture = load_picture(local_in)
        result = upscaler.upscale_picture(picture)
        with _local_output(target, out, scratch) as local_out:
            local_paths.append(local_out)
            quality = settings.quality if image_format(local_out) in QUALITY_FORMATS else None  # as `srcnn upscale`
            save_picture(result, local_out, quality=quality)
    except Exception as exc:  # one bad file (or a storage hiccup) must not end a job of millions
        reason = _one_line(exc)
        for path in local_paths:  # our messages start with the (perhaps scratch) path: the record names the file
            reason = reason.removeprefix(f"{path}: ")
        if not isinstance(exc, SRCNNError):
            reason = f"{type(exc).__name__}: {reason}"
        record.update(status="failed", reason=reason)
    return record


def _worker_stamp() -> dict:
    """Which process did the work, and its peak resident memory so far (MiB)."""
    import resource

    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"worker": f"{socket.gethostname()}:{os.getpid()}", "peak_rss_mib": round(peak_kib / 1024, 1)}


class _RayUpscaleWorker:
    """A Ray Data actor: builds its upscaler once, then upscales the files of each batch."""

    def __init__(self, settings: BatchSettings, source: Location, target: Location):
        import torch

        self.settings, self.source, self.target = settings, source, target
        torch.set_num_threads(settings.threads or 1)  # the CPUs this actor reserved, whatever OMP_NUM_THREADS says
        self.upscaler = settings.make_upscaler()
        remote = not (source.is_local and target.is_local)  # only object storage needs scratch files
        self.scratch = Path(tempfile.mkdtemp(prefix="srcnn-batch-") if remote else tempfile.gettempdir())

    def __call__(self, batch: dict) -> dict:
        records = [upscale_file(self.upscaler, self.settings, self.source, self.target, str(rel), self.scratch)
                   for rel in batch["input"]]
        stamp = _worker_stamp()
        for record in records:
            record.update(stamp)
        return {key: [r[key] for r in records] for key in records[0]}


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (the [data] extra)
    except ImportError:
        raise SRCNNError(RAY_MISSING) from None
    return ray


def _run_ray(pending: list[str], settings: BatchSettings, source: Location, target: Location,
             address: str | None, workers: int | None) -> Iterator[dict]:
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        # "local" always starts a fresh Ray on this machine's cores; "auto" / "host:port" join a cluster.
        try:
            ray.init(address=address or "local", include_dashboard=False, logging_level="WARNING")
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise SRCNNError(f"cannot start or reach Ray at {address or 'local'}: {_one_line(exc)}") from None
    # Ray Data's INFO lines (execution plans) would break our progress bar; its log files keep them.
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars, context.max_errored_blocks
    try:
        cpus_per_worker = settings.threads or 1
        gpus_per_worker = 1 if settings.device.startswith("cuda") else 0
        size = workers or max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_worker))
        context.enable_progress_bars = False  # one bar, counting files, drawn by run_batch
        context.max_errored_blocks = -1  # files lost to a worker that kept dying are reported, not fatal
        per_block = min(32, max(1, math.ceil(len(pending) / (size * 8))))  # small blocks: even load, early progress
        blocks = math.ceil(len(pending) / per_block)
        size = min(size, blocks)  # no idle actors holding a model for nothing
        dataset = ray.data.from_items([{"input": rel} for rel in pending], override_num_blocks=blocks)
        results = dataset.map_batches(
            _RayUpscaleWorker, fn_constructor_kwargs={"settings": settings, "source": source, "target": target},
            batch_size=None, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=size),
            num_cpus=cpus_per_worker, num_gpus=gpus_per_worker)
        # Ray Data restarts an actor that dies (max_restarts=-1) and reruns the files it held
        # (max_task_retries=-1) by default; both are left so, as Ray deprecates setting them here.
        seen = set()
        for row in results.iter_rows():
            seen.add(row["input"])
            yield dict(row)
        for rel in pending:
            if rel not in seen:
                yield {"input": rel, "output": output_rel(rel, settings), "status": "failed",
                       "reason": "lost: its Ray task failed (see Ray's logs)", "worker": "", "peak_rss_mib": 0.0}
    finally:
        context.enable_progress_bars, context.max_errored_blocks = saved
        if started:
            ray.shutdown()


def _run_local(pending: list[str], upscaler, settings: BatchSettings, source: Location,
               target: Location) -> Iterator[dict]:
    with tempfile.TemporaryDirectory(prefix="srcnn-batch-") as scratch:
        for rel in pending:
            record = upscale_file(upscaler, settings, source, target, rel, Path(scratch))
            record.update(_worker_stamp())
            yield record


@dataclass
class BatchReport:
    inputs: int
    done: int
    skipped: int
    failed: list[dict]  # {"input", "reason"}
    seconds: float
    workers: dict[str, float]  # worker -> peak resident memory, MiB
    manifest: str

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


def run_batch(input_uri: str, output_uri: str, settings: BatchSettings, engine: str = "ray",
              address: str | None = None, workers: int | None = None, progress: bool = True) -> BatchReport:
    """Upscale every image under ``input_uri`` into ``output_uri`` (same relative paths); failures
    are listed in the manifest and on stderr. ``engine``: 'ray' (an actor pool on Ray Data; a local Ray
    unless ``address`` names a cluster) or 'local' (this process)."""
    from tqdm import tqdm

    if engine not in ("ray", "local"):
        raise SRCNNError(f"unknown engine {engine!r}: choose ray or local")
    if engine == "ray":
        _import_ray()  # before any work: without Ray, say how to get it
        if address and address.startswith("ray://"):
            # Ray Data fails under Ray Client (2.60: AttributeError in its executor): the driver must be on the cluster.
            raise SRCNNError("Ray Data does not run through Ray Client (ray://): run srcnn batch on a node of the "
                             "cluster with --address auto, or send it there with `ray job submit`")
    elif address or workers:
        raise SRCNNError("--address and --workers are for --engine ray")
    if workers is not None and workers < 1:
        raise SRCNNError(f"--workers must be at least 1, got {workers}")
    if settings.quality is not None and not 1 <= settings.quality <= 100:
        raise SRCNNError(f"--quality must be between 1 and 100, got {settings.quality}")
    output_rel("x.png", settings)  # an unknown --ext is refused before any work
    source, target = Location.parse(input_uri), Location.parse(output_uri)
    inputs = list_inputs(source, target)
    existing = set(target.files() or ())
    pending = [rel for rel in inputs if output_rel(rel, settings) not in existing]
    upscaler = settings.make_upscaler()  # checks the options once, here, before any worker starts
    settings = replace(settings, device=str(upscaler.device)) if hasattr(upscaler, "device") else settings  # 'auto' settled

    start = time.perf_counter()
    records: Iterable[dict] = ()
    if engine == "ray" and pending:
        records = _run_ray(pending, settings, source, target, address, workers)
    elif pending:
        records = _run_local(pending, upscaler, settings, source, target)
    done, failed, peaks = 0, [], {}
    with tqdm(total=len(pending), unit="image", disable=not progress or not pending, dynamic_ncols=True) as bar:
        for record in records:
            if record["status"] == "done":
                done += 1
            else:
                failed.append({"input": record["input"], "reason": record["reason"]})
                tqdm.write(f"srcnn: {source.display(record['input'])}: {record['reason']}", file=sys.stderr)
            if record["worker"]:
                peaks[record["worker"]] = max(peaks.get(record["worker"], 0.0), float(record["peak_rss_mib"]))
            bar.update()
    seconds = time.perf_counter() - start

    failed.sort(key=lambda f: f["input"])
    report = BatchReport(len(inputs), done, len(inputs) - len(pending), failed, round(seconds, 3), peaks,
                         target.display(MANIFEST_NAME))
    manifest = {"input": source.uri.split("?", 1)[0], "output": target.uri.split("?", 1)[0], "engine": engine,
                "settings": asdict(settings), "inputs": report.inputs, "done": done, "skipped": report.skipped,
                "failed": failed, "seconds": report.seconds, "images_per_second": round(report.images_per_second, 3),
                "workers": [{"worker": w, "peak_rss_mib": m} for w, m in sorted(peaks.items())]}
    target.write_text(MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return report
