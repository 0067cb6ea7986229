"""The book builds offline, warning-free, with every page executed, and leaks no solution.

One clean build (a copy of the book's sources in a temporary folder, so no
execution cache of the checkout is reused) under the ``ci`` profile, exactly as
``make book`` runs it: ``jupyter-book build . -n -W --keep-going``. The tests
below read what it produced.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bertcourse import book
from bertcourse.bench.timings import TIMING_FILES

from .nbgrader_course import REPO, html_text, read, release_notebook_path, secret_lines, source_assignments, source_notebook_path

BOOK_SOURCES = ("_config.yml", "_toc.yml", "book", "exercises")


def toc_files(toc: dict) -> list[str]:
    """Every ``file:`` entry of a jb-book table of contents, in order."""
    found = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                found.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return found


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("book")
    for name in BOOK_SOURCES:
        source = REPO / name
        copy = shutil.copytree if source.is_dir() else shutil.copy2
        copy(source, root / name)
    # Pages that read solutions/ metadata (the graded-items table) find it through the package.
    env = dict(os.environ, BERTCOURSE_PROFILE="ci", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               MPLBACKEND="Agg", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", ".", "--builder", "html", "-n", "-W",
         "--keep-going"],
        cwd=root, env=env, capture_output=True, text=True, timeout=1500,
    )
    assert result.returncode == 0, f"jupyter-book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    (root / "build.log").write_text(result.stdout + result.stderr)
    return root


@pytest.mark.slow  # the clean book build
def test_build_has_no_warnings(built_book):
    log = (built_book / "build.log").read_text()
    warnings = [line for line in log.splitlines()
                if re.search(r"\bWARNING\b|\bERROR\b", line) and "Kernel is running over TCP" not in line]
    assert not warnings, "\n".join(warnings[:20])


@pytest.mark.slow  # the clean book build
def test_every_toc_page_is_built(built_book):
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    missing = [f for f in toc_files(toc) if not (built_book / "_build/html" / f"{f}.html").is_file()]
    assert not missing, f"pages of _toc.yml without HTML: {missing}"


def test_every_markdown_page_is_in_the_toc():
    toc = set(toc_files(yaml.safe_load((REPO / "_toc.yml").read_text())))
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
