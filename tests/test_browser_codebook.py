"""Chapter 08's ``CodebookBrowser`` where learners use it: JupyterLab 4 in a real Chromium.

Same machinery as ``test_browser.py`` (its JupyterLab server, Chromium and helpers are
imported from there): a scratch notebook trains a tiny VQ-VAE on the bundled digits for a
few seconds and shows a ``CodebookBrowser``. The test runs it, picks another code in the
dropdown, puts that code into the selected cell, clicks another cell, types a code, resets,
and types another test digit's number, and asserts that the pictures and the info line
follow, with no error in any output or the console. Skips or fails without a browser exactly
as ``test_browser.py`` does. The last screenshot goes to ``artifacts/browser/``.
"""

from __future__ import annotations

import re
import time

import pytest
from test_browser import (  # noqa: F401 - lab and browser are fixtures used by name
    ARTIFACTS,
    IMAGE_SRC,
    _open,
    _output_errors,
    _src,
    _wait_src_change,
    browser,
    lab,
    write_notebook,
)
from test_browser_style import _assert_not_blank

pytestmark = pytest.mark.browser

NOTEBOOK = "codebook_demo.ipynb"
CELLS = [
    """from vae_course.data import dynamic_binarize, load_mnist
from vae_course.device import seed_everything
from vae_course.models import VQVAE
from vae_course.train import fit
from vae_course.widgets.codebook import CodebookBrowser

seed_everything(0)
data = load_mnist()
model = VQVAE(num_codes=32, code_dim=8, channels=(16, 32), ema=True, decay=0.95,
              restart_threshold=0.01)
fit(model, data.x_train, epochs=2, batch_size=64, lr=2e-3, progress=False, device="cpu",
    transform=dynamic_binarize)
print("model ready")""",
    "codebook = CodebookBrowser(model, data.x_test, data.y_test, index=0)\ncodebook",
    """# kernel-side check: the first frame drew without an error
print("first frame error:", codebook.last_error)""",
]


def _write_notebook(path) -> None:
    write_notebook(path, "# CodebookBrowser: browser test", CELLS)


def test_codebook_browser_runs_and_responds_in_jupyterlab(lab, browser):  # noqa: F811
    from playwright.sync_api import expect

    t0 = time.monotonic()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _write_notebook(lab["root"] / NOTEBOOK)
    page, problems = _open(browser, lab, NOTEBOOK)
    try:
        status = page.locator("#jp-main-statusbar")
        expect(status).to_contain_text("Idle", timeout=90_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

        box = page.locator(".latent-codebook").first
        gallery, alone = (
            box.locator("img.latent-code-gallery"),
            box.locator("img.latent-code-alone"),
        )
        before, after, diff = (box.locator(f"img.latent-edit-{i}") for i in (1, 2, 3))
        info = box.locator(".latent-info")
        for img in (gallery, alone, before, after, diff):
            expect(img).to_have_attribute("src", IMAGE_SRC, timeout=120_000)
        expect(info).to_contain_text("cell (3, 3)")
        expect(info).to_contain_text("pixels changed by more than 0.1: 0")
        expect(page.locator(".jp-OutputArea-output", has_text="first frame error")).to_contain_text(
            "first frame error: None", timeout=60_000
        )
        expect(status).to_contain_text("Idle", timeout=60_000)
        t_ran = time.monotonic() - t0
        box.scroll_into_view_if_needed()
        # one 28 px digit at scale 4; eight gallery digits in two rows of four, 3 px gaps
        page.wait_for_function(
            "i => i.complete && i.naturalWidth === 112", arg=before.element_handle()
        )
        page.wait_for_function(
            "i => i.complete && i.naturalWidth === 4 * 112 + 9", arg=gallery.element_handle()
        )
        _assert_not_blank(box.screenshot(), "CodebookBrowser after Run All")

        # 1. pick another code in the dropdown: gallery, code-alone image and info follow,
        #    choosing a code that differs from the selected cell's own code
        cells = box.locator("button.latent-cell")
        expect(cells).to_have_count(49)
        own = cells.nth(3 * 7 + 3).inner_text().strip()
        select = box.locator(".widget-dropdown select")
        labels = select.locator("option").all_inner_texts()
        pick = next(i for i, t in enumerate(labels) if i >= 4 and t.split(":")[0] != own)
        k = labels[pick].split(":")[0]
        old_gallery, old_alone = _src(gallery), _src(alone)
        select.select_option(index=pick)
        _wait_src_change(page, gallery, old_gallery, "gallery after picking another code")
        _wait_src_change(page, alone, old_alone, "code-alone image after picking another code")
        expect(info).to_contain_text(f"code {k}: used in")

        # 2. put code k into the selected cell: the edited decoding and the difference change
        old_after, old_diff = _src(after), _src(diff)
        box.locator("button", has_text=f"put code {k} here").click()
        expect(info).to_contain_text(f"cell (3, 3): code {own} → {k}")
        _wait_src_change(page, after, old_after, "decoded edit after 'put code k here'")
        _wait_src_change(page, diff, old_diff, "difference after 'put code k here'")
        box.screenshot(path=str(ARTIFACTS / "codebook_browser_edit.png"))

        # 3. click another cell: the edit (and its outline) moves there
        old_before = _src(before)
        cells.nth(0).click()
        expect(info).to_contain_text(f"cell (0, 0): code {cells.nth(0).inner_text().strip()} →")
        expect(cells.nth(0)).to_have_class(re.compile("mod-danger"))
        _wait_src_change(page, before, old_before, "outline after clicking cell (0, 0)")

        # 4. type a code into "new code", then reset
        new_code = box.locator(".latent-new-code input")
        typed = "1" if k == "0" else "0"  # not the code already there
        new_code.fill(typed)
        new_code.press("Enter")
        expect(info).to_contain_text(f"→ {typed};")
        own0 = cells.nth(0).inner_text().strip()
        box.locator("button", has_text="reset").click()
        expect(info).to_contain_text(f"cell (0, 0): code {own0} → {own0}")
        expect(info).to_contain_text("pixels changed by more than 0.1: 0")
        expect(new_code).to_have_value(own0)

        # 5. another test digit: its codes and pictures are redrawn
        old_before, old_cells = _src(before), cells.all_inner_texts()
        index = box.locator(".latent-index input")
        index.fill("5")
        index.press("Enter")
        _wait_src_change(page, before, old_before, "decoded codes after changing the test digit")
        page.wait_for_function(
            "([els, old]) => els.some((e, i) => e.innerText.trim() !== old[i].trim())",
            arg=[cells.element_handles(), old_cells],
        )

        expect(status).to_contain_text("Idle")
        shot = ARTIFACTS / "codebook_browser.png"
        box.screenshot(path=str(shot))
        _assert_not_blank(shot.read_bytes(), "CodebookBrowser after the interactions")
        errors = _output_errors(page)
        assert not errors, f"errors shown in the notebook: {errors}"
        assert not problems, f"browser console errors: {problems}"
        print(
            f"codebook browser test: cells ran in {t_ran:.1f} s, "
            f"total {time.monotonic() - t0:.1f} s; screenshot {shot}"
        )
    finally:
        page.screenshot(path=str(ARTIFACTS / "codebook_demo_page.png"), full_page=True)
        page.close()
