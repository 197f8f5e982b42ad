"""The status page in headless Chromium with JavaScript switched off, over jobs the real worker
and engine ran against the real API server: the index, an app page, a job page, a manual
app's pending diff, and a page refreshing itself until queued work is done. Screenshots go
to ``test-artifacts/browser/`` (gitignored). Browser set-up as in tests/test_browser.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from werkzeug.serving import make_server

from tests import gitrepo
from tests.conftest import SECRET
from tests.gitops import cm, dump
from tests.test_browser import ARTIFACTS
from webhook.engine import SyncEngine
from webhook.model import SyncRequest, Trigger
from webhook.queue import SqlStore
from webhook.settings import AppConfig, DeployerConfig, Environment, RepoConfig
from webhook.steps import worker_step
from webhook.web import create_app
from webhook.worker import Worker

REPO = "acme/gitops"
HOSTILE = "<script>document.title='owned'</script>"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """Debian's chromium, headless, with JavaScript disabled for every site."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1200,900")
    options.add_experimental_option(
        "prefs", {"profile.managed_default_content_settings.javascript": 2}
    )
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@dataclass
class Site:
    url: str
    origin: Path
    store: SqlStore
    worker: Worker
    namespace: str

    def commit(self, files: dict[str, str]) -> str:
        return gitrepo.commit(self.origin, files, "change")

    def queue(self, app: str, commit: str, *, approved: bool = False) -> int:
        request = SyncRequest(
            app=app,
            repo=REPO,
            commit=commit,
            ref="refs/heads/master",
            trigger=Trigger.MANUAL if approved else Trigger.PUSH,
            approved=approved,
        )
        return self.store.enqueue([request]).jobs[0].job.id

    def work(self) -> None:
        while self.worker.run_once() is not None:
            pass


@pytest.fixture
def site(tmp_path: Path, kubeconfig: Path, namespace: str, store: SqlStore) -> Iterator[Site]:
    """``shop`` (auto) and ``admin`` (manual) in one namespace, the real worker and engine,
    and the web app on a real HTTP server (loopback access, no sign-in)."""
    origin = gitrepo.init(tmp_path / "origin", branch="master")
    apps = (
        AppConfig(name="shop", repo=REPO, branch="master", path="apps/shop", namespace=namespace),
        AppConfig(
            name="admin",
            repo=REPO,
            branch="master",
            path="apps/admin",
            namespace=namespace,
            auto_sync=False,
        ),
    )
    config = DeployerConfig(apps=apps, repos={REPO: RepoConfig(clone_url=f"file://{origin}")})
    env = Environment(webhook_secret=SECRET, database_url=f"sqlite:///{tmp_path / 'd.db'}")
    engine = SyncEngine(config, env, cache_dir=tmp_path / "cache", kubeconfig=kubeconfig)
    worker = Worker(store, worker_step(engine, store), lease_seconds=600)
    server = make_server("127.0.0.1", 0, create_app(config, env, store), threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Site(f"http://127.0.0.1:{server.server_port}", origin, store, worker, namespace)
    server.shutdown()
    server.server_close()
    thread.join(5)


def _shot(driver: webdriver.Chrome, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_index_app_and_job_pages_of_real_syncs_work_without_javascript(
    browser: webdriver.Chrome, site: Site
) -> None:
    first = site.commit(
        {"apps/shop/app.yaml": dump(cm("web")), "apps/admin/app.yaml": dump(cm("settings"))}
    )
    synced = site.queue("shop", first)
    site.queue("admin", first, approved=True)
    site.work()
    second = site.commit({"apps/admin/app.yaml": dump(cm("settings", HOSTILE))})
    plan = site.queue("admin", second)
    site.work()  # the manual app's plan: out of sync, its diff recorded

    browser.get(f"{site.url}/")
    row = browser.find_element(By.ID, "app-shop")
    assert "succeeded" in row.text and "Healthy" in row.text and first[:7] in row.text
    link = row.find_element(By.CSS_SELECTOR, "td.deployed a")
    assert link.get_attribute("href") == f"https://github.com/{REPO}/commit/{first}"
    assert "out of sync" in browser.find_element(By.ID, "app-admin").text
    _shot(browser, "pages-01-index")

    row.find_element(By.LINK_TEXT, "shop").click()
    assert browser.find_element(By.ID, "health").text == "Healthy"
    assert first[:7] in browser.find_element(By.ID, "deployed").text
    assert f"#{synced}" in browser.find_element(By.ID, "history").text
    _shot(browser, "pages-02-app")

    browser.get(f"{site.url}/jobs/{synced}")
    objects = browser.find_element(By.ID, "objects").text
    assert f"ConfigMap {site.namespace}/web created Current" in objects
    _shot(browser, "pages-03-job")

    browser.get(f"{site.url}/apps/admin")
    added = browser.find_elements(By.CSS_SELECTOR, "#pending-diff .line.add")
    assert any(HOSTILE in line.text for line in added)  # shown as text, never run
    assert browser.title == "admin · webhook-deployer"
    assert f"#{plan}" in browser.find_element(By.ID, "pending").text
    _shot(browser, "pages-04-pending-diff")

    # Queued work: the page reloads itself (a meta refresh: no script) until it is done.
    queued = site.queue("shop", second)
    browser.get(f"{site.url}/apps/shop")
    assert browser.find_element(By.ID, "refreshing").is_displayed()
    site.work()
    WebDriverWait(browser, 20).until(
        lambda d: (
            not d.find_elements(By.ID, "refreshing")
            and f"#{queued}" in d.find_element(By.ID, "sync").text
            and "succeeded" in d.find_element(By.ID, "sync").text
        )
    )
    _shot(browser, "pages-05-refreshed")
