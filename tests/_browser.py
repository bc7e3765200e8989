"""What the real-browser tests share: the Chromium they drive, skipping without it, and a PageWatch that
keeps a page local and collects every sign of trouble (console and widget errors, kernel errors that never
reach a cell, requests that tried to leave 127.0.0.1)."""

from __future__ import annotations

import json
import os
import re
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("EOSTUTOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # a proxy from the environment must never see the 127.0.0.1 traffic
]
# Output text that means something went wrong ("ValueError", "Error displaying widget", a traceback).
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|\b\w*Error\b")
# Browser-console messages from the widget manager that mean a widget is broken (e.g. a figure whose state
# holds an undecodable image never sizes itself).
WIDGET_JS_ERROR = re.compile(
    r"Error setting state|Could not create (a )?(model|view)|Error displaying widget|Error rendering|"
    r"Class \S+ not found in module|Failed to (load|create) (model|view)"
)


def skip_or_fail(reason: str) -> None:
    """No browser is a skip on a laptop, a failure in CI (EOSTUTOR_REQUIRE_BROWSER=1)."""
    if os.environ.get("EOSTUTOR_REQUIRE_BROWSER") == "1":
        pytest.fail(f"EOSTUTOR_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def require_playwright():
    """Playwright's sync API entry point, or a skip (a failure under EOSTUTOR_REQUIRE_BROWSER=1)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        skip_or_fail(f"the playwright package is not installed ({exc}); pip install playwright")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return sync_playwright


def kernel_message(payload) -> dict | None:
    """Decode a kernel websocket frame (JupyterLab 4's binary v1 protocol, or legacy JSON text)."""
    try:
        if isinstance(payload, str):
            return json.loads(payload)
        count = int.from_bytes(payload[:8], "little")
        if not 6 <= count <= 1024 or 8 * (count + 1) > len(payload):
            return None  # not a v1 frame
        offsets = [int.from_bytes(payload[8 + 8 * i : 16 + 8 * i], "little") for i in range(count)]
        parts = [payload[a:b] for a, b in zip(offsets, offsets[1:])]
        return {
            "channel": parts[0].decode(),
            "header": json.loads(parts[1]),
            "parent_header": json.loads(parts[2]),
            "content": json.loads(parts[4]),
        }
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def kernel_error(msg: dict) -> str | None:
    """A one-line description if ``msg`` reports an error (an exception, or a traceback on stderr)."""
    msg_type = msg.get("header", {}).get("msg_type") or msg.get("msg_type")
    parent = (msg.get("parent_header") or {}).get("msg_type", "?")
    content = msg.get("content") or {}
    if msg_type == "error":
        return f"{content.get('ename')}: {content.get('evalue')} (in reply to {parent})"
    if msg_type == "stream" and content.get("name") == "stderr" and ERROR_TEXT.search(content.get("text", "")):
        return f"stderr (in reply to {parent}): {content['text'][-1500:]}"
    return None


def server_tracebacks(text: str, context_lines: int = 25) -> list[str]:
    """Python tracebacks the server or its kernels wrote to the log, each with the lines that follow."""
    lines = text.splitlines()
    return ["\n".join(lines[i : i + context_lines]) for i, line in enumerate(lines)
            if "Traceback (most recent call last)" in line]


class PageWatch:
    """Attach to a browser context and page: only 127.0.0.1 may be contacted (anything else is aborted and
    listed in ``blocked``); the console goes to ``console`` and widget-manager errors to ``widget_errors``;
    every kernel message passes through the websocket, so errors that never reach a cell (an exception in a
    widget callback) land in ``kernel_errors``."""

    def __init__(self):
        self.console: list[str] = []
        self.widget_errors: list[str] = []
        self.kernel_errors: list[str] = []
        self.blocked: list[str] = []

    def attach(self, context, page) -> None:
        context.route("**/*", self._only_local)
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console.append(f"[pageerror] {exc}"))
        page.on("websocket", self._watch_kernel)

    def _only_local(self, route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in ("127.0.0.1", "localhost") or not url.startswith("http"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _on_console(self, msg) -> None:
        self.console.append(f"[{msg.type}] {msg.text}"[:2000])
        if WIDGET_JS_ERROR.search(msg.text):
            self.widget_errors.append(msg.text[:500])

    def _watch_kernel(self, ws) -> None:
        def on_frame(payload):
            msg = kernel_message(payload)
            problem = msg and kernel_error(msg)
            if problem:
                self.kernel_errors.append(problem)

        if "/api/kernels/" in ws.url:
            ws.on("framereceived", on_frame)
