"""``--plot`` on ``anyppg stream`` and ``anyppg record``: PNG figures of PPG, heart rate and quality."""

from __future__ import annotations

import json

import numpy as np
import pytest

import anyppg
from anyppg.cli import main
from anyppg.errors import RuntimeUnavailableError

pytest.importorskip("matplotlib")
from matplotlib import image

from anyppg.sdk.demo_plot import plot_results, window_trace


def _valid_png(path) -> np.ndarray:
    img = image.imread(path)  # raises unless the file is a PNG
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 600
    assert np.unique(img.reshape(-1, img.shape[2]), axis=0).shape[0] > 20  # traces, text: not blank
    return img


def test_window_trace_joins_the_windows_without_overlap():
    results = anyppg.stream_sync("sim:?duration=30", speed="max", model=None)
    t, values = window_trace(results)
    assert np.all(np.diff(t) > 0)
    assert t[0] == pytest.approx(results[0].t_start) and t[-1] < results[-1].t_end
    assert len(t) == pytest.approx((results[-1].t_end - results[0].t_start) * 125, abs=2)
    np.testing.assert_array_equal(values[:1250], results[0].window)


def test_plot_results_of_two_devices(tmp_path):
    results = [r for url in ("sim:?hr=65&duration=20", "sim:?hr=95&duration=20&seed=4")
               for r in anyppg.stream_sync(url, speed="max", model=None)]  # fmt: skip
    _valid_png(
        plot_results(results, tmp_path / "two.png", reference=(np.array([0.0, 20.0]), np.array([65.0, 65.0])))
    )


def test_stream_plot(tmp_path, capsys):
    png = tmp_path / "stream.png"
    assert main(["stream", "sim:?duration=30", "--speed", "max", "--model", "none", "--plot", str(png)]) == 0
    _valid_png(png)
    assert f"figure: {png}" in capsys.readouterr().err


def test_record_plot(tmp_path, capsys):
    png, out = tmp_path / "rec.png", tmp_path / "rec.npz"
    code = main(
        ["record", "sim:?hr=75&duration=40", str(out), "--speed", "max", "--plot", str(png), "--json"]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["plot"] == str(png) and out.exists()
    _valid_png(png)


def test_plot_without_matplotlib_names_the_extra_before_streaming(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    out = tmp_path / "never.npz"
    with pytest.raises(RuntimeUnavailableError, match=r'pip install "anyppg\[plot\]"'):
        plot_results([], tmp_path / "x.png")
    assert (
        main(["record", "sim:?duration=5", str(out), "--speed", "max", "--plot", str(tmp_path / "x.png")])
        != 0
    )
    assert 'pip install "anyppg[plot]"' in capsys.readouterr().err
    assert not out.exists()  # refused before anything was recorded
