"""The report's blocks (harness.report.blocks) rendered as Markdown (report.md) and as one
self-contained HTML file (report.html). Text may use `code` and **bold**; an Attachment is
a file beside the report and renders as nothing.
"""

from __future__ import annotations

import base64
import html
import re

from harness.report.blocks import Block, Bullets, Figure, Heading, Paragraph, Table

CSS = ("body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
       "color:#222}table{border-collapse:collapse;margin:.6em 0;font-size:13px}"
       "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f2f2f2}"
       "td.n{text-align:right;white-space:nowrap}tr:nth-child(even){background:#fafafa}"
       "code{background:#f2f2f2;padding:0 3px}img{max-width:100%;display:block;margin:.5em 0}"
       "h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;margin-top:1.6em}")


def _inline(text: str) -> str:
    """The Markdown used in blocks (`code`, **bold**) as escaped HTML."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


def _cell(text: str) -> str:
    """A table cell; numbers (and intervals of them) right-aligned so digits line up."""
    numeric = re.fullmatch(r"[-+−—\d.,%\[\] ]+", text) is not None
    return f'<td class="n">{_inline(text)}</td>' if numeric else f"<td>{_inline(text)}</td>"


def to_markdown(title: str, blocks: list[Block]) -> str:
    """report.md: figures and CSVs are files beside it."""
    parts = [f"# {title}"]
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"## {b.text}")
        elif isinstance(b, Paragraph):
            parts.append(b.text)
        elif isinstance(b, Bullets):
            parts.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Table):
            df, csv = b.shown, b.csv
            cells = [[str(v).replace("|", "\\|") for v in row] for row in df.itertuples(False)]
            lines = ["| " + " | ".join(map(str, df.columns)) + " |",
                     "|" + "---|" * len(df.columns), *("| " + " | ".join(c) + " |" for c in cells)]
            parts.append("\n".join(lines) + (f"\n\n([{csv}]({csv}))" if csv else ""))
        elif isinstance(b, Figure):
            parts.append(f"![{b.alt}](figures/{b.name}.png)")
    return "\n\n".join(parts) + "\n"


def to_html(title: str, blocks: list[Block]) -> str:
    """report.html: one file, figures inlined as base64 PNG, CSS inline, nothing fetched."""
    parts = [f"<h1>{_inline(title)}</h1>"]
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"<h2>{_inline(b.text)}</h2>")
        elif isinstance(b, Paragraph):
            parts.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Bullets):
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            df = b.shown
            head = "".join(f"<th>{_inline(str(c))}</th>" for c in df.columns)
            body = "".join("<tr>" + "".join(_cell(str(v)) for v in row) + "</tr>"
                           for row in df.itertuples(False))
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        elif isinstance(b, Figure):
            data = base64.b64encode(b.png).decode()
            parts.append(f'<img alt="{html.escape(b.alt)}" src="data:image/png;base64,{data}">')
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
