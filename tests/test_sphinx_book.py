"""The book's Sphinx extension: MathJax copied from the pinned package, one heading number, launch buttons by URL."""

from __future__ import annotations

from types import SimpleNamespace

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
