"""The CPU inference convolutions (models.cpu_conv): column grouping gives the plain convolution's
values, and where inference groups (bf16; float32 too over a one-channel input, the bicubic's) a
column's value does not depend on where in its group it falls."""

import pytest
import torch
import torch.nn.functional as F

from srcnn.models import cpu_conv
from srcnn.models.upsample import BicubicUpsample, pixel_shuffle


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("inputs, outputs, size", [(56, 4, 3), (12, 4, 3)])  # FSRCNN x2's two last layers
@pytest.mark.parametrize("width", [29, 32, 35])
def test_a_column_grouped_convolution_gives_the_plain_convolutions_values(dtype, inputs, outputs, size, width):
    torch.manual_seed(0)
    group = cpu_conv.column_group(outputs)
    assert group == 4
    weight, bias = torch.randn(outputs, inputs, size, size), torch.randn(outputs)
    x = torch.rand(1, inputs, 17, width + size - 1).to(dtype).contiguous(memory_format=torch.channels_last)
    plain = F.conv2d(x.float(), weight, bias)
    extra = -(width) % group
    padded = F.pad(x.float(), (0, extra + 1, 0, 0), mode="replicate")[..., : x.shape[-1] + extra].to(dtype)
    padded = padded.contiguous(memory_format=torch.channels_last)
    grouped = cpu_conv.conv(padded, cpu_conv.column_grouped(weight, group).to(dtype), bias.repeat(group).to(dtype),
                            column_stride=group)
    got = cpu_conv.ungroup_columns(grouped, group, width)
    assert got.shape == plain.shape
    tolerance = 1e-4 if dtype == torch.float32 else 0.05
    assert (got.float() - plain).abs().max() <= tolerance * plain.abs().max()
    if dtype != torch.bfloat16:
        return
    # shifted by one column, every column lands on another place in its group: the same values, bit for bit
    shifted = cpu_conv.ungroup_columns(cpu_conv.conv(padded[..., 1:].contiguous(memory_format=torch.channels_last),
                                                     cpu_conv.column_grouped(weight, group).to(dtype),
                                                     bias.repeat(group).to(dtype), column_stride=group),
                                       group, width - group)
    assert torch.equal(shifted, got[..., 1 : width - group + 1])


def test_layers_with_a_full_block_of_outputs_are_not_grouped():
    assert [cpu_conv.column_group(n) for n in (1, 2, 4, 8, 9, 12, 16, 32)] == [16, 8, 4, 2, 1, 1, 1, 1]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_bicubic_layer_gives_the_same_values_through_either_convolution(scale):
    """At inference on the CPU, oneDNN's fused op; with autograd on, F.conv2d."""
    layer = BicubicUpsample(scale)
    x = torch.rand(2, 1, 13, 23)
    fast = layer(x)
    slow = layer(x.clone().requires_grad_(True)).detach()
    assert fast.shape == (2, 1, 13 * scale, 23 * scale)
    assert (fast - slow).abs().max() <= 1e-6
    assert torch.equal(pixel_shuffle(layer.phases(x), scale), fast)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_x2_bicubic_runs_column_grouped_and_a_crop_gives_the_whole_planes_values_bit_for_bit(dtype, monkeypatch):
    """x2's 4 phases (the FSRCNN skip, video chroma) run 4 columns to a block at inference, float32
    included: over one channel's taps a sum does not depend on its column, so bands and tiles stay
    bit-identical to the whole image."""
    strides = []
    conv = cpu_conv.conv
    monkeypatch.setattr(cpu_conv, "conv", lambda *a, **k: strides.append(k.get("column_stride", 1)) or conv(*a, **k))
    layer = BicubicUpsample(2)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(12):
            h, w = (int(v) for v in torch.randint(9, 90, (2,), generator=generator))
            x = torch.rand(1, 1, h, w, generator=generator).to(dtype)
            whole = layer.phases(x)
            t0, l0 = (int(v) for v in torch.randint(0, 4, (2,), generator=generator))
            b0, r0 = h - int(torch.randint(0, 4, (1,), generator=generator)), w - int(torch.randint(0, 5, (1,),
                                                                                                   generator=generator))
            crop = layer.phases(x[..., t0:b0, l0:r0])
            r = 2  # the bicubic's reach: past it the crop's border rule no longer matters
            assert torch.equal(crop[..., r:-r, r:-r], whole[..., t0 + r : b0 - r, l0 + r : r0 - r])
        exact = F.conv2d(F.pad(x.float(), (2, 2, 2, 2), mode="replicate"), layer.kernel.float())  # interior alike
        assert (layer.phases(x.float())[..., 2:-2, 2:-2] - exact[..., 2:-2, 2:-2]).abs().max() <= 1e-6
    assert set(strides) == {4}
    strides.clear()
    layer.phases(torch.rand(1, 1, 9, 9))  # autograd on (training): the plain layer
    assert set(strides) == {1}


def test_srcnns_reconstruction_layer_runs_grouped_in_bf16_inference_with_the_same_values(monkeypatch):
    """The 9-5-5's one-channel last layer: 16 columns to a block in bf16 inference on the CPU, never
    while training (autograd) or in float32 (tiles)."""
    import srcnn.models.srcnn as srcnn_module
    from srcnn.models import SRCNN

    torch.manual_seed(0)
    model = SRCNN().eval()
    x = torch.rand(1, 1, 37, 45)
    last = model.layers[-1]
    assert srcnn_module._column_group(last, x.bfloat16()) == 1  # autograd on: training
    with torch.no_grad():
        assert srcnn_module._column_group(last, x) == 1  # float32
        bf16 = model.to(torch.bfloat16)
        assert srcnn_module._column_group(last, x.bfloat16()) == 16
        grouped = bf16(x)
        monkeypatch.setattr(srcnn_module, "_column_group", lambda conv, x: 1)
        plain = bf16(x)
    assert grouped.shape == plain.shape == x.shape
    assert (grouped - plain).abs().max() <= 2**-7 * plain.abs().max()


def test_bf16_without_native_support_takes_atens_path_with_the_same_values(monkeypatch):
    """On a CPU without native bf16 (AVX2 only) oneDNN refuses bf16 convolutions; ``conv`` must then
    run them through ATen, fused ReLU and column stride included. Forced here on any machine."""
    torch.manual_seed(0)
    x = torch.rand(1, 12, 9, 20).bfloat16().contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(8, 12, 3, 3).bfloat16(), torch.randn(8).bfloat16()
    monkeypatch.setattr(cpu_conv, "_FUSED_DTYPES", (torch.float32,))
    for relu, stride in ((False, 1), (True, 1), (False, 2)):
        want = F.conv2d(x, weight, bias, stride=(1, stride))
        want = want.relu() if relu else want
        assert torch.equal(cpu_conv.conv(x, weight, bias, relu=relu, column_stride=stride), want)
