"""PyTorch modules in: each model of the issue, compared with torch autograd in float64.

Every parameter's and every input's gradient must equal torch's to 1e-9 relative
(to the largest gradient of that tensor), and the loss likewise.
"""

from __future__ import annotations

import copy
import inspect
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_tui import drive, running, settle
from torch import nn

import graphstep
from graphstep import cli
from graphstep.convert import write_graph_file
from graphstep.errors import GraphstepError
from graphstep.importers import torch as importer
from graphstep.steps import Phase
from graphstep.tui.graph_view import GraphView

RTOL = 1e-9


def torch_gradients(
    model: nn.Module, inputs: tuple[torch.Tensor, ...], loss: Any
) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and the gradient of every parameter and float input, by torch autograd."""
    m = copy.deepcopy(model).double()
    xs = tuple(x.detach().double().requires_grad_() if x.is_floating_point() else x for x in inputs)
    value = loss(m(*xs))
    value.backward()
    grads = {name: p.grad.numpy() for name, p in m.named_parameters()}
    names = list(inspect.signature(model.forward).parameters)
    grads.update({names[k]: x.grad.numpy() for k, x in enumerate(xs) if x.grad is not None})
    return value.item(), grads


def assert_matches_torch(
    graph: graphstep.Graph, model: nn.Module, inputs: tuple[torch.Tensor, ...], loss: Any
) -> None:
    want_loss, want = torch_gradients(model, inputs, loss)
    trace = graph.trace()
    assert float(trace.value(graph.output)) == pytest.approx(want_loss, rel=RTOL)
    names = {original: name for name, original in graph.sources.items()}
    for original, grad in want.items():
        got = trace.grad(names.get(original, original))
        assert got is not None, original
        scale = float(np.max(np.abs(grad))) or 1.0
        np.testing.assert_allclose(got, grad, rtol=RTOL, atol=RTOL * scale, err_msg=original)


# -- the models of the issue


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(5, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(x)))


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(image)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    """ResNet's basic block with a projection shortcut (stride 2)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.downsample(x))


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer1 = BasicBlock(3, 4)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.layer1(x)), 1))


class Shared(nn.Module):
    """One Linear applied twice: its weight is one param whose gradient sums both uses."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.sigmoid(self.fc(x)))


def seeded(model: nn.Module) -> nn.Module:
    """Batch norm with running statistics that are not the identity, in eval mode."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(params=["as exported", "core ATen"])
def ops(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways through the importer: the exported program's ops mapped whole where
    graphstep can (conv2d, linear, batch_norm, ...), and everything decomposed first."""
    if request.param == "core ATen":
        monkeypatch.setattr(importer, "_direct", lambda node: False)
    return str(request.param)


def test_mlp_with_cross_entropy_equals_torch_autograd(ops: str) -> None:
    model, x, y = MLP(), torch.randn(4, 5), torch.tensor([0, 2, 1, 2])
    loss = lambda out: F.cross_entropy(out, y)  # noqa: E731
    graph = graphstep.from_torch(model, (x,), loss=loss)
    assert_matches_torch(graph, model, (x,), loss)
    assert graph.nodes[graph.output].op == "cross_entropy"  # nll_loss(log_softmax) as one op
    assert graph.output == "loss"
    assert graph.nodes["loss"].inputs[1] == "target"  # the tensor the loss captured
    assert graph.sources["fc1_weight"] == "fc1.weight"
    assert set(graph.params) == {"fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"}


def test_lenet5_conv_maxpool_linear_equals_torch_autograd(ops: str) -> None:
    model, image = LeNet5(), torch.randn(2, 1, 28, 28)
    y = torch.tensor([3, 7])
    loss = lambda out: F.cross_entropy(out, y)  # noqa: E731
    graph = graphstep.from_torch(model, (image,), loss=loss)
    assert_matches_torch(graph, model, (image,), loss)
    ops = [graph.nodes[n].op for n in graph.forward_order]
    assert ops.count("conv2d") == 2 and ops.count("maxpool") == 2 and ops.count("matmul") == 3
    assert graph.nodes["conv1"].shape == (2, 6, 28, 28)  # a module's one node is named after it


def test_resnet_basic_block_with_batch_norm_in_eval_equals_torch_autograd(ops: str) -> None:
    model, x = seeded(TinyResNet()), torch.randn(2, 3, 8, 8)
    loss = lambda out: (out**2).mean()  # noqa: E731
    graph = graphstep.from_torch(model, (x,), loss=loss)
    assert_matches_torch(graph, model, (x,), loss)
    assert [graph.nodes[n].op for n in graph.forward_order].count("batchnorm") == 3
    # running statistics are inputs with their values, not params that training would move
    assert graph.nodes["layer1_bn1_running_var"].op == "input"
    assert "layer1_bn1_running_var" not in graph.params


def test_the_module_hierarchy_becomes_groups_named_after_the_modules(ops: str) -> None:
    model, x = seeded(TinyResNet()), torch.randn(1, 3, 8, 8)
    graph = graphstep.from_torch(model, (x,), loss="sum(output)")
    assert graph.calls["layer1"] == ("BasicBlock", ("x",))
    assert graph.calls["layer1_downsample"][0] == "Sequential"
    inside = set(graph.groups["layer1"])
    assert set(graph.groups["layer1_downsample"]) < inside
    assert graph.nodes["layer1_downsample_0"].group == "layer1_downsample"
    assert graph.nodes["layer1_conv1"].group == "layer1"
    assert graph.nodes["layer1_conv1_weight"].group == "layer1"  # read only inside it
    assert graph.nodes["layer1_downsample_1_running_var"].group == "layer1_downsample"
    assert graph.nodes["x"].group is None  # the model's input is the call's argument
    # Linear is one node as exported (no group), permute + addmm decomposed (a group)
    assert graph.nodes["fc_weight"].group == (None if ops == "as exported" else "fc")
    assert graph.sources["layer1_downsample_0"] == "layer1.downsample.0"
    # a block call is one step of the timeline, its nodes inner steps
    session = graph.session()
    forward = [s.node for s in session.timeline.steps if s.phase is Phase.FORWARD]
    assert "layer1" in forward and "layer1_conv1" not in forward


def test_a_weight_shared_twice_sums_both_uses_as_torch_does(ops: str) -> None:
    model, x = Shared(), torch.randn(3, 4)
    loss = lambda out: out.sum()  # noqa: E731
    graph = graphstep.from_torch(model, (x,), loss=loss)
    assert_matches_torch(graph, model, (x,), loss)
    assert graph.params == ["fc_weight", "fc_bias"]
    assert len(graph.consumers["fc_weight"]) == 2
    assert {"fc", "fc_1"} <= set(graph.nodes)  # each call of the module, named after it
    if ops == "core ATen":  # permute and addmm: each call a group of its own
        assert graph.calls == {"fc": ("Linear", ("x",)), "fc_1": ("Linear", ("sigmoid_",))}
        assert graph.nodes["fc_weight"].group is None  # read by both calls: outside both


class Unsupported(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(F.gelu(self.fc(x))) + torch.sin(x)


def test_a_module_with_unsupported_ops_lists_each_with_count_and_line() -> None:
    with pytest.raises(GraphstepError) as caught:
        graphstep.from_torch(Unsupported(), (torch.randn(2, 3),))
    message = caught.value.message
    line = inspect.getsourcelines(Unsupported.forward)[1] + 1
    assert message.startswith("no graphstep op for sin ×2 (test_torch.py:")
    assert f"gelu ×1 (test_torch.py:{line})" in message
    assert caught.value.file == "Unsupported"


class Branches(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        if y.sum() > 0:
            return y * 2
        return y


def test_data_dependent_control_flow_is_one_clear_error_at_the_branch() -> None:
    with pytest.raises(GraphstepError) as caught:
        graphstep.from_torch(Branches(), (torch.randn(2, 3),))
    error = caught.value
    assert "branches on the values of a tensor (if y.sum() > 0:)" in error.message
    assert error.file == __file__
    assert error.line == inspect.getsourcelines(Branches.forward)[1] + 2
    assert "torch.cond" in (error.hint or "")


def test_a_loss_expression_and_the_default_loss_over_the_outputs(ops: str) -> None:
    model, x = MLP(), torch.randn(4, 5)
    graph = graphstep.from_torch(model, (x,), loss="sum(output ** 2)")
    assert_matches_torch(graph, model, (x,), lambda out: (out**2).sum())
    default = graphstep.from_torch(model, (x,))
    assert default.nodes[default.output].op == "cross_entropy"
    top = copy.deepcopy(model).double()(x.double()).argmax(1)
    assert_matches_torch(default, model, (x,), lambda out: F.cross_entropy(out, top))


def test_the_model_passed_in_is_left_as_it_was() -> None:
    model = MLP()
    before = model.fc1.weight.detach().clone()
    graphstep.from_torch(model, (torch.randn(2, 5),), loss="sum(output)")
    assert model.fc1.weight.dtype == torch.float32
    assert torch.equal(model.fc1.weight, before)


def test_batch_norm_in_training_mode_says_to_call_eval() -> None:
    with pytest.raises(GraphstepError) as caught:
        graphstep.from_torch(TinyResNet().train(), (torch.randn(2, 3, 8, 8),), loss="sum(output)")
    assert "_native_batch_norm_legit_functional ×3" in caught.value.message
    assert "model.eval()" in (caught.value.hint or "")


def test_dropout_and_relu6_in_eval_equal_torch_and_dropout_in_training_says_eval(
    ops: str,
) -> None:
    model = nn.Sequential(nn.Linear(3, 6), nn.Dropout(0.5), nn.ReLU6(), nn.Linear(6, 2))
    x = torch.randn(5, 3) * 4
    with pytest.raises(GraphstepError, match="native_dropout ×1") as caught:
        graphstep.from_torch(model, (x,), loss="sum(output)")
    assert "model.eval()" in (caught.value.hint or "")
    graph = graphstep.from_torch(model.eval(), (x,), loss="sum(output)")
    assert_matches_torch(graph, model, (x,), lambda out: out.sum())
    assert "clip" in [graph.nodes[n].op for n in graph.forward_order]


def test_bad_arguments_are_graphstep_errors() -> None:
    with pytest.raises(GraphstepError, match=r"not a torch\.nn\.Module"):
        graphstep.from_torch(lambda x: x, (torch.randn(2),))
    with pytest.raises(GraphstepError, match="example input 0 is a list"):
        graphstep.from_torch(MLP(), ([1.0, 2.0],))
    with pytest.raises(GraphstepError, match="must be one number"):
        graphstep.from_torch(MLP(), (torch.randn(2, 5),), loss=lambda out: out * 2)


# -- without torch: an import blocker, as on a machine where it is not installed


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError


def test_from_torch_without_torch_says_how_to_install_it(no_torch: None) -> None:
    with pytest.raises(GraphstepError, match="PyTorch is not installed") as caught:
        graphstep.from_torch(object(), ())
    assert caught.value.hint is not None and "graphstep[torch]" in caught.value.hint


def test_the_torch_command_without_torch_exits_2_with_the_install_hint(
    no_torch: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models.py"
    models.write_text("def make():\n    return None\n")
    assert cli.main(["torch", f"{models}:make"]) == cli.BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "PyTorch is not installed" in err and "pip install 'graphstep[torch]'" in err


# -- the command line: graphstep torch FILE.py:FACTORY

MODELS = """
import torch
import torch.nn.functional as F
from torch import nn


def make():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    x = torch.randn(4, 3)
    y = torch.tensor([0, 1, 1, 0])
    return model, (x,), lambda out: F.cross_entropy(out, y)


def plain():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(3, 2)), (torch.randn(4, 3),)


def broken():
    return 1 / 0


class Branches(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x


def branches():
    return Branches(), (torch.ones(3),), lambda out: out.sum()
"""


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


def test_torch_save_writes_a_graph_file_that_reads_back_to_torchs_numbers(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.yaml"
    assert cli.main(["torch", f"{models}:make", "--save", str(out)]) == cli.OK
    assert "wrote" in capsys.readouterr().out and (tmp_path / "model.npz").is_file()
    saved = graphstep.load(out)
    namespace: dict[str, Any] = {}
    exec(compile(MODELS, str(models), "exec"), namespace)
    model, inputs, loss = namespace["make"]()
    want_loss, want = torch_gradients(model, inputs, loss)
    trace = saved.trace()
    assert float(trace.value(saved.output)) == pytest.approx(want_loss, rel=RTOL)
    np.testing.assert_allclose(trace.grad("t_0_weight"), want["0.weight"], rtol=RTOL, atol=1e-12)
    assert "# t_0_weight: 0.weight" in out.read_text()


def test_save_keeps_a_module_name_with_a_newline_inside_its_comment_line(tmp_path: Path) -> None:
    model = nn.Sequential()
    model.add_module("a\nname: evil", nn.Linear(2, 2))
    imported = importer.import_torch(model, (torch.randn(1, 2),), loss="sum(output)")
    out = tmp_path / "evil.yaml"
    write_graph_file(imported.spec, str(out))
    assert "# a_name_evil_weight: a\\nname: evil.weight\n" in out.read_text()
    assert graphstep.load(out).name == "Sequential"


def test_torch_loss_option_and_errors_in_the_users_file(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plain.yaml"
    args = ["torch", f"{models}:plain", "--loss", "sum(output)", "--save", str(out)]
    assert cli.main(args) == cli.OK
    assert "sum(" in out.read_text()
    capsys.readouterr()
    assert cli.main(["torch", f"{models}:broken"]) == cli.BAD_INPUT
    err = capsys.readouterr().err
    line = MODELS.splitlines().index("    return 1 / 0") + 1
    assert f"{models}:{line}: running it raised ZeroDivisionError: division by zero" in err
    assert cli.main(["torch", f"{models}:nothing"]) == cli.BAD_INPUT
    assert "has no function 'nothing'" in capsys.readouterr().err
    assert cli.main(["torch", f"{models}:make", "--loss", "sum(output)"]) == cli.BAD_INPUT
    assert "already returns a loss" in capsys.readouterr().err
    assert cli.main(["torch", str(models)]) == cli.BAD_INPUT
    assert "is not FILE.py:FACTORY" in capsys.readouterr().err
    assert cli.main(["torch", f"{models}:branches"]) == cli.BAD_INPUT
    err = capsys.readouterr().err  # torch's own dump of the graph is not shown
    assert err.count("\n") == 1 and "(if x.sum() > 0:)" in err


# -- the terminal UI: a module is one box until expanded


@drive
async def test_the_tui_draws_a_module_as_one_box_until_x_expands_it() -> None:
    graph = graphstep.from_torch(
        seeded(TinyResNet()), (torch.randn(1, 3, 8, 8),), loss="sum(output)"
    )
    async with running(graph) as pilot:
        view = pilot.app.query_one(GraphView)
        assert view.graph_layout is not None
        assert "layer1" in view.graph_layout.boxes
        assert "layer1_conv1" not in view.graph_layout.boxes
        assert "layer1_conv1_weight" not in view.graph_layout.boxes  # its weights inside it
        await pilot.press("n")
        await settle(pilot)
        assert pilot.app.session.current.node == "layer1"
        assert "BasicBlock(x)" in pilot.app.session.current.text
        await pilot.press("x")
        await settle(pilot)
        assert pilot.app.expanded == {"layer1"}
        assert [c.name for c in view.graph_layout.clusters] == ["layer1"]
        boxes = set(view.graph_layout.boxes)
        assert {"layer1_conv1", "layer1_bn1", "layer1_conv1_weight", "layer1_downsample"} <= boxes
        assert "layer1_downsample_0" not in boxes  # the nested Sequential stays collapsed


HOSTILE_FACTORIES = """
import torch
from torch import nn


def empty_input():
    return nn.Identity(), (torch.empty(0),)


def empty_batch():
    return nn.Linear(3, 2), (torch.ones(0, 3),)


def loss_not_callable():
    return nn.Linear(3, 2), (torch.ones(1, 3),), 42


def exits():
    import sys

    sys.exit(7)
"""


@pytest.mark.parametrize(
    ("factory", "words"),
    [
        ("empty_input", ":empty_input: example input 0 is empty (shape [0]) "),
        ("empty_batch", ":empty_batch: example input 0 is empty (shape [0, 3]) "),
        (
            "loss_not_callable",
            ": the third thing loss_not_callable() returned is an int, not a function of the "
            "model's output or an expression over its outputs",
        ),
        ("exits", ": running it called sys.exit(7) (hint: the file is imported"),
    ],
)
def test_a_factory_giving_an_empty_input_or_a_loss_that_is_no_loss_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], factory: str, words: str
) -> None:
    models = tmp_path / "hostile.py"
    models.write_text(HOSTILE_FACTORIES)
    out = tmp_path / "out.yaml"
    assert cli.main(["torch", f"{models}:{factory}", "--save", str(out)]) == cli.BAD_INPUT
    out_text, err = capsys.readouterr()
    assert out_text == "" and err.count("\n") == 1, err
    assert err.startswith("graphstep: error: ") and words in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.py"]


def test_from_torch_refuses_a_loss_that_is_no_loss() -> None:
    with pytest.raises(GraphstepError, match=r"the loss is a list, not a function of the model"):
        graphstep.from_torch(nn.Linear(3, 2), (torch.ones(1, 3),), loss=["sum(output)"])
