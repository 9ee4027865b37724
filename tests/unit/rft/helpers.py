"""Small builders shared by the rft unit tests."""

import json


def record(i: int = 0, **overrides) -> dict:
    base = {
        "messages": [
            {"role": "system", "content": "Answer with #### N."},
            {"role": "user", "content": f"What is {i} + 1?"},
        ],
        "reference_answer": {"answer": str(i + 1)},
        "task_id": f"t-{i}",
    }
    base.update(overrides)
    return base


def jsonl(records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
