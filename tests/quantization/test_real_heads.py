"""Real-label head training and scoring; an output's fixed int8 range, or its float tail.

Windows are simulated with known labels (the real data folder is never needed); scoring is checked
against hand-computed values.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import anyppg  # noqa: E402
from anyppg.quantization.real_heads import HeadTrainConfig, af_log_odds, head_metrics, train_heads  # noqa: E402
from anyppg.quantization.students import AF_CLASS  # noqa: E402
from anyppg.trainer.heads import HeadWindows, segment_window  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:(open_text|read_text) is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning"),
]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def windows() -> HeadWindows:
    return _windows(16)


def _windows(n: int) -> HeadWindows:
    """Simulated 10-s windows: half sinus at 60-150 bpm with HR and quality labels, half rhythm-only."""
    ppg, hr, quality, rhythm, subject = [], [], [], [], []
    for i in range(n):
        bpm = 60.0 + 90.0 * i / (n - 1)
        af = i % 2 == 1
        sim = anyppg.simulate(12, heart_rate=bpm, rhythm="af" if af else "sinus", ppg_rate=100.0, seed=i)
        ppg.append(segment_window(sim.ppg[:1000], 100.0))
        hr.append(bpm if not af else np.nan)
        quality.append(1 if i % 4 == 0 else (0 if i % 4 == 2 else -1))
        rhythm.append(AF_CLASS if af else 0)
        subject.append(f"sim/{i % 6}")
    n_ = len(ppg)
    return HeadWindows(
        np.stack(ppg), np.asarray(hr, np.float32), np.asarray(quality, np.int8), np.asarray(rhythm, np.int8),
        np.array(["bidmc"] * n_, dtype=object), np.array(subject, dtype=object),
    )  # fmt: skip


def test_af_log_odds_is_the_softmax_log_odds():
    logits = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    p = torch.softmax(logits, dim=1)[:, AF_CLASS]
    torch.testing.assert_close(af_log_odds(logits), torch.log(p / (1 - p)), atol=1e-5, rtol=1e-5)


def test_head_metrics_against_hand_computed_values(windows):
    w = windows
    n = len(w)
    rhythm = np.zeros((n, 6), np.float32)
    rhythm[np.arange(n), w.rhythm] = 5.0  # confident and right
    hr = np.where(np.isfinite(w.hr), w.hr + 2.0, 100.0)[:, None]  # 2 bpm off where labelled
    outputs = {"heart_rate": hr, "quality": (w.quality == 1).astype(np.float32)[:, None],
               "af": (w.rhythm == AF_CLASS).astype(np.float32)[:, None], "rhythm": rhythm}  # fmt: skip
    m = head_metrics(outputs, w)
    assert m["heart_rate"]["clinical_finger"]["mae_bpm"] == pytest.approx(2.0, abs=1e-4)
    assert m["heart_rate"]["predictions_max_bpm"] == pytest.approx(float(np.nanmax(w.hr)) + 2.0, abs=1e-4)
    assert m["quality"]["auroc"] == 1.0
    assert m["rhythm"]["af_auroc"] == 1.0 and m["rhythm"]["six_class_accuracy"] == 1.0
    assert m["rhythm"]["af_auroc_from_af_output"] == 1.0
    lo, hi = m["heart_rate"]["clinical_finger"]["ci95"]
    assert lo == pytest.approx(2.0, abs=1e-4) and hi == pytest.approx(2.0, abs=1e-4)


def test_training_on_real_style_labels_lowers_the_losses(windows):
    w = windows
    cfg = HeadTrainConfig(student="student-xs", epochs=8, batch_size=8, lr=3e-3)
    model, history = train_heads(w, cfg)
    first, last = history[0], history[-1]
    for term in ("loss", "hr", "rhythm"):
        assert last[term] < first[term], (term, first[term], last[term])
    assert not model.training
    with pytest.raises(ValueError, match="teacher embeddings"):
        train_heads(w, cfg, teacher_embeddings=np.zeros((3, 512), np.float32))


class _LinearHR(torch.nn.Module):
    """bpm = 125 + 50 * x[..., 0]: the output moves with one input sample, so a calibration that
    only sees small values of it observes a narrow output range."""

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(1250, 1)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.weight[0, 0] = 50.0
            self.head.bias.fill_(125.0)
        self.fixed_output_qparams = {0: (0.9, -128)}  # int8 0-229.5 bpm in 0.9 bpm steps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.head(x[:, 0, :]),)


@pytest.mark.slow  # two PT2E exports and calibrations (about 20 s each on a shared 2-core machine)
def test_heart_rate_int8_range_is_fixed_not_calibrated():
    from anyppg.quantization.ptq import quantize_pt2e

    rng = np.random.default_rng(0)
    calibration = rng.uniform(-4, 4, (32, 1, 1250)).astype(np.float32)
    calibration[:, 0, 0] = rng.uniform(-0.2, 0.2, 32)  # calibrated output range: 115-135 bpm
    x = np.zeros((5, 1, 1250), np.float32)
    x[:, 0, 0] = (np.array([30.0, 60.0, 125.0, 180.0, 220.0]) - 125.0) / 50.0
    expected = torch.tensor([30.0, 60.0, 125.0, 180.0, 220.0])[:, None]
    fixed = quantize_pt2e(_LinearHR(), calibration)(torch.from_numpy(x))[0]
    torch.testing.assert_close(fixed, expected, atol=1.2, rtol=0)  # 0.9 bpm steps, no saturation
    calibrated = quantize_pt2e(_LinearHR(), calibration, fixed_outputs={})(torch.from_numpy(x))[0]
    assert float(calibrated.max()) < 140.0  # what the fixed range prevents: 180 and 220 saturate


class _SoftmaxRate(torch.nn.Module):
    """A student's heart-rate tail in miniature: logits -> softmax over 16 rate bins -> the
    expectation of the rate (a fixed ``Linear``)."""

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.logits = torch.nn.Linear(1250, 16)
        self.rate = torch.nn.Linear(16, 1)
        with torch.no_grad():
            self.rate.weight.copy_(torch.linspace(40.0, 200.0, 16)[None, :])
            self.rate.bias.zero_()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.rate(torch.softmax(self.logits(x[:, 0, :]), dim=-1)),)


@pytest.mark.slow  # two PT2E exports and calibrations
def test_float_output_keeps_its_last_op_in_fp32_and_loses_less():
    """``float_outputs``: the op producing the output is left unquantized, so the graph ends in a
    float ``linear`` (not a dequantize of an int8 result) and nothing rounds the expectation."""
    from anyppg.quantization.ptq import quantize_pt2e

    model = _SoftmaxRate().eval()
    rng = np.random.default_rng(1)
    calibration = rng.normal(0, 1, (64, 1, 1250)).astype(np.float32)
    x = torch.from_numpy(rng.normal(0, 1, (128, 1, 1250)).astype(np.float32))
    with torch.no_grad():
        exact = model(x)[0]
    errors = {}
    for floating in ((), (0,)):
        graph = quantize_pt2e(model, calibration, float_outputs=floating)
        (output,) = [n for n in graph.graph.nodes if n.op == "output"]
        last = output.args[0][0]
        assert ("linear" in str(last.target)) == bool(floating), last.target
        with torch.no_grad():
            errors[floating] = float((graph(x)[0] - exact).abs().mean())
    assert errors[(0,)] < 0.5 * errors[()], errors


def test_assets_without_data_or_cache_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from anyppg.quantization.assets import main

    monkeypatch.delenv("ANYPPG_DATA", raising=False)
    assert main(["--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "python -m anyppg.quantization.assets: --data: no data folder given (pass --data or set ANYPPG_DATA)"
    ]
    assert not (tmp_path / "out").exists()


def test_time_stretch_multiplies_the_heart_rate_label():
    from anyppg.quantization.real_heads import _stretch
    from anyppg.quantization.students import HR_CENTER_BPM, HR_SCALE_BPM

    cfg = HeadTrainConfig(stretch_p=1.0, stretch_range=(1.5, 1.5))
    sim = anyppg.simulate(12, heart_rate=60.0, ppg_rate=125.0, seed=0)
    x = torch.from_numpy(segment_window(sim.ppg[:1250], 125.0))[None, None, :].repeat(2, 1, 1)
    hr = torch.tensor([(60.0 - HR_CENTER_BPM) / HR_SCALE_BPM, float("nan")])
    y, new = _stretch(x, hr, torch.Generator().manual_seed(0), cfg)
    assert y.shape == x.shape
    assert float(new[0] * HR_SCALE_BPM + HR_CENTER_BPM) == pytest.approx(90.0, abs=1e-3)
    assert torch.isnan(new[1]) and torch.equal(y[1], x[1])  # unlabelled rows are untouched
    spectrum = torch.fft.rfft(y[0, 0]).abs()
    peak_bpm = float(spectrum[5:40].argmax() + 5) * 60.0 / 10.0  # 0.1 Hz bins
    assert abs(peak_bpm - 90.0) <= 6.0
    capped = HeadTrainConfig(stretch_p=1.0, stretch_range=(5.0, 5.0))
    _, top = _stretch(x, hr, torch.Generator().manual_seed(0), capped)
    assert float(top[0] * HR_SCALE_BPM + HR_CENTER_BPM) == pytest.approx(220.0, abs=1e-3)  # kept in range
    by_beats = HeadTrainConfig(stretch_p=1.0, stretch_range=(1.5, 1.5), stretch_mode="diastole")
    z, label = _stretch(x, hr, torch.Generator().manual_seed(0), by_beats)
    assert torch.allclose(label, new, equal_nan=True)  # the same labels as a uniform stretch
    assert torch.equal(z[1], x[1])
    assert not torch.allclose(z[0], y[0], atol=1e-3)  # re-timed beat by beat, not stretched uniformly
    peak_bpm = float(torch.fft.rfft(z[0, 0]).abs()[5:40].argmax() + 5) * 6.0
    assert abs(peak_bpm - 90.0) <= 6.0
    with pytest.raises(ValueError, match="stretch_mode"):
        _stretch(x, hr, torch.Generator().manual_seed(0), HeadTrainConfig(stretch_p=1.0, stretch_mode="warp"))


def test_rhythm_stretch_re_times_labelled_rhythm_windows_and_keeps_their_labels():
    from anyppg.quantization.real_heads import _losses, _stretch_rhythm

    sim = anyppg.simulate(12, heart_rate=60.0, ppg_rate=125.0, seed=0)
    x = torch.from_numpy(segment_window(sim.ppg[:1250], 125.0))[None, None, :].repeat(2, 1, 1)
    label = torch.tensor([AF_CLASS, -1])
    cfg = HeadTrainConfig(rhythm_stretch_p=1.0, rhythm_stretch_range=(1.2, 1.2))
    y = _stretch_rhythm(x, label, torch.Generator().manual_seed(0), cfg)
    assert y.shape == x.shape and torch.equal(y[1], x[1])  # rows without a rhythm label are untouched
    peak_bpm = float(torch.fft.rfft(y[0, 0]).abs()[5:40].argmax() + 5) * 6.0  # 0.1 Hz bins
    assert abs(peak_bpm - 72.0) <= 6.0
    assert torch.equal(_stretch_rhythm(x, label, torch.Generator(), HeadTrainConfig()), x)  # off by default

    logits = torch.tensor([[4.0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 4.0]])
    labels, zeros, no_hr = torch.tensor([0, AF_CLASS]), torch.zeros(2, 1), torch.full((2,), float("nan"))

    def rhythm_loss(smoothing: float) -> float:
        no_quality = torch.tensor([-1, -1])
        parts = _losses(zeros, zeros, zeros, logits, no_hr, no_quality, labels, torch.tensor(1.0), smoothing)
        return float(parts["rhythm"])

    sharp, smooth = rhythm_loss(0.0), rhythm_loss(0.1)
    expected = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    assert smooth == pytest.approx(float(expected)) and smooth > sharp


def test_counterfactuals_swap_af_for_regular_sinus_and_others_for_irregular_af(windows):
    """The rhythm counterfactuals: an AF window becomes its regular version labelled sinus rhythm, a
    sinus window its irregular version labelled AF; rows without a label or off by chance stay."""
    from anyppg.quantization.real_heads import (
        SINUS_CLASS,
        _swap_counterfactuals,
        rhythm_counterfactual_windows,
    )

    regular, irregular, ok = rhythm_counterfactual_windows(windows, seed=0)
    assert ok.sum() >= 0.8 * len(windows) and regular.shape == windows.ppg.shape
    assert np.allclose(regular[ok].mean(1), 0, atol=1e-4) and np.allclose(regular[ok].std(1), 1, atol=1e-3)
    cf = tuple(torch.from_numpy(a) for a in (regular, irregular, ok))
    idx = torch.tensor([int(np.flatnonzero(ok & (windows.rhythm == AF_CLASS))[0]),
                        int(np.flatnonzero(ok & (windows.rhythm == 0))[0])])  # fmt: skip
    x = torch.from_numpy(windows.ppg[idx.numpy()])[:, None, :]
    label = torch.from_numpy(windows.rhythm[idx.numpy()].astype(np.int64))
    y, new = _swap_counterfactuals(x, label, idx, cf, torch.Generator().manual_seed(0), p=1.0)
    assert new.tolist() == [SINUS_CLASS, AF_CLASS]
    assert torch.equal(y[0, 0], cf[0][idx[0]]) and torch.equal(y[1, 0], cf[1][idx[1]])
    same, kept = _swap_counterfactuals(x, label, idx, cf, torch.Generator().manual_seed(0), p=0.0)
    assert torch.equal(same, x) and torch.equal(kept, label)
    unlabelled = torch.tensor([-1, -1])
    ok_none = (cf[0], cf[1], torch.zeros_like(cf[2]))  # no counterfactual: nothing is swapped
    assert torch.equal(
        _swap_counterfactuals(x, unlabelled, idx, ok_none, torch.Generator(), 1.0)[1], unlabelled
    )
    # and a training run with it goes through (every rhythm window swapped half the time)
    _, history = train_heads(windows, HeadTrainConfig(epochs=1, batch_size=8, counterfactual_p=0.5))
    assert np.isfinite(history[-1]["rhythm"])


def _pulses(bpm: float, rise_s: float = 0.2, n: int = 1250, fs: float = 125.0) -> np.ndarray:
    """Beats with a linear 0.2 s upstroke from the foot to the peak, then an exponential decay."""
    t = np.arange(n) / fs
    u = np.mod(t, 60.0 / bpm)
    return np.where(u < rise_s, u / rise_s, np.exp(-(u - rise_s) / 0.15))


def _rise_s(v: np.ndarray) -> float:
    """Median time from the minimum before each peak to the peak (s, at 125 Hz)."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(v, distance=40, prominence=0.5)
    return float(np.median([b - a - np.argmin(v[a:b]) for a, b in itertools.pairwise(peaks)])) / 125


def test_beat_retiming_changes_the_rate_and_keeps_the_upstroke():
    from anyppg.quantization.real_heads import retime_beats

    x = _pulses(60.0)
    y = retime_beats(x, 60.0, 1.5, systole_exponent=0.0, phase=0.25)
    assert y is not None and y.shape == x.shape and y.dtype == np.float32
    assert float(y.mean()) == pytest.approx(0.0, abs=1e-5) and float(y.std()) == pytest.approx(1.0, abs=1e-4)
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(float(np.argmax(spectrum[5:40]) + 5) * 6.0 - 90.0) <= 6.0  # 0.1 Hz bins: 90 bpm
    assert _rise_s(x) == pytest.approx(0.2, abs=0.01)
    assert _rise_s(y) == pytest.approx(0.2, abs=0.01)  # the systole is kept, the diastole shortened
    assert _rise_s(_pulses(90.0, rise_s=0.2 / 1.5)) == pytest.approx(0.133, abs=0.01)  # uniform: 1.5x shorter
    shorter = retime_beats(x, 60.0, 1.5, systole_exponent=1.0)  # the whole beat scaled: uniform
    assert shorter is not None and _rise_s(shorter) == pytest.approx(0.133, abs=0.01)
    noise = np.random.default_rng(0).standard_normal(1250)
    assert retime_beats(noise, 60.0, 1.5) is None  # no beats at the labelled rate: not re-timed


def test_reshaping_changes_the_pulse_shape_but_not_its_rate():
    from anyppg.quantization.real_heads import _reshape

    sim = anyppg.simulate(12, heart_rate=72.0, ppg_rate=125.0, seed=3)
    x = torch.from_numpy(segment_window(sim.ppg[:1250], 125.0))[None, None, :].repeat(8, 1, 1)
    hr = torch.tensor([0.0] * 7 + [float("nan")])
    y = _reshape(x, hr, torch.Generator().manual_seed(1), p=1.0)
    assert y.shape == x.shape
    assert torch.equal(y[7], x[7])  # no heart-rate label: untouched
    mags = torch.fft.rfft(x[0, 0]).abs()
    for row in y[:7, 0]:
        assert float(row.mean()) == pytest.approx(0.0, abs=1e-5)
        assert float(row.std()) == pytest.approx(1.0, abs=1e-4)
        shape = float(torch.corrcoef(torch.stack([row, x[0, 0]]))[0, 1])
        assert shape < 0.999  # a different waveform ...
        new = torch.fft.rfft(row).abs()
        assert int(new[5:40].argmax()) == int(mags[5:40].argmax())  # ... with the same pulse frequency
    rows = [tuple(r[0, :4].tolist()) for r in y[:7]]
    assert len(set(rows)) == 7  # each row gets its own filter
    again = _reshape(x, hr, torch.Generator().manual_seed(1), p=1.0)
    assert torch.equal(again, y)  # the generator decides
    assert torch.equal(_reshape(x, hr, torch.Generator().manual_seed(1), p=0.0), x)


def test_weight_average_is_what_training_returns(windows):
    from anyppg.quantization.students import build_student

    def train(ema: float) -> dict:
        cfg = HeadTrainConfig(student="student-xs", epochs=4, batch_size=8, ema=ema)
        return train_heads(windows, cfg)[0].state_dict()

    initial = build_student("student-xs", seed=0).state_dict()
    raw, latest, slow = train(0.0), train(1e-12), train(1 - 1e-9)
    for name in ("head_hidden.0.weight", "features.0.bn.running_mean"):  # BatchNorm statistics too
        assert torch.allclose(latest[name], raw[name], atol=1e-6)  # no memory: the last weights
        # Almost no forgetting: the average stays at the weights after the first step, near the start.
        moved_raw = (raw[name] - initial[name]).abs().max()
        moved_slow = (slow[name] - initial[name]).abs().max()
        assert moved_slow < 0.5 * moved_raw


def test_validation_picks_an_epoch_of_the_second_half(windows):
    cfg = HeadTrainConfig(student="student-xs", epochs=4, batch_size=8, select="val_hr")
    _, history = train_heads(windows, cfg, validation=windows)
    assert all("val_hr_mae_bpm" in h for h in history[:-1])
    assert history[-1]["selected_epoch"] in (3.0, 4.0)
    with pytest.raises(ValueError, match="needs validation"):
        train_heads(windows, cfg)


def test_centred_cosine_ignores_a_shared_offset():
    from anyppg.quantization.assets import centred_cosine

    rng = np.random.default_rng(0)
    t = rng.standard_normal((200, 16)) + 10.0  # a large common offset: raw cosine near 1 for anything
    unrelated = rng.standard_normal((200, 16)) + 10.0
    same = centred_cosine(t, t + 3.0)
    other = centred_cosine(unrelated, t)
    assert same["centred_cosine_mean"] == pytest.approx(1.0)
    assert other["raw_cosine_mean"] > 0.9 and abs(other["centred_cosine_mean"]) < 0.2


def test_embedding_alone_distillation_leaves_the_heads_as_without_a_teacher(windows):
    cfg = HeadTrainConfig(student="student-xs", epochs=2, batch_size=8, embed_trunk=False)
    teacher = np.random.default_rng(0).standard_normal((len(windows), 512)).astype(np.float32)
    plain, _ = train_heads(windows, cfg)
    distilled, history = train_heads(windows, cfg, teacher_embeddings=teacher)
    x = torch.from_numpy(windows.ppg[:4])[:, None, :]
    with torch.no_grad():
        a, b = plain(x), distilled(x)
    for out_a, out_b in zip(a[1:], b[1:], strict=True):  # heart rate, quality, af, rhythm
        torch.testing.assert_close(out_a, out_b)
    assert not torch.allclose(a[0], b[0]) and "embed" in history[0]


def test_the_seed_with_the_lowest_validation_error_is_kept(windows, tmp_path):
    from anyppg.quantization.assets import train_best_seed
    from anyppg.quantization.students import load_student

    config = HeadTrainConfig(student="student-xs", epochs=2, batch_size=8, select="val_hr")
    path = tmp_path / "student-xs.pt"
    kept = train_best_seed(windows, windows, config, [0, 1], None, path)
    loaded, meta = load_student(path)
    scores = meta["extra"]["validation_hr_mae_by_seed"]
    assert set(scores) == {"0", "1"} and scores["0"] != scores["1"]
    best = min(scores, key=scores.get)
    assert meta["extra"]["config"]["seed"] == int(best)
    assert meta["extra"]["history"][-1]["val_hr_mae_bpm"] == pytest.approx(scores[best])
    for a, b in zip(kept.state_dict().values(), loaded.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_hr_af_seed_choice_is_recorded_with_each_seeds_validation_af(windows, tmp_path):
    from anyppg.quantization.assets import choose_seed, train_best_seed
    from anyppg.quantization.students import load_student

    config = HeadTrainConfig(student="student-xs", epochs=2, batch_size=8, select="val_hr")
    path = tmp_path / "student-xs.pt"
    train_best_seed(windows, windows, config, [0, 1], None, path, select="hr-af")
    extra = load_student(path)[1]["extra"]
    hr, af = extra["validation_hr_mae_by_seed"], extra["validation_af_auroc_by_seed"]
    assert extra["seed_select"] == "hr-af" and set(af) == {"0", "1"}
    scores = {int(s): {"hr": hr[s], "af": af[s]} for s in hr}
    assert extra["config"]["seed"] == choose_seed(scores, "hr-af")
    history = extra["history"]  # the kept seed's: its AF is the selected epoch's validation AUROC
    selected = history[int(history[-1]["selected_epoch"]) - 1]
    assert selected["val_af_auroc"] == pytest.approx(af[str(extra["config"]["seed"])])


def test_choose_seed_weighs_af_only_among_seeds_close_on_heart_rate():
    from anyppg.quantization.assets import HR_MARGIN_BPM, choose_seed

    nan = float("nan")
    scores = {
        0: {"hr": 2.00, "af": 0.940},
        1: {"hr": 2.00 + HR_MARGIN_BPM / 2, "af": 0.960},  # close enough: best AF wins
        2: {"hr": 2.00 + 2 * HR_MARGIN_BPM, "af": 0.990},  # too far on heart rate
    }
    assert choose_seed(scores, "hr") == 0
    assert choose_seed(scores, "hr-af") == 1
    # No AF score (no rhythm windows in validation): heart rate decides; a NaN MAE never wins.
    assert choose_seed({0: {"hr": 2.1, "af": nan}, 1: {"hr": 2.05, "af": nan}}, "hr-af") == 1
    assert choose_seed({0: {"hr": nan, "af": 0.99}, 1: {"hr": 3.0, "af": 0.90}}, "hr-af") == 1
    with pytest.raises(ValueError, match="expected one of"):
        choose_seed(scores, "af")


def test_rate_temperature_is_the_validation_best_and_folded_into_the_student(windows):
    from anyppg.quantization.assets import fit_rate_temperature
    from anyppg.quantization.distill import predict
    from anyppg.quantization.students import build_student

    student = build_student("student-s", seed=0)
    fitted, account = fit_rate_temperature(student, windows, grid=(0.25, 1.0, 4.0))
    scores = account["validation_clinical_hr_mae_bpm"]
    assert set(scores) == {"0.25", "1", "4"} and len(set(scores.values())) == 3
    assert account["fitted"] and f"{account['temperature']:g}" == min(scores, key=scores.get)
    expected = predict(student.with_rate_temperature(account["temperature"]), windows.ppg)["heart_rate"]
    np.testing.assert_allclose(predict(fitted, windows.ppg)["heart_rate"], expected, rtol=0, atol=1e-4)
    xs = build_student("student-xs")
    same, account = fit_rate_temperature(xs, windows)
    assert same is xs and not account["fitted"]


def test_rhythm_temperature_minimises_the_validation_nll(windows):
    from anyppg.quantization.assets import fit_rhythm_temperature
    from anyppg.quantization.distill import predict
    from anyppg.quantization.students import build_student

    student = build_student("student-xs", seed=0)
    with torch.no_grad():  # an over-confident rhythm head: the fitted temperature must soften it
        student.rhythm.weight.mul_(40.0)
        student.rhythm.bias.mul_(40.0)
    fitted, account = fit_rhythm_temperature(student, windows)
    tau = account["temperature"]
    assert 0 < tau < 1 and account["validation_nll"]["fitted"] < account["validation_nll"]["1"]
    logits = predict(student, windows.ppg)["rhythm"]
    y = windows.rhythm

    def nll(t: float) -> float:
        z = t * logits.astype(np.float64)
        z -= z.max(1, keepdims=True)
        return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean())

    assert nll(tau) <= min(nll(0.8 * tau), nll(1.25 * tau)) + 1e-6  # a minimum, not just lower
    np.testing.assert_allclose(predict(fitted, windows.ppg)["rhythm"], tau * logits, rtol=1e-5, atol=1e-5)


def test_training_split_drops_quality_only_heart_rates_and_keeps_their_quality_labels():
    from anyppg.quantization.assets import training_split

    rng = np.random.default_rng(0)
    datasets = np.array(["bidmc"] * 40 + ["troika"] * 40 + ["liu_arrhythmia"] * 20, dtype=object)
    subject = np.array([f"{d}/{i % 10}" for i, d in enumerate(datasets)], dtype=object)
    hr = rng.uniform(50, 150, len(datasets)).astype(np.float32)
    quality = (np.arange(len(datasets)) % 2).astype(np.int8)
    windows = HeadWindows(
        rng.standard_normal((len(datasets), 1250)).astype(np.float32), hr.copy(), quality,
        np.full(len(datasets), -1, np.int8), datasets, subject,
    )  # fmt: skip
    test = np.isin(subject, ["bidmc/0", "troika/0"])
    train, validation = training_split(windows, test, exclude=["liu_arrhythmia"], quality_only=["troika"])
    both = HeadWindows.concat([train, validation])
    assert set(both.dataset) == {"bidmc", "troika"}  # excluded: gone; quality-only: kept
    assert not set(both.subject) & {"bidmc/0", "troika/0"}  # no held-out patient
    wrist = both.dataset == "troika"
    assert wrist.any() and np.isnan(both.hr[wrist]).all()
    assert set(both.quality[wrist].tolist()) == {0, 1}  # their quality labels stay
    assert np.isfinite(both.hr[~wrist]).all()
    assert np.array_equal(windows.hr, hr)  # the caller's windows keep their labels
    assert len(validation) and not set(validation.subject) & set(train.subject)


def test_paced_windows_come_from_the_training_patients_and_are_cached(tmp_path, write_bidmc):
    from anyppg.quantization.assets import paced_windows

    data = tmp_path / "data"
    (data / "bidmc").mkdir(parents=True)
    for i, bpm in ((1, 70.0), (2, 95.0)):
        sim = anyppg.simulate(40.0, heart_rate=bpm, hrv=0.01, ppg_rate=125.0, ecg_rate=125.0, seed=i)
        write_bidmc(data / "bidmc" / f"bidmc_{i:02d}.npz", sim)
    n = 4
    train = HeadWindows(
        np.zeros((n, 1250), np.float32), np.full(n, 70.0, np.float32), np.ones(n, np.int8),
        np.full(n, -1, np.int8), np.array(["bidmc"] * n, dtype=object), np.array(["bidmc:01"] * n, dtype=object),
    )  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    paced = paced_windows(data, work, train, per_strip=2, seed=0)
    assert len(paced) and set(paced.subject.tolist()) == {"bidmc:01"}  # bidmc:02 did not train
    assert (work / "paced2_seed0.npz").is_file()
    again = paced_windows(data, work, train, per_strip=2, seed=0)
    np.testing.assert_array_equal(again.hr, paced.hr)
    np.testing.assert_allclose(again.ppg, paced.ppg, atol=5e-3)  # float16 on disk
