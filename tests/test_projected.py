"""The projected discriminator: its augmentation, its fixed random mixing, its heads."""

import torch

from cyclegan import backbone
from cyclegan.models import ModelConfig, ResnetGenerator
from cyclegan.projected import CUTOUT, LEVELS, TRANSLATE, ProjectedDiscriminator, augment
from cyclegan.train.recipe import Discriminators, Generators, ImagePool, LossWeights, train_step

from conftest import needs_backbone


def test_augment_is_one_shift_and_one_hole_per_sample():
    torch.manual_seed(0)
    n, h, w = 16, 24, 32
    # Every pixel distinct and non-zero, identical in the three channels.
    x = (torch.arange(h * w, dtype=torch.float32) + 1).view(1, 1, h, w).repeat(n, 3, 1, 1)
    out = augment(x)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    holes = 0
    for y in out[:, 0]:
        kept = y != 0
        ys, xs = torch.nonzero(kept, as_tuple=True)
        src = y[kept].long() - 1  # where each kept value came from
        dy, dx = ys - src // w, xs - src % w
        # One translation for the whole image, within the bounds.
        assert (dy == dy[0]).all() and (dx == dx[0]).all()
        assert abs(int(dy[0])) <= h * TRANSLATE and abs(int(dx[0])) <= w * TRANSLATE
        # Everything the shift keeps inside is there, except one axis-aligned rectangle.
        inside = torch.zeros(h, w, dtype=torch.bool)
        inside[max(0, int(dy[0])):h + min(0, int(dy[0])),
               max(0, int(dx[0])):w + min(0, int(dx[0]))] = True
        missing = inside & ~kept
        if missing.any():
            holes += 1
            r, c = torch.nonzero(missing, as_tuple=True)
            box = missing[r.min():r.max() + 1, c.min():c.max() + 1]
            assert box.all(), "the cut-out region is not one rectangle"
            assert box.shape[0] <= round(h * CUTOUT) and box.shape[1] <= round(w * CUTOUT)
    assert holes >= n // 2  # a hole is clipped away entirely only near the borders


def test_augment_passes_gradients():
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    augment(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}  # a copy or a zero, never a blend


@needs_backbone
def test_levels_and_shapes():
    d = ProjectedDiscriminator(64, seed=0)
    out = d(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert len(out) == len(LEVELS)
    for logits in out:
        assert logits.shape[:2] == (2, 1) and logits.shape[-1] <= 4
    names = set(d.state_dict())
    assert not any(k.startswith("net.") or "_blocks" in k for k in names), \
        "the frozen backbone must not be saved with the discriminator"


@needs_backbone
def test_same_seed_same_mixing_and_state_round_trip():
    a, b = ProjectedDiscriminator(64, seed=3), ProjectedDiscriminator(64, seed=3)
    c = ProjectedDiscriminator(64, seed=4)
    assert torch.equal(a.ccm["s8"].weight, b.ccm["s8"].weight)
    assert not torch.equal(a.ccm["s8"].weight, c.ccm["s8"].weight)
    c.load_state_dict(a.state_dict())
    for m in (a, c):
        m.augmentation = False
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        for u, v in zip(a(x), c(x)):
            torch.testing.assert_close(u, v, rtol=0, atol=0)


@needs_backbone
def test_a_step_trains_the_heads_and_nothing_else():
    torch.manual_seed(0)
    cfg = ModelConfig(ngf=4, n_blocks=1)
    G = Generators(ResnetGenerator(cfg, fused=False), ResnetGenerator(cfg, fused=False))
    D = Discriminators({"projected": ProjectedDiscriminator(32, seed=0)},
                       {"projected": ProjectedDiscriminator(32, seed=1)})
    before = {k: v.clone() for k, v in D.state_dict().items()}
    frozen = backbone.load("cpu").state_dict()
    frozen = {k: v.clone() for k, v in frozen.items()}
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-2)
    opt_D = torch.optim.Adam(D.trainable, lr=1e-2)
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    losses = train_step(G, D, opt_G, opt_D, (ImagePool(0), ImagePool(0)), a, b,
                        LossWeights(10.0, 0.5, 2.0))
    assert set(losses) == {"G", "Gproj_A2B", "Gproj_B2A", "cyc_A", "cyc_B", "idt_A", "idt_B",
                           "Dproj_A", "Dproj_B"}
    after = D.state_dict()
    for k, v in before.items():
        moved = not torch.equal(v, after[k])
        if ".ccm." in "." + k or ".csm." in "." + k:
            assert not moved, f"fixed mixing {k} was trained"
        elif k.endswith("weight.original"):
            assert moved, f"head weight {k} was not trained"
    for k, v in backbone.load("cpu").state_dict().items():
        assert torch.equal(v, frozen[k]), f"the backbone changed: {k}"
    # Every trainable parameter of the discriminators is a head parameter, and the
    # generators' gradient came through the frozen backbone.
    assert all(p.requires_grad for p in D.trainable)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
