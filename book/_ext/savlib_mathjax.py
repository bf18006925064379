"""Book build tweaks: serve MathJax from the book itself, so the HTML renders math
offline, and drop duplicated script tags.

MathJax 3 ships inside the PyPI package ``django-static-mathjax`` (module ``mathjax``);
this extension adds its static folder to the build and points Sphinx at it, instead
of the CDN the theme would otherwise load.
"""
from __future__ import annotations

from pathlib import Path


def _configure(app, config) -> None:
    import mathjax  # django-static-mathjax

    static = Path(mathjax.__file__).resolve().parent / "static"
    if not (static / "mathjax" / "es5" / "tex-chtml-full.js").exists():
        raise RuntimeError(f"MathJax not found under {static}: reinstall django-static-mathjax")
    config.html_static_path = list(config.html_static_path) + [str(static)]
    config.mathjax_path = "mathjax/es5/tex-chtml-full.js"


def setup(app):
    app.connect("config-inited", _configure, priority=900)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """sphinx-thebe registers its inline configuration script once per read pass, so
    Jupyter Book pages declare ``const THEBE_JS_URL`` twice, a JavaScript error the
    headless-browser check of the book reports. Keep the first copy of each script."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique
