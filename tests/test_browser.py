"""The status page in headless Chromium (Debian's ``chromium`` and ``chromedriver``, installed
by ``scripts/setup``; no browser is downloaded): sign in through the local GitHub's OAuth
pages, see only the apps one may read, approve a plan, find the approval in the audit trail,
sign out. Screenshots of each step are kept in ``test-artifacts/browser/`` (gitignored)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

from tests.access import Origin, github_env, manual_config, pending_plan, setup_github
from tests.github.api_server import GitHubApiServer
from webhook.queue import SqlStore
from webhook.queue.audit import ApprovalLog
from webhook.web import create_app

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1200,800")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def site(
    tmp_path: Path, github_api: GitHubApiServer, store: SqlStore
) -> Iterator[tuple[str, Origin]]:
    """The deployer's web app on a real HTTP server, signing in against the local GitHub."""
    setup_github(github_api)
    origin = Origin(tmp_path)
    app = create_app(manual_config(origin), github_env(tmp_path, github_api), store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", origin
    server.shutdown()
    server.server_close()
    thread.join(5)


def _shot(driver: webdriver.Chrome, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_sign_in_see_permitted_apps_approve_and_find_it_in_the_audit_trail(
    browser: webdriver.Chrome,
    site: tuple[str, Origin],
    github_api: GitHubApiServer,
    store: SqlStore,
) -> None:
    base, origin = site
    plan = pending_plan(store, origin.head)
    github_api.authorize_as = "gho_writer"  # who clicks "Authorize" on GitHub's page
    browser.get(f"{base}/")  # not signed in: to /login, GitHub, and back
    assert browser.current_url == f"{base}/"
    assert browser.find_element(By.ID, "signed-in-as").text == "writer"
    apps = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "td.app-name")]
    assert apps == ["guestbook"]  # not "infra": writer cannot read its repository
    _shot(browser, "01-signed-in")

    browser.get(f"{base}/jobs/{plan}")
    _shot(browser, "02-plan-awaiting-approval")
    browser.find_element(By.ID, "approve").click()
    trail = browser.find_element(By.ID, "approvals")
    assert "writer" in trail.text and "page" in trail.text
    [approval] = ApprovalLog(store).for_job(plan)
    assert browser.current_url == f"{base}/jobs/{approval.job_id}"
    _shot(browser, "03-approved")

    browser.get(f"{base}/")
    audit = browser.find_element(By.ID, "audit")
    assert "writer" in audit.text and f"#{approval.job_id}" in audit.text
    _shot(browser, "04-audit-trail")

    browser.find_element(By.ID, "sign-out").click()
    assert "signed out" in browser.find_element(By.ID, "message").text
    browser.get(f"{base}/api/apps")
    assert "sign in" in browser.page_source
    _shot(browser, "05-signed-out")
