"""``k8s-analysis analyze --report``: one self-contained HTML page, checked as markup and in headless Chromium."""
import base64
import html.parser
import io
import pathlib
import re
import xml.etree.ElementTree as ElementTree

import pytest
from PIL import Image

import headless_chromium
from conftest import run_cli
from dffml_k8s_analysis import flows
from dffml_k8s_analysis.analysis.report import write_report
from dffml_k8s_analysis.analysis.views import VIEWS
from dffml_k8s_analysis.store import open_store
from test_analysis import walked_store
from test_source import make_store

needs_chromium = pytest.mark.skipif(
    headless_chromium.EXECUTABLE is None,
    reason="needs Debian's chromium on PATH: apt-get install -y chromium")


class Page(html.parser.HTMLParser):
    """The tags of a page with their attributes, and its text."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.text = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag):
        return [attrs for name, attrs in self.tags if name == tag]


def test_report_is_one_page_with_every_chart_its_table_the_filters_and_the_sync_state(tmp_path):
    store = make_store(tmp_path / "k.sqlite")
    with open_store(store, create=True) as db:
        db.sync.set("high_water", "2020-04-03T10:00:00Z")
        db.sync.finish_closers("2020-04-03T10:00:00Z")
    out = tmp_path / "out"
    result = run_cli("k8s-analysis", "analyze", "--store", store, "--out", str(out), "--pull-requests",
                     "--exclude", "lgtm", "--report")
    assert result.returncode == 0, result.stderr
    assert f"report: {out / 'report.html'}" in result.stdout
    assert not list(out.glob(".*"))  # written atomically, no temporary file left
    page = Page((out / "report.html").read_text())
    assert page.all("script") == [] and page.all("link") == [] and page.all("iframe") == []
    assert [attrs["id"] for attrs in page.all("section")] == list(VIEWS)
    images = page.all("img")
    assert len(images) == len([view for view in VIEWS.values() if not view.timeline])  # no timeline in this store
    assert " ".join(page.text).count("no timeline in this store: run k8s-analysis export --timeline") == 4
    for attrs in images:
        prefix = "data:image/svg+xml;base64,"
        assert attrs["src"].startswith(prefix)
        svg = base64.b64decode(attrs["src"][len(prefix):]).decode()
        assert "<svg" in svg and attrs["alt"] in svg  # the chart's title is its alt text
    linked = [attrs.get("href", "") for _, attrs in page.tags] + [attrs["src"] for attrs in images]
    assert all(url.startswith(("#", "data:")) for url in linked if url)
    text = " ".join(" ".join(page.text).split())
    assert "last synced 2020-04-03T10:00:00Z; newest item updated 2020-05-02T10:00:00Z" in text
    assert "who closed what closers walked up to 2020-04-03T10:00:00Z" in text
    assert "items 4 PRs of 6 parsed items; 2 malformed items skipped" in text
    assert "exclude lgtm" in text and "include (everything)" in text and "period, top N month, 25" in text
    # #2, the PR closed in January, took 5 days; no issue is counted under --pull-requests
    assert "<tr><td>2020-01</td><td>1</td><td>5.0</td><td>5.0</td><td>0</td><td>-</td><td>-</td></tr>" in (
        out / "report.html").read_text()


def chart_text_px(svg: str, shown_width: float) -> float:
    """The smallest text of a chart, in CSS pixels, when the SVG is drawn ``shown_width`` pixels wide."""
    root = ElementTree.fromstring(svg)
    assert root.get("width") == "100%" and root.get("height") is None  # scales with its container
    sizes = [float(size) for size in re.findall(r"font-size: ([0-9.]+)px", svg)]
    return min(sizes) * shown_width / float(root.get("viewBox").split()[2])


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The report of 1,500 emulated items, every view, and the views' titles."""
    tmp = tmp_path_factory.mktemp("report")
    result = flows.run_analyze(walked_store(tmp / "kubernetes__kubernetes.sqlite", 1500), list(VIEWS),
                               out=str(tmp / "out"))
    return pathlib.Path(write_report(tmp / "out" / "report.html", result)), [
        view["title"] for view in result["views"]]


def distinct_colours(png: bytes) -> int:
    return len(Image.open(io.BytesIO(png)).convert("RGB").getcolors(1 << 24))


@needs_chromium
@pytest.mark.parametrize("width, height, mobile", [(1280, 900, False), (390, 844, True)], ids=["desktop", "phone"])
def test_report_in_headless_chromium(report, tmp_path, width, height, mobile):
    path, titles = report
    seen = headless_chromium.visit(path.as_uri(), width, height, mobile)
    (tmp_path / f"{width}.png").write_bytes(seen["screenshot"])
    assert seen["errors"] == []
    assert seen["scripts"] == 0
    assert all(url.startswith(("file:", "data:")) for url in seen["requested"]), seen["requested"]
    assert [image["alt"] for image in seen["images"]] == titles and len(titles) == len(VIEWS)
    charts = [base64.b64decode(attrs["src"].split(",", 1)[1]).decode() for attrs in Page(path.read_text()).all("img")]
    for image, svg in zip(seen["images"], charts):
        assert image["complete"] and image["natural"] > 0, image
        assert image["width"] >= min(width - 40, 600) and image["height"] > 150, image
        assert image["width"] <= width - 16  # a phone sees the whole chart, no sideways scrolling
        assert chart_text_px(svg, image["width"]) >= 9.5, image["alt"]  # was 7 px on a phone
    assert seen["pageWidth"] <= seen["viewport"] == width  # nothing pushes the page sideways
    assert Image.open(io.BytesIO(seen["screenshot"])).size == (width, height)
    assert distinct_colours(seen["screenshot"]) > 100


@needs_chromium
def test_the_harness_sees_console_errors_broken_images_and_outside_requests(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><body><img alt="" src="missing.svg"><img alt="" '
                    'src="http://127.0.0.1:9/x.png"><script>console.error("boom"); undefined_call();</script>')
    seen = headless_chromium.visit(page.as_uri(), 800)
    assert len(seen["errors"]) >= 3  # console.error, the uncaught ReferenceError, the failed loads
    assert [image["natural"] for image in seen["images"]] == [0, 0] and seen["scripts"] == 1
    assert "http://127.0.0.1:9/x.png" in seen["requested"]
    assert distinct_colours(seen["screenshot"]) == 1  # blank: nothing rendered
