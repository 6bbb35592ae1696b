"""The paper's training recipe: one CycleGAN step, LSGAN (or hinge) losses, image pool, LR
schedule."""

from __future__ import annotations

import contextlib
import dataclasses
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cyclegan.train.discriminators import KINDS
from cyclegan.train.tone import tone_loss

RECONSTRUCTION = ("cyc_A", "cyc_B", "idt_A", "idt_B")
STRUCTURE = ("struct_A", "struct_B")  # each photo's structure against its translation's
TONE = ("tone_A", "tone_B")  # each photo's layout of light and dark against its translation's


def loss_names(kinds=("patch",), weights: LossWeights | None = None) -> tuple[str, ...]:
    """Every loss train_step returns with these weights, in log order: "G" (the sum the
    generators minimise), its terms, then the discriminators' losses. The structure and
    tone terms are there only where their weights are on."""
    return ("G", *(n for k in kinds for n in KINDS[k].losses[:2]), *RECONSTRUCTION,
            *(STRUCTURE if weights and weights.lambda_struct else ()),
            *(TONE if weights and weights.lambda_tone else ()),
            *(n for k in kinds for n in KINDS[k].losses[2:]))



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


def _as_list(pred) -> list[torch.Tensor]:
    """A discriminator's logits as a list (a projected one gives one map per level)."""
    return list(pred) if isinstance(pred, (list, tuple)) else [pred]


class Discriminators(nn.Module):
    """Per kind ("patch", "projected"): a[kind] judges domain A images, b[kind] domain B.

    Real and generated images go through each in one batch. Only the parameters that
    were trainable when built are ever trained (a projected discriminator's random mixing
    stays fixed), so freezing and unfreezing goes through `trainable`.
    """

    def __init__(self, a: dict[str, nn.Module], b: dict[str, nn.Module]):
        super().__init__()
        self.a, self.b = nn.ModuleDict(a), nn.ModuleDict(b)
        self.trainable = [p for p in self.parameters() if p.requires_grad]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.a.keys())

    def freeze(self, frozen: bool) -> None:
        for p in self.trainable:
            p.requires_grad_(not frozen)

    def forward(self, real_a, fake_a, real_b, fake_b):
        """{kind: ((D_A(real A), D_A(fake A)), (D_B(real B), D_B(fake B)))}, each a list of
        logit maps."""
        out = {}
        for kind in self.kinds:
            pa = _as_list(self.a[kind](torch.cat([real_a, fake_a])))
            pb = _as_list(self.b[kind](torch.cat([real_b, fake_b])))
            out[kind] = (_split(pa, real_a.shape[0]), _split(pb, real_b.shape[0]))
        return out


def _split(preds: list[torch.Tensor], n_real: int):
    """Logits of a real-then-generated batch, as (real logits, generated logits)."""
    halves = [p.split([n_real, p.shape[0] - n_real]) for p in preds]
    return [h[0] for h in halves], [h[1] for h in halves]


def gan_loss(pred, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean squared distance of the logits to 1 or 0; for several
    logit maps (a projected discriminator's levels), the mean over them."""
    losses = []
    for p in _as_list(pred):
        p = p.float()
        losses.append(F.mse_loss(p, torch.ones_like(p) if real else torch.zeros_like(p)))
    return losses[0] if len(losses) == 1 else torch.stack(losses).mean()


def hinge_loss(pred, real: bool, generator: bool = False) -> torch.Tensor:
    """Hinge GAN loss (Projected GANs'): for the discriminator mean(relu(1 - logits)) on
    real and mean(relu(1 + logits)) on generated images; for the generator mean(-logits).
    Several logit maps: the mean over them, as gan_loss."""
    losses = []
    for p in _as_list(pred):
        p = p.float()
        losses.append(-p.mean() if generator else F.relu(1 - p if real else 1 + p).mean())
    return losses[0] if len(losses) == 1 else torch.stack(losses).mean()


def adversarial_loss(kind_loss: str, pred, real: bool, generator: bool = False):
    """The loss named `kind_loss` (config.GAN_LOSSES): a generator's term passes real=True."""
    if kind_loss == "hinge":
        return hinge_loss(pred, real, generator)
    return gan_loss(pred, real)


def l1_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(x.float(), y.float())


@dataclass(frozen=True)
class LossWeights:
    """The recipe's weights; the values (and their defaults and help) are TrainConfig's."""

    lambda_cyc: float
    lambda_id: float  # fraction of lambda_cyc
    d_ratio: float  # the discriminator loss is divided by it
    projected_loss: str = "lsgan"  # the projected discriminator's loss (the patch one: lsgan)
    lambda_id_steps: int = 0  # lambda_id fades linearly to 0 over them (0: constant)
    lambda_struct: float = 0.0  # the structure loss's weight (train/structure.py)
    lambda_tone: float = 0.0  # the tone loss's weight (train/tone.py)

    def loss_of(self, kind: str) -> str:
        return self.projected_loss if kind == "projected" else "lsgan"

    def at(self, step: int) -> LossWeights:
        """The weights of 0-based `step`: lambda_id * (1 - step / lambda_id_steps), 0 from
        then on (train_step then skips the identity passes)."""
        if not self.lambda_id_steps:
            return self
        fade = max(1.0 - step / self.lambda_id_steps, 0.0)
        return dataclasses.replace(self, lambda_id=self.lambda_id * fade)

    @classmethod
    def from_config(cls, cfg) -> LossWeights:
        return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})


def train_step(G: Generators, D: Discriminators, opt_G, opt_D, pools: tuple[ImagePool, ImagePool],
               real_a: torch.Tensor, real_b: torch.Tensor, w: LossWeights, autocast=None,
               G_fwd: nn.Module | None = None, D_fwd: nn.Module | None = None,
               structure: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """One CycleGAN iteration: update both generators, then both discriminators.

    G_fwd / D_fwd are the modules to call (DDP wrappers of G / D when distributed). In the
    generator update the discriminators are used unwrapped and frozen. `structure`: the
    StructureLoss that w.lambda_struct weighs (needed when it is on). Returns the losses
    named by loss_names(D.kinds, w), detached (no host sync).
    """
    if w.lambda_struct and structure is None:
        raise ValueError("lambda_struct is on: pass the StructureLoss it weighs")
    autocast = autocast or contextlib.nullcontext()
    G_fwd, D_fwd = G_fwd or G, D_fwd or D
    identity = w.lambda_id > 0
    terms: dict[str, torch.Tensor] = {}

    # Generators: fool every discriminator, reconstruct, keep identity.
    D.freeze(True)
    with autocast:
        fake_a, fake_b, rec_a, rec_b, idt_a, idt_b = G_fwd(real_a, real_b, identity)
        for kind in D.kinds:
            g_a2b, g_b2a = KINDS[kind].losses[:2]
            loss = w.loss_of(kind)
            terms[g_a2b] = adversarial_loss(loss, D.b[kind](fake_b), True, generator=True)
            terms[g_b2a] = adversarial_loss(loss, D.a[kind](fake_a), True, generator=True)
        terms["cyc_A"] = l1_loss(rec_a, real_a) * w.lambda_cyc
        terms["cyc_B"] = l1_loss(rec_b, real_b) * w.lambda_cyc
        if identity:
            terms["idt_A"] = l1_loss(idt_a, real_a) * (w.lambda_cyc * w.lambda_id)
            terms["idt_B"] = l1_loss(idt_b, real_b) * (w.lambda_cyc * w.lambda_id)
        else:
            terms["idt_A"] = terms["idt_B"] = torch.zeros((), device=real_a.device)
        if w.lambda_struct:
            terms["struct_A"] = structure(real_a, fake_b) * w.lambda_struct
            terms["struct_B"] = structure(real_b, fake_a) * w.lambda_struct
        if w.lambda_tone:
            terms["tone_A"] = tone_loss(real_a, fake_b) * w.lambda_tone
            terms["tone_B"] = tone_loss(real_b, fake_a) * w.lambda_tone
        loss_g = sum(terms.values())
    opt_G.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_G.step()

    # Discriminators: real -> 1, generated (drawn through the history pools) -> 0.
    D.freeze(False)
    pooled_a = pools[0].query(fake_a.detach().float())
    pooled_b = pools[1].query(fake_b.detach().float())
    with autocast:
        preds = D_fwd(real_a, pooled_a, real_b, pooled_b)
        d_terms = {}
        for kind, ((real_pa, fake_pa), (real_pb, fake_pb)) in preds.items():
            d_a, d_b = KINDS[kind].losses[2:]
            loss = w.loss_of(kind)
            d_terms[d_a] = (adversarial_loss(loss, real_pa, True)
                            + adversarial_loss(loss, fake_pa, False)) / w.d_ratio
            d_terms[d_b] = (adversarial_loss(loss, real_pb, True)
                            + adversarial_loss(loss, fake_pb, False)) / w.d_ratio
    opt_D.zero_grad(set_to_none=True)
    sum(d_terms.values()).backward()
    opt_D.step()
    return {k: v.detach() for k, v in {"G": loss_g, **terms, **d_terms}.items()}


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
