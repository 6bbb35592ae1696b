"""The full-resolution step (cyclegan.infer.detail): the texture mode's enlargement against
torch's bilinear interpolation, and what each mode makes of a change the colour grid can
and cannot carry."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cyclegan.infer import detail
from cyclegan.translator import Translator

RNG = np.random.default_rng(11)
WORK = 16


@pytest.mark.parametrize("small, full", [((7, 5), (600, 37)), ((16, 21), (64, 84)),
                                         ((1, 3), (9, 10))])
def test_add_enlarged_is_bilinear_interpolation(small, full):
    """Against F.interpolate(bilinear, align_corners=False) in float64: the same pixel-centre
    alignment and clamped edges. 600 rows cross two band boundaries."""
    residual = RNG.normal(0, 40, (*small, 3)).astype(np.float32)
    out = RNG.integers(0, 256, (*full, 3), dtype=np.uint8)
    up = F.interpolate(torch.from_numpy(residual).double().permute(2, 0, 1)[None], size=full,
                       mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
    want = np.clip(np.rint(out + up), 0, 255)
    got = out.copy()
    detail.add_enlarged(got, residual)
    diff = np.abs(got.astype(int) - want)
    assert diff.max() <= 1  # float32 against float64 at a rounding boundary
    assert (diff == 0).mean() > 0.99


def landscape(h=64, w=64):
    """A smooth green field with a little noise, as uint8 H x W x 3."""
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    arr = np.stack([60 + 30 * xx, 130 + 40 * yy, 50 + 20 * xx * yy], -1)
    return np.clip(arr + RNG.normal(0, 2, (h, w, 3)), 0, 255).astype(np.uint8)


def translate(generator, photo, mode):
    return Translator.around(generator, work_size=WORK, detail=mode)(photo)


def test_a_colour_change_comes_out_the_same_with_texture_as_guided():
    """A generator whose change is a colour map (what the grid carries) leaves nothing for
    the texture step to add: texture equals guided up to the fit's rounding."""
    def cooler(x):  # a colour grade in [-1, 1]
        return np.clip(x * np.array([0.8, 0.9, 1.1], np.float32)[:, None, None] + 0.1, -1, 1)
    photo = landscape()
    assert np.abs(translate(cooler, photo, "texture").astype(int)
                  - translate(cooler, photo, "guided")).max() <= 2


def test_texture_carries_snow_painted_on_a_uniform_field_that_guided_loses():
    """The generator paints a white patch on part of the field: no colour map of the field
    gives white there and green around it, so guided loses most of it (and spreads a
    little of it over the field); texture brings it to full size and leaves the rest of
    the field as the generator left it, untouched."""
    def snow(x):
        y = x.copy()
        y[:, :, 4:12, 4:12] = 1.0  # working-scale pixels: full-size rows/columns 16-48
        return y
    photo = landscape()
    guided, texture = (translate(snow, photo, m).astype(int) for m in ("guided", "texture"))
    inside, outside = (slice(24, 40), slice(24, 40)), (slice(56, 64), slice(0, 64))
    assert texture[inside].min() >= 235
    assert guided[inside].mean() < 200  # what the planted change would look like without it
    assert np.abs(texture[outside] - photo[outside]).mean() <= 3  # noise scaled by the fit


def test_texture_keeps_the_photos_fine_detail():
    """An identity generator: texture gives back the photo, its detail finer than the
    working scale included (resize would blur it away)."""
    photo = RNG.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    same = translate(lambda x: x, photo, "texture").astype(int)
    assert np.abs(same - photo).max() <= 2
    assert np.abs(translate(lambda x: x, photo, "resize").astype(int) - photo).mean() > 20


def test_unknown_detail_is_a_value_error():
    with pytest.raises(ValueError, match="guided, resize, texture"):
        translate(lambda x: x, landscape(), "sharp")
