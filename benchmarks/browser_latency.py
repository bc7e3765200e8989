"""Benchmark: a slider move to a changed picture, in a real browser, for the course's explorer and for the
matplotlib way of building the same widget, side by side in one run.

JupyterLab is started headless on 127.0.0.1 (no token, a temporary folder, kernels with one thread) with a
generated notebook holding two widgets over the same model (the minimalist toy, 1,000 steps):

* **eostutor**: ``StepSizeExplorer("minimalist")``, its panels drawn by bqplot in the page;
* **matplotlib peer**: the same five panels drawn with :mod:`eostutor.plots` into one ipympl figure
  (``%matplotlib widget``), redrawn by ``fig.canvas.draw_idle()`` from a slider observer: how one builds
  such a widget with matplotlib (the course's own widgets worked this way, with blitting, before).

Chromium (Debian's, through Playwright's ``executable_path``) runs the notebook; the η slider of each
widget is moved with keydown events on its handle (one slider step, about 1% of η), from η = 0.2 across the
edge (λ_max settles at 2/η; larger η diverge), one step at a time and then as a quick drag of 20 moves
30 ms apart. Measured in the page:

* eostutor: keydown -> the first change of a panel's SVG (MutationObserver) + two animation frames;
* peer: keydown -> the first animation frame in which the canvas' pixels differ (hashed every frame).

Usage:  python benchmarks/browser_latency.py [--quick] [--moves N]
Writes benchmarks/results/browser_latency.json and prints a table; screenshots go to
test-artifacts/browser-latency/. Needs chromium and playwright (``make setup`` installs playwright;
``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from _browser_latency import burst, single_moves, summary  # noqa: E402
from _jupyter_server import JupyterLabServer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-proxy-server"]
ARTIFACTS = REPO / "test-artifacts" / "browser-latency"

SETUP = """%matplotlib widget
import matplotlib.pyplot as plt
import ipywidgets as w
import eostutor as eos
from eostutor import plots
from eostutor.widgets.model import ExplorerModel, ExplorerSettings"""
from _results import save  # noqa: E402  (benchmarks/_results.py, beside this script)

OURS = """explorer = eos.widgets.StepSizeExplorer("minimalist", eta=0.2, num_steps=1000)
explorer"""

# The same panels with matplotlib: one figure, the plots module's functions redraw each panel in place.
PEER = """model = ExplorerModel()
problem = model.problem("minimalist")
slider = w.FloatLogSlider(value=0.2, base=10, min=explorer.controls["eta"].min, max=explorer.controls["eta"].max,
                          step=explorer.controls["eta"].step, description="η", continuous_update=True,
                          layout=w.Layout(width="380px"))
with plt.ioff():
    fig = plt.figure(figsize=(9, 6), dpi=100, layout="constrained")
fig.canvas.header_visible = False
gs = fig.add_gridspec(2, 3)
axes = {"trajectory": fig.add_subplot(gs[:, 0])}
for i, name in enumerate(("loss", "sharpness", "eta_sharpness", "step_size")):
    axes[name] = fig.add_subplot(gs[i // 2, 1 + i % 2])

def redraw(change=None):
    run = model.train(ExplorerSettings("minimalist", eta=slider.value, num_steps=1000))
    plots.trajectory(problem, run, ax=axes["trajectory"], extent=(1.0, 3.0, -0.8, 1.1), markers=False)
    for name in ("loss", "sharpness", "eta_sharpness", "step_size"):
        plots.DASHBOARD_PANELS[name](run, ax=axes[name])
    fig.canvas.draw_idle()

slider.observe(redraw, "value")
redraw()
peer = w.VBox([slider, fig.canvas])
peer.add_class("eostutor-peer")
peer"""

def _notebook(path: Path) -> None:
    cells = [SETUP, OURS, PEER]
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
                    for c in cells],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer moves (a smoke run)")
    parser.add_argument("--moves", type=int, default=40, help="one-step moves per widget (half right, half back)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "browser_latency.json"))
    args = parser.parse_args()
    moves = 8 if args.quick else args.moves
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        _notebook(root / "latency.ipynb")
        env = {"EOSTUTOR_FAST": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        with JupyterLabServer(root, Path(tmp) / "jupyter", ARTIFACTS / "jupyterlab.log", env=env) as server, \
                sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, device_scale_factor=1)
            page.goto(server.url + "lab/tree/latency.ipynb")
            import test_browser

            test_browser._run_all_cells(page, "latency.ipynb", [])
            page.wait_for_selector(".bqplot", timeout=60_000)
            page.wait_for_selector(".jupyter-matplotlib-canvas-div canvas", timeout=60_000)
            page.evaluate("""() => {
              const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
              cells[1].setAttribute('data-bench', 'ours'); cells[2].setAttribute('data-bench', 'peer');
              cells[1].querySelector('.noUi-handle').setAttribute('data-bench', 'handle');
              cells[2].querySelector('.noUi-handle').setAttribute('data-bench', 'handle');
            }""")
            time.sleep(3)
            ours_cell, peer_cell = '[data-bench="ours"]', '[data-bench="peer"]'
            page.locator(ours_cell).scroll_into_view_if_needed()
            result = {"ours": {"moves": single_moves(page, ours_cell, '[data-bench="handle"]', moves)}}
            result["ours"]["drag"] = burst(page, ours_cell, '[data-bench="handle"]', n=20, gap_ms=30,
                                           key="ArrowLeft")
            page.screenshot(path=str(ARTIFACTS / "ours.png"))
            page.locator(peer_cell).scroll_into_view_if_needed()
            time.sleep(1)
            result["peer"] = {"moves": single_moves(page, peer_cell, '[data-bench="handle"]', moves, pause_s=0.4,
                                                    mode="canvas")}
            result["peer"]["drag"] = burst(page, peer_cell, '[data-bench="handle"]', n=20, gap_ms=30,
                                           key="ArrowLeft", quiet_ms=4000, mode="canvas")
            page.screenshot(path=str(ARTIFACTS / "peer.png"))
            browser.close()
    for side in ("ours", "peer"):
        result[side]["summary"] = summary(result[side]["moves"])
    ours, peer = result["ours"]["summary"], result["peer"]["summary"]
    result["machine"] = {"python": platform.python_version(), "processor": platform.processor() or platform.machine()}
    result["ratio_median_peer_over_ours"] = peer.get("median", float("nan")) / ours.get("median", float("nan"))
    print(f"Slider move -> changed picture in Chromium, minimalist toy, 1,000 steps, η from 0.2 ({moves} one-step "
          "moves, then a 20-move drag)")
    print(f"{'widget':<18} {'median':>8} {'p90':>8} {'max':>8} {'no answer':>10} {'drag settle':>12} "
          f"{'pictures in drag':>17}")
    for side, name in (("ours", "eostutor (bqplot)"), ("peer", "matplotlib+ipympl")):
        s, d = result[side]["summary"], result[side]["drag"]
        print(f"{name:<18} {s.get('median', float('nan')):8.0f} {s.get('p90', float('nan')):8.0f} "
              f"{s.get('max', float('nan')):8.0f} {s['unanswered']:10d} {d['settle_ms']:12.0f} "
              f"{d['pictures_during_drag']:17d}")
    print(f"median ratio matplotlib/eostutor: {result['ratio_median_peer_over_ours']:.1f}x  (ms; goals: median ≤ 100, "
          "p90 ≤ 200, drag settled ≤ 300)")
    save(result, args.out)


if __name__ == "__main__":
    main()
