"""The paper's training recipe: one CycleGAN step, LSGAN losses, image pool, LR schedule."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LOSS_NAMES = ("G", "G_A2B", "G_B2A", "cyc_A", "cyc_B", "idt_A", "idt_B", "D_A", "D_B")


class Generators(nn.Module):
    """Both generators as one module, so DDP sees one forward and one backward per step."""

    def __init__(self, a2b: nn.Module, b2a: nn.Module):
        super().__init__()
        self.a2b, self.b2a = a2b, b2a

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor, identity: bool):
        """(fake A, fake B, reconstructed A, reconstructed B, identity A, identity B).

        The identity images (G_B2A(A), G_A2B(B)) share a batch with the translations;
        instance norm is per sample, so this equals separate calls. None without identity.
        """
        n = real_a.shape[0]
        if identity:
            fake_b, idt_b = self.a2b(torch.cat([real_a, real_b])).split([n, real_b.shape[0]])
            fake_a, idt_a = self.b2a(torch.cat([real_b, real_a])).split([real_b.shape[0], n])
        else:
            fake_b, fake_a = self.a2b(real_a), self.b2a(real_b)
            idt_a = idt_b = None
        return fake_a, fake_b, self.b2a(fake_b), self.a2b(fake_a), idt_a, idt_b


class Discriminators(nn.Module):
    """D_A judges domain A images, D_B domain B; real and generated go in one batch."""

    def __init__(self, d_a: nn.Module, d_b: nn.Module):
        super().__init__()
        self.a, self.b = d_a, d_b

    def forward(self, real_a, fake_a, real_b, fake_b):
        """((D_A(real A), D_A(fake A)), (D_B(real B), D_B(fake B)))."""
        pa = self.a(torch.cat([real_a, fake_a]))
        pb = self.b(torch.cat([real_b, fake_b]))
        return pa.split([real_a.shape[0], fake_a.shape[0]]), pb.split([real_b.shape[0],
                                                                       fake_b.shape[0]])


def gan_loss(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean squared distance of the patch logits to 1 or 0."""
    pred = pred.float()
    target = torch.ones_like(pred) if real else torch.zeros_like(pred)
    return F.mse_loss(pred, target)


def l1_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(x.float(), y.float())


@dataclass
class LossWeights:
    lambda_cyc: float = 10.0
    lambda_id: float = 0.5  # fraction of lambda_cyc
    d_ratio: float = 2.0  # the discriminator loss is divided by it


def train_step(G: Generators, D: Discriminators, opt_G, opt_D, pools: tuple[ImagePool, ImagePool],
               real_a: torch.Tensor, real_b: torch.Tensor, w: LossWeights, autocast=None,
               G_fwd: nn.Module | None = None, D_fwd: nn.Module | None = None) -> torch.Tensor:
    """One CycleGAN iteration: update both generators, then both discriminators.

    G_fwd / D_fwd are the modules to call (DDP wrappers of G / D when distributed). In the
    generator update the discriminators are used unwrapped and frozen. Returns the losses
    of LOSS_NAMES, detached.
    """
    autocast = autocast or contextlib.nullcontext()
    G_fwd, D_fwd = G_fwd or G, D_fwd or D
    identity = w.lambda_id > 0

    # Generators: fool both discriminators, reconstruct, keep identity.
    D.requires_grad_(False)
    with autocast:
        fake_a, fake_b, rec_a, rec_b, idt_a, idt_b = G_fwd(real_a, real_b, identity)
        loss_g_a2b = gan_loss(D.b(fake_b), True)
        loss_g_b2a = gan_loss(D.a(fake_a), True)
        loss_cyc_a = l1_loss(rec_a, real_a) * w.lambda_cyc
        loss_cyc_b = l1_loss(rec_b, real_b) * w.lambda_cyc
        if identity:
            loss_idt_a = l1_loss(idt_a, real_a) * (w.lambda_cyc * w.lambda_id)
            loss_idt_b = l1_loss(idt_b, real_b) * (w.lambda_cyc * w.lambda_id)
        else:
            loss_idt_a = loss_idt_b = torch.zeros((), device=real_a.device)
        loss_g = loss_g_a2b + loss_g_b2a + loss_cyc_a + loss_cyc_b + loss_idt_a + loss_idt_b
    opt_G.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_G.step()

    # Discriminators: real -> 1, generated (drawn through the history pools) -> 0.
    D.requires_grad_(True)
    pooled_a = pools[0].query(fake_a.detach().float())
    pooled_b = pools[1].query(fake_b.detach().float())
    with autocast:
        (real_pa, fake_pa), (real_pb, fake_pb) = D_fwd(real_a, pooled_a, real_b, pooled_b)
        loss_d_a = (gan_loss(real_pa, True) + gan_loss(fake_pa, False)) / w.d_ratio
        loss_d_b = (gan_loss(real_pb, True) + gan_loss(fake_pb, False)) / w.d_ratio
    opt_D.zero_grad(set_to_none=True)
    (loss_d_a + loss_d_b).backward()
    opt_D.step()
    return torch.stack([loss_g, loss_g_a2b, loss_g_b2a, loss_cyc_a, loss_cyc_b, loss_idt_a,
                        loss_idt_b, loss_d_a, loss_d_b]).detach()


def lr_factor(epoch: int, epochs: int, decay_epochs: int) -> float:
    """LR multiplier for a 0-based epoch: 1 for `epochs`, then linear towards 0.

    The official schedule: 1 - max(0, epoch + 1 - epochs) / (decay_epochs + 1).
    """
    return 1.0 - max(0, epoch + 1 - epochs) / float(decay_epochs + 1)


class ImagePool:
    """History of generated images shown to the discriminator (Shrivastava et al.).

    Until full, every image is stored and returned. Then each image is, with probability
    1/2, swapped for a random stored one (which is returned), else returned as is. The
    pool owns its random generator so its draws are part of its saved state.
    """

    def __init__(self, size: int = 50, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator).item() > 0.5:
                i = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out)

    def state_dict(self) -> dict:
        images = torch.cat(self.images).cpu() if self.images else torch.empty(0)
        return {"size": self.size, "images": images,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict, device=None) -> None:
        self.size = int(state["size"])
        images = state["images"]
        self.images = [im.unsqueeze(0).to(device) for im in images] if images.numel() else []
        self.generator.set_state(state["generator"])


def get_rng_state() -> dict:
    """RNG states of torch, CUDA, python and numpy as tensors and plain lists."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos),
                  int(np_has_gauss), float(np_gauss)],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    py_version, py_state, py_gauss = state["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss,
                         np_gauss))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
