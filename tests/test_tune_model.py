"""``nestor tune model``: the tuning tasks of a training step (forward and backward, with shapes),
and a small whole-model run that records trials of several tasks in the database."""

from __future__ import annotations

from nestor.cli import main
from nestor.commands.tune_model import extract_tasks, training_step
from schedules.autotune import Database


def _key(task) -> tuple:
    flags = tuple(sorted(k for k, v in task.options.items() if v is True and k != "parallel"))
    return task.template, task.sizes, flags


def test_the_tasks_of_an_mlp_step_cover_forward_and_backward():
    # x (32, 64) -> Linear 64x128 -> ReLU -> Linear 128x10; the input needs no gradient; the
    # forward h @ W2 (10 columns, on the template with its vectors padded) has no tuning space
    tasks, untuned = extract_tasks(training_step("mlp", (1, 8, 8), 32, 128), steps=1)
    assert {_key(t) for t in tasks} == {
        ("matmul_cpu", (32, 128, 64), ()),                         # forward x @ W1
        ("matmul_cpu", (32, 128, 10), ("transpose_b",)),          # backward dh = g @ W2.T
        ("matmul_layout", (10, 128, 32), ("transpose_a",)),       # backward dW2 = (g.T @ h).T
        ("matmul_cpu", (64, 128, 32), ()),                         # backward dW1 = x.T @ dh, x.T copied plain
    }
    assert all(t.seconds > 0 and t.calls == 1 and t.dtype == "float32" for t in tasks)
    assert all(tasks[i].seconds >= tasks[i + 1].seconds for i in range(len(tasks) - 1))
    assert untuned > 0  # elementwise, loss and update kernels have no tuning space
    assert {"v1", "v2", "v3", "b1", "b2"} <= set(next(t for t in tasks if t.template == "matmul_layout").config)


def test_the_tasks_of_a_cnn_step_include_the_convolutions_and_their_adjoints():
    tasks, _ = extract_tasks(training_step("cnn", (1, 8, 8), 4, 128), steps=1)
    convs = {(t.sizes, t.options["which"]) for t in tasks if t.template == "conv2d_tiled"}
    # conv 1 -> 16 channels on 8x8, pool, conv 16 -> 32 on 4x4; the input needs no gradient; the
    # second conv's float32 dX runs as the forward convolution 32 -> 16 of dY with flipped weights
    # (frontend/ops/conv_routes.py)
    assert convs == {((4, 1, 8, 8, 16, 3), "forward"), ((4, 1, 8, 8, 16, 3), "grad_weight"),
                     ((4, 16, 4, 4, 32, 3), "forward"), ((4, 32, 4, 4, 16, 3), "forward"),
                     ((4, 16, 4, 4, 32, 3), "grad_weight")}


def test_tune_model_records_several_tasks_and_reports_step_times(tmp_path, capsys):
    db = tmp_path / "t.db"
    code = main(["tune", "model", "mlp", "--trials", "8", "--db", str(db), "--batch-size", "8", "--hidden", "16",
                 "--warmup", "4", "--round", "4", "--steps", "1", "--parallel", "1", "--tuner", "random"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "step time: before" in out and "after" in out and "8 trials" in out
    with Database(db) as database:
        tasks = database.tasks()
        trials = sum(len(database.records(t["op"], t["shapes"], t["dtype"], t["target"], t["options"],
                                          t["hardware"])) for t in tasks)
    assert len(tasks) > 1 and trials == 8


def test_tune_model_errors_name_the_fix(tmp_path, capsys):
    assert main(["tune", "model", "--db", str(tmp_path / "t.db")]) == 2
    assert "name the model, one of cnn, mlp" in capsys.readouterr().err
    assert main(["tune", "model", "rnn", "--db", str(tmp_path / "t.db")]) == 2
    assert "got 'rnn'" in capsys.readouterr().err
    assert main(["tune", "model", "mlp", "--input-shape", "8,8", "--db", str(tmp_path / "t.db")]) == 2
    assert "--input-shape is C,H,W" in capsys.readouterr().err
    assert main(["tune", "matmul", "mlp", "--shape", "8,8,8", "--db", str(tmp_path / "t.db")]) == 2
    assert "unexpected argument 'mlp'" in capsys.readouterr().err
