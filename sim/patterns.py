"""A deterministic string that matches a regular expression (for schema `pattern`).

Walks the parsed regex (Python's own parser) and takes the shortest sensible choice at each node:
the minimum repeat count (at least one for `+`-like repeats), the first branch, the first class member.
"""

import re
from re import _constants as sre_constants  # type: ignore[attr-defined]  # the stdlib regex parser (3.11+)
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

_CATEGORY = {
    sre_constants.CATEGORY_DIGIT: "0",
    sre_constants.CATEGORY_NOT_DIGIT: "a",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_NOT_SPACE: "a",
    sre_constants.CATEGORY_WORD: "a",
    sre_constants.CATEGORY_NOT_WORD: "-",
}


def _class_member(items: list[tuple[Any, Any]]) -> str:
    if items and items[0][0] is sre_constants.NEGATE:
        excluded = {chr(arg) for op, arg in items[1:] if op is sre_constants.LITERAL}
        return next(ch for ch in "aA0_-x" if ch not in excluded)
    for op, arg in items:
        if op is sre_constants.LITERAL:
            return chr(arg)
        if op is sre_constants.RANGE:
            return chr(arg[0])
        if op is sre_constants.CATEGORY:
            return _CATEGORY.get(arg, "a")
    return "a"


def _emit(parsed: Any, groups: dict[int, str]) -> str:
    out: list[str] = []
    for op, arg in parsed:
        if op is sre_constants.LITERAL:
            out.append(chr(arg))
        elif op is sre_constants.NOT_LITERAL:
            out.append("a" if chr(arg) != "a" else "b")
        elif op is sre_constants.ANY:
            out.append("a")
        elif op is sre_constants.IN:
            out.append(_class_member(arg))
        elif op is sre_constants.CATEGORY:
            out.append(_CATEGORY.get(arg, "a"))
        elif op in (
            sre_constants.MAX_REPEAT,
            sre_constants.MIN_REPEAT,
            getattr(sre_constants, "POSSESSIVE_REPEAT", None),
        ):
            low, _high, body = arg
            out.append(_emit(body, groups) * low)
        elif op is sre_constants.SUBPATTERN:
            group, _add, _del, body = arg
            text = _emit(body, groups)
            if group is not None:
                groups[group] = text
            out.append(text)
        elif op is sre_constants.BRANCH:
            out.append(_emit(arg[1][0], groups))
        elif op is sre_constants.GROUPREF:
            out.append(groups.get(arg, ""))
        # AT (anchors), ASSERT and ASSERT_NOT add no characters.
    return "".join(out)


def string_matching(pattern: str) -> str | None:
    """A string that `re.search(pattern, s)` accepts, or None when this simple walk cannot find one."""
    try:
        text = _emit(sre_parse.parse(pattern), {})
    except (re.error, StopIteration, TypeError, ValueError):
        return None
    return text if re.search(pattern, text) else None
