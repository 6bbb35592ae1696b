"""The bad-input corpus: every console command, run as a user runs it, on inputs that must
fail cleanly (issue 13). For each case: no traceback, the documented exit status, a one-line
message naming the file and the problem, no partial or temp file left, and no input changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import resource
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from PIL import Image

from cyclegan.checkpoint import new_checkpoint, save_checkpoint
from cyclegan.export.to_onnx import export_generator
from cyclegan.fileio import exclusive_lock, is_temp
from cyclegan.infer.failures import read_failures
from cyclegan.infer.planning import lock_path
from cyclegan.models import ModelConfig, build_generator
from cyclegan.train.config import TrainConfig
from cyclegan.train.loop import train

from conftest import flip_tensor_bytes, run_cli, write_png16

CFG = ModelConfig(ngf=4, ndf=4, n_blocks=1)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
TRAIN = ("--data", "builtin:seasons", "--image-size", "32", "--ngf", "4", "--ndf", "4",
         "--n-blocks", "1", "--workers", "0", "--quiet", "--device", "cpu", "--no-fused")
EVAL = ("--data", "builtin:seasons", "--image-size", "32", "--max-images", "2",
        "--classifier-steps", "1", "--classifier-images", "4", "--cache-dir", "",
        "--device", "cpu", "--quiet")


def picture(path: Path, w: int = 32, h: int = 32) -> Path:
    yy, xx = np.mgrid[:h, :w]
    arr = np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) * 127 // (w + h - 2)],
                   -1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "RGB").save(path)
    return path


def png_claiming(w: int, h: int) -> bytes:
    """A small PNG whose header claims w x h pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(1024))) + chunk(b"IEND", b""))


def onnx_model(path: Path, nodes, inputs, outputs, inits=()) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def image_io(name: str, elem=TensorProto.FLOAT, channels=3):
    return helper.make_tensor_value_info(name, elem, ["N", channels, "H", "W"])


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Every model, checkpoint and run folder the cases use, made once."""
    root = tmp_path_factory.mktemp("world")
    w: dict[str, Path] = {"root": root}
    torch.manual_seed(0)
    gens = {d: build_generator(CFG, fused=False).eval() for d in ("A2B", "B2A")}
    good = new_checkpoint(CFG)
    good.update({f"G_{d}": g.state_dict() for d, g in gens.items()})

    def ckpt(name: str, **changes) -> Path:
        state = {**good, **changes}
        for key in [k for k, v in changes.items() if v is None]:
            del state[key]
        save_checkpoint(root / name, state)
        return root / name

    w["ckpt"] = ckpt("good.pt")
    w["flipped"] = ckpt("flipped.pt")
    flip_tensor_bytes(w["flipped"])
    w["config_list"] = ckpt("config_list.pt", model_config=[4, 4, 1])
    w["config_type"] = ckpt("config_type.pt", model_config={**CFG.to_dict(), "ngf": "4"})
    w["weights_list"] = ckpt("weights_list.pt", G_A2B=list(good["G_A2B"].values()))
    wrong = build_generator(dataclasses.replace(CFG, ngf=8), fused=False).state_dict()
    w["wrong_shapes"] = ckpt("wrong_shapes.pt", G_A2B=wrong)
    w["huge_ngf"] = ckpt("huge_ngf.pt", model_config={**CFG.to_dict(), "ngf": 1 << 20})
    w["huge_blocks"] = ckpt("huge_blocks.pt",
                            model_config={**CFG.to_dict(), "n_blocks": 10_000_000})
    w["no_b2a"] = ckpt("no_b2a.pt", G_B2A=None)
    w["train_cfg_str"] = ckpt("train_cfg_str.pt", train_config="builtin:seasons")
    nan = {k: torch.full_like(v, float("nan")) for k, v in good["G_A2B"].items()}
    w["nan"] = ckpt("nan.pt", G_A2B=nan, G_B2A=nan,
                    train_config={"data": "builtin:seasons", "image_size": 32})
    marker = root / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    w["marker"] = marker
    w["evil"] = root / "evil.pt"
    torch.save({"format": "cyclegan-checkpoint", "x": Evil()}, w["evil"])
    (root / "junk.onnx").write_bytes(b"not an onnx model")
    w["junk_onnx"] = root / "junk.onnx"
    data, _ = export_generator(gens["A2B"], {"config": CFG.to_dict()}, "A2B")
    w["onnx"] = root / "G_A2B.onnx"
    w["onnx"].write_bytes(data)
    x, y = image_io("input"), image_io("output")
    starts = helper.make_tensor("s", TensorProto.INT64, [2], [0, 0])
    ends = helper.make_tensor("e", TensorProto.INT64, [2], [1 << 30, 1 << 30])
    axes = helper.make_tensor("a", TensorProto.INT64, [2], [2, 3])
    steps = helper.make_tensor("t", TensorProto.INT64, [2], [2, 2])
    w["half"] = onnx_model(root / "half.onnx",
                           [helper.make_node("Slice", ["input", "s", "e", "a", "t"], ["output"])],
                           [x], [y], [starts, ends, axes, steps])
    nan_c = helper.make_tensor("nan", TensorProto.FLOAT, [], [float("nan")])
    w["nan_onnx"] = onnx_model(root / "nan.onnx",
                               [helper.make_node("Mul", ["input", "nan"], ["output"])],
                               [x], [y], [nan_c])
    w["int64"] = onnx_model(root / "int64.onnx",
                            [helper.make_node("Cast", ["input"], ["output"], to=1)],
                            [image_io("input", TensorProto.INT64)], [y])
    w["gray"] = onnx_model(root / "gray.onnx",
                           [helper.make_node("ReduceMean", ["input"], ["output"], axes=[1])],
                           [x], [image_io("output", channels=1)])
    # A finished two-step run to resume, made in process (cheaper than a subprocess).
    run = root / "run"
    train(TrainConfig(data="builtin:seasons", out=str(run), image_size=32, ngf=4, ndf=4,
                      n_blocks=1, steps=2, log_every=1, workers=0, quiet=True, device="cpu",
                      fused=False, epochs=1, decay_epochs=0))
    w["run"] = run
    return w


def checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def assert_clean(r: subprocess.CompletedProcess, code: int, message: str, inputs: Path,
                 before: dict, out: Path | None = None) -> None:
    """The checks every case shares; `message` is a regex the error line must match."""
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == code, (r.returncode, r.stderr, r.stdout)
    if code == 2:
        errors = [line for line in r.stderr.splitlines() if ": error: " in line]
        assert len(errors) == 1, r.stderr
        assert re.search(message, errors[0]), errors[0]
    assert checksums(inputs) == before, "an input file changed"
    # The inputs and the folder the outputs go in: not inputs.parent, which for the shared
    # `world` is pytest's base folder, holding other tests' files (a deliberately live temp).
    roots = {inputs, out.parent if out else inputs.parent}
    leftovers = [p for root in roots for p in root.rglob("*")
                 if is_temp(p) or p.suffix == ".lock"]
    assert not leftovers, leftovers
    for p in (out.rglob("*") if out and out.is_dir() else []):
        if p.suffix in (".png", ".jpg"):
            with Image.open(p) as img:
                img.load()  # complete, never partial


# ---- cyclegan-infer -------------------------------------------------------------------

@pytest.fixture
def photos(tmp_path) -> Path:
    src = tmp_path / "in"
    picture(src / "x.png")
    picture(src / "y.jpg")
    return src


INFER_USAGE = [
    # (id, argv builder (world, src, tmp) -> args, message regex); all exit 2, nothing written
    ("output-is-input", lambda w, s, t: [s / "x.png", s / "x.png", "--overwrite"],
     r"output .*x\.png is an input file"),
    ("output-is-input-via-dotdot", lambda w, s, t: [s / "x.png", s / ".." / "in" / "x.png"],
     r"x\.png is an input file"),
    ("output-is-input-via-symlink", lambda w, s, t: [s / "x.png", t / "link.png", "--overwrite"],
     r"link\.png is an input file"),
    ("single-input-into-its-folder", lambda w, s, t: [s / "x.png", s, "--overwrite"],
     r"x\.png is an input file"),
    ("output-folder-is-input", lambda w, s, t: [s, s / "."], r"is the input folder"),
    ("gif-output-name", lambda w, s, t: [s / "x.png", t / "y.gif"], r"y\.gif: cannot write"),
    ("format-contradicts-name", lambda w, s, t: [s / "x.png", t / "y.png", "--format", "jpg"],
     r"y\.png names a png file, but --format is jpg"),
    ("direction-not-in-onnx", lambda w, s, t: [s, t / "o", "--direction", "B2A"],
     r"G_A2B\.onnx holds the A2B generator"),
    ("int64-input-model", lambda w, s, t: [s, t / "o", "--model", w["int64"]],
     r"int64\.onnx: expected a float32 or float16 input"),
    ("one-channel-output-model", lambda w, s, t: [s, t / "o", "--model", w["gray"]],
     r"gray\.onnx: expected an N x 3 x H x W image output"),
    ("junk-onnx", lambda w, s, t: [s, t / "o", "--model", w["junk_onnx"]],
     r"junk\.onnx as an ONNX model"),
    ("missing-model", lambda w, s, t: [s, t / "o", "--model", t / "nope.onnx"],
     r"model not found: .*nope\.onnx"),
    ("missing-input", lambda w, s, t: [t / "absent", t / "o"], r"input not found: .*absent"),
    ("bad-shard", lambda w, s, t: [s, t / "o", "--shard", "2/2"], r"--shard i/n needs"),
    ("pickle-that-runs-code", lambda w, s, t: [s, t / "o", "--model", w["evil"]],
     r"evil\.pt is not a readable cyclegan checkpoint"),
    ("model-config-not-a-dict", lambda w, s, t: [s, t / "o", "--model", w["config_list"]],
     r"config_list\.pt is a damaged cyclegan checkpoint: model_config is a list"),
    ("model-config-wrong-type", lambda w, s, t: [s, t / "o", "--model", w["config_type"]],
     r"config_type\.pt has a damaged model_config: .*ngf"),
    ("state-dict-is-a-list", lambda w, s, t: [s, t / "o", "--model", w["weights_list"]],
     r"weights_list\.pt: G_A2B is a list, not a state dict"),
    ("wrong-tensor-shapes", lambda w, s, t: [s, t / "o", "--model", w["wrong_shapes"]],
     r"wrong_shapes\.pt: G_A2B\[.*\] has shape"),
    ("huge-ngf", lambda w, s, t: [s, t / "o", "--model", w["huge_ngf"]],
     r"huge_ngf\.pt: G_A2B\[.*\] has shape"),
    ("huge-n-blocks", lambda w, s, t: [s, t / "o", "--model", w["huge_blocks"]],
     r"huge_blocks\.pt: G_A2B holds \d+ tensors, too few"),
    ("missing-generator", lambda w, s, t: [s, t / "o", "--model", w["no_b2a"], "--direction",
                                           "B2A"], r"no_b2a\.pt has no B2A generator"),
]


@pytest.mark.parametrize("case", INFER_USAGE, ids=[c[0] for c in INFER_USAGE])
def test_infer_refuses_before_any_work(world, photos, tmp_path, case):
    _, argv, message = case
    (tmp_path / "link.png").symlink_to(photos / "x.png")
    before = checksums(photos)
    start = time.perf_counter()
    args = argv(world, photos, tmp_path)
    if "--model" not in args:
        args += ["--model", world["onnx"]]
    r = run_cli("infer", *args, "--quiet", fresh=True, env=ENV)
    assert_clean(r, 2, message, photos, before, tmp_path / "o")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    assert not world["marker"].exists(), "a pickle ran code"
    assert time.perf_counter() - start < 30  # a huge config fails before it is built


def failed_lines(out: Path) -> list[tuple[Path, str]]:
    return read_failures(out / "cyclegan-failures.tsv")


INFER_PARTIAL = [
    # (id, setup (src) -> extra args, failing file name, reason regex); exit 1
    ("size-past-pixel-limit", lambda s: ["--size", "100000"], "x.png",
     r"too large after resizing"),
    ("half-size-model-output", lambda s: ["--model", "half"], "x.png",
     r"model output has shape"),
    ("nan-model-output", lambda s: ["--model", "nan_onnx"], "x.png", r"NaN"),
    ("empty-file", lambda s: (s / "z.png").write_bytes(b"") and [], "z.png", r"empty file"),
    ("not-an-image", lambda s: (s / "z.jpg").write_text("hello") and [], "z.jpg",
     r"not an image"),
    ("truncated-image", lambda s: (s / "z.png").write_bytes((s / "x.png").read_bytes()[:80])
     and [], "z.png", r"truncated|corrupt"),
    ("decompression-bomb", lambda s: (s / "z.png").write_bytes(png_claiming(30000, 30000))
     and [], "z.png", r"too large"),
    ("name-with-tab-and-newline", lambda s: (s / "z\tq\n.png").write_bytes(b"x") and [],
     "z\tq\n.png", r"not an image"),
    ("collision-format-png", lambda s: picture(s / "y.png") and ["--format", "png"], "y.png",
     r"would also be written from .*y\.jpg \(use --format keep\)"),
    ("collision-format-keep", lambda s: shutil.copy(s / "x.png", s / "x.gif") and [],
     "x.png", r"would also be written from .*x\.gif \(rename one of them\)"),
]


@pytest.mark.parametrize("case", INFER_PARTIAL, ids=[c[0] for c in INFER_PARTIAL])
def test_infer_reports_failed_images(world, photos, tmp_path, case):
    kind, setup, name, reason = case
    args = setup(photos) or []
    if "--model" in args:
        args[args.index("--model") + 1] = world[args[args.index("--model") + 1]]
    else:
        args += ["--model", world["onnx"]]
    before = checksums(photos)
    out = tmp_path / "o"
    r = run_cli("infer", photos, out, *args, "--quiet", fresh=True, env=ENV)
    assert_clean(r, 1, "", photos, before, out)
    failures = failed_lines(out)
    assert any(p == photos / name and re.search(reason, why)
               for p, why in failures), failures
    if not kind.startswith("collision"):  # (a collision's output is the winner's)
        assert not (out / name).exists()


def test_a_16_bit_input_is_translated_and_its_lost_depth_said(world, photos, tmp_path):
    # Issue 30: a 16-bit PNG came back 8-bit without a word. It still translates (exit 0);
    # the loss is said once as a warning and in the summary (red without images._bits).
    from cyclegan.images import DEPTH_NOTE

    yy, xx = np.mgrid[:32, :32]
    low = (xx * 7 + yy * 3) % 256  # the information is in the low byte
    write_png16(photos / "deep.png", np.stack([0x4000 + low, 0x8000 + low, 0xC000 + low],
                                              -1).astype(np.uint16))
    before, out = checksums(photos), tmp_path / "o"
    r = run_cli("infer", photos, out, "--model", world["onnx"], "--quiet", fresh=True, env=ENV)
    assert_clean(r, 0, "", photos, before, out)
    assert r.stderr.count(DEPTH_NOTE) == 1 and "deep.png has 16 bits" in r.stderr
    assert f"1 input(s) had more than 8 bits per channel; {DEPTH_NOTE}" in r.stdout
    with Image.open(out / "deep.png") as img:
        assert img.mode == "RGB"  # 8 bits, as said
    helped = run_cli("infer", "--help", fresh=True).stdout
    assert DEPTH_NOTE in " ".join(helped.split())  # and in --help


def test_sharded_collisions_found_on_the_whole_list(world, photos, tmp_path):
    picture(photos / "y.png")  # y.jpg (index 1) and y.png (index 2) both become y.png
    before, out = checksums(photos), tmp_path / "o"
    codes = [run_cli("infer", photos, out, "--model", world["onnx"], "--format", "png",
                     "--shard", f"{i}/2", "--quiet", fresh=True, env=ENV).returncode
             for i in (0, 1)]
    assert sorted(codes) == [0, 1]  # exactly one shard reports the collision
    assert checksums(photos) == before
    ref = tmp_path / "ref"  # unsharded: the first in sorted order (y.jpg) owns y.png
    assert run_cli("infer", photos, ref, "--model", world["onnx"], "--format", "png",
                   "--quiet", fresh=True, env=ENV).returncode == 1
    assert (out / "y.png").read_bytes() == (ref / "y.png").read_bytes()
    assert any(p == photos / "y.png" for p, _ in read_failures(
        next(out.glob("cyclegan-failures.shard-*.tsv"))))


def test_second_run_on_a_locked_folder_is_refused(world, photos, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    before = checksums(photos)
    with exclusive_lock(lock_path(out, (0, 1)), "testing"):
        r = run_cli("infer", photos, out, "--model", world["onnx"], "--quiet", fresh=True, env=ENV)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert f"(pid {os.getpid()}) is running cyclegan-infer into {out}" in r.stderr
        assert not list(out.glob("*.png"))
    assert checksums(photos) == before
    assert run_cli("infer", photos, out, "--model", world["onnx"], "--quiet", fresh=True,
                   env=ENV).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["x.png", "y.jpg"]


# ---- cyclegan-export, -eval, -convert, -sweep -------------------------------------------

OTHERS = [
    # (id, command, argv builder (world, tmp) -> args, exit status, message regex)
    ("export-opset-1000", "export", lambda w, t: [w["ckpt"], "--out", t / "o", "--opset",
                                                  "1000"], 2, r"--opset must be 17\.\.20"),
    ("export-missing-direction", "export", lambda w, t: [w["no_b2a"], "--out", t / "o",
                                                         "--direction", "B2A"],
     2, r"no_b2a\.pt has no B2A generator"),
    ("export-state-dict-list", "export", lambda w, t: [w["weights_list"], "--out", t / "o"],
     2, r"weights_list\.pt: G_A2B is a list"),
    ("export-huge-n-blocks", "export", lambda w, t: [w["huge_blocks"], "--out", t / "o"],
     2, r"huge_blocks\.pt: G_A2B holds"),
    ("export-changed-bytes", "export", lambda w, t: [w["flipped"], "--out", t / "o"], 2,
     r"flipped\.pt is a damaged file"),
    ("export-pickle", "export", lambda w, t: [w["evil"], "--out", t / "o"], 2,
     r"evil\.pt is not a readable"),
    ("eval-nan-checkpoint", "eval", lambda w, t: [w["nan"], *EVAL], 2,
     r"A2B generator outputs NaN"),
    ("eval-train-config-string", "eval", lambda w, t: [w["train_cfg_str"], *EVAL], 2,
     r"train_cfg_str\.pt has a damaged train_config: a str"),
    ("eval-model-config-list", "eval", lambda w, t: [w["config_list"], *EVAL], 2,
     r"config_list\.pt is a damaged cyclegan checkpoint"),
    ("eval-image-size-0", "eval", lambda w, t: [w["ckpt"], *EVAL, "--image-size", "0"], 2,
     r"--image-size must be >= 8, got 0"),
    ("convert-not-a-state-dict", "convert", lambda w, t: [w["junk_onnx"], "--out", t / "c.pt"],
     2, r"junk\.onnx"),
    ("convert-pickle", "convert", lambda w, t: [w["evil"], "--out", t / "c.pt"], 2,
     r"evil\.pt"),
    ("sweep-bad-grid", "sweep", lambda w, t: ["--data", "builtin:seasons", "--out", t / "o",
                                              "--grid", "nonsense"], 2, r"nonsense"),
    ("sweep-missing-data", "sweep", lambda w, t: ["--data", t / "absent", "--out", t / "o",
                                                  "--grid", "lambda_cyc=1,2"], 2, r"absent"),
]


@pytest.mark.parametrize("case", OTHERS, ids=[c[0] for c in OTHERS])
def test_other_commands_fail_cleanly(world, tmp_path, case):
    _, cmd, argv, code, message = case
    inputs = world["root"]
    before = checksums(inputs)
    r = run_cli(cmd, *argv(world, tmp_path), fresh=True, env=ENV)
    assert_clean(r, code, message, inputs, before, tmp_path / "o")
    assert not (tmp_path / "c.pt").exists()
    assert not list((tmp_path / "o").glob("*.onnx")) if (tmp_path / "o").exists() else True
    assert not world["marker"].exists(), "a pickle ran code"


# ---- cyclegan-train --------------------------------------------------------------------

def damaged_run(world, tmp_path, damage) -> Path:
    run = tmp_path / "run"
    shutil.copytree(world["run"], run)
    damage(run)
    return run


def edit_config(change):
    def damage(run: Path) -> None:
        cfg = json.loads((run / "config.json").read_text())
        change(cfg)
        (run / "config.json").write_text(json.dumps(cfg))
    return damage


def drop_optimizer(run: Path) -> None:
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    del state["optim_G"]
    save_checkpoint(run / "checkpoints" / "latest.pt", state)  # an intact file, digest and all


def flip_latest(run: Path) -> None:
    flip_tensor_bytes(run / "checkpoints" / "latest.pt")


TRAIN_CASES = [
    ("config-without-train", edit_config(lambda c: c.pop("train")),
     r"config\.json has no 'train' section"),
    ("config-wrong-type", edit_config(lambda c: c["train"].update(ngf="four")),
     r"saved training config has ngf='four'"),
    ("config-train-a-string", edit_config(lambda c: c.update(train="big")),
     r"saved training config is a str"),
    ("checkpoint-without-optimizer", drop_optimizer, r"cannot resume training: it has no optim_G"),
    # Issue 30: 64 changed bytes resumed, then were reported as divergence ("lower --lr").
    ("checkpoint-changed-bytes", flip_latest, r"latest\.pt is a damaged file"),
]


@pytest.mark.parametrize("case", TRAIN_CASES, ids=[c[0] for c in TRAIN_CASES])
def test_train_resume_of_a_damaged_run(world, tmp_path, case):
    _, damage, message = case
    run = damaged_run(world, tmp_path, damage)
    before = checksums(run)
    r = run_cli("train", "--resume", run, "--steps", "3", "--quiet", "--workers", "0", fresh=True,
                env=ENV)
    assert_clean(r, 2, message, run, before)


def test_train_on_a_full_disk_keeps_the_last_checkpoint(world, tmp_path):
    run = damaged_run(world, tmp_path, lambda r: None)
    latest = run / "checkpoints" / "latest.pt"
    before = latest.read_bytes()
    limit = latest.stat().st_size // 2  # log lines and samples fit, a checkpoint does not

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = run_cli("train", "--resume", run, "--steps", "3", "--quiet", "--workers", "0",
                preexec_fn=small_disk, fresh=True, env=ENV)
    assert "Traceback" not in r.stderr and r.returncode == 2, r.stderr
    assert f"cannot write checkpoint {latest}" in r.stderr
    assert "the previous latest.pt is intact" in r.stderr
    assert latest.read_bytes() == before
    assert not [p for p in run.rglob("*") if is_temp(p)]


def test_resume_removes_temp_files_of_a_killed_run(world, tmp_path):
    run = damaged_run(world, tmp_path, lambda r: None)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = run / "checkpoints" / f".latest.pt.{dead.pid}-0123abcd.tmp"
    stale.write_bytes(b"x" * 1000)
    live = run / "checkpoints" / f".latest.pt.{os.getppid()}-0123abcd.tmp"
    live.write_bytes(b"x")
    r = run_cli("train", "--resume", run, "--steps", "3", "--quiet", "--workers", "0", fresh=True,
                env=ENV)
    assert r.returncode == 0, r.stderr
    assert not stale.exists() and live.exists()


def test_log_steps_increase_after_kill_and_resume(world, tmp_path):
    run = damaged_run(world, tmp_path, lambda r: None)
    log = run / "log.jsonl"
    # What a kill after step 2's checkpoint leaves: steps 3 and 4 logged, then a torn line.
    lines = log.read_text().splitlines()
    extra = [line.replace('"step": 2', f'"step": {s}') for s in (3, 4) for line in lines[-1:]]
    log.write_text("\n".join(lines + extra) + '\n{"step": 5, "lo')
    r = run_cli("train", "--resume", run, "--steps", "4", "--quiet", "--workers", "0",
                "--log-every", "1", fresh=True, env=ENV)
    assert r.returncode == 0, r.stderr
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_failures_file_round_trips_odd_names(tmp_path):
    from cyclegan.infer.failures import failures_tsv

    failures = [(Path("a\tb\nc\\d.png"), "bad\theader\nhere"), (Path("plain.png"), "x")]
    (tmp_path / "f.tsv").write_bytes(failures_tsv(failures))  # what a run writes
    assert sorted(read_failures(tmp_path / "f.tsv")) == sorted(failures)
    assert len((tmp_path / "f.tsv").read_text().splitlines()) == 2

