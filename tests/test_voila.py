"""Real-browser test of the classroom launch: every notebook renders through Voilà's /voila/render/ route.

This is the route of the README's "Launch Voilà on Binder" badge: Voilà as an extension of the Jupyter
server, not the standalone ``voila`` command. The server is started the way Binder starts it, through
``binder/start`` (which puts ``binder/jupyter_server_config.py`` on the Jupyter config path), on a temporary
copy of the repository's notebooks/ folder at the same place as in the repository, with kernels in
EOSTUTOR_FAST mode. Chromium (Playwright) then opens ``/voila/render/notebooks/NN_name.ipynb`` for each
notebook and checks that:

* Voilà finishes executing it (the page leaves "Executing k of n"; this is where the upstream bug hangs);
* the widgets' figures appear: every bqplot figure and ipympl canvas has a real size and is not blank,
  and there are widget controls;
* every markdown image loaded;
* no error shows anywhere: no error text in outputs, no Voilà "error when executing cell", no error from
  the kernel, no widget error in the browser console, no traceback in the server log.

Screenshots and the server log go to test-artifacts/voila/. A missing Chromium or Playwright skips the
test, or fails it when EOSTUTOR_REQUIRE_BROWSER=1 (CI), as for tests/test_browser.py.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import shutil
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from _browser import CHROMIUM, CHROMIUM_ARGS, ERROR_TEXT, PageWatch, require_playwright, server_tracebacks
from _jupyter_server import JupyterLabServer
from test_browser import _distinct_colours

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = REPO / "test-artifacts" / "voila"
BINDER_START = REPO / "binder" / "start"

# Timeouts (seconds), for FAST mode on the slowest machine we plan for (Binder: about one CPU).
SERVER_START_TIMEOUT = 60
RENDER_TIMEOUT = 240  # kernel start + every cell executed by Voilà
WIDGET_TIMEOUT = 60  # figures sized after the page shows its cells
MIN_FIGURE_SIDE = 50  # px, as in the JupyterLab test
VOILA_ERROR = re.compile(r"There was an error when executing cell|Error displaying widget|Error rendering")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class BinderLikeServer(JupyterLabServer):
    """JupyterLab started through binder/start, as repo2docker's entrypoint does on Binder."""

    def command(self) -> list[str]:
        return [str(BINDER_START), *super().command()]


@pytest.fixture(scope="module")
def browser():
    sync_playwright = require_playwright()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    work = tmp_path_factory.mktemp("voila")
    root = work / "repo"
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    srv = BinderLikeServer(root, work / "jupyter", ARTIFACTS / "server.log", env={"EOSTUTOR_FAST": "1"},
                           startup_timeout=SERVER_START_TIMEOUT)
    with srv:
        yield srv


def _api(server, method: str, path: str):
    """A REST call to the server; non-GET calls carry the XSRF cookie and header, as JupyterLab's do."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar))
    headers = {}
    if method != "GET":
        opener.open(server.url + "lab", timeout=30).close()  # sets the _xsrf cookie
        headers["X-XSRFToken"] = next(c.value for c in jar if c.name == "_xsrf")
    request = urllib.request.Request(server.url + path, method=method, headers=headers)
    with opener.open(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


def _shut_down_kernels(server) -> None:
    """One notebook's kernel at a time, as a class would not have eight open at once."""
    for kernel in _api(server, "GET", "api/kernels"):
        _api(server, "DELETE", f"api/kernels/{kernel['id']}")


_RENDERED_JS = """() => {
  const cells = document.getElementById('rendered_cells');
  return !document.getElementById('loading') && !!cells && getComputedStyle(cells).display !== 'none';
}"""

_LOADING_TEXT_JS = """() => {
  const el = document.getElementById('loading_text');
  return el ? el.textContent.trim() : '(no loading text)';
}"""

# A widget's figure: a bqplot figure (the explorers' live panels) or an ipympl canvas (matplotlib figures).
FIGURE_SELECTOR = ".bqplot.figure, .jupyter-matplotlib-canvas-div"
_FIGURES_JS = """([selector, minSide]) => {
  const figures = [...document.querySelectorAll('#rendered_cells ' + selector)];
  const sizes = figures.map((e) => { const r = e.getBoundingClientRect();
                                     return [Math.round(r.width), Math.round(r.height)]; });
  const good = figures.filter((e, i) => sizes[i][0] >= minSide && sizes[i][1] >= minSide);
  figures.forEach((e, i) => e.setAttribute('data-eostutor-figure', String(i)));
  return {sizes: sizes, ok: good.length, all: figures.length,
          controls: document.querySelectorAll('#rendered_cells .jupyter-widgets.widget-inline-hbox, '
                                              + '#rendered_cells .jupyter-widgets.widget-slider, '
                                              + '#rendered_cells .jupyter-widgets.widget-button').length};
}"""

_IMAGES_JS = """() => [...document.querySelectorAll('#rendered_cells .jp-RenderedMarkdown img')].map(
  (img) => ({src: (img.getAttribute('src') || '').slice(0, 80), complete: img.complete,
             width: img.naturalWidth}))"""

_ERROR_OUTPUTS_JS = """(errorSource) => {
  const re = new RegExp(errorSource);
  return [...document.querySelectorAll('#rendered_cells .jp-OutputArea-output')]
    .filter((el) => el.getAttribute('data-mime-type') === 'application/vnd.jupyter.error'
                    || re.test(el.textContent || ''))
    .map((el) => (el.textContent || '').slice(0, 1000));
}"""


def _wait_until_rendered(page, server, log_start: int, url: str) -> None:
    """Wait until Voilà has executed every cell; fail at once when the server logs a traceback meanwhile
    (the upstream bug logs one and then leaves the page at "Executing k of n" for good).
    """
    deadline = time.monotonic() + RENDER_TIMEOUT
    while not page.evaluate(_RENDERED_JS):
        tracebacks = server_tracebacks(server.log_text()[log_start:])
        if tracebacks or time.monotonic() > deadline:
            where = page.evaluate(_LOADING_TEXT_JS)
            why = "the server logged a traceback" if tracebacks else f"not done within {RENDER_TIMEOUT} s"
            pytest.fail(f"Voilà did not render {url} ({why}); the page says {where!r}; server tracebacks:\n"
                        + ("\n".join(tracebacks) or "none"), pytrace=False)
        page.wait_for_timeout(500)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem[:2] for nb in NOTEBOOKS])
def test_notebook_renders_through_voila_with_working_widgets(notebook, server, browser):
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    watch = PageWatch()
    console, widget_js_errors, kernel_errors, blocked = (watch.console, watch.widget_errors, watch.kernel_errors,
                                                         watch.blocked)
    log_start = len(server.log_text())

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    page = context.new_page()
    name = notebook.stem
    start = time.monotonic()
    try:
        watch.attach(context, page)
        url = server.url + "voila/render/notebooks/" + quote(notebook.name)
        page.goto(url, wait_until="commit", timeout=60_000)
        _wait_until_rendered(page, server, log_start, url)
        rendered = time.monotonic() - start

        text = page.inner_text("#rendered_cells")
        assert not VOILA_ERROR.search(text), f"{name}: Voilà shows an error: {VOILA_ERROR.search(text).group(0)!r}"
        errors = page.evaluate(_ERROR_OUTPUTS_JS, ERROR_TEXT.pattern)
        assert not errors, f"{name}: error output: {errors}"
        assert not kernel_errors, f"{name}: the kernel reported errors: {kernel_errors}"

        args = [FIGURE_SELECTOR, MIN_FIGURE_SIDE]
        try:  # widgets render one after another once the cells show
            ready = (f"(args) => {{ const f = ({_FIGURES_JS})(args); "
                     "return f.ok > 0 && f.ok === f.all && f.controls > 0; }")
            page.wait_for_function(ready, arg=args, timeout=WIDGET_TIMEOUT * 1000, polling=250)
        except PlaywrightTimeoutError:
            pass  # reported below with the sizes found
        figures = page.evaluate(_FIGURES_JS, args)
        assert figures["ok"] > 0 and figures["ok"] == figures["all"], (
            f"{name}: widget figures did not all appear (bqplot / ipympl sizes {figures['sizes']}, need >= "
            f"{MIN_FIGURE_SIDE} px); widget errors in the console: {widget_js_errors or 'none'}")
        assert figures["controls"] > 0, f"{name}: no widget controls (sliders, buttons) rendered"
        for i in range(figures["all"]):
            figure = page.locator(f'[data-eostutor-figure="{i}"]')
            figure.scroll_into_view_if_needed()
            deadline = time.monotonic() + 15
            while _distinct_colours(shot := figure.screenshot(animations="disabled")) <= 2:
                assert time.monotonic() < deadline, f"{name}: widget figure {i} stays blank"
                page.wait_for_timeout(250)
            (ARTIFACTS / f"{name}_figure{i}.png").write_bytes(shot)

        page.wait_for_function("() => [...document.querySelectorAll('#rendered_cells img')].every((i) => i.complete)",
                               timeout=30_000, polling=250)
        # The course's own pictures, served by the server; not the Open-in-Colab badge (an outside image,
        # blocked here like every request that leaves 127.0.0.1).
        images = [img for img in page.evaluate(_IMAGES_JS) if urlsplit(img["src"]).hostname in ("127.0.0.1", None)]
        assert images, f"{name}: no markdown image found (every notebook shows a static picture first)"
        broken = [img for img in images if not img["width"]]
        assert not broken, f"{name}: markdown images that did not load: {broken}"

        page.wait_for_timeout(500)  # the last kernel messages
        page.screenshot(path=str(ARTIFACTS / f"{name}_page.png"))
        errors = page.evaluate(_ERROR_OUTPUTS_JS, ERROR_TEXT.pattern)
        assert not errors, f"{name}: error output: {errors}"
        assert not kernel_errors, f"{name}: the kernel reported errors: {kernel_errors}"
        assert not widget_js_errors, f"{name}: widget errors in the browser console: {widget_js_errors}"
        tracebacks = server_tracebacks(server.log_text()[log_start:])
        assert not tracebacks, f"{name}: traceback in the server log:\n" + "\n".join(tracebacks)
        hosts = sorted({urlsplit(u).hostname for u in blocked})
        print(f"\nvoila {name}: rendered in {rendered:.1f} s, {figures['ok']} figures {figures['sizes']}, "
              f"{figures['controls']} "
              f"controls, {len(images)} markdown images; total {time.monotonic() - start:.1f} s"
              + (f"; blocked requests to {', '.join(hosts)}" if hosts else ""))
    except BaseException:
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}_failure.png"), timeout=10_000)
        except Exception:  # the page may be gone; the log still helps
            pass
        (ARTIFACTS / f"{name}_console.log").write_text("\n".join(console) + "\n")
        print(server.log_tail(40))
        raise
    finally:
        context.close()
        _shut_down_kernels(server)
