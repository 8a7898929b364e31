"""Chapter 06's ``StyleTransfer`` where learners use it: JupyterLab 4 in a real Chromium.

Same machinery as ``test_browser.py`` (its JupyterLab server, Chromium and helpers are
imported from there): a scratch notebook trains a tiny conditional VAE on the bundled
digits for a few seconds and shows a ``StyleTransfer`` as notebook 06 does. The test runs it,
clicks a class button, moves a style slider by keyboard, presses "style of this digit" and
"random style", types another test digit's number, and asserts that the pictures and the
info line follow, with no error in any output or the console. Skips or fails without a
browser exactly as ``test_browser.py`` does.
"""

from __future__ import annotations

import time

import pytest
from test_browser import (  # noqa: F401 - lab and browser are fixtures used by name
    IMAGE_SRC,
    _open,
    _output_errors,
    _src,
    _wait_src_change,
    browser,
    lab,
    write_notebook,
)

pytestmark = pytest.mark.browser

NOTEBOOK = "style_transfer_demo.ipynb"
CELLS = [
    """import torch
from vae_course.data import dynamic_binarize, load_mnist
from vae_course.device import seed_everything
from vae_course.models import ConditionalVAE
from vae_course.train import fit
from vae_course.widgets.style import StyleTransfer

seed_everything(0)
data = load_mnist(binarize="static")
model = ConditionalVAE(latent_dim=2, hidden_dims=(128,))
train = (data.x_train[:1000], data.y_train[:1000])
fit(model, train, epochs=3, batch_size=50, progress=False, device="cpu",
    transform=dynamic_binarize)
print("model ready")""",
    "explorer = StyleTransfer(model, data.x_test, data.y_test, index=0)\nexplorer",
    """# kernel-side check: the first frame drew without an error
print("first frame error:", explorer.last_error)""",
]


def _assert_not_blank(png: bytes, what: str) -> None:
    """Ink and paper both present (the digits of a barely trained model are pale)."""
    import io

    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)
    assert a.size and a.max() - a.min() > 100, f"{what}: screenshot is blank"
    assert len(np.unique(a)) > 10 and (a < 128).mean() > 0.002, f"{what}: screenshot is blank"


def _write_notebook(path) -> None:
    write_notebook(path, "# StyleTransfer: browser test", CELLS)


def test_style_transfer_runs_and_responds_in_jupyterlab(lab, browser, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    t0 = time.monotonic()
    _write_notebook(lab["root"] / NOTEBOOK)
    page, problems = _open(browser, lab, NOTEBOOK)
    try:
        status = page.locator("#jp-main-statusbar")
        expect(status).to_contain_text("Idle", timeout=90_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

        box = page.locator(".latent-style").first
        row = box.locator("img.latent-row")
        drawn = box.locator("img.latent-image")
        info = box.locator(".latent-info")
        expect(row).to_have_attribute("src", IMAGE_SRC, timeout=120_000)
        expect(drawn).to_have_attribute("src", IMAGE_SRC)
        expect(info).to_contain_text("test digit #0")
        expect(page.locator(".jp-OutputArea-output", has_text="first frame error")).to_contain_text(
            "first frame error: None", timeout=60_000
        )
        expect(status).to_contain_text("Idle", timeout=60_000)
        t_ran = time.monotonic() - t0
        box.scroll_into_view_if_needed()
        # ten digits of 28 px with a 1 px gap between them (10·28 + 9 = 289), at scale 2
        page.wait_for_function(
            "i => i.complete && i.naturalWidth === 578", arg=row.element_handle()
        )
        before_png = box.screenshot()
        _assert_not_blank(before_png, "StyleTransfer after Run All")

        # 1. "style of this digit", then a class button: the drawn digit changes with the class
        box.locator("button", has_text="style of this digit").click()
        expect(info).to_contain_text("the test digit's z")
        old = _src(drawn)
        box.locator(".widget-toggle-buttons button", has_text="7").click()
        _wait_src_change(page, drawn, old, "StyleTransfer after the class button 7")
        expect(info).to_contain_text("drawing class 7")

        # 2. a style slider, by keyboard: the readout and the drawn digit follow
        slider = box.locator(".widget-slider").first
        readout = slider.locator(".widget-readout")
        old, old_readout = _src(drawn), readout.inner_text()
        slider.locator(".noUi-handle").first.focus()
        for _ in range(10):
            page.keyboard.press("ArrowRight")
        expect(readout).not_to_have_text(old_readout)
        _wait_src_change(page, drawn, old, "StyleTransfer after ArrowRight on a style slider")

        # 3. a random style
        old = _src(drawn)
        box.locator("button", has_text="random style").click()
        _wait_src_change(page, drawn, old, "StyleTransfer after 'random style'")
        expect(info).to_contain_text("z from N(0, I)")

        # 4. another test digit: type its number; its row is redrawn
        old = _src(row)
        number = box.locator(".widget-text input").first
        number.fill("5")
        number.press("Enter")
        _wait_src_change(page, row, old, "StyleTransfer after changing the test digit")
        expect(info).to_contain_text("test digit #5")

        expect(status).to_contain_text("Idle")
        shot = tmp_path / "style_transfer.png"
        box.screenshot(path=str(shot))
        _assert_not_blank(shot.read_bytes(), "StyleTransfer after the interactions")
        errors = _output_errors(page)
        assert not errors, f"errors shown in the notebook: {errors}"
        assert not problems, f"browser console errors: {problems}"
        print(
            f"style transfer browser test: cells ran in {t_ran:.1f} s, "
            f"total {time.monotonic() - t0:.1f} s; screenshot {shot}"
        )
    finally:
        page.screenshot(path=str(tmp_path / "style_transfer_page.png"), full_page=True)
        page.close()
