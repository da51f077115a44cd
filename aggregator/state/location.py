"""Where the state lives: a SQLite file (a path) or a PostgreSQL database (a URL).

Owns telling the two apart and showing a URL without its password: a database URL
may carry credentials, and no log line, report or error message may repeat them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl
from urllib.parse import unquote
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

#: the URL schemes of a PostgreSQL database (libpq accepts both)
SCHEMES = ("postgresql", "postgres")
#: what a password is shown as
HIDDEN = "***"


def is_database_url(where: Path | str | None) -> bool:
    """True for a `postgresql://` or `postgres://` URL (text, never a Path)."""
    if not isinstance(where, str):
        return False
    scheme, sep, _ = where.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def looks_like_url(text: str) -> bool:
    """True for text of the form `scheme://...` (a database URL or not)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isascii() and scheme.replace("+", "").isalnum()


def masked(url: str) -> str:
    """The URL with its password (in the user part or a `password=` parameter) hidden."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        user, at, host = netloc.rpartition("@")
        if at and ":" in user:
            netloc = f"{user.partition(':')[0]}:{HIDDEN}@{host}"
        query = parts.query
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key == "password" for key, _ in pairs):
            query = urlencode(
                [(key, HIDDEN if key == "password" else value) for key, value in pairs],
                safe="/*",
            )
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    except ValueError:  # not even a URL: show its scheme only
        return f"{url.partition('://')[0]}://{HIDDEN}"


def secrets(url: str) -> list[str]:
    """The password of a URL as it may appear in a message (raw and decoded); [] if none."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
        user, at, _ = parts.netloc.rpartition("@")
        if at and ":" in user:
            found.append(user.partition(":")[2])
        found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == "password"]
    except ValueError:
        pass
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrubbed(text: str, url: str) -> str:
    """`text` (an error message) with the URL shown masked and its password hidden."""
    text = text.replace(url, masked(url))
    for secret in secrets(url):
        text = text.replace(secret, HIDDEN)
    return text


def shown(where: Path | str) -> str:
    """Where the state lives, fit for a log line or a report."""
    return masked(where) if isinstance(where, str) and looks_like_url(where) else str(where)
