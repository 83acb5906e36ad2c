"""The session cookie's Set-Cookie header, with the attributes embedding in an EHR needs.

An EHR usually shows the app in a frame of the EHR's own site, so for the browser the app's cookie is a cross-site
(third-party) cookie. Browsers store and send such a cookie only when it is `SameSite=None; Secure`. With
`Partitioned` (CHIPS) the browser keys the cookie to the top-level site as well: the session made in the EHR's
frame is never sent when another site frames the app, which keeps clickjacking pages away from it. Browsers that do
not know `Partitioned` ignore it and keep a plain SameSite=None cookie.

SameSite=None means the browser also sends the cookie on requests started by other sites, so SameSite is no CSRF
defence here: every state-changing request carries the session's CSRF token in its form and must come from the
app's own origin (see `web.py`). Over plain http (development) the cookie is SameSite=Lax: a SameSite=None cookie
must be Secure, and a Secure cookie is not stored from http.

Starlette's `set_cookie` cannot write `Partitioned` before Python 3.14, hence this small builder.
"""

from __future__ import annotations

import re
from typing import Literal

_TOKEN = re.compile(r"[A-Za-z0-9_.\-]+")  # cookie names and itsdangerous values: no quoting needed
_PATH = re.compile(r"/[A-Za-z0-9_.~/\-]*")


def session_cookie(
    name: str,
    value: str,
    *,
    max_age: int,
    path: str,
    secure: bool,
    same_site: Literal["lax", "none"],
    partitioned: bool,
) -> str:
    """The Set-Cookie header value. HttpOnly always (no script reads it); scoped to `path`."""
    if not _TOKEN.fullmatch(name) or not _TOKEN.fullmatch(value) or not _PATH.fullmatch(path):
        raise ValueError("cookie name, value or path has characters a Set-Cookie header cannot carry unquoted")
    if same_site == "none" and not secure:
        raise ValueError("a SameSite=None cookie must be Secure")
    parts = [f"{name}={value}", f"Max-Age={max_age}", f"Path={path}", "HttpOnly"]
    if secure:
        parts.append("Secure")
    parts.append("SameSite=None" if same_site == "none" else "SameSite=Lax")
    if same_site == "none" and partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)
