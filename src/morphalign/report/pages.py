"""Self-contained HTML pages for the Snakemake report (`snakemake --report`).

The report shows an HTML result in a frame, from a data URI, so each page here must stand alone: its style is
inline, its images are PNG data URIs, and nothing is fetched. A table's page renders its markdown (pipe tables,
headings, notes) or its CSV as real HTML tables, so the report shows Table 1 rather than a link to a file.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd
from markdown_it import MarkdownIt
from PIL import Image

from morphalign.errors import MorphalignError
from morphalign.io import atomic_path

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 14px; color: #1f2328;
       margin: 1.2em; line-height: 1.45; }
h1 { font-size: 1.4em; } h2 { font-size: 1.2em; margin-top: 1.4em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em 0; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #57606a; } .warn { color: #9a6700; } .bad { color: #cf222e; } .good { color: #1a7f37; }
.flag { display: inline-block; border-radius: 3px; padding: 0 4px; margin-right: 4px; font-size: 0.85em;
        background: #fff8c5; border: 1px solid #d4a72c; }
.flag.failed { background: #ffebe9; border-color: #cf222e; }
figure { display: inline-block; margin: 3px; text-align: center; font-size: 0.8em; }
figure img { display: block; image-rendering: pixelated; border: 3px solid transparent; }
figure.true img { border-color: #1a7f37; }
pre { background: #f6f8fa; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
"""

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")


def page(title: str, body: str) -> str:
    """A whole standalone HTML document: the title as its heading, then `body` (already HTML)."""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def write_page(path: str | Path, title: str, body: str) -> None:
    """Write a page atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(page(title, body), encoding="utf-8")


def markdown_html(text: str) -> str:
    """Markdown (with pipe tables) as HTML; raw HTML in the source is escaped, not passed through."""
    return _MD.render(text)


def frame_html(frame: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    """A data frame as an HTML table; numbers right-aligned, missing values blank."""
    heads = "".join(f"<th{_num_class(frame[c])}>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for c in frame.columns:
            value = row[c]
            cells.append(f"<td{_num_class(frame[c])}>{html.escape(_cell(value, float_format))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>\n<thead><tr>{heads}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"


def _num_class(column: pd.Series) -> str:
    return ' class="num"' if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column) else ""


def _cell(value: object, float_format: str) -> str:
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):  # None, NaN, pd.NA, NaT
        return ""
    if isinstance(value, float | np.floating):
        return float_format.format(float(value))
    return str(value)


def table_page(source: str | Path, out: str | Path, title: str) -> None:
    """Render a results table (`.md` or `.csv`) as a standalone page; the source file is named under it."""
    source = Path(source)
    if not source.is_file():
        raise MorphalignError(f"{source}: table not found")
    if source.suffix == ".md":
        body = markdown_html(source.read_text(encoding="utf-8"))
    elif source.suffix == ".csv":
        try:
            frame = pd.read_csv(source)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise MorphalignError(f"{source}: not a readable CSV ({exc})") from exc
        body = frame_html(frame)
    else:
        raise MorphalignError(f"{source}: a table page needs a .md or .csv file, not {source.suffix!r}")
    body += f'<p class="note">From <code>{html.escape(source.name)}</code>.</p>'
    write_page(out, title, body)


def png_data_uri(image: np.ndarray, scale: int = 1) -> str:
    """A 2-D image as a PNG data URI, stretched to its own min..max (radio cut-outs are mostly empty sky) and
    enlarged `scale` times without smoothing."""
    if image.ndim != 2:
        raise MorphalignError(f"expected a 2-D image, got shape {image.shape}")
    a = image.astype(np.float64)
    low, high = float(a.min()), float(a.max())
    a = (a - low) / (high - low) if high > low else np.zeros_like(a)
    img = Image.fromarray((a * 255).round().astype(np.uint8), mode="L")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail(image: np.ndarray, caption: str = "", css: str = "", width: int = 110) -> str:
    """An inline image in a <figure>, with an optional caption under it."""
    cls = f' class="{css}"' if css else ""
    under = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    alt = html.escape(caption or "image")
    return (
        f'<figure{cls}><img src="{png_data_uri(image)}" width="{width}" height="{width}" alt="{alt}">{under}</figure>'
    )
