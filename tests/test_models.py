import pytest
import torch

from cyclegan import models
from cyclegan.contract import UPSAMPLING
from cyclegan.models import (
    N_DOWNSAMPLING,
    RESIZE_MODES,
    ModelConfig,
    PatchDiscriminator,
    ResnetGenerator,
    build_generator,
    count_parameters,
    init_weights,
)

from conftest import needs_ops, plain_and_fused

SMALL = ModelConfig(ngf=8, ndf=8, n_blocks=2)


def test_parameter_counts_match_the_official_networks():
    # Official resnet_9blocks / resnet_6blocks (ngf 64) and basic D (n_layers 3, ndf 64)
    # with instance norm: convolutions keep their biases.
    assert count_parameters(ResnetGenerator(ModelConfig(), fused=False)) == 11_378_179
    assert count_parameters(ResnetGenerator(ModelConfig(n_blocks=6), fused=False)) == 7_837_699
    assert count_parameters(PatchDiscriminator(ModelConfig())) == 2_764_737


@needs_ops
def test_state_dict_keys_are_identical_fused_and_plain():
    a = ResnetGenerator(ModelConfig(), fused=False).state_dict()
    b = ResnetGenerator(ModelConfig(), fused=True).state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in a)


def test_generator_shape_and_range():
    g = ResnetGenerator(SMALL, fused=False)
    init_weights(g)
    y = g(torch.rand(2, 3, 32, 48) * 2 - 1)
    assert y.shape == (2, 3, 32, 48)
    assert y.abs().max() <= 1


def test_generator_without_residual_blocks():
    g = ResnetGenerator(ModelConfig(ngf=4, n_blocks=0), fused=False)
    assert g(torch.zeros(1, 3, 8, 8)).shape == (1, 3, 8, 8)


@pytest.mark.parametrize("shape", [(1, 3, 30, 32), (1, 3, 32, 34), (1, 1, 32, 32),
                                   (3, 32, 32), (1, 3, 4, 4)])
def test_generator_rejects_bad_input_clearly(shape):
    with pytest.raises(ValueError, match="generator input"):
        ResnetGenerator(SMALL, fused=False)(torch.zeros(shape))


def grads_close(a, b, tol):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        scale = max(1.0, p.grad.abs().max().item())
        err = (p.grad - q.grad).abs().max().item()
        assert err <= tol * scale, f"{name}: gradient differs by {err} (scale {scale})"


@needs_ops
@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_generator_matches_plain(channels_last):
    plain, fused = plain_and_fused(SMALL)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    if channels_last:
        fused.to(memory_format=torch.channels_last)
        x_f = x.to(memory_format=torch.channels_last)
    else:
        x_f = x
    target = torch.rand(2, 3, 32, 32)
    y_p, y_f = plain(x), fused(x_f)
    torch.testing.assert_close(y_f, y_p, atol=1e-5, rtol=0)
    ((y_p - target) ** 2).mean().backward()
    ((y_f - target) ** 2).mean().backward()
    grads_close(plain, fused, 1e-4)


@needs_ops
def test_fused_generator_matches_plain_at_default_size():
    torch.manual_seed(0)
    plain = ResnetGenerator(ModelConfig(), fused=False)
    init_weights(plain)
    fused = ResnetGenerator(ModelConfig(), fused=True)
    fused.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(fused(x), plain(x), atol=1e-5, rtol=0)


def test_discriminator_is_a_70x70_patchgan():
    d = PatchDiscriminator(ModelConfig())
    init_weights(d)
    x = torch.randn(1, 3, 256, 256, requires_grad=True)
    y = d(x)
    assert y.shape == (1, 1, 30, 30)
    # Receptive field of one output: the input pixels its gradient reaches (instance norm,
    # being global over each plane, would reach all of them, so the probe runs without it).
    for i, m in enumerate(d.body):
        if isinstance(m, torch.nn.InstanceNorm2d):
            d.body[i] = torch.nn.Identity()
    d(x)[0, 0, 15, 15].backward()
    rows = x.grad[0].abs().sum(dim=(0, 2)).nonzero()
    cols = x.grad[0].abs().sum(dim=(0, 1)).nonzero()
    assert rows.max() - rows.min() + 1 == 70
    assert cols.max() - cols.min() + 1 == 70


def test_init_weights_normal_002_zero_bias():
    torch.manual_seed(0)
    g = ResnetGenerator(ModelConfig(), fused=False)
    init_weights(g)
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(w.std().item() - 0.02) < 5e-4
    assert abs(w.mean().item()) < 5e-4
    assert all(m.bias.abs().max() == 0 for m in g.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)))


def test_model_config_round_trip_and_validation():
    cfg = ModelConfig(ngf=32, n_blocks=6)
    assert ModelConfig.from_dict({**cfg.to_dict(), "unknown": 1}) == cfg
    with pytest.raises(ValueError, match="ngf"):
        ModelConfig(ngf=0)
    with pytest.raises(ValueError, match="n_blocks"):
        ModelConfig(n_blocks=-1)
    with pytest.raises(ValueError, match="upsample"):
        ModelConfig(upsample="pixelshuffle")
    with pytest.raises(ValueError, match="arch"):
        ModelConfig(arch="unet")


@needs_ops
@pytest.mark.parametrize("upsample", ["resize", "bilinear"])
def test_resize_upsampling_fused_matches_plain(upsample):
    cfg = ModelConfig(ngf=8, n_blocks=2, upsample=upsample)
    torch.manual_seed(0)
    plain = build_generator(cfg, fused=False)
    init_weights(plain)
    fused = build_generator(cfg, fused=True)
    fused.load_state_dict(plain.state_dict())
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in plain.modules())
    x = torch.rand(2, 3, 32, 40) * 2 - 1
    y_p, y_f = plain(x), fused(x)
    assert y_p.shape == x.shape
    torch.testing.assert_close(y_f, y_p, atol=1e-5, rtol=0)
    y_p.square().mean().backward()
    y_f.square().mean().backward()
    grads_close(plain, fused, 1e-4)


def test_upsampling_is_checkerboard_free_only_with_resize():
    # A transposed convolution with stride 2 gives even and odd output pixels different
    # kernels; with constant weights and a constant input that alone shows as a
    # period-2 pattern. Resize-convolution has no such parity.
    def parity_gap(kind):
        up = build_generator(ModelConfig(ngf=4, n_blocks=0, upsample=kind), fused=False).up[0]
        for p in up.parameters():
            torch.nn.init.constant_(p, 0.1)
        y = up(torch.ones(1, 16, 8, 8))[0, 0, 2:-2, 2:-2]
        return (y[0::2, 0::2].mean() - y[1::2, 1::2].mean()).abs().item()

    assert parity_gap("deconv") > 0.1
    assert parity_gap("resize") < 1e-6


def test_geometry_comes_from_the_architecture(monkeypatch):
    """The size rule is the network's: inputs must divide by 2 per downsampling, and the
    smallest one the rule admits runs while the next smaller multiple fails in the trunk."""
    cfg = ModelConfig(ngf=4, n_blocks=1)
    g = cfg.geometry
    assert (g.multiple, g.min_size) == (2**N_DOWNSAMPLING, 2 * 2**N_DOWNSAMPLING)
    gen = build_generator(cfg, fused=False).eval()
    with pytest.raises(ValueError, match=f"multiples of {g.multiple}"):
        gen(torch.zeros(1, 3, g.min_size + 1, g.min_size))
    with torch.no_grad():
        assert gen(torch.zeros(1, 3, g.min_size, g.min_size)).shape[-1] == g.min_size
        # Without the check, the next smaller size fails in the 1-pixel bottleneck.
        monkeypatch.setattr(models, "check_image_batch", lambda *a: None)
        small = g.min_size - g.multiple
        with pytest.raises((RuntimeError, ValueError), match="spatial|[Pp]adding"):
            gen(torch.zeros(1, 3, small, small))


@pytest.mark.parametrize("kind, mode", [("resize", "nearest"), ("bilinear", "bilinear")])
def test_upsampling_names_map_to_interpolation_modes(kind, mode):
    gen = build_generator(ModelConfig(ngf=4, n_blocks=0, upsample=kind), fused=False)
    assert [m.mode for m in gen.modules() if isinstance(m, torch.nn.Upsample)] == [mode] * 2
    assert set(RESIZE_MODES) == set(UPSAMPLING) - {"deconv"}
