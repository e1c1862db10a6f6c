"""Rendering a step's prompt template for many personas without Django's per-variable work each
time.

A step's prompt is mostly the same for every persona of a run: the study, its items and their
options, the condition, the instructions. What changes is a few blocks of text (the profile, the
life context, the experiences, the environment, the poll grounding) and a few values shared by
many personas (the episode counts of a proficiency level). Rendering the whole template per call
cost about a tenth of an LLM run's CPU (Django resolves, localizes and joins every variable and
loop of the items each time). `PromptTemplate` renders it once per shape with a unique marker
in place of each block of text, and then puts each persona's text where its marker is: a string
join instead of a template render.

That is exact only where a text value is used as itself: printed with no filter (`{{ x }}`), or
tested for truth in an `{% if %}` (`{% if x %}`, with `and`, `or`, `not`); its truth is part of the
shape, so a persona with no grounding gets the variant rendered without it. A template that uses a
value any other way (a filter, a lookup, a comparison, a loop over it, an include or any other
tag), which a study's own templates may do, is rendered by Django every time, as before. Values
that are not text (numbers, the episode mix) are part of the shape.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from django.template import Context, Template
from django.template.base import FilterExpression, Node, TextNode, Variable, VariableNode
from django.template.defaulttags import CommentNode, ForNode, IfNode
from django.template.smartif import Literal

# Conditions that only test truth (a value used in any other operator is not "as itself").
_TRUTH_OPERATORS = frozenset({"and", "or", "not"})
# Shapes kept per template: conditions × proficiency levels × which texts are empty; a bound in
# case a template keys on something with many values.
_MAX_VARIANTS = 256


class PromptTemplate:
    """A compiled step template and its rendered shapes."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self._marker = f"\x00{secrets.token_hex(8)}:"
        self._pattern = re.compile(re.escape(self._marker) + r"([A-Za-z_][A-Za-z0-9_]*)\x00")
        self._variants: dict[tuple, list[str | tuple[str]]] = {}
        self._lock = threading.Lock()
        self._eligible: dict[frozenset[str], bool] = {}

    def render(self, shared: Mapping[str, Any], values: Mapping[str, Any], *, shape: Any) -> str:
        """The template rendered with `shared` (the same for every call with this `shape`, e.g.
        the study and the condition) and `values` (this call's); stripped."""
        texts = frozenset(k for k, v in values.items() if type(v) is str and v)
        if not self._can_substitute(texts):
            return self._full(shared, values)
        rest = tuple(
            sorted(
                (k, v if type(v) is str else repr(v)) for k, v in values.items() if k not in texts
            )
        )
        key = (shape, texts, rest)
        plan = self._variants.get(key)
        if plan is None:
            plan = self._plan(shared, values, texts)
            with self._lock:
                if len(self._variants) >= _MAX_VARIANTS:
                    self._variants.clear()
                self._variants[key] = plan
        return "".join(part if type(part) is str else values[part[0]] for part in plan).strip()

    def _full(self, shared: Mapping[str, Any], values: Mapping[str, Any]) -> str:
        # A prompt is plain text: nothing in it is HTML-escaped (a Context escapes by default,
        # whatever its engine says).
        return self.template.render(Context({**shared, **values}, autoescape=False)).strip()

    def _plan(
        self, shared: Mapping[str, Any], values: Mapping[str, Any], texts: frozenset[str]
    ) -> list[str | tuple[str]]:
        marked = {k: (f"{self._marker}{k}\x00" if k in texts else v) for k, v in values.items()}
        rendered = self.template.render(Context({**shared, **marked}, autoescape=False))
        pieces = self._pattern.split(rendered)
        # split() alternates literal text and the names between markers.
        return [piece if i % 2 == 0 else (piece,) for i, piece in enumerate(pieces) if piece]

    def _can_substitute(self, names: frozenset[str]) -> bool:
        eligible = self._eligible.get(names)
        if eligible is None:
            eligible = _uses_only_as_themselves(self.template.nodelist, names)
            self._eligible[names] = eligible
        return eligible


def _uses_only_as_themselves(nodes: Iterable[Node], names: frozenset[str]) -> bool:
    """Whether every use of `names` in the nodes prints the value with no filter or tests its
    truth, and nothing else in them could reach the values another way."""
    for node in nodes:
        if isinstance(node, TextNode | CommentNode):
            continue
        if isinstance(node, VariableNode):
            if _mentions(node.filter_expression, names) and not _plain(node.filter_expression):
                return False
            continue
        if isinstance(node, IfNode):
            for condition, nodelist in node.conditions_nodelists:
                if condition is not None and not _truth_test(condition, names):
                    return False
                if not _uses_only_as_themselves(nodelist, names):
                    return False
            continue
        if isinstance(node, ForNode):
            if set(node.loopvars) & names or _mentions(node.sequence, names):
                return False
            if not (
                _uses_only_as_themselves(node.nodelist_loop, names)
                and _uses_only_as_themselves(node.nodelist_empty, names)
            ):
                return False
            continue
        return False  # any other tag: it could read a value in a way not checked here
    return True


def _truth_test(condition: Any, names: frozenset[str]) -> bool:
    if isinstance(condition, Literal):  # a leaf: `{% if x %}`
        value = condition.value
        return not (isinstance(value, FilterExpression) and _mentions(value, names)) or _plain(
            value
        )
    if condition.id in _TRUTH_OPERATORS:
        return all(_truth_test(part, names) for part in (condition.first, condition.second) if part)
    return not any(_literal_mentions(part, names) for part in (condition.first, condition.second))


def _literal_mentions(condition: Any, names: frozenset[str]) -> bool:
    if condition is None:
        return False
    if isinstance(condition, Literal):
        value = condition.value
        return isinstance(value, FilterExpression) and _mentions(value, names)
    return _literal_mentions(condition.first, names) or _literal_mentions(condition.second, names)


def _mentions(expression: FilterExpression, names: frozenset[str]) -> bool:
    var = expression.var
    if isinstance(var, Variable) and var.lookups and var.lookups[0] in names:
        return True
    return any(
        isinstance(arg, Variable) and arg.lookups and arg.lookups[0] in names
        for _filter, args in expression.filters
        for _lookup, arg in args
    )


def _plain(expression: FilterExpression) -> bool:
    var = expression.var
    return (
        not expression.filters
        and isinstance(var, Variable)
        and var.lookups is not None
        and len(var.lookups) == 1
    )
