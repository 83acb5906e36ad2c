"""Text into card markdown: EHR-supplied text is text, never markup.

Card `detail` is GitHub-flavoured markdown and EHRs (the CDS Hooks sandbox among them) render it, raw HTML included.
Everything that may carry EHR text (condition names, medication names, notes, validator messages about a resource)
goes through `text` or `cell`: HTML is entity-escaped and the markdown that can make links, images, code or tables
is backslash-escaped, so `<img onerror=...>` or `[x](javascript:...)` show as the characters they are. Emphasis
(`*`, `_`) is left alone: the core's guideline wording uses it and it cannot carry a link or script. The only links
a card carries are the ones this service builds (http(s) only), in `links`.
"""

from __future__ import annotations

_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "[": "\\[",
        "]": "\\]",
        "`": "\\`",
        "|": "\\|",
    }
)


def text(value: str | None) -> str:
    """`value` as markdown text (keeps line breaks and emphasis, nothing that links, embeds or tabulates)."""
    if not value:
        return ""
    # Most text has none of the characters `_ESCAPES` changes: eight `in` scans (C loops over the string) tell so
    # at about half the cost of one regex search, and `translate` costs twice a search even when it changes nothing.
    if (
        "\\" in value
        or "&" in value
        or "<" in value
        or ">" in value
        or "[" in value
        or "]" in value
        or "`" in value
        or "|" in value
    ):
        return value.translate(_ESCAPES)
    return value


def cell(value: str | None) -> str:
    """`value` as the text of one markdown table cell (one line)."""
    escaped = text(value)
    # `" ".join(split())` is this text already when it has no run of spaces, no space at either end and no other
    # whitespace: every character `str.split` splits at, but the space, is unprintable (`str.isprintable`), which
    # tests/cds_hooks/test_markdown_fast_paths.py checks over all of Unicode. Most cells are such single-line text.
    if escaped.isprintable() and "  " not in escaped and escaped[:1] != " " and escaped[-1:] != " ":
        return escaped
    return " ".join(escaped.split())


def safe_url(url: str | None) -> str | None:
    """An http(s) URL, or None: no javascript:, data: or relative links reach a card."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return None
