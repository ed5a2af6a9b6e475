"""The linkage report: one self-contained HTML file (inline SVG, no server, no scripts).

It shows whether to trust the links: the match-weight distribution split by the model into
matches and non-matches, estimated precision and recall against the threshold, per-field m
and u, weight waterfalls of example pairs, cluster sizes, and counts per partner with the
agreement's small-number suppression applied. It holds no identifier and no record id.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from linkage.matching.scoring import match_probability, probability_weight
from linkage.matching.summary import WEIGHT_BINS, MatchModel, PairSummary
from linkage.protocols.disclosure import apply_disclosure_control
from linkage.protocols.models import DisclosureControl

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}table{border-collapse:collapse}
td,th{padding:.25em .8em;border-bottom:1px solid #eee;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:.9em}
svg{background:#fff;margin:.5em 0}"""


def _svg_bars(values: list[float], labels: list[str], *, width: int = 640, height: int = 200,
              colours: list[str] | None = None, stacked: list[float] | None = None,
              title: str = "") -> str:
    """A bar chart; ``stacked`` draws a second series on top of ``values``."""
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


def _pair_section(pair: PairSummary, fields: list[str], threshold: float) -> str:
    hist = np.asarray(pair.weight_histogram, dtype=float)
    p = match_probability((WEIGHT_BINS[:-1] + WEIGHT_BINS[1:]) / 2)
    labels = [f"{b:.0f}" for b in WEIGHT_BINS[:-1]]
    out = [f"<h3>{html.escape(pair.left)} ~ {html.escape(pair.right)}</h3>",
           f"<p>{pair.candidates:,} candidate pairs; {pair.links_above_threshold:,} at "
           f"or above the threshold; prior share of matching pairs "
           f"&lambda; = {pair.lambda_:.3g}.</p>",
           "<p>Match weight (log<sub>2</sub> odds) of candidate pairs, split by the model: "
           "<span style='color:#f58518'>estimated matches</span> on "
           "<span style='color:#4c78a8'>estimated non-matches</span>.</p>",
           _svg_bars(list(np.sqrt(hist * (1 - p))), labels, stacked=list(np.sqrt(hist * p)),
                     colours=["#4c78a8", "#f58518"],
                     title="match weight distribution (square-root scale)"),
           "<p class='note'>Bar heights are square roots of counts so that both groups show.</p>"]
    quality = estimated_quality(hist)
    out += [f"<p>Estimated precision and recall if links were cut at each weight (this run "
            f"cut at probability {threshold:g}, weight {probability_weight(threshold):+.1f}):</p>",
            _svg_lines({"precision": list(quality.precision), "recall": list(quality.recall)},
                       list(quality.threshold_weight), title="estimated precision and recall")]
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
    shown = apply_disclosure_control(combos, control)
    linked = links.groupby("partner").size()
    per_partner = pd.Series({p: int(linked.get(p, 0)) for p in sizes})
    shown_partner = apply_disclosure_control(per_partner, control)
    size_counts = links.groupby("cluster_id").size().value_counts().sort_index()
    rows = "".join(f"<tr><td>{html.escape(p)}</td><td>{html.escape(shown_partner[p])}</td></tr>"
                   for p in sizes)
    combo_rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(v)}</td></tr>"
                         for k, v in shown.items())
    return (f"<h2>Counts</h2><p class='note'>Counts below {control.minimum_cell_count} are "
            f"shown as &lt;{control.minimum_cell_count}; others are rounded to a multiple of "
            f"{control.rounding_base} (the agreement's disclosure control).</p>"
            f"<table><tr><th>partner</th><th>linked records</th></tr>{rows}</table>"
            f"<p>Children known to each combination of services:</p>"
            f"<table><tr><th>services</th><th>children</th></tr>{combo_rows}</table>"
            f"<h2>Cluster sizes</h2>"
            + _svg_bars([float(v) for v in size_counts.to_numpy()],
                        [str(k) for k in size_counts.index], title="records per cluster")
            + "<p class='note'>Records per cluster (1 per source, more where duplicates "
              "within a source were linked).</p>")


def render_report(links: pd.DataFrame, model: MatchModel, control: DisclosureControl, *,
                  title: str = "Linkage report") -> str:
    """The report as an HTML string."""
    pairs = [p for p in model.pairs if p.left != p.right]
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p>{len(links):,} linked records in {links.cluster_id.nunique():,} clusters. "
            "Probabilities come from a Fellegi-Sunter model fitted by EM on each pair of "
            "sources; nothing here identifies a child.</p>",
            "<h2>Models by pair of sources</h2>",
            *(_pair_section(p, model.fields, model.threshold) for p in pairs),
            _counts_section(links, model.sizes, control)]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            + "".join(body) + "</body></html>\n")
