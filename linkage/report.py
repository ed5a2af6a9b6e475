"""The linkage report: one self-contained HTML file (inline SVG, no server, no scripts).

It shows whether to trust the links: the match-weight distribution split by the model into
matches and non-matches, estimated precision and recall against the threshold, per-field m
and u, weight waterfalls of example pairs, cluster sizes, and counts per partner. It holds no
identifier and no record id.

Every number and chart that derives from counts of records, pairs or clusters goes through
the agreement's disclosure control (:mod:`linkage.protocols.disclosure`): totals and table
cells are printed with :func:`disclose`, and charts are drawn from :func:`disclosed_counts`
(a suppressed count is a bar of height 0 labelled ``<N``), so no count the agreement
suppresses or rounds can be read from the text or from a bar. The estimated precision and
recall curves are computed from the disclosed histogram. m, u, lambda and weights are model
parameters and are printed at fixed, low precision.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from linkage.matching.scoring import match_probability, probability_weight
from linkage.matching.summary import WEIGHT_BINS, MatchModel, PairSummary
from linkage.protocols.disclosure import apply_disclosure_control, disclose, disclosed_counts
from linkage.protocols.models import DisclosureControl

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}table{border-collapse:collapse}
td,th{padding:.25em .8em;border-bottom:1px solid #eee;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:.9em}
svg{background:#fff;margin:.5em 0}"""


def _svg_bars(values: list[float], labels: list[str], *, width: int = 640, height: int = 200,
              colours: list[str] | None = None, stacked: list[float] | None = None,
              value_labels: list[str] | None = None, title: str = "") -> str:
    """A bar chart; ``stacked`` draws a second series on top of ``values``; ``value_labels``
    (plain text) are written above the bars. Heights come from ``values`` alone: pass
    disclosed counts, never raw ones."""
    n = max(len(values), 1)
    top = max((v + (stacked[i] if stacked else 0) for i, v in enumerate(values)), default=1)
    top = top or 1
    bar = (width - 40) / n
    parts = [f'<svg width="{width}" height="{height + 40}" role="img" '
             f'aria-label="{html.escape(title)}"><title>{html.escape(title)}</title>']
    for i, value in enumerate(values):
        h = (height - 10) * value / top
        x = 30 + i * bar
        colour = (colours or ["#4c78a8"])[0]
        parts.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{max(bar - 1, 1):.1f}" '
                     f'height="{h:.1f}" fill="{colour}"/>')
        if stacked:
            h2 = (height - 10) * stacked[i] / top
            parts.append(f'<rect x="{x:.1f}" y="{height - h - h2:.1f}" '
                         f'width="{max(bar - 1, 1):.1f}" height="{h2:.1f}" '
                         f'fill="{(colours or ["", "#f58518"])[1]}"/>')
        if value_labels:
            h2 = (height - 10) * stacked[i] / top if stacked else 0.0
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - h - h2 - 3:.1f}" '
                         f'font-size="10" text-anchor="middle">'
                         f'{html.escape(value_labels[i])}</text>')
    step = max(1, n // 10)
    for i in range(0, n, step):
        parts.append(f'<text x="{30 + i * bar:.1f}" y="{height + 15}" font-size="10">'
                     f'{html.escape(labels[i])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_lines(series: dict[str, list[float]], xs: list[float], *, width: int = 640,
               height: int = 200, title: str = "") -> str:
    """Lines in [0, 1] against ``xs``."""
    colours = ["#4c78a8", "#f58518", "#54a24b"]
    lo, hi = min(xs), max(xs)
    span = (hi - lo) or 1
    parts = [f'<svg width="{width}" height="{height + 40}" role="img" '
             f'aria-label="{html.escape(title)}"><title>{html.escape(title)}</title>']
    for k, (name, ys) in enumerate(series.items()):
        points = " ".join(f"{30 + (x - lo) / span * (width - 40):.1f},"
                          f"{height - y * (height - 10):.1f}" for x, y in zip(xs, ys, strict=True))
        parts.append(f'<polyline fill="none" stroke="{colours[k % 3]}" stroke-width="2" '
                     f'points="{points}"/>')
        parts.append(f'<text x="{width - 150}" y="{20 + 14 * k}" font-size="12" '
                     f'fill="{colours[k % 3]}">{html.escape(name)}</text>')
    for x in np.linspace(lo, hi, 9):
        parts.append(f'<text x="{30 + (x - lo) / span * (width - 40):.1f}" y="{height + 15}" '
                     f'font-size="10">{x:.0f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def estimated_quality(histogram: np.ndarray) -> pd.DataFrame:
    """Estimated precision and recall at each weight threshold, from the model alone.

    A candidate with match weight ``w`` (log2 odds, prior included) matches with
    probability ``1 / (1 + 2^-w)``.
    """
    p = match_probability((WEIGHT_BINS[:-1] + WEIGHT_BINS[1:]) / 2)
    matches = histogram * p
    above_all = np.cumsum(histogram[::-1])[::-1]
    above_matches = np.cumsum(matches[::-1])[::-1]
    total_matches = matches.sum() or 1.0
    precision = np.where(above_all > 0, above_matches / np.maximum(above_all, 1e-12), 1.0)
    recall = above_matches / total_matches
    return pd.DataFrame({"threshold_weight": WEIGHT_BINS[:-1], "precision": precision,
                         "recall": recall})


def _count(count: int, control: DisclosureControl) -> str:
    """One count for the HTML text, under disclosure control."""
    return html.escape(disclose(count, control, thousands=True))


def _rule(control: DisclosureControl) -> str:
    """The agreement's disclosure rule, in words (HTML)."""
    n, base = control.minimum_cell_count, control.rounding_base
    rounding = ("others are shown as they are" if base == 1 else
                f"others are rounded to the nearest multiple of {base}, halves up")
    return (f"Counts below {n} are shown as &lt;{n}; {rounding} (the agreement's disclosure "
            f"control). This applies to every count of records, pairs or clusters in this "
            f"report, in the text, the tables and the charts: a chart is drawn from the "
            f"published counts, so a suppressed count is a bar of height 0. Each total is "
            f"rounded on its own and need not equal the sum of its parts.")


def _pair_section(pair: PairSummary, fields: list[str], threshold: float,
                  control: DisclosureControl) -> str:
    hist = np.asarray(disclosed_counts(pair.weight_histogram, control), dtype=float)
    p = match_probability((WEIGHT_BINS[:-1] + WEIGHT_BINS[1:]) / 2)
    labels = [f"{b:.0f}" for b in WEIGHT_BINS[:-1]]
    n, base = control.minimum_cell_count, control.rounding_base
    rounded = "" if base == 1 else f", the others rounded to a multiple of {base}"
    out = [f"<h3>{html.escape(pair.left)} ~ {html.escape(pair.right)}</h3>",
           f"<p>{_count(pair.candidates, control)} candidate pairs; "
           f"{_count(pair.links_above_threshold, control)} at "
           f"or above the threshold; prior share of matching pairs "
           f"&lambda; = {pair.lambda_:.3g}.</p>",
           "<p>Match weight (log<sub>2</sub> odds) of candidate pairs, split by the model: "
           "<span style='color:#f58518'>estimated matches</span> on "
           "<span style='color:#4c78a8'>estimated non-matches</span>.</p>",
           _svg_bars(list(np.sqrt(hist * (1 - p))), labels, stacked=list(np.sqrt(hist * p)),
                     colours=["#4c78a8", "#f58518"],
                     title="match weight distribution (square-root scale)"),
           f"<p class='note'>Bar heights are square roots of the published bin counts, so "
           f"that both groups show: bins with fewer than {n} candidate pairs are drawn with "
           f"height 0{rounded} (the agreement's disclosure control).</p>"]
    if not hist.any():
        out.append(f"<p class='note'>Every bin has fewer than {n} candidate pairs, so "
                   f"nothing is drawn.</p>")
    quality = estimated_quality(hist)
    out += [f"<p>Estimated precision and recall if links were cut at each weight (this run "
            f"cut at probability {threshold:g}, weight {probability_weight(threshold):+.1f}):</p>",
            _svg_lines({"precision": list(quality.precision), "recall": list(quality.recall)},
                       list(quality.threshold_weight), title="estimated precision and recall"),
            "<p class='note'>The curves are computed from the published (disclosed) bin "
            "counts above, not the raw ones, so no count that the disclosure control "
            "suppresses or rounds can be recovered from them.</p>"]
    rows = []
    for f, name in enumerate(fields):
        m, u = pair.m[f], pair.u[f]
        cells = "".join(f"<td>{mi:.3f} / {ui:.4f}</td>" for mi, ui in zip(m, u, strict=True))
        rows.append(f"<tr><td>{html.escape(name)}</td>{cells}</tr>")
    out += ["<p>Per-field m / u by comparison level (level 0 = closest agreement; the last "
            "level = disagreement):</p><table><tr><th>field</th>"
            + "".join(f"<th>level {k}</th>" for k in range(max(len(x) for x in pair.m)))
            + "</tr>" + "".join(rows) + "</table>"]
    for example in pair.examples:
        names = ["prior", *example["fields"]]
        weights = [example["prior"], *example["fields"].values()]
        out.append(f"<p>Waterfall, {html.escape(example['label'])}: total weight "
                   f"{example['total']:.1f}</p>" + _waterfall(names, weights))
    return "".join(out)


def _waterfall(names: list[str], weights: list[float], width: int = 640) -> str:
    height = 24 * len(names) + 20
    lo = min(0.0, *np.cumsum(weights))
    hi = max(0.0, *np.cumsum(weights))
    span = (hi - lo) or 1
    scale = (width - 200) / span
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="waterfall">']
    running = 0.0
    for i, (name, w) in enumerate(zip(names, weights, strict=True)):
        start, end = running, running + w
        x = 180 + (min(start, end) - lo) * scale
        colour = "#54a24b" if w >= 0 else "#e45756"
        parts.append(f'<text x="0" y="{24 * i + 16}" font-size="12">{html.escape(name)} '
                     f'({w:+.1f})</text><rect x="{x:.1f}" y="{24 * i + 4}" '
                     f'width="{max(abs(w) * scale, 1):.1f}" height="16" fill="{colour}"/>')
        running = end
    parts.append("</svg>")
    return "".join(parts)


def _counts_section(links: pd.DataFrame, sizes: dict[str, int],
                    control: DisclosureControl) -> str:
    clusters = links.groupby("cluster_id")["partner"].apply(lambda s: " + ".join(sorted(s)))
    combos = clusters.value_counts().sort_index()
    shown = apply_disclosure_control(combos, control, thousands=True)
    linked = links.groupby("partner").size()
    per_partner = pd.Series({p: int(linked.get(p, 0)) for p in sizes}, dtype=np.int64)
    shown_partner = apply_disclosure_control(per_partner, control, thousands=True)
    size_counts = links.groupby("cluster_id").size().value_counts().sort_index()
    if len(size_counts):  # every size up to the largest, so a 0 looks like any small count
        size_counts = size_counts.reindex(range(int(size_counts.index.min()),
                                                int(size_counts.index.max()) + 1), fill_value=0)
    rows = "".join(f"<tr><td>{html.escape(p)}</td><td>{_count(sizes[p], control)}</td>"
                   f"<td>{html.escape(shown_partner[p])}</td></tr>" for p in sizes)
    combo_rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(v)}</td></tr>"
                         for k, v in shown.items())
    return (f"<h2 id='counts'>Counts</h2><p><strong>Disclosure control.</strong> "
            f"{_rule(control)}</p>"
            f"<table><tr><th>partner</th><th>records</th><th>linked records</th></tr>{rows}"
            f"</table><p>Children known to each combination of services:</p>"
            f"<table><tr><th>services</th><th>children</th></tr>{combo_rows}</table>"
            f"<h2>Cluster sizes</h2>"
            + _svg_bars(disclosed_counts(size_counts.to_numpy(), control),
                        [str(k) for k in size_counts.index],
                        value_labels=[disclose(v, control, thousands=True)
                                      for v in size_counts.to_numpy()],
                        title="clusters by records per cluster")
            + "<p class='note'>Number of clusters (bar height and label, under the disclosure "
              "control above) by records per cluster (1 per source, more where duplicates "
              "within a source were linked).</p>")


def _changes_section(changes: pd.DataFrame, control: DisclosureControl) -> str:
    """With a store: what this run changed, e.g. "this month: 1,205 keys created, 35
    merges, <10 splits", each count under the disclosure control."""
    events = ("created", "joined", "merged", "split", "retired", "erased")
    counts = changes.groupby("event").size() if len(changes) else pd.Series(dtype=int)
    items = ", ".join(f"{_count(int(counts.get(e, 0)), control)} {e}" for e in events)
    return (f"<h2>This run (linkage store)</h2><p>Link keys {items}. Every other key and "
            f"its records are as in the previous run.</p>")


def render_report(links: pd.DataFrame, model: MatchModel, control: DisclosureControl, *,
                  title: str = "Linkage report", changes: pd.DataFrame | None = None) -> str:
    """The report as an HTML string. ``links``: ``cluster_id, partner, record_id``; records
    alone in their cluster (linked to nothing) are left out of every count. ``changes``
    (from a store run: ``link_key, event, other_key, records``) adds what the run
    changed."""
    links = links[links.groupby("cluster_id")["record_id"].transform("size").to_numpy() > 1]
    pairs = [p for p in model.pairs if p.left != p.right]
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p>{_count(len(links), control)} linked records in "
            f"{_count(links.cluster_id.nunique(), control)} clusters. "
            "Probabilities come from a Fellegi-Sunter model fitted by EM on each pair of "
            "sources; nothing here identifies a child. Every count in this report is under "
            f"the agreement's disclosure control (counts below {control.minimum_cell_count} "
            "are suppressed; see <a href='#counts'>Counts</a>).</p>",
            *([_changes_section(changes, control)] if changes is not None else []),
            "<h2>Models by pair of sources</h2>",
            *(_pair_section(p, model.fields, model.threshold, control) for p in pairs),
            _counts_section(links, model.sizes, control)]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            + "".join(body) + "</body></html>\n")
