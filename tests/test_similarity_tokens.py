"""Tokens and fingerprints of the similarity report: normalisation, stable hashes, winnowing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from labkit.similarity.fingerprints import (
    TokenHasher,
    fingerprint,
    given_material,
    kgram_hashes,
    winnow,
)
from labkit.similarity.tokens import code_tokens, inline_code, line_keys, text_tokens

ORIGINAL = '''
def softmax(z):
    """Softmax along the last axis."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)
'''

DISGUISED = """
def softmax(logits):   # renamed, commented, respaced
    # subtract the max first
    s=logits-np.max(logits,axis=-1,keepdims=True)

    expd = np.exp( s )  # exponentiate
    return expd/expd.sum(axis = -1, keepdims = True)
"""


def test_renaming_comments_and_spacing_do_not_change_code_tokens():
    """Do a renamed, commented and respaced copy and its original give the same tokens?"""
    assert code_tokens(ORIGINAL).norm == code_tokens(DISGUISED).norm


def test_what_a_renaming_cannot_touch_is_kept():
    """Are builtins, attributes, keyword arguments, modules and numbers kept, names and strings
    replaced?"""
    tokens = code_tokens("import numpy as np\nx = len(np.exp(y, axis=2)) + \"a\" 'b' + 2.5")
    assert tokens.norm == [
        *["import", "numpy", "as", "np", "V", "=", "len", "(", "V", ".", "exp", "("],
        *["V", ",", "axis", "=", "2", ")", ")", "+", "S", "+", "2.5"],
    ]
    assert "V" not in code_tokens('f"{y}!"').norm[:1]  # one literal (in pieces on 3.12)


def test_self_and_cls_are_names_a_student_chose():
    """Is a variable renamed to ``cls`` or ``self`` still a name like any other?"""
    assert code_tokens("cls = k + 1").norm == code_tokens("idx = k + 1").norm


def test_a_different_program_gives_different_tokens():
    """Does changing what the code does (an operator, a method) change its tokens?"""
    assert code_tokens("e / e.sum()").norm != code_tokens("e * e.max()").norm


@pytest.mark.parametrize(
    "source",
    [
        "def f(x:\n    return [1, 2",
        "%matplotlib inline\n!pip install numpy\nx = 1",
        "'''never closed\nx = 1",
        "\x00\x01 \ufeff λ = 3 ; ⁉",
        "",
    ],
)
def test_code_that_does_not_parse_is_tokenised_all_the_same(source):
    """Does a cell that is not valid Python give tokens whose offsets point into it?"""
    tokens = code_tokens(source)
    for start, end in zip(tokens.starts.tolist(), tokens.ends.tolist(), strict=True):
        assert 0 <= start < end <= len(source)
    assert (len(tokens) > 0) == bool(source.strip())


def test_reading_resumes_after_a_line_the_tokenizer_stops_at():
    """Is the code after an unindent that matches no block, or a string never closed, read?"""
    assert code_tokens("def f(x):\n    y = 1\n  z = 2\nw = 3").norm[-6:] == [
        "V",
        "=",
        "2",
        "V",
        "=",
        "3",
    ]
    assert code_tokens("'''never closed\nx = 1").norm == ["V", "=", "1"]
    assert code_tokens("s = 'no end\nt = 2").norm[-3:] == ["V", "=", "2"]


def test_a_docstring_is_dropped_but_a_string_in_an_expression_is_not():
    """Is a statement that is only a string dropped, and a string used in code kept as S?"""
    assert code_tokens('"""doc"""\nx = "text"\n"other"  # note').norm == ["V", "=", "S"]


def test_offsets_cover_each_token_as_written():
    """Does each token's span hold the token's text (a whole string literal for ``S``)?"""
    tokens = code_tokens(DISGUISED)
    raw = [DISGUISED[s:e] for s, e in zip(tokens.starts, tokens.ends, strict=True)]
    assert raw[:6] == ["def", "softmax", "(", "logits", ")", ":"]
    assert all(r == n for r, n in zip(raw, tokens.norm, strict=True) if n not in ("V", "S"))


def test_text_tokens_are_case_folded_words():
    """Are a written answer's tokens its words, case-folded, punctuation and markdown aside?"""
    tokens = text_tokens("**Hard:** 5 and 8 -- the *model's* $z_k$ confuses them.")
    assert tokens.norm == ["hard", "5", "and", "8", "the", "model", "s", "z_k", "confuses", "them"]
    assert "**Hard:** 5"[tokens.starts[0] : tokens.ends[0]] == "Hard"


def test_token_count_is_capped():
    """Is an answer of more tokens than the limit cut, and marked as cut?"""
    tokens = code_tokens("x = 1\n" * 100, limit=50)
    assert len(tokens) == 50 and tokens.cut
    assert not code_tokens("x = 1\n", limit=50).cut
    assert text_tokens("word " * 60, limit=50).cut


def test_inline_code_of_a_prompt():
    """Are a markdown prompt's fenced blocks and inline code spans found?"""
    markdown = "Use `np.exp(z)` here.\n\n```python\ny = f(x)\n```\nand `a`."
    assert inline_code(markdown) == ["y = f(x)\n", "np.exp(z)", "a"]


def test_line_keys_are_the_tokens_of_each_line_as_written():
    """Does each token carry its line's tokens, without comments and spacing?"""
    text = "x = f( a )  # note\ny = 2"
    line_of, keys = line_keys(text, code_tokens(text))
    assert keys == [("x", "=", "f", "(", "a", ")"), ("y", "=", "2")]
    assert line_of.tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1]
    assert line_keys("[" + "1, " * 300 + "]", code_tokens("[" + "1, " * 300 + "]"))[1] == [()]


def test_kgram_hashes_are_fixed_values():
    """Are k-gram hashes the same values in every process (not salted like ``hash``)?"""
    hashes = kgram_hashes(TokenHasher()(["def", "V", "(", "V", ")"]), 3)
    assert hashes.tolist() == [12417686337221489451, 13305587016382615355, 4863887212676214283]


@pytest.mark.slow
def test_kgram_hashes_are_the_same_in_another_process():
    """Are the hashes independent of Python's per-process salt (PYTHONHASHSEED)?"""
    norm = code_tokens(ORIGINAL).norm
    here = kgram_hashes(TokenHasher()(norm), 5).tolist()
    script = (
        "import sys, json\n"
        "from labkit.similarity.fingerprints import TokenHasher, kgram_hashes\n"
        "norm = json.loads(sys.stdin.read())\n"
        "print(json.dumps(kgram_hashes(TokenHasher()(norm), 5).tolist()))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(norm),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(done.stdout) == here


def test_kgrams_of_a_short_document():
    """Does a document shorter than k have no k-gram, and one of length k exactly one?"""
    hashes = TokenHasher()(["a", "b", "c"])
    assert len(kgram_hashes(hashes, 4)) == 0
    assert len(kgram_hashes(hashes, 3)) == 1
    assert kgram_hashes(hashes, 2)[0] != kgram_hashes(TokenHasher()(["b", "a"]), 2)[0]


def test_winnowing_keeps_the_rightmost_minimum_of_each_window():
    """Are the selected positions those of the rightmost smallest hash in every window?"""
    hashes = np.array([5, 3, 3, 7, 1, 4], dtype=np.uint64)
    assert winnow(hashes, 3).tolist() == [2, 4]
    assert winnow(hashes, 1).tolist() == list(range(6))
    assert winnow(hashes[:2], 3).tolist() == [1]
    assert winnow(np.zeros(0, dtype=np.uint64), 3).tolist() == []


def test_a_long_enough_shared_run_always_shares_a_fingerprint():
    """Does every shared run of window + k - 1 tokens share a selected fingerprint?"""
    rng = np.random.default_rng(5)
    hasher, k, window = TokenHasher(), 5, 4
    for _ in range(50):
        shared = [f"t{n}" for n in rng.integers(0, 30, size=window + k - 1)]
        a = [f"a{n}" for n in rng.integers(0, 30, size=20)] + shared
        b = shared + [f"b{n}" for n in rng.integers(0, 30, size=20)]
        ha, hb = kgram_hashes(hasher(a), k), kgram_hashes(hasher(b), k)
        assert set(ha[winnow(ha, window)].tolist()) & set(hb[winnow(hb, window)].tolist())


def test_handed_out_kgrams_and_lines_are_not_the_students_own():
    """Are tokens of handed-out k-grams and of handed-out lines not own, and not fingerprints?"""
    given_text = "def f(x):\n    ...\n\n\nresult = f(data)\nresult\n"
    hasher = TokenHasher()
    given = given_material([(given_text, code_tokens(given_text))], hasher, 4, lines=True)
    answer = (
        "def f(x):\n    total = x.sum() * 2 + x.max()\n    return total\n\n\nresult = f(data)\n"
    )
    tokens = code_tokens(answer)
    doc = fingerprint("s", answer, tokens, hasher=hasher, k=4, window=2, handed_out=given)
    own = [t for t, g in zip(tokens.norm, doc.handed_out.tolist(), strict=True) if not g]
    assert own[0] == "V" and own[-1] == "V" and "sum" in own and "def" not in own
    assert doc.own_tokens == len(own) < len(tokens)
    given_hashes = set(given.hashes.tolist())
    assert doc.fingerprints and not set(doc.fingerprints) & given_hashes
