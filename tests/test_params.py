"""Parameter declarations: coercion, ranges, messages."""

from __future__ import annotations

import pytest

from attnbench.params import Param, ParameterError, axis_params, resolve_params

K = Param("k_top", 5, int, low=1, axis="top_k")
CAP = Param("max_mem", None, int, low=1, none_means="unbounded", axis="memory")
FLAG = Param("fused", True, bool)
RATE = Param("lr", 1e-3, float, low=0, high=1)


@pytest.mark.parametrize(
    ("param", "raw", "value"),
    [
        (K, "7", 7),
        (K, 3.0, 3),
        (CAP, "none", None),
        (CAP, None, None),
        (FLAG, "false", False),
        (FLAG, 1, True),
        (RATE, "0.5", 0.5),
    ],
)
def test_coercion(param, raw, value):
    assert param.validate(raw) == value


@pytest.mark.parametrize(
    ("param", "raw"),
    [(K, 0), (K, 2.5), (K, "two"), (K, True), (K, None), (CAP, 0), (FLAG, "maybe"), (RATE, 2), (RATE, float("nan"))],
)
def test_rejection_names_parameter_value_and_allowed(param, raw):
    with pytest.raises(ParameterError) as info:
        param.validate(raw, owner="sab")
    message = str(info.value)
    assert message.startswith("sab: ") and param.name in message and repr(raw) in message
    assert param.allowed() in message and "\n" not in message


def test_resolve_fills_defaults_and_rejects_unknown():
    assert resolve_params((K, CAP), {"k_top": 2}, "sab") == {"k_top": 2, "max_mem": None}
    with pytest.raises(ParameterError, match="unknown parameter 'kk'; known parameters: k_top, max_mem"):
        resolve_params((K, CAP), {"kk": 1}, "sab")


def test_axis_mapping():
    assert axis_params((K, CAP, FLAG)) == {"top_k": "k_top", "memory": "max_mem"}
