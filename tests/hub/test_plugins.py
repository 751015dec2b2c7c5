"""Adapter discovery through the ``auasu.adapters`` entry-point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from adapters.base import ENTRY_POINT_GROUP
from adapters.hj212.lihe import LiheHJ212Adapter
from hub import plugins


def entry_point(name: str, target: str) -> EntryPoint:
    return EntryPoint(name=name, value=target, group=ENTRY_POINT_GROUP)


def not_an_adapter() -> object:
    return object()


def test_the_builtin_adapter_is_found_through_its_entry_point() -> None:
    adapters = plugins.load_adapters()
    assert isinstance(adapters["lihe-hj212"], LiheHJ212Adapter)
    (info,) = [i for i in plugins.describe_adapters() if i.name == "lihe-hj212"]
    assert info.version == LiheHJ212Adapter.version and info.distribution == "auasu"


def test_load_adapters_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUASU_LOAD_ADAPTERS", "someone-else")
    assert plugins.load_adapters() == {}
    with pytest.raises(plugins.AdapterLoadError, match="installed: none"):
        plugins.load_adapter("lihe-hj212")


@pytest.mark.parametrize(
    ("ep", "message"),
    [
        (entry_point("x", "tests.hub.test_plugins:not_an_adapter"), "did not return an Adapter"),
        (entry_point("x", "adapters.hj212.lihe:LiheHJ212Adapter"), "returned adapter named"),
        (entry_point("x", "no.such.module:Thing"), "failed to load"),
    ],
)
def test_broken_entry_points_are_reported(
    monkeypatch: pytest.MonkeyPatch, ep: EntryPoint, message: str
) -> None:
    monkeypatch.setattr(plugins, "_entry_points", lambda: [ep])
    with pytest.raises(plugins.AdapterLoadError, match=message):
        plugins.load_adapters()
