"""Turn a submission's written-answer cells into HTML that is safe to show in a TA's browser.

Everything in an answer cell was written by a student and is treated as hostile. Markdown is
parsed with raw HTML off, math is left as text for KaTeX to typeset in the browser, and the
result always goes through nh3 with a short allow-list. Images appear only as ``data:`` URIs that
are built here from attachments or outputs whose bytes really are PNG, JPEG or GIF; SVG, HTML
and every other rich output are shown as escaped text, and long outputs are cut.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Iterable, Mapping

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup
from mdit_py_plugins.dollarmath import dollarmath_plugin

# Sizes past which a student's output is cut: enough to grade, small enough that 200 answers
# on one page stay quick to load.
MAX_TEXT_CHARS = 10_000
MAX_SOURCE_CHARS = 20_000
MAX_IMAGE_BYTES = 2_000_000
MAX_OUTPUTS_PER_CELL = 20

IMAGE_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}

_DATA_URI = re.compile(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/]+={0,2}")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_ALLOWED_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "s", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "img", "span", "div",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
_ALLOWED_CLASSES = {
    "span": {"math", "inline"},
    "div": {"math", "block", "cell", "cell-markdown", "cell-code", "output", "notice"},
    "pre": {"source", "output", "stream-stderr", "error", "as-text"},
    "img": {"output-image"},
}
_LINK_SCHEMES = ("http:", "https:", "mailto:")


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter: images only from data URIs built here, links only to the web."""
    if tag == "img" and attribute == "src":
        return value if _DATA_URI.fullmatch(value) else None
    if tag == "a" and attribute == "href":
        # Relative links and fragments could point back into the app; only the web and mail.
        return value if value.lower().startswith(_LINK_SCHEMES) else None
    return value


def sanitize_html(fragment: str) -> str:
    """Clean an HTML fragment with the review pages' allow-list (the last step of every render)."""
    return nh3.clean(
        fragment,
        tags=_ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ALLOWED_ATTRIBUTES,
        allowed_classes=_ALLOWED_CLASSES,
        attribute_filter=_keep_attribute,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _text(value: object) -> str:
    """A notebook string field (a string or a list of strings), or '' for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "".join(value)
    return ""


def clip(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` without terminal escapes or control characters, cut to ``limit`` characters."""
    text = _CONTROL.sub("", _ANSI_ESCAPE.sub("", text))
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n... ({len(text) - limit} more characters not shown)"


def image_data_uri(mime: str, data: object) -> str | None:
    """A ``data:`` URI for base64 image data whose bytes match ``mime``, or None if they do not.

    The URI is re-encoded from the decoded bytes, so nothing the student wrote is copied into
    the attribute verbatim.
    """
    signatures = IMAGE_SIGNATURES.get(mime)
    encoded = _text(data)
    if signatures is None or not encoded or len(encoded) > MAX_IMAGE_BYTES * 4 // 3 + 4096:
        return None
    try:
        raw = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) > MAX_IMAGE_BYTES or not raw.startswith(signatures):
        return None
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _attachment_uri(attachments: Mapping, name: str) -> str | None:
    """The data URI of attachment ``name``, from its first bundle that is a real image."""
    bundle = attachments.get(name)
    if not isinstance(bundle, Mapping):
        return None
    for mime in IMAGE_SIGNATURES:
        if mime in bundle and (uri := image_data_uri(mime, bundle[mime])):
            return uri
    return None


def _markdown_parser() -> MarkdownIt:
    """A CommonMark parser with raw HTML off, tables, strikethrough and ``$``/``$$`` math."""
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    parser.use(dollarmath_plugin, double_inline=True)

    def render_image(self, tokens, index, options, env):
        token = tokens[index]
        source = str(token.attrGet("src") or "")
        alt = self.renderInlineAsText(token.children or [], options, env)
        uri = None
        if source.startswith("attachment:"):
            uri = _attachment_uri(env.get("attachments", {}), source.removeprefix("attachment:"))
        if uri is None:
            # Remote images would let a submission see when and where it is read: never load.
            return f"[image not shown: {html.escape(clip(source, 200))}]"
        return f'<img src="{uri}" alt="{html.escape(alt)}">'

    parser.add_render_rule("image", render_image)
    return parser


_MARKDOWN = _markdown_parser()


def render_markdown(source: str, *, attachments: Mapping | None = None) -> str:
    """Sanitised HTML for one markdown text; ``attachment:`` images come from ``attachments``."""
    env = {"attachments": attachments if isinstance(attachments, Mapping) else {}}
    return sanitize_html(_MARKDOWN.render(clip(source, MAX_SOURCE_CHARS), env))


def _pre(text: str, css_class: str) -> str:
    """Escaped text in a ``<pre>`` block."""
    return f'<pre class="{css_class}">{html.escape(clip(text))}</pre>'


def render_output(output: object) -> str:
    """HTML for one nbformat output: images from PNG/JPEG/GIF, everything else as plain text."""
    if not isinstance(output, Mapping):
        return ""
    kind = output.get("output_type")
    if kind == "stream":
        css = "output stream-stderr" if output.get("name") == "stderr" else "output"
        return _pre(_text(output.get("text")), css)
    if kind == "error":
        lines = [f"{_text(output.get('ename'))}: {_text(output.get('evalue'))}"]
        traceback = output.get("traceback")
        if isinstance(traceback, list):
            lines += [line for line in traceback if isinstance(line, str)]
        return _pre("\n".join(lines), "output error")
    data = output.get("data")
    if kind not in ("execute_result", "display_data") or not isinstance(data, Mapping):
        return ""
    for mime in IMAGE_SIGNATURES:
        if mime in data and (uri := image_data_uri(mime, data[mime])):
            return f'<img class="output-image" src="{uri}" alt="output image">'
    if "text/markdown" in data:
        return render_markdown(_text(data["text/markdown"]))
    if "text/plain" in data:
        return _pre(_text(data["text/plain"]), "output")
    # Rich outputs a student controls are never interpreted: HTML and SVG can run script.
    for mime in ("text/html", "image/svg+xml", "text/latex", "application/javascript"):
        if mime in data:
            return _pre(f"[{mime} shown as text]\n{_text(data[mime])}", "output as-text")
    kinds = ", ".join(sorted(str(key) for key in data))
    return f'<div class="notice">[output not shown: {html.escape(clip(kinds, 200))}]</div>'


def render_cell(cell: object) -> str:
    """HTML for one answer cell: rendered markdown, or code with its outputs."""
    if not isinstance(cell, Mapping):
        return ""
    source = _text(cell.get("source"))
    if cell.get("cell_type") == "markdown":
        body = render_markdown(source, attachments=cell.get("attachments"))
        return f'<div class="cell cell-markdown">{body}</div>'
    outputs = cell.get("outputs")
    outputs = outputs if isinstance(outputs, list) else []
    parts = [
        f'<pre class="source"><code>{html.escape(clip(source, MAX_SOURCE_CHARS))}</code></pre>'
    ]
    parts += [render_output(output) for output in outputs[:MAX_OUTPUTS_PER_CELL]]
    if len(outputs) > MAX_OUTPUTS_PER_CELL:
        hidden = len(outputs) - MAX_OUTPUTS_PER_CELL
        parts.append(f'<div class="notice">[{hidden} more outputs not shown]</div>')
    return f'<div class="cell cell-code">{"".join(parts)}</div>'


def render_cells(cells: Iterable[object] | None) -> Markup:
    """Safe HTML for a list of answer cells, ready to drop into a Jinja template."""
    body = "".join(render_cell(cell) for cell in (cells or []))
    # A second pass over the whole answer: whatever any branch above let through, this decides.
    return Markup(sanitize_html(body))
