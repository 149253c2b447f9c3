"""The arithmetic task's calculator: arithmetic an agent writes, evaluated safely and answered as a short number.
It computes the task's answers and its recorded observations; the calculator tool (`studio.tools.calculator`) and
its MCP server wrap it. It imports only the base (`studio.errors`).

Python's `eval` would run anything, so the expression is parsed with `ast` and only a whitelist of
nodes is evaluated: numbers, `+ - * / // % **`, unary `+ -`, parentheses and the functions in
FUNCTIONS. Everything else (names, attributes, strings, lambdas, comprehensions, ...) is refused with
a CalculatorError saying what is not allowed. Sizes are bounded (input length, exponents, every
intermediate value), so no input can make the evaluation slow or huge.

Before parsing, what people write for arithmetic is read as Python:
  - `×` and `x` between numbers or parentheses (`3 x 4`, `2x(1+1)`) multiply; `÷` divides;
    `^` is a power; `−` (Unicode minus) is a minus.
  - A number grouped in thousands (`1,234` or `12,345,678.5`) loses its commas, except inside a
    function's parentheses, where commas always separate arguments: write `max(1234, 5)`.
  - `%` right after a number is a percent (`12%` is 0.12) when no operand follows it directly:
    at the end, or before `)`, `,` or an operator, signs included (`12% - 3` is 0.12 - 3). Before a
    number, name or `(` it is the remainder: `17 % 5` is 2; write `17 % (-5)` for a negative divisor.

The answer is an integer when the value is integral, else a float rounded to 10 significant digits.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal

from studio.errors import StudioError

MAX_LENGTH = 500  # characters of input
MAX_MAGNITUDE = 10**100  # no value, intermediate or final, may be larger in absolute value
SIGNIFICANT_DIGITS = 10

Number = int | float


class CalculatorError(StudioError, ValueError):
    """An expression the calculator will not or cannot evaluate; the message says why."""


def _round(x: Number, ndigits: Number | None = None) -> Number:
    """Half away from zero, as on paper (Python's own round goes to even and trips on 2.675)."""
    if ndigits is None:
        digits = 0
    elif isinstance(ndigits, int) and abs(ndigits) <= 20:
        digits = ndigits
    else:
        raise CalculatorError("round's second argument must be a whole number of digits from -20 to 20")
    exact = Context(prec=200)  # room for every digit of a value up to MAX_MAGNITUDE, with 20 decimals
    value = Decimal(repr(x)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=exact)
    return int(value) if ndigits is None or isinstance(x, int) else float(value)


def _sqrt(x: Number) -> float:
    if x < 0:
        raise CalculatorError("sqrt of a negative number")
    return math.sqrt(x)


FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int | None]] = {
    # name: (function, fewest arguments, most arguments or None for any number)
    "sqrt": (_sqrt, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (min, 1, None),
    "max": (max, 1, None),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
}

BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}

# What a refused node is, in the words of the error message.
REFUSED = {
    ast.Name: "names", ast.Attribute: "attributes", ast.Subscript: "indexing", ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions", ast.Compare: "comparisons", ast.BoolOp: "and/or", ast.IfExp: "if/else",
    ast.Tuple: "tuples (a comma outside a function's parentheses that is not a thousands separator)",
    ast.List: "lists", ast.Dict: "dicts", ast.Set: "sets", ast.JoinedStr: "text", ast.NamedExpr: ":=",
    ast.Starred: "*arguments", ast.BitAnd: "&", ast.BitOr: "|",
    ast.LShift: "<<", ast.RShift: ">>", ast.MatMult: "@", ast.Invert: "~", ast.Not: "not",
}

_TIMES = re.compile(r"([\d.)])\s*[xX]\s*(?=[\d.(])")
_GROUPED = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?![\w,])")
_PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?|\.\d+)\s*%(?!\s*[\w.(])")


def _in_call(expr: str) -> list[bool]:
    """For each character: whether its innermost open parenthesis is a function call's (one that follows
    a name: the last character before it, spaces aside, is a letter or `_`)."""
    stack: list[bool] = []
    inside = []
    last = ""  # the last character that is not a space
    for ch in expr:
        if ch == "(":
            stack.append(last.isalpha() or last == "_")
        elif ch == ")" and stack:
            stack.pop()
        inside.append(bool(stack) and stack[-1])
        if not ch.isspace():
            last = ch
    return inside


def normalize(expr: str) -> str:
    """The expression in Python's arithmetic syntax (see the module docstring for what is read how)."""
    expr = expr.replace("×", "*").replace("÷", "/").replace("−", "-").replace("^", "**")
    expr = _TIMES.sub(r"\1*", expr)
    inside = _in_call(expr)
    expr = _GROUPED.sub(lambda m: m.group() if inside[m.start()] else m.group().replace(",", ""), expr)
    return _PERCENT.sub(r"(\1/100)", expr)


def _checked(value: Number) -> Number:
    if isinstance(value, complex):
        raise CalculatorError("the result is not a real number")
    if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_MAGNITUDE:
        raise CalculatorError("a value is too large (the calculator stops at 1e100)")
    return value


def _power(base: Number, exponent: Number) -> Number:
    """`base ** exponent`, refused before it is computed when the result would pass MAX_MAGNITUDE."""
    if abs(base) > 1 and exponent > 0 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
        raise CalculatorError("the power is too large (the calculator stops at 1e100)")
    return base**exponent


def _refuse(node: ast.AST) -> CalculatorError:
    what = REFUSED.get(type(node), type(node).__name__)
    if isinstance(node, ast.Name):
        what = f"the name {node.id!r}"
    elif isinstance(node, ast.Constant):
        what = f"the value {node.value!r}; only numbers"
    return CalculatorError(f"not allowed in a calculation: {what}")


def _evaluate(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _checked(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _checked(_power(left, right))
        return _checked(BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return _checked(UNARY[type(node.op)](_evaluate(node.operand)))
    if isinstance(node, ast.Call):
        return _call(node)
    raise _refuse(node.op if isinstance(node, ast.BinOp | ast.UnaryOp) else node)


def _call(node: ast.Call) -> Number:
    if not isinstance(node.func, ast.Name):
        raise _refuse(node.func)
    if node.func.id not in FUNCTIONS:
        raise CalculatorError(
            f"not allowed in a calculation: the function {node.func.id!r} (allowed: {', '.join(FUNCTIONS)})"
        )
    if node.keywords:
        raise CalculatorError(f"{node.func.id} takes no named arguments")
    function, fewest, most = FUNCTIONS[node.func.id]
    if len(node.args) < fewest or (most is not None and len(node.args) > most):
        count = str(fewest) if fewest == most else f"{fewest} to {most}" if most else f"at least {fewest}"
        raise CalculatorError(f"{node.func.id} takes {count} argument{'s' if (most or 0) > 1 else ''}")
    return _checked(function(*(_evaluate(arg) for arg in node.args)))


def format_number(value: Number) -> str:
    """An integer when the value is integral, else the float rounded to 10 significant digits."""
    if isinstance(value, int):
        return str(value)
    rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if rounded == 0:
        return "0"
    if rounded.is_integer():
        return format(Decimal(f"{value:.{SIGNIFICANT_DIGITS}g}"), "f")
    return repr(rounded)


def calculate(expression: str) -> str:
    """The value of an arithmetic expression as text, or a CalculatorError saying what is wrong."""
    if len(expression) > MAX_LENGTH:
        raise CalculatorError(f"the expression is longer than {MAX_LENGTH} characters")
    if not expression.strip():
        raise CalculatorError("the expression is empty")
    try:
        tree = ast.parse(normalize(expression).strip(), mode="eval")
    except SyntaxError as exc:
        raise CalculatorError(f"not an arithmetic expression ({exc.msg})") from None
    except (RecursionError, MemoryError):
        raise CalculatorError("the expression is nested too deeply") from None
    try:
        return format_number(_evaluate(tree.body))
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except OverflowError:
        raise CalculatorError("a value is too large (the calculator stops at 1e100)") from None
    except RecursionError:
        raise CalculatorError("the expression is nested too deeply") from None
