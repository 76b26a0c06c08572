"""The HTML report parses and shows every feature with its plot."""

from __future__ import annotations

from html.parser import HTMLParser

from runtime.drift.compare import CompareOptions, clean_floats, compare
from runtime.drift.html import render_html
from runtime.drift.profile import build_profile
from tests.runtime.drift.samples import mixed_table


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.charts: list[str] = []
        self.rects = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section" and attributes.get("class") == "feature":
            self.sections.append(str(attributes["data-feature"]))
        if tag == "svg":
            self.charts.append(str(attributes["data-feature"]))
        if tag == "rect":
            self.rects += 1
        if tag in {"script", "link", "img"} or (tag == "a" and str(attributes.get("href", "")).startswith("http")):
            self.external.append(tag)


def test_html_report_has_every_feature_and_its_plot() -> None:
    reference, current = mixed_table(1, 3000), mixed_table(2, 3000, shift=0.8)
    current = current.append_column("new_column", current.column("x1"))
    report = clean_floats(compare(build_profile(reference, prediction_column="prediction"), current, CompareOptions()))
    page = render_html(report, "Drift <test>")
    parser = Collector()
    parser.feed(page)
    plotted = {name for name, entry in report["features"].items() if entry["bins"]}
    assert set(parser.sections) == {*report["features"], "prediction"}
    assert set(parser.charts) == plotted | {"prediction"}
    assert plotted == set(report["features"]) - {"new_column"}
    assert parser.rects >= 2 * 10 * 5
    assert parser.external == []
    assert "Drift &lt;test&gt;" in page and "column missing in the reference" in page
