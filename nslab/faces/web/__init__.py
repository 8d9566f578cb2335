"""The live web view (`web`): the face starts it for its lab; it stops with the lab."""

from __future__ import annotations

from typing import Any

from ...base.results import Message, WebRequested

_views: dict[int, Any] = {}  # one server per lab, by the lab's id


def flush(lab: Any) -> None:
    """After a line at the REPL: the picture of where it ended (a burst skips some)."""
    view = _views.get(id(lab))
    if view is not None:
        view.flush()


def _stop(lab: Any) -> None:
    view = _views.pop(id(lab), None)
    if view is not None:
        view.stop()


def serve(lab: Any, request: WebRequested) -> list[Message]:
    from .server import WebView  # aiohttp only now

    out = []
    view = _views.get(id(lab))
    if view is None:
        try:
            view = WebView(lab, request.listen, request.port)
        except OSError as e:  # the step is over: said, not raised
            return [Message(f"web: cannot listen on {request.listen}:{request.port}: {e.strerror or e}", "error")]
        _views[id(lab)] = view
        lab.closing.append(lambda: _stop(lab))
        if request.listen not in ("127.0.0.1", "::1"):
            out.append(Message(f"listening on {request.listen}: other machines can reach the page (with the token)", "warn"))
    if request.open:
        from ...kernel import outside

        outside.open_url(view.url)  # outside the lab: a browser inside it could not reach the page
    return [*out, Message(f"the lab's live picture: {view.url}", "ok")]
