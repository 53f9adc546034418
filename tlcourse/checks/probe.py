"""The part of a check that runs beside the student's code: call their answer, report plain data.

A probe takes an exercise's cases (inputs only, written by the trusted side), builds what a
case asks for (``Build``: toy Keras models, say), calls the student's function on it (with a
soft time limit per call), and reports every outcome through ``plain.encode``. It decides
nothing: verdicts are made from its report by the judge (``tlcourse.checks.verdict``), in the
notebook by ``check()`` and at grading in a process where no student code ever ran.

In the grading box this module runs inside the student's kernel, so anything here may have been
patched by the student; that is why its output is only ever treated as untrusted plain data, and
why it reports only *artefacts*: what the student's function returned and, where a case asks
(``"after": True``), the arguments as they are after the call (a model as its config, weights
and, with ``"optimizer": True``, its optimizer's variables). It never describes them ("the base is
frozen", "the input was not changed", predictions): the judge rebuilds and measures the artefacts
itself, on inputs this module never sees.
"""

from __future__ import annotations

import dis
import json
import signal
import threading
import types
from contextlib import contextmanager

from tlcourse.checks import plain
from tlcourse.checks.plain import Build

MIME = "application/vnd.tlcourse.probe+json"
CALL_SECONDS = 30  # soft limit per call of a student's function (the grader's hard deadline is separate)
MISSING = object()
BUILDERS: dict = {}


def builder(name: str):
    """Register ``func(**params)`` that builds a case input called ``name`` (shared, answer-free code)."""

    def register(func):
        BUILDERS[name] = func
        return func

    return register


class ProbeTimeout(BaseException):
    """Raised inside a student's function that ran past ``CALL_SECONDS`` (BaseException: an
    ``except Exception`` in their code does not swallow it)."""


@contextmanager
def _soft_deadline(seconds: float):
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def stop(_signum, _frame):
        raise ProbeTimeout

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def is_stub(answer) -> bool:
    """A function whose body is still the student copy's ``return None`` / ``pass`` / ``raise NotImplementedError``."""
    if type(answer) is not types.FunctionType:
        return False
    code = answer.__code__
    ops = [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname not in ("RESUME", "NOP", "CACHE")]
    if ops in ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)]):
        return True
    names = [arg for op, arg in ops if op in ("LOAD_GLOBAL", "LOAD_NAME")]
    return bool(ops) and ops[-1][0] == "RAISE_VARARGS" and names == ["NotImplementedError"]


def _error_text(err: BaseException) -> str:
    try:
        text = str(err).splitlines()[0] if str(err) else ""
    except Exception:  # a student's exception whose __str__ raises
        text = ""
    return f"{type(err).__name__}: {text[:200]}"


def materialize(value, cache: dict):
    """A case value with every ``Build`` replaced by what its builder makes (built once per probe)."""
    if type(value) is Build:
        key = json.dumps(plain.encode(value), sort_keys=True)
        if key not in cache:
            cache[key] = BUILDERS[value.name](**value.params)
        return cache[key]
    if type(value) is list:
        return [materialize(v, cache) for v in value]
    if type(value) is tuple:
        return tuple(materialize(v, cache) for v in value)
    if type(value) is dict:
        return {k: materialize(v, cache) for k, v in value.items()}
    return value


def run_case(case: dict, namespace: dict, seconds: float = CALL_SECONDS) -> dict:
    """One case: the answer's value, or the call of the student's function, reported as plain data."""
    name = case.get("call") or case.get("value")
    answer = namespace.get(name, MISSING)
    models = bool(case.get("model"))
    if "value" in case:
        return {"ok": True, "value": plain.encode(answer if answer is not MISSING else None, models)}
    if not callable(answer):
        return {
            "ok": False,
            "kind": "not_callable",
            "error": f"not a function ({plain.Unsupported(type(answer).__name__)!r})",
        }
    cache: dict = {}
    outcome: dict = {}
    try:
        args = materialize(case.get("args", []), cache)
        if type(args) is not list:
            args = list(args)
        kwargs = materialize(case.get("kwargs", {}), cache)
    except Exception as err:  # the case could not be set up here (a broken environment): say so
        return {"ok": False, "kind": "setup", "error": _error_text(err)}
    try:
        with _soft_deadline(seconds):
            returned = answer(*args, **kwargs)
        outcome = {"ok": True, "value": plain.encode(returned, models)}
    except ProbeTimeout:
        return {"ok": False, "kind": "timeout", "error": f"took longer than {seconds:g} s (an endless loop?)"}
    except Exception as err:  # the student's code failed on our input: that is feedback
        outcome = {"ok": False, "kind": "raised", "error": _error_text(err)}
    if case.get("after"):  # the arguments as the call left them: artefacts, judged on the trusted side
        try:
            with _soft_deadline(seconds):
                outcome["after"] = plain.encode(args, models=True, optimizer=bool(case.get("optimizer")))
        except ProbeTimeout:
            outcome["after"] = {"$unsupported": "saving the arguments timed out"}
    return outcome


def probe(exercise_id: str, names: tuple[str, ...], cases: list[dict], namespace: dict) -> dict:
    """The report on one exercise: which answers are missing or stubs, and every case's outcome."""
    missing = [n for n in names if namespace.get(n, MISSING) is MISSING or namespace.get(n) is None]
    stubs = [n for n in names if n not in missing and is_stub(namespace.get(n))]
    report = {"exercise": exercise_id, "missing": missing, "stubs": stubs, "results": []}
    if missing or stubs:
        return report
    report["results"] = [run_case(case, namespace) for case in cases]
    return report


_PROBED: dict[str, tuple] = {}  # exercise -> identities of its answers when it was last probed


def _identities(names, namespace) -> tuple:
    return tuple(id(namespace.get(n)) for n in names)


def grading_probe(exercise_ids: list[str], namespace: dict, cases_file: str, final: bool = False) -> None:
    """In the grading kernel: probe each exercise on the cases the grader wrote, and display the reports.

    With ``final``, only exercises never probed, or whose answers were rebound since, are probed.
    """
    from IPython.display import display

    from tlcourse.checks.registry import REGISTRY, load_all

    load_all()
    with open(cases_file) as f:
        all_cases = plain.loads(f.read(), builds=True)
    for exercise_id in exercise_ids:
        ex = REGISTRY.get(exercise_id)
        if ex is None or exercise_id not in all_cases:
            continue
        if final and _PROBED.get(exercise_id) == _identities(ex.names, namespace):
            continue
        report = probe(exercise_id, ex.names, all_cases[exercise_id], namespace)
        _PROBED[exercise_id] = _identities(ex.names, namespace)
        display({MIME: json.dumps(report)}, raw=True)


def grading_probe_final(exercise_ids: list[str], namespace: dict, cases_file: str) -> None:
    grading_probe(exercise_ids, namespace, cases_file, final=True)
