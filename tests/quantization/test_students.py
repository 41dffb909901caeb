"""Students: output contract, size budgets, delegate-friendly ops, BN folding, checkpoints and their errors."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from anyppg.errors import AnyPPGError, CheckpointError  # noqa: E402
from anyppg.model_card import OUTPUT_NAMES, default_io  # noqa: E402
from anyppg.quantization import students  # noqa: E402
from anyppg.quantization.students import (  # noqa: E402
    STUDENTS,
    Student,
    build_student,
    count_parameters,
    get_spec,
    load_student,
    save_student,
)

# Module types the XNNPACK and LiteRT delegates run natively (plus containers without compute).
DELEGATE_FRIENDLY = (
    nn.Conv1d, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.Identity, nn.Sequential,
    students.GlobalAvgPool, students.ConvBNReLU, students.Stage, students.SeparableConv,
    students.SeparableStage, students.PulseSpectrum, Student,
)  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_outputs_follow_the_model_card_contract(name):
    spec = STUDENTS[name]
    model = spec.get_eager_model()
    (x,) = spec.get_example_inputs(batch=3)
    assert x.shape == (3, 1, 1250)
    outputs = model(x)
    _, specs = default_io()
    assert len(outputs) == len(OUTPUT_NAMES) == len(specs)
    for out, tensor_spec in zip(outputs, specs, strict=True):
        assert out.dtype == torch.float32
        assert tuple(out.shape) == (3, *tensor_spec.shape[1:]), tensor_spec.name


def test_size_budgets():
    s = count_parameters(build_student("student-s"))
    assert 100_000 <= s <= 400_000  # int8: well under the 500 KB file budget
    xs = build_student("student-xs")
    # int8: one byte per weight; biases become int32 (4 bytes) after quantization.
    biases = sum(m.out_channels if isinstance(m, nn.Conv1d) else m.out_features for m in _weighted(xs))
    int8_bytes = count_parameters(xs.fold_batchnorm()) + 3 * biases
    assert int8_bytes <= 64 * 1024, int8_bytes


def test_compute_budgets_against_the_teacher():
    from anyppg.quantization.bench import _eager_model, count_macs

    teacher = count_macs(_eager_model("teacher"))
    s, xs = count_macs(build_student("student-s")), count_macs(build_student("student-xs"))
    # The speed bar (int8 student-s >= 50x the fp32 teacher) needs a much cheaper graph, not just int8:
    # the earlier plain-convolution student-s cost 23.7 M MACs, 1/4.6 of the teacher's 108.6 M.
    assert s <= 6_000_000 and teacher / s >= 20, (s, teacher)
    assert xs <= 1_500_000, xs


def test_shipped_students_are_depthwise_separable_with_an_early_stride():
    for name in STUDENTS:
        model = build_student(name)
        assert model.config.separable and model.config.stem_stride == 4
        depthwise = [m for m in model.modules() if isinstance(m, nn.Conv1d) and m.groups > 1]
        assert depthwise and all(m.groups == m.in_channels == m.out_channels for m in depthwise)


def test_rhythm_head_has_the_six_liu_classes():
    from anyppg.model_card import RHYTHM_CLASSES

    assert students.RHYTHM_CLASSES == RHYTHM_CLASSES
    assert RHYTHM_CLASSES[students.AF_CLASS] == "AF" and len(RHYTHM_CLASSES) == 6
    (x,) = get_spec("student-xs").get_example_inputs(batch=2)
    assert build_student("student-xs")(x)[4].shape == (2, 6)


def _weighted(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.fold_batchnorm().modules() if isinstance(m, nn.Conv1d | nn.Linear)]


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_only_delegate_friendly_modules(name):
    model = build_student(name)
    odd = {type(m).__name__ for m in model.modules() if not isinstance(m, DELEGATE_FRIENDLY)}
    assert not odd
    # Plain or depthwise convolutions only: grouped ones (1 < groups < channels) do not lower to
    # XNNPACK int8.
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert all(m.groups == 1 or m.groups == m.in_channels == m.out_channels for m in convs)


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_fold_batchnorm_keeps_outputs_and_removes_every_batchnorm(name):
    model = build_student(name)
    # Give BatchNorm non-trivial statistics, as after training.
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(3.0 * torch.randn(16, 1, 1250) + 1.0)
    model.eval()
    (x,) = get_spec(name).get_example_inputs(batch=4)
    folded = model.fold_batchnorm()
    assert not any(isinstance(m, nn.BatchNorm1d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm1d) for m in model.modules()), "folding must not touch the original"
    for a, b in zip(model(x), folded(x), strict=True):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_deployment_form_is_the_folded_model_in_4d(name):
    """Every convolution becomes the same Conv2d over (B, C, 1, T); inputs and outputs keep their shapes."""
    model = build_student(name, seed=4)
    (x,) = get_spec(name).get_example_inputs(batch=3)
    deployed = model.deployment_form()
    assert not any(isinstance(m, nn.Conv1d | nn.BatchNorm1d) for m in deployed.modules())
    convs2d = [m for m in deployed.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs2d) == sum(isinstance(m, nn.Conv1d) for m in model.modules())
    assert all(m.kernel_size[0] == m.stride[0] == 1 and m.padding[0] == 0 for m in convs2d)
    assert not model.time_as_width and any(isinstance(m, nn.Conv1d) for m in model.modules())
    with torch.no_grad():
        for a, b in zip(model.fold_batchnorm()(x), deployed(x), strict=True):
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


def test_rate_temperature_scales_only_the_heart_rate_softmax():
    model = build_student("student-s", seed=5).eval()
    (x,) = get_spec("student-s").get_example_inputs(batch=4)
    with torch.no_grad():
        base = model(x)
        same = model.with_rate_temperature(1.0)(x)
        soft = model.with_rate_temperature(0.5)(x)
        flat = model.with_rate_temperature(1e-6)(x)
    for a, b in zip(base, same, strict=True):
        torch.testing.assert_close(a, b)
    for i in (0, 2, 3, 4):  # embedding, quality, af, rhythm do not read the rate logits
        torch.testing.assert_close(soft[i], base[i])
    assert not torch.allclose(soft[1], base[1])
    # At a vanishing temperature every rate is equally likely: the rate is their mean.
    torch.testing.assert_close(flat[1], torch.full_like(flat[1], float(students.spectral_rates(64).mean())))
    assert model.spectral_logits.weight.abs().sum() > 0  # the original is left as it was
    torch.testing.assert_close(model(x)[1], base[1])


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan")])
def test_rate_temperature_refuses_bad_values_and_students_without_a_spectrum(tau):
    with pytest.raises(ValueError, match="positive"):
        build_student("student-s").with_rate_temperature(tau)
    with pytest.raises(ValueError, match="spectrum branch"):
        build_student("student-xs").with_rate_temperature(0.5)


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_rhythm_temperature_scales_only_the_rhythm_logits(name):
    model = build_student(name, seed=6).eval()
    (x,) = get_spec(name).get_example_inputs(batch=4)
    with torch.no_grad():
        base = model(x)
        soft = model.with_rhythm_temperature(0.5)(x)
    torch.testing.assert_close(soft[4], 0.5 * base[4])
    for i in range(4):  # embedding, heart rate, quality, af
        torch.testing.assert_close(soft[i], base[i])
    with pytest.raises(ValueError, match="positive"):
        model.with_rhythm_temperature(0.0)


def test_heart_rate_is_in_bpm_around_the_centre_at_initialisation():
    model = build_student("student-s")
    (x,) = get_spec("student-s").get_example_inputs(batch=8)
    hr = model(x)[1]
    # The head's raw output is near zero at initialisation, so bpm starts near HR_CENTER_BPM.
    assert torch.all((hr - students.HR_CENTER_BPM).abs() < students.HR_SCALE_BPM)


def _spectral_student() -> Student:
    """A small trunk with student-s's spectrum branch."""
    from dataclasses import replace

    s = STUDENTS["student-s"].config
    xs = replace(
        STUDENTS["student-xs"].config, spectral_bins=s.spectral_bins, spectral_harmonics=s.spectral_harmonics
    )
    return Student(xs).eval()


@pytest.mark.parametrize("decimate", [5, 8])
def test_pulse_spectrum_puts_a_sinusoid_in_its_bin_with_its_power(decimate):
    spectrum = students.PulseSpectrum(64, harmonics=2, decimate=decimate)
    rates = students.spectral_rates(64)
    t = torch.arange(1250) / 125.0
    amplitude = 1.3
    for k in (3, 20, 41, 60):
        x = amplitude * torch.sin(2 * torch.pi * rates[k] / 60.0 * t + 0.7)
        power = spectrum(x[None, None, :])[0]
        assert power.shape == (128,) and int(power.argmax()) == k
        # Hann-windowed, scaled so a sinusoid of amplitude A gives A**2, times the power gain of the
        # box average before it (7 % lost at 220 bpm for 5 samples, 17 % for 8).
        f = float(rates[k]) / 60.0 / 125.0
        box = (math.sin(math.pi * f * decimate) / (decimate * math.sin(math.pi * f))) ** 2
        assert float(power[k]) == pytest.approx(amplitude**2 * box, rel=0.03)
    # The second half holds twice each rate: a sinusoid at 2 x rates[10] lands in bin 64 + 10.
    power = spectrum(torch.sin(2 * torch.pi * 2 * rates[10] / 60.0 * t)[None, None, :])[0]
    assert int(power[64:].argmax()) == 10
    assert not any(p.requires_grad for p in spectrum.parameters())
    with pytest.raises(ValueError, match="at least 2 bins"):
        students.PulseSpectrum(1)
    with pytest.raises(ValueError, match="exceed"):
        students.PulseSpectrum(64, harmonics=4)  # 880 bpm is above 25 Hz's band
    with pytest.raises(ValueError, match="exceed"):
        students.PulseSpectrum(64, harmonics=2, decimate=9)  # 440 bpm is above 13.9 Hz's band


def test_spectral_heart_rate_reads_the_pulse_period_before_any_training():
    model = _spectral_student()
    t = torch.arange(1250) / 125.0
    for bpm in (48.0, 75.0, 110.0, 165.0):
        w = 2 * torch.pi * bpm / 60.0 * t
        # A pulse-like wave: harmonics with a strong second one (the dicrotic notch's share).
        x = torch.sin(w) + 0.6 * torch.sin(2 * w + 1.0) + 0.25 * torch.sin(3 * w + 2.0)
        x = (x - x.mean()) / x.std()
        with torch.no_grad():
            # The untrained head's soft arg-max over the spectrum reads the rate between bins.
            assert float(model(x[None, None, :])[1]) == pytest.approx(bpm, abs=2.0)


def test_spectral_branch_is_fixed_and_the_readout_folds_to_bpm():
    model = _spectral_student()
    assert not model.hr_affine  # the readout's fixed weights are already in bpm
    fixed = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert fixed == {
        "spectrum.decimate.weight", "spectrum.cos.weight", "spectrum.sin.weight",
        "heart_rate.weight", "heart_rate.bias",
    }  # fmt: skip
    torch.testing.assert_close(
        model.heart_rate.weight[0] + model.heart_rate.bias, students.spectral_rates(64)
    )  # one-hot bin probabilities read the bin's rate
    assert model.spectral_logits.in_features == 128 and model.spectral_logits.out_features == 64
    (x,) = get_spec("student-xs").get_example_inputs(batch=3)
    for a, b in zip(model(x), model.fold_batchnorm()(x), strict=True):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)


def test_seeded_construction_is_reproducible():
    a, b = build_student("student-xs", seed=3), build_student("student-xs", seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb
        torch.testing.assert_close(va, vb)


def test_unknown_student_name_lists_the_registry():
    with pytest.raises(KeyError, match="student-s"):
        build_student("student-xxl")


def test_checkpoint_round_trip(tmp_path):
    model = build_student("student-xs", seed=1)
    path = tmp_path / "xs.pt"
    save_student(model, path, "student-xs", {"note": "round trip"})
    loaded, meta = load_student(path)
    assert meta == {"name": "student-xs", "extra": {"note": "round trip"}}
    assert loaded.config == model.config
    (x,) = get_spec("student-xs").get_example_inputs()
    for a, b in zip(model(x), loaded(x), strict=True):
        torch.testing.assert_close(a, b)


def test_corrupt_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"\x80\x02 this is not a torch file")
    with pytest.raises(CheckpointError) as info:
        load_student(path)
    assert info.value.path == str(path)
    assert "not a readable torch checkpoint" in str(info.value)
    assert isinstance(info.value, AnyPPGError)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_student(tmp_path / "nope.pt")


def test_a_teacher_checkpoint_is_not_a_student(tmp_path):
    path = tmp_path / "teacher.pt"
    torch.save({"ppg_encoder": {}, "config": {}}, path)
    with pytest.raises(CheckpointError, match="not an anyppg student checkpoint"):
        load_student(path)


def test_weights_of_another_student_are_refused_with_the_offending_keys(tmp_path):
    path = tmp_path / "mixed.pt"
    save_student(build_student("student-xs"), path, "student-xs")
    payload = torch.load(path, weights_only=True)
    payload["config"] = STUDENTS["student-s"].config.to_dict()  # config says s, weights are xs
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not fit the student config") as info:
        load_student(path)
    assert "size mismatch" in str(info.value)

    state = payload["state_dict"]
    payload["config"] = STUDENTS["student-xs"].config.to_dict()
    payload["state_dict"] = {k: v for k, v in state.items() if not k.startswith("af.")}
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as info:
        load_student(path)
    assert info.value.missing == ["af.weight", "af.bias"]
