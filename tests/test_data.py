import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan import data, images
from cyclegan.errors import CycleganError

from conftest import REAL_DATA, needs_real_data


def test_pil_tensor_round_trip():
    arr = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = data.from_pil(Image.fromarray(arr))
    assert t.shape == (3, 5, 7) and t.dtype == torch.float32
    assert t.min() >= -1 and t.max() <= 1
    assert torch.allclose(t, torch.from_numpy(arr).permute(2, 0, 1) / 127.5 - 1)
    assert (np.asarray(data.to_pil(t)) == arr).all()
    assert np.asarray(data.to_pil(t[None])).shape == (5, 7, 3)
    clipped = data.to_pil(torch.tensor([-5.0, 0.0, 5.0]).view(3, 1, 1))
    assert np.asarray(clipped).tolist() == [[[0, 128, 255]]]
    with pytest.raises(ValueError, match="3 x H x W"):
        data.to_pil(torch.zeros(4, 2, 2))


# --- folder dataset --------------------------------------------------------------------


def _layout(root, sizes=((40, 30), (50, 50), (7, 5)), domains=("trainA", "trainB")):
    rng = np.random.default_rng(0)
    for d in domains:
        (root / d).mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / d / f"img {i}:x.png")
    return root


def test_folder_dataset_shapes_and_range(tmp_path):
    root = _layout(tmp_path)
    for domain in "AB":
        ds = data.make_dataset(root, domain, image_size=16, load_size=20)
        assert len(ds) == 3
        for i in range(3):
            t = ds[i]
            assert t.shape == (3, 16, 16) and t.dtype == torch.float32
            assert t.min() >= -1 and t.max() <= 1


def test_small_image_upscaled(tmp_path):
    root = _layout(tmp_path, sizes=((3, 2),))
    assert data.make_dataset(root, "A", image_size=32, load_size=36)[0].shape == (3, 32, 32)
    assert data.make_dataset(root, "A", image_size=8, augment=False)[0].shape == (3, 8, 8)


def test_no_augment_is_plain_resize(tmp_path):
    root = _layout(tmp_path)
    ds = data.make_dataset(root, "A", image_size=12, load_size=99, augment=False)
    img = Image.open(ds.files[0]).convert("RGB").resize((12, 12), Image.Resampling.BICUBIC)
    assert torch.equal(ds[0], data.from_pil(img))


def test_augment_is_crop_of_resized_maybe_flipped(tmp_path):
    root = _layout(tmp_path)
    ds = data.make_dataset(root, "A", image_size=8, load_size=12)
    big = data.from_pil(
        Image.open(ds.files[1]).convert("RGB").resize((12, 12), Image.Resampling.BICUBIC)
    )
    candidates = [c for top in range(5) for left in range(5)
                  for c in (big[:, top:top + 8, left:left + 8],
                            big[:, top:top + 8, left:left + 8].flip(-1))]
    seen = set()
    torch.manual_seed(0)
    for _ in range(30):
        t = ds[1]
        match = [k for k, c in enumerate(candidates) if torch.equal(t, c)]
        assert match, "augmented item is not a crop of the resized image"
        seen.add(match[0])
    assert len(seen) > 5
    assert any(k % 2 for k in seen) and any(k % 2 == 0 for k in seen)


def test_augment_follows_torch_rng(tmp_path):
    ds = data.make_dataset(_layout(tmp_path), "A", image_size=8, load_size=12)
    torch.manual_seed(3)
    first = [ds[i] for i in range(3)]
    torch.manual_seed(3)
    assert all(torch.equal(a, ds[i]) for i, a in enumerate(first))


def test_corrupt_files_skipped_counted_warned_once(tmp_path):
    root = _layout(tmp_path)
    (root / "trainA" / "bad 1.jpg").write_bytes(b"")
    (root / "trainA" / "bad 2.png").write_text("not an image")
    ds = data.make_dataset(root, "A", image_size=8, load_size=8, augment=False)
    assert len(ds) == 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(len(ds)) for _ in range(2)]
    assert all(t.shape == (3, 8, 8) for t in items)
    assert sorted(p.name for p in ds.bad_files) == ["bad 1.jpg", "bad 2.png"]
    ours = [w for w in caught if issubclass(w.category, images.BadImageWarning)]
    assert len(ours) == 1 and "bad 1.jpg" in str(ours[0].message)
    # A bad item is replaced by the next good one (wrapping around).
    good = {i: ds[i] for i in range(len(ds)) if ds.files[i] not in ds.bad_files}
    for i, path in enumerate(ds.files):
        if path in ds.bad_files:
            nxt = next(j % len(ds) for j in range(i + 1, i + 1 + len(ds)) if j % len(ds) in good)
            assert torch.equal(ds[i], good[nxt])


def test_all_files_unreadable(tmp_path):
    (tmp_path / "trainA").mkdir()
    for i in range(3):
        (tmp_path / "trainA" / f"{i}.jpg").write_bytes(b"")
    ds = data.make_dataset(tmp_path, "A", image_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="no readable images .*trainA.*all 3 files"):
            ds[0]


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(ValueError, match="data folder not found.*trainA"):
        data.make_dataset(tmp_path / "absent", "A")
    with pytest.raises(ValueError,
                       match=r"domain folder not found: .*trainB.*train needs DIR/trainA"):
        data.make_dataset(_layout(tmp_path, domains=("trainA",)), "B")
    (tmp_path / "testA").mkdir()
    (tmp_path / "testA" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no images .* in .*testA.*test needs DIR/testA"):
        data.make_dataset(tmp_path, "A", split="test")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="domain"):
        data.make_dataset("builtin:seasons", "C")
    with pytest.raises(ValueError, match="split"):
        data.make_dataset("builtin:seasons", "A", split="val")
    with pytest.raises(ValueError, match="load_size"):
        data.make_dataset("builtin:seasons", "A", image_size=64, load_size=32)
    with pytest.raises(ValueError, match="builtin:seasons"):
        data.make_dataset("builtin:faces", "A")


def test_domain_names(tmp_path):
    assert data.domain_names("builtin:seasons") == {"A": "summer", "B": "winter"}
    # A folder's name is not guessed at: "h2z" is not "h" and "z" (issue 22).
    assert data.domain_names(tmp_path / "h2z") == {"A": "A", "B": "B"}
    assert data.domain_names("/x/summer2winter_yosemite") == {"A": "A", "B": "B"}
    assert data.domain_names(tmp_path / "h2z", "horse, zebra") == {"A": "horse", "B": "zebra"}
    with pytest.raises(CycleganError, match="two names"):
        data.domain_names(tmp_path, "horse")


def test_missing_folder_error_names_only_what_the_split_needs(tmp_path):
    (tmp_path / "trainA").mkdir()
    with pytest.raises(data.DataError) as err:
        data.make_dataset(tmp_path, "B", "train")
    assert "trainB" in str(err.value) and "testA" not in str(err.value)


# --- built-in seasons ------------------------------------------------------------------


def test_seasons_pairs_shapes_and_determinism():
    summer, winter = data.seasons_pairs(3, 32, seed=5)
    assert summer.shape == winter.shape == (3, 3, 32, 32)
    assert summer.dtype == torch.float32
    assert summer.min() >= -1 and winter.max() <= 1
    again = data.seasons_pairs(3, 32, seed=5)
    assert torch.equal(summer, again[0]) and torch.equal(winter, again[1])
    assert torch.equal(summer[1:], data.seasons_pairs(2, 32, seed=6)[0])
    assert (summer[0] - summer[1]).abs().mean() > 0.05


def test_builtin_domains_unpaired_train_paired_test():
    a = data.make_dataset("builtin:seasons", "A", image_size=24, augment=False)
    b = data.make_dataset("builtin:seasons", "B", image_size=24, augment=False)
    assert len(a) == len(b) == 1000
    summer, _ = data.seasons_pairs(1, 24, seed=0)
    _, winter = data.seasons_pairs(1, 24, seed=1_000_000)
    assert torch.equal(a[0], summer[0]) and torch.equal(b[0], winter[0])
    ta = data.make_dataset("builtin:seasons", "A", "test", image_size=24, augment=False)
    tb = data.make_dataset("builtin:seasons", "B", "test", image_size=24, augment=False)
    assert len(ta) == 100
    s, w = data.seasons_pairs(2, 24, seed=2_000_000)
    assert torch.equal(ta[1], s[1]) and torch.equal(tb[1], w[1])
    assert len(data.make_dataset("builtin:seasons", "A", length=7)) == 7
    with pytest.raises(IndexError):
        a[1000]


def test_builtin_flip_follows_torch_rng():
    ds = data.make_dataset("builtin:seasons", "A", image_size=16)
    plain = data.seasons_pairs(1, 16, seed=2)[0][0]
    torch.manual_seed(0)
    outs = [ds[2] for _ in range(20)]
    assert all(torch.equal(o, plain) or torch.equal(o, plain.flip(-1)) for o in outs)
    assert any(torch.equal(o, plain) for o in outs) and any(
        torch.equal(o, plain.flip(-1)) for o in outs
    )
    torch.manual_seed(0)
    assert all(torch.equal(o, ds[2]) for o in outs)


# --- real photos -----------------------------------------------------------------------


@needs_real_data
def test_real_photo_folder():
    files = images.list_images(REAL_DATA / "trainA")
    assert len(files) > 0 and any(":" in p.name and " " in p.name for p in files)
    for domain in "AB":
        ds = data.make_dataset(REAL_DATA, domain, "test", image_size=64, load_size=72)
        t = ds[0]
        assert t.shape == (3, 64, 64) and -1 <= t.min() and t.max() <= 1 and t.std() > 0.05
        assert not ds.bad_files
