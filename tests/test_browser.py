"""The latent explorers where learners use them: JupyterLab 4 in a real Chromium.

Starts JupyterLab on loopback with a token, opens a small notebook that displays the four
explorers on a tiny model (built below), runs it, moves sliders with the keyboard and by
dragging, and asserts that the decoded images change and that no error shows in any output
area or the browser console. A deliberately broken explorer must show its red error.
A second test opens the committed notebook 04 *without running it* and checks that the
saved widget state renders. Screenshots go to ``artifacts/browser/`` (git-ignored).

Needs Python Playwright and Debian's Chromium (``apt-get install chromium``). Without them
the tests skip with a message, unless ``VAE_COURSE_REQUIRE_BROWSER=1`` (CI sets it), when
they fail. ``VAE_COURSE_CHROMIUM`` points at another Chromium binary.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM_CANDIDATES = [
    os.environ.get("VAE_COURSE_CHROMIUM", ""),
    "/usr/lib/chromium/chromium",  # Debian's binary (/usr/bin/chromium is a wrapper script)
    "/usr/lib/chromium-browser/chromium-browser",
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "vae-course-browser-test"
IMAGE_SRC = re.compile(r"^(blob|data):")  # an <img> showing bytes sent by the kernel
EXPLORER_CLASSES = ["latent-sliders", "latent-plane", "latent-interpolator", "latent-traversal"]


def _need_browser() -> str:
    """Path of a Chromium binary, or skip (fail when VAE_COURSE_REQUIRE_BROWSER=1)."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Python Playwright is not installed (pip install -e '.[test]')"
    chromium = next((p for p in CHROMIUM_CANDIDATES if p and os.access(p, os.X_OK)), None)
    if problem is None and chromium is None:
        problem = (
            "no Chromium found at /usr/lib/chromium/chromium: install Debian's with "
            "`apt-get install -y chromium` or set VAE_COURSE_CHROMIUM (`playwright install` "
            "is not needed)"
        )
    if problem:
        if os.environ.get("VAE_COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (VAE_COURSE_REQUIRE_BROWSER=1) but {problem}")
        pytest.skip(f"browser tests skipped: {problem}")
    return chromium


# ----------------------------------------------------------------------------- test notebook
DEMO_CELLS = [
    """import torch
from vae_course.data import load_mnist
from vae_course.device import seed_everything
from vae_course.models import MLPVAE
from vae_course.train import fit
from vae_course.widgets import Interpolator, LatentPlane, LatentSliders, Traversal

seed_everything(0)
data = load_mnist()
x_test, y_test = data.x_test[:300], data.y_test[:300]
model = MLPVAE(latent_dim=4, hidden_dims=(128,))
fit(model, data.x_train[:2000], epochs=3, batch_size=100, progress=False, device="cpu")
model_2d = MLPVAE(latent_dim=2, hidden_dims=(128,))
fit(model_2d, data.x_train[:2000], epochs=3, batch_size=100, progress=False, device="cpu")
print("models ready")""",
    "sliders = LatentSliders(model, x_test, y_test)\nsliders",
    "plane = LatentPlane(model_2d, x_test, y_test, n=11)\nplane",
    "interp = Interpolator(model, x_test, y_test, steps=8, pair=(0, 1))\ninterp",
    "trav = Traversal(model, x_test, y_test, n_inputs=3, steps=7)\ntrav",
    """class Broken(torch.nn.Module):
    latent_dim = 4

    def decode(self, z):
        raise RuntimeError("this decoder is broken on purpose")

broken = LatentSliders(Broken())
broken.add_class("broken-demo")
broken""",
    """# kernel-side check: every explorer drew its first frame without an error
print([w.last_error for w in (sliders, plane, interp, trav)], type(broken.last_error).__name__)""",
]


def write_notebook(path: Path, title: str, cells: list[str]) -> None:
    """A scratch notebook: a markdown title, then one code cell per source (shared by the
    browser tests of every explorer)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_markdown_cell(title)]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, path)


def _write_demo_notebook(path: Path) -> None:
    write_notebook(path, "# Latent explorers: browser test", DEMO_CELLS)


# ----------------------------------------------------------------------------- JupyterLab
def _trust(path: Path, data_dir: Path) -> None:
    """Sign ``path`` as trusted, as ``jupyter trust`` does, in a scratch trust database.

    JupyterLab renders widget views stored in an *untrusted* notebook as plain text; a
    learner's own notebooks are trusted once run or after File ▸ Trust Notebook.
    """
    import nbformat
    from nbformat.sign import NotebookNotary

    data_dir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(path, as_version=4)
    NotebookNotary(data_dir=str(data_dir)).sign(nb)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with a token, serving a scratch folder."""
    chromium = _need_browser()
    scratch = tmp_path_factory.mktemp("jlab")
    root = scratch / "notebooks"
    root.mkdir()
    _write_demo_notebook(root / "explorers_demo.ipynb")
    nb04 = ROOT / "notebooks" / "04_vae.ipynb"
    if nb04.exists():  # a copy: autosave must never touch the committed file
        shutil.copy(nb04, root / "04_vae.ipynb")
        _trust(root / "04_vae.ipynb", scratch / "data")
    settings = scratch / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no "get notified about Jupyter news?" toast over the notebook
    (settings / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    # render every cell, not just those in view, so outputs far down a notebook are in the DOM
    tracker = scratch / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(scratch / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(scratch / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        JUPYTER_DATA_DIR=str(scratch / "data"),  # holds the trust database of _trust()
        VAE_COURSE_DEVICE="cpu",
        MPLBACKEND="agg",
    )
    port = _free_port()
    log = open(scratch / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--ServerApp.allow_root=True",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "JupyterLab did not start:\n" + (scratch / "server.log").read_text()[-3000:]
                    )
                time.sleep(0.2)  # polling a port, not waiting on page content
        yield {"base": base, "root": root, "chromium": chromium}
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=lab["chromium"], headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, lab, name):
    """Open a notebook in a fresh page; returns (page, problems) with console errors."""
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.goto(f"{lab['base']}/lab/tree/{name}?reset&token={TOKEN}")
    page.locator(".jp-Notebook").first.wait_for()
    return page, problems


def _src(locator) -> str:
    return locator.get_attribute("src") or ""


def _wait_src_change(page, locator, old: str, what: str):
    """Wait until the <img>'s src differs from ``old`` (a new PNG came from the kernel)."""
    handle = locator.element_handle()
    try:
        page.wait_for_function("([img, old]) => img.src && img.src !== old", arg=[handle, old])
    except Exception as exc:
        raise AssertionError(f"{what}: the decoded image did not change") from exc


def _output_errors(page) -> list[str]:
    """Text of every stderr / traceback output and of every red explorer error (but the demo)."""
    texts = page.locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    ).all_inner_texts()
    texts += page.locator(".latent-explorer:not(.broken-demo) .latent-error-msg").all_inner_texts()
    return texts


def test_explorers_run_and_respond_in_jupyterlab(lab, browser):
    from playwright.sync_api import expect

    t0 = time.monotonic()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, problems = _open(browser, lab, "explorers_demo.ipynb")
    try:
        status = page.locator("#jp-main-statusbar")
        expect(status).to_contain_text("Idle", timeout=90_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

        # every explorer renders its first frame; the broken one shows its red message
        for cls in EXPLORER_CLASSES:
            img = page.locator(f".{cls}:not(.broken-demo) img.latent-image").first
            expect(img).to_have_attribute("src", IMAGE_SRC, timeout=120_000)
        broken = page.locator(".broken-demo .latent-error-msg")
        expect(broken).to_contain_text("this decoder is broken on purpose")
        expect(
            page.locator(".jp-OutputArea-output", has_text="[None, None, None, None]")
        ).to_contain_text("RuntimeError", timeout=60_000)
        expect(status).to_contain_text("Idle", timeout=60_000)
        t_ran = time.monotonic() - t0

        # 1. LatentSliders: keyboard, then drag
        box = page.locator(".latent-sliders:not(.broken-demo)").first
        box.scroll_into_view_if_needed()
        img = box.locator("img.latent-image")
        slider = box.locator(".widget-slider").first
        handle = slider.locator(".noUi-handle").first
        readout = slider.locator(".widget-readout")
        before_png = box.screenshot()
        old, old_readout = _src(img), readout.inner_text()
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        expect(readout).not_to_have_text(old_readout)
        _wait_src_change(page, img, old, "LatentSliders after ArrowRight")
        assert float(readout.inner_text()) == pytest.approx(float(old_readout) + 0.10, abs=1e-6)
        expect(box.locator(".latent-info")).to_contain_text("z")

        old, old_readout = _src(img), readout.inner_text()
        track = slider.locator(".noUi-base").first.bounding_box()
        hb = handle.bounding_box()
        y = hb["y"] + hb["height"] / 2
        page.mouse.move(hb["x"] + hb["width"] / 2, y)
        page.mouse.down()
        page.mouse.move(track["x"] + 0.85 * track["width"], y, steps=8)
        page.mouse.up()
        _wait_src_change(page, img, old, "LatentSliders after dragging")
        expect(readout).not_to_have_text(old_readout)
        assert float(readout.inner_text()) > 1.0, readout.inner_text()
        assert box.screenshot() != before_png
        box.screenshot(path=str(ARTIFACTS / "latent_sliders.png"))

        # 2. LatentPlane: move the pick slider with the keyboard; all three pictures change
        box = page.locator(".latent-plane").first
        box.scroll_into_view_if_needed()
        imgs = [box.locator(f"img.{c}") for c in ("latent-plane-grid", "latent-plane-scatter")]
        imgs.append(box.locator("img.latent-image"))
        olds = [_src(i) for i in imgs]
        box.locator(".widget-slider .noUi-handle").first.focus()
        for _ in range(10):
            page.keyboard.press("ArrowRight")
        for i, o in zip(imgs, olds, strict=True):
            _wait_src_change(page, i, o, "LatentPlane after moving the pick slider")
        expect(box.locator(".latent-info")).to_contain_text("z0 = +0.50")
        box.screenshot(path=str(ARTIFACTS / "latent_plane.png"))

        # 3. Interpolator: step slider, then the spherical button
        box = page.locator(".latent-interpolator").first
        box.scroll_into_view_if_needed()
        img = box.locator("img.latent-image")
        old = _src(img)
        box.locator(".widget-slider .noUi-handle").first.focus()
        page.keyboard.press("ArrowLeft")
        _wait_src_change(page, img, old, "Interpolator after a step")
        expect(box.locator(".latent-info")).to_contain_text("t = 0.43")
        old = _src(box.locator("img.latent-interp-path"))
        box.get_by_role("button", name="spherical").click()
        _wait_src_change(page, box.locator("img.latent-interp-path"), old, "Interpolator slerp")
        box.screenshot(path=str(ARTIFACTS / "interpolator.png"))

        # 4. Traversal: narrow the sweep with the keyboard
        box = page.locator(".latent-traversal").first
        box.scroll_into_view_if_needed()
        img = box.locator("img.latent-image")
        old = _src(img)
        box.locator(".widget-slider .noUi-handle").first.focus()
        page.keyboard.press("ArrowLeft")
        _wait_src_change(page, img, old, "Traversal after changing the range")
        expect(box.locator(".latent-info")).to_contain_text("+2.5")
        box.screenshot(path=str(ARTIFACTS / "traversal.png"))

        page.locator(".broken-demo").first.screenshot(path=str(ARTIFACTS / "broken_demo.png"))
        expect(status).to_contain_text("Idle")
        errors = _output_errors(page)
        assert not errors, f"errors shown in the notebook: {errors}"
        assert not problems, f"browser console errors: {problems}"
        print(f"browser test: cells ran in {t_ran:.1f} s, total {time.monotonic() - t0:.1f} s")
    finally:
        page.screenshot(path=str(ARTIFACTS / "explorers_demo_page.png"), full_page=True)
        page.close()


def test_committed_notebook_04_shows_saved_explorers_before_running(lab, browser):
    from playwright.sync_api import expect

    nb_path = lab["root"] / "04_vae.ipynb"
    if not nb_path.exists():
        pytest.skip("notebooks/04_vae.ipynb is not there yet")
    nb = json.loads(nb_path.read_text())
    source = "".join("".join(c["source"]) for c in nb["cells"])
    if "LatentSliders" not in source:
        pytest.skip("notebook 04 has no latent explorers yet")
    state = nb["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    assert state and state["state"], "notebook 04 was committed without its widget state"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, problems = _open(browser, lab, "04_vae.ipynb")
    try:
        for cls in EXPLORER_CLASSES:  # rendered from metadata: no cell has run
            box = page.locator(f".{cls}").first
            box.scroll_into_view_if_needed()
            expect(box.locator("img.latent-image")).to_have_attribute("src", IMAGE_SRC)
            box.screenshot(path=str(ARTIFACTS / f"nb04_saved_{cls}.png"))
        assert not page.locator(".latent-error-msg").count()
        assert not [p for p in problems if "page error" in p], problems
        # the README picture: the saved plane without ipywidgets' "no kernel yet" badges
        page.add_style_tag(content=".jupyter-widgets-disconnected::before {display: none}")
        page.locator(".latent-plane").first.screenshot(
            path=str(ARTIFACTS / "readme_latent_plane.png")
        )
    finally:
        page.locator(".latent-sliders").first.scroll_into_view_if_needed(timeout=5_000)
        page.screenshot(path=str(ARTIFACTS / "nb04_saved_page.png"))
        page.close()
