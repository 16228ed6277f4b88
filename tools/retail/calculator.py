"""Safe arithmetic for the calculate tool: the ast of + - * / over numbers, never eval."""

from __future__ import annotations

import ast
import math

MAX_EXPRESSION = 500


class CalculationError(ValueError):
    """The expression is not plain arithmetic, or has no finite value."""


def _number(node: ast.Constant) -> float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalculationError(f"only numbers are allowed, not {value!r}")
    return float(value)


def _binary(node: ast.BinOp) -> float:
    left, right = _evaluate(node.left), _evaluate(node.right)
    match node.op:
        case ast.Add():
            return left + right
        case ast.Sub():
            return left - right
        case ast.Mult():
            return left * right
        case ast.Div():
            if right == 0:
                raise CalculationError("division by zero")
            return left / right
    raise CalculationError(f"operator {type(node.op).__name__} is not allowed; use + - * /")


def _evaluate(node: ast.AST) -> float:
    match node:
        case ast.Constant():
            return _number(node)
        case ast.BinOp():
            return _binary(node)
        case ast.UnaryOp(op=ast.USub()):
            return -_evaluate(node.operand)
        case ast.UnaryOp(op=ast.UAdd()):
            return _evaluate(node.operand)
    raise CalculationError(
        f"{type(node).__name__} is not allowed; use numbers, + - * / and parentheses"
    )


def calculate_expression(expression: str) -> float:
    """Evaluate arithmetic (numbers, + - * /, parentheses, unary minus), rounded to 2 decimals."""
    if len(expression) > MAX_EXPRESSION:
        raise CalculationError(f"expression is longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
        value = _evaluate(tree.body)
    except SyntaxError as exc:
        raise CalculationError(f"not a valid expression: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise CalculationError("expression is nested too deeply") from None
    except OverflowError:
        raise CalculationError("a number is too large") from None
    if not math.isfinite(value):
        raise CalculationError("the result is too large")
    result = round(value, 2)
    return 0.0 if result == 0 else result
