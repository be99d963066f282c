"""The renderer of written answers: hostile cells come out inert, honest ones readable."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import pytest

from labkit.review import render

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
PNG_B64 = base64.b64encode(PNG).decode()
SVG_B64 = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>').decode()

# Elements the renderer may produce; anything else (script, iframe, svg, style, form, ...) fails.
SAFE_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "s", "del", "code", "pre", "blockquote", "ul", "ol",
    "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "img",
    "span", "div",
}  # fmt: skip
SAFE_IMAGE_SRC = re.compile(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/]+=*")


class _Elements(HTMLParser):
    """Collects every start tag with its attributes, as a browser would parse them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {name: value or "" for name, value in attrs}))


def assert_inert(html: str) -> None:
    """Fail if ``html`` holds markup that could run script, load a resource or restyle the page
    (text that merely reads like markup, escaped, is fine)."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    for tag, attributes in parser.elements:
        assert tag in SAFE_TAGS, f"<{tag}> survived in: {html[:500]}"
        for name, value in attributes.items():
            assert not name.startswith("on"), f"{name} survived in: {html[:500]}"
            assert name not in ("style", "srcset", "formaction", "action"), html[:500]
            if name == "src":
                assert SAFE_IMAGE_SRC.fullmatch(value), f"src {value[:80]!r} survived"
            if name == "href":
                assert value.startswith(("https:", "http:", "mailto:")), f"href {value!r}"


def markdown_cell(source: str, attachments: dict | None = None) -> dict:
    """An answer cell of markdown."""
    return {"cell_type": "markdown", "source": source, "attachments": attachments or {}}


def code_cell(source: str, outputs: list[dict]) -> dict:
    """An answer cell of code with its outputs."""
    return {"cell_type": "code", "source": source, "outputs": outputs}


HOSTILE_MARKDOWN = [
    "<script>document.title = 'pwned'</script>",
    "<img src=x onerror=\"document.title='pwned'\">",
    "[click](javascript:document.title='pwned')",
    "[click](JaVaScRiPt:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    "![x](https://tracker.example/pixel.png)",
    '<svg onload="alert(1)"><circle r="4"/></svg>',
    '<iframe src="https://example.org"></iframe>',
    '<a href="https://example.org" onclick="alert(1)">x</a>',
    "<style>body { display: none }</style>",
    '<div style="position:fixed;inset:0">cover</div>',
    "<<script>script>alert(1)<</script>/script>",
    "$\\href{javascript:alert(1)}{click}$",
    "<!-- <script>alert(1)</script> -->",
    "[a]: javascript:alert(1)\n\n[link][a]",
    '<form action="/api/score"><button>go</button></form>',
    "<meta http-equiv=refresh content=0;url=https://example.org>",
]


@pytest.mark.parametrize("source", HOSTILE_MARKDOWN)
def test_hostile_markdown_is_inert(source):
    """Is markdown that tries to run script, load a resource or restyle the page made inert?"""
    html = str(render.render_cells([markdown_cell(source)]))
    assert_inert(html)


HOSTILE_OUTPUTS = [
    {"output_type": "display_data", "data": {"text/html": "<script>alert(1)</script>"}},
    {"output_type": "display_data", "data": {"text/html": "<img src=x onerror=alert(1)>"}},
    {"output_type": "display_data", "data": {"image/svg+xml": '<svg onload="alert(1)"/>'}},
    {"output_type": "display_data", "data": {"application/javascript": "alert(1)"}},
    {"output_type": "execute_result", "data": {"text/markdown": "<script>alert(1)</script>"}},
    {"output_type": "display_data", "data": {"image/png": SVG_B64}},
    {"output_type": "display_data", "data": {"image/png": "not base64 at all <script>"}},
    {"output_type": "display_data", "data": {"image/jpeg": '" onerror="alert(1)'}},
    {"output_type": "stream", "name": "stdout", "text": "</pre><script>alert(1)</script>"},
    {"output_type": "error", "ename": "<script>", "evalue": "x", "traceback": ["<img onerror=1>"]},
]


@pytest.mark.parametrize("output", HOSTILE_OUTPUTS)
def test_hostile_outputs_are_inert(output):
    """Are HTML, SVG, script and forged image outputs shown as text or dropped, never run?"""
    html = str(render.render_cells([code_cell("display(x)", [output])]))
    assert_inert(html)


def test_raw_html_output_is_shown_as_escaped_text():
    """Does a text/html output appear as its escaped source, so the TA sees what it was?"""
    output = {"output_type": "display_data", "data": {"text/html": "<b>bold</b>"}}
    html = str(render.render_cells([code_cell("", [output])]))
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>" not in html


def test_attachment_png_becomes_a_data_uri():
    """Is a PNG attachment shown as an image whose data URI is rebuilt from its bytes?"""
    cell = markdown_cell("![digit](attachment:digit.png)", {"digit.png": {"image/png": PNG_B64}})
    html = str(render.render_cells([cell]))
    assert f'src="data:image/png;base64,{PNG_B64}"' in html
    assert_inert(html)


def test_attachment_that_is_not_the_image_it_claims_is_dropped():
    """Is an 'image/png' attachment holding SVG bytes left out instead of shown?"""
    cell = markdown_cell("![digit](attachment:d.png)", {"d.png": {"image/png": SVG_B64}})
    html = str(render.render_cells([cell]))
    assert "<img" not in html and "image not shown" in html


def test_output_png_and_text_render():
    """Are PNG and plain-text outputs shown (the picture as an image, the text escaped)?"""
    outputs = [
        {"output_type": "display_data", "data": {"image/png": PNG_B64, "text/plain": "<Fig>"}},
        {"output_type": "execute_result", "data": {"text/plain": "array([1, 2]) < 3"}},
    ]
    html = str(render.render_cells([code_cell("plt.imshow(x)", outputs)]))
    assert 'class="output-image"' in html
    assert "array([1, 2]) &lt; 3" in html


def test_math_is_left_for_katex_as_text():
    """Are $...$ and $$...$$ kept as escaped TeX in math elements, not mangled as emphasis?"""
    html = str(render.render_cells([markdown_cell("odds $p_1 < p_2$ and\n\n$$\\sum_i w_i x_i$$")]))
    assert '<span class="math inline">p_1 &lt; p_2</span>' in html
    assert "\\sum_i w_i x_i" in html and "<em>" not in html


def test_markdown_basics_survive():
    """Do headings, emphasis, lists, tables, code and web links still render?"""
    source = (
        "# Title\n\n*it* **bold**\n\n- a\n- b\n\n|x|y|\n|-|-|\n|1|2|\n\n`code` [w](https://e.org)"
    )
    html = str(render.render_cells([markdown_cell(source)]))
    for fragment in ("<h1>", "<em>it</em>", "<strong>bold</strong>", "<li>a</li>", "<table>"):
        assert fragment in html
    assert '<a href="https://e.org" rel="noopener noreferrer nofollow">w</a>' in html


def test_huge_output_is_cut():
    """Is an enormous stream output cut, with a note of how much was left out?"""
    output = {"output_type": "stream", "name": "stdout", "text": "x" * 1_000_000}
    html = str(render.render_cells([code_cell("", [output])]))
    assert len(html) < 2 * render.MAX_TEXT_CHARS
    assert "more characters not shown" in html


def test_too_many_outputs_are_cut():
    """Are outputs past the per-cell limit left out, with a note saying how many?"""
    outputs = [{"output_type": "stream", "name": "stdout", "text": "line"}] * 50
    html = str(render.render_cells([code_cell("", outputs)]))
    assert html.count("<pre") == render.MAX_OUTPUTS_PER_CELL + 1  # the source, then the outputs
    assert "30 more outputs not shown" in html


@pytest.mark.parametrize(
    "cells",
    [None, [], ["not a cell"], [{"cell_type": "code", "source": 5, "outputs": "x"}], [{}]],
)
def test_malformed_cells_do_not_raise(cells):
    """Does a malformed answer render as (almost) nothing instead of failing the page?"""
    html = str(render.render_cells(cells))
    assert_inert(html)
    assert len(html) < 200


def test_terminal_escapes_are_removed():
    """Are ANSI colour codes in tracebacks removed instead of shown as garbage?"""
    output = {
        "output_type": "error",
        "ename": "E",
        "evalue": "v",
        "traceback": ["\x1b[31mred\x1b[0m"],
    }
    html = str(render.render_cells([code_cell("", [output])]))
    assert "red" in html and "\x1b" not in html
