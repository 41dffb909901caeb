"""ECG-guided pretraining: the debug run follows its committed loss curve, resumes exactly, writes a
teacher checkpoint that loads, and refuses or skips bad input."""

from __future__ import annotations

import itertools
import json
from importlib import resources

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from anyppg.errors import CheckpointError, ModelInputError, UnsupportedRateError  # noqa: E402
from anyppg.trainer.checkpoints import load_ppg_encoder, read_checkpoint  # noqa: E402
from anyppg.trainer.clip import clip_loss  # noqa: E402
from anyppg.trainer.config import ConfigError, PretrainConfig, preset  # noqa: E402
from anyppg.trainer.pairs import MissingDataError, _check_rates, check_pairs, open_pairs, valid_windows  # noqa: E402
from anyppg.trainer.pretrain import pretrain  # noqa: E402
from anyppg.trainer.run_log import RunLog  # noqa: E402
from anyppg.trainer.toy_pairs import ToyPairs  # noqa: E402

REFERENCE = json.loads(resources.files("anyppg.trainer").joinpath("reference/debug_loss.json").read_text())
TOL = REFERENCE["tolerance_abs"]  # summation order differs across BLAS builds; 30 steps stay within it


def _debug(out_dir) -> PretrainConfig:
    cfg = preset("debug")
    cfg.train.out_dir = str(out_dir)
    return cfg


@pytest.fixture(scope="module")
def debug_run(tmp_path_factory):
    torch.set_num_threads(1)
    cfg = _debug(tmp_path_factory.mktemp("debug"))
    return cfg, pretrain(cfg)


@pytest.mark.slow
def test_debug_run_follows_reference_loss_curve(debug_run):
    _, result = debug_run
    assert result.losses == pytest.approx(REFERENCE["stage2_loss"], abs=TOL)
    assert sum(result.losses[-5:]) < sum(result.losses[:5])  # it learns, not just repeats


@pytest.mark.slow
def test_debug_run_writes_teacher_checkpoint_and_records(debug_run):
    cfg, result = debug_run
    out = result.out_dir
    ckpt = read_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == cfg.train.steps and ckpt["format"] == "anyppg.pretrain/1"
    assert not any(k.startswith("module.") for k in ckpt["ppg_encoder"])
    assert ckpt["config"]["ppg_encoder"] == cfg.model.ppg_encoder
    encoder = load_ppg_encoder(out / "checkpoint.pt")  # the contract QUANT relies on
    torch.testing.assert_close(
        encoder.state_dict()["first_conv.conv.weight"], ckpt["ppg_encoder"]["first_conv.conv.weight"]
    )
    rows = RunLog.read(out / "metrics.csv")
    clip_rows = [r for r in rows if r["stage"] == "clip"]
    assert [float(r["loss"]) for r in clip_rows] == pytest.approx(result.losses, rel=1e-6)
    assert len([r for r in rows if r["stage"] == "ecg"]) == cfg.ecg_stage.steps
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((out / "tb").iterdir())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == cfg.train.steps and metrics["val"]["candidates"] == cfg.train.batch_size
    assert (out / "ecg_stage.pt").is_file()
    assert (
        metrics["ecg_stage"]["val"]["hr_mae_bpm"] > 0 and 0 <= metrics["ecg_stage"]["val"]["af_accuracy"] <= 1
    )


@pytest.mark.slow
def test_resume_continues_the_same_loss_curve(tmp_path):
    torch.set_num_threads(1)
    cfg = _debug(tmp_path)
    first = pretrain(cfg, stop_after=12)
    assert first.step == 12
    second = pretrain(_debug(tmp_path), resume=True)
    assert second.step == cfg.train.steps
    assert first.losses + second.losses == pytest.approx(REFERENCE["stage2_loss"], abs=TOL)
    rows = [r for r in RunLog.read(tmp_path / "metrics.csv") if r["stage"] == "clip"]
    assert [int(r["step"]) for r in rows] == list(range(1, cfg.train.steps + 1))  # one continuous curve


def test_resume_without_checkpoint_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt"):
        pretrain(_debug(tmp_path), resume=True)


def test_nan_windows_are_masked_out_of_the_loss():
    g = torch.Generator().manual_seed(0)
    batch = {"ppg": torch.randn(6, 1, 1250, generator=g), "ecg": torch.randn(6, 1, 5000, generator=g)}
    batch["ppg"][1, 0, 100] = float("nan")
    batch["ecg"][4] = 0.0  # a window without ECG
    valid = valid_windows(batch)
    assert valid.tolist() == [True, False, True, True, False, True]
    assert torch.isfinite(batch["ppg"]).all() and (batch["ppg"][1] == 0).all()

    z_ppg = torch.nn.functional.normalize(torch.randn(6, 8, generator=g), dim=1)
    z_ecg = torch.nn.functional.normalize(torch.randn(6, 8, generator=g), dim=1)
    scale = torch.tensor(1 / 0.07)
    masked, _ = clip_loss(z_ppg, z_ecg, scale, valid)
    kept, _ = clip_loss(z_ppg[valid], z_ecg[valid], scale)  # the same loss as if they were never there
    torch.testing.assert_close(masked, kept)


def test_symmetric_infonce_matches_definition():
    g = torch.Generator().manual_seed(1)
    a = torch.nn.functional.normalize(torch.randn(5, 4, generator=g), dim=1)
    b = torch.nn.functional.normalize(torch.randn(5, 4, generator=g), dim=1)
    loss, acc = clip_loss(a, b, torch.tensor(10.0))
    logits = 10.0 * a @ b.T
    expected = 0
    for i in range(5):
        expected += -torch.log_softmax(logits[i], 0)[i] - torch.log_softmax(logits[:, i], 0)[i]
    torch.testing.assert_close(loss, expected / 10)
    assert acc.item() == (logits.argmax(1) == torch.arange(5)).float().mean().item()


class _Resampled(torch.utils.data.Dataset):
    """Toy pairs with the PPG at the wrong length, as if sampled at 100 Hz."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        item = ToyPairs(4)[i]
        return {**item, "ppg": item["ppg"][:, :1000]}


def test_wrong_window_length_is_refused_with_expected_shape():
    with pytest.raises(ModelInputError, match=r"\(1, 1000\); expected \(1, 1250\)") as info:
        check_pairs(_Resampled())
    assert info.value.expected == (1, 1250)


def test_wrong_store_rate_is_refused(tmp_path):
    with pytest.raises(UnsupportedRateError, match="expected 500 Hz") as info:
        _check_rates({"ppg": {"rate_hz": 125.0}, "ecg": {"rate_hz": 250.0}}, tmp_path)
    assert info.value.rate == 250


def test_missing_store_and_ecg_checkpoint_are_named(tmp_path):
    cfg = _debug(tmp_path / "out")
    cfg.data.store = str(tmp_path / "no-store")
    with pytest.raises(MissingDataError, match="no-store") as info:
        open_pairs(cfg.data, "train")
    assert "anyppg prepare" in str(info.value)
    cfg = _debug(tmp_path / "out")
    cfg.ecg_stage.checkpoint = str(tmp_path / "ecgfounder.pth")
    with pytest.raises(CheckpointError, match=r"ecgfounder\.pth"):
        pretrain(cfg)


def test_user_ecg_checkpoint_skips_stage_one(tmp_path):
    torch.set_num_threads(1)
    from anyppg.trainer.encoders import net1d_from_config

    cfg = _debug(tmp_path / "out")
    ecg = net1d_from_config(cfg.model.ecg_encoder)
    torch.save({"state_dict": {f"module.{k}": v for k, v in ecg.state_dict().items()}}, tmp_path / "ecg.pth")
    cfg.ecg_stage.checkpoint = str(tmp_path / "ecg.pth")
    cfg.train.steps = 2
    result = pretrain(cfg)
    assert result.metrics["ecg_stage"] == {"source": str(tmp_path / "ecg.pth")}
    saved = read_checkpoint(tmp_path / "out" / "checkpoint.pt")["ecg_encoder"]
    for k, v in ecg.state_dict().items():
        torch.testing.assert_close(saved[k], v)  # frozen: unchanged by stage 2
    assert not (tmp_path / "out" / "ecg_stage.pt").exists()


def test_presets_and_config_round_trip():
    for name in ("debug", "demo", "anyppg"):
        cfg = preset(name)
        assert PretrainConfig.from_dict(cfg.to_dict()) == cfg
    assert preset("anyppg").train.batch_size >= 1024
    with pytest.raises(ConfigError, match="expected one of"):
        preset("huge")
    with pytest.raises(ConfigError, match="unknown keys"):
        PretrainConfig.from_dict({"train": {"stpes": 3}})


@pytest.mark.slow  # imports every subcommand module, then trains
def test_cli_pretrain_json(tmp_path, capsys):
    from anyppg.cli import main

    out = tmp_path / "run"
    code = main(
        ["pretrain", "--preset", "debug", "--steps", "2", "--ecg-steps", "2", "--out", str(out), "--json"]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 2 and summary["checkpoint"].endswith("checkpoint.pt")
    assert load_ppg_encoder(summary["checkpoint"]).out_features == 32


def test_pretrains_from_a_window_store_built_by_prepare(tmp_path):
    """The real data path: `anyppg prepare --source sim` → store → WindowDataset(require_ecg) → pretrain."""
    torch.set_num_threads(1)
    from anyppg.trainer.demo_data import ensure_demo_store

    store = ensure_demo_store(tmp_path / "store", hours=0.5, workers=1)
    cfg = _debug(tmp_path / "out")
    cfg.data.store = str(store)
    cfg.data.toy_windows = 0
    cfg.train.steps, cfg.ecg_stage.steps = 3, 2
    result = pretrain(cfg)
    assert result.step == 3 and all(torch.isfinite(torch.tensor(result.losses)))
    assert result.metrics["val"]["windows"] > 0
    assert result.metrics["ecg_stage"]["train_hr_mae_bpm"] > 0  # the store's HR labels reached stage 1
    # the same store in batches of whole subjects (the cached ECG features keep their subjects)
    cfg.train.out_dir, cfg.train.cache_ecg_features = str(tmp_path / "by-subject"), True
    cfg.train.windows_per_subject = 4
    grouped = pretrain(cfg)
    assert grouped.step == 3 and all(torch.isfinite(torch.tensor(grouped.losses)))


@pytest.mark.slow
def test_resume_with_another_schedule_is_refused(debug_run):
    cfg, result = debug_run
    other = _debug(result.out_dir)
    other.train.steps = cfg.train.steps + 10
    with pytest.raises(CheckpointError, match="schedule was for 30 steps"):
        pretrain(other, resume=True)


def test_step_batches_split_the_global_batch_and_do_not_depend_on_the_start():
    from anyppg.trainer.distributed import DistContext, StepBatchSampler

    def batches(rank, world, start, total=7):
        ctx = DistContext(rank=rank, world_size=world)
        return list(StepBatchSampler(20, 8, ctx, seed=3, start_step=start, total_steps=total))

    single = batches(0, 1, 0)
    assert len(single) == 7 and all(len(b) == 8 and len(set(b)) == 8 for b in single)
    ranks = [batches(r, 2, 0) for r in range(2)]
    assert [a + b for a, b in zip(*ranks, strict=True)] == single  # rank slices tile the global batch
    assert batches(0, 1, 4) == single[4:]  # resuming at step 4 reads what step 4 would have read
    epoch0 = single[0] + single[1]  # 20 windows, 2 full batches per epoch: no repeats within an epoch
    assert len(set(epoch0)) == 16


def test_subject_batches_need_windows_that_name_their_subjects(tmp_path):
    cfg = _debug(tmp_path)  # toy pairs
    cfg.train.windows_per_subject = 4
    with pytest.raises(ConfigError, match="windows_per_subject needs a window store"):
        pretrain(cfg)


def test_subject_batches_hold_whole_subjects_spread_over_their_recordings():
    from anyppg.trainer.distributed import DistContext, SubjectBatchSampler

    # subjects 0-5 with 12 windows each in store (time) order, subject 6 with 2: too few for 4
    subjects = np.array([s for s in range(6) for _ in range(12)] + [6, 6])

    def batches(rank, world, start, total=6, seed=3):
        ctx = DistContext(rank=rank, world_size=world)
        return list(SubjectBatchSampler(subjects, 8, 4, ctx, seed, start_step=start, total_steps=total))

    single = batches(0, 1, 0)
    assert len(single) == 6
    for batch in single:
        groups = [batch[i : i + 4] for i in range(0, 8, 4)]
        owners = [set(subjects[g]) for g in groups]
        assert all(len(o) == 1 for o in owners) and len(set.union(*owners)) == 2  # 2 subjects x 4
        assert 6 not in set.union(*owners)
        for g in groups:  # one window from each quarter of the subject's 12
            first = np.flatnonzero(subjects == subjects[g[0]])[0]
            assert [(i - first) // 3 for i in g] == [0, 1, 2, 3]
    ranks = [batches(r, 2, 0) for r in range(2)]
    assert [a + b for a, b in zip(*ranks, strict=True)] == single  # rank slices tile the global batch
    assert batches(0, 1, 4) == single[4:]  # resuming at step 4 reads what step 4 would have read
    assert batches(0, 1, 0, seed=4) != single
    with pytest.raises(ValueError, match="multiple of 3 windows per subject"):
        SubjectBatchSampler(subjects, 8, 3, DistContext(), 0, 0, 1)
    with pytest.raises(ValueError, match="6 subjects have 4 windows or more; a batch of 32 needs 8"):
        SubjectBatchSampler(subjects, 32, 4, DistContext(), 0, 0, 1)


def test_warmup_then_cosine_to_zero():
    from anyppg.trainer.config import OptimConfig
    from anyppg.trainer.optim import warmup_cosine

    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, OptimConfig(warmup_steps=4), total_steps=20)
    lrs = []
    for _ in range(20):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert all(a >= b for a, b in itertools.pairwise(lrs[3:]))  # monotone decay after warm-up
    assert lrs[-1] < 0.01
