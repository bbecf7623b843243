"""`srcnn serve`: the HTTP API through FastAPI's TestClient, and a real uvicorn for timing and disconnects."""

import io
import socket
import struct
import threading
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the serve extra (uvicorn) is not installed")
pytest.importorskip("multipart", reason="the serve extra (python-multipart) is not installed")
import httpx  # noqa: E402
import torch  # noqa: E402

with warnings.catch_warnings():  # Starlette's note that it would prefer httpx2 to httpx: not ours to act on
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from _serving import serving  # noqa: E402
from conftest import smooth_image  # noqa: E402
from srcnn.apps.cli import main  # noqa: E402
from srcnn.io.imageio import Picture  # noqa: E402
from srcnn.apps.server.app import create_app  # noqa: E402

@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A small PNG whose IHDR claims ``width`` x ``height``: what a decompression bomb shows first."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")


def upload(client, data: bytes, name: str = "in.png", **fields):
    fields = {"scale": "2", **fields}
    return client.post("/api/upscale", files={"file": (name, data, "image/png")}, data=fields)


def assert_refusal(response, statuses):
    assert response.status_code in statuses, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]


@pytest.fixture
def client():
    with TestClient(create_app(precision="fp32", max_upload_bytes=256 * 1024)) as c:
        yield c


@pytest.mark.parametrize("mode", ["RGB", "LA"])
def test_upscale_returns_the_same_pixels_as_the_cli(client, tmp_path, mode):
    rgb = smooth_image(30, 38, channels=3, seed=1)
    if mode == "LA":
        image = Image.fromarray(rgb).convert("L")
        image.putalpha(Image.fromarray(smooth_image(30, 38, seed=2)))
    else:
        image = Image.fromarray(rgb)
    source = tmp_path / "in.png"
    image.save(source)
    assert main(["upscale", str(source), "-o", str(tmp_path / "cli.png"), "--scale", "2", "--precision", "fp32"]) == 0

    response = upscale_response = upload(client, source.read_bytes(), name="my photo.png")
    assert upscale_response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert 'filename="my_photo_x2.png"' in response.headers["content-disposition"]
    served = Image.open(io.BytesIO(response.content))
    expected = Image.open(tmp_path / "cli.png")
    assert served.size == expected.size == (76, 60)
    assert served.mode == expected.mode == mode
    assert np.array_equal(np.asarray(served), np.asarray(expected))


def test_job_api_reports_progress_and_serves_the_result(client):
    data = png_bytes(smooth_image(24, 20, channels=3))
    started = client.post("/api/jobs", files={"file": ("a.png", data)}, data={"scale": "3", "method": "bicubic"})
    assert started.status_code == 202, started.text
    job = started.json()
    for _ in range(200):
        job = client.get(job["status_url"]).json()
        assert 0.0 <= job["progress"] <= 1.0
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.02)
    assert job["status"] == "done" and job["progress"] == 1.0
    result = client.get(job["result_url"])
    assert result.status_code == 200
    assert Image.open(io.BytesIO(result.content)).size == (60, 72)


def test_models_lists_every_shipped_upscaler_with_its_card(client):
    from srcnn.models.weights import Weights

    body = client.get("/api/models").json()
    assert [m["name"] for m in body["models"]] == [w.name for w in Weights if w.entry.scale > 1]
    for card in body["models"]:
        assert card["scale"] in body["scales"] and card["params"] > 0 and "psnr" in card["metrics"]["Set5"]
    assert client.get("/docs").status_code == 200
    assert "/api/upscale" in client.get("/openapi.json").json()["paths"]


BAD_UPLOADS = {
    "not an image": (b"this is plain text, not a picture", {}, {415}),
    "zero bytes": (b"", {}, {400}),
    "truncated PNG": (png_bytes(smooth_image(64, 64, channels=3))[:300], {}, {422}),
    "30000x30000 PNG": (png_header_claiming(30000, 30000), {}, {413}),
    "3000x3000 PNG over the pixel limit": (png_header_claiming(3000, 3000), {}, {413}),
    "scale 5": (None, {"scale": "5"}, {400}),
    "no scale": (None, {"scale": ""}, {400}),
    "unknown model": (None, {"model": "NO_SUCH_MODEL"}, {400}),
    "a path as model": (None, {"model": "/etc/passwd"}, {400}),
    "model of another scale": (None, {"model": "SRCNN_955_X3"}, {400}),
    "unknown method": (None, {"method": "magic"}, {400}),
    "unknown format": (None, {"format": "exe"}, {400}),
    "oversize body": (b"\0" * (400 * 1024), {}, {413}),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_upload_is_refused_in_one_json_sentence_and_the_next_request_succeeds(client, case):
    good = png_bytes(smooth_image(16, 16, channels=3))
    data, fields, statuses = BAD_UPLOADS[case]
    assert_refusal(upload(client, good if data is None else data, **fields), statuses)
    after = upload(client, good)
    assert after.status_code == 200 and Image.open(io.BytesIO(after.content)).size == (32, 32)
    assert list(client.app.state.queue.root.iterdir()) == []  # nothing left of either request


def test_refusals_elsewhere_are_json_too(client):
    assert_refusal(client.get("/api/jobs/no-such-job"), {404})
    assert_refusal(client.get("/nowhere"), {404})
    assert_refusal(client.post("/api/upscale", content=b"{}", headers={"content-type": "application/json"}), {415})
    assert_refusal(client.post("/api/upscale", data={"scale": "2"}, files={"other": ("x", b"x")}), {400})


class _Held:
    """An upscaler stand-in that waits until released: holds a worker for as long as a test needs."""

    def __init__(self):
        self.release = threading.Event()

    def upscale_picture(self, picture: Picture) -> Picture:
        self.release.wait(10)
        return picture


def test_full_queue_answers_503_with_retry_after():
    app = create_app(precision="fp32", workers=1, queue_size=2)
    held = _Held()
    app.state.engines.get = lambda *options: held
    data = png_bytes(smooth_image(16, 16, channels=3))
    with TestClient(app) as client:
        first = [client.post("/api/jobs", files={"file": ("a.png", data)}, data={"scale": "2"}) for _ in range(2)]
        assert [r.status_code for r in first] == [202, 202]
        refused = client.post("/api/jobs", files={"file": ("a.png", data)}, data={"scale": "2"})
        assert_refusal(refused, {429, 503})
        assert int(refused.headers["retry-after"]) >= 1
        assert client.get("/healthz").json()["queue"] == {"running": 1, "queued": 1, "capacity": 2, "workers": 1}
        held.release.set()
        for r in first:
            for _ in range(100):
                if client.get(r.json()["status_url"]).json()["status"] == "done":
                    break
                time.sleep(0.02)
        assert client.post("/api/jobs", files={"file": ("a.png", data)}, data={"scale": "2"}).status_code == 202


def test_a_failure_inside_the_server_is_one_sentence_and_the_server_goes_on():
    class Broken:
        def upscale_picture(self, picture):
            raise ValueError("/secret/server/path exploded")

    app = create_app(precision="fp32")
    data = png_bytes(smooth_image(16, 16, channels=3))
    with TestClient(app) as client:
        real_get = app.state.engines.get
        app.state.engines.get = lambda *options: Broken()
        refused = upload(client, data)
        assert_refusal(refused, {422})
        assert "internal error" in refused.json()["error"] and "/secret" not in refused.json()["error"]
        app.state.engines.get = real_get
        assert upload(client, data).status_code == 200


def test_job_past_its_time_limit_fails_and_frees_the_worker():
    # Small tiles: the network checks the deadline before each one.
    app = create_app(precision="fp32", time_limit=0.05, tile=16)
    data = png_bytes(smooth_image(96, 96, channels=3))
    with TestClient(app) as client:
        slow = upload(client, data)
        assert_refusal(slow, {422})
        assert "limit of 0.05 seconds" in slow.json()["error"]
        assert upload(client, png_bytes(smooth_image(8, 8, channels=3)), method="bicubic").status_code == 200
        assert list(app.state.queue.root.iterdir()) == []


def test_finished_results_expire_and_their_files_go():
    app = create_app(precision="fp32", keep_seconds=0.0)
    with TestClient(app) as client:
        job = client.post("/api/jobs", files={"file": ("a.png", png_bytes(smooth_image(8, 8)))},
                          data={"scale": "2", "method": "bicubic"}).json()
        for _ in range(100):
            if client.get(job["status_url"]).json()["status"] == "done":
                break
            time.sleep(0.02)
        time.sleep(0.01)
        app.state.queue.sweep()
        assert_refusal(client.get(job["result_url"]), {404})
        assert list(app.state.queue.root.iterdir()) == []


def test_token_is_required_on_the_api_when_set():
    with TestClient(create_app(token="s3cret")) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200
        refused = client.get("/api/models")
        assert_refusal(refused, {401})
        assert refused.headers["www-authenticate"] == "Bearer"
        assert_refusal(client.get("/api/models", headers={"Authorization": "Bearer wrong"}), {401})
        assert client.get("/api/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_page_and_its_files_are_served_by_the_app(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page.text and client.get(asset).status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # no CDN


def test_healthz_answers_within_100ms_while_a_large_job_runs(tmp_path):
    app = create_app(precision="fp32", workers=1)
    data = png_bytes(smooth_image(512, 512, channels=3))
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        client.get("/healthz")
        # the 9-5-5, which runs on the HR grid: long enough a job to measure beside on any machine
        job = client.post("/api/jobs", files={"file": ("big.png", data)},
                          data={"scale": "2", "model": "SRCNN_955_X2"}).json()
        while client.get(job["status_url"]).json()["status"] == "queued":
            time.sleep(0.01)
        latencies = []
        while len(latencies) < 20:
            t0 = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.02)
        still_running = client.get(job["status_url"]).json()["status"] == "running"
        assert still_running, "the job finished before the measurement did; use a larger image"
        # Every probe but at most one under 100 ms (one may meet the OS scheduler on a busy machine);
        # an event loop blocked by the job would have held the first probe until the job was done.
        assert sorted(latencies)[-2] < 0.1, latencies


def test_client_that_disconnects_mid_upload_leaves_no_temporary_file(tmp_path, monkeypatch):
    import tempfile

    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # where the multipart parser spills large parts
    app = create_app(precision="fp32", temp_root=str(tmp_path))
    boundary = "srcnnboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"scale\"\r\n\r\n2\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    declared = len(head) + 8 * 2**20
    with serving(app) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall((f"POST /api/upscale HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {declared}\r\n"
                          f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode() + head)
            chunk = b"\x89PNG" + b"\0" * (256 * 1024)
            for _ in range(12):  # 3 MiB of the promised 8: past the 1 MiB the parser keeps in memory
                sock.sendall(chunk)
            time.sleep(0.3)
            held = list(app.state.queue.root.iterdir())
        assert len(held) == 1  # the upload's private folder existed while it streamed
        for _ in range(100):
            if not any(app.state.queue.root.iterdir()) and not any(spool.iterdir()):
                break
            time.sleep(0.05)
        assert list(app.state.queue.root.iterdir()) == []
        assert list(spool.iterdir()) == []
        with httpx.Client(base_url=base) as client:
            assert client.get("/healthz").status_code == 200


def test_serve_without_fastapi_says_how_to_install_it(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "fastapi", None)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'srcnn[serve]'" in err


def test_serve_on_a_public_address_warns(monkeypatch, capsys):
    import uvicorn

    ran = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(kw))
    monkeypatch.delenv("SRCNN_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert ran == {"host": "0.0.0.0", "port": 8123, "log_level": "info"}
    assert "warning: serving on 0.0.0.0" in capsys.readouterr().err
