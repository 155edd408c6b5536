"""The docs' examples, checked beyond running: every function a page defines is called,
and the inline code names the page's own models and sqlrecord's real API.

``tests/test_docs.py`` runs a page's fenced examples as one script, recording which of
its functions were called (:data:`RECORD_CALLS`; a route or a helper defined and never
called would otherwise pass untried: :func:`never_called`), then hands the script's
globals to :func:`check_page`, which reads the page's inline code spans
(`` `User.filter_by(...)` ``, `` `order_by("-id")` ``, `` `obj.save(*, session=None)` ``)
and checks every call on a model, a query or a database: each attribute exists, the
arguments bind to the real signature, and a call whose arguments are all literals is
made (building a query checks its field names) without reaching the database (a
coroutine is closed unawaited). A span written as a signature (``*,``, defaults) must
match the real one.

How a span's first name is read:

- a name the page's script defines (``Author``, ``db``), or one of sqlrecord's names;
- ``Model``, ``obj``, ``Query``, ``db``: any model of the page, an instance of one, a
  query of one, a ``Database`` (on a page without models, a stand-in model with every
  mixin, whose field names are then not checked); ``user``, ``member``: an instance
  of the page's ``User``, ``Member``;
- a leading ``.`` or a bare call (``.load(...)``, ``order_by(...)``): a model or a
  query of the page (or of the stand-in), any of which may accept it;
- a capitalised name used like a model (``Memo.with_deleted()``) that the page does not
  define: an error where the page defines models, the stand-in elsewhere.

Anything else (a name alone, SQLAlchemy's ``session.flush()``, other libraries' calls,
prose) is counted as not checked.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlrecord
from sqlrecord import BaseModelMixin, CRUDMixin, Database, Query, SoftDeleteMixin, VersionedMixin
from sqlrecord.exceptions import SQLRecordError

FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
ANY = "<a model or query of the page>"  # the receiver of `.load(...)` and of bare calls
PLACEHOLDERS = ("Model", "obj", "Query", "db")


class StandInBase(DeclarativeBase):
    pass


class StandIn(BaseModelMixin, SoftDeleteMixin, VersionedMixin, CRUDMixin, StandInBase):
    """``Model`` on a page that defines none: every mixin, so every method exists."""

    __tablename__ = "docs_stand_in"
    name: Mapped[str | None] = mapped_column(String(40))


class ProblemError(Exception):
    """A span that does not run as written."""


class _Stop:
    """The chain goes on past what can be checked without running it."""


STOP = _Stop()
UNKNOWN = object()  # an argument that is not a literal (`pk`, `form`, `...`)


@dataclass
class Report:
    checked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    never_called: list[str] = field(default_factory=list)


# Put before a page's script: the first lines of the functions its run calls (a profile
# hook sees calls only, so the examples run at nearly full speed).
RECORD_CALLS = """\
import sys as _sys

_called_lines = set()


def _record_call(frame, event, arg):
    if event == "call" and frame.f_code.co_filename == __file__:
        _called_lines.add(frame.f_code.co_firstlineno)


_sys.setprofile(_record_call)  # this thread's calls: the examples run no threads of their own
"""


def never_called(script: str, called_lines: set[int]) -> list[str]:
    """The functions a script (:data:`RECORD_CALLS` and a page's examples) defines after
    :data:`RECORD_CALLS` whose first line is not in ``called_lines``."""
    missed = []
    for node in ast.walk(ast.parse(script)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(each.lineno for each in node.decorator_list)])
            if first > RECORD_CALLS.count("\n") and first not in called_lines:
                missed.append(node.name)
    return missed


def inline_spans(text: str) -> Iterator[tuple[int, str]]:
    """(line number, code) of each inline code span outside fenced blocks."""
    bare = FENCE.sub(lambda block: "\n" * block.group(0).count("\n"), text)
    for number, line in enumerate(bare.splitlines(), start=1):
        for code in SPAN.findall(line):
            yield number, code


def check_page(text: str, namespace: dict[str, Any], *, skip_lines: tuple[str, ...] = ()) -> Report:
    """Check every inline span of a page against ``namespace`` (its script's globals);
    spans on a line starting with one of ``skip_lines`` are not read."""
    page = _Page(namespace)
    report = Report()
    lines = text.splitlines()
    for number, code in inline_spans(text):
        if lines[number - 1].startswith(skip_lines):
            continue
        where = f"line {number}: `{code}`"
        try:
            checked = page.check(code)
        except ProblemError as problem:
            report.problems.append(f"{where}: {problem}")
            continue
        (report.checked if checked else report.skipped).append(where)
    return report


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, CRUDMixin) and "__table__" in vars(value)


def _ours(value: Any) -> bool:
    """Whether ``value`` is sqlrecord's (a model, a query, a database, a function of ours)."""
    if _is_model(value) or isinstance(value, CRUDMixin | Query | Database):
        return True
    owner = getattr(value, "__self__", value)  # a bound method: its object
    if _is_model(owner) or isinstance(owner, CRUDMixin | Query | Database):
        return True
    return str(getattr(value, "__module__", "")).startswith("sqlrecord")


def _describe(value: Any) -> str:
    """``Author``, ``Author()`` for an instance, ``Query(Author)``."""
    if isinstance(value, Query):
        return f"Query({value.model.__name__})"
    if isinstance(value, type):
        return value.__name__
    return f"{type(value).__name__}()"


class _Page:
    def __init__(self, namespace: dict[str, Any]) -> None:
        self.defined = namespace
        self.models = [
            value
            for name, value in namespace.items()
            if _is_model(value) and name == value.__name__
        ]
        self.public = {name: getattr(sqlrecord, name) for name in sqlrecord.__all__}

    # -- which objects a span's first name stands for --------------------

    def _models(self) -> tuple[list[type[Any]], bool]:
        """The page's models, or the stand-in (whose arguments are not checked)."""
        return (self.models, False) if self.models else ([StandIn], True)

    def receivers(self, root: str, first: str | None) -> tuple[list[Any], bool] | None:
        """The objects ``root`` may be and whether they are stand-ins; None: not ours."""
        if root in self.defined:
            value = self.defined[root]
            return ([value], False) if _ours(value) else None
        if root == ANY:
            models, stand_in = self._models()
            found = [each for model in models for each in (model, model(), Query(model))]
            found = [each for each in found if first is not None and hasattr(each, first)]
            return (found, stand_in) if found else None
        if root in PLACEHOLDERS:
            models, stand_in = self._models()
            if root == "db":
                return [Database(default=False)], True
            made = {"Model": list(models), "obj": [model() for model in models]}
            return made.get(root, [Query(model) for model in models]), stand_in
        if root in self.public:
            return [self.public[root]], False
        for model in self.models:
            if root == model.__name__.lower():
                return [model()], False
        if root[:1].isupper() and first is not None and hasattr(StandIn, first):
            if self.models:
                names = ", ".join(model.__name__ for model in self.models)
                raise ProblemError(f"{root} is not a model of this page (it has {names})")
            return [StandIn], True
        return None

    # -- one span ---------------------------------------------------------

    def check(self, code: str) -> bool:
        """Check one span; False when nothing in it is sqlrecord's to check."""
        parsed = _parse(code)
        if parsed is None:
            return False
        node, signature = parsed
        chain = _chain(node)
        if chain is None:
            return False
        root, steps = chain
        if not steps:
            return False  # a name alone (`Q`, `BaseModel`): prose, nothing to call
        bare = steps and steps[0][0] == "call" and root not in (*self.defined, *PLACEHOLDERS)
        if bare and not root[:1].isupper():
            root, steps = ANY, [("attr", root), *steps]  # a bare call: `order_by(...)`
        first = steps[0][1] if steps and steps[0][0] == "attr" else None
        found = self.receivers(root, first if isinstance(first, str) else None)
        if found is None:
            return False
        receivers, stand_in = found
        failures: dict[str, list[str]] = {}  # what went wrong: on which receivers
        for receiver in receivers:
            try:
                end = _walk(receiver, steps, stand_in=stand_in)
                if signature is not None:
                    _same_signature(end, signature)
            except ProblemError as problem:
                failures.setdefault(str(problem), []).append(_describe(receiver))
            else:
                return True
        raise ProblemError(
            "; ".join(f"{text} (on {', '.join(on)})" for text, on in failures.items())
        )


def _parse(code: str) -> tuple[ast.expr, ast.arguments | None] | None:
    """The span as an expression, or as a callee and the parameters it is documented with."""
    code = code.strip()
    for prefix in ("await ", "async with ", "@"):
        code = code.removeprefix(prefix)
    code = code.removesuffix(":").strip()
    if code.startswith("."):
        code = f"__any__{code}"
    try:
        return _rename_any(ast.parse(code, mode="eval").body), None
    except SyntaxError:
        pass
    match = re.fullmatch(r"([\w.]+)\((.*)\)", code)
    if match is None:
        return None
    try:
        definition = ast.parse(f"def _({match.group(2)}): pass").body[0]
        callee = ast.parse(match.group(1), mode="eval").body
    except SyntaxError:
        return None
    assert isinstance(definition, ast.FunctionDef)
    return _rename_any(callee), definition.args


def _rename_any(node: ast.expr) -> ast.expr:
    for each in ast.walk(node):
        if isinstance(each, ast.Name) and each.id == "__any__":
            each.id = ANY
    return node


def _chain(node: ast.expr) -> tuple[str, list[tuple[str, Any]]] | None:
    """``A.b(...).c`` as ("A", [("attr", "b"), ("call", node), ("attr", "c")])."""
    steps: list[tuple[str, Any]] = []
    while True:
        if isinstance(node, ast.Call):
            steps.append(("call", node))
            node = node.func
        elif isinstance(node, ast.Attribute):
            steps.append(("attr", node.attr))
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id, steps[::-1]
        else:
            return None


def _walk(value: Any, steps: list[tuple[str, Any]], *, stand_in: bool) -> Any:
    """Follow the chain from ``value``; the last object reached (STOP when it went on
    past what can be checked without running it)."""
    for kind, step in steps:
        if value is STOP or not _ours(value):
            return STOP
        if kind == "attr":
            try:
                value = getattr(value, step)
            except AttributeError:
                raise ProblemError(f"{_describe(value)} has no {step!r}") from None
            except SQLRecordError:
                value = STOP  # e.g. a relationship that is not loaded: it exists
            continue
        value = _call(value, step, stand_in=stand_in)
    return value


def _literal(node: ast.expr) -> Any:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return UNKNOWN
    return UNKNOWN if value is Ellipsis else value


def _call(function: Any, node: ast.Call, *, stand_in: bool) -> Any:
    """Bind the call's arguments to ``function``'s signature; make the call when they are
    all literals (on the page's own models); return its result or STOP."""
    if not callable(function):
        raise ProblemError(f"{_describe(function)} is not callable")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    partial = False  # `*rows`, `**form`, or a positional `...`: more arguments than shown
    for arg in node.args:
        if isinstance(arg, ast.Starred) or (
            isinstance(arg, ast.Constant) and arg.value is Ellipsis
        ):
            partial = True
        else:
            args.append(_literal(arg))
    for keyword in node.keywords:
        if keyword.arg is None:
            partial = True
        else:
            kwargs[keyword.arg] = _literal(keyword.value)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:  # names and counts: a wrong keyword, too many arguments
            signature.bind_partial(*args, **kwargs)
        except TypeError as error:
            raise ProblemError(str(error)) from None
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            # Prose shows the argument it is about (`bulk_create(return_objects=True)`,
            # `get()` for the method): nothing to call.
            partial = True
    known = not partial and all(each is not UNKNOWN for each in [*args, *kwargs.values()])
    if known and not stand_in:
        try:
            result = function(*args, **kwargs)
        except (SQLRecordError, TypeError, ValueError) as error:
            raise ProblemError(f"{type(error).__name__}: {error}") from None
    elif inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        return STOP
    else:
        try:  # the same call without the unknown arguments, to go on along the chain
            result = function()
        except Exception:
            return STOP
    if inspect.iscoroutine(result):
        result.close()  # checked when called; never sent to the database
        return STOP
    return STOP if inspect.isasyncgen(result) else result


def _same_signature(function: Any, documented: ast.arguments) -> None:
    """A span written as a signature (``save(*, session=None)``) matches the real one."""
    if function is STOP or not callable(function):
        return
    real = inspect.signature(function).parameters
    kinds = [
        *((arg, inspect.Parameter.POSITIONAL_ONLY) for arg in documented.posonlyargs),
        *((arg, inspect.Parameter.POSITIONAL_OR_KEYWORD) for arg in documented.args),
        *((arg, inspect.Parameter.KEYWORD_ONLY) for arg in documented.kwonlyargs),
    ]
    positional = [*documented.posonlyargs, *documented.args]
    defaults: dict[str, ast.expr | None] = dict.fromkeys((arg.arg for arg, _ in kinds), None)
    for arg, default in zip(positional[::-1], documented.defaults[::-1], strict=False):
        defaults[arg.arg] = default
    for arg, default in zip(documented.kwonlyargs, documented.kw_defaults, strict=True):
        defaults[arg.arg] = default
    for arg, kind in kinds:
        name = arg.arg
        if name not in real:
            raise ProblemError(f"no parameter {name!r} (it has {', '.join(real)})")
        if real[name].kind is not kind:
            raise ProblemError(f"{name!r} is {real[name].kind.description}, not {kind.description}")
        shown = defaults[name]
        if shown is None:
            if real[name].default is not inspect.Parameter.empty:
                raise ProblemError(f"{name!r} has a default ({real[name].default!r})")
        elif _literal(shown) is not UNKNOWN and _literal(shown) != real[name].default:
            raise ProblemError(
                f"{name!r} defaults to {real[name].default!r}, not {ast.unparse(shown)}"
            )
    for name, parameter in real.items():
        required = parameter.default is inspect.Parameter.empty and parameter.kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        )
        if required and name not in defaults:
            raise ProblemError(f"the required parameter {name!r} is not shown")
