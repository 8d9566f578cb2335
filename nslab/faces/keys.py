"""The REPL's own keys: Enter (continuations, submit a marked line) and Tab.

Tab is computed here, synchronously, from the line as it is when the key is read: prompt_toolkit's
own Tab starts an asynchronous completion, and one still in flight from complete-while-typing
makes it drop the key (a paste of `enter alph<Tab>` stayed `enter alph`).  As bash: one match is
inserted with a space after it, several insert what they have in common, and a Tab with nothing
left to insert shows the menu; Tab again walks it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..lang.lexer import continues
from .completion import Candidate, Fits

# (text before the cursor) -> what the word being typed is, and what may replace it
Completer = Callable[[str], "tuple[Fits, list[Candidate]]"]


def common_part(texts: list[str]) -> str:
    return os.path.commonprefix(texts) if texts else ""


def _open_ended(text: str) -> bool:
    """A completion that goes on (a directory, `ns1:`): no space after it."""
    return text.endswith(("/", ":"))


def tab(buf: Any, complete: Completer, shown: Any = None) -> Any:
    """One Tab on BUF; SHOWN is the menu the previous Tab opened.  Returns the menu this one opened."""
    from prompt_toolkit.buffer import CompletionState
    from prompt_toolkit.completion import Completion

    state = buf.complete_state
    if state is not None and (state is shown or state.complete_index is not None):
        buf.complete_next()  # Tab opened this menu (or an item is chosen): Tab again walks it
        return state
    doc = buf.document
    f, found = complete(doc.text_before_cursor)
    buf.complete_state = None
    if not found:
        return None
    texts = [c.text for c in found]
    if len(found) == 1:
        insert = texts[0]
        if not _open_ended(insert) and not doc.text_after_cursor[:1].isspace():
            insert += " "
    else:
        insert = common_part(texts)
    if len(insert) > len(f.word) and insert.startswith(f.word):
        buf.delete_before_cursor(len(f.word))
        buf.insert_text(insert)
        return None
    if len(found) == 1:
        return None
    # nothing more in common: show what there is to choose from
    menu = [Completion(c.text, start_position=-len(f.word), display=c.display or None, display_meta=c.desc)
            for c in found]
    buf.complete_state = CompletionState(original_document=doc, completions=menu)
    return buf.complete_state


def bindings(complete: Completer) -> Any:
    from prompt_toolkit.enums import DEFAULT_BUFFER
    from prompt_toolkit.filters import has_focus
    from prompt_toolkit.key_binding import KeyBindings

    kb = KeyBindings()

    @kb.add("enter")
    def _enter(event: Any) -> None:
        buf = event.current_buffer
        if continues(buf.document.text_before_cursor) and buf.document.is_cursor_at_the_end:
            buf.insert_text("\n")  # `\` at the end: the line goes on
            return
        # accept even when the validator marks the line: the session says what is wrong
        if buf.complete_state:
            buf.complete_state = None
        if buf.accept_handler is not None:
            buf.accept_handler(buf)
        buf.append_to_history()

    shown: list[Any] = [None]  # the menu the last Tab opened

    @kb.add("tab", filter=has_focus(DEFAULT_BUFFER))  # the line, not Ctrl-R's search field
    def _tab(event: Any) -> None:
        shown[0] = tab(event.current_buffer, complete, shown[0])

    return kb
