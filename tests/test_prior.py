"""--arch resnet-prior: frozen EfficientNet-Lite0 features of the input joined at the trunk,
trained around, exported into the same self-contained ONNX file, run by cyclegan-infer."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from cyclegan import backbone
from cyclegan.checkpoint import new_checkpoint, save_checkpoint
from cyclegan.cli.export import main as export_main
from cyclegan.contract import Geometry
from cyclegan.errors import TrainError
from cyclegan.models import ModelConfig, build_generator, init_weights
from cyclegan.train.config import TrainConfig

from conftest import needs_backbone, needs_ops, plain_and_fused

CFG = ModelConfig(ngf=8, n_blocks=2, arch="resnet-prior", upsample="bilinear")

pytestmark = needs_backbone


def test_the_prior_is_the_backbones_front():
    g = build_generator(CFG, fused=False)
    x = torch.rand(2, 3, 64, 96) * 2 - 1
    with torch.no_grad():
        s8, s16 = g.prior_join.prior(x)
        want = backbone.load("cpu")(x, ("s8", "s16"))
    assert s8.shape == (2, 40, 8, 12) and s16.shape == (2, 112, 4, 6)
    torch.testing.assert_close(s8, want["s8"], rtol=0, atol=0)
    torch.testing.assert_close(s16, want["s16"], rtol=0, atol=0)


def test_init_and_training_leave_the_prior_as_pretrained():
    torch.manual_seed(0)
    g = build_generator(CFG, fused=False)
    pretrained = {k: v.clone() for k, v in g.prior_join.prior.state_dict().items()}
    init_weights(g)
    g.train()
    assert not g.prior_join.prior.training  # batch norm keeps its ImageNet statistics
    opt = torch.optim.Adam(g.parameters(), lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        g(torch.rand(2, 3, 32, 32) * 2 - 1).square().mean().backward()
        opt.step()
    for k, v in g.prior_join.prior.state_dict().items():
        assert torch.equal(v, pretrained[k]), k
    assert g.prior_join.mix.weight.grad.abs().sum() > 0  # the join itself is trained
    assert all(p.grad is None for p in g.prior_join.prior.parameters())


@needs_ops
def test_fused_and_plain_agree():
    plain, fused = plain_and_fused(CFG)
    x = torch.rand(2, 3, 48, 64) * 2 - 1
    torch.testing.assert_close(fused(x), plain(x), rtol=1e-4, atol=1e-5)


def test_sizes_divide_by_16():
    assert CFG.geometry == Geometry(multiple=16, min_size=32)
    with pytest.raises(TrainError, match="--image-size 40"):
        TrainConfig(arch="resnet-prior", image_size=40).resolved()
    TrainConfig(arch="resnet-prior", image_size=112).resolved()


def test_export_is_self_contained_and_cyclegan_infer_runs_it(tmp_path):
    from PIL import Image

    from cyclegan.cli.infer import main as infer_main

    torch.manual_seed(0)
    gens = {}
    state = new_checkpoint(CFG, {"A": "summer", "B": "winter"})
    for d in ("A2B", "B2A"):
        g = build_generator(CFG, fused=False)
        init_weights(g)
        gens[d] = g.eval()
        state[f"G_{d}"] = g.state_dict()
    save_checkpoint(tmp_path / "prior.pt", state)
    assert export_main([str(tmp_path / "prior.pt"), "--out", str(tmp_path / "onnx"),
                        "--quiet"]) == 0
    path = tmp_path / "onnx" / "G_A2B.onnx"
    # The prior's 0.7 M frozen weights travel inside the file (2.8 MB in float32).
    assert path.stat().st_size > 2.8e6
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 48, 80)).astype(np.float32)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]
    with torch.no_grad():
        want = gens["A2B"](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (50, 70, 3), np.uint8)).save(
        photos / "a photo.png")
    # 50 x 70: padded to 64 x 80 by the size rule the file records, cropped back.
    assert infer_main([str(photos), str(tmp_path / "out"), "--model", str(path),
                       "--quiet"]) == 0
    with Image.open(tmp_path / "out" / "a photo.png") as im:
        assert im.size == (70, 50)
