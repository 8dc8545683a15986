"""The HTML report of the default run, built with `snakemake --report`, and opened in headless Chromium.

Checks what a reader would see: the page loads with no console errors, Table 1 opens as an HTML table, every figure
decodes to a non-blank image, and a screenshot of Table 1 in the report is written for the record (to
MORPHALIGN_ARTIFACTS when it is set, as `.ci/run` does, else to the test's temporary folder).

Needs Debian's `chromium` (`.ci/run` installs it) and Playwright (a test dependency), which drives the system
browser; it downloads nothing. Without chromium the test is skipped here and fails in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import snakemake_command

pytestmark = pytest.mark.slow  # (the default_run group comes from conftest)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def report(default_run, tmp_path_factory) -> Path:
    """The report of the default run, built with the README's command into a temporary folder."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    done = subprocess.run(
        [*snakemake_command(default_run), "--report", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return out


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    given = os.environ.get("MORPHALIGN_ARTIFACTS")
    folder = Path(given) if given else tmp_path_factory.mktemp("artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# every PNG result decoded by the browser and drawn on a canvas: size, and the spread of its grey levels
_IMAGE_STATS = """
async () => {
  const out = {};
  for (const [path, r] of Object.entries(results)) {
    if (r.mime_type !== "image/png") continue;
    const img = new Image();
    img.src = r.data_uri;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext("2d");
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0, s = 0, s2 = 0;
    for (let i = 0; i < d.length; i += 4 * 7) { const v = (d[i] + d[i + 1] + d[i + 2]) / 3; n++; s += v; s2 += v * v; }
    const mean = s / n;
    out[path] = {width: c.width, height: c.height, std: Math.sqrt(Math.max(s2 / n - mean * mean, 0))};
  }
  return out;
}
"""


def test_report_opens_in_chromium_with_table1_and_figures(report, artifacts):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = _chromium()
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.goto(report.as_uri())
        page.locator("nav").get_by_text("Table 1", exact=True).first.click()  # the category

        # every figure the report holds decodes to a non-blank image
        stats = page.evaluate(_IMAGE_STATS)
        assert len(stats) >= 8, sorted(stats)
        for path, s in stats.items():
            assert s["width"] > 100 and s["height"] > 100, (path, s)
            assert s["std"] > 5, f"{path} is blank: {s}"

        # Table 1 opens as an HTML table, with the paper's metrics as rows
        row = page.locator("tr").filter(has=page.get_by_text("Table 1", exact=True)).first
        row.locator("a[iconname=eye]").click()  # its view button
        frame = page.frame_locator("iframe").first
        table = frame.locator("table").first
        table.wait_for()
        text = table.inner_text()
        assert "Recall@1" in text and "Linear probe F1, image" in text
        assert frame.locator("table").count() >= 4  # Table 1 and 1b-1d
        page.screenshot(path=str(artifacts / "report_table1.png"), full_page=False)
        browser.close()
    assert not errors, "\n".join(errors)
    print(f"report: {report.stat().st_size / 2**20:.1f} MiB; screenshot: {artifacts / 'report_table1.png'}")


def test_report_of_the_default_has_every_category(report):
    text = report.read_text()
    categories = ("Table 1", "Data and captions", "Classification", "Training", "Alignment", "Geometry", "Controls")
    for category in (*categories, "Provenance"):
        assert f'"{category}"' in text, category
    assert "Retrieval examples" in text and "Beside the paper" in text
