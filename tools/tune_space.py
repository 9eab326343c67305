"""Find a Triton candidate's tunable launch parameters and the exact spot where each is written.

Read with `ast`, never run. Tunable are the knobs a launch site gives as literals or as names
bound once to a literal (a module constant such as `BLOCK = 128`, or a single assignment in the
launching function): `num_warps`, `num_stages`, and the constexpr parameters named like a knob
(`knob_kind`: block sizes BLOCK*, NUM_WARPS/NUM_STAGES, and boolean switches named after
Triton's own loop options such as WARP_SPECIALIZE); a module constant named like a knob wherever
the code reads it (a launch, or a kernel reading it as a global constexpr); and the configs of an
`@triton.autotune` decorator. Knobs are recognised by name because a name like HEAD_DIM or CAUSAL
changes what the kernel computes: varying it would cost a verification to learn nothing. Each
parameter records the byte range of the text a variant replaces, so a variant differs from the
candidate only there and the kernel the user reads stays as written. A launch value computed
from one module knob (a tile halved for small heads, say) tunes that knob; any other value
computed at run time cannot be tuned from the source, and the space says so in its notes
instead of guessing.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field

BLOCK_NAME = re.compile(r"block\w*", re.IGNORECASE)
# Triton's own launch and loop (tl.range) options; a name ending in one is that knob.
OPTION_NAME = re.compile(r"(?:\w+_)?(num_warps|num_stages)", re.IGNORECASE)
FLAG_NAME = re.compile(r"(?:\w+_)?(?:warp_specialize|flatten|disallow_acc_multi_buffer)",
                       re.IGNORECASE)
LAUNCH_OPTIONS = ("num_warps", "num_stages")
DEFAULTS = {"num_warps": 4, "num_stages": 3}  # Triton's defaults on NVIDIA GPUs
OPTION_VALUES = {"num_warps": (2, 4, 8), "num_stages": (2, 3, 4)}
BLOCK_OCTAVES = 2  # block sizes from current / 4 to current * 4
MIN_BLOCK, MAX_BLOCK = 16, 1 << 16  # a block below 16 is tried only where the kernel has one
CONFIG_KEYWORDS = ("num_warps", "num_stages", "num_ctas", "maxnreg")


class TuneSpaceError(ValueError):
    """The candidate's source cannot be parsed."""


@dataclass(frozen=True)
class Site:
    """A byte range of the UTF-8 source (start == end: an insertion point) and its line."""

    start: int
    end: int
    line: int


@dataclass
class Choice:
    """One value a parameter can take: its label, the text written at the site, and how far
    it is from the current value (variants nearest the candidate are tried first)."""

    label: str
    text: str
    distance: float
    value: int | None = None
    # Kernel parameter values this choice sets, (kernel, parameter) -> value: static asserts.
    bindings: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class Parameter:
    """A tunable spot: what it is, its current value, where it is written and what to try."""

    name: str
    kind: str  # block, num_warps, num_stages, flag (a boolean switch) or configs
    current: str
    site: Site
    value: int | None = None  # the current value; None for autotune configs
    feeds: list[tuple[str, str]] = field(default_factory=list)  # (kernel, kernel parameter)
    launches: list[str] = field(default_factory=list)  # kernels whose launch option it sets
    choices: list[Choice] = field(default_factory=list)

    @property
    def bindings(self) -> dict[tuple[str, str], int]:
        return {} if self.value is None else dict.fromkeys(self.feeds, self.value)


@dataclass
class Kernel:
    """A module-level Triton function as far as tuning needs it."""

    name: str
    params: list[str]
    constexprs: set[str]
    autotune: ast.Call | None
    loops: bool
    asserts: list[tuple[ast.expr, int, str]]  # condition, line, call text of tl.static_assert
    calls: set[str]  # names of the functions it calls
    reads: set[str]  # the names it reads but does not bind: globals, for Triton constexprs

    def pipelined(self, kernels: dict[str, Kernel], seen: frozenset[str] = frozenset()) -> bool:
        """Whether it, or a @triton.jit function it calls, has a loop: num_stages matters."""
        return self.loops or any(kernels[name].pipelined(kernels, seen | {self.name})
                                 for name in self.calls & kernels.keys() - seen - {self.name})


@dataclass
class Space:
    """Everything the candidate lets a tuner change, plus why other values were left alone."""

    text: str
    parameters: list[Parameter]
    kernels: dict[str, Kernel]
    notes: list[str]


def find_space(text: str, path: str = "candidate.py") -> Space:
    """The tunable parameters of a candidate source."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise TuneSpaceError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    return _Finder(tree, text).space()


def dotted(node: ast.AST) -> str:
    """`triton.language.constexpr` for that attribute chain; '' for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _last(node: ast.AST) -> str:
    return dotted(node).rsplit(".", 1)[-1]


def _literal(node: ast.AST | None) -> ast.Constant | None:
    """The int or bool constant node of `128`, `True` or `tl.constexpr(128)`; None for anything
    else."""
    if (isinstance(node, ast.Call) and _last(node.func) == "constexpr" and len(node.args) == 1
            and not node.keywords):
        node = node.args[0]
    if isinstance(node, ast.Constant) and type(node.value) in (int, bool):
        return node
    return None


def knob_kind(name: str) -> str | None:
    """What a constexpr parameter or module constant of this name tunes: block, num_warps,
    num_stages or flag; None for a name that is no knob."""
    if BLOCK_NAME.fullmatch(name):
        return "block"
    if match := OPTION_NAME.fullmatch(name):
        return match.group(1).lower()
    if FLAG_NAME.fullmatch(name):
        return "flag"
    return None


def unfit(kind: str, value: int | bool) -> str | None:
    """Why a value cannot be tuned as this kind (e.g. 'a power of two'); None if it can."""
    if kind == "flag":
        return None if type(value) is bool else "a boolean"
    if type(value) is bool or value < 1:
        return "a power of two" if kind == "block" else "a positive number"
    if kind == "block" and value & (value - 1):
        return "a power of two"
    return None


def choices_for(kind: str, value: int | bool) -> list[Choice]:
    """The values a variant may write in place of `value`."""
    if kind == "block":
        return block_choices(value)
    if kind == "flag":
        return [Choice(str(not value), str(not value), 1.0, not value)]
    return option_choices(kind, value, "")


def _stored_names(nodes: list[ast.stmt]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for statement in nodes:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                counts[node.id] = counts.get(node.id, 0) + 1
    return counts


def _single_assignments(body: list[ast.stmt], excluded: set[str]) -> dict[str, ast.expr]:
    """Names bound exactly once in `body`, by a plain assignment, and the values bound."""
    counts = _stored_names(body)
    found = {}
    for statement in body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if (isinstance(target, ast.Name) and counts.get(target.id) == 1
                and target.id not in excluded):
            found[target.id] = value
    return found


def _single_literals(body: list[ast.stmt], excluded: set[str]) -> dict[str, ast.Constant]:
    """Names bound exactly once in `body`, by a plain assignment of an int or bool literal."""
    return {name: literal for name, value in _single_assignments(body, excluded).items()
            if (literal := _literal(value)) is not None}


def _kernel(node: ast.FunctionDef) -> Kernel | None:
    names = [_last(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]
    if "jit" not in names:
        return None
    autotune = next((d for d in node.decorator_list if isinstance(d, ast.Call)
                     and _last(d.func) == "autotune"), None)
    params, constexprs = [], set()
    for arg in [*node.args.posonlyargs, *node.args.args]:
        params.append(arg.arg)
        annotation = arg.annotation
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            written = annotation.value  # a string annotation: "tl.constexpr"
        else:
            written = dotted(annotation) if annotation is not None else ""
        if written.endswith("constexpr"):
            constexprs.add(arg.arg)
    asserts = [(call.args[0], call.lineno, ast.unparse(call)) for call in ast.walk(node)
               if isinstance(call, ast.Call) and _last(call.func) == "static_assert"
               and call.args]
    loops = any(isinstance(n, ast.For | ast.While) for n in ast.walk(node))
    calls = {_last(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    loaded = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
              and isinstance(n.ctx, ast.Load)}
    reads = loaded - set(params) - set(_stored_names(node.body))
    return Kernel(node.name, params, constexprs, autotune, loops, asserts, calls, reads)


def block_choices(value: int) -> list[Choice]:
    """Powers of two around a power-of-two block size, nearest first; none below MIN_BLOCK
    unless the candidate's own block already is."""
    lowest = min(MIN_BLOCK, value)
    found = []
    for octave in range(1, BLOCK_OCTAVES + 1):
        for size in (value >> octave, value << octave):
            if lowest <= size <= MAX_BLOCK:
                found.append(Choice(str(size), str(size), octave, size))
    return found


def option_choices(option: str, value: int, prefix: str) -> list[Choice]:
    """Values of num_warps / num_stages other than the current one."""
    def distance(v: int) -> float:
        return abs(math.log2(v / value)) if option == "num_warps" else abs(v - value)

    return [Choice(str(v), f"{prefix}{v}", distance(v), v)
            for v in OPTION_VALUES[option] if v != value]


class _Finder:
    """One pass over a module: kernels, module constants, launch sites, autotune configs."""

    def __init__(self, tree: ast.Module, text: str) -> None:
        self.tree, self.text = tree, text
        data = text.encode()
        self.line_starts = [0]
        index = data.find(b"\n")
        while index != -1:
            self.line_starts.append(index + 1)
            index = data.find(b"\n", index + 1)
        self.kernels = {k.name: k for k in map(_kernel, self._module_functions()) if k}
        declared_global = {name for node in ast.walk(tree) if isinstance(node, ast.Global)
                           for name in node.names}
        top = [s for s in tree.body if not isinstance(
            s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
        self.constants = _single_literals(top, declared_global)
        self.module_lists = self._module_lists(top, declared_global)
        # Keyed by site and, for insertions sharing one position, num_warps before num_stages.
        self.by_site: dict[tuple[int, int], Parameter] = {}
        self.qualified: dict[int, str] = {}  # id(parameter) -> kernel- or function-qualified
        self.reached: set[str] = set()  # module constants a launch passes on
        self.notes: list[str] = []

    def _module_functions(self) -> list[ast.FunctionDef]:
        return [n for n in self.tree.body if isinstance(n, ast.FunctionDef)]

    @staticmethod
    def _module_lists(top: list[ast.stmt], excluded: set[str]) -> dict[str, ast.List | ast.Tuple]:
        counts = _stored_names(top)
        return {s.targets[0].id: s.value for s in top
                if isinstance(s, ast.Assign) and len(s.targets) == 1
                and isinstance(s.targets[0], ast.Name) and counts[s.targets[0].id] == 1
                and s.targets[0].id not in excluded and isinstance(s.value, ast.List | ast.Tuple)}

    def site(self, node: ast.AST) -> Site:
        start = self.line_starts[node.lineno - 1] + node.col_offset
        end = self.line_starts[node.end_lineno - 1] + node.end_col_offset
        return Site(start, end, node.lineno)

    def space(self) -> Space:
        for kernel in self.kernels.values():
            if kernel.autotune is not None:
                self._configs(kernel)
        self._launches(self.tree, None)
        self._module_knobs()
        parameters = [self.by_site[key] for key in sorted(self.by_site)]
        for parameter in parameters:
            for choice in parameter.choices:
                if parameter.kind != "configs":
                    choice.bindings = dict.fromkeys(parameter.feeds, choice.value)
        self._unique_names(parameters)
        return Space(self.text, parameters, self.kernels, self.notes)

    def _unique_names(self, parameters: list[Parameter]) -> None:
        for rename in (lambda p: self.qualified[id(p)],
                       lambda p: f"{self.qualified[id(p)]}@{p.site.line}"):
            seen: dict[str, int] = {}
            for parameter in parameters:
                seen[parameter.name] = seen.get(parameter.name, 0) + 1
            for parameter in parameters:
                if seen[parameter.name] > 1:
                    parameter.name = rename(parameter)

    def _launches(self, node: ast.AST, function: ast.FunctionDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                self._launches(child, child)  # type: ignore[arg-type]
                continue
            if isinstance(child, ast.Call):
                self._launch(child, function)
            self._launches(child, function)

    def _launch(self, call: ast.Call, function: ast.FunctionDef | None) -> None:
        func = call.func
        if not (isinstance(func, ast.Subscript) and isinstance(func.value, ast.Name)
                and func.value.id in self.kernels):
            return
        kernel = self.kernels[func.value.id]
        given: dict[str, ast.expr] = {}
        for arg, name in zip(call.args, kernel.params, strict=False):
            if isinstance(arg, ast.Starred):
                break
            given[name] = arg
        unpacked = False
        for keyword in call.keywords:
            if keyword.arg is None:
                unpacked = True
            else:
                given[keyword.arg] = keyword.value
        for name, expr in given.items():
            if name in LAUNCH_OPTIONS:
                self._value(name, name, expr, kernel, function)
            elif name in kernel.constexprs and (kind := knob_kind(name)) is not None:
                self._value(kind, name, expr, kernel, function, feeds=True)
        if kernel.autotune is None and not unpacked:
            for option in LAUNCH_OPTIONS:
                if option not in given and (option == "num_warps"
                                            or kernel.pipelined(self.kernels)):
                    self._insert(option, kernel, call)

    def _value(self, kind: str, name: str, expr: ast.expr, kernel: Kernel,
               function: ast.FunctionDef | None, feeds: bool = False) -> None:
        """The parameter behind `name=expr` at a launch, or a note on why there is none;
        `feeds`: `name` is a parameter of the kernel (static asserts may read it)."""
        literal, label, qualified = _literal(expr), name, f"{kernel.name}.{name}"
        if literal is None and isinstance(expr, ast.Name):
            local = self._local_literals(function)
            if function is not None and expr.id in local:
                literal, label = local[expr.id], expr.id
                qualified = f"{function.name}.{expr.id}"
            elif expr.id in self.constants and (function is None
                                                or expr.id not in self._locals(function)):
                literal = self.constants[expr.id]
                label = qualified = expr.id
                self.reached.add(expr.id)
        where = f"line {expr.lineno}: {kernel.name} gets {name}={ast.unparse(expr)}"
        if literal is None and (knob := self._derived_from(kind, expr, function)) is not None:
            literal, label = self.constants[knob], knob
            qualified = knob
            self.reached.add(knob)
            where += f", derived from the module constant {knob}"
        if literal is None:
            self.notes.append(f"{where}, computed at run time; not tuned")
            return
        parameter = self._parameter(kind, label, qualified, literal, where)
        if parameter is not None and feeds:
            parameter.feeds.append((kernel.name, name))
        elif parameter is not None and name in LAUNCH_OPTIONS:
            parameter.launches.append(kernel.name)

    def _parameter(self, kind: str, label: str, qualified: str, literal: ast.Constant,
                   where: str) -> Parameter | None:
        """The parameter written at `literal`, made on first sight; None, with a note, for a
        value this kind of knob cannot take."""
        value = literal.value
        why = unfit(kind, value)
        if why is not None:
            self.notes.append(f"{where} = {value}, not {why}; not tuned")
            return None
        site = self.site(literal)
        parameter = self.by_site.get((site.start, 0))
        if parameter is None:
            parameter = Parameter(label, kind, str(value), site, value,
                                  choices=choices_for(kind, value))
            self.by_site[(site.start, 0)] = parameter
            self.qualified[id(parameter)] = qualified
        return parameter

    def _module_knobs(self) -> None:
        """Module constants named like a knob that the code reads, however they reach a kernel
        (one reading it as a global constexpr is fed by it: static asserts may read it)."""
        read = {n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name)
                and isinstance(n.ctx, ast.Load)}
        for name, literal in self.constants.items():
            kind = knob_kind(name)
            if kind is None or name not in read:
                continue
            if name in self.reached:  # made (or noted) at its launch
                parameter = self.by_site.get((self.site(literal).start, 0))
            else:
                parameter = self._parameter(kind, name, name, literal,
                                            f"line {literal.lineno}: module constant {name}")
            if parameter is not None:
                parameter.feeds += [(k.name, name) for k in self.kernels.values()
                                    if name in k.reads]

    def _derived_from(self, kind: str, expr: ast.expr,
                      function: ast.FunctionDef | None) -> str | None:
        """The one module knob of `kind` that a computed launch value is derived from, directly
        (`BLOCK_M >> halve`) or through a local bound once to such an expression: a kernel that
        picks its tile by shape (halved for small heads, say) still has the constant tuned, and
        the kernel parameter counts as fed by it (its static asserts are judged on the
        constant's own value, which a shift of every tied block leaves true or false alike)."""
        if function is not None and isinstance(expr, ast.Name):
            bound = self._local_expressions(function).get(expr.id)
            if bound is None:
                return None
            expr = bound
        local = self._locals(function) if function is not None else set()
        knobs = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)
                 and n.id in self.constants and n.id not in local
                 and knob_kind(n.id) is not None}
        if len(knobs) != 1:
            return None
        knob = knobs.pop()
        return knob if knob_kind(knob) == kind else None

    @staticmethod
    def _local_expressions(function: ast.FunctionDef) -> dict[str, ast.expr]:
        """Names bound exactly once in `function`'s own body, by a plain assignment."""
        return _single_assignments(function.body, set())

    @staticmethod
    def _parameters(function: ast.FunctionDef) -> set[str]:
        arguments = function.args
        return {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}

    def _locals(self, function: ast.FunctionDef) -> set[str]:
        arguments = function.args
        names = self._parameters(function)
        names |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
        return names | set(_stored_names(function.body))

    def _local_literals(self, function: ast.FunctionDef | None) -> dict[str, ast.Constant]:
        if function is None:
            return {}
        return _single_literals(function.body, self._parameters(function))

    def _insert(self, option: str, kernel: Kernel, call: ast.Call) -> None:
        """A launch without num_warps (or num_stages, for a kernel with a loop) runs on
        Triton's default; a variant writes the keyword in after the last argument."""
        items: list[ast.AST] = [*call.args, *call.keywords]
        if items:
            last = max(items, key=lambda n: (n.end_lineno, n.end_col_offset))
            end = self.site(last).end
            prefix = ", "
        else:
            end = self.site(call).end - 1  # just before the closing parenthesis
            prefix = ""
        current = DEFAULTS[option]
        parameter = Parameter(option, option, f"default ({current})", Site(end, end, call.lineno),
                              current, launches=[kernel.name],
                              choices=option_choices(option, current, f"{prefix}{option}="))
        self.by_site[(end, 1 + LAUNCH_OPTIONS.index(option))] = parameter
        self.qualified[id(parameter)] = f"{kernel.name}.{option}"

    def _configs(self, kernel: Kernel) -> None:
        """Autotune configs: each variant keeps one config, so autotune has nothing to pick."""
        decorator = kernel.autotune
        assert decorator is not None
        expr = next((k.value for k in decorator.keywords if k.arg == "configs"),
                    decorator.args[0] if decorator.args else None)
        configs = expr
        if isinstance(expr, ast.Name):
            configs = self.module_lists.get(expr.id)
        if not isinstance(configs, ast.List | ast.Tuple) or any(
                isinstance(e, ast.Starred) for e in configs.elts):
            shown = ast.unparse(expr) if expr is not None else "nothing"
            self.notes.append(f"line {decorator.lineno}: @triton.autotune on {kernel.name} gets "
                              f"configs={shown}, built at run time; not tuned")
            return
        if len(configs.elts) < 2:
            return
        data = self.text.encode()
        choices = []
        for element in configs.elts:
            element_site = self.site(element)
            source = data[element_site.start:element_site.end].decode()
            label, bindings = _config_label(element, kernel.name)
            choices.append(Choice(label or source, f"[{source}]", 1.0, bindings=bindings))
        parameter = Parameter(f"{kernel.name}.configs", "configs",
                              f"autotune over {len(choices)} configs", self.site(configs),
                              choices=choices)
        self.by_site[(parameter.site.start, 0)] = parameter
        self.qualified[id(parameter)] = parameter.name


def _config_label(element: ast.expr, kernel: str) -> tuple[str, dict[tuple[str, str], int]]:
    """`BLOCK=64 num_warps=4` for `triton.Config({"BLOCK": 64}, num_warps=4)`; '' otherwise."""
    if not (isinstance(element, ast.Call) and _last(element.func) == "Config"):
        return "", {}
    meta = element.args[0] if element.args else next(
        (k.value for k in element.keywords if k.arg == "kwargs"), None)
    if not isinstance(meta, ast.Dict):
        return "", {}
    parts, bindings = [], {}
    for key, value in zip(meta.keys, meta.values, strict=True):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            return "", {}
        parts.append(f"{key.value}={ast.unparse(value)}")
        literal = _literal(value)
        if literal is not None:
            bindings[(kernel, key.value)] = literal.value
    parts += [f"{k.arg}={ast.unparse(k.value)}" for k in element.keywords
              if k.arg in CONFIG_KEYWORDS]
    return " ".join(parts), bindings
