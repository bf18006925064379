"""The reproduction scorecard: one row per numbered figure, table and claim of the source
papers, generated from the stored results of record and the chapters' checks.

Each area module (``regression``, ``mnist``, ``pinns``, ``schemes``, ``meanfield``) defines
``rows() -> list[Row]``. A row's ``measured`` text and ``verdict`` are *computed* there from a
stored result (:func:`savlib.experiments.load_result`) or from a small live check of a
mathematical fact; only the paper's statement is typed. The book's page "Reproduction
scorecard" renders :func:`table`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

__all__ = ["Row", "VERDICTS", "AREAS", "PAPERS", "rows", "table", "counts", "claims_table"]

# the verdicts a row may carry, and the one claims table of every chapter
from ..book import VERDICTS, claims_table  # noqa: E402
#: area modules, in the order the page lists them
AREAS = ("schemes", "regression", "mnist", "pinns", "meanfield")
#: the source papers a row may cite (keys of book/references.bib), in the page's order
PAPERS = {
    "ma2024sav": "Ma, Mao and Shen (2024), SAV-based methods for gradient flows from deep learning",
    "li2023isgd": "Li, Chen and Huang (2023), implicit SGD for physics-informed networks",
    "gradflow2024report": "Gradient-flow methods for deep learning (report, 2024)",
    "liu2020selection": "Liu and Markowich (2020), selection dynamics for deep neural networks",
}


@dataclass(frozen=True)
class Row:
    """One scorecard row.

    ``paper``: the source's short citation key in ``book/references.bib`` (e.g. ``"ma2024"``);
    ``item``: "Fig. 3", "Table 2", "Thm 2.2", "Algorithm 1", "Sec. 3.1.1 claim";
    ``claim``: what the paper states (typed from the paper);
    ``measured``: what we measured, with the numbers (computed);
    ``size``: at which size, e.g. "M = 2e4, m = 1000, 3 seeds" (from the result's config);
    ``verdict``: one of :data:`VERDICTS` (computed from the numbers);
    ``chapter``: the book document that shows it, e.g. ``"book/particles/mnist"``;
    ``evidence``: ``"result: NAME"`` (a stored result of record, ``load_result(NAME)``),
    ``"benchmark: FILE"`` (a benchmark's JSON in ``benchmarks/results``) or
    ``"check: <what is checked live>"``.
    """

    paper: str
    item: str
    claim: str
    measured: str
    size: str
    verdict: str
    chapter: str
    evidence: str
    notes: str = field(default="")

    def __post_init__(self):
        if self.paper not in PAPERS:
            raise ValueError(f"paper must be one of {sorted(PAPERS)}, got {self.paper!r}")
        if not self.evidence.startswith(("result:", "benchmark:", "check:")):
            raise ValueError(f"{self.paper} {self.item}: evidence must start with 'result:', 'benchmark:' or "
                             f"'check:', got {self.evidence!r}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


def rows(areas=AREAS) -> list[Row]:
    """Every row of the given areas (modules that do not exist yet are skipped)."""
    out: list[Row] = []
    for a in areas:
        try:
            mod = importlib.import_module(f"{__name__}.{a}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{a}":
                continue
            raise
        out.extend(mod.rows())
    return out


def counts(rs: list[Row] | None = None) -> dict[str, int]:
    """How many rows carry each verdict."""
    rs = rows() if rs is None else rs
    return {v: sum(r.verdict == v for r in rs) for v in VERDICTS}


def table(rs: list[Row] | None = None, columns=("item", "claim", "measured", "size", "verdict", "chapter")) -> str:
    """The rows as an HTML table (escaped text; the chapter as a link to its page)."""
    from html import escape

    rs = rows() if rs is None else rs
    head = "".join(f'<th class="sc-{escape(c)}">{escape(c)}</th>' for c in columns)
    body = []
    for r in rs:
        cells = []
        for c in columns:
            v = getattr(r, c)
            if c == "chapter":
                page = v.split("/", 1)[-1]
                cells.append(f'<td><a href="{escape(page)}.html">{escape(page)}</a></td>')
            else:
                cells.append(f'<td class="sc-{escape(c)}">{escape(str(v))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="savlib-scorecard"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
