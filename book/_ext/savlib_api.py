"""The API reference part of the book (pages under book/api/, Sphinx autodoc).

Additions to autodoc, all made at build time from savlib itself:

* a docstring that names a book chapter (``book chapter "Training at scale"``,
  ``chapters "A" and "B"``, ````book/particles/mnist.ipynb````) links to it. Names are
  matched against the chapters' titles (the whole title, or the part before its colon);
  a name that matches no chapter is a build warning, hence an error under ``-W``. A scheme
  class whose docstring names no chapter gets the chapter its module's docstring opens with;
* every scheme class gets the table of its ``opt.diagnostics`` keys, rendered from
  :data:`savlib.schemes.diagnostics.DIAGNOSTICS` (the one place the keys are described);
* ``.. savlib-summary:: MODULE``: a table of the module's public names (``__all__``), each
  linked to its entry, with the first sentence of its docstring (constants: their ``#:``
  comment). Autosummary's own table cut sentences at "eq." and showed ``dict``'s
  docstring for constants;
* a cross-reference to an object by another of its names (``savlib.schemes.sav.SAV``
  for ``savlib.schemes.SAV``, ``mse_residual`` inside ``savlib.schemes.ieq``'s
  docstrings) resolves to the entry where the object is documented, by object identity;
* sphinx.ext.napoleon renders the "Args:" sections, except in constants' doc comments.
"""
from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.nodes import nested_parse_with_titles
from sphinx.util.nodes import make_refnode

LOG = logging.getLogger(__name__)

# Docstring chapter names that are not (a prefix of) one chapter's title (none today).
ALIASES: dict[str, list[str]] = {}

_CHAPTER = re.compile(r'(?P<lead>\b(?:book\s+)?[Cc]hapters?\s+)(?P<names>"[^"]+"(?:\s+and\s+"[^"]+")*)')
_PATH = re.compile(r"``(?P<path>book/[\w/.-]+?)\.(?:ipynb|md)``")


# ------------------------------------------------------------------ chapter titles
def _first_heading(path: Path) -> str | None:
    if path.suffix == ".md":
        text = path.read_text(encoding="utf-8")
    else:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        text = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "markdown")
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None


def _titles(srcdir: Path) -> dict[str, list[str]]:
    """Chapter name -> docnames: every title, and the part of a title before its colon."""
    out: dict[str, list[str]] = {}
    for path in sorted((srcdir / "book").rglob("*")):
        if path.suffix not in (".md", ".ipynb") or ".ipynb_checkpoints" in path.parts:
            continue
        title = _first_heading(path)
        if not title:
            continue
        doc = path.relative_to(srcdir).with_suffix("").as_posix()
        for name in {title, title.split(":")[0].strip()}:
            out.setdefault(name, []).append(doc)
    for name, docs in ALIASES.items():
        out.setdefault(name, docs)
    return out


def _link_chapters(app, text: str, where: str) -> str:
    titles = app.env.savlib_titles

    def one(name: str) -> str:
        key = " ".join(name.split())
        docs = titles.get(key)
        if not docs:
            LOG.warning(f"{where}: the docstring names a book chapter {key!r} that has no such "
                        "title (fix the docstring or the alias in book/_ext/savlib_api.py)")
            return f'"{key}"'
        if len(docs) == 1:
            return f':doc:`"{key}" </{docs[0]}>`'
        return " and ".join(f":doc:`/{d}`" for d in docs)

    def chapters(m: re.Match) -> str:
        names = re.findall(r'"([^"]+)"', m.group("names"))
        return m.group("lead") + " and ".join(one(n) for n in names)

    text = _CHAPTER.sub(chapters, text)
    return _PATH.sub(lambda m: f":doc:`{m.group('path')} </{m.group('path')}>`", text)


# ---------------------------------------------------------------- summary tables
_ABBREV = re.compile(r"\b(eqs?|Eqs?|Figs?|Algs?|Thms?|Prop|sec|Sec|App|Ex|Exp|Exps|e\.g|i\.e|vs|cf|"
                     r"resp|approx|No)\.$")


def _first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph: up to a period followed by a
    space and a capital letter, outside ````literals```` and not after an abbreviation."""
    para = " ".join(doc.strip().split("\n\n")[0].split())
    inside, i = False, 0
    while i < len(para):
        if para.startswith("``", i):
            inside, i = not inside, i + 2
            continue
        if para[i] == "." and not inside and (i + 1 == len(para) or (
                para[i + 1] == " " and i + 2 < len(para) and para[i + 2].isupper())):
            if not _ABBREV.search(para[:i + 1]):
                return para[:i + 1]
        i += 1
    return para


def _constant_doc(modname: str, name: str) -> str:
    """The ``#:`` doc comment of constant ``name``, from ``modname`` or the submodule that
    defines it."""
    from sphinx.pycode import ModuleAnalyzer

    for mod in [modname] + sorted(m for m in sys.modules if m.startswith(modname + ".")):
        try:
            docs = ModuleAnalyzer.for_module(mod).find_attr_docs()
        except Exception:
            continue
        if ("", name) in docs:
            return " ".join(docs[("", name)])
    return ""


class SummaryTable(Directive):
    """``.. savlib-summary:: savlib.schemes``: one row per name of the module's public
    names (``__all__``, else the names it does not import privately), linked to its entry,
    with the first sentence of its docstring."""

    required_arguments = 1

    def run(self):
        import inspect

        modname = self.arguments[0]
        mod = importlib.import_module(modname)
        names = list(getattr(mod, "__all__", None) or
                     [n for n, v in vars(mod).items() if not n.startswith("_") and
                      not inspect.ismodule(v) and n != "annotations"])
        rows = [f".. currentmodule:: {modname}", "", ".. list-table::", "   :header-rows: 0", "   :widths: 30 70",
                "   :class: savlib-summary", ""]
        for name in names:
            obj = getattr(mod, name)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                doc = inspect.getdoc(obj) or ""
            else:
                doc = _constant_doc(modname, name)
            summary = _link_chapters(self.state.document.settings.env.app,
                                     _first_sentence(doc), f"{modname}.{name}") if doc else ""
            rows += [f"   * - :py:obj:`~{modname}.{name}`", f"     - {summary}"]
        content = StringList(rows, source=f"savlib-summary {modname}")
        node = nodes.container()
        nested_parse_with_titles(self.state, content, node)
        return node.children


# ------------------------------------------------------------- diagnostics tables
def _diagnostics_table(name: str) -> list[str]:
    from savlib.schemes.diagnostics import DIAGNOSTICS

    rows = ["", ".. rubric:: Diagnostics", "",
            "``opt.diagnostics`` after a step (0-d float64 tensors on the parameter device; "
            "the table is :data:`savlib.schemes.diagnostics.DIAGNOSTICS`):", "",
            ".. list-table::", "   :header-rows: 1", "   :widths: 25 75",
            "   :class: savlib-diagnostics", "", "   * - key", "     - meaning"]
    for key, meaning in DIAGNOSTICS[name].items():
        rows += [f"   * - ``{key}``", f"     - {meaning}"]
    return rows + [""]


_UNDERLINE = re.compile(r"^\s*([-=~^\"'`#*+])\1+\s*$")


def _process_docstring(app, what, name, obj, options, lines) -> None:
    if not name.startswith("savlib"):
        return
    scheme = what == "class" and _is_scheme(obj) and name.rsplit(".", 1)[-1] == obj.__name__
    if scheme and not _CHAPTER.search("\n".join(lines)):
        # a scheme whose docstring names no chapter: the chapter(s) its module names
        mod_doc = sys.modules[obj.__module__].__doc__ or ""
        first = _CHAPTER.search(mod_doc)      # the module's opening "Book chapter ..."
        names = re.findall(r'"([^"]+)"', first.group("names")) if first else []
        if names:
            names = list(dict.fromkeys(" ".join(n.split()) for n in names))
            lines += ["", "Book " + ("chapters " if len(names) > 1 else "chapter ")
                      + " and ".join(f'"{n}"' for n in names) + "."]
    text = _link_chapters(app, "\n".join(lines), name)
    lines[:] = text.split("\n")
    for i in range(len(lines) - 1):          # a linked title is longer: extend its underline
        m = _UNDERLINE.match(lines[i + 1])
        if m and lines[i].strip() and len(lines[i + 1].strip()) < len(lines[i].strip()):
            lines[i + 1] = lines[i + 1].rstrip()[:1] * len(lines[i].rstrip())
    if scheme:
        lines += _diagnostics_table(obj.__name__)


def _is_scheme(obj) -> bool:
    from savlib.schemes.base import EnergyOptimizer
    from savlib.schemes.diagnostics import DIAGNOSTICS

    return isinstance(obj, type) and issubclass(obj, EnergyOptimizer) and obj.__name__ in DIAGNOSTICS


# ------------------------------------------------- references by another name
def _lookup(path: str):
    """The object at a dotted path (module prefix imported), or None."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        mod = ".".join(parts[:i])
        try:
            obj = importlib.import_module(mod)
        except Exception:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


_BY_ID: dict[int, tuple[int, dict]] = {}     # per build process (object ids are not stable)


def _documented(env) -> dict[int, tuple[str, str, str]]:
    """id(object) -> (documented name, docname, node id) over the py domain's entries."""
    cache = _BY_ID.get(id(env))
    if cache is not None and cache[0] == len(env.domaindata["py"]["objects"]):
        return cache[1]
    out = {}
    for fullname, entry in env.domaindata["py"]["objects"].items():
        if getattr(entry, "aliased", False) or not fullname.startswith("savlib"):
            continue
        obj = _lookup(fullname)
        if obj is not None and not isinstance(obj, (int, float, str, bool)):
            out.setdefault(id(obj), (fullname, entry.docname, entry.node_id))
    _BY_ID[id(env)] = (len(env.domaindata["py"]["objects"]), out)
    return out


def _by_suffix(env, modname: str, target: str):
    """A method or attribute named by its bare name in a module docstring (``:meth:`loss```
    in :mod:`savlib.problems.pinn`): the one documented ``modname.Class.target`` whose class
    is a base class of every other such class."""
    objs = env.domaindata["py"]["objects"]
    hits = [n for n in objs if n.startswith(modname + ".") and n.endswith("." + target)
            and n.count(".") == modname.count(".") + 2]
    if not hits:
        return None
    classes = {n: _lookup(n.rsplit(".", 1)[0]) for n in hits}
    for n, cls in classes.items():
        if isinstance(cls, type) and all(isinstance(c, type) and issubclass(c, cls) for c in classes.values()):
            e = objs[n]
            return n, e.docname, e.node_id
    return None


def _scalar(env, path: str, value):
    """The one documented constant with the last name of ``path`` and the same value."""
    last = path.rsplit(".", 1)[-1]
    objs = env.domaindata["py"]["objects"]
    hits = [n for n in objs if n.startswith("savlib") and n.rsplit(".", 1)[-1] == last
            and type(_lookup(n)) is type(value) and _lookup(n) == value]
    if len(hits) != 1:
        return None
    return hits[0], objs[hits[0]].docname, objs[hits[0]].node_id


def _missing_reference(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if target.startswith("~"):
        target = target[1:]
    modname = node.get("py:module") or ""
    clsname = node.get("py:class") or ""
    candidates = [target]
    if modname:
        candidates += [f"{modname}.{clsname}.{target}" if clsname else "", f"{modname}.{target}"]
    if not target.startswith("savlib"):   # a name relative to the savlib module defining it
        candidates += [f"{m}.{target}" for m in sorted(sys.modules) if m.startswith("savlib")]
    by_id = _documented(env)
    for cand in filter(None, candidates):
        if not cand.startswith("savlib"):
            continue
        obj = _lookup(cand)
        if obj is None:
            continue
        hit = by_id.get(id(obj))
        if hit is None and isinstance(obj, (int, float, str, bool)):
            hit = _scalar(env, cand, obj)          # constants: by name and value
        if hit is not None:
            _, docname, node_id = hit
            return make_refnode(app.builder, node.get("refdoc", ""), docname, node_id, contnode, hit[0])
    if "." not in target and modname:
        hit = _by_suffix(env, modname, target)
        if hit is not None:
            return make_refnode(app.builder, node.get("refdoc", ""), hit[1], hit[2], contnode, hit[0])
    return None


def _builder_inited(app) -> None:
    app.env.savlib_titles = _titles(Path(app.srcdir))
    _BY_ID.clear()


def setup(app):
    # sphinx.ext.napoleon renders the "Args:" sections, but it reads the first line of a
    # constant's doc comment ("#: what it is: more") as "type: description"; savlib's doc
    # comments are prose, so napoleon is applied to everything except data and attributes.
    from sphinx.ext import napoleon

    app.setup_extension("sphinx.ext.napoleon")
    for listener in list(app.events.listeners.get("autodoc-process-docstring", [])):
        if listener.handler is napoleon._process_docstring:
            app.disconnect(listener.id)

    def _napoleon(app, what, name, obj, options, lines):
        if what not in ("data", "attribute"):
            napoleon._process_docstring(app, what, name, obj, options, lines)

    app.add_directive("savlib-summary", SummaryTable)
    app.connect("builder-inited", _builder_inited)
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)
    app.connect("autodoc-process-docstring", _napoleon, priority=500)
    app.connect("missing-reference", _missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
