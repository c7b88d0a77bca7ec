"""The score formula language: a tokenizer, a recursive-descent parser and an evaluator.

Nothing here reaches Python's ``eval``, ``exec``, ``compile`` or ``ast``: a formula is text
that only this module reads, into a tree of the node classes below, which only this
module evaluates. The grammar (docs/review-templates.md has the full description)::

    formula    := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := ("-" | "+") unary | primary
    primary    := NUMBER | NAME | NAME "(" [argument ("," argument)*] ")" | "(" or_expr ")"
    argument   := or_expr [":" or_expr]          (the weight after ":" only in weighted())

Values are numbers, booleans (from comparisons and logic) and *missing* (a component that
has no value, like SQL NULL). Arithmetic, comparisons and scalar functions propagate
missing; the aggregates ``min``, ``max``, ``avg``/``mean`` and ``weighted`` skip missing
arguments (re-normalising the weights in ``weighted``), ``coalesce`` picks the first
present argument, ``present(x)`` tests for one. ``and``/``or`` use three-valued logic.

Positions in error messages are 1-based character offsets into the formula.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

LANGUAGE = "meritloop-formula/1"
COMPONENTS: tuple[str, ...] = ("goals", "self", "manager", "competencies", "peer")
MAX_LENGTH = 2000
MAX_DEPTH = 50
MAX_STEPS = 10_000
MAX_ROUND_DIGITS = 10
KEYWORDS = frozenset({"and", "or", "not"})

Value = float | bool | None  # None is "missing"
Kind = Literal["number", "bool"]


class FormulaError(ValueError):
    """A formula that cannot be read or checked; ``position`` is 1-based."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


class EvaluationError(FormulaError):
    """A formula that failed on particular values (division by zero, a negative weight...)."""


# Tokens


@dataclass(frozen=True, slots=True)
class Token:
    kind: Literal["number", "name", "op", "end"]
    text: str
    position: int  # 1-based
    number: float = 0.0


_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "(", ")", ",", ":")
_WHITESPACE = frozenset(" \t\r\n")


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_LENGTH:
        raise FormulaError(f"the formula is longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    tokens: list[Token] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char in _WHITESPACE:
            index += 1
            continue
        position = index + 1
        if number := _NUMBER.match(source, index):
            text = number.group()
            value = float(text)
            if not math.isfinite(value) or value > 1e15:
                raise FormulaError(f"the number {text} is too large", position)
            end = number.end()
            if end < len(source) and (source[end].isalpha() or source[end] == "_" or source[end] == "."):
                raise FormulaError(f"unexpected character {source[end]!r} after a number", end + 1)
            tokens.append(Token("number", text, position, value))
            index = end
            continue
        if name := _NAME.match(source, index):
            tokens.append(Token("name", name.group(), position))
            index = name.end()
            continue
        if source.startswith("**", index):
            raise FormulaError("exponentiation is not supported", position)
        operator = next((op for op in _OPERATORS if source.startswith(op, index)), None)
        if operator is None:
            if char == "=":
                raise FormulaError("'=' is not an operator; compare with '=='", position)
            if char == ".":
                raise FormulaError("attribute access is not allowed", position)
            raise FormulaError(f"unexpected character {char!r}", position)
        tokens.append(Token("op", operator, position))
        index += len(operator)
    tokens.append(Token("end", "", len(source) + 1))
    return tokens


# The tree


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    position: int


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    position: int


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Node
    position: int


@dataclass(frozen=True, slots=True)
class Chain:
    """``first (op operand)*`` for one precedence level of + - or * /, evaluated left to right."""

    first: Node
    rest: tuple[tuple[str, Node, int], ...]  # (operator, operand, operator position)
    position: int


@dataclass(frozen=True, slots=True)
class Compare:
    operator: str
    left: Node
    right: Node
    position: int


@dataclass(frozen=True, slots=True)
class Logic:
    operator: Literal["and", "or"]
    operands: tuple[Node, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    position: int


@dataclass(frozen=True, slots=True)
class Argument:
    value: Node
    weight: Node | None
    text: str  # the source of the value, for the score record
    position: int


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    arguments: tuple[Argument, ...]
    position: int


Node = Number | Name | Negate | Chain | Compare | Logic | Not | Call
_Rule = Callable[[], Node]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    min_args: int
    max_args: int | None
    doc: str


FUNCTIONS: dict[str, FunctionSpec] = {
    "min": FunctionSpec(1, None, "smallest present argument; missing if all are missing"),
    "max": FunctionSpec(1, None, "largest present argument; missing if all are missing"),
    "avg": FunctionSpec(1, None, "mean of the present arguments; missing if all are missing"),
    "mean": FunctionSpec(1, None, "same as avg"),
    "weighted": FunctionSpec(1, None, "weighted(x: w, ...): weighted mean of the present x, weights re-normalised"),
    "coalesce": FunctionSpec(1, None, "the first present argument"),
    "present": FunctionSpec(1, 1, "true if the argument has a value, else false (never missing)"),
    "if": FunctionSpec(3, 3, "if(condition, then, else); missing if the condition is missing"),
    "round": FunctionSpec(1, 2, "round(x) or round(x, digits), digits a constant 0..10, half away from zero"),
    "clamp": FunctionSpec(3, 3, "clamp(x, low, high)"),
    "abs": FunctionSpec(1, 1, "absolute value"),
}


# Parsing


class _Parser:
    def __init__(self, source: str, names: Collection[str]) -> None:
        self.source = source
        self.names = frozenset(names)
        self.tokens = tokenize(source)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        token = self.token
        return token.kind in ("op", "name") and token.text in texts

    def expect(self, text: str) -> Token:
        if not (self.token.kind == "op" and self.token.text == text):
            raise FormulaError(f"expected {text!r} but found {self._describe(self.token)}", self.token.position)
        return self.advance()

    def _describe(self, token: Token) -> str:
        return "the end of the formula" if token.kind == "end" else repr(token.text)

    def _enter(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError(f"the formula nests deeper than {MAX_DEPTH} levels", position)

    def _leave(self) -> None:
        self.depth -= 1

    def at_end(self) -> bool:
        return self.token.kind == "end"

    def parse(self) -> Node:
        if self.at_end():
            raise FormulaError("the formula is empty", 1)
        node = self.or_expr()
        if not self.at_end():
            raise FormulaError(f"unexpected {self._describe(self.token)}", self.token.position)
        return node

    def or_expr(self) -> Node:
        return self._logic("or", self.and_expr)

    def and_expr(self) -> Node:
        return self._logic("and", self.not_expr)

    def _logic(self, operator: Literal["and", "or"], operand: _Rule) -> Node:
        first = operand()
        operands = [first]
        while self.token.kind == "name" and self.token.text == operator:
            self.advance()
            operands.append(operand())
        return first if len(operands) == 1 else Logic(operator, tuple(operands), _position(first))

    def not_expr(self) -> Node:
        if self.token.kind == "name" and self.token.text == "not":
            position = self.advance().position
            self._enter(position)
            operand = self.not_expr()
            self._leave()
            return Not(operand, position)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum()
        if self.token.kind == "op" and self.token.text in ("<", "<=", ">", ">=", "==", "!="):
            operator = self.advance()
            right = self.sum()
            if self.token.kind == "op" and self.token.text in ("<", "<=", ">", ">=", "==", "!="):
                raise FormulaError("comparisons cannot be chained; join them with 'and'", self.token.position)
            return Compare(operator.text, left, right, operator.position)
        return left

    def sum(self) -> Node:
        return self._chain(("+", "-"), self.product)

    def product(self) -> Node:
        return self._chain(("*", "/"), self.unary)

    def _chain(self, operators: tuple[str, ...], operand: _Rule) -> Node:
        first = operand()
        rest: list[tuple[str, Node, int]] = []
        while self.token.kind == "op" and self.token.text in operators:
            operator = self.advance()
            rest.append((operator.text, operand(), operator.position))
        return first if not rest else Chain(first, tuple(rest), _position(first))

    def unary(self) -> Node:
        if self.token.kind == "op" and self.token.text in ("-", "+"):
            operator = self.advance()
            self._enter(operator.position)
            operand = self.unary()
            self._leave()
            return Negate(operand, operator.position) if operator.text == "-" else operand
        return self.primary()

    def primary(self) -> Node:
        token = self.token
        if token.kind == "number":
            self.advance()
            return Number(token.number, token.position)
        if token.kind == "op" and token.text == "(":
            self.advance()
            self._enter(token.position)
            node = self.or_expr()
            self._leave()
            self.expect(")")
            return node
        if token.kind == "name":
            self.advance()
            if self.token.kind == "op" and self.token.text == "(":
                return self.call(token)
            if token.text in KEYWORDS:
                raise FormulaError(f"{token.text!r} needs an operand before it", token.position)
            if token.text in FUNCTIONS:
                raise FormulaError(f"{token.text!r} is a function; call it with ( )", token.position)
            if token.text not in self.names:
                raise FormulaError(
                    f"unknown name {token.text!r}; the components are {', '.join(sorted(self.names))}",
                    token.position,
                )
            return Name(token.text, token.position)
        raise FormulaError(f"unexpected {self._describe(token)}", token.position)

    def call(self, name: Token) -> Node:
        spec = FUNCTIONS.get(name.text)
        if spec is None:
            raise FormulaError(
                f"unknown function {name.text!r}; the functions are {', '.join(sorted(FUNCTIONS))}", name.position
            )
        opening = self.expect("(")
        self._enter(opening.position)
        arguments: list[Argument] = []
        if not (self.token.kind == "op" and self.token.text == ")"):
            while True:
                arguments.append(self.argument(name.text))
                if self.token.kind == "op" and self.token.text == ",":
                    self.advance()
                    continue
                break
        self.expect(")")
        self._leave()
        count = len(arguments)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            wanted = (
                f"{spec.min_args}"
                if spec.min_args == spec.max_args
                else f"at least {spec.min_args}"
                if spec.max_args is None
                else f"{spec.min_args} to {spec.max_args}"
            )
            raise FormulaError(f"{name.text}() takes {wanted} argument(s), not {count}", name.position)
        return Call(name.text, tuple(arguments), name.position)

    def argument(self, function: str) -> Argument:
        start = self.token.position
        value = self.or_expr()
        text = self.source[start - 1 : self.token.position - 1].strip()
        weight: Node | None = None
        if self.token.kind == "op" and self.token.text == ":":
            colon = self.advance()
            if function != "weighted":
                raise FormulaError("'name: weight' arguments are only allowed in weighted()", colon.position)
            weight = self.or_expr()
        elif function == "weighted":
            raise FormulaError("each argument of weighted() needs a weight: weighted(goals: 0.5, ...)", start)
        return Argument(value, weight, text, start)


def _position(node: Node) -> int:
    return node.position


# Static checks: kinds, constant divisions by zero, constant weights


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, Negate | Not):
        yield node.operand
    elif isinstance(node, Chain):
        yield node.first
        for _op, operand, _pos in node.rest:
            yield operand
    elif isinstance(node, Compare):
        yield node.left
        yield node.right
    elif isinstance(node, Logic):
        yield from node.operands
    elif isinstance(node, Call):
        for argument in node.arguments:
            yield argument.value
            if argument.weight is not None:
                yield argument.weight


def name_positions(node: Node) -> dict[str, int]:
    """Each component the formula uses, with the position of its first use."""
    found: dict[str, int] = {}
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Name):
            found[current.name] = min(found.get(current.name, current.position), current.position)
        stack.extend(_children(current))
    return dict(sorted(found.items(), key=lambda item: item[1]))


class _Unknown:
    """A constant that cannot be known before evaluation (it uses a component or fails)."""


_UNKNOWN = _Unknown()


class _MemoEvaluator:
    """Evaluates constant subtrees, each node at most once however often it is asked."""

    def __init__(self, uses_names: dict[int, bool]) -> None:
        self.uses_names = uses_names
        self.values: dict[int, Value | _Unknown] = {}

    def value(self, node: Node) -> Value | _Unknown:
        key = id(node)
        if key in self.values:
            return self.values[key]
        if self.uses_names[key]:
            result: Value | _Unknown = _UNKNOWN
        else:
            try:
                result = _ConstantEvaluator(self).run(node)
            except EvaluationError:
                result = _UNKNOWN
        self.values[key] = result
        return result


class _Checker:
    """Kinds and constant operands of a tree, in one post-order pass (each node visited once).

    Asking a child's kind again for every rule that needs it doubled the work per level of
    nesting (``if(x<1, if(x<1, ...), 0)`` never finished at depth 40), so each node's kind is
    computed once and looked up after.
    """

    def __init__(self) -> None:
        self.kinds: dict[int, Kind] = {}
        self.uses_names: dict[int, bool] = {}
        self.constants = _MemoEvaluator(self.uses_names)

    def check(self, root: Node) -> Kind:
        # Children before parents without recursion: the parser bounds the depth, but the
        # width of a chain or a call is bounded only by the length.
        order: list[Node] = []
        stack = [root]
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(_children(node))
        for node in reversed(order):
            self.uses_names[id(node)] = isinstance(node, Name) or any(
                self.uses_names[id(child)] for child in _children(node)
            )
            self.kinds[id(node)] = self._kind(node)
        return self.kinds[id(root)]

    def constant(self, node: Node) -> float | None:
        """The value of a number-kind node that uses no component, else None."""
        value = self.constants.value(node)
        if isinstance(value, _Unknown) or value is None or isinstance(value, bool):
            return None
        return float(value)

    def kind(self, node: Node) -> Kind:
        return self.kinds[id(node)]

    def require(self, node: Node, kind: Kind, where: str) -> None:
        if self.kinds[id(node)] != kind:
            wanted = "a number" if kind == "number" else "true/false (a comparison)"
            raise FormulaError(f"{where} needs {wanted}", node.position)

    def _kind(self, node: Node) -> Kind:
        if isinstance(node, Number | Name):
            return "number"
        if isinstance(node, Negate):
            self.require(node.operand, "number", "'-'")
            return "number"
        if isinstance(node, Chain):
            self.require(node.first, "number", f"{node.rest[0][0]!r}")
            for operator, operand, position in node.rest:
                self.require(operand, "number", repr(operator))
                if operator == "/" and self.constant(operand) == 0:
                    raise FormulaError("division by zero", position)
            return "number"
        if isinstance(node, Compare):
            left, right = self.kind(node.left), self.kind(node.right)
            if node.operator in ("==", "!=") and left == right:
                return "bool"
            self.require(node.left, "number", repr(node.operator))
            self.require(node.right, "number", repr(node.operator))
            return "bool"
        if isinstance(node, Logic):
            for operand in node.operands:
                self.require(operand, "bool", repr(node.operator))
            return "bool"
        if isinstance(node, Not):
            self.require(node.operand, "bool", "'not'")
            return "bool"
        return self._call_kind(node)

    def _call_kind(self, node: Call) -> Kind:
        name, arguments = node.function, node.arguments
        if name == "present":
            return "bool"
        if name == "if":
            self.require(arguments[0].value, "bool", "the condition of if()")
            then, otherwise = self.kind(arguments[1].value), self.kind(arguments[2].value)
            if then != otherwise:
                raise FormulaError("both branches of if() must be numbers, or both true/false", arguments[2].position)
            return then
        for argument in arguments:
            self.require(argument.value, "number", f"{name}()")
            if argument.weight is not None:
                self.require(argument.weight, "number", "a weight")
                weight = self.constant(argument.weight)
                if weight is not None and weight < 0:
                    raise FormulaError("a weight must not be negative", argument.weight.position)
        if name == "round" and len(arguments) == 2:
            digits = self.constant(arguments[1].value)
            if digits is None or digits != int(digits) or not 0 <= digits <= MAX_ROUND_DIGITS:
                raise FormulaError(
                    f"round() digits must be a whole number 0..{MAX_ROUND_DIGITS}", arguments[1].position
                )
        return "number"


# Evaluation


@dataclass(frozen=True, slots=True)
class WeightedTerm:
    expression: str
    value: float | None
    weight: float | None
    share: float  # the weight after re-normalisation over the present terms (0 for a missing one)


@dataclass(frozen=True, slots=True)
class WeightedUse:
    position: int
    terms: tuple[WeightedTerm, ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    value: float | None
    weights: tuple[WeightedUse, ...] = ()


class _Evaluator:
    def __init__(self, values: Mapping[str, float | None], max_steps: int) -> None:
        self.values = values
        self.steps = 0
        self.max_steps = max_steps
        self.weights: list[WeightedUse] = []

    def run(self, node: Node) -> Value:
        self.steps += 1
        if self.steps > self.max_steps:
            raise EvaluationError(f"the formula took more than {self.max_steps} steps", node.position)
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Name):
            value = self.values.get(node.name)
            return None if value is None else float(value)
        if isinstance(node, Negate):
            operand = self.number(node.operand)
            return None if operand is None else -operand
        if isinstance(node, Chain):
            return self.chain(node)
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Logic):
            return self.logic(node)
        if isinstance(node, Not):
            operand = self.run(node.operand)
            return None if operand is None else not operand
        return self.call(node)

    def number(self, node: Node) -> float | None:
        value = self.run(node)
        assert value is None or not isinstance(value, bool), "checked when parsed"
        return value

    def chain(self, node: Chain) -> float | None:
        result = self.number(node.first)
        for operator, operand, position in node.rest:
            value = self.number(operand)
            if result is None or value is None:
                result = None
                continue
            if operator == "+":
                result += value
            elif operator == "-":
                result -= value
            elif operator == "*":
                result *= value
            elif value == 0:
                raise EvaluationError("division by zero", position)
            else:
                result /= value
            _finite(result, position)
        return result

    def compare(self, node: Compare) -> bool | None:
        left, right = self.run(node.left), self.run(node.right)
        if left is None or right is None:
            return None
        operator = node.operator
        if operator == "==":
            return left == right
        if operator == "!=":
            return left != right
        assert not isinstance(left, bool)
        assert not isinstance(right, bool)
        if operator == "<":
            return left < right
        if operator == "<=":
            return left <= right
        if operator == ">":
            return left > right
        return left >= right

    def logic(self, node: Logic) -> bool | None:
        # Three-valued, like SQL: false and missing = false, true or missing = true.
        deciding = node.operator == "or"
        unknown = False
        for operand in node.operands:
            value = self.run(operand)
            if value is None:
                unknown = True
            elif bool(value) is deciding:
                return deciding
        return None if unknown else not deciding

    def call(self, node: Call) -> Value:
        name, arguments = node.function, node.arguments
        if name == "present":
            return self.run(arguments[0].value) is not None
        if name == "if":
            condition = self.run(arguments[0].value)
            if condition is None:
                return None
            return self.run(arguments[1].value if condition else arguments[2].value)
        if name == "coalesce":
            for argument in arguments:
                value = self.run(argument.value)
                if value is not None:
                    return value
            return None
        if name == "weighted":
            return self.weighted(node)
        values = [self.number(argument.value) for argument in arguments]
        present = [value for value in values if value is not None]
        if name in ("min", "max", "avg", "mean"):
            if not present:
                return None
            if name == "min":
                return min(present)
            if name == "max":
                return max(present)
            return math.fsum(present) / len(present)
        if any(value is None for value in values):
            return None
        if name == "abs":
            return abs(present[0])
        if name == "clamp":
            value, low, high = present
            if low > high:
                raise EvaluationError("clamp() low is above high", node.position)
            return min(max(value, low), high)
        digits = int(present[1]) if len(present) == 2 else 0
        return round_half_away(present[0], digits)

    def weighted(self, node: Call) -> float | None:
        pairs: list[tuple[Argument, float | None, float | None]] = []
        for argument in node.arguments:
            assert argument.weight is not None, "checked when parsed"
            weight = self.number(argument.weight)
            if weight is not None and weight < 0:
                raise EvaluationError("a weight must not be negative", argument.weight.position)
            pairs.append((argument, self.number(argument.value), weight))
        total = math.fsum(w for _a, v, w in pairs if v is not None and w is not None)
        terms = tuple(
            WeightedTerm(
                expression=argument.text,
                value=value,
                weight=weight,
                share=(weight / total) if value is not None and weight is not None and total > 0 else 0.0,
            )
            for argument, value, weight in pairs
        )
        self.weights.append(WeightedUse(node.position, terms))
        if total <= 0:
            return None
        return math.fsum(term.value * term.share for term in terms if term.value is not None and term.share)


class _ConstantEvaluator(_Evaluator):
    """The evaluator for constant subtrees: a node already evaluated (or failed) is not evaluated again."""

    def __init__(self, memo: _MemoEvaluator) -> None:
        super().__init__({}, MAX_STEPS)
        self.memo = memo

    def run(self, node: Node) -> Value:
        key = id(node)
        if key in self.memo.values:
            known = self.memo.values[key]
            if isinstance(known, _Unknown):
                raise EvaluationError("not a constant", node.position)
            return known
        try:
            value = super().run(node)
        except EvaluationError:
            self.memo.values[key] = _UNKNOWN
            raise
        self.memo.values[key] = value
        return value


def round_half_away(value: float, digits: int) -> float:
    """Round half away from zero (1.5 -> 2, 2.5 -> 3), not Python's banker's rounding."""
    factor = 10.0**digits
    scaled = abs(value) * factor
    rounded = math.floor(scaled + 0.5 + 1e-9) / factor
    return math.copysign(rounded, value) if rounded else 0.0


def _finite(value: float, position: int) -> None:
    if not math.isfinite(value) or abs(value) > 1e15:
        raise EvaluationError("the result is too large", position)


# The public surface


@dataclass(frozen=True)
class Formula:
    """A parsed and checked formula; ``evaluate`` it with component values (0-100, or None)."""

    source: str
    root: Node = field(repr=False)
    uses: dict[str, int] = field(repr=False)  # component -> position of its first use

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.uses)

    @property
    def hash(self) -> str:
        """SHA-256 of the language version and the formula text."""
        return hashlib.sha256(f"{LANGUAGE}\n{self.source}".encode()).hexdigest()

    def evaluate(self, values: Mapping[str, float | None], *, max_steps: int = MAX_STEPS) -> Evaluation:
        evaluator = _Evaluator(values, max_steps)
        value = evaluator.run(self.root)
        assert value is None or not isinstance(value, bool), "checked when parsed"
        if value is not None:
            _finite(value, self.root.position)
        return Evaluation(value, tuple(evaluator.weights))


def parse(source: str, *, names: Collection[str] = COMPONENTS) -> Formula:
    """Read and check a formula; raises FormulaError naming the position of the first problem."""
    root = _Parser(source, names).parse()
    if _Checker().check(root) != "number":
        raise FormulaError("the formula must give a number, not true/false", root.position)
    return Formula(source, root, name_positions(root))


@functools.lru_cache(maxsize=512)
def compile_formula(source: str) -> Formula:
    """``parse`` with the standard components, once per formula text.

    A template version's formula never changes, so scoring every participant of a cycle reads
    and checks it once, not once per score.
    """
    return parse(source)


def sample_values(names: Collection[str]) -> Iterator[dict[str, float | None]]:
    """Inputs a formula is tried on before it is accepted: every presence pattern, low, high and mixed."""
    ordered = sorted(names)
    for present in itertools.product((True, False), repeat=len(ordered)):
        for low_high in (0.0, 100.0, None):
            values: dict[str, float | None] = {}
            for index, (name, here) in enumerate(zip(ordered, present, strict=True)):
                if not here:
                    values[name] = None
                elif low_high is None:
                    values[name] = (37.5, 82.0, 0.0, 100.0, 61.25)[index % 5]
                else:
                    values[name] = low_high
            yield values


def describe_values(values: Mapping[str, float | None]) -> str:
    return ", ".join(f"{name}={'missing' if value is None else f'{value:g}'}" for name, value in values.items())


def trial(formula: Formula, *, low: float = 0.0, high: float = 100.0) -> None:
    """Evaluate on every sample input: any error, or a result outside ``low..high``, is raised."""
    for values in sample_values(formula.names):
        try:
            result = formula.evaluate(values)
        except EvaluationError as exc:
            raise EvaluationError(f"{exc.message} when {describe_values(values)}", exc.position) from None
        if result.value is not None and not low <= result.value <= high:
            raise EvaluationError(
                f"the result {result.value:g} is outside {low:g}..{high:g} when {describe_values(values)}; "
                "wrap the formula in clamp(..., 0, 100)",
                1,
            )
