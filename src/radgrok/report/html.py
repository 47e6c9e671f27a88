"""A self-contained HTML page from the markdown reports radgrok writes.

Handles exactly the markdown our reports use (headings, pipe tables, images,
fenced code, bullet lists, paragraphs, **bold**, `code`, links). Images are
referenced by their path relative to the page (the PNGs beside it), so a committed
report does not store each figure twice; ``embed=True`` inlines them as base64 data
URIs instead, for a page to mail or attach as one file.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

__all__ = ["markdown_to_html", "write_html"]

_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #bbb;padding:3px 7px}"
        "th{background:#eee}img{max-width:100%}pre{background:#f4f4f4;padding:0.6em;overflow-x:auto}"
        ".reproduced{background:#d9f2d9}.direction{background:#fff1c2}.open{background:#e4e4f7}"
        ".not{background:#f8d0d0}")
# a verdict cell's grade (its bold text) -> its CSS class
_GRADES = {"reproduced": "reproduced", "direction only": "direction", "open": "open", "not reproduced": "not"}


def _inline(text: str, base: Path, embed: bool = False) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    out = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", lambda m: _img(m.group(1), m.group(2), base, embed), out)
    out = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', out)
    return out


def _img(alt: str, src: str, base: Path, embed: bool = False) -> str:
    png = base / html.unescape(src)
    if not png.exists():
        return f"<em>[missing figure {html.escape(src)}]</em>"
    uri = f"data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}" if embed else src
    return f'<img alt="{alt}" src="{uri}">'


def _cell(text: str, base: Path, tag: str, embed: bool = False) -> str:
    m = re.match(r"\*\*([^*]+)\*\*", text.strip())
    grade = _GRADES.get(m.group(1)) if m and tag == "td" else None
    cls = f' class="{grade}"' if grade else ""
    return f"<{tag}{cls}>{_inline(text.strip(), base, embed)}</{tag}>"


def markdown_to_html(md: str, base: str | Path, title: str = "radgrok report", embed: bool = False) -> str:
    """Convert ``md`` to one HTML document; image paths are resolved against ``base`` (and inlined when
    ``embed``; otherwise referenced by the same relative path)."""
    base = Path(base)
    lines, out, i = md.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre>" + html.escape("\n".join(lines[i + 1:j])) + "</pre>")
            i = j + 1
            continue
        if m := re.match(r"(#{1,6}) (.*)", line):
            n = len(m.group(1))
            out.append(f"<h{n}>{_inline(m.group(2), base, embed)}</h{n}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i].strip().strip("|").split("|"))
                i += 1
            body = [r for r in rows[1:] if not all(set(c.strip()) <= set("-: ") for c in r)]
            out.append("<table><tr>" + "".join(_cell(c, base, "th", embed) for c in rows[0]) + "</tr>" +
                       "".join("<tr>" + "".join(_cell(c, base, "td", embed) for c in r) + "</tr>" for r in body) +
                       "</table>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:], base, embed)}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.strip():
            para = [line]
            while i + 1 < len(lines) and lines[i + 1].strip() and not re.match(r"(#|\||- |```)", lines[i + 1]):
                i += 1
                para.append(lines[i])
            out.append(f"<p>{_inline(' '.join(para), base, embed)}</p>")
        i += 1
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")


def write_html(md: str, path: str | Path, title: str = "radgrok report", embed: bool = False) -> Path:
    """Write the HTML version of ``md`` to ``path`` (images resolved beside it, referenced unless ``embed``)."""
    from ..runs.records import atomic_write_text

    path = Path(path)
    atomic_write_text(path, markdown_to_html(md, path.parent, title, embed))
    return path
