"""The book builds offline, warning-free, with every page executed, and leaks no solution.

One clean build (a copy of the book's sources in a temporary folder, so no
execution cache of the checkout is reused) under the ``ci`` profile, exactly as
``make book`` runs it (``python -m bertcourse book``: the pages executed two at a time,
then ``jupyter-book build . -n -W --keep-going``), shared with
tests/test_browser.py (see tests/book_build.py). The tests below read what it produced.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bertcourse import book
from bertcourse.bench.timings import TIMING_FILES

from .book_build import log_problems, shared_clean_book
from .nbgrader_course import REPO, html_text, read, release_notebook_path, secret_lines, source_assignments, source_notebook_path


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    return shared_clean_book(tmp_path_factory)


@pytest.mark.slow  # the clean book build
def test_build_has_no_warnings(built_book):
    problems = log_problems((built_book / "build.log").read_text())
    assert not problems, "\n".join(problems[:20])


KERNEL_LOOP_TRACEBACK = """\
ERROR:tornado.general:Uncaught exception in ZMQStream callback
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/zmq/eventloop/zmqstream.py", line 600, in _handle_events
    self._handle_recv()
  File "/venv/lib/python3.11/site-packages/ipykernel/kernelbase.py", line 400, in dispatch_shell
    msg = self.session.deserialize(msg)
zmq.error.ZMQError: not a socket"""


def test_log_problems_keeps_the_books_and_skips_the_kernels_machinery():
    sphinx_warning = "/book/ch1.md:12: WARNING: undefined label: 'x'"
    ours = KERNEL_LOOP_TRACEBACK.replace("/venv/lib/python3.11/site-packages/ipykernel/kernelbase.py",
                                         "/repo/bertcourse/runtime.py")
    log = "\n".join([
        "[IPKernelApp] WARNING | Kernel is running over TCP without encryption.",
        KERNEL_LOOP_TRACEBACK, "building [html]: targets for 3 source files", sphinx_warning, ours,
        "ERROR:tornado.general:Uncaught exception in ZMQStream callback",  # no traceback: cannot tell, kept
    ])
    problems = log_problems(log)
    assert problems == [sphinx_warning, ours, "ERROR:tornado.general:Uncaught exception in ZMQStream callback"]


@pytest.mark.slow  # the clean book build
def test_every_toc_page_is_built(built_book):
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    missing = [f for f in book.toc_files(toc) if not (built_book / "_build/html" / f"{f}.html").is_file()]
    assert not missing, f"pages of _toc.yml without HTML: {missing}"


def test_every_markdown_page_is_in_the_toc():
    toc = set(book.toc_files(yaml.safe_load((REPO / "_toc.yml").read_text())))
    pages = {str(p.relative_to(REPO).with_suffix("")) for p in (REPO / "book").rglob("*.md")}
    assert pages <= toc, f"book pages that only_build_toc_files would drop silently: {sorted(pages - toc)}"


@pytest.mark.slow  # the clean book build
def test_chapter_pages_are_executed(built_book):
    """Every code cell of a narrative page has run: each page shows at least one output."""
    pages = sorted((built_book / "_build/html/book").rglob("*.html"))
    code_pages = [p for p in pages if 'class="cell docutils container"' in p.read_text(encoding="utf-8")]
    assert len(code_pages) >= 10, [str(p) for p in code_pages]
    unexecuted = [str(p.relative_to(built_book)) for p in code_pages
                  if 'class="cell_output' not in p.read_text(encoding="utf-8")]
    assert not unexecuted, f"pages with code but no output: {unexecuted}"


@pytest.mark.slow  # the clean book build
@pytest.mark.parametrize("assignment", source_assignments())
def test_exercise_pages_are_shown_unexecuted_with_stubs(built_book, assignment):
    page = built_book / "_build/html/exercises" / assignment / f"{assignment}.html"
    text = page.read_text(encoding="utf-8")
    assert "NotImplementedError" in text
    assert 'class="cell_output' not in text, f"{page.name} was executed; exercises must be shown as released"


@pytest.mark.slow  # the clean book build
@pytest.mark.parametrize("assignment", source_assignments())
def test_no_hidden_test_reaches_the_html(built_book, assignment):
    """No page shows a hidden test cell: most of its distinctive lines on one page is a leak.

    Single lines are no evidence (``generator = torch.Generator().manual_seed(1)`` is in the
    book too); a leaked cell brings its lines along together.
    """
    html = built_book / "_build/html"
    assert not (html / "solutions").exists()
    released = "\n".join(cell.source for cell in read(release_notebook_path(assignment)).cells)
    hidden = {grade_id: {line for line in lines if line not in released}
              for grade_id, lines in secret_lines(read(source_notebook_path(assignment)), min_length=30).items()
              if grade_id.startswith("test_")}
    hidden = {grade_id: lines for grade_id, lines in hidden.items() if len(lines) >= 3}
    assert hidden, "the solution notebook should have hidden tests"
    leaks = []
    for page in html.rglob("*.html"):
        text = html_text(page)
        for grade_id, lines in hidden.items():
            shown = sum(line in text for line in lines)
            if shown >= max(3, len(lines) // 2):
                leaks.append(f"{page.relative_to(html)}: {shown}/{len(lines)} lines of {grade_id}")
    assert not leaks, "hidden tests in the HTML:\n" + "\n".join(leaks)


def test_build_uses_no_network_extensions():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    extensions = config.get("sphinx", {}).get("extra_extensions") or []
    assert "sphinx.ext.intersphinx" not in extensions
    assert not config.get("sphinx", {}).get("config", {}).get("intersphinx_mapping")
    assert config["execute"]["execute_notebooks"] == "cache" and config["execute"]["raise_on_error"]


@pytest.mark.slow  # builds a one-page book three times
def test_book_build_is_timed_clean_then_cached(tmp_path, monkeypatch):
    """`python -m bertcourse book` records a clean build, then a cached rebuild, of a one-page book."""
    (tmp_path / "_config.yml").write_text("title: t\nexclude_patterns: [_build, .jupyter_cache]\n"
                                         "execute:\n  execute_notebooks: cache\n  cache: .jupyter_cache\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    (tmp_path / "index.md").write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  name: python3\n  display_name: Python 3\n---\n# Page\n\n```{code-cell}\n1 + 1\n```\n")
    timings = tmp_path / TIMING_FILES["book_build"]
    monkeypatch.setenv("BERTCOURSE_PROFILE", "ci")
    assert book.build(tmp_path) == 0
    assert book.build(tmp_path) == 0
    recorded = json.loads(timings.read_text())
    assert set(recorded) == {"clean build", "cached build"}
    assert all(" s (profile ci, " in value for value in recorded.values())
    # Outputs executed under ci must not stand in for a cpu build: that one starts clean.
    timings.unlink()
    monkeypatch.setenv("BERTCOURSE_PROFILE", "cpu")
    assert book.build(tmp_path) == 0
    assert list(json.loads(timings.read_text())) == ["clean build"]
    assert (tmp_path / "_build/html/index.html").is_file()


PAGE_HEADER = ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
               "kernelspec:\n  name: python3\n  display_name: Python 3\n  language: python\n{extra}---\n")


def test_ci_pages_run_two_at_a_time_then_jupyter_book_reads_them_from_the_cache(tmp_path, monkeypatch, capfd):
    (tmp_path / "_config.yml").write_text(
        "title: t\nexclude_patterns: [_build, .jupyter_cache]\nexecute:\n  execute_notebooks: cache\n"
        "  cache: .jupyter_cache\n  exclude_patterns: ['drafts/*']\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n- file: second\n- file: timed\n"
                                       "- file: prose\n- file: drafts/draft\n")
    threads = "import os\nprint('threads', os.environ.get('OMP_NUM_THREADS'))\n"
    pages = {"index": ("", threads), "second": ("", "2 + 2\n"),
             "timed": ("mystnb:\n  execution_mode: force\n", "3 + 3\n"), "drafts/draft": ("", "4 + 4\n")}
    for name, (extra, code) in pages.items():
        (tmp_path / f"{name}.md").parent.mkdir(exist_ok=True)
        (tmp_path / f"{name}.md").write_text(PAGE_HEADER.format(extra=extra) + f"# {name}\n\n```{{code-cell}}\n{code}```\n")
    (tmp_path / "prose.md").write_text("# Prose\n\nNo code.\n")
    # Pages that set their own execution mode, excluded pages and plain Markdown are left to jupyter-book.
    assert book.notebook_pages(tmp_path) == [tmp_path / "index.md", tmp_path / "second.md"]
    monkeypatch.setenv("BERTCOURSE_PROFILE", "ci")
    monkeypatch.setattr(book.os, "cpu_count", lambda: 2)
    assert book.build(tmp_path) == 0
    log = capfd.readouterr()
    log = log.out + log.err
    assert "bertcourse book: executed 2 of 2 pages, 2 at a time on 1 thread(s) each" in log
    executed_by_jupyter_book = {line.split(":")[0] for line in log.splitlines() if "Executed notebook" in line}
    assert executed_by_jupyter_book == {str(tmp_path / "timed.md")}, log[-3000:]
    assert "threads 1" in (tmp_path / "_build/html/index.html").read_text()  # one thread per kernel: 2 cores, 2 at a time
    assert book.build(tmp_path) == 0  # a rebuild finds every page in the cache: no workers started
    assert "bertcourse book: executed" not in capfd.readouterr().out


def _code_lines(obj) -> set[str]:
    """The distinctive code lines of a reference object: long enough to be evidence, docstrings excluded."""
    import ast
    import inspect
    import textwrap

    source = textwrap.dedent(inspect.getsource(obj))
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and ast.get_docstring(node):
            docstrings.update(line.strip() for line in ast.get_docstring(node).splitlines())
    lines = {line.strip() for line in source.splitlines()}
    return {line for line in lines if len(line) >= 25 and line not in docstrings and not line.startswith(("#", "def "))}


@pytest.mark.slow  # the clean book build
def test_no_page_prints_a_graded_items_source(built_book):
    """A book page may show a graded item's signature and docstring, never its code."""
    from bertcourse import registry

    references = {item.name: _code_lines(item.load_reference()) for item in registry.items(with_reference=True)}
    leaks = []
    for page in (built_book / "_build/html").rglob("*.html"):
        if "_static" in page.parts or "exercises" in page.parts:
            continue
        text = html_text(page)
        for name, lines in references.items():
            shown = sum(line in text for line in lines)
            if lines and shown >= max(3, len(lines) // 3):  # a third of the code is a printed body, not chance
                leaks.append(f"{page.name}: {shown}/{len(lines)} code lines of {name}")
    assert not leaks, "graded items' code in the book:\n" + "\n".join(leaks)
