"""The FastAPI app behind ``srcnn serve``: a page, an HTTP API and bounded upscaling jobs.

The upscaling itself is the Python API of ``srcnn upscale``: ``make_upscaler(...)`` once per
(model, scale, method, precision), then ``upscale_picture(load_picture(upload))`` and
``save_picture(...)`` on every request, on a worker thread so the event loop keeps answering.
Uploads land in server-named temporary folders; nothing a client sends becomes a path.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ...errors import SRCNNError
from .jobs import Job, JobQueue, JobTimeout, QueueFull, current_deadline

__all__ = ["ServerSettings", "create_app"]

STATIC = Path(__file__).parent / "static"
# Output formats a client may ask for: extension and media type (the only file names we write).
FORMATS = {"png": ("png", "image/png"), "jpeg": ("jpg", "image/jpeg"), "jpg": ("jpg", "image/jpeg"),
           "webp": ("webp", "image/webp")}


@dataclass
class ServerSettings:
    """Limits and engine options of one server (``srcnn serve --help`` names them)."""

    token: str | None = None  # when set, /api/* needs "Authorization: Bearer TOKEN"
    workers: int = 1  # jobs running at once
    queue_size: int = 4  # jobs held at once (running + waiting); beyond it: 503 with Retry-After
    max_upload_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 4_000_000  # input pixels (width x height), read from the header before decoding
    time_limit: float = 120.0  # seconds per job
    keep_seconds: float = 600.0  # how long a finished job's result can be fetched
    precision: str = "auto"
    device: str = "cpu"
    tile: int | None = None
    temp_root: str | None = None  # where the private temporary folders go (default: the system's)


class Refusal(Exception):
    """A request we refuse: an HTTP status and one sentence."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Engines:
    """Upscalers built once and shared by every request, keyed by (model, scale, method, precision)."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self._cache: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def get(self, scale: int, model: str | None, method: str):
        key = (model, scale, method, self.settings.precision)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._build(scale, model, method)
            return self._cache[key]

    def _build(self, scale: int, model: str | None, method: str):
        import torch

        from ...inference import make_upscaler

        s = self.settings
        upscaler = make_upscaler(scale, model, method, s.precision, s.device, s.tile)
        net = getattr(upscaler, "net", None)
        if isinstance(net, torch.nn.Module):
            # Each tile is one forward pass: a job past its time limit stops at the next tile.
            net.register_forward_pre_hook(_stop_past_deadline)
        return upscaler


def _stop_past_deadline(module, inputs):
    deadline = current_deadline()
    if deadline is not None and time.monotonic() > deadline:
        raise JobTimeout()


def model_cards() -> list[dict]:
    """Every shipped up-scaler with its card, as JSON (whatever fields the cards carry). The scale-1
    restorers (`srcnn restore`) are left out: this server only upscales."""
    from ...models.weights import Weights, default_weights

    cards = []
    for weights in Weights:
        if weights.entry.scale == 1:
            continue
        card = asdict(weights.entry)
        card.pop("file", None)  # a server-side file name, of no use to a client
        card["metrics"] = {name: {"psnr": values[0], "ssim": values[1]} if isinstance(values, (list, tuple))
                           else values for name, values in card.get("metrics", {}).items()}
        card = {"name": weights.name, "default": default_weights(weights.entry.scale) is weights, **card}
        cards.append(card)
    return cards


@dataclass
class Options:
    scale: int
    model: str | None
    method: str
    format: str
    quality: int | None


def parse_options(form) -> Options:
    """The form's fields, checked against what ships; a refusal names the field and the choices."""
    from ...inference import METHODS, SCALES
    from ...models.weights import Weights

    def field(name: str) -> str | None:
        value = form.get(name)
        if value is None or not isinstance(value, str) or value.strip() == "":
            return None
        return value.strip()

    raw_scale = field("scale")
    if raw_scale is None:
        raise Refusal(400, "the form needs a 'scale' field (2, 3 or 4).")
    try:
        scale = int(raw_scale)
    except ValueError:
        raise Refusal(400, f"scale must be a whole number, not {raw_scale[:20]!r}.") from None
    if scale not in SCALES:
        raise Refusal(400, f"unsupported scale {scale}: choose from {', '.join(map(str, SCALES))}.")
    method = field("method") or "srcnn"
    if method not in METHODS:
        raise Refusal(400, f"unknown method {method[:40]!r}: choose from {', '.join(METHODS)}.")
    model = field("model")
    if model is not None:
        if method != "srcnn":
            raise Refusal(400, f"a model applies to method 'srcnn' only, not {method!r}.")
        if model not in Weights.__members__:  # only shipped names: a client never names a file
            raise Refusal(400, f"unknown model {model[:40]!r}: see GET /api/models for the shipped ones.")
        if Weights[model].entry.scale != scale:
            raise Refusal(400, f"model {model} is for x{Weights[model].entry.scale}, not x{scale}.")
    fmt = (field("format") or "png").lower()
    if fmt not in FORMATS:
        raise Refusal(400, f"unknown format {fmt[:20]!r}: choose from png, jpeg, webp.")
    quality = field("quality")
    if quality is not None:
        try:
            quality = int(quality)
        except ValueError:
            raise Refusal(400, "quality must be a whole number from 1 to 100.") from None
        if not 1 <= quality <= 100:
            raise Refusal(400, "quality must be a whole number from 1 to 100.")
    return Options(scale, model, method, fmt, quality)


def _download_name(filename: str | None, scale: int, extension: str) -> str:
    """A safe name for the Content-Disposition header: the upload's stem, plain characters only."""
    stem = (filename or "image").replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:60] or "image"
    return f"{stem}_x{scale}.{extension}"


def _client_message(exc: SRCNNError, path: Path) -> str:
    """Our error's sentence without the server's temporary path."""
    text = str(exc).replace(str(path), "the uploaded file").strip()
    return text if text.endswith(".") else text + "."


_UPLOAD_FORM = {  # the multipart body, for the OpenAPI docs (the route reads the stream itself)
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file", "scale"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "the image"},
            "scale": {"type": "integer", "enum": [2, 3, 4]},
            "model": {"type": "string", "description": "a shipped model's name (GET /api/models); default: by scale"},
            "method": {"type": "string", "enum": ["srcnn", "bicubic", "sparse-coding"], "default": "srcnn"},
            "format": {"type": "string", "enum": ["png", "jpeg", "webp"], "default": "png"},
            "quality": {"type": "integer", "minimum": 1, "maximum": 100, "description": "JPEG / WebP quality"},
        }}}},
}


def create_app(settings: ServerSettings | None = None, **overrides) -> FastAPI:
    """The app: ``create_app(token=..., workers=..., ...)`` or ``create_app(ServerSettings(...))``."""
    settings = settings or ServerSettings(**overrides)
    queue = JobQueue(settings.workers, settings.queue_size, settings.time_limit, settings.keep_seconds,
                     settings.temp_root)
    engines = Engines(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async def sweeper():
            while True:
                await asyncio.sleep(1.0)
                queue.sweep()

        task = asyncio.create_task(sweeper())
        try:
            yield
        finally:
            task.cancel()
            queue.close()

    app = FastAPI(title="srcnn", summary="SRCNN image super-resolution: upload an image, get it upscaled.",
                  version=_version(), lifespan=lifespan)
    app.state.settings, app.state.queue, app.state.engines = settings, queue, engines

    @app.exception_handler(Refusal)
    async def _refusal(request: Request, exc: Refusal):
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect):
        return _error(400, "the client went away before the upload was complete.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "the request was refused."
        if exc.status_code == 404 and message == "Not Found":
            message = "there is nothing at this address."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed here."
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        return _error(422, f"{where or 'the request'}: {first.get('msg', 'invalid')}.")

    def authorise(request: Request) -> None:
        if settings.token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), settings.token.encode()):
            raise Refusal(401, "this server needs 'Authorization: Bearer TOKEN' (the token given to srcnn serve).",
                          {"WWW-Authenticate": "Bearer"})

    async def read_upload(request: Request) -> tuple[Job, Options]:
        """Stream the multipart body (refusing it past the size limit as it arrives), check the
        options and the image header, and take a queue slot; returns the queued job."""
        limit = settings.max_upload_bytes
        too_big = f"the upload is larger than the server's limit of {limit / 2**20:g} MiB."
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
            raise Refusal(413, too_big)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise Refusal(415, "send the image as multipart/form-data with a 'file' field.")
        received = 0

        async def counted_receive():
            nonlocal received
            message = await request.receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit + 64 * 1024:  # the form's other fields and boundaries: a little slack
                    raise Refusal(413, too_big)
            return message

        folder = queue.new_folder()
        try:
            form = await Request(request.scope, counted_receive).form(max_files=1, max_fields=8)
            try:
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    raise Refusal(400, "the form needs a 'file' field holding the image.")
                options = parse_options(form)
                source = folder / "upload"
                await run_in_threadpool(_copy_upload, upload.file, source)
                filename = upload.filename
            finally:
                await form.close()
            if source.stat().st_size == 0:
                raise Refusal(400, "the uploaded file is empty.")
            if source.stat().st_size > limit:
                raise Refusal(413, too_big)
            width, height = await run_in_threadpool(_header_size, source)
            if width * height > settings.max_pixels:
                raise Refusal(413, f"the image is {width}x{height} pixels, more than the server's limit of "
                                   f"{settings.max_pixels:,} pixels.")
            fmt_ext, media_type = FORMATS[options.format]
            try:
                job = queue.reserve(folder, width * height * options.scale**2,
                                    (options.model, options.scale, options.method))
            except QueueFull as exc:
                raise Refusal(503, "the server is busy with other images; try again shortly.",
                              {"Retry-After": str(exc.retry_after)}) from None
            job.download_name = _download_name(filename, options.scale, fmt_ext)
            job.media_type = media_type
            return job, options
        except BaseException:  # a refusal, a client gone mid-upload, a cancelled task: no file stays
            queue.remove_folder(folder)
            raise

    def work(options: Options):
        from ...io.imageio import load_picture, save_picture

        def run(job: Job) -> None:
            source = job.folder / "upload"
            try:
                upscaler = engines.get(options.scale, options.model, options.method)
                picture = load_picture(source)
                result = upscaler.upscale_picture(picture)
                target = job.folder / f"result.{FORMATS[options.format][0]}"
                save_picture(result, target, quality=options.quality)
            except SRCNNError as exc:
                raise SRCNNError(_client_message(exc, source)) from None
            source.unlink(missing_ok=True)
            job.result = target

        return run

    def job_json(job: Job) -> dict:
        body = {"id": job.id, "status": job.status, "progress": round(queue.progress(job), 3),
                "progress_is_estimate": job.status == "running",
                "status_url": f"/api/jobs/{job.id}", "result_url": f"/api/jobs/{job.id}/result"}
        if job.error:
            body["error"] = job.error
        if job.status == "done":
            body["download_name"] = job.download_name
        return body

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", summary="Liveness and queue state")
    async def healthz():
        return {"status": "ok", "queue": queue.stats()}

    @app.get("/api/models", summary="The shipped models with their cards", dependencies=[Depends(authorise)])
    async def models():
        from ...inference import METHODS, SCALES

        return {"models": model_cards(), "scales": list(SCALES), "methods": list(METHODS),
                "formats": ["png", "jpeg", "webp"],
                "limits": {"max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels,
                           "time_limit_seconds": settings.time_limit, "keep_seconds": settings.keep_seconds}}

    @app.post("/api/upscale", summary="Upscale an image and return it", dependencies=[Depends(authorise)],
              openapi_extra={"requestBody": _UPLOAD_FORM},
              responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
    async def upscale(request: Request):
        job, options = await read_upload(request)
        future = queue.start(job, work(options))
        await asyncio.wrap_future(future)
        if job.status != "done":
            error = job.error or "the job did not finish."
            queue.discard(job)
            raise Refusal(422, error if error.endswith(".") else error + ".")
        return FileResponse(job.result, media_type=job.media_type, filename=job.download_name,
                            background=BackgroundTask(queue.discard, job))

    @app.post("/api/jobs", status_code=202, summary="Start an upscaling job (poll it for progress)",
              dependencies=[Depends(authorise)], openapi_extra={"requestBody": _UPLOAD_FORM})
    async def start_job(request: Request):
        job, options = await read_upload(request)
        queue.start(job, work(options))
        return job_json(job)

    def find(job_id: str) -> Job:
        job = queue.get(job_id)
        if job is None:
            raise Refusal(404, "there is no such job (finished results are kept for a limited time).")
        return job

    @app.get("/api/jobs/{job_id}", summary="A job's status and progress", dependencies=[Depends(authorise)])
    async def job_status(job_id: str):
        return job_json(find(job_id))

    @app.get("/api/jobs/{job_id}/result", summary="A finished job's image", dependencies=[Depends(authorise)],
             responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
    async def job_result(job_id: str):
        job = find(job_id)
        if job.status == "failed":
            raise Refusal(422, job.error if (job.error or "").endswith(".") else f"{job.error}.")
        if job.status != "done" or job.result is None or not job.result.exists():
            raise Refusal(409, "the job has not finished yet; poll its status first.")
        return FileResponse(job.result, media_type=job.media_type, filename=job.download_name)

    return app


def _copy_upload(source_file, target: Path) -> None:
    source_file.seek(0)
    with open(target, "xb") as out:
        shutil.copyfileobj(source_file, out, 1024 * 1024)


def _header_size(path: Path) -> tuple[int, int]:
    from ...io.imageio import ImageTooLarge, image_size

    try:
        return image_size(path)
    except ImageTooLarge:
        raise Refusal(413, "the image has more pixels than the server will decode (a decompression bomb?).") from None
    except SRCNNError:
        raise Refusal(415, "the upload is not an image this server can read (PNG, JPEG, WebP, TIFF, BMP, GIF...).") \
            from None


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("srcnn")
    except Exception:  # noqa: BLE001 - an uninstalled checkout
        return "0"
