"""The report's blocks rendered as Markdown (report.md) and as one self-contained HTML file.

A block is ("h2", text) | ("p", text) | ("ul", [text]) | ("table", shown, csv[, raw])
| ("fig", name, png, alt); text may use `code` and **bold**.
"""

from __future__ import annotations

import base64
import html
import re

Block = tuple
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
    for kind, *rest in blocks:
        if kind == "h2":
            parts.append(f"## {rest[0]}")
        elif kind == "p":
            parts.append(rest[0])
        elif kind == "ul":
            parts.append("\n".join(f"- {item}" for item in rest[0]))
        elif kind == "table":
            df, csv = rest[:2]
            cells = [[str(v).replace("|", "\\|") for v in row] for row in df.itertuples(False)]
            lines = ["| " + " | ".join(map(str, df.columns)) + " |",
                     "|" + "---|" * len(df.columns), *("| " + " | ".join(c) + " |" for c in cells)]
            parts.append("\n".join(lines) + (f"\n\n([{csv}]({csv}))" if csv else ""))
        elif kind == "fig":
            parts.append(f"![{rest[2]}](figures/{rest[0]}.png)")
    return "\n\n".join(parts) + "\n"


def to_html(title: str, blocks: list[Block]) -> str:
    """report.html: one file, figures inlined as base64 PNG, CSS inline, nothing fetched."""
    parts = [f"<h1>{_inline(title)}</h1>"]
    for kind, *rest in blocks:
        if kind == "h2":
            parts.append(f"<h2>{_inline(rest[0])}</h2>")
        elif kind == "p":
            parts.append(f"<p>{_inline(rest[0])}</p>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in rest[0]) + "</ul>")
        elif kind == "table":
            df = rest[0]
            head = "".join(f"<th>{_inline(str(c))}</th>" for c in df.columns)
            body = "".join("<tr>" + "".join(_cell(str(v)) for v in row) + "</tr>"
                           for row in df.itertuples(False))
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        elif kind == "fig":
            data = base64.b64encode(rest[1]).decode()
            parts.append(f'<img alt="{html.escape(rest[2])}" src="data:image/png;base64,{data}">')
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
