"""How an exception is quoted inside our own error messages: its type and its text on one line,
cut at ``limit`` characters. Imports nothing of the package."""
from __future__ import annotations

__all__ = ["short_error"]


def short_error(e: BaseException, limit: int = 200) -> str:
    """``"TypeName: text"`` with whitespace runs collapsed, at most ``limit`` characters of text."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:limit]}" + ("..." if len(text) > limit else "")
