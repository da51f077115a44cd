"""The HTTP session seam shared by the link checker and the WebSub pings.

Both take a `requests.Session` from their caller (the library's `build(...,
session=)`, tests) or make their own. A session of the caller's is used as it is:
what it sets (a User-Agent of its own, an Accept header) is kept, and only what it
leaves at requests' defaults is filled in from the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests


def agent_headers(
    session: requests.Session, user_agent: str, *, accept: str | None = None
) -> dict[str, str]:
    """The headers a request sent with `session` adds to the session's own: the
    configured `user_agent` (and `accept`) where the session keeps requests' default."""
    from requests.utils import default_headers

    defaults = default_headers()
    wanted = {"User-Agent": user_agent}
    if accept is not None:
        wanted["Accept"] = accept
    return {
        name: value
        for name, value in wanted.items()
        if session.headers.get(name) in (None, defaults.get(name))
    }
