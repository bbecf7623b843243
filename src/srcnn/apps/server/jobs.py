"""A bounded queue of upscaling jobs run on a thread pool, with time limits and expiring results.

Nothing here knows about HTTP: the app submits a callable, the queue runs it off the event loop,
and every job owns a private temporary folder (server-chosen names only) removed when the job
expires or the server stops.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...errors import SRCNNError

__all__ = ["Job", "JobQueue", "QueueFull", "JobTimeout", "current_deadline"]


log = logging.getLogger(__name__)


class QueueFull(Exception):
    """Every slot of the queue is taken; ``retry_after`` is a guess in seconds."""

    def __init__(self, retry_after: int):
        super().__init__("the server is busy")
        self.retry_after = retry_after


class JobTimeout(Exception):
    """A job ran past its time limit."""


_current = threading.local()  # the deadline of the job this worker thread is running


def current_deadline() -> float | None:
    """The monotonic deadline of the job on this thread, or None outside a job."""
    return getattr(_current, "deadline", None)


@dataclass
class Job:
    id: str
    folder: Path  # private temporary folder: the upload and the result live here
    work_pixels: int  # output pixels, for the progress estimate
    estimate_key: tuple
    status: str = "queued"  # queued, running, done, failed
    error: str | None = None
    result: Path | None = None
    download_name: str = "result.png"
    media_type: str = "image/png"
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    expected_seconds: float | None = None
    future: Future | None = None
    in_worker: bool = False  # a worker thread is inside this job: its folder stays until it leaves


class JobQueue:
    """At most ``capacity`` jobs held at once (running or waiting), ``workers`` of them running.

    A job past ``time_limit`` seconds is marked failed at once; the network also checks the deadline
    between tiles (see ``current_deadline``) so the worker is freed soon after. Finished jobs keep
    their result for ``keep_seconds``, then their folder is removed.
    """

    def __init__(self, workers: int = 1, capacity: int = 4, time_limit: float = 120.0, keep_seconds: float = 600.0,
                 root: str | Path | None = None):
        self.workers = workers
        self.capacity = capacity
        self.time_limit = time_limit
        self.keep_seconds = keep_seconds
        self.root = Path(tempfile.mkdtemp(prefix="srcnn-serve-", dir=root))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="srcnn-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._seconds_per_pixel: dict[tuple, float] = {}  # measured, per engine, for progress and Retry-After

    # -- bookkeeping -------------------------------------------------------------------------
    def _held(self) -> int:
        # A job failed by the watchdog still holds its worker until the network lets go of it.
        return sum(job.status in ("queued", "running") or job.in_worker for job in self._jobs.values())

    def stats(self) -> dict:
        with self._lock:
            running = sum(job.status == "running" for job in self._jobs.values())
            queued = sum(job.status == "queued" for job in self._jobs.values())
        return {"running": running, "queued": queued, "capacity": self.capacity, "workers": self.workers}

    def new_folder(self) -> Path:
        """A fresh private folder under the queue's root, named by the server (the caller removes it
        with ``remove_folder`` unless a job takes it over)."""
        folder = self.root / secrets.token_hex(8)
        folder.mkdir()
        return folder

    @staticmethod
    def remove_folder(folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    def reserve(self, folder: Path, work_pixels: int, estimate_key: tuple) -> Job:
        """Take a slot for a job whose upload sits in ``folder``, or raise QueueFull."""
        with self._lock:
            if self._held() >= self.capacity:
                raise QueueFull(self._retry_after())
            job = Job(secrets.token_urlsafe(16), folder, work_pixels, estimate_key)
            rate = self._seconds_per_pixel.get(estimate_key)
            job.expected_seconds = None if rate is None else rate * work_pixels
            self._jobs[job.id] = job
            return job

    def _retry_after(self) -> int:
        waiting = [j.expected_seconds or 1.0 for j in self._jobs.values() if j.status in ("queued", "running")]
        return max(1, min(60, int(sum(waiting) / max(1, self.workers) + 0.999)))

    def start(self, job: Job, work: Callable[[Job], None]) -> Future:
        """Run ``work(job)`` on the pool; it writes ``job.result`` or raises."""
        job.future = self._pool.submit(self._run, job, work)
        return job.future

    def _run(self, job: Job, work: Callable[[Job], None]) -> None:
        with self._lock:
            if job.status != "queued":  # discarded while waiting
                return
            job.status, job.started, job.in_worker = "running", time.monotonic(), True
        _current.deadline = job.started + self.time_limit
        try:
            work(job)
        except JobTimeout:
            self._finish(job, f"the job took longer than the server's limit of {self.time_limit:g} seconds")
        except SRCNNError as exc:  # the image or the options: the client's one-line error
            self._finish(job, _one_line(exc))
        except Exception:  # noqa: BLE001 - a bug: logged here, a plain sentence for the client
            log.exception("job %s failed", job.id)
            self._finish(job, "the server failed on this image (an internal error, logged)")
        else:
            self._finish(job, None)
        finally:
            _current.deadline = None
            with self._lock:
                job.in_worker = False
                forgotten = job.id not in self._jobs
            if forgotten:  # expired or discarded while the network ran
                shutil.rmtree(job.folder, ignore_errors=True)

    def _finish(self, job: Job, error: str | None) -> None:
        with self._lock:
            job.finished = time.monotonic()
            if job.status != "running":  # already failed by the watchdog
                return
            if error is None and job.finished - job.started > self.time_limit:
                error = f"the job took longer than the server's limit of {self.time_limit:g} seconds"
            if error is None:
                job.status = "done"
                elapsed = job.finished - job.started
                rate = elapsed / max(1, job.work_pixels)
                old = self._seconds_per_pixel.get(job.estimate_key)
                self._seconds_per_pixel[job.estimate_key] = rate if old is None else 0.7 * old + 0.3 * rate
            else:
                job.status, job.error = "failed", error

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def progress(self, job: Job) -> float:
        """0 while queued, 1 when done; in between, elapsed time over the time jobs like it took."""
        if job.status in ("done", "failed"):
            return 1.0
        if job.status == "queued" or job.started is None:
            return 0.0
        expected = job.expected_seconds or 2.0
        return min(0.99, (time.monotonic() - job.started) / expected)

    def discard(self, job: Job) -> None:
        """Forget a job and remove its folder (its result was sent, or it will never run)."""
        with self._lock:
            self._jobs.pop(job.id, None)
            if job.status == "queued":
                job.status = "failed"  # a worker that picks it up later leaves it alone
            busy = job.in_worker
        if not busy:
            shutil.rmtree(job.folder, ignore_errors=True)

    def sweep(self) -> None:
        """Fail jobs past their time limit; forget expired results and remove their folders."""
        now = time.monotonic()
        expired = []
        with self._lock:
            for job in list(self._jobs.values()):
                if job.status == "running" and now - job.started > self.time_limit:
                    job.status = "failed"
                    job.error = f"the job took longer than the server's limit of {self.time_limit:g} seconds"
                    job.finished = now
                if job.status in ("done", "failed") and now - (job.finished or now) > self.keep_seconds:
                    del self._jobs[job.id]
                    if not job.in_worker:
                        expired.append(job.folder)
        for folder in expired:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
