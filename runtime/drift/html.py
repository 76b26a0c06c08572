"""Render a `mlplat.drift/v1` report as one self-contained HTML page: a summary, then per feature a table of
statistics and an inline SVG bar chart of reference vs current proportions per bin (no scripts, no CDN)."""

from __future__ import annotations

from html import escape
from typing import Any

STATUS_COLOURS = {"ok": "#2e7d32", "warn": "#ef6c00", "alert": "#c62828", "unavailable": "#616161"}
REFERENCE_COLOUR = "#90a4ae"
CURRENT_COLOUR = "#1565c0"
CHART_HEIGHT = 140
BAR_WIDTH = 12
LABEL_SPACE = 70

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#212121;max-width:1100px}
table{border-collapse:collapse;margin:.5rem 0}
td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}
.status{color:#fff;padding:.1rem .5rem;border-radius:.3rem;font-weight:600}
section.feature{border-top:2px solid #eee;margin-top:1.5rem;padding-top:.5rem}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;vertical-align:middle}
ul.problems{color:#6d4c41}
"""


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


def _badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#616161")
    return f'<span class="status" style="background:{colour}">{escape(status)}</span>'


def bar_chart(name: str, bins: dict[str, Any]) -> str:
    """Grouped bars (reference, current) per bin, proportions on a shared 0..max scale."""
    labels: list[str] = bins["labels"]
    reference: list[float] = bins["reference"]
    current: list[float] = bins["current"]
    top = max([*reference, *current, 1e-12])
    group = 2 * BAR_WIDTH + 8
    width = max(200, 40 + group * len(labels))
    height = CHART_HEIGHT + LABEL_SPACE
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-feature="{escape(name)}" '
        f'width="{width}" height="{height}" role="img" aria-label="bins of {escape(name)}">',
        f'<line x1="30" y1="{CHART_HEIGHT}" x2="{width}" y2="{CHART_HEIGHT}" stroke="#999"/>',
        f'<text x="0" y="10" font-size="9">{top:.2f}</text>',
    ]
    for index, label in enumerate(labels):
        x = 36 + index * group
        for offset, (value, colour, series) in enumerate(
            ((reference[index], REFERENCE_COLOUR, "reference"), (current[index], CURRENT_COLOUR, "current"))
        ):
            bar = CHART_HEIGHT * value / top
            parts.append(
                f'<rect x="{x + offset * BAR_WIDTH}" y="{CHART_HEIGHT - bar:.1f}" width="{BAR_WIDTH - 1}" '
                f'height="{bar:.1f}" fill="{colour}">'
                f"<title>{escape(label)} {series}: {value:.4f}</title></rect>"
            )
        parts.append(
            f'<text font-size="9" transform="translate({x + BAR_WIDTH},{CHART_HEIGHT + 8}) rotate(45)">'
            f"{escape(label[:24])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _feature_section(name: str, entry: dict[str, Any], heading: str) -> str:
    fields = [
        "kind",
        "psi",
        "js_distance",
        "ks_statistic",
        "ks_pvalue",
        "chi2_statistic",
        "chi2_pvalue",
        "n_reference",
        "n_current",
        "missing_share_reference",
        "missing_share_current",
        "reliable",
    ]
    rows = "".join(f"<tr><th>{field}</th><td>{_number(entry.get(field))}</td></tr>" for field in fields)
    chart = bar_chart(name, entry["bins"]) if entry.get("bins") else "<p>No plot: no statistics.</p>"
    problems = "".join(f"<li>{escape(problem)}</li>" for problem in entry.get("problems", []))
    return (
        f'<section class="feature" id="feature-{escape(name)}" data-feature="{escape(name)}">'
        f"<h3>{escape(heading)} {_badge(entry['status'])}</h3>"
        f'<div style="display:flex;gap:2rem;flex-wrap:wrap"><table>{rows}</table><div>{chart}'
        f'<div class="legend"><span style="background:{REFERENCE_COLOUR}"></span>reference'
        f'<span style="background:{CURRENT_COLOUR}"></span>current</div></div></div>'
        + (f'<ul class="problems">{problems}</ul>' if problems else "")
        + "</section>"
    )


def _summary_rows(report: dict[str, Any]) -> str:
    rows = []
    ordered = sorted(report["features"].items(), key=lambda item: -(item[1]["psi"] or 0))
    for name, entry in ordered:
        pvalue = entry["ks_pvalue"] if entry["kind"] == "numeric" else entry["chi2_pvalue"]
        rows.append(
            f'<tr><td><a href="#feature-{escape(name)}">{escape(name)}</a></td>'
            f"<td>{_badge(entry['status'])}</td>"
            f"<td>{_number(entry['psi'])}</td><td>{_number(entry['js_distance'])}</td>"
            f"<td>{_number(pvalue)}</td></tr>"
        )
    return "".join(rows)


def render_html(report: dict[str, Any], title: str = "Drift report") -> str:
    """The whole page as a string."""
    dataset = report["dataset"]
    overview = "".join(
        f"<tr><th>{key}</th><td>{_number(dataset.get(key))}</td></tr>"
        for key in ("n_reference", "n_current", "drift_share", "n_features", "n_alert", "n_warn", "reliable")
    )
    sections = []
    if report.get("prediction"):
        sections.append(_feature_section("prediction", report["prediction"], "Prediction"))
    sections += [_feature_section(name, entry, name) for name, entry in report["features"].items()]
    problems = "".join(f"<li>{escape(problem)}</li>" for problem in dataset.get("problems", []))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)} {_badge(dataset['status'])}</h1>"
        f"<table>{overview}</table>"
        + (
            f"<details><summary>Problems ({len(dataset['problems'])})</summary>"
            f'<ul class="problems">{problems}</ul>'
            "</details>"
            if problems
            else ""
        )
        + "<h2>Features by PSI</h2><table><tr><th>feature</th><th>status</th><th>PSI</th><th>JS distance</th>"
        f"<th>p-value</th></tr>{_summary_rows(report)}</table>" + "".join(sections) + "</body></html>"
    )
