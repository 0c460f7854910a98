"""The generic registry: registration, lookup errors, duplicate names."""

from __future__ import annotations

import pytest

from attnbench.registry import Registry, UnknownNameError


class Base:
    pass


def test_register_and_lookup():
    reg: Registry = Registry("widget", "attnbench.test-widgets", Base)

    @reg.register
    class Alpha(Base):
        pass

    @reg.register(name="b")
    class Beta(Base):
        pass

    assert reg.names() == ["alpha", "b"]
    assert reg.get("b") is Beta and Beta.name == "b"
    assert reg.origin("alpha") == "attnbench"
    with pytest.raises(UnknownNameError, match="unknown widget 'gamma'; known widgets: alpha, b"):
        reg.get("gamma")


def test_duplicate_name_and_wrong_type_rejected():
    reg: Registry = Registry("widget", "attnbench.test-widgets", Base)

    @reg.register(name="x")
    class One(Base):
        pass

    with pytest.raises(ValueError, match="already taken"):

        @reg.register(name="x")
        class Two(Base):
            pass

    with pytest.raises(TypeError, match="subclass"):
        reg.register(object, name="y")
