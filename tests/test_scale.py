"""Real-size graphs: loading in linear time, long flat expressions, cycles found in big graphs."""

from __future__ import annotations

import sys
from pathlib import Path

import networkx as nx
import pytest
import yaml

import graphstep
from graphstep import spec as spec_module
from graphstep.errors import GraphstepError
from graphstep.graph import Cycle, topological

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from shapes import chain_yaml, doubling_blocks_yaml, layered_nodes


def test_a_flat_sum_of_1200_terms_loads_and_adds_left_to_right() -> None:
    terms = [f"a{i}" for i in range(1200)]
    leaves = ", ".join(f"{t}: {i}" for i, t in enumerate(terms))
    text = f"inputs: {{{leaves}}}\ngraph:\n  f: {' + '.join(terms)}\n"
    graph = graphstep.load(text)
    assert graph.trace().loss == sum(range(1200))
    assert graph.nodes["f"].inputs == ("f.1198", "a1199")
    assert graph.nodes["f.1"].inputs == ("a0", "a1")


def test_mixed_operators_are_flat_too_but_parentheses_nest() -> None:
    flat = " - ".join(["x * 2"] * 200)  # 399 operators, no parentheses
    assert graphstep.load(f"inputs: {{x: 1}}\ngraph:\n  f: {flat}\n").trace().loss == 2 - 2 * 199
    nested = "(" * 70 + "x" + " + 1)" * 70
    with pytest.raises(GraphstepError, match="nested more than 64 deep"):
        graphstep.load(f"inputs: {{x: 1}}\ngraph:\n  f: {nested}\n")
    left = "(" * 30 + "x" + " + 1)" * 30  # parenthesized to the left: 30 levels, allowed
    assert graphstep.load(f"inputs: {{x: 1}}\ngraph:\n  f: {left}\n").trace().loss == 31


def test_topological_order_is_networkx_lexicographical_order() -> None:
    graph = graphstep.load(layered_nodes(600))
    decl = {n: i for i, n in enumerate(graph.nodes)}
    assert graph.order == list(nx.lexicographical_topological_sort(graph.dag, key=decl.get))


def test_a_cycle_at_the_end_of_a_long_chain_is_named() -> None:
    text = chain_yaml(5000).replace("  a0: x * k", "  a0: x * k + b\n  b: a4999 * 2")
    with pytest.raises(GraphstepError, match=r"cycle: a0 → a1 → a2 → .* → a4999 → b → a0"):
        graphstep.load(text)


def test_cycle_names_the_loop_from_its_first_declared_name() -> None:
    with pytest.raises(Cycle) as info:
        topological({"z": ["c"], "a": ["c"], "b": ["a"], "c": ["b"]})
    assert info.value.names == ["a", "c", "b", "a"]  # a reads c, which reads b, which reads a
    assert topological({"b": ["a"], "a": [], "c": ["a", "a"]}) == ["a", "b", "c"]


def test_blocks_called_8192_times_load() -> None:
    graph = graphstep.load(doubling_blocks_yaml(13))
    assert sum(1 for call, (block, _) in graph.calls.items() if block == "d0") == 8192
    assert len(graph.groups) == 8192  # an output's call takes its caller's name
    assert len(graph.nodes) == 2 + 2 * 8192  # x, k, and tanh and a product per d0 call


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")
def test_libyaml_reads_with_the_same_marks_as_pyyaml() -> None:
    text = Path(graphstep.__file__).with_name("examples").joinpath("chain_rule.yaml").read_text()
    text += 'extra: {a: "x + y", b: [1, 2]}\nmore: |\n  x * y\n'
    assert spec_module._Fast is not spec_module._Loader

    def marks(loader: type) -> list[object]:
        data = spec_module._load(loader, text)
        out = []
        stack = [data]
        while stack:
            m = stack.pop()
            out.append((dict(m), m.loc, m.key_locs, m.value_origins))
            stack.extend(v for v in m.values() if isinstance(v, spec_module.Located))
        return out

    assert marks(spec_module._Fast) == marks(spec_module._Loader)
