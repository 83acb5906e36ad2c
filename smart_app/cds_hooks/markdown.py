"""Text into card markdown: EHR-supplied text is text, never markup.

Card `detail` is GitHub-flavoured markdown and EHRs (the CDS Hooks sandbox among them) render it, raw HTML included.
Everything that may carry EHR text (condition names, medication names, notes, validator messages about a resource)
goes through `text` or `cell`: HTML is entity-escaped and the markdown that can make links, images, code or tables
is backslash-escaped, so `<img onerror=...>` or `[x](javascript:...)` show as the characters they are. Emphasis
(`*`, `_`) is left alone: the core's guideline wording uses it and it cannot carry a link or script. The only links
a card carries are the ones this service builds (http(s) only), in `links`.
"""

from __future__ import annotations

import re

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


# Any character `_ESCAPES` changes: most text has none, and a search is several times cheaper than `translate`.
_SPECIAL = re.compile(r"[\\&<>\[\]`|]")


def text(value: str | None) -> str:
    """`value` as markdown text (keeps line breaks and emphasis, nothing that links, embeds or tabulates)."""
    if not value:
        return ""
    return value.translate(_ESCAPES) if _SPECIAL.search(value) else value


def cell(value: str | None) -> str:
    """`value` as the text of one markdown table cell (one line)."""
    return " ".join(text(value).split())


def safe_url(url: str | None) -> str | None:
    """An http(s) URL, or None: no javascript:, data: or relative links reach a card."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return None
