"""Chapter 05's ``FactorSweep`` where learners use it: JupyterLab 4 in a real Chromium.

Same machinery as ``test_browser.py`` (its JupyterLab server, Chromium and helpers are
imported from there): a scratch notebook builds a tiny MLP VAE on a few hundred procedural
shapes and shows a ``FactorSweep`` as notebook 05 does. The test runs it, moves the value
slider (keyboard and mouse), the factor dropdown and the image number, and asserts that the
picture, the μ bars and the info line follow, with no error in any output or the console.
Skips or fails without a browser exactly as ``test_browser.py`` does.
"""

from __future__ import annotations

import io
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

NOTEBOOK = "factor_sweep_demo.ipynb"
CELLS = [
    """import numpy as np
import torch
from vae_course.device import seed_everything
from vae_course.models import MLPVAE
from vae_course.shapes import make_shapes
from vae_course.train import fit
from vae_course.widgets.factors import FactorSweep

seed_everything(0)
data = make_shapes(512, seed=1)  # 512 random 32x32 shapes, factor sizes (3, 6, 8, 8, 8)
model = MLPVAE(latent_dim=4, hidden_dims=(64,), image_shape=(1, 32, 32))
fit(model, data.images, epochs=3, batch_size=64, progress=False, device="cpu")
# an image whose x is not at an end of its range, so the value slider can move both ways
start = int(np.flatnonzero(((data.factors[:, 3] > 0) & (data.factors[:, 3] < 7)).numpy())[0])
print("model ready; start", start, data.factors[start].tolist())""",
    "sweep = FactorSweep(model, data, index=start, factor=3)\nsweep",
    """# kernel-side check: the first frame drew without an error
print("first frame error:", sweep.last_error)""",
]


def _write_notebook(path) -> None:
    write_notebook(path, "# FactorSweep: browser test", CELLS)


def _natural_width(img) -> int:
    """Width in pixels of the PNG the <img> shows, once the browser has decoded it."""
    return img.evaluate("i => i.complete ? i.naturalWidth : 0")


def _assert_not_blank(png: bytes, what: str) -> None:
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)
    assert a.size and a.max() - a.min() > 100, f"{what}: screenshot is blank"
    assert len(np.unique(a)) > 10 and (a < 60).mean() > 0.01, f"{what}: screenshot is blank"


def test_factor_sweep_runs_and_responds_in_jupyterlab(lab, browser, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    t0 = time.monotonic()
    _write_notebook(lab["root"] / NOTEBOOK)  # the server's scratch root: a tmp dir
    page, problems = _open(browser, lab, NOTEBOOK)
    try:
        status = page.locator("#jp-main-statusbar")
        expect(status).to_contain_text("Idle", timeout=90_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

        box = page.locator(".latent-factor-sweep").first
        img = box.locator("img.latent-image")
        info = box.locator(".latent-info")
        expect(img).to_have_attribute("src", IMAGE_SRC, timeout=120_000)
        expect(info).to_contain_text("x swept over 8 values")
        expect(page.locator(".jp-OutputArea-output", has_text="first frame error")).to_contain_text(
            "first frame error: None", timeout=60_000
        )
        expect(status).to_contain_text("Idle", timeout=60_000)
        t_ran = time.monotonic() - t0
        box.scroll_into_view_if_needed()
        # a strip of 8 shapes, 32 px each, drawn at scale 2; one bar row per latent coordinate
        page.wait_for_function(
            "i => i.complete && i.naturalWidth === 512", arg=img.element_handle()
        )
        expect(box.locator("table tr")).to_have_count(4)
        before_png = box.screenshot()
        _assert_not_blank(before_png, "FactorSweep after Run All")

        # 1. the value slider, by keyboard: the frame moves along the strip, the bars follow
        slider = box.locator(".widget-slider").first
        readout = slider.locator(".widget-readout")
        handle = slider.locator(".noUi-handle").first
        old, old_readout = _src(img), readout.inner_text()
        old_bars = box.locator("table").first.inner_html()
        handle.focus()
        page.keyboard.press("ArrowRight")
        expect(readout).to_have_text(str(int(old_readout) + 1))
        _wait_src_change(page, img, old, "FactorSweep after ArrowRight on the value slider")
        expect(box.locator("table").first).not_to_have_js_property("innerHTML", old_bars)
        assert box.screenshot() != before_png

        # 2. the factor dropdown: sweep the scale (6 values) instead of x (8 values)
        old = _src(img)
        box.locator(".widget-dropdown select").first.select_option(label="scale")
        _wait_src_change(page, img, old, "FactorSweep after choosing the scale factor")
        expect(info).to_contain_text("scale swept over 6 values")
        page.wait_for_function(
            "i => i.complete && i.naturalWidth === 384", arg=img.element_handle()
        )

        # 3. the value slider, by dragging its handle past the far end (the largest scale,
        # or the smallest when the image already has the largest)
        old = _src(img)
        to_right = readout.inner_text() != "5"
        track = slider.locator(".noUi-base").first.bounding_box()
        hb = handle.bounding_box()
        y = hb["y"] + hb["height"] / 2
        page.mouse.move(hb["x"] + hb["width"] / 2, y)
        page.mouse.down()
        page.mouse.move(track["x"] + (track["width"] + 20 if to_right else -20), y, steps=8)
        page.mouse.up()
        expect(readout).to_have_text("5" if to_right else "0")
        _wait_src_change(page, img, old, "FactorSweep after dragging the value slider")

        # 4. another image: type its number; the whole strip is redrawn from it
        old = _src(img)
        number = box.locator(".widget-text input").first
        number.fill(str(int(number.input_value()) + 1))
        number.press("Enter")
        _wait_src_change(page, img, old, "FactorSweep after changing the image number")
        expect(info).to_contain_text("scale swept over 6 values")

        expect(status).to_contain_text("Idle")
        shot = tmp_path / "factor_sweep.png"
        box.screenshot(path=str(shot))
        _assert_not_blank(shot.read_bytes(), "FactorSweep after the interactions")
        errors = _output_errors(page)
        assert not errors, f"errors shown in the notebook: {errors}"
        assert not problems, f"browser console errors: {problems}"
        print(
            f"factor sweep browser test: cells ran in {t_ran:.1f} s, "
            f"total {time.monotonic() - t0:.1f} s; screenshot {shot}"
        )
    finally:
        page.screenshot(path=str(tmp_path / "factor_sweep_page.png"), full_page=True)
        page.close()
