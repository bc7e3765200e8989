"""Real-browser test: on a laptop screen (1366 × 768), no figure of notebooks 00, 03 and 06 overflows its output.

JupyterLab runs headless on 127.0.0.1 (empty token, private Jupyter dirs, kernels in EOSTUTOR_FAST mode) over a
temporary copy of notebooks/ (JupyterLab autosaves; the committed notebooks are never touched), with its
default layout: the file browser open on the left, as a learner sees it after ``make lab``. Chromium
(Playwright, Debian's /usr/bin/chromium) opens each notebook at 1366 × 768, runs all cells, waits for the
widgets, and measures every figure in the page: matplotlib canvases (ipympl), bqplot figures, images in
outputs and in markdown cells. A figure overflows when its right edge passes the right edge of its output
area (or of the markdown cell), or when the output area scrolls sideways. Any error output fails too.

Screenshots go to test-artifacts/browser_figures/ (one per figure, scrolled into view, plus the figure
itself): look at them when a figure changes. A missing Chromium or Playwright skips the test, or fails it when
EOSTUTOR_REQUIRE_BROWSER=1 (CI), as for tests/test_browser.py.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import test_browser
from _browser import CHROMIUM, CHROMIUM_ARGS, ERROR_TEXT, PageWatch, require_playwright
from _jupyter_server import JupyterLabServer

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["00_start_here.ipynb", "03_edge_of_stability_on_toys.ipynb", "06_flatland.ipynb"]
ARTIFACTS = REPO / "test-artifacts" / "browser_figures"
VIEWPORT = {"width": 1366, "height": 768}  # the most common laptop screen

# Timeouts (seconds), FAST mode, for a slow shared machine.
SERVER_START_TIMEOUT = 60
RUN_ALL_TIMEOUT = 300
WIDGET_TIMEOUT = 90  # widgets render (and networks train in the background) after the kernel idles
SETTLE = 3.0  # s with no figure changing size before measuring
TOLERANCE_PX = 1  # sub-pixel rounding

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Every figure-like element in the notebook, with the container it must fit in. Returns one record per
# element: its kind, cell index, rectangle, the container's rectangle and whether the container scrolls.
_FIGURES_JS = """() => {
  const kinds = [
    ['ipympl', '.jp-OutputArea-output .jupyter-matplotlib-canvas-div'],
    ['bqplot', '.jp-OutputArea-output .bqplot.figure'],
    ['output image', '.jp-OutputArea-output img'],
    ['probe', '.jp-OutputArea-output .eostutor-probe'],
    ['markdown image', '.jp-MarkdownOutput img'],
  ];
  // the notebook's cells in order, from JupyterLab's own model of the open notebook
  const cells = window.jupyterapp.shell.currentWidget.content.widgets.map((w) => w.node);
  const seen = new Set();
  const out = [];
  for (const [kind, sel] of kinds) {
    for (const el of document.querySelectorAll(sel)) {
      if (seen.has(el)) continue;
      seen.add(el);
      const box = el.closest('.jp-OutputArea-output') || el.closest('.jp-MarkdownOutput');
      const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;  // not rendered (e.g. a hidden tab)
      const cell = cells.find((c) => c.contains(el));
      if (cell) cell.setAttribute('data-eostutor-figure-cell', cells.indexOf(cell));
      el.setAttribute('data-eostutor-figure', out.length);
      out.push({kind: kind, cell: cells.indexOf(cell), left: r.left, right: r.right, width: r.width,
                height: r.height, box_left: b.left, box_right: b.right, box_width: b.width,
                scrolls: box.scrollWidth > box.clientWidth + 1});
    }
  }
  return out;
}"""

_PROBE_JS = """() => {
  const o = document.querySelector('.jp-Notebook .jp-OutputArea-output');
  const d = document.createElement('div');
  d.className = 'eostutor-probe';
  d.style.width = '2000px';
  d.style.height = '10px';
  o.appendChild(d);
}"""

_SIZES_JS = """() => [...document.querySelectorAll(
    '.jp-OutputArea-output .jupyter-matplotlib-canvas-div, .jp-OutputArea-output .bqplot.figure, '
    + '.jp-OutputArea-output img')]
    .map((e) => { const r = e.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; })"""


@pytest.fixture(scope="module")
def sync_playwright():
    return require_playwright()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def lab(sync_playwright, artifacts, tmp_path_factory):
    """JupyterLab over a temporary copy of notebooks/; stopped even if a test fails."""
    work = tmp_path_factory.mktemp("jupyterlab-figures")
    root = work / "root"
    shutil.copytree(REPO / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    server = JupyterLabServer(root, work / "jupyter", artifacts / "jupyterlab.log",
                              env={"EOSTUTOR_FAST": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
                              startup_timeout=SERVER_START_TIMEOUT)
    with server:
        yield server


def _wait_until_sizes_settle(page) -> list:
    """Widgets render after the kernel idles and may resize while their runs stream in: wait for quiet."""
    deadline = time.monotonic() + WIDGET_TIMEOUT
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        sizes = page.evaluate(_SIZES_JS)
        if sizes != last:
            last, since = sizes, time.monotonic()
        elif time.monotonic() - since >= SETTLE:
            break
        time.sleep(0.5)
    return last or []


def _kernel_idle(page) -> bool:
    return page.evaluate("""() => {
      const w = window.jupyterapp.shell.currentWidget;
      const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
      return !!k && k.status === 'idle';
    }""")


@pytest.mark.parametrize("name", NOTEBOOKS, ids=[n[:2] for n in NOTEBOOKS])
def test_no_figure_overflows_at_laptop_width(lab, sync_playwright, artifacts, tmp_path, monkeypatch, name):
    monkeypatch.setattr(test_browser, "RUN_ALL_TIMEOUT", RUN_ALL_TIMEOUT)
    watch = PageWatch()
    kernel_errors, blocked = watch.kernel_errors, watch.blocked
    stem = name[:2]

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT, device_scale_factor=1)
        page = None
        try:
            context.set_default_timeout(30_000)
            page = context.new_page()
            watch.attach(context, page)
            page.goto(lab.url + "lab/tree/" + quote(name), wait_until="domcontentloaded", timeout=60_000)
            test_browser._run_all_cells(page, name, kernel_errors)
            _wait_until_sizes_settle(page)
            page.wait_for_function("""() => {
                const w = window.jupyterapp.shell.currentWidget;
                const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
                return !!k && k.status === 'idle'; }""", timeout=WIDGET_TIMEOUT * 1000, polling=500)
            figures = page.evaluate(_FIGURES_JS)
            assert figures, f"{name}: no figure found after Run All Cells"
            area = page.evaluate("""() => { const o = document.querySelector('.jp-Notebook .jp-OutputArea-output');
                                        return o ? Math.round(o.getBoundingClientRect().width) : null; }""")
            print(f"\n{name}: output area {area} px wide at {VIEWPORT['width']}×{VIEWPORT['height']}; "
                  f"{len(figures)} figures")
            overflowing = []
            for i, fig in enumerate(figures):
                element = page.locator(f'[data-eostutor-figure="{i}"]')
                element.scroll_into_view_if_needed()
                page.wait_for_timeout(200)
                label = f"{stem}_cell{fig['cell']:02d}_{i:02d}_{fig['kind'].replace(' ', '_')}"
                page.screenshot(path=str(artifacts / f"{label}_view.png"))
                try:
                    element.screenshot(path=str(artifacts / f"{label}.png"), animations="disabled", timeout=10_000)
                except Exception as exc:  # an element being redrawn: the view screenshot still shows it
                    print(f"  no element screenshot for {label}: {exc}")
                over = fig["right"] - fig["box_right"]
                verdict = f"OVERFLOWS by {over:.0f} px" if over > TOLERANCE_PX else "fits"
                print(f"  cell {fig['cell']:2d} {fig['kind']:14s} {fig['width']:6.0f} × {fig['height']:4.0f} px "
                      f"in {fig['box_width']:4.0f} px: {verdict}{', scrolls sideways' if fig['scrolls'] else ''}")
                if over > TOLERANCE_PX or fig["scrolls"]:
                    overflowing.append({**fig, "overflow_px": round(over)})
            (artifacts / f"{stem}_figures.json").write_text(json.dumps(figures, indent=1))
            # The measure itself must see an overflow: a 2,000 px wide probe in the first output area.
            page.evaluate(_PROBE_JS)
            probe = [f for f in page.evaluate(_FIGURES_JS) if f["kind"] == "probe"]
            page.evaluate("() => document.querySelectorAll('.eostutor-probe').forEach((e) => e.remove())")
            assert probe and probe[0]["right"] - probe[0]["box_right"] > TOLERANCE_PX, f"probe not caught: {probe}"
            errors = page.evaluate(test_browser._ERROR_OUTPUTS_JS, ERROR_TEXT.pattern)
            assert not errors and not kernel_errors, f"{name}: errors {errors} {kernel_errors}"
            assert not overflowing, (f"{name}: figures wider than their output area at {VIEWPORT['width']} px: "
                                     f"{overflowing} (screenshots in {artifacts})")
        except BaseException:
            if page is not None:
                try:
                    page.screenshot(path=str(artifacts / f"{stem}_failure.png"))
                except Exception:
                    pass
            print(lab.log_tail(30))
            raise
        finally:
            context.close()
            if blocked:
                print("blocked non-local requests: " + ", ".join(blocked))

