"""The book's Sphinx extension: MathJax copied from the pinned package, one heading number, launch buttons by URL."""

from __future__ import annotations

from types import SimpleNamespace

import nbformat
import pytest
import yaml

from bertcourse import sphinx_book

from .nbgrader_course import REPO


@pytest.mark.parametrize("title, expected", [
    ("1. WordPiece", "WordPiece"),
    ("2.3 Nested", "Nested"),
    ("4) Odd", "Odd"),
    ("7. Your encoder, with real weights", "Your encoder, with real weights"),
    ("Assignment 1: BERT's architecture", "Assignment 1: BERT's architecture"),
    ("2018 was the year", "2018 was the year"),  # no separator after the number: a word, not a number
    ("What your encoder can do", "What your encoder can do"),
])
def test_strip_heading_number(title, expected):
    assert sphinx_book.strip_heading_number(title) == expected


def test_mathjax_is_copied_with_its_fonts(tmp_path):
    target = sphinx_book.copy_mathjax(tmp_path)
    assert (target / sphinx_book.MATHJAX_COMPONENT).stat().st_size > 500_000
    assert list((target / "output/chtml/fonts/woff-v2").glob("*.woff"))
    assert (target / "input/tex/extensions/ams.js").is_file()


def test_config_serves_mathjax_from_the_build():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    sphinx = config["sphinx"]
    assert "bertcourse.sphinx_book" in sphinx["extra_extensions"]
    assert sphinx["config"]["mathjax_path"] == f"{sphinx_book.MATHJAX_DIR}/{sphinx_book.MATHJAX_COMPONENT}"
    assert sphinx["config"]["nb_ipywidgets_js"] == {}  # no require.js, no widgets manager from a CDN


def test_a_cdn_mathjax_path_is_refused():
    from sphinx.errors import ConfigError

    with pytest.raises(ConfigError, match="mathjax_path"):
        sphinx_book._check_mathjax_path(None, SimpleNamespace(mathjax_path="https://cdn.example/tex-chtml.js"))


def _theme_options(url: str) -> dict:
    options = {"repository_url": url, "launch_buttons": {"binderhub_url": "https://mybinder.org",
                                                         "colab_url": "https://colab.research.google.com",
                                                         "thebe": True, "notebook_interface": "jupyterlab"}}
    sphinx_book._launch_buttons_follow_repository(None, SimpleNamespace(html_theme_options=options))
    return options["launch_buttons"]


def test_launch_buttons_are_off_without_a_repository_url():
    launch = _theme_options("")
    assert launch["binderhub_url"] == launch["colab_url"] == "" and launch["thebe"] is False
    assert launch["notebook_interface"] == "jupyterlab"


def test_launch_buttons_stay_on_with_a_repository_url():
    launch = _theme_options("https://github.com/example/bertcourse")
    assert launch["binderhub_url"] == "https://mybinder.org" and launch["colab_url"]


def test_the_shipped_config_names_launch_services_and_no_repository():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["repository"]["url"] == "", "a checkout builds without launch buttons; a publisher sets the URL"
    assert config["launch_buttons"]["binderhub_url"] and config["launch_buttons"]["colab_url"]


PAGE = """---
jupytext:
  text_representation: {extension: .md, format_name: myst, format_version: 0.13}
kernelspec: {display_name: Python 3, language: python, name: python3}
---
# Page

Math $x^2$.

```{code-cell} ipython3
print(1 + 1)
```
"""


def build_one_page_book(root, repository_url: str):
    """A one-page book with the course's launch settings, and a graded-notebook-like ``lab.ipynb`` beside it;
    returns the page's HTML, its published notebook and the HTML of ``lab``."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    course = yaml.safe_load((REPO / "_config.yml").read_text())
    config = {"title": "one page", "execute": {"execute_notebooks": "cache"},
              "launch_buttons": course["launch_buttons"], "repository": {"url": repository_url, "branch": "main"},
              "sphinx": {"extra_extensions": ["bertcourse.sphinx_book"],
                         "config": {key: course["sphinx"]["config"][key] for key in ("mathjax_path", "nb_ipywidgets_js")}}}
    root.mkdir(parents=True, exist_ok=True)
    (root / "_config.yml").write_text(yaml.safe_dump(config))
    (root / "_toc.yml").write_text("format: jb-book\nroot: page\nchapters:\n- file: lab\n")
    (root / "page.md").write_text(PAGE)
    lab = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lab"), nbformat.v4.new_code_cell("1")])
    lab.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(lab, str(root / "lab.ipynb"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for extra in ([], ["--all"]):  # the second build takes the outputs from the execution cache
        result = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", ".", *extra],
                                cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0 and (root / "_build/html/page.html").is_file(), result.stdout[-3000:]
    html = (root / "_build/html/page.html").read_text(encoding="utf-8")
    notebook = json.loads((root / "_build/html/_sources/page.ipynb").read_text(encoding="utf-8"))
    return html, notebook, (root / "_build/html/lab.html").read_text(encoding="utf-8")


@pytest.mark.slow  # two small book builds
@pytest.mark.parametrize("url", ["", "https://github.com/example/bertcourse"])
def test_launch_buttons_follow_the_repository_url_and_notebooks_keep_outputs(tmp_path, url):
    html, notebook, lab = build_one_page_book(tmp_path / "book", url)
    assert ("mybinder.org/v2/gh/example/bertcourse" in html) == bool(url)
    # Colab opens .ipynb files only: a button on the notebook, none on the Markdown page
    assert ("colab.research.google.com/github/example/bertcourse/blob/main/lab.ipynb" in lab) == bool(url)
    assert "colab.research.google.com" not in html
    assert "_sources/page.ipynb" in html, "the executed page offers its notebook for download"
    outputs = [cell["outputs"] for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert outputs == [[{"name": "stdout", "output_type": "stream", "text": ["2\n"]}]]
