"""Drive headless Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe): open a page,
record dialogs, script errors and console errors, evaluate expressions, take screenshots.

No websocket and no extra Python package: Chromium reads NUL-terminated JSON commands on fd 3 and
writes answers and events on fd 4.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",  # the tests run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


def chromium_path() -> str | None:
    """The Chromium binary (Debian's package installs /usr/bin/chromium)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageReport:
    """What happened while a page was open."""

    dialogs: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Everything that must not happen when a report is opened."""
        return (
            [f"dialog: {d}" for d in self.dialogs]
            + [f"exception: {e}" for e in self.exceptions]
            + [f"console: {c}" for c in self.console_errors]
            + [f"log: {entry}" for entry in self.log_errors]
        )


class Chromium:
    """One headless browser with one page, driven over the DevTools pipe."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 900, log: Path | None = None) -> None:
        binary = chromium_path()
        if binary is None:
            raise RuntimeError("chromium is not installed (Debian package 'chromium')")
        command_read, self._command_write = os.pipe()
        self._answer_read, answer_write = os.pipe()

        def on_fds_3_and_4() -> None:  # runs in the child between fork and exec
            # Copy both above 3 and 4 first, so that neither dup2 can overwrite the other's source.
            high_command = fcntl.fcntl(command_read, fcntl.F_DUPFD, 10)
            high_answer = fcntl.fcntl(answer_write, fcntl.F_DUPFD, 10)
            os.dup2(high_command, 3)
            os.dup2(high_answer, 4)

        self._log = open(log or os.devnull, "wb")  # noqa: SIM115  # closed in close()
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            pass_fds=(3, 4),
            preexec_fn=on_fds_3_and_4,  # a test helper, started from one thread
        )
        os.close(command_read)
        os.close(answer_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.report = PageReport()
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    # --- protocol -----------------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self._command_write, data)
            data = data[written:]

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._answer_read], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._answer_read, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def _record(self, event: dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Page.javascriptDialogOpening":
            self.report.dialogs.append(f"{params.get('type')}: {params.get('message')}")
            # Dismiss it, or the page stays blocked; the test fails on the record anyway.
            self._send(
                {
                    "id": self._new_id(),
                    "method": "Page.handleJavaScriptDialog",
                    "params": {"accept": False},
                    "sessionId": self.session,
                }
            )
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.report.exceptions.append(str(text))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            self.report.console_errors.append(" ".join(args))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.report.log_errors.append(
                f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}"
            )
        elif method == "Network.requestWillBeSent":
            self.report.requests.append(params.get("request", {}).get("url", ""))
        self._events.append(event)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def call(self, method: str, session: bool = False, timeout: float = 60, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer, recording the events that arrive meanwhile."""
        message_id = self._new_id()
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self._send(message)
        deadline = time.monotonic() + timeout
        while True:
            answer = self._receive(deadline - time.monotonic())
            if answer is None:
                raise TimeoutError(f"no answer to {method}")
            if answer.get("id") == message_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            if "method" in answer:
                self._record(answer)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        """Wait for an event (one already received counts)."""
        for event in self._events:
            if event.get("method") == method:
                self._events.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._receive(deadline - time.monotonic())
            if event is None:
                raise TimeoutError(f"no {method} event")
            if "method" in event:
                self._record(event)
                if event["method"] == method:
                    self._events.remove(event)
                    return event

    def settle(self, seconds: float = 0.5) -> None:
        """Collect the events of a short quiet period (late errors, timers, dialogs)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            event = self._receive(left)
            if event is None:
                break
            if "method" in event:
                self._record(event)

    # --- page -----------------------------------------------------------------------------------------
    def open(self, path: Path, timeout: float = 120) -> float:
        """Open a local file and wait for its load event; the seconds until the load event ended."""
        self._events.clear()
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired", timeout)
        timing = self.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return n ? n.loadEventEnd : -1; })()"
        )
        return float(timing) / 1000

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (exceptions are raised here)."""
        answer = self.call(
            "Runtime.evaluate", session=True, expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"evaluate failed: {answer['exceptionDetails']}")
        return answer.get("result", {}).get("value")

    def screenshot(self, path: Path, full_page: bool = True) -> None:
        """Save a PNG of the page (the whole page, not just the viewport, by default)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Close the browser and the pipes."""
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):  # it may be gone already
            self.call("Browser.close", timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._command_write)
        os.close(self._answer_read)
        self._log.close()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
