"""The command line refuses what it cannot do before any work: a demo size the interpreter
cannot hold, a checkpoint destination that cannot be written (before training, not after it)."""

from __future__ import annotations

import pytest

from nestor.cli import main


def _usage_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_a_demo_size_beyond_the_limit_is_a_usage_error(capsys):
    line = _usage_error(["demo", "--k", "99999999999"], capsys)
    assert line == "nestor demo: error: argument --k: 99999999999 is out of range: give an integer from 1 to 4096"


@pytest.mark.parametrize("argv", [["tune", "matmul", "--shape", "8,8,8", "--trials", "1"], ["tune", "show"],
                                  ["tune"]])
def test_a_plot_whose_folder_cannot_be_made_is_refused_before_tuning(argv, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    target = tmp_path / "file" / "plot.png"
    assert main([*argv, "--db", str(tmp_path / "t.db"), "--plot", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nestor: error: --plot {target}: cannot make the folder {target.parent} (")
    assert err.endswith("); give another path")
    assert not (tmp_path / "t.db").exists() or argv == ["tune", "show"]  # nothing was tuned


def test_a_checkpoint_in_a_missing_folder_is_refused_before_training(tmp_path, capsys):
    target = tmp_path / "missing" / "model.npz"
    line = _usage_error(["train", "mlp", "--checkpoint", str(target), "--epochs", "1"], capsys)
    assert line == (f"nestor train: error: --checkpoint {target}: the folder {target.parent} does not exist; "
                    "create it or give another path")


def test_a_checkpoint_that_names_a_folder_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "model.npz").mkdir()
    line = _usage_error(["train", "lstm", "--dataset", "text", "--data-dir", str(tmp_path), "--checkpoint",
                         str(tmp_path / "model")], capsys)
    assert line == (f"nestor train: error: --checkpoint {tmp_path / 'model'}: {tmp_path / 'model.npz'} is a folder; "
                    f"give a file name, e.g. {tmp_path / 'model.npz' / 'model.npz'}")
