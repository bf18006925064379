"""Open every page of the built HTML book in headless Chromium.

For each page: it loads, its math is typeset by MathJax (served from the book itself)
without errors, every image has loaded, no Python traceback is shown, the browser
logged no severe error, and every internal link (with its #anchor) resolves. And the
page reads well in a 1280 px window: with every collapsed cell opened, no code block,
output, table or display equation runs past the right edge of the column; every image
is in a numbered, captioned figure; a chapter built from a notebook has its Colab launch
link; no project-internal words, NumPy reprs or warnings with local paths are shown.

Runs after `make book`. Without `_build/html` (or without Chromium) the tests skip,
unless SAVLIB_REQUIRE_BOOK=1 (set by CI), which turns a skip into a failure.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from ._nb import INTERNAL_WORDS, RAW_OUTPUT, ROOT, toc_entries

# the built book (another build directory: SAVLIB_BOOK_HTML=path/to/_build/html)
HTML = Path(os.environ.get("SAVLIB_BOOK_HTML") or ROOT / "_build" / "html")
REQUIRED = os.environ.get("SAVLIB_REQUIRE_BOOK", "") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.browser


def _unavailable() -> str | None:
    if not (HTML / "index.html").exists():
        return "the book is not built (run `make book`)"
    if not (CHROMIUM and DRIVER):
        return "headless Chromium / chromedriver not installed (Debian: chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    return None


REASON = _unavailable()
if REASON and REQUIRED:
    pytest.fail(f"SAVLIB_REQUIRE_BOOK=1 but {REASON}", pytrace=False)
if REASON:
    pytest.skip(REASON, allow_module_level=True)

PAGES = sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
               if not p.relative_to(HTML).parts[0].startswith(("_static", "_sources", "_images")))


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("id", "name") and v:
                self.ids.add(v)


@functools.lru_cache(maxsize=None)
def _ids(path: Path) -> frozenset[str]:
    p = _Ids()
    p.feed(path.read_text(errors="replace"))
    return frozenset(p.ids)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(_Quiet, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def test_site_root_has_a_favicon():
    # the root index.html is a redirect page without <link rel="icon">: browsers then
    # request /favicon.ico, and a 404 there is logged as a console error
    ico = HTML / "favicon.ico"
    assert ico.exists() and ico.read_bytes()[:4] == b"\x00\x00\x01\x00", ico


def test_every_toc_entry_has_a_page():
    for entry in toc_entries():
        assert (HTML / f"{entry}.html").exists(), entry


@pytest.mark.parametrize("page", PAGES)
def test_page(page, server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + page)
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert browser.title.strip(), "page has no title"
    body = browser.find_element("tag name", "body").text
    assert "404" not in browser.title and body.strip()

    # math: every .math element becomes a MathJax container, with no TeX errors
    n_math = browser.execute_script("return document.querySelectorAll('.math').length")
    if n_math:
        def typeset(d):
            return d.execute_script(
                "return window.MathJax && MathJax.startup && MathJax.startup.promise"
                " ? document.querySelectorAll('mjx-container').length : -1") >= n_math
        WebDriverWait(browser, 60).until(typeset, message=f"MathJax did not typeset {n_math} formulas")
        assert browser.execute_script("return document.querySelectorAll('mjx-merror').length") == 0
        src = browser.execute_script(
            "return [...document.scripts].map(s => s.src).filter(s => s.includes('tex-'))")
        assert src and all(s.startswith(server) for s in src), f"MathJax not served locally: {src}"

    # images: all loaded with a real size
    broken = browser.execute_script(
        "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert broken == [], f"images that did not load: {broken}"

    # no Python traceback anywhere on the page
    assert "Traceback (most recent call last)" not in body
    assert not re.search(r"^\w*Error: ", body, flags=re.M) or "output" not in page, body[:500]
    tb = browser.execute_script("return document.querySelectorAll('.output.traceback, .output.error').length")
    assert tb == 0

    # the browser itself complained about nothing serious (404s, JS errors)
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe

    # layout at 1280 px: with every collapsed cell opened, nothing runs past the column
    cut = browser.execute_script("""
        document.querySelectorAll('details').forEach(d => d.open = true);
        document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
        const art = document.querySelector('article');
        if (!art) return [];                      // e.g. the search page
        const col = art.getBoundingClientRect().right + 1;
        const out = [];
        for (const el of document.querySelectorAll(
                'article pre, article .cell_output .output, article table, article mjx-container[display="true"]')) {
            const r = el.getBoundingClientRect();
            if (r.width === 0) continue;
            if (el.scrollWidth > el.clientWidth + 1 || r.right > col)
                out.push(el.tagName.toLowerCase() + ': ' + el.textContent.trim().slice(0, 60));
        }
        return out;""")
    assert cut == [], f"{len(cut)} blocks cut off at 1280 px: {cut[:5]}"

    # every image is a numbered figure with a caption
    loose = browser.execute_script("""
        return [...document.querySelectorAll('article img')].filter(i => {
            const f = i.closest('figure');
            return !(f && f.querySelector('figcaption .caption-number'));
        }).map(i => i.src.slice(-40));""")
    assert loose == [], f"images without a numbered caption: {loose}"

    # a chapter built from a notebook opens in Colab from its page
    if browser.execute_script("return document.querySelectorAll('article .cell').length") > 0:
        colab = browser.execute_script(
            "return [...document.querySelectorAll('a[href]')].map(a => a.href)"
            ".filter(h => h.startsWith('https://colab.research.google.com/github/'))")
        assert colab and colab[0].endswith(".ipynb"), "no Colab launch link on a notebook chapter"

    # reader text: no project-internal words, NumPy reprs or warnings with local paths
    article = browser.execute_script("const a = document.querySelector('article'); return a ? a.innerText : ''")
    for rx in (INTERNAL_WORDS, RAW_OUTPUT):
        m = rx.search(article)
        assert not m, f"the page shows {m.group(0)!r}"

    # internal links resolve, anchors included
    hrefs = browser.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href)")
    bad = []
    for href in hrefs:
        if not href.startswith(server):
            continue
        url, frag = urldefrag(href)
        rel = unquote(urlparse(url).path).lstrip("/")
        target = HTML / rel
        if target.is_dir() or rel == "":
            target = target / "index.html"
        if not target.exists():
            bad.append(href)
        elif frag and target.suffix == ".html" and frag not in _ids(target):
            bad.append(href)
    assert bad == [], f"broken internal links: {sorted(set(bad))}"


# ------------------------------------------------------------------ the API reference
API_MODULES = ["savlib", "savlib.schemes", "savlib.particles", "savlib.problems", "savlib.train",
               "savlib.analysis", "savlib.gradflow", "savlib.distributed", "savlib.meanfield",
               "savlib.experiments", "savlib.errors", "savlib.config", "savlib.book"]


def _public(mod) -> list[str]:
    import inspect
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, v in vars(mod).items() if not n.startswith("_") and not inspect.ismodule(v)
                 and n != "annotations"]
    return list(names)


def test_api_reference_documents_every_public_name():
    """Every name in the ``__all__`` of every public module has an entry in the API
    reference (by object identity: ``savlib.schemes.SAV`` may be documented as
    ``savlib.schemes.sav.SAV``; constants by name and value)."""
    import importlib

    from sphinx.util.inventory import InventoryFile

    with open(HTML / "objects.inv", "rb") as f:
        inv = InventoryFile.load(f, "", lambda base, uri: uri)
    documented = {name: uri for kind, entries in inv.items() if kind.startswith("py:")
                  for name, (_, _, uri, _) in entries.items()}

    def lookup(path):
        parts = path.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                obj = getattr(obj, attr)
            return obj
        raise ImportError(path)

    objs = {}
    for name in documented:
        if name.startswith("savlib"):
            try:
                objs[name] = lookup(name)
            except (ImportError, AttributeError):
                pass
    ids = {id(o) for o in objs.values()}
    missing = []
    for modname in API_MODULES:
        mod = importlib.import_module(modname)
        for name in _public(mod):
            obj = getattr(mod, name)
            if isinstance(obj, (int, float, str, bool)):
                ok = any(n.rsplit(".", 1)[-1] == name and objs[n] == obj for n in objs)
            else:
                ok = id(obj) in ids
            if not ok:
                missing.append(f"{modname}.{name}")
    assert missing == [], f"public names without an API entry: {missing}"
    assert all(documented[n].startswith("book/api/") for n in objs), "API entries outside book/api/"


def test_every_scheme_entry_shows_its_diagnostics_table():
    from savlib.schemes.diagnostics import DIAGNOSTICS

    page = (HTML / "book" / "api" / "schemes.html").read_text()
    tables = page.count('class="savlib-diagnostics')
    assert tables == len(DIAGNOSTICS), f"{tables} diagnostics tables for {len(DIAGNOSTICS)} schemes"
    for keys in DIAGNOSTICS.values():
        for key in keys:
            assert f'<span class="pre">{key}</span>' in page, key


def test_api_reference_has_a_section_for_every_submodule():
    """A new module in a savlib package (say ``savlib.experiments.new``) needs its own
    ``automodule`` section on the package's API page."""
    import importlib
    import pkgutil

    from sphinx.util.inventory import InventoryFile

    with open(HTML / "objects.inv", "rb") as f:
        modules = set(InventoryFile.load(f, "", lambda base, uri: uri).get("py:module", {}))
    missing = []
    for modname in API_MODULES:
        mod = importlib.import_module(modname)
        if modname == "savlib" or not hasattr(mod, "__path__"):
            continue
        for info in pkgutil.iter_modules(mod.__path__):
            if not info.name.startswith("_") and f"{modname}.{info.name}" not in modules:
                missing.append(f"{modname}.{info.name}")
    assert missing == [], f"modules without a section in book/api/: {missing}"
