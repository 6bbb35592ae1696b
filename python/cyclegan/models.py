"""The CycleGAN networks: ResNet generator and 70x70 PatchGAN discriminator.

Same architecture and parameter count as the official resnet_{6,9}blocks generator and
the "basic" n_layers=3 discriminator with instance norm (whose convolutions keep their
biases), with our own parameter names; see cyclegan.export.convert for the official key layout.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from cyclegan.contract import ARCHITECTURES, UPSAMPLING, Geometry
from cyclegan.layers import EPS, NormReLUPad, ResidualBlock

N_DOWNSAMPLING = 2
_CHOICES = {"arch": ARCHITECTURES, "upsample": UPSAMPLING}
# The interpolation of each resize-convolution upsampling (contract.UPSAMPLING; deconv is a
# transposed convolution instead).
RESIZE_MODES = {"resize": "nearest", "bilinear": "bilinear"}


@dataclass
class ModelConfig:
    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    n_layers_d: int = 3
    arch: str = "resnet"
    upsample: str = "deconv"
    # The working scale (contract.DEFAULT_WORK_SIZE explains it): the short side of the
    # frames the generator learned from; None: not recorded (converted official weights,
    # checkpoints written before it was), and contract.DEFAULT_WORK_SIZE applies.
    work_size: int | None = None

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "work_size" and value is None:
                continue
            if field.name in _CHOICES:
                if value not in _CHOICES[field.name]:
                    raise ValueError(f"ModelConfig.{field.name} must be one of "
                                     f"{', '.join(_CHOICES[field.name])}, got {value!r}")
                continue
            minimum = 0 if field.name == "n_blocks" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"ModelConfig.{field.name} must be an int >= {minimum}, "
                                 f"got {value!r}")

    @property
    def geometry(self) -> Geometry:
        """The input sizes the generator takes: each stride-2 downsampling halves H and W,
        so they must divide by 2**N_DOWNSAMPLING, and the bottleneck must be at least 2
        pixels for the residual blocks' reflect pad of 1."""
        if self.arch == "resnet":
            multiple = 2**N_DOWNSAMPLING
            return Geometry(multiple=multiple, min_size=2 * multiple)
        if self.arch == "resnet-prior":  # the prior's stride-16 map: at least 2 x 2
            from cyclegan.prior import STRIDE

            return Geometry(multiple=STRIDE, min_size=2 * STRIDE)
        raise ValueError(f"unknown generator architecture {self.arch!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class ResnetGenerator(nn.Module):
    """c7s1-ngf, d2ngf, d4ngf, R4ngf x n_blocks, u2ngf, ungf, c7s1-out, tanh.

    Every normalization hands the next convolution an already reflect-padded tensor, so
    the 3x3 and 7x7 convolutions after it run with padding=0 (the fused ops pad in the
    same pass that normalizes).
    """

    def __init__(self, cfg: ModelConfig | None = None, fused: bool = True):
        super().__init__()
        cfg = cfg or ModelConfig()
        self.config = cfg
        self.fused = fused
        ngf = cfg.ngf
        self.stem_pad = nn.ReflectionPad2d(3)
        self.stem = nn.Conv2d(cfg.in_channels, ngf, 7, padding=0, bias=True)
        self.stem_norm = NormReLUPad(ngf, pad=0, fused=fused)

        self.down = nn.ModuleList()
        self.down_norm = nn.ModuleList()
        for i in range(N_DOWNSAMPLING):
            c = ngf * 2**i
            last = i == N_DOWNSAMPLING - 1
            self.down.append(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=True))
            # The last one pads for the first residual block's 3x3 convolution.
            pad = 1 if last and cfg.n_blocks > 0 else 0
            self.down_norm.append(NormReLUPad(2 * c, pad=pad, fused=fused))

        trunk = ngf * 2**N_DOWNSAMPLING
        self.blocks = nn.ModuleList(
            ResidualBlock(trunk, pad_out=1 if i < cfg.n_blocks - 1 else 0, fused=fused)
            for i in range(cfg.n_blocks)
        )

        self.up = nn.ModuleList()
        self.up_norm = nn.ModuleList()
        for i in range(N_DOWNSAMPLING):
            c = trunk // 2**i
            last = i == N_DOWNSAMPLING - 1
            self.up.append(_upsampler(cfg.upsample, c, c // 2))
            # The last one pads for the 7x7 head.
            self.up_norm.append(NormReLUPad(c // 2, pad=3 if last else 0, fused=fused))
        self.head = nn.Conv2d(ngf, cfg.out_channels, 7, padding=0, bias=True)
        # resnet-prior: frozen ImageNet features of the input join the trunk (cyclegan.prior).
        self.prior_join = None
        if cfg.arch == "resnet-prior":
            from cyclegan.prior import PriorJoin

            self.prior_join = PriorJoin(trunk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and not torch.compiler.is_compiling():
            check_image_batch(x, self.config.in_channels, self.config.geometry)
        h = self.stem_norm(self.stem(self.stem_pad(x)))
        for i, (conv, norm) in enumerate(zip(self.down, self.down_norm)):
            h = conv(h)
            if self.prior_join is not None and i == N_DOWNSAMPLING - 1:
                h = self.prior_join(x, h)  # before the norm, so the fused op pads the sum
            h = norm(h)
        for block in self.blocks:
            h = block(h)
        for conv, norm in zip(self.up, self.up_norm):
            h = norm(conv(h))
        return torch.tanh(self.head(h))


def _upsampler(kind: str, c_in: int, c_out: int) -> nn.Module:
    """x2 upsampling from c_in to c_out channels."""
    if kind == "deconv":
        return nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1,
                                  bias=True)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode=RESIZE_MODES[kind]),
                         nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3, bias=True))


def build_generator(cfg: ModelConfig, fused: bool = True) -> nn.Module:
    """The one place a generator is built from its config (checkpoints, training, export)."""
    if cfg.arch in ("resnet", "resnet-prior"):
        return ResnetGenerator(cfg, fused=fused)
    raise ValueError(f"unknown generator architecture {cfg.arch!r}")


def check_image_batch(x: torch.Tensor, channels: int, geometry: Geometry) -> None:
    """Clear errors for inputs the generator cannot take (instead of a conv/pad crash)."""
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"generator input must be N x {channels} x H x W, "
                         f"got shape {tuple(x.shape)}")
    if problem := geometry.error(*x.shape[-2:]):
        raise ValueError(f"generator input {problem}")


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN (for n_layers_d=3): C64 (no norm), C128, C256, C512 (stride 1), 1.

    Outputs one logit per overlapping patch; LSGAN compares them with 1 (real) / 0 (fake).
    """

    def __init__(self, cfg: ModelConfig | None = None, in_channels: int | None = None):
        super().__init__()
        cfg = cfg or ModelConfig()
        self.config = cfg
        ndf = cfg.ndf
        c_in = cfg.in_channels if in_channels is None else in_channels
        layers: list[nn.Module] = [nn.Conv2d(c_in, ndf, 4, stride=2, padding=1, bias=True),
                                   nn.LeakyReLU(0.2, inplace=True)]
        c = ndf
        for n in range(1, cfg.n_layers_d + 1):
            c_next = ndf * min(2**n, 8)
            stride = 2 if n < cfg.n_layers_d else 1
            layers += [nn.Conv2d(c, c_next, 4, stride=stride, padding=1, bias=True),
                       nn.InstanceNorm2d(c_next, eps=EPS, affine=False),
                       nn.LeakyReLU(0.2, inplace=True)]
            c = c_next
        layers.append(nn.Conv2d(c, 1, 4, stride=1, padding=1, bias=True))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """The paper's init: conv weights ~ N(0, std), biases 0; frozen (pretrained) ones kept."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.weight.requires_grad:
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
