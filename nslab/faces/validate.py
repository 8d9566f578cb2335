"""The prompt's line check: a line that will not parse is marked (message and caret column) while
it is typed, unless the bad word is the one being typed and still fits; Enter submits it anyway."""

from __future__ import annotations

from typing import Any

from ..base.errors import Loc, ParseError
from ..lang.lexer import join_continued as logical
from ..lang.suggestions import fits, literal_words

LEAVE = ("exit", "quit")
LEAVE_NOW = "exit!"


def validator() -> Any:
    from prompt_toolkit.validation import ValidationError, Validator

    from ..lang.parser import parse_line

    class LineValidator(Validator):
        """Marks a line that will not parse (message and caret column); Enter still submits it."""

        def validate(self, document: Any) -> None:
            text = logical(document.text)
            if text.strip() in (*LEAVE, LEAVE_NOW):
                return
            try:
                parse_line(text, Loc("repl", 1, 1))
            except ParseError as e:
                col = min(max(e.loc.col - 1, 0), len(document.text))
                if document.is_cursor_at_the_end and _still_typing(text, col):
                    return
                raise ValidationError(cursor_position=col, message=f"col {e.loc.col}: {e.message}") from None

    return LineValidator()


def _still_typing(text: str, col: int) -> bool:
    """The bad word is the one being typed and it is the start of a word that fits (`e` of `enter`)."""
    f = fits(text)
    if not f.word or col < f.start:
        return False
    return any(w.startswith(f.word) and w != f.word for w in literal_words(f))
