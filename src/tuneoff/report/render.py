"""A tiny document model (headings, paragraphs, tables, images) rendered twice:
as one self-contained HTML page (images inline as data URIs) and as Markdown
with the figures beside it. Used by :mod:`tuneoff.report`; no torch."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field

from tuneoff.report import embed, figures
from tuneoff.store.runfolder import RunFolder

FIGURES = RunFolder.FIGURES  # the report's Markdown links to its figures beside it


# --- document blocks, rendered twice (HTML and Markdown) --------------------------------------


@dataclass(frozen=True)
class Badge:
    text: str
    kind: str  # collapsed | fastest | failed | interrupted | running | missing | warn


@dataclass(frozen=True)
class Small:
    text: str  # a second, smaller line in HTML; parenthesised in Markdown


@dataclass(frozen=True)
class Link:
    text: str
    anchor: str  # a heading's id in the HTML, the same as GitHub's Markdown heading anchor


@dataclass(frozen=True)
class Swatch:
    color: str  # a player's colour; HTML only


@dataclass(frozen=True)
class View:
    name: str  # the chart's id in the page
    spec: dict  # Vega-Lite, drawn in the browser by view.js
    caption: str
    linked: bool = False  # follows the leaderboard's filter (has the f_player, f_strategy, f_dataset params)


@dataclass
class Block:
    kind: str  # h2 | h3 | p | note | warn | table | list | code | image | view (HTML only)
    parts: object = None  # text: str | Badge | Swatch or a list of them
    anchor: str = ""
    headers: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    align: str = ""  # one 'l' or 'r' per column
    row_ids: list = field(default_factory=list)
    row_data: list = field(default_factory=list)  # per row, {key: value} written as data-<key> (HTML)
    filter: str = ""  # a table's keys of row_data the reader can filter on, space-separated (HTML)
    chart: figures.Chart | None = None
    only: str = ""  # "html" or "md": rendered in that format alone


def image_chart(b: Block) -> figures.Chart:
    """An image block's chart (every image block is made with one)."""
    if b.chart is None:
        raise ValueError(f"an image block without its chart: {b}")
    return b.chart


def _view(b: Block) -> View:
    """A view block's view (its parts)."""
    if not isinstance(b.parts, View):
        raise TypeError(f"a view block holds a View, not {type(b.parts).__name__}")
    return b.parts


def _flat(parts) -> list:
    return [p for p in (parts if isinstance(parts, list) else [parts]) if p is not None and p != ""]


_MD = re.compile(r"[\\`*\[\]<>|]|(?<!\w)_|_(?!\w)|^#")


def md_text(text: str) -> str:
    return _MD.sub(lambda m: "\\" + m.group(0), str(text)).replace("\r", " ").replace("\n", " ")


def _md_inline(parts) -> str:
    out = []
    for p in _flat(parts):
        if isinstance(p, Badge):
            out.append(f"**{md_text(p.text)}**")
        elif isinstance(p, Small):
            out.append(f"({md_text(p.text)})")
        elif isinstance(p, Link):
            out.append(f"[{md_text(p.text)}](#{p.anchor})")
        elif not isinstance(p, Swatch):
            out.append(md_text(p))
    return " ".join(out)


def _html_inline(parts) -> str:
    out, parts, i = [], _flat(parts), 0
    while i < len(parts):
        p, i = parts[i], i + 1
        if isinstance(p, Swatch):
            swatch = f'<span class="swatch" aria-hidden="true" style="background:{html.escape(p.color)}"></span>'
            if i < len(parts) and isinstance(parts[i], str):
                # The swatch stays on the line of the name's first word.
                text, i = parts[i], i + 1
                match = re.match(r"[^\s-]*-?", text)  # always matches, if only the empty string
                head = match.group(0) if match else ""
                swatch = f'<span class="nowrap">{swatch}{html.escape(head)}</span>{html.escape(text[len(head) :])}'
            out.append(swatch)
        elif isinstance(p, Badge):
            out.append(f'<span class="badge {p.kind}">{html.escape(p.text)}</span>')
        elif isinstance(p, Small):
            out.append(f"<br><small>{html.escape(p.text)}</small>")
        elif isinstance(p, Link):
            out.append(f'<a href="#{html.escape(p.anchor)}">{html.escape(p.text)}</a>')
        else:
            out.append(html.escape(str(p)))
    return " ".join(out)


def _png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def render_md(blocks: list[Block]) -> str:
    lines = []
    for b in blocks:
        if b.only == "html" or b.kind == "view":
            continue
        if b.kind in ("h1", "h2", "h3"):
            lines += ["#" * int(b.kind[1]) + " " + _md_inline(b.parts), ""]
        elif b.kind in ("p", "note", "warn"):
            lines += [("> " if b.kind != "p" else "") + _md_inline(b.parts), ""]
        elif b.kind == "list":
            lines += [f"- {_md_inline(item)}" for item in b.rows] + [""]
        elif b.kind == "code":  # shell commands, one per row, pasted as they are
            fence = "~~~~" if any("```" in r for r in b.rows) else "```"
            lines += [f"{fence}sh", *b.rows, fence, ""]
        elif b.kind == "table":
            lines.append("| " + " | ".join(map(md_text, b.headers)) + " |")
            lines.append("|" + "|".join("---:" if a == "r" else "---" for a in b.align) + "|")
            lines += ["| " + " | ".join(_md_inline(c) or " " for c in row) + " |" for row in b.rows]
            lines.append("")
        elif b.kind == "image":
            c = image_chart(b)
            lines += [f"![{md_text(c.alt)}]({FIGURES}/{c.name}.png)", "", f"*{md_text(c.caption)}*", ""]
    return "\n".join(lines)


def render_html(blocks: list[Block], title: str) -> str:
    body = []
    for b in blocks:
        if b.only == "md":
            continue
        anchor = f' id="{html.escape(b.anchor)}"' if b.anchor else ""
        if b.kind in ("h1", "h2", "h3"):
            body.append(f"<{b.kind}{anchor}>{_html_inline(b.parts)}</{b.kind}>")
        elif b.kind in ("p", "note", "warn"):
            body.append(f'<p class="{b.kind}">{_html_inline(b.parts)}</p>')
        elif b.kind == "list":
            body.append("<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in b.rows) + "</ul>")
        elif b.kind == "code":
            body.append("<pre><code>" + html.escape("\n".join(b.rows)) + "</code></pre>")
        elif b.kind == "table":
            head = "".join(f'<th class="{a}">{html.escape(h)}</th>' for h, a in zip(b.headers, b.align))
            rows = []
            for i, row in enumerate(b.rows):
                data = {"player": b.row_ids[i]} if b.row_ids else {}
                data.update(b.row_data[i] if b.row_data else {})
                rid = "".join(f' data-{k}="{html.escape(v)}"' for k, v in data.items())
                cells = "".join(f'<td class="{a}">{_html_inline(c)}</td>' for c, a in zip(row, b.align))
                rows.append(f"<tr{rid}>{cells}</tr>")
            keys = f' data-filter="{html.escape(b.filter)}"' if b.filter else ""
            body.append(
                f'<div class="scroll"><table{anchor}{keys}><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(rows)}</tbody></table></div>"
            )
        elif b.kind == "image":
            c = image_chart(b)
            w, h = _png_size(c.png)
            encoded = base64.b64encode(c.png).decode("ascii")
            body.append(
                f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(c.alt)}" '
                f'width="{w}" height="{h}"><figcaption>{html.escape(c.caption)}</figcaption></figure>'
            )
        elif b.kind == "view":
            v = _view(b)
            body.append(
                f"<figure>{embed.view_html(v.name, v.spec, v.linked)}"
                f"<figcaption>{html.escape(v.caption)}</figcaption></figure>"
            )
    if any(b.kind == "view" for b in blocks):
        body.append(embed.script(embed.vega_bundle()))
    body.append(embed.script(embed.view_script()))
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d2430;
background:#eef0f3;line-height:1.45}
main{max-width:1280px;margin:0 auto;padding:1rem 2rem 3rem;background:#fff;min-height:100vh}
h1{font-size:1.7rem;margin:.8rem 0 .3rem}h2{font-size:1.35rem;border-bottom:2px solid #dde1e6;
padding-bottom:.2rem;margin-top:2.4rem}h3{font-size:1.1rem;margin-top:1.8rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.86rem;margin:.5rem 0 1rem}
th,td{padding:.3rem .55rem;border-bottom:1px solid #e3e6ea;vertical-align:top;text-align:left}
th{background:#f0f2f5}th.r,td.r{text-align:right;font-variant-numeric:tabular-nums}td.r{white-space:nowrap}
small{color:#5a6270}.nowrap{white-space:nowrap}
tbody tr:hover{background:#f8f9fb}
.badge{display:inline-block;padding:0 .45rem;border-radius:.7rem;font-size:.74rem;font-weight:700;
white-space:nowrap;color:#fff;background:#607080}
.badge.collapsed,.badge.failed{background:#c62828}.badge.fastest{background:#ffb300;color:#222}.badge.best{background:#2e7d32}.badge.missing{background:#6d4c41}
.badge.interrupted,.badge.warn{background:#ef6c00}.badge.running{background:#1565c0}.badge.missing{background:#78808a}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;vertical-align:-.05em;margin-right:.3em}
p.note,p.warn{padding:.5rem .8rem;border-radius:4px;border-left:4px solid #1565c0;background:#eef4fb}
p.warn{border-left-color:#c62828;background:#fdf0f0}
pre{background:#f4f5f7;border:1px solid #e3e6ea;border-radius:4px;padding:.6rem .8rem;overflow-x:auto;
font-size:.84rem}
figure{margin:1rem 0 1.6rem}figure img{max-width:100%;height:auto;border:1px solid #e3e6ea}
figcaption{font-size:.86rem;color:#4a5260;margin-top:.2rem}
.filters{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:center;font-size:.86rem;margin:.6rem 0 0}
.filters select{font:inherit;margin-left:.3rem}table[data-filter] th{cursor:pointer}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
.view{min-height:60px}.vega-bind{font-size:.86rem;margin-top:.4rem}
"""
