"""The check machinery: a registry of checks, and ``check()`` for instant feedback.

A check tests one graded task (one function the learner writes) in three steps, so
that the same logic serves a notebook (in-process, instant) and the grader
(out-of-process, authoritative; see :mod:`vae_course.grading.runner`):

1. ``cases(seed)`` builds the inputs: random and edge-case tensors, plain values only
   (they travel to the grading child with ``torch.save``);
2. ``run(fn, inputs)`` calls the learner's function on one case and returns a dict of
   outputs. It runs wherever the learner's code lives; :func:`execute_case` wraps it and
   turns every output into plain data with :func:`describe`;
3. ``compare(case, out, expected)`` runs where the reference lives and returns ``None``
   (correct) or a message that says what is wrong and hints at why, never the reference
   code. ``expected = reference(case)`` is computed once per case with the course's own
   implementation.

A stub that raises ``NotImplementedError`` on every case is "not attempted".
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "PER_EXAMPLE_SUM_HINT",
    "loss_gradients",
    "Case",
    "Check",
    "CheckResult",
    "register",
    "get_check",
    "all_checks",
    "describe",
    "execute_case",
    "judge",
    "run_check",
    "check",
    "as_value_function",
    "copy_input",
    "CheckFailed",
    "under_nbgrader",
    "NOT_ATTEMPTED",
]

NOT_ATTEMPTED = "not attempted"
MAX_MESSAGE = 300


# ----------------------------------------------------------------------------- results
@dataclass
class CheckResult:
    """The outcome of one check: ``status`` is "passed", "failed" or "not attempted"."""

    task: str
    status: str
    message: str = ""
    cases_failed: int = 0
    cases_total: int = 0
    max_points: float = 1.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def points(self) -> float:
        """All of ``max_points`` when passed, else 0 (every case must pass)."""
        return self.max_points if self.passed else 0.0

    def line(self) -> str:
        """One line for the notebook: ``✓ ex04.gaussian_kl: passed (6 cases)``."""
        if self.passed:
            cases = "case" if self.cases_total == 1 else "cases"
            return f"✓ {self.task}: passed ({self.cases_total} {cases})"
        if self.status == NOT_ATTEMPTED:
            return f"✗ {self.task}: {NOT_ATTEMPTED} ({self.message})"
        return f"✗ {self.task}: {self.message}"

    def __str__(self) -> str:
        return self.line()


@dataclass
class Case:
    """One call of the learner's function: a name for messages, and plain inputs."""

    name: str
    inputs: dict[str, Any] = field(default_factory=dict)


class Check:
    """Base class of a check. Subclasses set ``id``, ``function`` and define the methods.

    ``id``: ``"exNN.name"``, used in check cells and the grader's table.
    ``function``: the name the learner's function has in the notebook.
    ``uses``: names of other graded functions this one may call; while it is checked,
    those names are bound to the course's reference implementations (returned by
    ``references()``) so an earlier mistake is not counted twice.
    """

    id: str = ""
    function: str = ""
    uses: tuple[str, ...] = ()
    #: True for a graded *value* (a predict-then-run answer such as ``prediction = "falls"``)
    #: instead of a function: the learner's value arrives in ``run`` as ``fn()``, and a
    #: missing value (None) is "not attempted".
    value_task: bool = False

    def cases(self, seed: int) -> list[Case]:
        raise NotImplementedError

    def run(self, fn: Callable, inputs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def reference(self, case: Case) -> Any:
        """Expected result of ``case`` (anything ``compare`` understands); parent side only."""
        return None

    def compare(self, case: Case, out: dict[str, dict], expected: Any) -> str | None:
        raise NotImplementedError

    def references(self) -> dict[str, Callable]:
        """Reference implementations for the names in ``uses``."""
        return {}

    def explain_error(self, case: Case, error: str) -> str:
        """Turn an exception raised by the learner's function into a message with a hint."""
        if error.startswith("took longer"):
            return f"{case.name}: {error}"
        hint = ""
        if "expected device" in error or "same device" in error:
            hint = (
                ": create new tensors on the device of the inputs or model "
                "(torch.randn_like(mu), or device=mu.device / next(model.parameters()).device)"
            )
        elif "meta tensor" in error:
            hint = (
                ": the inputs were on another device (meta, a stand-in for a GPU) and the code "
                "moved data to the CPU; keep the result on the input's device (no .cpu(), "
                ".numpy() or .item())"
            )
        elif "NotImplementedError" in error:
            hint = ": this part is not implemented yet"
        return f"{case.name}: raised {error}{hint}"


_REGISTRY: dict[str, Check] = {}


def register(check_obj: Check) -> Check:
    """Add a check to the registry (call once per check, at import of its module)."""
    if not check_obj.id or not check_obj.function:
        raise ValueError("a check needs an id ('exNN.name') and a function name")
    if check_obj.id in _REGISTRY and type(_REGISTRY[check_obj.id]) is not type(check_obj):
        raise ValueError(f"two checks are registered as {check_obj.id!r}")
    _REGISTRY[check_obj.id] = check_obj
    return check_obj


def get_check(task_id: str) -> Check:
    """The registered check called ``task_id``, or ``KeyError`` listing the known ones."""
    try:
        return _REGISTRY[task_id]
    except KeyError:
        raise KeyError(f"no check called {task_id!r}; known: {sorted(_REGISTRY)}") from None


def all_checks() -> dict[str, Check]:
    return dict(_REGISTRY)


# ----------------------------------------------------------------------------- outputs
def describe(value: Any) -> dict[str, Any]:
    """Plain-data description of a learner's output, safe to ``torch.save``/load.

    Tensors become a plain CPU copy with shape, dtype, device and ``requires_grad``
    (tensors on the ``meta`` device keep no values); numbers become floats; anything
    else only records its type name.
    """
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if type(t) is not torch.Tensor:
            t = t.as_subclass(torch.Tensor)
        info = {
            "kind": "tensor",
            "shape": tuple(int(s) for s in t.shape),
            "dtype": str(t.dtype).replace("torch.", ""),
            "device": t.device.type,
            "requires_grad": bool(value.requires_grad),
            "value": None,
        }
        if t.device.type != "meta":
            info["value"] = t.to("cpu").clone().contiguous()
        return info
    if isinstance(value, bool):
        return {"kind": "number", "value": float(value), "type": "bool"}
    if isinstance(value, (int, float)):
        return {"kind": "number", "value": float(value), "type": type(value).__name__}
    if value is None:
        return {"kind": "none"}
    if isinstance(value, str):  # a predict-then-run answer
        return {"kind": "text", "value": str(value)[:200]}
    return {"kind": "other", "type": type(value).__name__[:60]}


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, MemoryError) or "can't allocate memory" in str(exc):
        return "MemoryError: ran out of memory (the memory limit was reached)"
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    text = " ".join(text.split())
    return text[:MAX_MESSAGE] + ("…" if len(text) > MAX_MESSAGE else "")


_MISSING = object()


@contextlib.contextmanager
def _bound_references(fn: Callable, names: dict[str, Callable]):
    """Temporarily bind ``names`` to the references in the globals of ``fn``."""
    g = getattr(fn, "__globals__", None)
    saved = {}
    if isinstance(g, dict):
        for name, ref in names.items():
            saved[name] = g.get(name, _MISSING)
            g[name] = ref
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is _MISSING:
                g.pop(name, None)
            else:
                g[name] = old


_WATCHED: list[tuple[torch.Tensor, torch.Tensor]] = []


PER_EXAMPLE_SUM_HINT = (
    ": sum the log-likelihood over every pixel of each example (every dimension "
    "but the batch, e.g. .flatten(1).sum(1)) to get one value per example"
)
"""What to add to a "must match the size" error of a loss that should be one value per example."""


def loss_gradients(loss, tensors: dict, names) -> dict:
    """``{"grad_<name>": ∂loss/∂tensors[name]}`` for a learner's scalar ``loss``.

    Only when ``loss`` is a 0-d tensor that requires grad (else ``{}``: the check then says the
    loss is not connected to its inputs); an input the loss does not use gets zeros.
    """
    if not (isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.requires_grad):
        return {}
    grads = torch.autograd.grad(loss, [tensors[k] for k in names], allow_unused=True)
    return {
        f"grad_{k}": g if g is not None else torch.zeros_like(tensors[k])
        for k, g in zip(names, grads, strict=True)
    }


def copy_input(t: torch.Tensor) -> torch.Tensor:
    """A copy of a case input for ``run`` to hand to the learner's function.

    :func:`execute_case` checks after the call that the function left every such copy
    unchanged (an in-place edit such as ``mu.pow_(2)`` changes the caller's tensor).
    """
    c = t.clone()
    _WATCHED.append((t.detach().clone(), c))
    return c


def _edited_copy() -> bool:
    return any(
        c.device.type != "meta" and not torch.equal(c.detach().to(orig.device), orig)
        for orig, c in _WATCHED
    )


def execute_case(check_obj: Check, fn: Callable, case: Case) -> dict[str, Any]:
    """Call the learner's function on one case; return described outputs or the error.

    Returns ``{"outputs": {name: describe(...)}}`` or ``{"error": "...",
    "not_implemented": bool}``. Never raises for an ``Exception`` from the learner's code.
    The caller's random state is restored afterwards.
    """
    before = {
        k: v.detach().clone()
        for k, v in case.inputs.items()
        if isinstance(v, torch.Tensor) and v.device.type != "meta"
    }
    _WATCHED.clear()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(case.inputs.get("seed", 0)))
        try:
            with _bound_references(fn, check_obj.references()):
                raw = check_obj.run(fn, case.inputs)
        except NotImplementedError as exc:
            # torch raises NotImplementedError when a function copies a meta tensor (the
            # checks' stand-in for a GPU) to the CPU: an attempt, not a stub
            meta = "meta tensor" in str(exc)
            return {"error": _error_text(exc), "not_implemented": not meta}
        except Exception as exc:
            return {"error": _error_text(exc), "not_implemented": False}
    edited = _edited_copy()
    _WATCHED.clear()
    if edited:
        return {
            "error": "changed one of its input tensors in place (e.g. with mu.pow_(2), "
            "x.add_() or x[...] = ...): compute a new tensor instead, the caller still "
            "needs its inputs",
            "not_implemented": False,
        }
    for k, v in before.items():  # a function must not edit its caller's tensors
        if not torch.equal(case.inputs[k], v):
            return {
                "error": f"changed its input {k!r} in place (e.g. with a_.sub_() or "
                f"{k}[...] = ...): compute a new tensor instead, the caller still needs {k}",
                "not_implemented": False,
            }
    return {"outputs": {k: describe(v) for k, v in raw.items()}}


def judge(
    check_obj: Check,
    cases: list[Case],
    results: list[dict | None],
    expected: list,
    max_points: float = 1.0,
) -> CheckResult:
    """Compare every case's result with the reference and summarise as one result.

    ``results[i]`` is what :func:`execute_case` returned for ``cases[i]`` (or ``None`` if
    it never came back). The message names the first failing case.
    """
    messages: list[str] = []
    not_implemented = 0
    for case, res, exp in zip(cases, results, expected, strict=True):
        if res is None:
            messages.append(f"{case.name}: no result came back")
            continue
        if "error" in res:
            not_implemented += bool(res.get("not_implemented"))
            messages.append(check_obj.explain_error(case, str(res["error"])[:MAX_MESSAGE]))
            continue
        try:
            msg = check_obj.compare(case, res["outputs"], exp)
        except Exception as exc:  # malformed output the comparison did not foresee
            msg = f"{case.name}: could not compare the output ({_error_text(exc)})"
        if msg:
            messages.append(msg)
    n = len(cases)
    if not_implemented == n:
        msg = f"{check_obj.function} still raises NotImplementedError"
        return CheckResult(check_obj.id, NOT_ATTEMPTED, msg, n, n, max_points)
    if not messages:
        return CheckResult(check_obj.id, "passed", "", 0, n, max_points)
    first = messages[0]
    more = f" [{len(messages)} of {n} cases failed]" if len(messages) > 1 else ""
    return CheckResult(check_obj.id, "failed", first + more, len(messages), n, max_points)


# ----------------------------------------------------------------------------- in notebook
def as_value_function(value: Any) -> Callable[[], Any]:
    """Wrap a graded value so a value task's ``run`` reads it as ``fn()``."""

    def answer():
        return value

    return answer


def _fresh_seed() -> int:
    return int.from_bytes(os.urandom(4), "little") % (2**31)


def run_check(
    task_id: str, fn: Callable, *, seed: int | None = None, max_points: float = 1.0
) -> CheckResult:
    """Run check ``task_id`` on ``fn`` in this process and return the result (no printing).

    ``result.points`` is ``max_points`` if every case passed, else 0; ``result.message``
    says what is wrong (empty when passed).
    """
    check_obj = get_check(task_id)
    if check_obj.value_task:
        if fn is None:
            msg = f"{check_obj.function} is not set yet"
            return CheckResult(task_id, NOT_ATTEMPTED, msg, 1, 1, max_points)
        fn = as_value_function(fn)
    elif not callable(fn):
        msg = f"expected a function, got {type(fn).__name__}"
        return CheckResult(task_id, "failed", msg, 1, 1, max_points)
    seed = _fresh_seed() if seed is None else int(seed)
    with torch.random.fork_rng(devices=[]):  # leave the learner's random state alone
        cases = check_obj.cases(seed)
        results = [execute_case(check_obj, fn, c) for c in cases]
        expected = [check_obj.reference(c) for c in cases]
        return judge(check_obj, cases, results, expected, max_points)


class CheckFailed(AssertionError):
    """A check failed while nbgrader ran the notebook (``NBGRADER_EXECUTION`` is set).

    nbgrader awards a grade cell's points whenever the cell runs without an error, so under
    nbgrader a failing or unattempted check must raise: this exception, whose message is
    the check's one line (what is wrong and a hint, never the reference).
    """


def under_nbgrader() -> bool:
    """True while ``nbgrader validate`` or ``nbgrader autograde`` executes the notebook."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def check(task_id: str, fn: Callable, *, seed: int | None = None) -> None:
    """Check ``fn`` against the reference and print one line: ✓ passed, or ✗ and why.

    For instant feedback in a notebook: ``check("ex04.gaussian_kl", gaussian_kl)``.

    * **In JupyterLab** (a learner working): it prints the line; a failure does not raise,
      so *Run All* goes on to the next task and no traceback buries the one line that
      matters. (It returns None, so the cell shows nothing but that line; use
      :func:`run_check` for the :class:`CheckResult`.)
    * **Under nbgrader** (``NBGRADER_EXECUTION`` set by ``nbgrader validate`` /
      ``autograde``): a failing or unattempted check raises :class:`CheckFailed` with the
      same line, so nbgrader scores the cell 0; a passing one prints only its ✓ line
      (nothing on stderr, which nbgrader would also count as a failure).

    The course's own grader (``vae-course grade``) never runs this cell: it calls the
    learner's functions itself, so the score never comes from this line.
    """
    result = run_check(task_id, fn, seed=seed)
    print(result.line())
    if not result.passed and under_nbgrader():
        raise CheckFailed(result.line())


# ----------------------------------------------------------------------------- helpers for checks
def tensor_problem(
    case: Case,
    out: dict,
    name: str,
    *,
    shape: tuple | None = None,
    dtype: str | None = None,
    device: str | None = None,
    what: str = "a torch.Tensor",
) -> str | None:
    """Common structural checks of one output: a tensor, with the given shape/dtype/device."""
    o = out.get(name, {"kind": "none"})
    if o["kind"] != "tensor":
        got = o.get("type", o["kind"])
        if o["kind"] == "none":
            got = "None (did you forget to return it?)"
        return f"{case.name}: expected {what}, got {got}"
    if shape is not None and tuple(o["shape"]) != tuple(shape):
        return f"{case.name}: expected shape {tuple(shape)}, got {tuple(o['shape'])}"
    if device is not None and o["device"] != device:
        return (
            f"{case.name}: the result is on {o['device']} but the input was on {device}: "
            "create new tensors on the input's device (e.g. torch.randn_like(mu))"
        )
    if dtype is not None and o["dtype"] != dtype:
        return (
            f"{case.name}: expected dtype {dtype} (the inputs' dtype), got {o['dtype']}: "
            "don't hard-code a dtype; build new tensors with *_like or x.new_*"
        )
    return None


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-4) -> bool:
    """allclose for float tensors of the same shape (NaN never matches)."""
    if a is None or b is None or tuple(a.shape) != tuple(b.shape):
        return False
    a64, b64 = a.double(), b.to(a.device).double()
    return bool(torch.isfinite(a64).all()) and bool(torch.allclose(a64, b64, rtol=rtol, atol=atol))


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    d = (a.double() - b.double()).abs()
    return float(d.max()) if d.numel() else 0.0


def diagnose(got: torch.Tensor, variants: list[tuple[torch.Tensor, str]], **tol) -> str | None:
    """The hint of the first plausible wrong answer that ``got`` matches, else None."""
    for value, hint in variants:
        if value is not None and close(got, value, **tol):
            return hint
    return None


def fmt(x: float) -> str:
    if math.isnan(x) or math.isinf(x):
        return str(x)
    return f"{x:.4g}"


# ----------------------------------------------------------------------------- helpers for check modules
def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded from any int (reduced into torch's seed range)."""
    return torch.Generator().manual_seed(int(seed) % (2**63))


def dtype_name(t: torch.Tensor) -> str:
    """``float32`` rather than ``torch.float32``, for messages."""
    return str(t.dtype).replace("torch.", "")


def output_tensor(out: dict, name: str) -> torch.Tensor | None:
    """The tensor value of output ``name`` in a :func:`describe`-d result, or None."""
    o = out.get(name, {})
    return o.get("value") if o.get("kind") == "tensor" else None


def worst_element(got: torch.Tensor, exp: torch.Tensor) -> tuple[int, str, str]:
    """Flat index of the largest |got − exp| and both values there, formatted."""
    diff = (got - exp).abs().reshape(-1)
    i = int(diff.argmax())
    return i, fmt(float(got.reshape(-1)[i])), fmt(float(exp.reshape(-1)[i]))


# ----------------------------------------------------------------------------- value tasks
class ChoiceCheck(Check):
    """A predict-then-run question: the learner sets a variable to one of ``choices``
    *before* running the experiment that answers it.

    Subclasses set ``id``, ``function`` (the variable's name), ``choices``, ``answer`` and
    ``hints``: for each wrong choice, what the experiment will show instead (said only
    after the answer is graded, never the right choice itself).
    """

    value_task = True
    choices: tuple[str, ...] = ()
    answer: str = ""
    hints: dict[str, str] = {}

    def cases(self, seed: int) -> list[Case]:
        return [Case("your prediction", {})]

    def run(self, fn: Callable, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"answer": fn()}

    def reference(self, case: Case) -> str:
        return self.answer

    def compare(self, case: Case, out: dict[str, dict], expected: Any) -> str | None:
        options = " / ".join(f'"{c}"' for c in self.choices)
        got = out.get("answer", {"kind": "none"})
        if got["kind"] != "text":
            kind = got.get("type", got["kind"])
            return f"{self.function} must be one of the strings {options}, got {kind}"
        value = got["value"]
        if value not in self.choices:
            return f"{self.function} must be one of {options} (exactly as written), got {value!r}"
        if value != expected:
            return f"{self.function} = {value!r} is not what happens: " + self.hints.get(
                value, "run the experiment below and compare"
            )
        return None


# ----------------------------------------------------------------------------- case builders
# Properties that every sampling or estimating task shares, each as a run-side half (call
# the learner's function in a way that exposes the property) and a compare-side half (a
# message with a hint, or None). A new exercise set's check module uses these and keeps
# only its references and its catalogue of known mistakes.


def generator_runs(call: Callable[[torch.Generator], Any], seed: int) -> dict[str, Any]:
    """Run-side: call ``call(generator)`` three times to test that only the generator matters.

    ``first``: a generator seeded ``seed``; ``again``: a fresh generator with the same seed,
    after torch's global random state has moved; ``other``: a generator seeded differently.
    A right answer gives ``first == again`` and ``first != other``. Reseeding a private
    generator inside the function gives ``first == other``; drawing from the global state
    gives ``first != again``.
    """
    out = {"first": call(seeded_generator(seed))}
    torch.rand(17)  # move torch's global random state: only the generator may matter
    out["again"] = call(seeded_generator(seed))
    out["other"] = call(seeded_generator(int(seed) + 7919))
    return out


def generator_problem(
    case: Case, out: dict, *, what: str = "samples", names=("first", "again", "other")
) -> str | None:
    """Compare-side of :func:`generator_runs` (outputs are :func:`describe`-d tensors)."""
    first, again, other = (output_tensor(out, n) for n in names)
    if first is None:
        return None  # a missing output is reported by the task's structural checks
    if again is None or tuple(again.shape) != tuple(first.shape) or not torch.equal(again, first):
        return (
            f"{case.name}: two calls with identically seeded generators gave different "
            f"{what}: pass generator=generator to every random call (torch.randn(..., "
            "generator=generator), model.sample_prior(n, generator)), never the global state"
        )
    if other is not None and tuple(other.shape) == tuple(first.shape) and torch.equal(other, first):
        return (
            f"{case.name}: generators with different seeds gave the same {what}: use the "
            "generator you are given; don't create or reseed your own inside the function"
        )
    return None


def independence_problem(
    case: Case, noise: torch.Tensor, *, what: str = "the noise", across: str = "dimensions"
) -> str | None:
    """Columns of ``noise`` (n, m) must be uncorrelated: each |corr| within 6 standard errors.

    The standard error of a sample correlation of independent variables is ≈ 1/√n; noise
    shared across ``across`` (one draw expanded to every column) gives correlation 1.
    """
    n, m = noise.shape
    if m < 2 or n < 3:
        return None
    x = noise.double()
    sd = x.std(0)
    if bool((sd == 0).any()):
        return f"{case.name}: {what} does not vary for some {across[:-1]}: draw it afresh for each"
    corr = torch.corrcoef(x.T)
    off = (corr - torch.eye(m, dtype=corr.dtype)).abs()
    worst = float(off.max())
    if worst > 6.0 / math.sqrt(n):
        i, j = divmod(int(off.argmax()), m)
        return (
            f"{case.name}: {what} of {across[:-1]} {i} and {j} has correlation {fmt(worst)} "
            f"(independent draws: |corr| < {fmt(6 / math.sqrt(n))}): draw independent noise "
            f"for every one of the {across} (the full shape), not one value expanded over them"
        )
    return None


_NORMAL_TAIL = (1.0, 2.2, 3.0)


def normal_tail_problem(case: Case, eps: torch.Tensor, *, what: str = "ε") -> str | None:
    """The draws ``eps`` (any shape) must have the tails of N(0, 1).

    The fraction beyond |t| for t in 1, 2.2 and 3 is compared with the standard normal's
    two-sided tail mass p, within 6 standard errors √(p(1−p)/N). Clamped or truncated
    noise (no mass beyond 2.2 or 3), uniform noise and a wrong scale all fail.
    """
    e = eps.double().reshape(-1)
    N = e.numel()
    for t in _NORMAL_TAIL:
        p = math.erfc(t / math.sqrt(2.0))
        se = math.sqrt(p * (1 - p) / N)
        got = float((e.abs() > t).double().mean())
        if abs(got - p) > 6 * se + 1e-12:
            hint = "draw it with torch.randn / torch.randn_like, unmodified"
            if got == 0.0 and t > 1:
                hint = (
                    "nothing lies beyond that: is the noise clamped or truncated? "
                    "every value of a normal draw must be kept"
                )
            return (
                f"{case.name}: {fmt(100 * got)}% of {what} lies beyond ±{t}, but "
                f"{fmt(100 * p)}% of a standard normal does ({N} draws): {hint}"
            )
    return None


class RecordingModel:
    """A model wrapper that records the tensors passed to some of its methods.

    Run-side helper for counting draws: ``RecordingModel(model, {"log_likelihood": "z"})``
    behaves like ``model`` but keeps every ``z`` given to ``log_likelihood`` (positional or
    keyword) in ``recorded["log_likelihood"]``. :func:`draw_counts` summarises them.
    """

    def __init__(self, model: Any, watch: dict[str, str]):
        self._model = model
        self._watch = dict(watch)
        self.recorded: dict[str, list[torch.Tensor]] = {name: [] for name in watch}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._model, name)
        if name not in self._watch or not callable(attr):
            return attr
        arg = self._watch[name]
        params = list(inspect.signature(attr).parameters)

        def recorded_call(*args, **kwargs):
            value = kwargs.get(arg)
            if value is None and arg in params and params.index(arg) < len(args):
                value = args[params.index(arg)]
            if isinstance(value, torch.Tensor):
                self.recorded[name].append(value.detach().clone())
            return attr(*args, **kwargs)

        return recorded_call


def draw_counts(tensors: list[torch.Tensor], dim: int) -> torch.Tensor:
    """``[total, distinct]`` rows of size ``dim`` among ``tensors`` (each reshaped to rows)."""
    rows = [t.reshape(-1, dim) for t in tensors if t.numel() and t.shape[-1] == dim]
    if not rows:
        return torch.tensor([0.0, 0.0])
    allrows = torch.cat(rows).double()
    return torch.tensor([float(allrows.shape[0]), float(torch.unique(allrows, dim=0).shape[0])])


def draw_count_problem(
    case: Case, counts: torch.Tensor | None, *, k: int, batch: int, what: str = "latent codes"
) -> str | None:
    """Compare-side of :func:`draw_counts`: K·B distinct codes, K for each of B examples.

    ``counts`` None or total 0 means the function never called the watched method (it
    computed the likelihood itself); then there is nothing to count and no verdict.
    """
    if counts is None or float(counts[0]) == 0:
        return None
    total, distinct = int(counts[0]), int(counts[1])
    want = k * batch
    if distinct == k and batch > 1:
        return (
            f"{case.name}: only {k} distinct {what} for {batch} examples: every example "
            f"needs its own K = {k} draws (K·B = {want} in all), not the same K shared"
        )
    if distinct != want:
        per = distinct / batch
        return (
            f"{case.name}: {distinct} distinct {what} were evaluated, expected K·B = "
            f"{k}·{batch} = {want} ({fmt(per)} per example instead of K = {k}): draw exactly "
            "K codes for each example"
        )
    if total < want:
        return f"{case.name}: only {total} {what} were evaluated, expected {want}"
    return None
