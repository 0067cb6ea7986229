"""The built book in a real browser, offline: every page as a reader meets it.

The HTML of the run's clean ci build (tests/book_build.py, shared with tests/test_book.py)
is served on localhost and opened page by page in headless Chromium (Debian's ``chromium``
and ``chromium-driver``, installed by ``make system``) driven by Selenium. Every host but
localhost resolves to nothing, and every request is logged, so an asset fetched from a CDN
shows up as a request leaving localhost. One visit per page records what the tests below
check: console errors, failed requests, requests leaving localhost, broken internal links
and anchors, images (loaded, non-zero size, real alt text), rendered math (every math
element holds MathJax output, no raw ``\\(`` left in the text), and a full-page screenshot
under ``_build/screenshots/`` of the checkout. The search page must find "attention".
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from .book_build import shared_clean_book
from .nbgrader_course import REPO

pytestmark = pytest.mark.slow  # the clean book build and a browser over every page

SCREENSHOTS = REPO / "_build" / "screenshots"
#: Chromium refuses screenshots taller than this (pixels); a longer page is cut there.
MAX_SCREENSHOT_HEIGHT = 16_000
PAGE_TIMEOUT_S = 60
#: Folders of the build that hold assets, not pages.
ASSET_DIRS = {"_static", "_sources", "_images", "_downloads", "_sphinx_design_static"}
#: Image sources that are files, not descriptions: an alt text equal to its file name describes nothing.
FILE_LIKE_ALT = re.compile(r"^[\w./-]+\.(png|jpe?g|svg|gif|webp)$", re.IGNORECASE)


def find_browser() -> tuple[str, str]:
    """Paths of Chromium and its driver; skips (fails under CI) when either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        message = "headless Chromium and chromedriver are needed: run `make system` (apt: chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return chromium, driver


# --- serving the build on localhost ---------------------------------------------------------------

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports failures itself
        pass


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory) -> Path:
    return shared_clean_book(tmp_path_factory) / "_build" / "html"


@pytest.fixture(scope="module")
def server(html_dir):
    handler = functools.partial(QuietHandler, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = find_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--hide-scrollbars", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     # Offline: every name but the local server's resolves to nothing.
                     "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S)
    yield driver
    driver.quit()


# --- one visit per page ---------------------------------------------------------------------------

@dataclass
class PageReport:
    page: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    math_elements: int = 0
    unrendered_math: list[str] = field(default_factory=list)
    raw_tex: list[str] = field(default_factory=list)
    screenshot: Path | None = None


WAIT_FOR_PAGE = """
const done = arguments[arguments.length - 1];
const images = () => Array.from(document.images).every(img => img.complete);
const math = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
    ? MathJax.startup.promise : Promise.resolve();
const until = (test, ms) => new Promise(resolve => {
  const start = Date.now();
  (function poll() { if (test() || Date.now() - start > ms) resolve(); else setTimeout(poll, 50); })();
});
// MathJax is loaded with `defer`: wait for it to exist when the page asks for it.
const wantsMath = !!document.querySelector('script[src*="mathjax"]');
until(() => document.readyState === "complete", 20000)
  .then(() => wantsMath ? until(() => window.MathJax && MathJax.startup && MathJax.startup.promise, 20000) : null)
  .then(math).then(() => until(images, 20000)).then(() => done(true), error => done(String(error)));
"""

INSPECT_PAGE = """
const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA", "MJX-ASSISTIVE-MML"]);
const raw = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
  acceptNode(node) {
    for (let el = node.parentElement; el; el = el.parentElement) if (skip.has(el.tagName)) return NodeFilter.FILTER_REJECT;
    return NodeFilter.FILTER_ACCEPT;
  }});
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const text = node.nodeValue;
  const at = text.search(/\\\\\\(|\\\\\\[|\\$\\$/);
  if (at >= 0) raw.push(text.slice(Math.max(0, at - 30), at + 50));
}
const mathElements = Array.from(document.querySelectorAll("span.math, div.math"));
return {
  links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
  images: Array.from(document.images).map(img => ({src: img.currentSrc || img.src, alt: img.getAttribute("alt"),
    complete: img.complete, width: img.naturalWidth, height: img.naturalHeight})),
  math: mathElements.length,
  unrendered: mathElements.filter(el => !el.querySelector("mjx-container")).map(el => el.textContent.slice(0, 80)),
  raw: raw,
};
"""


def network_events(driver) -> tuple[list[str], list[str]]:
    """(every requested URL, every failed request as 'URL: why') since the last call."""
    requested, failed, urls = [], [], {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            requested.append(url)
        elif method == "Network.responseReceived":
            status = params["response"]["status"]
            if status >= 400:
                failed.append(f"{params['response']['url']}: HTTP {status}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            failed.append(f"{urls.get(params['requestId'], params['requestId'])}: {params.get('errorText')}")
    return requested, failed


def save_full_page_screenshot(driver, path: Path) -> Path:
    """The whole page in one PNG: the viewport is stretched to the page's height for the shot, then restored.

    (Capturing beyond the viewport instead misplaces the theme's fixed and sticky parts.)
    """
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    width, height = int(size["width"]), min(int(size["height"]), MAX_SCREENSHOT_HEIGHT)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def book_pages(html_dir: Path) -> list[str]:
    """Every HTML page of the build, as paths relative to it (assets' folders excluded)."""
    return sorted(str(p.relative_to(html_dir)) for p in html_dir.rglob("*.html")
                  if not ASSET_DIRS.intersection(p.relative_to(html_dir).parts))


def visit(driver, origin: str, page: str) -> PageReport:
    report = PageReport(page)
    driver.get(f"{origin}/{page}")
    outcome = driver.execute_async_script(WAIT_FOR_PAGE)
    if outcome is not True:
        report.console_errors.append(f"page did not settle: {outcome}")
    found = driver.execute_script(INSPECT_PAGE)
    report.links, report.images = found["links"], found["images"]
    report.math_elements, report.unrendered_math, report.raw_tex = found["math"], found["unrendered"], found["raw"]
    report.screenshot = save_full_page_screenshot(driver, SCREENSHOTS / Path(page).with_suffix(".png"))
    requested, report.failed_requests = network_events(driver)
    report.outside_requests = [url for url in requested
                               if not url.startswith((origin + "/", "data:", "blob:", "about:"))]
    report.console_errors += [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return report


@pytest.fixture(scope="module")
def reports(browser, server, html_dir) -> dict[str, PageReport]:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    network_events(browser)  # drop what the browser did before the first page
    browser.get_log("browser")
    return {page: visit(browser, server, page) for page in book_pages(html_dir)}


def problems(reports: dict[str, PageReport], attribute: str) -> str:
    lines = [f"{page}: {item}" for page, report in reports.items() for item in getattr(report, attribute)]
    return "\n".join(lines[:40]) + (f"\n... and {len(lines) - 40} more" if len(lines) > 40 else "")


# --- the checks -----------------------------------------------------------------------------------

def test_every_page_is_visited_and_screenshotted(reports, html_dir):
    assert len(reports) >= 15, sorted(reports)
    for page in ("index.html", "search.html", "book/ch1_architecture/attention.html"):
        assert page in reports or page == "index.html" and "book/intro.html" in reports, page
    missing = [page for page, report in reports.items()
               if report.screenshot is None or report.screenshot.stat().st_size < 5_000]
    assert not missing, f"pages without a screenshot: {missing}"


def test_no_console_errors(reports):
    assert not problems(reports, "console_errors"), "console errors:\n" + problems(reports, "console_errors")


def test_no_failed_requests(reports):
    assert not problems(reports, "failed_requests"), "failed requests:\n" + problems(reports, "failed_requests")


def test_no_request_leaves_localhost(reports):
    assert not problems(reports, "outside_requests"), (
        "assets fetched from outside the build:\n" + problems(reports, "outside_requests"))


def _ids(path: Path) -> set[str]:
    return set(re.findall(r'\b(?:id|name)="([^"]+)"', path.read_text(encoding="utf-8")))


def test_internal_links_and_anchors_resolve(reports, server, html_dir):
    ids = functools.lru_cache(maxsize=None)(_ids)
    broken = []
    for page, report in reports.items():
        for link in report.links:
            if not link.startswith(server + "/"):
                continue  # external links are not requests; offline they cannot be checked
            url, fragment = urldefrag(link)
            target = html_dir / unquote(urlparse(url).path).lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page}: {link} (no such file)")
            elif fragment and target.suffix == ".html" and unquote(fragment) not in ids(target):
                broken.append(f"{page}: {link} (no anchor #{fragment})")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:40])


def test_every_image_loads_with_alt_text(reports):
    bad = []
    for page, report in reports.items():
        for image in report.images:
            name = image["src"].rsplit("/", 1)[-1]
            if not image["complete"] or image["width"] == 0 or image["height"] == 0:
                bad.append(f"{page}: {name} did not load ({image['width']}x{image['height']})")
            alt = (image["alt"] or "").strip()
            if not alt or FILE_LIKE_ALT.match(alt):
                bad.append(f"{page}: {name} has no alt text (alt={image['alt']!r})")
    assert not bad, "\n".join(bad[:40])


def test_math_is_rendered(reports):
    pages_with_math = [page for page, report in reports.items() if report.math_elements]
    assert len(pages_with_math) >= 5, f"math found on {pages_with_math} only"
    assert not problems(reports, "unrendered_math"), "math without MathJax output:\n" + problems(reports,
                                                                                                 "unrendered_math")
    assert not problems(reports, "raw_tex"), "raw TeX left in the text:\n" + problems(reports, "raw_tex")


def test_search_finds_attention(browser, server, reports):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/search.html?q=attention")
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results ul.search li")
        or "did not match" in d.find_element(By.ID, "search-results").text)
    results = browser.find_elements(By.CSS_SELECTOR, "#search-results ul.search li")
    titles = [r.text.splitlines()[0] for r in results if r.text]
    assert results, "searching for 'attention' found nothing"
    assert any("ttention" in title for title in titles), titles[:10]


def test_every_executed_page_downloads_as_a_notebook_with_its_outputs(reports, server, html_dir):
    missing = []
    executed = [page for page in reports if 'class="cell_output' in (html_dir / page).read_text(encoding="utf-8")]
    assert len(executed) >= 10, executed
    for page in executed:
        notebook = f"_sources/{Path(page).with_suffix('.ipynb')}"
        if f"{server}/{notebook}" not in reports[page].links:
            missing.append(f"{page}: no download link to {notebook}")
            continue
        cells = json.loads((html_dir / notebook).read_text(encoding="utf-8"))["cells"]
        if not any(cell.get("outputs") for cell in cells if cell["cell_type"] == "code"):
            missing.append(f"{notebook}: a notebook without outputs")
    exercises = [page for page in reports if page.startswith("exercises/")]
    assert exercises
    for page in exercises:
        if f"{server}/_sources/{Path(page).with_suffix('.ipynb')}" not in reports[page].links:
            missing.append(f"{page}: the graded notebook cannot be downloaded")
    assert not missing, "\n".join(missing)


def test_no_launch_buttons_without_a_repository_url(reports):
    """The checkout's _config.yml sets no repository.url, so no page offers Binder or Colab."""
    launch = [f"{page}: {link}" for page, report in reports.items() for link in report.links
              if "mybinder.org" in link or "colab.research.google.com" in link]
    assert not launch, "\n".join(launch[:10])
