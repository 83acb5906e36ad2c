"""Order templates: generated resources validated once per shape, filled in per call.

Why: every hook call drafts ~60 FHIR resources (three protocol order sets, test and medication orders) for a
patient the service has never seen, and each must be valid FHIR R4. Built and validated afresh (R4B models) they
cost several milliseconds a call; yet between calls they differ only in a few fields: the subject, authoredOn, the
requester, the override note, a test's reasons, a requisition id, the baseline MME. So a builder's resource list
is built once per everything else (its key) with a sentinel in each of those fields (its slots), validated in
R4B, and compiled into a constructor; each call then fills its own values into a fresh copy.

What it guarantees:

- A filled template is the resource list the builder would have built and validated for those values: the same
  JSON, key order included (tests/perf/test_order_templates.py compares both over 150 varied cases, warm from the
  cases before, and validates every filled template in R4B for unusual patients, dates and baselines).
- It is as valid as its template. R4B validates every element on its own, by its type, and a filled field keeps
  its type and presence: a text slot (a reference, a text, an identifier's value) gets a non-blank string, which
  the R4B string pattern accepts whatever it holds; a dateTime slot gets a dateTime the lean parser vouches for
  (the rule `resources.validated` relies on too); a decimal slot gets a finite number. A value that is not of its
  slot's kind (a blank reference, a dateTime without a time zone, an infinite number) is not filled in: the
  resources are then built afresh and validated in full, as they always were.
- Nothing patient-specific is kept. A template is built from sentinels, never from a call's values, and its key is
  the builder's key (catalogue keys, the protocol id, the intent) and which slots are absent. A builder that also
  writes a slot's value inside a longer text (e.g. into a narrative) cannot be filled by replacing whole values:
  its template is refused (kept as "build afresh") and that builder always builds and validates afresh. Values a
  caller cannot express as whole slots (the benzodiazepine caution that names the patient's opioids) are not
  templated at all (fhir/orders.py).
- Bounded: at most 2 MB for all templates (about three times the JSON of each: the compiled code and its
  constants), no single one above 128 KB (such a shape is built afresh every time); on overflow all are
  forgotten and rebuilt as they are met. The shapes are few (protocols x builders x absent slots: ~70 after
  warm-up, ~260 KB of JSON), and cds_hooks/warmup.py builds them all before the first call.
- A reloaded catalogue builds anew: each template remembers the catalogue object (`origin`) it was built from.

Why a compiled constructor: the template is kept as `lambda v0, v1, ...: [{...}, ...]`, a Python expression of
dict and list displays with the slot parameters in the sentinels' places, compiled from an `ast` tree (no source
text: nothing to inject into; the only names are the parameters, evaluated with no builtins). Each call makes new
dicts and lists at bytecode speed and shares only the immutable strings and numbers. Measured over the ~70
warm-up shapes (~260 KB of JSON, 553 slots): the compiled constructors take 0.65 ms; `orjson.loads` of the JSON
plus a precomputed (path, slot) substitution list 2.1 ms; `pickle.loads` 2.3 ms; a recursive Python copier 8.8 ms;
`copy.deepcopy` 11.7 ms. The simpler forms were 3 to 18 times slower, so the compiled one stays.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from smart_app.caching import ByteBoundedMemo
from smart_app.fhir.resources import is_valid_datetime, validated

Resource = dict[str, Any]
SlotKind = Literal["text", "dateTime", "decimal"]
Slot = tuple[SlotKind, Any]  # the kind of a varying field, and this call's value (None: the field is absent)
Build = Callable[[Sequence[Any]], list[Resource]]  # the resources from one value per slot (a value or a sentinel)


@dataclass(frozen=True, slots=True)
class Template:
    origin: object  # the catalogue object it was built from (a reloaded catalogue builds anew)
    make: Callable[..., list[Resource]] | None  # the resource list from the slot values; None: refused


TEMPLATES: ByteBoundedMemo[Hashable, Template] = ByteBoundedMemo(2 * 1024 * 1024, max_entry_bytes=128 * 1024)


def templated(key: tuple[Hashable, ...], origin: object, slots: Sequence[Slot], build: Build) -> list[Resource]:
    """`build(values of slots)`, validated: from the template of `key` when every value fills its slot.

    `key` names the builder and everything it reads besides the slot values; `origin` is the catalogue object
    those come from. `build` may use each slot value only as a whole element value (a sentinel found inside a
    longer text or a key refuses the template), and must build anew on every call (templates are made from it)."""
    values: list[Any] = []
    absent: list[bool] = []
    for kind, value in slots:  # one pass: whether each value fills its slot, and which are absent
        if value is not None and not _fills(kind, value):
            return _afresh(slots, build)
        values.append(value)
        absent.append(value is None)
    full_key = (*key, tuple(absent))
    template = TEMPLATES.get(full_key)
    if template is None or template.origin is not origin:
        template, size = _template(origin, slots, build)
        TEMPLATES.put(full_key, template, size)
    if template.make is None:
        return _afresh(slots, build)
    return template.make(*values)


def _afresh(slots: Sequence[Slot], build: Build) -> list[Resource]:
    return [validated(r) for r in build([value for _, value in slots])]


def _fills(kind: str, value: Any) -> bool:
    """Whether `value` can take a sentinel's place without changing the validity of the resource (see above)."""
    if kind == "text":
        return type(value) is str and bool(value) and not value.isspace()
    if kind == "dateTime":
        return type(value) is str and is_valid_datetime(value)
    return type(value) in (int, float) and math.isfinite(value)


def _sentinel(kind: str, index: int) -> Any:
    if kind == "text":
        return f"urn:x-smart-app-template-slot:{index}:end"  # no sentinel is part of another
    if kind == "dateTime":
        return f"{1900 + index}-01-01T00:00:00+00:00"
    return 1234.5678 + index  # decimal


def _template(origin: object, slots: Sequence[Slot], build: Build) -> tuple[Template, int]:
    """The template of `build` for these slots (a sentinel for each present one), and its size in bytes (about)."""
    sentinels = [None if value is None else _sentinel(kind, i) for i, (kind, value) in enumerate(slots)]
    data = orjson.dumps([validated(r) for r in build(sentinels)])
    where = {s: i for i, s in enumerate(sentinels) if s is not None}
    marks = [str(s) for s in where]
    try:
        body = _constructor(orjson.loads(data), where, marks)
    except _InsideText:
        return Template(origin, None), len(data)
    return Template(origin, _compiled(body, len(slots))), 3 * len(data)


class _InsideText(Exception):
    """A sentinel is part of a longer text (or a key): the builder writes that value into more than an element."""


def _constructor(value: Any, where: dict[Any, int], marks: Sequence[str]) -> ast.expr:
    """An expression that builds `value` (plain JSON) anew, with parameter `v<n>` in place of sentinel n."""
    kind = type(value)
    if kind is dict:
        if any(mark in key for key in value for mark in marks):
            raise _InsideText
        keys: list[ast.expr | None] = [ast.Constant(key) for key in value]
        return ast.Dict(keys=keys, values=[_constructor(v, where, marks) for v in value.values()])
    if kind is list:
        return ast.List(elts=[_constructor(v, where, marks) for v in value], ctx=ast.Load())
    if kind in (str, float) and value in where:
        return ast.Name(id=f"v{where[value]}", ctx=ast.Load())
    if kind is str and any(mark in value for mark in marks):
        raise _InsideText
    return ast.Constant(value)


def _compiled(body: ast.expr, count: int) -> Callable[..., list[Resource]]:
    """`lambda v0, ..., v<count-1>: body`. Its displays make new dicts and lists on every call (only the strings and
    numbers, which cannot change, are shared): each call gets its own copy of the template."""
    parameters = [ast.arg(arg=f"v{i}") for i in range(count)]
    arguments = ast.arguments(posonlyargs=[], args=parameters, kwonlyargs=[], kw_defaults=[], defaults=[])
    tree = ast.fix_missing_locations(ast.Expression(body=ast.Lambda(args=arguments, body=body)))
    # Compiled from the tree, not from text: there is no source to inject into, and the only names are the parameters.
    make: Callable[..., list[Resource]] = eval(compile(tree, "<order template>", "eval"), {"__builtins__": {}})
    return make
