"""The literal runs every match of a catalogue regex must contain, read from its source text.

The matcher's prefilter needs, for each signature, substrings that any matching line holds
(``bytes.find`` / a trigger regex over them is far cheaper than running ~200 regexes on every
line). This reads the pattern's text with a small scanner over Python's regex syntax, using
public APIs only (``re`` itself is asked only whether a pattern compiles).

Sound by construction, not complete: whatever is not plainly a literal (a class of several
characters, an escape such as ``\\d``, a look-around, a back-reference, an alternation) ends the
current run and adds nothing, so a run returned is always required. What it returns:

- the runs of consecutive literal characters at the top level, in order;
- a group ``(...)`` / ``(?:...)`` / ``(?P<n>...)`` / ``(?i:...)`` contributes its own runs, as
  separate runs (a run never crosses a group's edge);
- a quantified item drops out of the run it ended; with a minimum of 1 or more its own runs
  are kept (``(?:abcd)+`` still requires ``abcd``);
- an alternation (at the top level or in a group) contributes the literal prefix common to
  every branch, when there is one (``(?:Post|Put) x`` -> ``P``, `` x``);
- a one-character class ``[.]`` is that character, an escaped punctuation ``\\.`` too.

Pure module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_CLASS_ESCAPES = frozenset("dDsSwWbBAZ")  # classes and assertions: never a literal
_REPEAT = re.compile(r"\{(\d*)(?:(,)(\d*))?\}")


@dataclass
class _Item:
    """One atom of a sequence: a literal character, or anything else with the runs it requires."""

    char: str | None  # the literal character, or None
    runs: list[str]  # runs an opaque atom requires (a group's)
    inline: list[_Item] | None = None  # a plain (?:...) group: its items join the sequence


def _runs(items: list[_Item]) -> list[str]:
    runs: list[str] = []
    current: list[str] = []
    for it in _flat(items):
        if it.char is not None:
            current.append(it.char)
            continue
        if current:
            runs.append("".join(current))
            current = []
        runs.extend(it.runs)
    if current:
        runs.append("".join(current))
    return runs


def _flat(items: list[_Item]) -> list[_Item]:
    out: list[_Item] = []
    for it in items:
        out.extend(_flat(it.inline) if it.inline is not None else [it])
    return out


def _prefix(items: list[_Item]) -> str:
    chars: list[str] = []
    for it in _flat(items):
        if it.char is None:
            break
        chars.append(it.char)
    return "".join(chars)


_OPAQUE = _Item(None, [])


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.verbose = False

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def alternation(self) -> list[_Item]:
        """Branches separated by "|" until ")" or the end: the literal prefix common to every
        branch, then (when there are several) something opaque."""
        branches = [self.sequence()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.sequence())
        if len(branches) == 1:
            return branches[0]
        prefix = _common_prefix([_prefix(b) for b in branches])
        return [*(_Item(ch, []) for ch in prefix), _OPAQUE]

    def sequence(self) -> list[_Item]:
        items: list[_Item] = []
        while self.pos < len(self.text) and self.peek() not in ("|", ")"):
            item = self.atom()
            if item is None:
                continue
            low = self.quantifier()
            if low is not None:
                keep = _runs([item])
                item = _Item(None, keep if low >= 1 else [])
                items.append(_OPAQUE)  # the repeat ends the run before it
            items.append(item)
        return items

    def quantifier(self) -> int | None:
        """The minimum count of a quantifier here (consumed with its ``?``/``+`` suffix)."""
        ch = self.peek()
        low: int | None = None
        if ch in ("*", "?"):
            low = 0
            self.pos += 1
        elif ch == "+":
            low = 1
            self.pos += 1
        elif ch == "{":
            found = _REPEAT.match(self.text, self.pos)
            if found is None or not (found.group(1) or found.group(3)):
                return None  # a literal "{", as Python reads it
            low = int(found.group(1) or 0)
            self.pos = found.end()
        if low is not None and self.peek() in ("?", "+"):
            self.pos += 1  # lazy or possessive: the same minimum
        return low

    def atom(self) -> _Item | None:
        ch = self.take()
        if self.verbose and ch.isspace():
            return None
        if self.verbose and ch == "#":
            while self.pos < len(self.text) and self.peek() != "\n":
                self.pos += 1
            return None
        if ch == "\\":
            return self.escape()
        if ch == "[":
            return self.char_class()
        if ch == "(":
            return self.group()
        if ch in (".", "^", "$"):
            return _OPAQUE
        return _Item(ch, [])

    def escape(self) -> _Item:
        ch = self.take()
        if ch in _SIMPLE_ESCAPES:
            return _Item(_SIMPLE_ESCAPES[ch], [])
        if ch in _CLASS_ESCAPES or ch.isalnum():  # \d, \b, \1, \x41, \u00e9...: not read here
            if ch in ("x", "u", "U", "N", "0"):
                self._skip_code_escape(ch)
            return _OPAQUE
        return _Item(ch, [])  # escaped punctuation or space: itself

    def _skip_code_escape(self, kind: str) -> None:
        if kind == "N" and self.peek() == "{":
            end = self.text.find("}", self.pos)
            self.pos = len(self.text) if end == -1 else end + 1
            return
        width = {"x": 2, "u": 4, "U": 8, "0": 2}[kind]
        while width and self.peek() and self.peek() in "0123456789abcdefABCDEF":
            self.pos += 1
            width -= 1

    def char_class(self) -> _Item:
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        members: list[str] = []
        plain = True
        first = True
        while self.pos < len(self.text):
            ch = self.take()
            if ch == "]" and not first:
                break
            first = False
            if ch == "\\":
                esc = self.take()
                if esc in _SIMPLE_ESCAPES:
                    members.append(_SIMPLE_ESCAPES[esc])
                elif esc.isalnum():
                    plain = False
                else:
                    members.append(esc)
            elif ch == "[" and self.peek() in (":", "=", "."):
                plain = False
            elif ch == "-" and members and self.peek() not in ("]", ""):
                plain = False  # a range
            else:
                members.append(ch)
        if plain and not negated and len(set(members)) == 1:
            return _Item(members[0], [])  # [.] is "."
        return _OPAQUE

    def _body(self) -> list[_Item]:
        items = self.alternation()
        if self.peek() == ")":
            self.pos += 1
        return items

    def group(self) -> _Item | None:
        if self.peek() != "?":
            return _Item(None, _runs(self._body()))  # a capturing group: runs of its own
        self.pos += 1
        kind = self.take()
        if kind == ":":
            return _Item(None, [], inline=self._body())  # plain: part of the sequence
        if kind == "P" and self.peek() == "<":
            self.pos = self.text.index(">", self.pos) + 1
            return _Item(None, _runs(self._body()))
        if kind == "#":  # a comment
            self.pos = self.text.index(")", self.pos) + 1
            return None
        if kind.isalpha() or kind == "-":  # inline flags: (?i) (?x) or scoped (?i:...)
            flags = kind
            while self.peek() and self.peek() not in (":", ")"):
                flags += self.take()
            if self.take() == ")":
                if "x" in flags.split("-")[0]:
                    self.verbose = True
                return None
            return _Item(None, _runs(self._body()))
        # look-arounds, back-reference tests, conditionals: skip the group, require nothing
        self.pos -= 1
        self._body()
        return _OPAQUE


def _common_prefix(texts: list[str]) -> str:
    if not texts:
        return ""
    first = min(texts)
    last = max(texts)
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    return first[:size]


def required_runs(pattern: str) -> list[str]:
    """Literal substrings every match of ``pattern`` contains (the pattern must compile)."""
    re.compile(pattern)  # a bad pattern is the caller's error (re.error), as before
    return _runs(_Reader(pattern).alternation())


__all__ = ["required_runs"]
