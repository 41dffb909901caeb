"""Distillation: loss terms, linear-probe heads, data readers, the loop end to end, and `anyppg distill`."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from anyppg.cli import main  # noqa: E402
from anyppg.errors import CheckpointError  # noqa: E402
from anyppg.quantization.cmd_distill import format_report  # noqa: E402
from anyppg.quantization.distill import (  # noqa: E402
    DistillConfig,
    LinearProbes,
    TeacherWithHeads,
    WindowSet,
    check_teacher_dim,
    cosine_rows,
    distill,
    embed,
    embedding_losses,
    load_teacher,
    predict,
    simulated_windows,
    store_windows,
)
from anyppg.quantization.students import build_student, load_student, save_student  # noqa: E402

# A small Net1D with the teacher's blocks and its 512-d output: the real teacher's architecture at a
# size the test budget allows (the 4 M-parameter config is exercised by the trainer's own tests).
TINY_TEACHER = {
    "in_channels": 1, "base_filters": 16, "ratio": 1.0, "filter_list": [16, 32, 512],
    "m_blocks_list": [1, 1, 1], "kernel_size": 3, "stride": 2, "groups_width": 16,
    "use_bn": True, "use_do": True,
}  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory):
    from anyppg.trainer.checkpoints import save_checkpoint
    from anyppg.trainer.encoders import net1d_from_config

    torch.manual_seed(0)
    encoder = net1d_from_config(TINY_TEACHER)
    path = tmp_path_factory.mktemp("teacher") / "checkpoint.pt"
    save_checkpoint(path, {"ppg_encoder": encoder.state_dict(), "config": {"ppg_encoder": TINY_TEACHER}})
    return path


@pytest.fixture(scope="module")
def windows():
    return simulated_windows(160, seed=5)


# --- loss terms ------------------------------------------------------------------------------------


def test_embedding_losses_vanish_for_the_teacher_itself_and_measure_scale():
    t = torch.randn(8, 512)
    same = embedding_losses(t, t, float(t.pow(2).sum(1).mean()))
    assert all(float(v) < 1e-6 for v in same.values())
    # Twice the teacher: same direction and same batch structure, MSE = |t|^2 / E|t|^2 = 1.
    double = embedding_losses(2 * t, t, float(t.pow(2).sum(1).mean()))
    assert float(double["cos"]) < 1e-6 and float(double["rel"]) < 1e-6
    assert float(double["mse"]) == pytest.approx(1.0, rel=1e-5)


def test_relational_term_sees_a_changed_batch_structure():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(1, 512, generator=g) + 0.3 * torch.randn(8, 512, generator=g)  # similar windows
    s = t.clone()
    s[0] = -t[0]  # one window now points the other way: its 14 pair similarities change sign
    parts = embedding_losses(s, t, float(t.pow(2).sum(1).mean()))
    tn = torch.nn.functional.normalize(t, dim=1)
    c = tn @ tn.T  # (8, 8) teacher similarities
    expected = (4 * c[0, 1:].pow(2).sum() * 2 / 64).item()  # row 0 and column 0, diagonal unchanged
    assert float(parts["rel"]) == pytest.approx(expected, rel=1e-4)
    assert float(parts["cos"]) == pytest.approx(2 / 8, rel=1e-5)  # one of 8 windows at cosine -1


# --- linear probes (the teacher's heads) -----------------------------------------------------------


def test_linear_probes_recover_a_linear_oracle():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(400, 16)).astype(np.float32)
    w, v = rng.normal(size=16), rng.normal(size=16)
    hr = (70 + 5 * emb @ w).astype(np.float32)
    af = (emb @ v + 0.3 * rng.normal(size=400) > 0).astype(np.int8)  # noisy: not separable
    quality = np.full(400, -1, np.int8)  # unknown everywhere: no quality probe
    probes = LinearProbes.fit(emb, WindowSet(np.zeros((400, 1250)), hr, af, quality, np.array(["x"] * 400)))
    w_hr, b_hr = probes.hr
    assert np.mean(np.abs(emb @ w_hr + b_hr - hr)) < 0.5  # bpm
    assert probes.quality is None
    w_af, b_af = probes.af
    assert np.mean(((emb @ w_af + b_af) > 0) == (emb @ v > 0)) > 0.9


def test_teacher_with_heads_applies_the_probes(teacher_path, windows):
    encoder = load_teacher(teacher_path)
    emb = embed(encoder, windows.ppg[:32])
    probes = LinearProbes.fit(emb, windows.take(slice(0, 32)))
    model = TeacherWithHeads(encoder, probes).eval()
    out = predict(model, windows.ppg[:32])
    np.testing.assert_allclose(out["embedding"], emb, atol=1e-5)
    np.testing.assert_allclose(out["heart_rate"][:, 0], emb @ probes.hr[0] + probes.hr[1], atol=1e-3)


# --- data ------------------------------------------------------------------------------------------


def test_simulated_windows_are_model_inputs_with_plausible_labels(windows):
    assert windows.ppg.shape == (160, 1250) and windows.ppg.dtype == np.float32
    np.testing.assert_allclose(windows.ppg.mean(1), 0, atol=1e-3)  # z-scored per window
    np.testing.assert_allclose(windows.ppg.std(1), 1, atol=1e-2)
    hr = windows.hr[np.isfinite(windows.hr)]
    assert len(hr) > 100 and np.all((hr > 30) & (hr < 220))
    assert set(np.unique(windows.af)) <= {0, 1}
    assert windows.summary()["by_origin"] == {"sim": 160}


def test_window_set_refuses_mismatched_labels():
    with pytest.raises(ValueError, match="hr has 2 rows; expected 3"):
        WindowSet(np.zeros((3, 1250)), np.zeros(2), np.zeros(3), np.zeros(3), np.zeros(3))


def test_store_windows_reads_a_window_store(tmp_path):
    from anyppg.trainer.store import StoreWriter, empty_labels

    rng = np.random.default_rng(1)
    ppg = rng.normal(size=(6, 1250)).astype(np.float32)
    labels = empty_labels(6)
    labels["hr"] = np.arange(60, 66)
    labels["af"] = [0, 1, 0, 1, 0, 1]
    labels["quality"] = 1
    with StoreWriter(tmp_path / "store", {"a": "train", "b": "val"}) as writer:
        writer.add("a", "sim", "a/r0", ppg[:4], None, labels[:4])
        writer.add("b", "sim", "b/r0", ppg[4:], None, labels[4:])
    train = store_windows(tmp_path / "store", "train")
    val = store_windows(tmp_path / "store", "val")
    np.testing.assert_array_equal(train.ppg, ppg[:4])
    np.testing.assert_array_equal(train.hr, [60, 61, 62, 63])
    np.testing.assert_array_equal(val.af, [0, 1])
    assert list(val.origin) == ["sim", "sim"]


# --- the loop --------------------------------------------------------------------------------------


def test_distillation_pulls_the_student_towards_the_teacher(teacher_path, windows):
    encoder = load_teacher(teacher_path)
    train, val = windows.take(slice(0, 128)), windows.take(slice(128, 160))
    untrained = build_student("student-xs", seed=0)
    before = cosine_rows(predict(untrained, val.ppg)["embedding"], embed(encoder, val.ppg)).mean()

    result = distill(encoder, train, val, DistillConfig(student="student-xs", epochs=4, batch_size=32))

    after = result.metrics["embedding_cosine_mean"]
    assert after > before + 0.2, (before, after)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert not result.student.training
    # The side-by-side report carries each downstream metric for both models.
    for side in ("teacher", "student"):
        assert set(result.metrics[side]) == {"hr_mae_bpm", "quality_auroc", "af_auroc"}
        assert np.isfinite(result.metrics[side]["hr_mae_bpm"])


# --- bad teachers ----------------------------------------------------------------------------------


def test_corrupt_teacher_names_the_file(tmp_path):
    path = tmp_path / "teacher.pt"
    path.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(CheckpointError) as info:
        load_teacher(path)
    assert info.value.path == str(path)


def test_a_student_checkpoint_is_not_a_teacher(tmp_path):
    path = tmp_path / "student.pt"
    save_student(build_student("student-xs"), path, "student-xs")
    with pytest.raises(CheckpointError) as info:
        load_teacher(path)
    assert info.value.missing and info.value.unexpected


def test_teacher_with_the_wrong_embedding_size_is_refused(tmp_path):
    from anyppg.trainer.encoders import net1d_from_config

    narrow = net1d_from_config({**TINY_TEACHER, "filter_list": [16, 32, 64]}).eval()
    with pytest.raises(CheckpointError, match="teacher embeds to 64 dims; the students expect 512"):
        check_teacher_dim(narrow, "narrow.pt", 512)


# --- command line ----------------------------------------------------------------------------------


def test_cli_distill_writes_a_student_and_reports_both_models(teacher_path, tmp_path, capsys):
    out = tmp_path / "xs.pt"
    argv = ["distill", "--teacher", str(teacher_path), "--student", "student-xs", "--sim-windows", "64",
            "--max-val", "16", "--epochs", "1", "--no-real", "--threads", "1", "--out", str(out), "--json"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["checkpoint"] == str(out)
    assert report["model"] == "student-xs"
    table = format_report(report)  # what the command prints without --json
    assert "student student-xs" in table and "hr_mae_bpm" in table and "af_auroc" in table
    assert report["windows"] == 16
    assert set(report["teacher"]) == set(report["student"]) == {"hr_mae_bpm", "quality_auroc", "af_auroc"}
    _, meta = load_student(out)
    assert meta["name"] == "student-xs"
    assert meta["extra"]["training_data"]["simulated"] is True
    assert meta["extra"]["metrics"]["embedding_cosine_mean"] == report["embedding_cosine_mean"]


def test_cli_distill_with_a_corrupt_teacher_fails_cleanly(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    assert main(["distill", "--teacher", str(bad), "--no-real", "--out", str(tmp_path / "s.pt")]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "error" in err
    assert not (tmp_path / "s.pt").exists()
