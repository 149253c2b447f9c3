"""The calculator tool: what it evaluates, what it refuses, how it answers, and its MCP server."""

import time

import pytest

from studio.errors import StudioError
from studio.tasks.arithmetic_calculator import CalculatorError, calculate


@pytest.mark.parametrize(("expression", "value"), [
    ("3 * 4.50 + 1.25", "14.75"),
    ("12 * (3 + 4) / 2", "42"),
    ("7 // 2 + 7 % 2", "4"),
    ("-(2 - 5) * +2", "6"),
    ("2 ** 10", "1024"),
    ("2 ** -2", "0.25"),
    ("1 / 3", "0.3333333333"),
    ("0.1 * 3", "0.3"),
    ("2 / 3 * 3", "2"),
    ("-0.0", "0"),
    ("1e20 * 1.0", "100000000000000000000"),
    ("10 ** 100", "1" + "0" * 100),
    ("sqrt(16) + abs(-2)", "6"),
    ("round(2.5) + round(-2.5)", "0"),
    ("round(2.675, 2)", "2.68"),
    ("round(1234, -2)", "1200"),
    ("floor(2.7) + ceil(2.1)", "5"),
    ("min(3, 1, 2) + max(4, 9)", "10"),
])
def test_arithmetic(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize(("expression", "value"), [
    ("3 x 4", "12"),
    ("2x(1 + 1)", "4"),
    ("3 × 4 ÷ 8", "1.5"),
    ("2^10", "1024"),
    ("5 − 7", "-2"),
    ("1,234 + 1", "1235"),
    ("12,345,678.5 * 2", "24691357"),
    ("(1,000) / 4", "250"),
    ("max(1,234)", "234"),  # inside a function's parentheses a comma separates arguments
    ("12%", "0.12"),
    ("200 * 15%", "30"),
    ("15% * 200", "30"),
    ("12% - 3", "-2.88"),
    ("max(10%, 5%)", "0.1"),
    ("17 % 5", "2"),
    ("17 % (-5)", "-3"),
    ("17 %5", "2"),
])
def test_what_people_write(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize(("expression", "message"), [
    ("__import__('os')", "the function '__import__'"),
    ("__import__('os').system('true')", "attributes"),
    ("().__class__", "attributes"),
    ("().__class__.__bases__[0].__subclasses__()", "attributes"),
    ("open('/etc/passwd')", "the function 'open'"),
    ("x + 1", "the name 'x'"),
    ("sqrt(pi)", "the name 'pi'"),
    ("'a' * 10", "the value 'a'"),
    ("f'{1}'", "text"),
    ("lambda: 1", "lambdas"),
    ("[i for i in range(9)]", "comprehensions"),
    ("[1][0]", "indexing"),
    ("3 < 4", "comparisons"),
    ("1 and 2", "and/or"),
    ("1 if 1 else 2", "if/else"),
    ("1,23", "tuples"),
    ("1 & 2", "&"),
    ("~1", "~"),
    ("True + 1", "the value True"),
    ("1j", "the value 1j"),
    ("round(2.5, ndigits=1)", "no named arguments"),
    ("abs(1, 2)", "abs takes 1 argument"),
    ("max()", "max takes at least 1 argument"),
    ("import os", "not an arithmetic expression"),
    ("1; 2", "not an arithmetic expression"),
    ("", "empty"),
])
def test_refused(expression, message):
    with pytest.raises(CalculatorError) as caught:
        calculate(expression)
    assert message in str(caught.value)
    assert isinstance(caught.value, StudioError)


@pytest.mark.parametrize(("expression", "message"), [
    ("1 / 0", "division by zero"),
    ("1 // 0", "division by zero"),
    ("5 % 0", "division by zero"),
    ("0 ** -1", "division by zero"),
    ("sqrt(-1)", "negative"),
    ("(-8) ** (1 / 3)", "not a real number"),
])
def test_math_errors(expression, message):
    with pytest.raises(CalculatorError, match=message):
        calculate(expression)


@pytest.mark.parametrize("expression", [
    "9**9**9", "10 ** 101", "2 ** 1000", "1e400", "1e100 * 1e100", "(10 ** 99) * 100", "1.5 ** 10 ** 99",
    "0.5 ** -(10 ** 99)", "10 ** 60 * 10 ** 60",
])
def test_enormous_values_are_refused_quickly(expression):
    start = time.perf_counter()
    with pytest.raises(CalculatorError, match="too large"):
        calculate(expression)
    assert time.perf_counter() - start < 0.5


def test_long_and_deep_input_is_refused_quickly():
    start = time.perf_counter()
    with pytest.raises(CalculatorError, match="longer than 500"):
        calculate("1+" * 10_000 + "1")
    with pytest.raises(CalculatorError, match="nested"):
        calculate("(" * 240 + "1" + ")" * 240)
    with pytest.raises(CalculatorError, match="nested"):
        calculate("a" * 249 + "(" * 250)
    assert calculate("-" * 450 + "1") == "1"
    assert calculate("+".join(["9" * 9] * 40)) == str(999999999 * 40)
    assert time.perf_counter() - start < 1


def test_mcp_server_answers_and_reports_refusals_as_tool_errors():
    from tests.support.mcp_stdio import talk, text

    session = talk("studio.tools.servers.calculator", calls=[
        ("calculate", {"expression": "3 * 4.50 + 1.25"}),
        ("calculate", {"expression": "1 / 0"}),
        ("calculate", {"expression": "__import__('os')"}),
        ("calculate", {"expression": "2 ^ 10"}),
    ])
    assert session.server.name == "fireact-calculator" and session.server.version
    (tool,) = session.tools
    assert tool.name == "calculate" and tool.description.startswith("Evaluates an arithmetic expression")
    assert tool.input_schema["required"] == ["expression"]
    ok, zero, hostile, power = session.results
    assert (ok.is_error, text(ok)) == (False, "14.75")
    assert zero.is_error and "division by zero" in text(zero)
    assert hostile.is_error and "the function '__import__'" in text(hostile)
    assert (power.is_error, text(power)) == (False, "1024")  # the server is still up after errors


def test_the_calculator_tool_answers_in_this_process_as_its_server_does():
    from studio.tools.calculator import CalculatorTool
    from studio.tools.toolbox import INVALID_CALL, TOOL_ERROR, Toolbox
    from tests.support.mcp_stdio import talk, text

    expressions = ["3 * 4.50 + 1.25", "1 / 0", "2 ^ 10"]
    session = talk("studio.tools.servers.calculator", calls=[("calculate", {"expression": e}) for e in expressions])
    tools = Toolbox([CalculatorTool()], "in-process", listed=True)
    seen = [tools.call("calculate", e) for e in expressions]
    assert [(o.text, o.status == TOOL_ERROR) for o in seen] == [(text(r), r.is_error) for r in session.results]
    (served,) = session.tools
    assert (served.name, served.description) == (tools.names[0], tools.specs[0].description)
    assert tools.call_native("calculate", '{"expression": "6 * 7"}').text == "42" and tools.concurrent("calculate")
    assert tools.call_native("calculate", '{"expression": 42}').status == INVALID_CALL
