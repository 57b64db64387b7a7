"""Training: a step with numpy's math patched out (the math runs in compiled kernels), a short run
whose loss falls, the CLI, and (slow) the accuracy targets on the embedded digits."""

from __future__ import annotations

import numpy as np
import pytest

import frontend as nf
from frontend import data, nn, optim
from frontend.training import ModelSpec, build_model, evaluate, train_epoch
from nestor.cli import main

PATCHED = ("matmul", "dot", "einsum", "tensordot", "exp", "log", "maximum", "sum", "mean", "max", "tanh",
           "multiply", "add", "subtract", "divide", "sqrt", "power")


def _step(model, optimizer, x, y) -> float:
    loss = nn.SoftmaxLoss()(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_training_step_runs_without_numpy_math(kind, monkeypatch):
    train, _ = data.digits()
    x, y = next(iter(data.DataLoader(train, batch_size=16)))
    model = build_model(ModelSpec(kind, (1, 8, 8)))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    _step(model, optimizer, x, y)  # compiles every kernel (the compiler may use numpy)
    before = [p.numpy() for p in model.parameters()]

    def forbidden(*args, **kwargs):
        raise AssertionError("frontend math ran in numpy")

    for name in PATCHED:
        monkeypatch.setattr(np, name, forbidden)
    loss = _step(model, optimizer, x, y)
    monkeypatch.undo()
    assert np.isfinite(loss)
    assert all(not np.array_equal(b, p.numpy()) for b, p in zip(before, model.parameters()))


def test_a_short_run_lowers_the_loss():
    train, _ = data.digits()
    loader = data.DataLoader(train.subset(slice(0, 256)), batch_size=32, shuffle=True, seed=0)
    model = build_model(ModelSpec("mlp", (1, 8, 8), hidden=32))
    optimizer = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    first = train_epoch(model, loader, optimizer).loss
    for _ in range(3):
        last = train_epoch(model, loader, optimizer).loss
    assert last < 0.5 * first


def test_cli_train_then_eval(tmp_path, capsys):
    checkpoint = tmp_path / "mlp.npz"
    assert main(["train", "mlp", "--epochs", "1", "--limit", "256", "--checkpoint", str(checkpoint),
                 "--quiet"]) == 0
    trained = capsys.readouterr().out
    assert "test accuracy" in trained and checkpoint.exists()
    assert main(["eval", str(checkpoint)]) == 0
    evaluated = capsys.readouterr().out
    accuracy = trained.split("test accuracy ")[1].split()[0]
    assert f"test accuracy {accuracy}" in evaluated


def test_cli_reports_a_missing_data_dir(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "mlp", "--dataset", "mnist", "--quiet"])
    assert exit_info.value.code == 2
    assert "--dataset mnist needs --data-dir" in capsys.readouterr().err


def test_eval_mode_uses_no_graph(rng):
    model = build_model(ModelSpec("mlp", (1, 8, 8), hidden=16))
    loader = data.DataLoader(data.ArrayDataset(rng.random((8, 1, 8, 8), dtype=np.float32),
                                               np.zeros(8, np.int32)), batch_size=4)
    result = evaluate(model, loader)
    assert result.samples == 8 and 0 <= result.accuracy <= 1
    assert not model.training and nf.is_grad_enabled()


@pytest.mark.slow
@pytest.mark.parametrize("kind, target", [("mlp", 0.95), ("cnn", 0.97)])
def test_digits_accuracy_targets(kind, target, tmp_path, capsys):
    assert main(["train", kind, "--checkpoint", str(tmp_path / "model.npz"), "--quiet"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert accuracy >= target
