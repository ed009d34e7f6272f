"""invoke.yaml is read with libyaml when PyYAML has it (it is read at every start-up), composed
once, and keeps the pure-Python reader's answers: the same values, and a nesting limit that no
longer depends on the interpreter's recursion limit."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tasks.core.config_file import MAX_YAML_DEPTH, load_yaml_file
from tasks.core.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_invoke_yaml_reads_as_the_pure_python_loader_reads_it() -> None:
    text = (ROOT / "invoke.yaml").read_text()
    assert load_yaml_file(ROOT / "invoke.yaml") == yaml.load(text, Loader=yaml.SafeLoader)


def test_anchors_and_merge_keys_are_resolved(tmp_path: Path) -> None:
    path = tmp_path / "invoke.yaml"
    path.write_text("base: &b {region: eu-west-1, tag: x}\nprod:\n  <<: *b\n  tag: y\n")
    assert load_yaml_file(path) == {
        "base": {"region": "eu-west-1", "tag": "x"},
        "prod": {"region": "eu-west-1", "tag": "y"},
    }


@pytest.mark.parametrize("depth", [MAX_YAML_DEPTH + 1, 5_000])
def test_deep_nesting_is_one_line(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "invoke.yaml"
    path.write_text("a: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(UsageError) as info:
        load_yaml_file(path)
    assert info.value.line() == f"{path} is nested too deeply. Fix: flatten the YAML"


def test_nesting_within_the_limit_reads(tmp_path: Path) -> None:
    path = tmp_path / "invoke.yaml"
    path.write_text("a: " + "[" * 300 + "]" * 300 + "\n")
    value = load_yaml_file(path)["a"]
    for _ in range(299):
        value = value[0]
    assert value == []
