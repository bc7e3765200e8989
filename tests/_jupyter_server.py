"""A throwaway JupyterLab server for the browser test: local only, isolated, always stopped.

`JupyterLabServer` starts ``python -m jupyterlab`` from the running interpreter (the test venv) on
127.0.0.1 with an empty token and password, a private JUPYTER config/data/runtime dir (so no user
setting, workspace or extension leaks in), no outbound fetches (news, update checks, extension
manager), and its stdout/stderr in a log file. Use it as a context manager:

    with JupyterLabServer(root_dir, work_dir, log_path, env={"EOSTUTOR_FAST": "1"}) as server:
        page.goto(server.url + "lab/tree/some.ipynb")
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# Variables that would point the server or its kernels at the user's own configuration or change what
# the learner would see (a forced matplotlib backend); the server gets private replacements instead.
_SCRUBBED_ENV = (
    "JUPYTER_PATH",
    "JUPYTER_CONFIG_PATH",
    "JUPYTER_TOKEN",
    "JUPYTER_PORT",
    "JUPYTER_PREFER_ENV_PATH",
    "JUPYTER_NO_CONFIG",
    "MPLBACKEND",
)

# Lab settings with no usable command-line spelling (None values), written to the private config dir.
_LAB_CONFIG = {
    "LabApp": {
        "news_url": None,  # no announcements feed
        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        "extension_manager": "readonly",  # never query PyPI for extensions
    },
}

# JupyterLab user settings (in the private settings dir): every cell attached and rendered (no lazy
# windowing to hide a widget from the DOM), the kernel starts without a "select kernel" dialog, and no
# "get notified about Jupyter news?" toast over the figures.
_USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on `host` a moment ago (the server is told not to retry others).

    Returns:
        A port number.

    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class JupyterLabServer:
    """JupyterLab on 127.0.0.1 serving `root_dir`, with private Jupyter dirs under `work_dir`.

    Args:
        root_dir: the folder the server exposes (give it a copy: JupyterLab autosaves notebooks).
        work_dir: an empty scratch folder for the private config/data/runtime/IPython dirs.
        log_path: file that receives the server's (and its kernels') stdout and stderr.
        env: extra environment variables for the server; kernels inherit them.
        startup_timeout: seconds to wait for the server to answer before giving up.

    >>> JupyterLabServer("/tmp/nb", "/tmp/w", "/tmp/lab.log")
    JupyterLabServer(root_dir='/tmp/nb', url=None)
    """

    def __init__(self, root_dir, work_dir, log_path, env=None, startup_timeout: float = 60.0):
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be > 0 seconds, got {startup_timeout!r}")
        self.root_dir = Path(root_dir)
        self.work_dir = Path(work_dir)
        self.log_path = Path(log_path)
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.url: str | None = None
        self._proc: subprocess.Popen | None = None
        self._log_file = None

    def __repr__(self) -> str:
        return f"JupyterLabServer(root_dir={str(self.root_dir)!r}, url={self.url!r})"

    # -- lifecycle ------------------------------------------------------------------------------------
    def __enter__(self) -> JupyterLabServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
            "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
            "IPYTHONDIR": "ipython",  # no user startup scripts or profiles in the kernel
            "MPLCONFIGDIR": "matplotlib",  # no user matplotlibrc
        }
        for var, name in dirs.items():
            path = self.work_dir / name
            path.mkdir(parents=True, exist_ok=True)
            env[var] = str(path)
        (self.work_dir / "config" / "jupyter_lab_config.json").write_text(json.dumps(_LAB_CONFIG))
        for plugin, settings in _USER_SETTINGS.items():
            path = self.work_dir / "lab-settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings))
        env["PYTHONUNBUFFERED"] = "1"  # the log shows kernel tracebacks as they happen
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        """The command line that starts the server (for the log and for debugging by hand)."""
        return [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",  # fail loudly rather than drift to a port we do not know
            "--IdentityProvider.token=",
            "--PasswordIdentityProvider.hashed_password=",
            f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run commands and read state
        ]

    def start(self) -> None:
        """Start the server and wait until its REST API answers.

        Raises:
            RuntimeError: the server exited or did not answer within `startup_timeout` (the message
                ends with the tail of the log).
        """
        if self._proc is not None:
            raise RuntimeError(f"{self!r} is already started")
        self.port = free_port()
        env = self._environment()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "w", encoding="utf-8", errors="replace")
        self._log_file.write("$ " + " ".join(self.command()) + "\n")
        self._log_file.flush()
        # A new session makes the server and its kernels one process group, so stop() can end them all.
        self._proc = subprocess.Popen(
            self.command(),
            cwd=self.root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{self.port}/"
        # No proxy: http_proxy in the environment must not capture a request to 127.0.0.1.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()
                raise RuntimeError(f"JupyterLab exited with code {code} while starting\n{self.log_tail()}")
            try:
                with opener.open(base + "api/status", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"JupyterLab did not answer on {base} within {self.startup_timeout:.0f} s\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.25)
        self.url = base

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (SIGTERM: it shuts its kernels down), then kill its process group if needed."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        if proc is not None:
            # Kernels the server did not manage to shut down are still in its process group.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.url = None

    # -- diagnostics ----------------------------------------------------------------------------------
    def log_text(self) -> str:
        """Everything the server (and its kernels) wrote so far."""
        if self._log_file is not None:
            self._log_file.flush()
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, num_lines: int = 50) -> str:
        """The last `num_lines` lines of the server log, under a header naming the file."""
        lines = self.log_text().splitlines()[-num_lines:]
        return f"--- last {len(lines)} lines of {self.log_path} ---\n" + "\n".join(lines)
