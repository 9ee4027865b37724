"""The final answer of a response: the one rule every grader reads answers by.

A policy that reasons writes ``<think> ... </think>`` and then its answer. Only the answer is
graded: a ``\\boxed{}``, a code fence or a JSON block that appears only inside the reasoning earns
nothing, whatever follows it. Otherwise a model learns to put a guess in its reasoning and hedge
("not sure") after it, and the grader pays for the guess.

The rule:
  * No reasoning tag at all: the whole response is the answer.
  * The answer is what follows the LAST closing tag (``</think>``), stripped.
  * A response whose last reasoning tag is an OPENING tag (``<think>`` never closed, or a new
    ``<think>`` opened after the last ``</think>``) has NO answer (``""``): the model stopped
    while reasoning, typically cut off at its token limit, and a half-thought is not an answer.
    A grader scores it 0 with ``error_no_answer``. This fails closed: a literal ``<think>`` that
    a model writes inside its answer also leaves it without one.
  * A closing tag without an opening one counts: chat templates (Qwen3, DeepSeek-R1) put
    ``<think>`` in the prompt, so the response starts inside the reasoning and only closes it.

Tags are matched case-insensitively, with spaces or tabs allowed inside the angle brackets, and
``<thinking>`` counts as ``<think>``: a policy must not escape the rule by spelling the tag
differently (``</THINK>``, ``</ think>``) and have its reasoning read as its answer. The scan is
one linear regex pass, so it is safe on responses of any length.
"""

from __future__ import annotations

import re

# Possessive quantifiers and one optional group: "<" followed by a long run of spaces is scanned
# once, never re-split between two space runs (which made the scan quadratic).
_REASONING_TAG = re.compile(r"<[ \t]*+(?:(/)[ \t]*+)?think(?:ing)?[ \t]*+>", re.IGNORECASE)


def final_answer(response: str) -> str:
    """The answer part of ``response`` under the module's rule; ``""`` when there is none."""
    last = None
    for last in _REASONING_TAG.finditer(response):  # noqa: B007 - only the last tag matters
        pass
    if last is None:
        return response.strip()
    if last.group(1) is None:  # the last tag opens reasoning that never closes
        return ""
    return response[last.end() :].strip()
