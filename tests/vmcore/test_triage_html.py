"""``kmemx triage --html`` rendered by headless Chromium (Debian's package):
the fleet page and a dump page, their screenshots (the expected size, not
blank, the charts drawn) and their DOM after the scripts ran (the clusters,
the record's fields, plotly's SVG charts)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kmemx.triage import Record, clusters, triage
from tests.fixtures.fixture import Fixture

pytestmark = pytest.mark.vmcore

WIDTH, HEIGHT = 1280, 1600


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium (apt-get install chromium)")


def _run(args: list[str], tmp: Path) -> str:
    env = {**os.environ, "HOME": str(tmp)}  # chromium's profile, not the user's
    p = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--virtual-time-budget=10000",
                        f"--user-data-dir={tmp / 'profile'}", *args],
                       capture_output=True, text=True, env=env, timeout=180, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


@pytest.fixture(scope="module")
def report(fixture: Fixture, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, list[Record]]:
    pytest.importorskip("plotly")
    variants = [v for v in ("elf", "panic") if fixture.has(v)]
    if "panic" not in variants:
        pytest.skip(f"panic: {fixture.skip_reason('panic')}")
    out = tmp_path_factory.mktemp("html")
    from kmemx.triage.cli import main

    paths = [str(fixture.core(v)) for v in variants]
    assert main([*paths, "-s", str(fixture.vmlinux), "--html", str(out / "report"),
                 "--json"]) == 0
    recs = triage(paths, symbols=[str(fixture.vmlinux)])
    return out, recs


def _screenshot(page: Path, tmp: Path) -> tuple[int, int, int, float]:
    """Width, height, distinct colours and the share of non-white pixels."""
    from PIL import Image

    shot = tmp / (page.stem + ".png")
    _run([f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", page.as_uri()], tmp)
    img = Image.open(shot).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20) or []
    white = sum(n for n, c in colours if c == (255, 255, 255))
    w, h = img.size
    return w, h, len(colours), 1 - white / (w * h)


def test_fleet_page(report: tuple[Path, list[Record]]) -> None:
    out, recs = report
    index = out / "report" / "index.html"
    assert (out / "report" / "plotly.min.js").stat().st_size > 1_000_000  # offline
    dom = _run(["--dump-dom", index.as_uri()], out)
    groups = clusters(recs)
    panic = next(r for r in recs if r.pid is not None)
    # the clusters table: one row per cluster, its count and signature
    table = dom.split('id="clusters"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == len(groups)
    for row, c in zip(rows, groups):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert cells[1] == str(c.count)
        sig = c.signature or "(no crashed task)"
        assert sig.replace("<", "&lt;") in cells[3]
    assert panic.message is not None and panic.message in dom
    # plotly ran: both charts are SVGs now, with the panic on the timeline
    for chart in ("clusters-chart", "timeline"):
        div = dom.split(f'id="{chart}"', 1)[1][:200000]
        assert "main-svg" in div, f"{chart} was not drawn"
    assert "Panics by uptime (1 of 2 dumps)" in dom
    w, h, ncolours, ink = _screenshot(index, out)
    assert (w, h) == (WIDTH, HEIGHT)
    assert ncolours > 50 and ink > 0.05, (ncolours, ink)


def test_dump_page(report: tuple[Path, list[Record]]) -> None:
    out, recs = report
    i, panic = next((i, r) for i, r in enumerate(recs) if r.pid is not None)
    page = out / "report" / f"dump-{i:03d}.html"
    dom = _run(["--dump-dom", page.as_uri()], out)
    summary = dom.split('id="summary"', 1)[1].split("</table>", 1)[0]
    fields = dict(re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td></tr>", summary, re.S))
    assert fields["release"] == panic.release
    assert fields["build ID"] == panic.build_id
    assert fields["task"] == f"{panic.pid}:{panic.comm}"
    assert fields["signature"] == panic.signature.replace("<", "&lt;")
    stack = re.findall(r"<li><code>(.*?)</code></li>",
                       dom.split('id="stack"', 1)[1].split("</ol>", 1)[0])
    assert stack == panic.stack
    slabs = dom.split('id="slabs"', 1)[1].split("</table>", 1)[0]
    assert [s.name for s in panic.slabs] == re.findall(r"<tr><td>([^<]*)</td>", slabs)
    states = dom.split('id="states"', 1)[1].split("</table>", 1)[0]
    assert dict(re.findall(r"<tr><td>(\w+)</td><td[^>]*>(\d+)</td>", states)) == {
        k: str(v) for k, v in panic.states.items()}
    for chart in ("memory-chart", "slabs-chart", "states-chart"):
        assert "main-svg" in dom.split(f'id="{chart}"', 1)[1][:200000], chart
    w, h, ncolours, ink = _screenshot(page, out)
    assert (w, h) == (WIDTH, HEIGHT)
    assert ncolours > 50 and ink > 0.05, (ncolours, ink)
