import io
from pathlib import Path

import pytest
import torch

from cyclegan import __version__
from cyclegan.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    load_checkpoint,
    load_generator,
    new_checkpoint,
    save_checkpoint,
)
from cyclegan.models import ModelConfig, ResnetGenerator, init_weights
from cyclegan.train.recipe import ImagePool, get_rng_state

CFG = ModelConfig(ngf=4, ndf=4, n_blocks=1)


def generator(seed):
    torch.manual_seed(seed)
    g = ResnetGenerator(CFG, fused=False)
    init_weights(g)
    return g


def make_checkpoint(**extra):
    state = new_checkpoint(CFG, {"A": "summer", "B": "winter"})
    state.update(G_A2B=generator(0).state_dict(), G_B2A=generator(1).state_dict(), **extra)
    return state


def test_new_checkpoint_fields():
    state = new_checkpoint(CFG)
    assert state["format"] == "cyclegan-checkpoint" and state["version"] == __version__
    assert ModelConfig.from_dict(state["model_config"]) == CFG
    assert state["domains"] == {"A": "A", "B": "B"}


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "ckpt.pt"
    save_checkpoint(path, make_checkpoint(step=1))
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    # Item 7 of issue 13: a clear error that says the previous checkpoint survived.
    with pytest.raises(CheckpointWriteError, match=r"disk full.*previous ckpt\.pt is intact"):
        save_checkpoint(path, make_checkpoint(step=2))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]


def test_training_state_loads_with_weights_only(tmp_path):
    g = generator(0)
    opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 - e / 10)
    g(torch.rand(1, 3, 16, 16)).mean().backward()
    opt.step()
    sched.step()
    pool = ImagePool(2, seed=0)
    pool.query(torch.rand(3, 3, 8, 8))
    state = make_checkpoint(optim_G=opt.state_dict(), sched_G=sched.state_dict(), step=7,
                            epoch=1, batch=2, pools={"A": pool.state_dict()},
                            rng=get_rng_state(), finished=False,
                            train_config={"data": "x", "steps": None, "lr": 2e-4})
    path = tmp_path / "c.pt"
    save_checkpoint(path, state)
    loaded = torch.load(path, weights_only=True)  # the property we rely on
    assert loaded["step"] == 7 and loaded["pools"]["A"]["images"].shape == (2, 3, 8, 8)
    assert load_checkpoint(path)["optim_G"]["param_groups"][0]["lr"] == pytest.approx(1.8e-4)


@pytest.mark.parametrize("direction", ["A2B", "B2A"])
def test_load_generator_restores_weights_in_eval_mode(tmp_path, direction):
    save_checkpoint(tmp_path / "c.pt", make_checkpoint(step=3, epoch=2))
    model, meta = load_generator(tmp_path / "c.pt", direction=direction)
    ref = generator(0 if direction == "A2B" else 1).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
    assert not model.training and not model.fused
    assert meta == {"config": CFG.to_dict(), "version": __version__,
                    "domains": {"A": "summer", "B": "winter"}, "direction": direction,
                    "averaged": False, "step": 3, "epoch": 2}


def test_load_generator_missing_direction(tmp_path):
    state = new_checkpoint(CFG)
    state["G_A2B"] = generator(0).state_dict()
    save_checkpoint(tmp_path / "c.pt", state)
    with pytest.raises(CheckpointError, match="no B2A generator.*A2B"):
        load_generator(tmp_path / "c.pt", direction="B2A")
    with pytest.raises(ValueError, match="direction"):
        load_generator(tmp_path / "c.pt", direction="sideways")


def test_load_generator_mismatched_config(tmp_path):
    state = make_checkpoint()
    state["model_config"] = ModelConfig(ngf=8, n_blocks=1).to_dict()
    save_checkpoint(tmp_path / "c.pt", state)
    needs = r"has shape \(4, 3, 7, 7\), its model config needs \(8, 3, 7, 7\)"
    with pytest.raises(CheckpointError, match=needs):
        load_generator(tmp_path / "c.pt")


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)
    (tmp_path / "junk.pt").write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a cyclegan checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    torch.save({"model.1.weight": torch.zeros(1)}, tmp_path / "official.pth")
    with pytest.raises(CheckpointError, match="cyclegan-convert"):
        load_checkpoint(tmp_path / "official.pth")


def test_pickled_objects_are_refused(tmp_path):
    buf = io.BytesIO()
    torch.save({"format": "cyclegan-checkpoint", "obj": io.StringIO}, buf)
    (tmp_path / "evil.pt").write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "evil.pt")


def test_resolve_checkpoint_accepts_run_folders_and_files(tmp_path):
    from cyclegan.checkpoint import resolve_checkpoint

    latest = tmp_path / "run" / "checkpoints" / "latest.pt"
    latest.parent.mkdir(parents=True)
    latest.write_bytes(b"x")
    assert resolve_checkpoint(tmp_path / "run") == latest
    assert resolve_checkpoint(latest) == latest
    with pytest.raises(CheckpointError, match="without checkpoints/latest.pt"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no such run folder"):
        resolve_checkpoint(tmp_path / "missing.pt")


# Issue 30, item 9: a checkpoint with changed bytes was resumed and reported as divergence.

def test_changed_tensor_bytes_are_a_damaged_file_naming_it(tmp_path):
    from conftest import flip_tensor_bytes

    path = tmp_path / "c.pt"
    save_checkpoint(path, make_checkpoint(step=5))
    flip_tensor_bytes(path)
    # torch itself loads it: only the digest can tell (red without the check in
    # load_checkpoint, e.g. with `DIGEST in state and False`).
    assert torch.load(path, weights_only=True)["step"] == 5
    with pytest.raises(CheckpointError, match=r"c\.pt is a damaged file") as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)


def test_digest_covers_the_payload_and_survives_a_resave(tmp_path):
    from cyclegan.checkpoint import DIGEST, payload_digest

    state = make_checkpoint(step=5, rng={"python": [3, (1, 2), None], "torch": torch.ones(3)})
    save_checkpoint(tmp_path / "a.pt", state)
    loaded = load_checkpoint(tmp_path / "a.pt")
    assert loaded[DIGEST] == payload_digest(state) and DIGEST not in state
    save_checkpoint(tmp_path / "b.pt", loaded)  # a loaded state saves again, re-digested
    assert load_checkpoint(tmp_path / "b.pt")[DIGEST] == loaded[DIGEST]
    # Each part of the payload counts: a value, a key, a tensor's dtype or shape.
    for changed in ({**state, "step": 6}, {**state, "steps": 5},
                    {**state, "rng": {**state["rng"], "torch": torch.ones(3).double()}},
                    {**state, "rng": {**state["rng"], "torch": torch.ones(1, 3)}},
                    {**state, "rng": {**state["rng"], "python": [3, [1, 2], None]}}):
        assert payload_digest(changed) != payload_digest(state)


def test_checkpoints_without_a_digest_still_load(tmp_path):
    from cyclegan.checkpoint import DIGEST

    torch.save(make_checkpoint(step=5), tmp_path / "old.pt")  # as 0.1.0 wrote them
    assert DIGEST not in torch.load(tmp_path / "old.pt", weights_only=True)
    assert load_checkpoint(tmp_path / "old.pt")["step"] == 5
    fixture = Path(__file__).parent / "fixtures" / "v0_1_0" / "run" / "checkpoints" / "latest.pt"
    assert DIGEST not in load_checkpoint(fixture)  # tests/test_compat.py resumes it
