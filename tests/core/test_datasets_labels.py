"""Per-window labels from reference beats, with the simulator's exact R-peaks as the oracle."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import anyppg
from anyppg.datasets import labels as labels_module
from anyppg.datasets.labels import (
    annotated_polarity,
    annotation_regular,
    beat_rate,
    ppg_peak_times,
    window_labels,
)
from anyppg.signal._checks import InvalidParameterError


def test_ecg_rate_is_beats_per_minute_even_in_bigeminy():
    beats = np.arange(0.0, 10.0, 0.8)  # 75 bpm
    assert beat_rate(beats, 0.0, 10.0) == (pytest.approx(75.0), 13)
    bigeminy = np.concatenate([[0.0], np.cumsum(np.tile([0.45, 1.05], 6))])  # coupled beats: 80 per minute
    assert beat_rate(bigeminy, 0.0, 10.0)[0] == pytest.approx(80.0)
    with_gap = np.concatenate([beats[beats < 4], beats[beats > 7]])  # 3 s without ECG
    assert beat_rate(with_gap, 0.0, 10.0)[0] == pytest.approx(75.0)
    assert np.isnan(beat_rate(beats[:3], 0.0, 10.0)[0])  # 1.6 s of beats do not cover a window


def test_clean_ppg_is_usable_and_af_comes_from_the_rhythm():
    sim = anyppg.simulate(40, heart_rate=96, rhythm="af", noise=0.01, seed=3)
    lab = window_labels(sim.ppg, sim.ppg_rate, sim.r_peaks, rhythm=5)
    assert len(lab) == 4 and lab.start_s.tolist() == [0.0, 10.0, 20.0, 30.0]
    assert lab.usable.tolist() == [1, 1, 1, 1]
    assert lab.af.tolist() == [1, 1, 1, 1] and lab.rhythm.tolist() == [5, 5, 5, 5]
    assert np.all(np.abs(lab.hr_ppg_bpm - lab.hr_ecg_bpm) <= 5)


def test_ppg_of_another_heart_is_unusable_and_gaps_are_unlabelled():
    ecg_side = anyppg.simulate(30, heart_rate=60, seed=1)
    ppg_side = anyppg.simulate(30, heart_rate=110, seed=2)  # a PPG that does not follow this ECG
    lab = window_labels(ppg_side.ppg, ppg_side.ppg_rate, ecg_side.r_peaks)
    assert lab.usable.tolist() == [0, 0, 0]
    ppg = ecg_side.ppg.copy()
    ppg[int(12 * ecg_side.ppg_rate) : int(13 * ecg_side.ppg_rate)] = np.nan
    gap = window_labels(ppg, ecg_side.ppg_rate, ecg_side.r_peaks, hop_s=5.0)
    assert gap.usable.tolist() == [1, -1, -1, 1, 1]  # windows 5-15 s and 10-20 s hold the gap
    no_ecg = window_labels(ecg_side.ppg, ecg_side.ppg_rate, np.zeros(0))
    assert no_ecg.usable.tolist() == [-1, -1, -1] and np.isnan(no_ecg.hr_ecg_bpm).all()
    assert no_ecg.af.tolist() == [-1, -1, -1]


def test_flat_ppg_is_unusable():
    sim = anyppg.simulate(20, heart_rate=70, seed=4)
    lab = window_labels(np.full(len(sim.ppg), 3.0), sim.ppg_rate, sim.r_peaks)
    assert lab.usable.tolist() == [0, 0]


def test_bad_parameters_are_typed_errors():
    with pytest.raises(InvalidParameterError, match="window_s/hop_s"):
        window_labels(np.zeros(1000), 100.0, np.zeros(0), hop_s=0)
    with pytest.raises(InvalidParameterError, match="agree_bpm"):
        window_labels(np.zeros(1000), 100.0, np.zeros(0), agree_bpm=20)


def test_docstring_example():
    result = doctest.testmod(labels_module)
    assert result.attempted > 0 and result.failed == 0


def test_reference_is_reliable_only_where_two_detectors_agree():
    from anyppg.datasets.labels import reference_reliable

    beats = np.arange(0.0, 60.0, 0.8)  # 75 bpm
    doubled = np.sort(np.concatenate([beats, beats[(beats > 20) & (beats < 30)] + 0.3]))  # T-waves taken
    missing = beats[(beats < 40) | (beats > 55)]  # the second detector finds nothing for 15 s
    starts = np.array([0.0, 22.0, 45.0])
    np.testing.assert_array_equal(reference_reliable(beats, beats + 0.01, starts), [True, True, True])
    np.testing.assert_array_equal(reference_reliable(beats, doubled, starts), [True, False, True])
    np.testing.assert_array_equal(reference_reliable(beats, missing, starts), [True, True, False])


def test_second_detector_finds_the_simulated_beats():
    import anyppg
    from anyppg.datasets.labels import beat_rate, second_rpeak_times

    sim = anyppg.simulate(30, heart_rate=84, ecg_rate=125.0, seed=3)
    ecg = sim.ecg.copy()
    ecg[1000:1100] = np.nan  # a gap is skipped, not an error
    beats = second_rpeak_times(ecg, 125.0)
    assert abs(beat_rate(beats, 12.0, 10.0)[0] - 84.0) < 3.0


def test_polarity_comes_from_the_annotated_peaks_through_gaps_and_offsets():
    sim = anyppg.simulate(40, heart_rate=75, seed=3)
    peaks = ppg_peak_times(sim.ppg, sim.ppg_rate)
    counts = 5e4 - 300 * sim.ppg  # raw light counts: an offset, a scale, the pulse upside down
    counts[1000:1200] = np.nan  # a gap is bridged, not fatal
    assert annotated_polarity(counts, sim.ppg_rate, peaks) == "inverted"
    assert annotated_polarity(-counts, sim.ppg_rate, peaks) == "normal"
    with pytest.raises(InvalidParameterError, match="systolic_s"):
        annotated_polarity(counts, sim.ppg_rate, np.array([-1.0, 1e6]))  # no peak on the recording
    with pytest.raises(InvalidParameterError, match="ppg"):
        annotated_polarity(np.full(500, np.nan), sim.ppg_rate, peaks)


def test_an_annotation_with_a_skipped_or_an_extra_beat_is_not_regular():
    beats = np.arange(0.0, 60.0, 0.5)  # 120 bpm
    skipped = np.delete(beats, 30)  # a 1.0 s hole at 15 s: the window's rate would read low
    extra = np.sort(np.append(beats, 40.2))  # a 0.2 s interval at 40 s
    starts = np.array([0.0, 10.0, 35.0, 48.0, 58.6])
    assert annotation_regular(beats, starts).tolist() == [True, True, True, True, False]  # the last: too few
    assert annotation_regular(skipped, starts).tolist() == [True, False, True, True, False]
    assert annotation_regular(extra, starts).tolist() == [True, True, False, True, False]
