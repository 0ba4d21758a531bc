"""User text made safe to show: one rule for every view billplan prints.

Descriptions, names, keys, file names and what a vendor returns are user text, and any of it
may be hostile. A character that could move the cursor, clear or retitle a terminal, open a
hyperlink, reorder a line (bidi controls) or hide itself (invisible format characters) is
shown as a visible escape instead: `\\x1b`, `\\r`, `\\u202e`. Every other character, whatever
its script, is shown as itself. `visible` is that rule; the other functions put its result
into one view's syntax (rich markup, JSON) without changing what it means there.

A CI log is read by a machine too: a GitHub Actions runner obeys any line of a step's output
that starts with `::` once leading spaces are trimmed (`::add-mask::word`, `::stop-commands::`)
or that holds `##[` anywhere (the older form). So user text never holds `##[` nor starts a
word with `::`: they are shown as `#\\x23[` and `:\\x3a`. billplan's own output never folds
a line where it is not a terminal (compiler.render.terminal), so user text cannot start a
line but where billplan starts it, or after a space.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Unicode categories never shown as themselves: controls (C0, DEL, C1; Cc), format characters
# (bidi embeddings, overrides and isolates, marks, zero-width spaces, soft hyphen, tags; Cf),
# lone surrogates (Cs: a terminal cannot even encode them) and the line and paragraph
# separators (Zl, Zp), which end a line as a newline does.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Format characters that Persian, Indic scripts and emoji need to be spelt right, and that
# cannot reorder, hide or move other text: shown as themselves.
_JOINERS = frozenset({"\u200c", "\u200d"})  # zero-width non-joiner, zero-width joiner
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# A workflow command's start: `##[` anywhere, `::` at the start of a word (so of a line).
_COMMAND = re.compile(r"##\[|(?<!\S)::")
_DEFUSED = {"##[": "#\\x23[", "::": ":\\x3a"}


def hidden(char: str) -> bool:
    """True for a character that `visible` writes as an escape."""
    return unicodedata.category(char) in _HIDDEN_CATEGORIES and char not in _JOINERS


def escaped(char: str) -> str:
    """The escape `visible` shows for a hidden character: Python's spelling of it."""
    if char in _SHORT:
        return _SHORT[char]
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def visible(text: Any, *, keep_newlines: bool = False) -> str:
    """`text` with every hidden character shown as its escape; with `keep_newlines`, a
    newline stays a line break (for billplan's own messages of several lines)."""
    text = str(text)
    # Nearly all text is printable (Python counts spaces other than " " and private-use
    # characters as not printable; those are kept below): C-speed checks decide.
    if not text.isprintable():
        text = "".join(
            escaped(char) if hidden(char) and not (keep_newlines and char == "\n") else char
            for char in text
        )
    if "##[" in text or "::" in text:
        text = _COMMAND.sub(lambda found: _DEFUSED[found.group()], text)
    return text


def markup(text: Any, *, keep_newlines: bool = False) -> str:
    """User text inside rich markup: visible, and its square brackets never read as tags
    (`[bold]`, `[link=...]`)."""
    # rich is imported when text is first marked up (30 ms): `validate` and `render
    # --format json` never do.
    from rich.markup import escape

    return escape(visible(text, keep_newlines=keep_newlines))


def _json_escape(char: str) -> str:
    point = ord(char)
    if point < 0x10000:
        return f"\\u{point:04x}"
    high, low = divmod(point - 0x10000, 0x400)  # JSON spells a character past the BMP
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"  # as a UTF-16 surrogate pair


def json_visible(text: str) -> str:
    """JSON text (as json.dumps writes it) with every hidden character inside its strings
    written as a \\u escape, and the `#` of a `##[` too: the same data for any JSON reader,
    and safe on a terminal and in a CI log. Such characters occur only inside strings, so the
    text stays valid JSON. (No JSON line starts with `::`: a string starts with a quote.)"""
    if "#" in text and "##[" in text:  # one character is found ten times as fast
        text = text.replace("##[", "#\\u0023[")
    if text.isascii():  # json.dumps escaped the C0 controls already: DEL is the one left
        return text.replace("\x7f", "\\u007f")
    # json.dumps escapes C0 controls inside strings: the only ones left are its line breaks.
    if text.replace("\n", " ").isprintable():  # one C-speed pass decides nearly always
        return text
    return "\n".join(
        line if line.isprintable() else "".join(_json_escape(c) if hidden(c) else c for c in line)
        for line in text.split("\n")
    )
