"""Final-answer extraction from the tail of a response, with the hedging policy.

Markers, strongest first: the last ``\\boxed{}`` (or ``\\fbox{}``); ``#### N``; "the final answer
is X" / "final answer: X"; "the answer is X" / "Answer: X"; a final answer line. The answer is taken
from the strongest marker kind present, its last occurrence.

Hedging (several final answers) is detected, not rewarded:
* more than ``max_boxes`` boxes in the tail (a spray of guesses);
* boxes, ``####`` lines or "final answer" statements that disagree with each other (compared as
  exact numbers when both read as numbers, otherwise as normalised LaTeX among boxes);
* inside the chosen answer, checks that need the gold answer happen in the grader (a list of
  candidates or "or" where the gold has none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambda_rewards.common.text import find_boxes
from lambda_rewards.math_answer.forms import respell
from lambda_rewards.math_answer.numeric import numbers_in, parse_number

_HASH = re.compile(r"####[ \t]*([^\n]*)")
_FINAL_PHRASE = re.compile(
    r"final\s+answer\s*(?:is|:|=|would\s+be|will\s+be)?\s*[:=]?\s*((?:(?!final\s+answer)[^\n])*)",
    re.IGNORECASE,
)
_ANSWER_LINE = re.compile(r"^[\s*#>]*answer\s*\**\s*[:=]\**\s*([^\n]*)", re.IGNORECASE | re.MULTILINE)
_THE_ANSWER = re.compile(
    r"\bthe\s+answer\s+(?:is|=|would\s+be|will\s+be)\s*:?\s*((?:(?!the\s+answer\s)[^\n])*)", re.IGNORECASE
)
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\s(?:because|since|which|so)\s", re.IGNORECASE)
_INLINE_MATH = re.compile(r"^\s*(?:\$\$?|\\\(|\\\[)(.*?)(?:\$\$?|\\\)|\\\])")
_MATH_LINE = re.compile(r"^\s*(?:\$\$?|\\\(|\\\[)(.+?)(?:\$\$?|\\\)|\\\])\s*\.?\s*$")


_WORDS_ONLY = re.compile(r"\\(?:text|mathrm|textbf|textit)\s*\{\s*([A-Za-z ]+?)\s*\}")


@dataclass(frozen=True)
class Extraction:
    answer: str | None  # the final answer text, or None when there is none
    source: str  # "boxed", "hash", "final_phrase", "phrase", "line" or "none"
    hedge: str | None = None  # why the response counts as hedging, if it does
    boxes: int = 0


def canonical_latex(text: str) -> str:
    """A comparison key for LaTeX answers: spacing, sizing commands and fraction variants removed."""
    text = _WORDS_ONLY.sub(r"\1", respell(text))  # \text{odd} is odd
    for token in ("\\displaystyle", "\\!", "\\,", "\\;", "\\:", "\\ ", "$", "~"):
        text = text.replace(token, "")
    text = "".join(text.split())
    return text.rstrip(".")


def _phrase_answer(text: str) -> str:
    """The answer part of a phrase capture: leading inline math, a box inside it, or the text up
    to the end of the sentence."""
    text = text.strip().lstrip(":").strip().strip("*").strip()
    boxes = find_boxes(text, 2000)
    if boxes:
        return boxes[-1][0].strip()
    math = _INLINE_MATH.match(text)
    if math and math.group(1).strip():
        return math.group(1).strip()
    end = _SENTENCE_END.search(text)
    answer = (text[: end.start()] if end else text).strip().strip("*").strip()
    if answer[:1].isalpha() and parse_number(answer) is None:  # "The largest $n$ is 34"
        copulas = list(_COPULA.finditer(answer))
        if copulas:
            return answer[copulas[-1].end() :].strip()
    return answer


def _key(answer: str) -> tuple[str, object]:
    value = parse_number(answer)
    if value is not None:
        return ("number", value)
    return ("latex", canonical_latex(answer))


def _disagree(answers: list[str], *, numbers_only: bool) -> bool:
    if len(answers) < 2:
        return False
    keys = {_key(answer) for answer in answers if answer}
    numbers = {key for key in keys if key[0] == "number"}
    if len(numbers) > 1:
        return True
    if numbers_only:
        return False
    return len(keys) > 1


def _last_line_answer(text: str) -> str | None:
    """A final answer line: the last non-empty line, when it is a display of math, or holds one
    number, or ends an equation chain with ``= N``."""
    for line in reversed(text.splitlines()):
        line = line.strip().strip("*").strip()
        if not line:
            continue
        if _ALTERNATIVES.search(line):
            return None  # "x = 5 or x = 6": not one final value
        math = _MATH_LINE.match(line)
        if math:
            return math.group(1).strip()
        numbers = numbers_in(line)
        if len(numbers) == 1:
            return line.rstrip(".")
        if len(numbers) > 1:
            tail = line.rstrip(" .")
            equals = tail.rfind("=")
            if equals != -1 and len(numbers_in(tail[equals + 1 :])) == 1:
                return tail[equals + 1 :].strip()
        return None
    return None


def _phrases(pattern: re.Pattern[str], text: str) -> list[tuple[int, str]]:
    found = ((match.start(), _phrase_answer(match.group(1))) for match in pattern.finditer(text))
    return [(position, answer) for position, answer in found if answer]


MAX_LISTED_BOXES = 50
# What may stand between the boxes of one list answer: spacing, math delimiters, commas, "and".
_BOX_CONNECTOR = re.compile(
    r"(?:\s|\$|\\[\[\]()]|\\q?quad|\\[,;:! ]|~|[,;&]|\band\b|\\text\s*\{\s*(?:and|,)?\s*\})*"
    r"(?:[A-Za-z](?:_\{?[A-Za-z0-9]{1,4}\}?)?\s*=\s*)?"  # the next box's label: "and \( y_2 = \boxed{"
)


_LIST_WORDS = re.compile(r"[^\\${}]{0,40}(?:\band|,)\s*\$?")  # "... papers and": a reference's list


def listed_boxes(
    text: str, boxes: list[tuple[str, int, int]], *, reference: bool = False
) -> list[tuple[str, int, int]]:
    """The final run of boxes joined only by list connectors (``\\boxed{1}, \\boxed{2} and
    \\boxed{3}`` is the list answer ``1, 2, 3``); the last box alone when nothing joins it.
    Boxes separated by anything else (prose, "or") stay separate answers, and disagreeing
    separate answers are a hedge. A reference (trusted) may also join its boxes with a few words
    ending in "and" or a comma (``\\boxed{1} papers and \\boxed{2} bins``)."""
    if not boxes:
        return []
    listed = [boxes[-1]]
    for previous in reversed(boxes[:-1]):
        joined = _BOX_CONNECTOR.fullmatch(text, previous[2], listed[0][1]) is not None
        if reference and not joined:
            joined = _LIST_WORDS.fullmatch(text, previous[2], listed[0][1]) is not None
        if len(listed) > MAX_LISTED_BOXES or not joined:
            break
        listed.insert(0, previous)
    return listed


def extract_answer(text: str, *, max_boxes: int = 3) -> Extraction:
    """The final answer of ``text`` (already a normalised tail of the response)."""
    boxes = find_boxes(text, 2000)
    listed = listed_boxes(text, boxes)
    one_list = len(listed) == len(boxes) and len({content for content, _, _ in listed}) == len(listed)
    if (len(boxes) > max_boxes and not one_list) or len(listed) > MAX_LISTED_BOXES:
        return Extraction(None, "boxed", "many_boxes", len(boxes))  # a spray of guesses
    hash_matches = list(_HASH.finditer(text)) if "####" in text else []
    hashes = [match.group(1).strip() for match in hash_matches]
    statements: list[tuple[int, str]] = []  # "final answer ..." and "Answer: ..." lines
    the_answer: list[tuple[int, str]] = []  # "... the answer is X"
    if "nswer" in text or "NSWER" in text:
        statements = sorted(_phrases(_FINAL_PHRASE, text) + _phrases(_ANSWER_LINE, text))
        the_answer = _phrases(_THE_ANSWER, text)

    boxed = [content.strip() for content, _, _ in boxes[: len(boxes) - len(listed)]]
    if listed:
        boxed.append(", ".join(dict.fromkeys(content.strip() for content, _, _ in listed)))
    if _disagree(boxed, numbers_only=False):
        return Extraction(None, "boxed", "several_answers", len(boxes))
    if _disagree(hashes, numbers_only=False):
        return Extraction(None, "hash", "several_answers", len(boxes))
    # "The answer is" after the last box, #### line or final statement counts as final too:
    # "\boxed{5} ... the answer is 6" offers two answers.
    markers = [end for _, _, end in boxes] + [match.start() for match in hash_matches]
    last_marker = max(markers + [position for position, _ in statements], default=None)
    later = [answer for position, answer in the_answer if last_marker is not None and position > last_marker]
    if _disagree(boxed + hashes + [answer for _, answer in statements] + later, numbers_only=True):
        return Extraction(None, "mixed", "several_answers", len(boxes))

    if boxed:
        return Extraction(boxed[-1], "boxed", None, len(boxes))
    if hashes and hashes[-1]:
        return Extraction(hashes[-1], "hash")
    if statements:
        return Extraction(statements[-1][1], "final_phrase")
    if the_answer:
        return Extraction(the_answer[-1][1], "phrase")
    turn = _TURN_TOKEN.search(text)
    text = text[: turn.start()] if turn else text
    line = _last_line_answer(text)
    if line and parse_number(line) is not None:
        return Extraction(line, "line")
    expression = _last_expression(text)
    if expression.answer is None and expression.hedge is None and line:
        return Extraction(line, "line")
    return expression


# --------------------------------------------------------------------------- unmarked answers

# A new chat turn the model wrote after its answer (a leaked template token) is not part of it.
_TURN_TOKEN = re.compile(r"<\|(?:im_start|im_end|endoftext|eot_id|end_of_turn|end)\|>")
_MATH_SEGMENT = re.compile(
    r"\$\$((?s:.+?))\$\$|\\\[((?s:.+?))\\\]"  # display math may span lines,
    r"|\\\((.+?)\\\)|(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$"  # inline math may not
)
_ALTERNATIVES = re.compile(r"\b(?:or|either|maybe|perhaps|possibly|alternatively)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_COPULA = re.compile(r"\b(?:is|are|was|were|equals|be)\b\s*:?\s*|'s\s+|=\s*|:\s+", re.IGNORECASE)
SCANNED_TAIL = 1500


def _last_expression(text: str) -> Extraction:
    """The answer of a response with no marker: its last piece of mathematics when nothing but
    words follows it ("Therefore $x \\geq 5$ is the solution."), else the value its last sentence
    with a number states ("... the probability is 2/3."). Two pieces of mathematics offered as
    alternatives ("$5$ or $6$") are a hedge."""
    text = text[-SCANNED_TAIL:].rstrip()
    segments = [match for match in _MATH_SEGMENT.finditer(text) if any(group for group in match.groups())]
    if segments and not any(ch.isdigit() or ch == "\\" for ch in text[segments[-1].end() :]):
        last = segments[-1]
        if len(segments) > 1 and _ALTERNATIVES.search(text, segments[-2].end(), last.start()):
            return Extraction(None, "expression", "several_answers")
        return Extraction(next(group for group in last.groups() if group).strip(), "expression")
    for sentence in reversed([part for part in _SENTENCE.split(text) if part.strip()]):
        if not any(ch.isdigit() for ch in sentence):
            continue  # "I hope it is correct."
        if _ALTERNATIVES.search(sentence):
            return Extraction(None, "sentence", "several_answers")
        copulas = list(_COPULA.finditer(sentence))
        if not copulas and sentence.strip() != text.strip():
            break  # a number alone in a fragment of the text states nothing
        stated = sentence[copulas[-1].end() :] if copulas else sentence
        return Extraction(stated.strip().rstrip(".!?").strip(), "sentence")
    return Extraction(None, "none")
