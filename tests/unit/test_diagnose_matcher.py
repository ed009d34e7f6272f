"""The streaming scanner: prefixes, phases, contexts, chunk boundaries, bounded memory."""

from __future__ import annotations

from tasks.diagnose.catalogue import load_catalogue
from tasks.diagnose.matcher import (
    KEEP_HITS,
    Scanner,
    choose_triggers,
    clean,
    compile_catalogue,
    scan_chunks,
    scan_lines,
)

CAT = load_catalogue()
LOG = """[Container] 2024/07/12 01:21:51.170731 Entering phase INSTALL
[Container] 2024/07/12 01:21:51.170800 Running command npm i -g bun
[Container] 2024/07/12 01:21:52 Phase complete: INSTALL State: SUCCEEDED
[Container] 2024/07/12 01:21:52 Phase context status code:  Message:
[Container] 2024/07/12 01:21:53 Entering phase BUILD
[Container] 2024/07/12 01:21:53 Running command docker build -t app .
#8 0.338 error: lockfile had changes, but lockfile is frozen
[Container] 2024/07/12 01:21:54 Command did not exit successfully docker build -t app . exit status 1
[Container] 2024/07/12 01:21:54 Phase complete: BUILD State: FAILED
[Container] 2024/07/12 01:21:54 Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: docker build -t app .. Reason: exit status 1
Expanding base directory path: .
"""


def test_clean_strips_console_and_buildkit_prefixes() -> None:
    assert clean("  12 | exec /bin/sh: exec format error\n") == "exec /bin/sh: exec format error"
    assert clean("#8 0.338 error: Module not found 'x'") == "error: Module not found 'x'"
    assert clean("#12 12.34 + @types/node") == "+ @types/node"
    assert clean("2024-01-01 normal line") == "2024-01-01 normal line"


def test_phases_contexts_and_line_numbers() -> None:
    scan = scan_chunks([LOG.encode()], CAT)
    assert scan.lines == 11
    hit = scan.hits["bun_frozen_lockfile"][0]
    assert (hit.line, hit.phase) == (7, "BUILD")
    assert hit.text == "error: lockfile had changes, but lockfile is frozen"  # prefix stripped
    assert scan.failed_phases() == ["BUILD"]
    assert scan.phase_states() == {"INSTALL": "SUCCEEDED", "BUILD": "FAILED"}
    assert [(c.phase, c.code) for c in scan.contexts] == [("BUILD", "COMMAND_EXECUTION_ERROR")]
    assert scan.last_command is not None and scan.last_command.text == "docker build -t app ."
    assert [line.line for line in scan.before_failure][-1] == 8


def test_byte_by_byte_chunks_give_the_same_scan() -> None:
    whole = scan_chunks([LOG.encode()], CAT)
    data = LOG.encode()
    tiny = scan_chunks([data[i : i + 7] for i in range(0, len(data), 7)], CAT)
    assert tiny.hits == whole.hits
    assert tiny.marks == whole.marks and tiny.contexts == whole.contexts
    assert tiny.lines == whole.lines and tiny.tail == whole.tail


def test_context_message_continues_on_the_next_line_even_across_chunks() -> None:
    text = (
        "[Container] 2024/01/01 00:00:01 Phase complete: DOWNLOAD_SOURCE State: FAILED\n"
        "[Container] 2024/01/01 00:00:01 Phase context status code: CLIENT_ERROR Message: "
        "AccessDenied: Access Denied\n"
        "\tstatus code: 403, request id: X for primary source and source version "
        "arn:aws:s3:::bucket/key.zip\n"
    )
    first, second = text.split("\t")
    for chunks in ([text.encode()], [first.encode(), ("\t" + second).encode()]):
        scan = scan_chunks(chunks, CAT)
        assert len(scan.contexts) == 1
        assert "for primary source" in scan.contexts[0].message


def test_lines_api_and_crlf() -> None:
    scan = scan_lines(["exec /app: exec format error\r\n", "done"], CAT)
    assert scan.hits["docker_exec_format_error"][0].text == "exec /app: exec format error"
    assert scan.lines == 2


def test_memory_is_bounded_to_the_first_hits() -> None:
    scanner = Scanner(CAT)
    for _ in range(200):
        scanner.feed(b"no basic auth credentials\n" * 50)
    scan = scanner.finish()
    assert scan.counts["ecr_no_basic_auth"] == 10_000
    assert len(scan.hits["ecr_no_basic_auth"]) == KEEP_HITS
    assert len(scan.tail) <= 30


def test_a_line_without_newline_at_the_end_is_scanned() -> None:
    scan = scan_chunks([b'ok\nerror: Script not found "db:migrate"'], CAT)
    assert "bun_script_not_found" in scan.hits


def test_every_signature_holds_a_trigger_so_the_prefilter_misses_nothing() -> None:
    compiled = compile_catalogue(CAT)
    for entry in CAT.entries:
        for sig in entry.signatures:
            runs = sig.runs or (sig.literal,)
            assert any(t in r.encode() for r in runs for t in compiled.triggers), sig.literal


def test_triggers_start_with_rare_bytes_and_avoid_ordinary_text() -> None:
    background = b"the format of the error was fine, exec done\n" * 100
    needs = [("no basic auth credentials",), ("exec format error",)]
    triggers = choose_triggers(needs, background)
    assert len(triggers) == 2
    for trigger in triggers:
        assert trigger not in background
    auth = next(t for t in triggers if t in b"no basic auth credentials")
    assert auth[0] not in background  # starts at a byte ordinary text lacks (b, u or l)


def test_overlapping_triggers_on_one_line_still_find_every_entry() -> None:
    line = "no basic auth credentials; exec /x: exec format error; bun: command not found"
    scan = scan_lines([line], CAT)
    assert {"ecr_no_basic_auth", "docker_exec_format_error", "bun_not_installed"} <= set(scan.hits)


def test_colours_and_very_long_lines() -> None:
    coloured = b'\x1b[0m\x1b[31merror\x1b[0m\x1b[2m:\x1b[0m \x1b[1mModule not found "x.ts\x1b[0m"\n'
    scan = scan_chunks([coloured], CAT)
    assert scan.hits["bun_module_not_found"][0].text == 'error: Module not found "x.ts"'
    long_line = "{" + '"k": 1, ' * 5000 + '"err": "no basic auth credentials"}'
    hit = scan_lines([long_line], CAT).hits["ecr_no_basic_auth"][0]
    assert len(hit.text) == 4096  # shown cut, matched whole


def test_random_chunking_of_all_samples_gives_the_same_scan() -> None:
    import random
    from pathlib import Path

    samples = Path(__file__).resolve().parents[1] / "samples" / "diagnose"
    data = b"".join(p.read_bytes() for p in sorted(samples.rglob("*.log")))
    whole = scan_chunks([data], CAT)
    rnd = random.Random(5)
    for _ in range(5):
        chunks, i = [], 0
        while i < len(data):
            size = rnd.choice((1, 2, 17, 300, 4096, 70_000))
            chunks.append(data[i : i + size])
            i += size
        again = scan_chunks(chunks, CAT)
        assert again.hits == whole.hits and again.counts == whole.counts
        assert again.marks == whole.marks and again.contexts == whole.contexts
        assert again.lines == whole.lines and again.before_failure == whole.before_failure


def test_a_command_that_mentions_an_error_is_not_the_error() -> None:
    """The buildspec's platform check echoes "exec format error" in its command text; a build
    that then fails on the database probe must not be diagnosed as an architecture problem."""
    log = [
        "[Container] 2026/11/24 11:05:32.756855 Entering phase PRE_BUILD",
        '[Container] 2026/11/24 11:05:32.756900 Running command [ "$A" = "$B" ] || echo "error:'
        " it would fail with 'exec format error'\"",
        "db-probe: refused: 127.0.0.1:55439 answered but nothing listens on port 55439",
        "[Container] 2026/11/24 11:05:32.791962 Phase complete: PRE_BUILD State: FAILED",
    ]
    scan = scan_lines(log, CAT)
    assert "docker_exec_format_error" not in scan.hits
    assert scan.last_command is not None and "exec format error" in scan.last_command.text
    # the same words as output (the echo ran) are still found
    printed = scan_lines([*log[:2], "error: it would fail with 'exec format error'"], CAT)
    assert printed.hits["docker_exec_format_error"][0].line == 3


def test_the_trigger_trie_matches_exactly_what_the_plain_alternation_matches() -> None:
    import random
    import re

    from tasks.diagnose.matcher import trigger_regex

    triggers = [*compile_catalogue(CAT).triggers, b"ab", b"abc", b"abd", b"b"]
    plain = re.compile(b"|".join(re.escape(t) for t in sorted(triggers, key=len, reverse=True)))
    trie = trigger_regex(triggers)
    rnd = random.Random(11)
    text = b"".join(
        rnd.choice([*triggers, b" ", b"x", b"\n", b"abz", b"Phase"]) for _ in range(5000)
    )
    assert [m.start() for m in trie.finditer(text)] == [m.start() for m in plain.finditer(text)]
    for trigger in triggers:
        found = trie.match(trigger)
        assert found is not None and found.group() == trigger


def test_a_trigger_hidden_inside_another_still_reaches_its_signatures() -> None:
    compiled = compile_catalogue(CAT)
    line = b"canceling statement due to statement timeout; no basic auth credentials"
    refs = {entry for entry, _ in compiled.signatures_on(line)}
    assert {"migration_statement_timeout", "ecr_no_basic_auth"} <= refs


def test_contexts_of_a_pasted_batch_get_builds_response_are_read() -> None:
    """`aws codebuild batch-get-builds` output printed into a log (a pipeline step, an issue
    paste): statusCode and message are separate JSON lines (field names of the CodeBuild API's
    PhaseContext: "statusCode", "message")."""
    log = [
        "[Container] 2023/10/16 15:08:44 Running command cat codebuild-output.json",
        "{",
        '  "builds": [{',
        '    "buildStatus": "FAILED",',
        '    "phases": [{',
        '      "phaseType": "DOWNLOAD_SOURCE",',
        '      "phaseStatus": "FAILED",',
        '      "contexts": [{',
        '        "statusCode": "YAML_FILE_ERROR",',
        '        "message": "stat /codebuild/output/src1/src/buildspec.yml: no such file or directory"',
        "      }]",
        '    }, {"phaseType": "BUILD", "contexts": [{"statusCode": "", "message": ""}]}]',
        "  }]",
        "}",
    ]
    scan = scan_lines(log, CAT)
    assert [(c.phase, c.code, c.line) for c in scan.contexts] == [
        ("DOWNLOAD_SOURCE", "YAML_FILE_ERROR", 10)
    ]
    from tasks.diagnose.ranking import diagnose

    assert [f.id for f in diagnose(CAT, scan).findings] == ["cb_buildspec_not_found"]


def test_each_trigger_maps_to_exactly_the_signatures_whose_runs_hold_it() -> None:
    """The trigger index is built from each run's bytes; it must equal the plain definition
    (a signature is behind a trigger when one of its literal runs contains it)."""
    from tasks.diagnose.matcher import compile_catalogue

    catalogue = load_catalogue()
    compiled = compile_catalogue(catalogue)
    for trigger in compiled.triggers:
        expected = [
            (entry.id, index)
            for entry in catalogue.entries
            for index, sig in enumerate(entry.signatures)
            if any(trigger in run.encode() for run in (sig.runs or (sig.literal,)))
        ]
        assert list(compiled.by_trigger.get(trigger, ())) == expected, trigger


def test_escape_sequences_are_found_by_their_escape_byte_alone() -> None:
    from tasks.diagnose.matcher import _has_escape

    line = b"plain text\n" * 1000
    assert not _has_escape(line, 0, len(line))
    assert not _has_escape(b"a lone \x1b byte, then no bracket\n", 0, 33)
    coloured = b"x\x1b(B then \x1b[31mred\x1b[0m\n"
    assert _has_escape(coloured, 0, len(coloured))
    assert not _has_escape(coloured, coloured.index(b"red"), len(coloured) - 5)  # bounds kept
