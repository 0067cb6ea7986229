"""Sphinx extension of the book: offline MathJax, downloadable notebooks, launch buttons by one setting.

Loaded from ``_config.yml`` (``sphinx.extra_extensions``). It does three things:

- **Math without a network.** MathJax 3 comes from the pinned PyPI package
  ``django-static-mathjax`` (the MathJax 3.2.2 distribution as static files, no Django
  needed). The part the book uses (``tex-chtml.js``, its fonts, TeX extensions and the
  accessibility menu) is copied into ``_static/mathjax`` of the HTML build, and
  ``mathjax_path`` in ``_config.yml`` must point at it: a CDN path is an error.
- **Every executed page downloads as ``.ipynb``.** MyST-NB executes the Markdown pages into
  ``_build/jupyter_execute``; each is published as ``_sources/<page>.ipynb`` and offered by
  the theme's download button (the theme itself does this only when launch buttons are on).
- **Numbered once.** The graded notebooks number their headings ("1. WordPiece") for students
  working in Jupyter; in the book, whose table of contents numbers sections itself, that
  number is dropped, so a heading reads "1.6.1. WordPiece", not "1.6.1. 1. WordPiece".
- **No dead scripts.** Jupyter Book loads sphinx-thebe even with ``thebe: false`` and declares
  its ``THEBE_JS_URL`` twice, a console error on every page; with thebe off its scripts and
  stylesheet are dropped. The theme's colour mode is set (light), since an empty one is a
  console error too.
- **Launch buttons follow ``repository.url``.** ``_config.yml`` names the launch services
  (Binder, Colab); they are switched off while ``repository.url`` is empty, so a publisher
  switches them all on with that one setting.
- **Colab only where Colab can open the file.** The theme links Colab to the page's source
  file in the repository; Colab opens ``.ipynb`` files only, so on the MyST Markdown pages
  (every chapter page; the graded notebooks are ``.ipynb``) the Colab button is dropped and
  the executed notebook stays a download away.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

#: Where MathJax is served from, relative to ``_static`` of the build.
MATHJAX_DIR = "mathjax"
#: The combined component the book loads (TeX input, CommonHTML output, menu).
MATHJAX_COMPONENT = "tex-chtml.js"
#: Sub-folders of MathJax's ``es5`` that the component loads on demand.
MATHJAX_PARTS = ("input/tex/extensions", "output/chtml", "a11y", "ui", "sre", "adaptors")
#: Documents whose own heading numbers are dropped (the table of contents numbers them).
SELF_NUMBERED_DOCS = re.compile(r"^exercises/")
#: A heading's own number: "1. ", "2.3 ", "4) " (not a bare "2018 " that starts a sentence).
HEADING_NUMBER = re.compile(r"^\s*(?:\d+(?:\.\d+)*[.)]|\d+(?:\.\d+)+)\s+(?=\S)")
#: The launch services that ``repository.url`` switches on.
LAUNCH_KEYS = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url", "jupyterlite_url", "thebe")


def mathjax_source() -> Path:
    """The ``es5`` folder of the installed MathJax 3 distribution.

    Raises:
        FileNotFoundError: ``django-static-mathjax`` is not installed (it is in requirements.lock).
    """
    try:
        import mathjax  # the top-level package of django-static-mathjax
    except ImportError as error:
        raise FileNotFoundError(
            "MathJax for the offline book is missing: install the pinned package "
            "`django-static-mathjax` (pip install -r requirements.lock)") from error
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / MATHJAX_COMPONENT).is_file():
        raise FileNotFoundError(f"no {MATHJAX_COMPONENT} in {es5}: the django-static-mathjax install is incomplete")
    return es5


def copy_mathjax(static_dir: Path) -> Path:
    """Copy the MathJax component and the parts it loads into ``static_dir/mathjax``; returns that folder."""
    source, target = mathjax_source(), Path(static_dir) / MATHJAX_DIR
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / MATHJAX_COMPONENT, target / MATHJAX_COMPONENT)
    for part in MATHJAX_PARTS:
        shutil.copytree(source / part, target / part, dirs_exist_ok=True)
    return target


def _check_mathjax_path(app, config) -> None:
    expected = f"{MATHJAX_DIR}/{MATHJAX_COMPONENT}"
    if config.mathjax_path != expected:
        from sphinx.errors import ConfigError

        raise ConfigError(f"mathjax_path must be {expected!r} (MathJax served from the build, so the book "
                          f"reads offline); got {config.mathjax_path!r}")


def _theme_defaults(app, config) -> None:
    # The theme's templates read the colour mode from the HTML context, not from its options.
    config.html_context = {**(config.html_context or {}), "default_mode": "light"}


def thebe_enabled(config) -> bool:
    return bool((config.html_theme_options.get("launch_buttons") or {}).get("thebe"))


def _drop_thebe_assets(app, pagename, templatename, context, doctree) -> None:
    """Without thebe, no page needs sphinx-thebe's script, its URL declarations or its stylesheet."""
    if thebe_enabled(app.config):
        return

    def is_thebe(asset) -> bool:
        body = (getattr(asset, "attributes", None) or {}).get("body", "")
        return "thebe" in str(asset).lower() or "THEBE_JS_URL" in body

    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not is_thebe(asset)]


def _launch_buttons_follow_repository(app, config) -> None:
    """Switch the launch services off while no repository URL is set (the theme needs one to build links)."""
    options = config.html_theme_options
    if options.get("repository_url"):
        return
    launch = dict(options.get("launch_buttons") or {})
    for key in LAUNCH_KEYS:
        if key in launch:
            launch[key] = False if key == "thebe" else ""
    options["launch_buttons"] = launch


def _publish_executed_notebook(app, pagename, templatename, context, doctree) -> None:
    """Offer the executed notebook of a Markdown page as ``_sources/<page>.ipynb``."""
    if not context.get("sourcename", "").endswith((".md", ".md.txt")) or context.get("ipynb_source"):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return  # a page with no code cells
    published = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    published.parent.mkdir(parents=True, exist_ok=True)
    published.write_text(executed_notebook(app, executed), encoding="utf-8")
    context["ipynb_source"] = f"{pagename}.ipynb"


def _republish_after_the_theme(app, pagename, templatename, context, doctree) -> None:
    """With launch buttons on, the theme copies the output-less notebook over ours: write ours again."""
    if context.get("ipynb_source") == f"{pagename}.ipynb":
        executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
        if executed.is_file():
            published = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
            published.write_text(executed_notebook(app, executed), encoding="utf-8")


def executed_notebook(app, path: Path) -> str:
    """The notebook at ``path`` with its outputs, as JSON text.

    In ``cache`` mode MyST-NB writes ``jupyter_execute/<page>.ipynb`` *before* merging the
    cached outputs in, so the outputs are taken from the execution cache, as MyST-NB itself
    does when it renders the page; in other modes the file already holds them.
    """
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    cache_path = getattr(app.config, "nb_execution_cache_path", "") or ""
    if getattr(app.config, "nb_execution_mode", "") == "cache":
        from jupyter_cache import get_cache

        # MyST-NB's default cache is <build>/.jupyter_cache; a configured one is relative to the sources.
        folder = (Path(app.outdir).parent / ".jupyter_cache" if not cache_path
                  else Path(cache_path) if Path(cache_path).is_absolute() else Path(app.srcdir) / cache_path)
        if folder.is_dir():
            try:
                _, notebook = get_cache(str(folder)).merge_match_into_notebook(notebook)
            except KeyError:
                pass  # not cached (a page without code cells): publish it as it is
    return nbformat.writes(notebook)


def strip_heading_number(title: str) -> str:
    """A heading without its own leading number: "1. WordPiece" -> "WordPiece"; others unchanged."""
    return HEADING_NUMBER.sub("", title, count=1)


def _drop_own_heading_numbers(app, doctree) -> None:
    from docutils import nodes

    if not SELF_NUMBERED_DOCS.match(app.env.docname):
        return
    for title in doctree.findall(nodes.title):
        if not isinstance(title.parent, nodes.section) or not isinstance(title.children[0], nodes.Text):
            continue
        text = str(title.children[0])
        stripped = strip_heading_number(text)
        if stripped != text:
            title.replace(title.children[0], nodes.Text(stripped))


def _colab_only_for_notebook_sources(app, pagename, templatename, context, doctree) -> None:
    """Drop the theme's Colab launch button from a page whose source is not an ``.ipynb`` file."""
    if Path(app.env.doc2path(pagename)).suffix == ".ipynb":
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "launch-buttons":
            group["buttons"] = [button for button in group["buttons"] if button.get("text") != "Colab"]


def _copy_mathjax_into_build(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        copy_mathjax(Path(app.outdir) / "_static")


def setup(app):
    app.connect("config-inited", _check_mathjax_path)
    app.connect("config-inited", _launch_buttons_follow_repository)
    app.connect("config-inited", _theme_defaults)
    app.connect("html-page-context", _drop_thebe_assets)
    app.connect("doctree-read", _drop_own_heading_numbers, priority=100)  # before the title and toc collectors
    # Before the theme builds its header buttons (priority 501).
    app.connect("html-page-context", _publish_executed_notebook, priority=450)
    app.connect("html-page-context", _republish_after_the_theme, priority=900)  # after the theme's copy (501)
    app.connect("html-page-context", _colab_only_for_notebook_sources, priority=600)  # after its launch buttons
    app.connect("build-finished", _copy_mathjax_into_build)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
