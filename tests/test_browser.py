"""The page in a real browser: Debian's chromium driven by Playwright (no browser download).

Set SRCNN_SCREENSHOT=PATH to keep the page's screenshot there (the README's docs/serve_page.png);
otherwise it is written to the test's temporary folder.
"""

import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the serve extra (uvicorn) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
import torch  # noqa: E402

from _serving import serving  # noqa: E402
from conftest import shapes_image  # noqa: E402
from srcnn.models.weights import default_weights
from srcnn.apps.server.app import create_app  # noqa: E402

CHROMIUM = os.environ.get("SRCNN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def test_page_upscales_a_chosen_image_and_offers_the_result(browser, tmp_path):
    torch.set_num_threads(1)
    source = tmp_path / "shapes.png"
    Image.fromarray(shapes_image(seed=3, size=64)).save(source)
    errors = []
    with serving(create_app(precision="fp32")) as base:
        page = browser.new_page(viewport={"width": 960, "height": 760})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(base + "/")
        page.wait_for_function("document.querySelectorAll('#model option').length > 0")
        page.set_input_files("#file", str(source))
        page.select_option("#scale", "2")
        assert page.input_value("#model") == default_weights(2).name  # the page preselects the default
        page.click("#go")
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        assert "done" in page.text_content("#status")
        page.select_option("#zoom", "4")
        page.fill("#slider", "35")
        page.select_option("#zoom", "fit")

        link = page.locator("#download")
        assert link.get_attribute("download") == "shapes_x2.png"
        with page.expect_download() as info:
            link.click()
        downloaded = Path(info.value.path())
        assert Image.open(io.BytesIO(downloaded.read_bytes())).size == (128, 128)

        shot = Path(os.environ.get("SRCNN_SCREENSHOT") or tmp_path / "serve_page.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0
        page.close()
    assert errors == []
