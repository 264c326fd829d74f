"""P DrSAEs of one shape trained as one: stacked parameters, one batched step for every member.

Members are independent runs (their own seed, data order, rates, loss weights, bounds, schedule); the
stacking only lets one batched matmul serve them all (docs/training.md, "Populations"). `Population`
holds the parameters, `member(i)` is a DrSAE that views member i's slice, `keep()` drops members that
finished or diverged. `Step` runs one optimisation step of every member: gather each member's batch,
the fast forward and backward through time (model/core.py), the optimiser, the projection of the
paper's bounds; on CUDA it is captured once as a CUDA graph and replayed.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from model import core
from model.data import Split
from model.drsae import DrSAE
from model.optim import PopulationOptimizer

PARAMS = ("E", "S", "b", "D", "C", "c")
CLASSIFIER = ("C", "c")
STAT_KEYS = ("reconstruction", "sparsity", "classification", "errors")
GRAPH_WARMUP_STEPS = 3  # eager steps before capture, so lazily made state exists first


@functools.cache
def retain_freed_memory() -> bool:
    """Keep freed blocks in this process's heap instead of handing them back to the OS.

    Every step allocates the same large temporaries (gradients, casts, the projection's squares); by
    default glibc serves blocks above a threshold with fresh mmaps or trims them after free, so each step
    page-faults them back in: for 8 members at batch 10, 9,869 faults and 44.5 ms of CPU a step against 20
    and 24.9 ms (bench/page_faults.py, docs/training.md). Returns whether the allocator took the settings
    (glibc only)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 64 << 20) and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))


class Population(nn.Module):
    """Stacked parameters (P, ...) of P DrSAEs with the same n_in, n_hidden, n_classes and T."""

    def __init__(self, members: Sequence[DrSAE]) -> None:
        super().__init__()
        shapes = {(m.config.n_in, m.config.n_hidden, m.config.n_classes, m.config.T) for m in members}
        if len(shapes) != 1:
            raise ValueError(f"a population's members share one shape (n_in, n_hidden, n_classes, T), got {shapes}")
        self.T = members[0].T
        self.members = list(members)
        for name in PARAMS:
            setattr(self, name, nn.Parameter(torch.stack([getattr(m, name).detach() for m in members])))
        self._bounds()
        self._link()

    @property
    def size(self) -> int:
        return len(self.members)

    def _bounds(self) -> None:
        device = self.E.device
        for name, attr in (("e_bound", "encoder_bound"), ("d_bound", "d_bound"), ("c_bound", "c_bound")):
            values = [getattr(m.config, attr) for m in self.members]
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32, device=device), persistent=False)

    def _link(self) -> None:
        """Point every member's parameters at its slice of the stacked ones (views, no copies)."""
        for i, m in enumerate(self.members):
            for name in PARAMS:
                getattr(m, name).data = getattr(self, name).data[i]

    def member(self, i: int) -> DrSAE:
        return self.members[i]

    def keep(self, index: Tensor) -> None:
        """Go on with the members at `index` only."""
        for name in PARAMS:
            setattr(self, name, nn.Parameter(getattr(self, name).detach()[index].clone()))
        self.members = [self.members[int(i)] for i in index.tolist()]
        self._bounds()
        self._link()

    def params(self) -> dict[str, nn.Parameter]:
        return {name: getattr(self, name) for name in PARAMS}

    def forward(self, x: Tensor, y: Tensor, half: bool, classifier: bool) -> tuple[Tensor, Tensor]:
        """(3, P) loss terms and the logits for each member's batch x (P, B, n_in), y (P, B)."""
        c = self.c if classifier else self.c.detach()
        C = self.C if classifier else self.C.detach()
        return core.fast_losses(x, y, self.E, self.S, self.b, self.D, C, c, self.T, half)

    @torch.no_grad()
    def project_(self, encoder_decoder: Tensor | None, classifier: bool) -> None:
        """The paper's bounds: E and D for the members in the (P,) mask `encoder_decoder` (None: none),
        C for every member (a no-op for a member whose C did not move: its rows start at norm 1)."""
        if encoder_decoder is not None:
            inf = torch.full_like(self.e_bound, float("inf"))
            core.clip_norms_(self.E, torch.where(encoder_decoder, self.e_bound, inf), dim=2)
            core.clip_norms_(self.D, torch.where(encoder_decoder, self.d_bound, inf), dim=1)
        if classifier:
            core.clip_norms_(self.C, self.c_bound, dim=2)


class Step:
    """One optimisation step of every member, on batches given by indices into on-device training data.

    Eager on a CPU. With `graphed` (CUDA) the whole step is captured as a CUDA graph, once per kind of
    step (with or without the classifier, with or without the E/D projection), and replayed: the
    per-member rates, loss weights and masks live in static tensors the graph reads.
    """

    def __init__(
        self,
        pop: Population,
        opt: PopulationOptimizer,
        train: Split,
        batch_size: int,
        precision: str,
        graphed: bool,
        net: nn.Module | None = None,
    ) -> None:
        self.pop, self.opt, self.train = pop, opt, train
        self.net = net if net is not None else pop  # a DDP wrapper of a population of one
        self.precision = precision
        self.half = precision == "bf16"
        self.graphed = graphed
        self.device = train.x.device
        P = pop.size
        self.idx = torch.zeros(P, batch_size, dtype=torch.long, device=self.device)
        self.rates = torch.zeros(P, len(PARAMS), device=self.device)
        self.weights = torch.zeros(3, P, device=self.device)
        self.supervised = torch.zeros(P, dtype=torch.bool, device=self.device)
        self.project_mask = torch.zeros(P, dtype=torch.bool, device=self.device)
        self.stats = torch.zeros(P, len(STAT_KEYS), device=self.device)
        self.graphs: dict[tuple[bool, bool], torch.cuda.CUDAGraph] = {}
        self.warm: dict[tuple[bool, bool], int] = {}

    def _body(self, classifier: bool, project: bool) -> None:
        P, B = self.idx.shape
        flat = self.idx.view(-1)
        x = self.train.x.index_select(0, flat).view(P, B, -1)
        y = self.train.y.index_select(0, flat).view(P, B)
        terms, logits = self.net(x, y, self.half, classifier)
        (terms * self.weights).sum().backward()
        self.opt.step(self.rates, {"C": self.supervised, "c": self.supervised})
        self.pop.project_(self.project_mask if project else None, classifier)
        with torch.no_grad():
            errors = (logits.argmax(-1) != y).sum(1, dtype=torch.float32)
            self.stats.add_(torch.cat([terms.detach().t(), errors[:, None]], 1))
        for p in self.pop.parameters():
            p.grad = None

    def __call__(
        self, idx: Tensor, rates: Tensor, weights: Tensor, supervised: Tensor, project: Tensor, classifier: bool
    ) -> None:
        """idx (P, B) batch indices, rates (P, len(PARAMS)), weights (3, P) on the loss terms, supervised
        (P,) members training the classifier, project (P,) members whose E and D are bounded after it."""
        self.idx.copy_(idx, non_blocking=True)
        self.rates.copy_(rates, non_blocking=True)
        self.weights.copy_(weights, non_blocking=True)
        self.supervised.copy_(supervised, non_blocking=True)
        self.project_mask.copy_(project, non_blocking=True)
        if not self.graphed:  # eager: skip the E/D projection when no member is due (a sync, cheap on a CPU)
            self._body(classifier, bool(project.any()))
            return
        key = (classifier, True)  # the graph always runs the projection, its mask says for whom
        graph = self.graphs.get(key)
        if graph is None and self.warm.get(key, 0) < GRAPH_WARMUP_STEPS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self._body(classifier, True)
            torch.cuda.current_stream().wait_stream(side)
            self.warm[key] = self.warm.get(key, 0) + 1
            return
        if graph is None:
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph):
                    self._body(classifier, True)
            except RuntimeError as e:  # keep training, eagerly, rather than lose the run
                print(f"warning: CUDA graph capture failed ({e}); continuing without graphs", file=sys.stderr)
                self.graphed = False
                self._body(classifier, bool(project.any()))
                return
            self.graphs[key] = graph
        graph.replay()

    def take_stats(self) -> Tensor:
        """(P, 4) sums of the loss terms and errors since the last call."""
        values = self.stats.clone()
        self.stats.zero_()
        return values
