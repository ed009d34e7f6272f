"""Stream a build log once and collect catalogue hits and the build's phase story. Pure module.

Assumptions and rules:

* The log arrives as byte chunks (a file, stdin) or text lines (CloudWatch events); either way it
  is read in ONE pass with bounded memory: only the first hits per entry, the phase marks, the
  lines before the first failure and a ring of the last lines are kept.
* Speed comes from a literal prefilter: every signature holds a literal of 4+ characters; a
  small set of short "trigger" substrings covering all of them is searched with ``bytes.find``
  (C speed) over each chunk, and only lines holding a trigger are decoded and matched with the
  full regexes. The combined-regex alternative is an order of magnitude slower in CPython.
* Console copies prefix lines with ``NN | `` and BuildKit with ``#N 0.123 ``; both are stripped
  before matching. ``[Container] <timestamp>`` lines carry the CodeBuild agent grammar
  (``Entering phase``, ``Phase complete``, ``Phase context status code``, ``Running command``);
  a context message may continue on the next line.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ..codebuild.model import PHASE_ORDER
from .catalogue import Catalogue

CHUNK = 1 << 20
KEEP_HITS = 5  # first hits kept per entry
TAIL_LINES = 30  # lines shown when nothing matches
HISTORY_BYTES = 64 * 1024  # earlier text kept to show the lines before a failure marker
MAX_LINE = 4096  # evidence lines are cut to this length (matching sees the whole line)

_CONSOLE = re.compile(r"^\s*\d+\s*\|\s?")
# colours (FORCE_COLOR, a TTY-minded tool) cut signatures apart: removed before matching
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
_BUILDKIT = re.compile(r"^#\d+ \d+(?:\.\d+)? ")
_CONTAINER = re.compile(r"^\[Container\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)? ")
_ENTERING = re.compile(r"(?:Entering phase|Phase is) (?P<phase>[A-Z_]+)")
_COMPLETE = re.compile(
    r"Phase complete: (?P<phase>[A-Z_]+) (?:State: (?P<state>[A-Z_]+)|Success: (?P<ok>true|false))"
)
_CONTEXT = re.compile(r"Phase context status code: (?P<code>.*?) Message: ?(?P<message>.*)$")
_RUNNING = re.compile(r"Running command (?P<cmd>.+)$")
GRAMMAR = (
    "Entering phase ",
    "Phase is ",
    "Phase complete: ",
    "Phase context status code: ",
    "Running command ",
    # a batch-get-builds response pasted into the log (pretty-printed JSON, one field a line)
    '"phaseType": "',
    '"statusCode": "',
)
_JSON_FIELD = re.compile(
    r'^\s*"(?P<key>phaseType|statusCode|message)": "(?P<value>(?:[^"\\]|\\.)*)"'
)
JSON_CONTEXT_LINES = 3  # the "message" of a context follows its "statusCode" within these
SUCCEEDED = "SUCCEEDED"


PHASES = PHASE_ORDER


def _next_phase(phase: str) -> str:
    index = PHASES.index(phase) if phase in PHASES else -1
    return PHASES[index + 1] if 0 <= index < len(PHASES) - 1 else phase


def _has_escape(buf: bytes, begin: int, end: int) -> bool:
    """Whether ``buf[begin:end]`` holds an ANSI escape (ESC then ``[``). One search for the
    single ESC byte (memchr) per escape, not ``find(b"\\x1b[")``: CPython searches a two-byte
    needle byte by byte, about 15 times slower on a megabyte without any (measured: 97 ms
    against 6 ms per 100 MB)."""
    at = buf.find(b"\x1b", begin, end)
    while at != -1:
        if buf[at + 1 : at + 2] == b"[":
            return True
        at = buf.find(b"\x1b", at + 1, end)
    return False


def clean(line: str) -> str:
    """A log line without console/BuildKit prefixes, line ends or overlong tails."""
    line = line.rstrip("\r\n")
    if line[:1] == " " or line[:1].isdigit():
        line = _CONSOLE.sub("", line, count=1)
    if line[:1] == "#":
        line = _BUILDKIT.sub("", line, count=1)
    return line


def message_of(line: str) -> str:
    """The agent message of a ``[Container] <timestamp> msg`` line (other lines unchanged)."""
    return _CONTAINER.sub("", line, count=1) if line.startswith("[Container]") else line


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    line: int  # 1-based line number in the log (0: from the build's structured data)
    phase: str
    text: str


@dataclass(frozen=True)
class Hit:
    entry: str
    line: int
    phase: str
    text: str
    groups: tuple[tuple[str, str], ...] = ()
    weak: bool = False
    structured: bool = False  # from batch-get-builds data, not from a log line
    companion: bool = False  # matched a `requires` pattern (context, not a signature)

    def group_dict(self) -> dict[str, str]:
        return dict(self.groups)


@dataclass(frozen=True)
class PhaseMark:
    phase: str
    state: str  # SUCCEEDED, FAILED, ... ("" for an Entering line)
    line: int


@dataclass(frozen=True)
class ContextLine:
    phase: str
    code: str
    message: str
    line: int


@dataclass
class Scan:
    """What one pass over a log found."""

    hits: dict[str, list[Hit]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    marks: list[PhaseMark] = field(default_factory=list)
    contexts: list[ContextLine] = field(default_factory=list)
    last_command: LogLine | None = None
    before_failure: list[LogLine] = field(default_factory=list)
    tail: list[LogLine] = field(default_factory=list)
    lines: int = 0

    @property
    def has_phases(self) -> bool:
        return bool(self.marks)

    def phase_states(self) -> dict[str, str]:
        return {m.phase: m.state for m in self.marks if m.state}

    def failed_phases(self) -> list[str]:
        return [m.phase for m in self.marks if m.state and m.state != SUCCEEDED]

    def add(self, hit: Hit) -> None:
        self.counts[hit.entry] = self.counts.get(hit.entry, 0) + 1
        kept = self.hits.setdefault(hit.entry, [])
        # a `requires` companion and a signature hit are each kept once even past the limit
        if len(kept) < KEEP_HITS or not any(h.companion == hit.companion for h in kept):
            kept.append(hit)


# -- prefilter --------------------------------------------------------------------------------
#
# CPython has no multi-pattern search in C, and one ``bytes.find`` pass per literal costs ~50 ms
# per 100 MB each (over 100 literals: seconds). What is fast is ``re``'s search loop when the
# pattern's possible first bytes are rare: it skips every other byte with one bitmap test. So
# each literal gets a short "trigger" substring that STARTS at a byte that is rare in ordinary
# logs (a small set of such bytes covers every literal), and all triggers form one regex,
# factored by first byte. Lines holding a trigger are the only ones decoded and matched.

TRIGGER_LEN = 8
MIN_TRIGGER = 4


def _byte_rarity(background: bytes) -> Callable[[int], float]:
    counts = [0] * 256
    for byte in background:
        counts[byte] += 1
    total = max(len(background), 1)
    return lambda byte: (counts[byte] + 0.5) / total


def choose_triggers(needs: Iterable[Sequence[str]], background: bytes = b"") -> tuple[bytes, ...]:
    """One trigger per need (a need: the literal runs of one signature, any one suffices).

    ``background`` is a sample of successful build logs (``background.log``): it tells which
    bytes and substrings are common. A greedy weighted set cover picks the start bytes (most
    needs covered per unit of byte frequency); each need then takes, among its substrings
    starting with a chosen byte, the one least seen in the background; a need left with only
    substrings seen there adds the rarest start byte that gives it an unseen one.
    """
    rarity = _byte_rarity(background)
    options = sorted({tuple(sorted({r.encode() for r in need})) for need in needs})

    def positions(need: tuple[bytes, ...]) -> list[tuple[bytes, int]]:
        return [(run, i) for run in need for i in range(len(run) - MIN_TRIGGER + 1)]

    first_bytes = {need: {run[i] for run, i in positions(need)} for need in options}
    pending = set(options)
    starts: set[int] = set()
    while pending:
        cover: dict[int, int] = {}
        for need in pending:
            for byte in first_bytes[need]:
                cover[byte] = cover.get(byte, 0) + 1
        best = max(sorted(cover), key=lambda b: cover[b] / rarity(b))
        starts.add(best)
        pending = {n for n in pending if best not in first_bytes[n]}

    counted: dict[bytes, int] = {}

    def seen(run: bytes, i: int) -> int:
        piece = run[i : i + TRIGGER_LEN]
        if piece not in counted:
            counted[piece] = background.count(piece)
        return counted[piece]

    triggers: set[bytes] = set()
    for need in options:
        spots = positions(need)
        if all(seen(run, i) for run, i in spots if run[i] in starts):
            # a common start byte is never added for one need: a substring the background
            # holds (a few more candidate lines) costs less than a test at most positions
            unseen = [run[i] for run, i in spots if not seen(run, i)]
            if unseen:
                starts.add(min(unseen, key=rarity))
        run, i = min(
            ((run, i) for run, i in spots if run[i] in starts),
            key=lambda s: (seen(*s), rarity(s[0][s[1]]), s[1]),
        )
        triggers.add(run[i : i + TRIGGER_LEN])
    return tuple(sorted(triggers))


def _trie_pattern(words: list[bytes]) -> bytes:
    """A regex matching exactly ``words`` (all non-empty), factored as a trie: at a position
    where the first byte matches, ``re`` tests one byte per level instead of every word."""
    groups: dict[bytes, list[bytes]] = {}
    for word in sorted(set(words)):
        groups.setdefault(word[:1], []).append(word[1:])
    branches = []
    for first, rests in groups.items():
        tails = [r for r in rests if r]
        if not tails:
            branches.append(re.escape(first))
            continue
        inner = _trie_pattern(tails)
        optional = b"?" if len(tails) < len(rests) else b""
        branches.append(re.escape(first) + b"(?:" + inner + b")" + optional)
    return branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"


def trigger_regex(triggers: Iterable[bytes]) -> re.Pattern[bytes]:
    """One alternation factored as a trie (``re`` then tests one byte per position and level)."""
    return re.compile(_trie_pattern(list(triggers)))


@dataclass(frozen=True)
class Compiled:
    """The catalogue prepared for streaming: the trigger regex, literal -> signatures, and for
    each trigger the signatures whose literal runs contain it (the only ones a line holding
    that trigger can match)."""

    catalogue: Catalogue
    triggers: tuple[bytes, ...]
    search: re.Pattern[bytes]
    literals: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]  # literal -> (entry, sig #)
    by_trigger: dict[bytes, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    by_first: dict[int, tuple[bytes, ...]] = field(default_factory=dict)  # first byte -> triggers

    def signatures_on(self, line: bytes) -> list[tuple[str, int]]:
        """(entry, sig #) of every signature whose trigger occurs in ``line``, overlaps included
        (one regex pass reports non-overlapping matches only: a trigger can hide another)."""
        refs: dict[tuple[str, int], None] = {}
        pos = 0
        search, by_first, by_trigger = self.search.search, self.by_first, self.by_trigger
        while (found := search(line, pos)) is not None:
            at = found.start()
            for trigger in by_first[line[at]]:
                if line.startswith(trigger, at):
                    refs.update(dict.fromkeys(by_trigger.get(trigger, ())))
            pos = at + 1
        return list(refs)


_COMPILED: dict[int, Compiled] = {}


def compile_catalogue(catalogue: Catalogue) -> Compiled:
    """The streaming form of ``catalogue``, made once per catalogue object (a small cache;
    each entry holds its catalogue, so an id is never reused while cached)."""
    key = id(catalogue)
    if key not in _COMPILED:
        while len(_COMPILED) >= 8:
            _COMPILED.pop(next(iter(_COMPILED)))
        table: dict[str, list[tuple[str, int]]] = {}
        needs: list[Sequence[str]] = [(g,) for g in GRAMMAR]
        for entry in catalogue.entries:
            for index, sig in enumerate(entry.signatures):
                table.setdefault(sig.literal, []).append((entry.id, index))
                needs.append(sig.runs or (sig.literal,))
        triggers = choose_triggers(needs, catalogue.background)
        literals = tuple((lit, tuple(refs)) for lit, refs in table.items())
        by_first: dict[int, list[bytes]] = {}
        for trigger in triggers:
            by_first.setdefault(trigger[0], []).append(trigger)
        by_trigger: dict[bytes, list[tuple[str, int]]] = {}
        for entry in catalogue.entries:
            for index, sig in enumerate(entry.signatures):
                ref = (entry.id, index)
                for run in (r.encode() for r in (sig.runs or (sig.literal,))):
                    # the triggers a run holds, found from its bytes (not every trigger tried)
                    for at, byte in enumerate(run):
                        for trigger in by_first.get(byte, ()):
                            if run.startswith(trigger, at):
                                refs = by_trigger.setdefault(trigger, [])
                                if ref not in refs:
                                    refs.append(ref)
        _COMPILED[key] = Compiled(
            catalogue,
            triggers,
            trigger_regex(triggers),
            literals,
            {t: tuple(refs) for t, refs in by_trigger.items()},
            {b: tuple(ts) for b, ts in by_first.items()},
        )
    return _COMPILED[key]


# -- the scanner ------------------------------------------------------------------------------


class Scanner:
    """Feed it chunks (``feed``) then ``finish``; or use :func:`scan_chunks`/:func:`scan_lines`."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.compiled = compile_catalogue(catalogue)
        self.catalogue = catalogue
        self._entry_index = {e.id: i for i, e in enumerate(catalogue.entries)}
        self.result = Scan()
        self.phase = ""
        self._carry = b""
        self._history = b""  # processed text kept for "lines before the failure"
        self._line = 0  # lines fully processed so far
        self._pending_context: tuple[str, str, str, int] | None = None
        self._json_phase = ""
        self._failure_seen = False
        self._region = (0, 0)  # bounds of the region being processed in its buffer

    def _order(self, ref: tuple[str, int]) -> tuple[int, int]:
        return (self._entry_index[ref[0]], ref[1])

    # the public streaming interface
    def feed(self, chunk: bytes) -> None:
        # the chunk is processed in place (bounds, not slices): no copy of the megabyte
        begin = 0
        if self._carry:
            first = chunk.find(b"\n")
            if first == -1:
                self._carry += chunk
                self._guard_long_line()
                return
            head, self._carry = self._carry + chunk[: first + 1], b""
            self._process(head, 0, len(head))
            begin = first + 1
        cut = chunk.rfind(b"\n") + 1
        if cut <= begin:
            self._carry = chunk[begin:]
            self._guard_long_line()
            return
        self._process(chunk, begin, cut)
        self._carry = chunk[cut:]

    def _guard_long_line(self) -> None:
        if len(self._carry) > 8 * CHUNK:  # a pathological line without newlines
            data, self._carry = self._carry + b"\n", b""
            self._process(data, 0, len(data))

    def finish(self) -> Scan:
        if self._carry:
            data, self._carry = self._carry + b"\n", b""
            self._process(data, 0, len(data))
        self._flush_context(None)
        self.result.lines = self._line
        self.result.tail = self._last_lines(self._history, self._line, TAIL_LINES)
        return self.result

    # internals
    def _candidates(self, buf: bytes, begin: int, end: int) -> list[int]:
        """Start offsets of the lines holding a trigger, in order."""
        starts: list[int] = []
        line_end = -1
        rfind = buf.rfind
        for found in self.compiled.search.finditer(buf, begin, end):
            pos = found.start()
            if pos <= line_end:
                continue  # another trigger on a line already taken
            starts.append(max(rfind(b"\n", begin, pos) + 1, begin))
            line_end = buf.find(b"\n", pos, end)
        return starts

    def _process(self, buf: bytes, begin: int, end: int) -> None:
        """Handle the complete lines of ``buf[begin:end]`` (it ends with a newline)."""
        if _has_escape(buf, begin, end):
            buf = _ANSI.sub(b"", buf[begin:end])
            begin, end = 0, len(buf)
        if self._pending_context is not None:  # its continuation is this region's first line
            self._flush_context(buf[begin : buf.find(b"\n", begin)].decode("utf-8", "replace"))
        self._region = (begin, end)
        counted_to = begin
        line_no = self._line
        for start in self._candidates(buf, begin, end):
            line_no += buf.count(b"\n", counted_to, start)
            counted_to = start
            stop = buf.find(b"\n", start, end)
            raw = buf[start:stop]
            text = clean(raw.decode("utf-8", "replace"))
            self._line_hit(text, line_no + 1, buf, start, raw)
        self._line += buf.count(b"\n", begin, end)
        self._history = (self._history + buf[max(begin, end - HISTORY_BYTES) : end])[
            -HISTORY_BYTES:
        ]

    def _json_context(self, text: str, buf: bytes, start: int) -> None:
        """Contexts of a pasted batch-get-builds response: "statusCode", then its "message" on
        one of the next lines (read ahead in this region)."""
        found = _JSON_FIELD.match(text)
        if found is None:
            return
        if found["key"] == "phaseType":
            self._json_phase = found["value"]
            return
        if found["key"] != "statusCode":
            return
        end = self._region[1]
        pos = buf.find(b"\n", start, end)
        for offset in range(1, JSON_CONTEXT_LINES + 1):
            if pos == -1:
                return
            stop = buf.find(b"\n", pos + 1, end)
            line = buf[pos + 1 : stop if stop != -1 else end].decode("utf-8", "replace")
            message = _JSON_FIELD.match(clean(line))
            if message is not None and message["key"] == "message":
                code, value = found["value"], message["value"].replace('\\"', '"')
                if code or value:
                    number = self._line_at(buf, start) + offset
                    self.result.contexts.append(ContextLine(self._json_phase, code, value, number))
                return
            pos = stop

    def _line_at(self, buf: bytes, start: int) -> int:
        return self._line + buf.count(b"\n", self._region[0], start) + 1

    def _line_hit(self, text: str, number: int, buf: bytes, start: int, raw: bytes) -> None:
        if '": "' in text:
            self._json_context(text, buf, start)
        phase = self.phase
        if "hase " in text or "Running command " in text:
            message = message_of(text)
            phase = self._grammar(message, number, buf, start)
            if message is not text and message.startswith("Running command "):
                # the agent echoing a command is not output: a buildspec line that merely
                # mentions "exec format error" (an echo, a grep) must not become a finding
                return
        matched: set[str] = set()
        by_id = self.catalogue.by_id
        # only the signatures whose trigger occurs on this line (overlapping triggers included),
        # in catalogue order so the first matching signature of an entry gives its groups
        for entry_id, index in sorted(self.compiled.signatures_on(raw), key=self._order):
            if entry_id in matched:
                continue
            sig = by_id[entry_id].signatures[index]
            if sig.literal not in text:
                continue
            found = sig.pattern.search(text)
            if found is None:
                continue
            matched.add(entry_id)
            groups = tuple((k, v) for k, v in found.groupdict().items() if v is not None)
            shown = text[:MAX_LINE]
            hit = Hit(entry_id, number, phase, shown, groups, sig.weak, companion=sig.companion)
            self.result.add(hit)

    def _grammar(self, message: str, number: int, buf: bytes, start: int) -> str:
        """Track phases from the agent's lines; returns the phase this line belongs to."""
        if m := _ENTERING.search(message):
            self.phase = m["phase"]
            self.result.marks.append(PhaseMark(self.phase, "", number))
            return self.phase
        if m := _COMPLETE.search(message):
            done = m["phase"]
            state = m["state"] or ("SUCCEEDED" if m["ok"] == "true" else "FAILED")
            self.result.marks.append(PhaseMark(done, state, number))
            # CodeBuild prints no "Entering phase" for UPLOAD_ARTIFACTS (nor for the phase
            # after DOWNLOAD_SOURCE errors): lines after a completed phase belong to the next
            self.phase = _next_phase(done)
            if state != SUCCEEDED and not self._failure_seen:
                self._failure_seen = True
                before = buf[max(self._region[0], start - HISTORY_BYTES) : start]
                self.result.before_failure = self._last_lines(
                    self._history + before, number - 1, TAIL_LINES
                )
            return done
        if m := _CONTEXT.search(message):
            phase = self._context_phase()
            self._pending_context = (phase, m["code"], m["message"], number)
            region_end = self._region[1]
            end = buf.find(b"\n", start, region_end)
            following = buf.find(b"\n", end + 1, region_end)
            if following != -1:  # else: continued at the start of the next region
                self._flush_context(buf[end + 1 : following].decode("utf-8", "replace"))
            return phase
        if m := _RUNNING.search(message):
            self.result.last_command = LogLine(number, self.phase, m["cmd"])
        return self.phase

    def _context_phase(self) -> str:
        marks = self.result.marks
        return marks[-1].phase if marks else self.phase

    def _flush_context(self, continuation: str | None) -> None:
        pending = self._pending_context
        if pending is None:
            return
        self._pending_context = None
        phase, code, message, number = pending
        if continuation is not None:
            continuation = clean(continuation).strip()
            if continuation and not continuation.startswith(("[Container]", "#")):
                message = f"{message} {continuation}".strip()
        if code or message:
            self.result.contexts.append(ContextLine(phase, code.strip(), message, number))

    def _last_lines(self, text: bytes, last_number: int, count: int) -> list[LogLine]:
        lines = text.decode("utf-8", "replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        lines = lines[-count:]
        first = last_number - len(lines) + 1
        return [
            LogLine(first + i, self._phase_at(first + i), clean(line)[:MAX_LINE])
            for i, line in enumerate(lines)
        ]

    def _phase_at(self, number: int) -> str:
        phase = ""
        for mark in self.result.marks:
            if mark.line > number:
                break
            if not mark.state:
                phase = mark.phase
        return phase


def scan_chunks(chunks: Iterable[bytes], catalogue: Catalogue) -> Scan:
    scanner = Scanner(catalogue)
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.finish()


def _batches(lines: Iterable[str], size: int = CHUNK) -> Iterator[bytes]:
    batch: deque[bytes] = deque()
    total = 0
    for line in lines:
        data = line.rstrip("\r\n").encode("utf-8", "replace") + b"\n"
        batch.append(data)
        total += len(data)
        if total >= size:
            yield b"".join(batch)
            batch.clear()
            total = 0
    if batch:
        yield b"".join(batch)


def scan_lines(lines: Iterable[str], catalogue: Catalogue) -> Scan:
    """Scan text lines (e.g. CloudWatch events), batched into chunks for the prefilter."""
    return scan_chunks(_batches(lines), catalogue)


def read_chunks(stream: object, size: int = CHUNK) -> Iterator[bytes]:
    """Chunks from a binary stream (``read(size)``) until EOF."""
    read = stream.read  # type: ignore[attr-defined]
    while True:
        chunk = read(size)
        if not chunk:
            return
        yield chunk


__all__ = [
    "ContextLine",
    "Hit",
    "LogLine",
    "PhaseMark",
    "Scan",
    "Scanner",
    "choose_triggers",
    "clean",
    "compile_catalogue",
    "read_chunks",
    "scan_chunks",
    "scan_lines",
]
