"""Net1D is faithful to the reference implementation and loads checkpoints as users have them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from anyppg.errors import CheckpointError  # noqa: E402
from anyppg.trainer.checkpoints import load_ecg_encoder, load_ppg_encoder, save_checkpoint  # noqa: E402
from anyppg.trainer.encoders import (  # noqa: E402
    ANYPPG_PPG_CONFIG,
    ECGFOUNDER_ECG_CONFIG,
    count_parameters,
    net1d_from_config,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def conformance():
    return torch.load(DATA / "net1d_conformance.pt", weights_only=True)


@pytest.fixture(scope="module")
def layout():
    return json.loads((DATA / "anyppg_reference_layout.json").read_text())


@pytest.mark.parametrize("name", ["ppg", "ecg"])
def test_small_configs_reproduce_reference_outputs(conformance, name):
    case = conformance[name]
    model = net1d_from_config(case["config"])
    model.load_state_dict(case["state_dict"], strict=True)
    model.eval()
    with torch.no_grad():
        out = model(case["input"])
    assert out.shape == case["output"].shape
    torch.testing.assert_close(out, case["output"], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("name", "config", "n_params"),
    [
        ("anyppg_ppg_encoder", ANYPPG_PPG_CONFIG, 4_044_272),
        ("ecgfounder_ecg_encoder", ECGFOUNDER_ECG_CONFIG, 30_654_000),
    ],
)
def test_full_configs_match_public_checkpoint_layout(layout, name, config, n_params):
    ref = layout[name]
    assert ref["config"] == config
    model = net1d_from_config(ref["config"])
    ours = [[k, list(v.shape), str(v.dtype)] for k, v in model.state_dict().items()]
    assert ours == ref["state_dict"]  # same keys, same order, same shapes and dtypes
    assert count_parameters(model) == n_params == ref["n_params"]


def test_full_ppg_encoder_output_shape():
    model = net1d_from_config(ANYPPG_PPG_CONFIG).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 1250)).shape == (2, 512)


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="missing keys \\['kernel_size'\\]"):
        net1d_from_config({k: v for k, v in ANYPPG_PPG_CONFIG.items() if k != "kernel_size"})
    with pytest.raises(ValueError, match="equal lengths"):
        net1d_from_config({**ANYPPG_PPG_CONFIG, "m_blocks_list": [1, 1]})


def _reference_state(conformance, name):
    return conformance[name]["config"], conformance[name]["state_dict"]


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda sd: sd, id="plain"),
        pytest.param(lambda sd: {"state_dict": sd}, id="state_dict-wrapper"),
        pytest.param(lambda sd: {f"module.{k}": v for k, v in sd.items()}, id="ddp-prefix"),
        pytest.param(lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}}, id="both"),
    ],
)
def test_official_file_layouts_load(tmp_path, conformance, wrap):
    config, state = _reference_state(conformance, "ecg")
    torch.save(wrap(dict(state)), tmp_path / "ecgfounder.pth")
    model = load_ecg_encoder(tmp_path / "ecgfounder.pth", config=config)
    assert not model.training
    with torch.no_grad():
        torch.testing.assert_close(
            model(conformance["ecg"]["input"]), conformance["ecg"]["output"], atol=1e-5, rtol=0
        )


def test_ecgfounder_classification_head_is_dropped(tmp_path, conformance):
    config, state = _reference_state(conformance, "ecg")
    file = tmp_path / "ecgfounder.pth"
    torch.save(
        {"state_dict": {**state, "dense.weight": torch.zeros(150, 64), "dense.bias": torch.zeros(150)}}, file
    )
    assert load_ecg_encoder(file, config=config).out_features == 64


def test_anyppg_checkpoint_carries_its_config(tmp_path, conformance):
    config, state = _reference_state(conformance, "ppg")
    file = save_checkpoint(
        tmp_path / "ckpt.pt", {"ppg_encoder": state, "config": {"ppg_encoder": config}, "step": 3}
    )
    model = load_ppg_encoder(file)  # no config passed: the stored one is used
    with torch.no_grad():
        torch.testing.assert_close(
            model(conformance["ppg"]["input"]), conformance["ppg"]["output"], atol=1e-5, rtol=0
        )


def test_mismatched_checkpoint_lists_missing_and_unexpected_keys(tmp_path, conformance):
    config, state = _reference_state(conformance, "ppg")
    state = dict(state)
    state["extra.weight"] = state.pop("first_bn.weight")
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as info:
        load_ppg_encoder(tmp_path / "bad.pt", config=config)
    assert info.value.missing == ["first_bn.weight"]
    assert info.value.unexpected == ["extra.weight"]
    assert "first_bn.weight" in str(info.value) and "bad.pt" in str(info.value)


def test_wrong_architecture_is_refused(tmp_path, conformance):
    _, state = _reference_state(conformance, "ppg")
    torch.save(state, tmp_path / "small.pt")
    with pytest.raises(CheckpointError, match="missing keys"):
        load_ppg_encoder(tmp_path / "small.pt")  # the full AnyPPG config has more blocks


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_ppg_encoder(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        load_ppg_encoder(tmp_path / "junk.pt")


def test_pickled_code_is_not_executed(tmp_path):
    torch.save({"state_dict": {"x": object()}}, tmp_path / "evil.pt")  # needs weights_only=False to load
    with pytest.raises(CheckpointError, match="not a loadable"):
        load_ppg_encoder(tmp_path / "evil.pt")


def test_an_unloadable_checkpoint_is_one_line_naming_the_refusal(tmp_path):
    torch.save({"state_dict": {"x": object()}}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as err:
        load_ppg_encoder(tmp_path / "evil.pt")
    assert "\n" not in str(err.value) and "weights-only load refused" in str(err.value)
