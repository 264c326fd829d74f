"""Optimisers for a population: each member has its own rate, momentum and Nesterov flag, stored as tensors.

torch.optim holds one rate per parameter group; a population's members differ in every scalar, so the
updates here read per-member coefficients of shape (P, 1, ...) and broadcast them over each member's slice.
In place and without temporaries: on a CPU the update is bound by memory traffic, so each line below is
one pass over the stacked matrix (docs/training.md). The arithmetic is torch.optim's:

    SGD:   buf <- mu buf + g;   p <- p - lr (g + mu buf)  (Nesterov)  or  p - lr buf   (mu = 0: p - lr g)
    Adam:  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  p <- p - lr/bc1 m / (sqrt(v)/sqrt(bc2) + eps)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

OPTIMIZERS = ("sgd", "adam")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def _per_member(values: Tensor, like: Tensor) -> Tensor:
    """(P,) coefficients shaped to broadcast over a stacked parameter (P, ...)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


class PopulationOptimizer:
    """One optimiser kind per parameter (the same for every member); per-member hyperparameters.

    `momentum` and `nesterov` are (P,) per member (SGD only). `step(rates, active)` takes the rate of every
    member and parameter, (P, n_params) in `names` order, and which members each parameter trains this step
    (the classifier only in the supervised phase), so an idle member's Adam step count does not advance.
    """

    def __init__(
        self, params: dict[str, Tensor], kinds: dict[str, str], momentum: Tensor, nesterov: Tensor
    ) -> None:
        self.params, self.kinds = params, kinds
        self.names = tuple(params)
        device = next(iter(params.values())).device
        self.momentum = momentum.float().to(device)
        self.nesterov = nesterov.bool().to(device)
        self.state: dict[str, dict[str, Tensor]] = {}
        self._coefficients()
        self.reset_state()

    def _coefficients(self) -> None:
        mu, nest = self.momentum, self.nesterov
        self._a = torch.where((mu == 0) | nest, -1.0, 0.0)
        self._c = torch.where(nest, -mu, torch.where(mu > 0, -1.0, 0.0))
        self._any_a = bool((self._a != 0).any())

    def reset_state(self) -> None:
        self.state = {}
        P = len(self.momentum)
        for name, p in self.params.items():
            if self.kinds[name] == "adam":
                self.state[name] = {
                    "exp_avg": torch.zeros_like(p),
                    "exp_avg_sq": torch.zeros_like(p),
                    "step": torch.zeros(P, device=p.device),
                }
            elif bool((self.momentum > 0).any()):
                self.state[name] = {"momentum_buffer": torch.zeros_like(p)}

    @torch.no_grad()
    def step(self, rates: Tensor, active: dict[str, Tensor] | None = None) -> None:
        # SGD as p += a g + c buf with per-member a, c: Nesterov a = -lr, c = -lr mu; heavy ball a = 0,
        # c = -lr; no momentum a = -lr, c = 0 (then buf is g)
        A = rates * self._a[:, None]
        Cb = rates * self._c[:, None]
        for j, name in enumerate(self.names):
            p = self.params[name]
            g = p.grad
            if g is None:
                continue
            if self.kinds[name] == "adam":
                self._adam(p, g, rates[:, j], self.state[name], None if active is None else active.get(name))
                continue
            if name in self.state:  # some member has momentum
                buf = self.state[name]["momentum_buffer"]
                torch.addcmul(g, buf, _per_member(self.momentum, p), out=buf)  # buf <- g + mu buf
                if self._any_a:
                    p.addcmul_(g, _per_member(A[:, j], p))
                p.addcmul_(buf, _per_member(Cb[:, j], p))
            else:
                p.addcmul_(g, _per_member(A[:, j], p))

    @staticmethod
    def _adam(p: Tensor, g: Tensor, lr: Tensor, st: dict[str, Tensor], active: Tensor | None) -> None:
        """torch.optim.Adam's arithmetic and rounding order, with a rate and a step count per member."""
        b1, b2 = ADAM_BETAS
        st["step"].add_(1.0 if active is None else active.float())
        t = st["step"].double().clamp_min(1.0)  # an idle member (g = 0, moments 0) moves by 0 whatever its count
        step_size = (lr.double() / (1 - b1**t)).float()
        bc2_sqrt = (1 - b2**t).sqrt().float()
        st["exp_avg"].lerp_(g, 1 - b1)
        st["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
        update = st["exp_avg_sq"].sqrt().div_(_per_member(bc2_sqrt, p)).add_(ADAM_EPS)
        torch.div(st["exp_avg"], update, out=update)
        p.addcmul_(update, _per_member(-step_size, p))

    # ------------------------------------------------------------------------- members' state
    def member_state(self, i: int) -> dict[str, Any]:
        """Member i's optimiser state, for its own resume file (plain tensors, weights_only-loadable)."""
        return {
            "kinds": dict(self.kinds),
            "momentum": float(self.momentum[i]),
            "nesterov": bool(self.nesterov[i]),
            "state": {n: {k: v[i].detach().cpu().clone() for k, v in s.items()} for n, s in self.state.items()},
        }

    def load_member_state(self, i: int, saved: dict[str, Any]) -> None:
        if saved.get("kinds") != self.kinds:
            raise ValueError(
                f"resume state was saved with optimisers {saved.get('kinds')}, this run uses {self.kinds}"
            )
        for name, s in self.state.items():
            for k, v in s.items():
                src = saved["state"].get(name, {}).get(k)
                if src is None:  # momentum 0 when saved: the buffer starts at zero, as torch.optim's would
                    v[i].zero_()
                else:
                    v[i].copy_(src)

    def keep(self, index: Tensor, params: dict[str, Tensor]) -> None:
        """Only the members at `index` go on (the others finished or diverged)."""
        self.params = params
        self.momentum, self.nesterov = self.momentum[index], self.nesterov[index]
        self._coefficients()
        self.state = {n: {k: v[index].clone() for k, v in s.items()} for n, s in self.state.items()}
