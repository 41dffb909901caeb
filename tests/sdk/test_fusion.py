"""Heart-rate fusion (anyppg.sdk.fusion) and what the pipeline reports from it: the fused rate, its
confidence, the tracker's own value, the rhythm head and ``run_model``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import anyppg
from anyppg.sdk.fusion import Estimate, HeartRateFusion, encoder_confidence, tracker_confidence
from anyppg.sdk.pipeline import RHYTHM_CLASSES, Pipeline
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.tables import Results


def test_the_tracker_alone_is_reported_unchanged():
    fused = HeartRateFusion().fuse(Estimate("tracker", 71.3, 0.8))
    assert fused.bpm == 71.3 and fused.confidence == pytest.approx(0.8) and fused.sources == ("tracker",)


def test_a_wrong_model_does_not_move_the_rate_and_lowers_the_confidence():
    fusion = HeartRateFusion()
    alone = fusion.fuse(Estimate("tracker", 150.0, 0.7))
    wrong = fusion.fuse(Estimate("tracker", 150.0, 0.7), [Estimate("encoder", 95.0, 0.9)])
    assert wrong.bpm == pytest.approx(150.0, abs=1e-6)
    assert wrong.confidence < alone.confidence
    assert wrong.sources == ("tracker",)


def test_an_agreeing_model_pulls_towards_it_and_raises_the_confidence():
    fusion = HeartRateFusion()
    alone = fusion.fuse(Estimate("tracker", 100.0, 0.5))
    both = fusion.fuse(Estimate("tracker", 100.0, 0.5), [Estimate("motion_model", 102.0, 0.8)])
    assert 100.0 < both.bpm < 102.0
    assert both.confidence > alone.confidence
    assert both.sources == ("tracker", "motion_model")


def test_the_encoder_head_joins_only_where_the_tracker_doubts():
    fusion = HeartRateFusion()
    head = [Estimate("encoder", 102.0, 0.9)]
    sure = fusion.fuse(Estimate("tracker", 100.0, 0.7), head)
    assert sure.bpm == 100.0 and sure.sources == ("tracker",)  # the tracker's value, to the bit
    unsure = fusion.fuse(Estimate("tracker", 100.0, 0.3), head)
    assert 100.0 < unsure.bpm < 102.0 and unsure.sources == ("tracker", "encoder")
    # Other sources are not gated; an empty mapping lets the encoder in at any tracker confidence.
    assert fusion.fuse(Estimate("tracker", 100.0, 0.7), [Estimate("motion_model", 102.0, 0.9)]).bpm > 100.0
    assert HeartRateFusion(join_below={}).fuse(Estimate("tracker", 100.0, 0.7), head).bpm > 100.0
    # A gated estimate that disagrees still lowers the confidence.
    wrong = fusion.fuse(Estimate("tracker", 100.0, 0.7), [Estimate("encoder", 140.0, 0.9)])
    assert wrong.bpm == 100.0 and wrong.confidence < sure.confidence


def test_without_a_tracker_only_a_confident_learned_estimate_is_reported():
    fusion = HeartRateFusion(min_alone=0.3)
    assert fusion.fuse(None, [Estimate("encoder", 80.0, 0.2)]).bpm is None
    fused = fusion.fuse(None, [Estimate("encoder", 80.0, 0.2), Estimate("motion_model", 90.0, 0.6)])
    assert (fused.bpm, fused.confidence, fused.sources) == (90.0, 0.3, ("motion_model",))
    assert fusion.fuse(None).bpm is None


def test_the_encoder_head_never_stands_in_for_a_missing_tracker_value_by_default():
    confident_head = [Estimate("encoder", 80.0, 0.95)]
    assert HeartRateFusion().fuse(None, confident_head).bpm is None
    assert HeartRateFusion(alone_sources=("encoder",)).fuse(None, confident_head).bpm == 80.0


def test_confidences_follow_agreement_quality_and_motion():
    assert tracker_confidence(80, 80, 1.0) == pytest.approx(1.0)
    assert tracker_confidence(80, 100, 1.0) < 0.6
    assert tracker_confidence(80, 80, 1.0, held=1) == pytest.approx(0.5)
    assert tracker_confidence(80, None, 0.0) == pytest.approx(0.25)
    assert encoder_confidence(0.9, None) == pytest.approx(0.9)
    assert encoder_confidence(0.9, 0.05) == pytest.approx(0.45)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"agree_bpm": 0}, "agree_bpm"),
        ({"min_alone": 2}, "min_alone"),
        ({"join_below": {"encoder": 1.5}}, "join_below"),
    ],
)
def test_bad_parameters_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HeartRateFusion(**kwargs)


@pytest.fixture(scope="module")
def student() -> Any:
    from anyppg.errors import ModelLoadError
    from anyppg.sdk.runtime import load_model
    from anyppg.sdk.shipped import default_model_path

    try:
        return load_model(default_model_path("tflite"), threads=1)
    except ModelLoadError as exc:
        pytest.skip(f"the shipped student is not built yet: {exc}")


class _WithRhythm:
    """The shipped student with a ``rhythm`` output added (fixed logits), as a model that has a rhythm
    head gives it: the pipeline must softmax it and take P(AF) from it."""

    def __init__(self, model: Any, logits: np.ndarray) -> None:
        self._model, self._logits = model, logits
        self.input_shape, self.card, self.path = model.input_shape, model.card, model.path

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out = dict(self._model.run(x))
        out["rhythm"] = self._logits.reshape(1, -1).astype(np.float32)
        return out


def _push(pipeline: Pipeline, ppg: np.ndarray, rate: float, acc: np.ndarray | None = None) -> list:
    out = []
    for i in range(0, len(ppg), 32):
        out += pipeline.push(
            SampleBlock(i / rate, rate, ppg[i : i + 32], None if acc is None else acc[i : i + 32])
        )
    return out


def test_the_rhythm_head_is_softmaxed_and_af_is_its_af_class(student):
    logits = np.array([2.0, 0.0, 0.0, -1.0, -1.0, 1.0])
    sim = anyppg.simulate(30, heart_rate=70, ppg_rate=50.0, seed=2)
    results = _push(Pipeline("rhythm", _WithRhythm(student, logits)), sim.ppg, 50.0)
    want = np.exp(logits) / np.exp(logits).sum()
    usable = [r for r in results if r.usable]
    assert usable
    for r in usable:
        np.testing.assert_allclose(r.rhythm_probabilities, want, rtol=1e-6)
        assert r.rhythm_classes == RHYTHM_CLASSES and r.rhythm == "sinus_rhythm"
        assert r.af_probability == pytest.approx(want[5])
        line = r.to_dict()
        assert list(line["rhythm_probabilities"]) == list(RHYTHM_CLASSES) and line["rhythm"] == "sinus_rhythm"
    probs, classes = Results(results).rhythm_probabilities()
    assert classes == RHYTHM_CLASSES and probs.shape == (len(results), 6)


class _WithoutRhythm(_WithRhythm):
    """The shipped student without its ``rhythm`` output (a model that has only the ``af`` head)."""

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v for k, v in self._model.run(x).items() if k != "rhythm"}


def test_without_a_rhythm_head_af_comes_from_the_af_head(student):
    sim = anyppg.simulate(24, heart_rate=70, ppg_rate=50.0, seed=2)
    results = [
        r for r in _push(Pipeline("af", _WithoutRhythm(student, np.zeros(6))), sim.ppg, 50.0) if r.usable
    ]
    assert results and all(r.rhythm_probabilities is None and 0 <= r.af_probability <= 1 for r in results)
    assert Results(results).rhythm_probabilities() is None


def test_run_model_always_runs_the_model_on_gated_windows_too(student):
    # a clean pulse made noisy half way: the noisy windows fail the gate
    sim = anyppg.simulate(60, heart_rate=70, ppg_rate=50.0, seed=4)
    ppg = sim.ppg.copy()
    rng = np.random.default_rng(0)
    ppg[1500:] += rng.normal(0, 3 * sim.ppg.std(), len(ppg) - 1500)
    usable_only = _push(Pipeline("u", student), ppg, 50.0)
    always = _push(Pipeline("a", student, run_model="always"), ppg, 50.0)
    gated = [i for i, r in enumerate(usable_only) if not r.usable]
    assert gated, "the noisy half must fail the quality gate"
    assert all(usable_only[i].heart_rate_model is None and usable_only[i].embedding is None for i in gated)
    assert all(always[i].heart_rate_model is not None and always[i].embedding is not None for i in gated)
    assert [r.usable for r in always] == [r.usable for r in usable_only]


def test_results_report_the_tracker_and_a_confidence():
    sim = anyppg.simulate(40, heart_rate=66, ppg_rate=64.0, seed=1)
    results = _push(Pipeline("sig"), sim.ppg, 64.0, sim.acc)
    tracked = [r for r in results if r.heart_rate_tracker is not None]
    assert len(tracked) > 5
    for r in tracked:
        # no model: the tracker's value, or the window's beats per minute within 3 bpm of it
        # (a still window whose every beat is regular: Pipeline._beat_by_beat)
        assert abs(r.heart_rate - r.heart_rate_tracker) <= 3.0
        assert 0 <= r.heart_rate_confidence <= 1
        assert {"heart_rate_confidence", "heart_rate_tracker"} <= set(r.to_dict())
    assert np.median([r.heart_rate_confidence for r in tracked[3:]]) > 0.5  # once the track has settled
    arrays = Results(results).to_arrays()
    assert arrays["heart_rate_confidence"].dtype == np.float64


def test_run_model_is_checked():
    with pytest.raises(ValueError, match="run_model"):
        Pipeline("x", run_model="sometimes")  # type: ignore[arg-type]


class _SteadyMotionModel:
    """A motion model that always reads ``bpm`` with ``confidence`` and records what it was given."""

    def __init__(self, bpm: float, confidence: float) -> None:
        self.bpm, self.confidence = bpm, confidence
        self.seen: list[tuple[tuple[int, ...], tuple[int, ...], float]] = []

    def estimate(self, ppg: np.ndarray, acc: np.ndarray, fs: float) -> tuple[float, float]:
        self.seen.append((ppg.shape, acc.shape, fs))
        return self.bpm, self.confidence


def test_a_motion_model_gets_every_channel_and_joins_the_fusion():
    sim = anyppg.simulate(40, heart_rate=90, ppg_rate=64.0, motion=0.6, seed=5)
    ppg = np.column_stack([sim.ppg, 0.5 * sim.ppg])
    motion = _SteadyMotionModel(92.0, 0.9)
    results = _push(Pipeline("mm", motion_model=motion), ppg, 64.0, sim.acc)
    assert motion.seen and all(s == ((2, 1250), (3, 1250), 125.0) for s in motion.seen)
    pulled = 0
    for r in results:
        if r.heart_rate_tracker is None:
            continue
        lo, hi = sorted((r.heart_rate_tracker, 92.0))
        assert lo - 1e-9 <= r.heart_rate <= hi + 1e-9
        pulled += r.heart_rate != r.heart_rate_tracker
    assert pulled > 0


def test_the_shipped_motion_model_runs_in_the_pipeline():
    from anyppg.errors import ModelLoadError

    try:
        from anyppg.sdk.motion_runtime import MotionModel

        model = MotionModel.load()
    except (ImportError, ModelLoadError) as exc:
        pytest.skip(f"no shipped motion model yet: {exc}")
    sim = anyppg.simulate(40, heart_rate=100, ppg_rate=64.0, motion=0.6, seed=5)
    results = _push(Pipeline("mm", motion_model=model), sim.ppg, 64.0, sim.acc)
    assert results and all(
        r.heart_rate is not None and 0 <= r.heart_rate_confidence <= 1 for r in results[3:]
    )


def test_the_stream_summary_counts_heart_rates_and_their_confidence():
    from anyppg.sdk.summary import StreamSummary

    sim = anyppg.simulate(40, heart_rate=66, ppg_rate=64.0, seed=1)
    results = _push(Pipeline("sig"), sim.ppg, 64.0, sim.acc)
    summary = StreamSummary("sig")
    for r in results:
        summary.add(r)
    line = summary.to_dict()
    assert line["heart_rate_windows"] == sum(r.heart_rate is not None for r in results) > 5
    want = np.median([r.heart_rate_confidence for r in results if r.heart_rate_confidence is not None])
    assert line["heart_rate_confidence"]["p50"] == pytest.approx(want, abs=1e-3)


@pytest.mark.parametrize("with_acc", [True, False])
def test_auto_picks_the_motion_tracker_with_or_without_an_accelerometer(with_acc):
    sim = anyppg.simulate(40, heart_rate=84, ppg_rate=64.0, motion=0.4, seed=7)
    acc = sim.acc if with_acc else None
    auto = _push(Pipeline("auto"), sim.ppg, 64.0, acc)
    same = _push(Pipeline("pinned", tracker="motion"), sim.ppg, 64.0, acc)
    other = _push(Pipeline("other", tracker="classic"), sim.ppg, 64.0, acc)
    assert [r.heart_rate_tracker for r in auto] == [r.heart_rate_tracker for r in same]
    assert [r.heart_rate_tracker for r in auto] != [r.heart_rate_tracker for r in other]
