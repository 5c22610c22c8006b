"""Log parsing metrics: grouping accuracy, parsing accuracy and template-level F1.

- GA (Zhu et al., ICSE-SEIP'19): a line is right when the set of lines its parser group holds
  equals the set of lines sharing its true template.
- PA (Loghub-2.0 / Khan et al. ICSE'22 "MLA"): a line is right when its template string equals
  the true one after both are normalised by the ICSE'22 template-correction rules (DS, PS, BL,
  US, DG, WV, DV, CV and the consecutive-variable collapses), applied identically to every parser.
- FTA (Loghub-2.0, "F1 of template accuracy"): a parser template is correct when its group
  equals a true group *and* its normalised string equals that group's true template;
  precision over parser templates, recall over true templates, harmonic mean.
- FGA (Loghub-2.0, group-level F1): as FTA without the string condition.
"""

from __future__ import annotations

import re
from collections import defaultdict

__all__ = ["evaluate", "normalise_template"]

_PATH_DELIMS = r"\s,!;:=|\"'\[\]\(\){}"
_TOKEN_DELIMS = _PATH_DELIMS + r"\.\-\+@#\$%&"
_PATH_SPLIT = re.compile(f"([{_PATH_DELIMS}])")
_TOKEN_SPLIT = re.compile(f"([{_TOKEN_DELIMS}])")
_CONSTANT_VARIABLES = {"true", "false", "null", "root", "admin"}


def normalise_template(template: str) -> str:
    """A template in the ICSE'22 corrected form, so that equal meanings compare equal."""
    template = re.sub(r"\s+", " ", template.strip())
    template = re.sub(r"<[A-Z]+>", "<*>", template)  # Drain3's named masks (<NUM>, <IP>…)
    parts = ["<*>" if re.fullmatch(r"(/[^/]+)+", p) else p for p in _PATH_SPLIT.split(template)]
    template = "".join(parts)
    tokens = []
    for token in _TOKEN_SPLIT.split(template):
        if token.lower() in _CONSTANT_VARIABLES or re.fullmatch(r"\d+", token):
            token = "<*>"
        elif re.fullmatch(r"[^\s/]*<\*>[^\s/]*", token) and token != "<*>/<*>":
            token = "<*>"
        tokens.append(token)
    template = "".join(tokens)
    for pattern in ("<*>.<*>", "<*><*>"):
        while pattern in template:
            template = template.replace(pattern, "<*>")
    for old, new in (
        (" #<*>#", " <*>"),
        (" #<*> #", " <*>"),
        ("<*>:<*>", "<*>"),
        ("<*>#<*>", "<*>"),
        ("<*>/<*>", "<*>"),
        ("<*>@<*>", "<*>"),
        ("<*>.<*>", "<*>"),
        (' "<*>" ', " <*> "),
        (" '<*>' ", " <*> "),
        ("<*><*>", "<*>"),
    ):
        while old in template:
            template = template.replace(old, new)
    return template


def evaluate(truth: list[str], groups: list[object], templates: list[str]) -> dict[str, float]:
    """GA, PA, FGA and FTA of one parser's output.

    Args:
        truth: the true template of each line.
        groups: the parser's group id of each line.
        templates: the parser's (final) template string of each line.
    """
    n = len(truth)
    true_sets: dict[str, set[int]] = defaultdict(set)
    pred_sets: dict[object, set[int]] = defaultdict(set)
    for i, (t, g) in enumerate(zip(truth, groups, strict=True)):
        true_sets[t].add(i)
        pred_sets[g].add(i)
    norm_cache: dict[str, str] = {}

    def norm(s: str) -> str:
        if s not in norm_cache:
            norm_cache[s] = normalise_template(s)
        return norm_cache[s]

    exact_groups = 0
    correct_templates = 0
    ga_lines = 0
    for members in pred_sets.values():
        first = next(iter(members))
        true_members = true_sets[truth[first]]
        if true_members == members:
            exact_groups += 1
            ga_lines += len(members)
            if norm(templates[first]) == norm(truth[first]):
                correct_templates += 1
    pa_lines = sum(1 for i in range(n) if norm(templates[i]) == norm(truth[i]))
    return {
        "GA": ga_lines / n,
        "PA": pa_lines / n,
        "FGA": _f1(exact_groups, len(pred_sets), len(true_sets)),
        "FTA": _f1(correct_templates, len(pred_sets), len(true_sets)),
        "templates": float(len(pred_sets)),
        "true_templates": float(len(true_sets)),
    }


def _f1(correct: int, predicted: int, actual: int) -> float:
    if not correct:
        return 0.0
    p, r = correct / predicted, correct / actual
    return 2 * p * r / (p + r)
