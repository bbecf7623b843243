import pytest
import torch

from srcnn.errors import SRCNNError
from srcnn.models import SRCNN, SRCNNConfig, parse_arch
from srcnn.models.weights import load_model, read_metadata, save_model


@pytest.mark.parametrize("arch, params", [("9-1-5", 8129), ("9-3-5", 24513), ("9-5-5", 57281)])
def test_parameter_counts_match_the_paper(arch, params):
    assert SRCNN(SRCNNConfig.from_arch(arch, 64, 32)).num_parameters() == params


def test_widths_and_channels_change_the_layers():
    wide = SRCNN(SRCNNConfig.from_arch("9-1-5", 128, 64))
    assert [c.out_channels for c in wide.layers] == [128, 64, 1]
    rgb = SRCNN(SRCNNConfig.from_arch("9-5-5", channels=3))
    assert rgb.layers[0].in_channels == 3 and rgb.layers[-1].out_channels == 3


def test_extra_mapping_layers_of_the_depth_study():
    deep = SRCNN(SRCNNConfig.from_arch("9-3-1-5", 64, 32, extra_widths=(16,)))
    assert [c.kernel_size[0] for c in deep.layers] == [9, 3, 1, 5]
    assert [c.out_channels for c in deep.layers] == [64, 32, 16, 1]


@pytest.mark.parametrize("arch", ["9-5-5", "9-1-5", "9-3-1-5"])
def test_output_has_the_input_size_and_valid_mode_loses_the_receptive_radius(arch):
    model = SRCNN(SRCNNConfig.from_arch(arch))
    x = torch.rand(2, 1, 23, 31)
    assert model(x).shape == x.shape
    r = model.config.receptive_radius
    assert model(x, same_size=False).shape == (2, 1, 23 - 2 * r, 31 - 2 * r)


def test_same_size_padding_replicates_the_border_per_layer():
    model = SRCNN(SRCNNConfig.from_arch("9-5-5"))
    model.init_weights("kaiming")
    x = torch.rand(1, 1, 30, 30)
    # The valid output of a replicate-padded input equals the same-size output only in the
    # interior; at the image border the model must use edge replication, layer by layer.
    full = model(x)
    centre = model(x, same_size=False)
    r = model.config.receptive_radius
    torch.testing.assert_close(full[..., r:-r, r:-r], centre)
    constant = torch.full((1, 1, 16, 16), 0.3)
    out = model(constant)
    assert torch.allclose(out, out[0, 0, 0, 0].expand_as(out))  # no zero-padding artefacts


def test_paper_initialisation_is_gaussian_with_std_0_001():
    torch.manual_seed(0)
    model = SRCNN(SRCNNConfig.from_arch("9-5-5"))
    model.init_weights("paper")
    w = model.layers[1].weight
    assert abs(w.std().item() - 0.001) < 5e-5 and abs(w.mean().item()) < 5e-5
    assert all(torch.count_nonzero(c.bias) == 0 for c in model.layers)


def test_residual_adds_the_input():
    model = SRCNN(SRCNNConfig.from_arch("9-1-5", residual=True))
    for c in model.layers:
        torch.nn.init.zeros_(c.weight)
        torch.nn.init.zeros_(c.bias)
    x = torch.rand(1, 1, 20, 20)
    torch.testing.assert_close(model(x), x)
    torch.testing.assert_close(model(x, same_size=False), x[..., 6:-6, 6:-6])  # 9-1-5 sees 4 + 0 + 2 pixels


def test_bad_architectures_are_rejected():
    for arch in ["9-5", "9-4-5", "a-b-c"]:
        with pytest.raises(ValueError):
            parse_arch(arch)
    with pytest.raises(ValueError):
        SRCNNConfig((9, 5, 5), (64,))


def test_weights_round_trip_bit_exactly_through_safetensors(tmp_path):
    config = SRCNNConfig.from_arch("9-3-5", 32, 16, residual=True)
    model = SRCNN(config)
    model.init_weights("kaiming")
    path = tmp_path / "m.safetensors"
    save_model(model, path, scale=3, note="test")
    loaded, meta = load_model(path)
    assert loaded.config == config
    assert meta["scale"] == "3" and meta["arch"] == "9-3-5" and meta["note"] == "test"
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_weights_for_another_scale_or_not_ours_are_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "m.safetensors"
    save_model(SRCNN(), path, scale=2)
    with pytest.raises(SRCNNError, match="x2, not x3"):
        load_model(path, scale=3)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    with pytest.raises(SRCNNError, match="not an SRCNN weights file"):
        read_metadata(foreign)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(SRCNNError, match="not a safetensors"):
        load_model(garbage)
