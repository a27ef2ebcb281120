"""Swagger UI at /api/docs renders in a real browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser():
    """A headless chromium (the system one; Playwright never downloads a browser here)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"chromium not found at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def test_swagger_ui_renders_every_operation_without_csp_violations(live_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 2400})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    outside: list[str] = []
    page.on(
        "request",
        lambda req: outside.append(req.url) if not req.url.startswith(live_server.url) else None,
    )
    page.goto(live_server.url + "/api/docs", wait_until="networkidle")
    page.wait_for_selector(".opblock", timeout=20_000)
    summaries = page.locator(".opblock-summary-path").all_inner_texts()
    methods = page.locator(".opblock-summary-method").all_inner_texts()
    pairs = zip(methods, summaries, strict=True)
    operations = {(m.strip(), p.strip().replace("\u200b", "")) for m, p in pairs}
    assert ("POST", "/api/v1/auth/login") in operations
    assert ("DELETE", "/api/v1/auth/sessions/{session_id}") in operations
    assert ("GET", "/api/health") in operations
    spec = page.evaluate("() => window.ui.specSelectors.specJson().toJS()")
    expected = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert operations == expected
    assert page.locator(".title").first.inner_text().startswith("Authy2 API")
    screenshot = Path(os.environ.get("SWAGGER_SCREENSHOT", tmp_path / "swagger-ui.png"))
    page.screenshot(path=str(screenshot), full_page=False)
    assert screenshot.stat().st_size > 10_000
    assert not problems, problems  # a CSP violation or a script error shows up here
    assert not outside, outside  # no CDN, no validator.swagger.io
    page.close()
