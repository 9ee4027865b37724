"""rft.converters: every converter's output passes the dataset rules; bad lines are named."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from rft import converters
from rft.datasets import DatasetLimits, validate_bytes
from rft.errors import ValidationError

# The shared data folder sits beside the checkout (or beside the folder of worktrees).
HUMANEVAL = next(
    (
        folder / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz"
        for folder in Path(__file__).resolve().parents
        if (folder / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz").exists()
    ),
    Path("HumanEval.jsonl.gz"),
)


def test_humaneval_reference_is_what_the_code_tests_grader_parses() -> None:
    from lambda_rewards.code_tests.extract import parse_reference

    line = json.dumps(
        {
            "task_id": "T/1",
            "prompt": "def f(x):\n",
            "entry_point": "f",
            "test": "def check(c):\n    assert c(1)\n",
        }
    )
    [converted] = converters.convert([line], converters.humaneval(), source="HumanEval")
    spec = parse_reference(json.loads(converted)["reference_answer"])
    assert spec.entry == "f"


@pytest.mark.skipif(not HUMANEVAL.exists(), reason="the shared HumanEval file is not on this machine")
def test_the_whole_of_humaneval_converts_and_validates() -> None:
    from lambda_rewards.code_tests.extract import parse_reference

    with gzip.open(HUMANEVAL, "rb") as lines:
        converted = list(converters.convert(lines, converters.humaneval(), source="HumanEval"))
    assert len(converted) == 164
    assert validate_bytes("\n".join(converted), limits=DatasetLimits(min_prompts=1)).ok
    for text in converted:
        parse_reference(json.loads(text)["reference_answer"])  # every reference is gradable


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"prompt": "def f():\n", "entry_point": "f"}, "test"),
        ({"prompt": "def f():\n", "entry_point": "not a name", "test": "def check(c): pass"}, "entry_point"),
        ({"prompt": "def f():\n", "entry_point": "f", "test": "assert True"}, "test"),
        ({"entry_point": "f", "test": "def check(c): pass"}, "prompt"),
    ],
)
def test_humaneval_bad_lines_name_the_field(item: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        list(converters.convert([json.dumps(item)], converters.humaneval(), source="HumanEval"))
    assert [(p.line, p.field) for p in caught.value.problems] == [(1, field)]


def test_mapping_accepts_chat_messages_and_adds_the_system_prompt() -> None:
    mapping = converters.FieldMapping(prompt_field="chat", reference_field="gold", system_prompt="Be brief.")
    item = {"chat": [{"role": "user", "content": "2+2?"}], "gold": {"answer": "4"}}
    [line] = converters.convert([json.dumps(item)], converters.mapped(mapping), source="x")
    record = json.loads(line)
    assert record["messages"][0] == {"role": "system", "content": "Be brief."}
    assert record["reference_answer"] == {"answer": "4"} and record["task_id"] == "task-00001"


def test_mapping_refuses_what_the_dataset_rules_refuse() -> None:
    mapping = converters.FieldMapping(prompt_field="chat", reference_field="gold")
    item = {"chat": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "gold": 1}
    with pytest.raises(ValidationError, match="must end with a user turn"):
        list(converters.convert([json.dumps(item)], converters.mapped(mapping), source="x"))


def test_mapping_prefers_a_key_with_a_dot_over_the_path() -> None:
    assert converters.field_value({"a.b": 1, "a": {"b": 2}}, "a.b") == 1
    assert converters.field_value({"a": {"b": 2}}, "a.b") == 2
