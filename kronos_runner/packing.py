"""Load-time weight packing for CPU inference: oneDNN pre-packed, fused Linear weights.

``pack_for_inference(module)`` gives every ``nn.Linear`` of an eval-mode module a pre-packed
copy of its weight (oneDNN's blocked layout, reordered once instead of at every call) and
fuses the projections that read the same input (attention q/k/v, cross-attention k/v, the
SwiGLU w1/w3) into one matmul. Parameters and the state dict are untouched; the packed path
is taken only in eval mode without autograd, so training a packed module still works.
``release=True`` (serving) drops the Linears' own weights once packed, so the weights are held
once; the module then only runs in eval mode without autograd and says so otherwise.
"""

from __future__ import annotations

import logging
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

logger = logging.getLogger(__name__)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16 in /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def onednn_supports(dtype: torch.dtype) -> bool:
    """Whether oneDNN runs Linear layers in ``dtype`` on this CPU (bf16 needs AVX512-BF16/AMX)."""
    if not torch.backends.mkldnn.is_available():
        return False
    if dtype == torch.float32:
        return True
    return dtype == torch.bfloat16 and cpu_has_bf16()


class PackedLinear:
    """y = x @ cat(W_i).T + cat(b_i) over Linears sharing one input, split back per layer.

    A plain object (not a Module): it is not in the state dict and never trained.
    """

    def __init__(self, linears: list[nn.Linear]) -> None:
        weight = torch.cat([lin.weight.detach() for lin in linears])  # (sum out, in)
        biases = [lin.bias for lin in linears]
        self.bias = None if biases[0] is None else torch.cat([b.detach() for b in biases])
        self.sizes = [lin.out_features for lin in linears]
        self.owner = linears[0]  # its .training decides the path
        self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, None)
        self.released = False  # the Linears' own weights were dropped (see pack_for_inference)

    def fast(self, x: Tensor) -> bool:
        """The packed path applies: eval mode, no autograd, same device/dtype as packed."""
        applies = not (self.owner.training or torch.is_grad_enabled()) and (
            x.device.type == "cpu" and x.dtype == self.weight.dtype
        )
        if not applies and self.released:
            raise RuntimeError(
                "this module was packed for serving and its Linear weights released: run it in "
                f"eval mode under torch.inference_mode() on {self.weight.dtype} CPU inputs"
            )
        return applies

    def __call__(self, x: Tensor) -> Tensor:
        """x (..., in) -> (..., sum out)."""
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")

    def split(self, x: Tensor) -> tuple[Tensor, ...]:
        """x (..., in) -> one (..., out_i) per fused Linear."""
        return self(x).split(self.sizes, dim=-1)


def _single(lin: nn.Linear) -> PackedLinear:
    """Make ``lin``'s forward use its packed weight when that path applies."""
    packed = PackedLinear([lin])

    def forward(x: Tensor) -> Tensor:
        return packed(x) if packed.fast(x) else F.linear(x, lin.weight, lin.bias)

    lin.forward = forward
    return packed


def _release(lin: nn.Linear) -> None:
    """Replace ``lin``'s weight and bias by shape-only (meta) tensors: the packed copy serves."""
    lin.weight = nn.Parameter(lin.weight.to("meta"), requires_grad=False)
    if lin.bias is not None:
        lin.bias = nn.Parameter(lin.bias.to("meta"), requires_grad=False)


def pack_for_inference(module: nn.Module, release: bool = False) -> float:
    """Pack ``module``'s Linear weights in place where oneDNN supports them -> seconds taken.

    ``release`` drops each packed Linear's own weight (about half the weights' memory)."""
    weight = next(module.parameters())
    if weight.device.type != "cpu" or not onednn_supports(weight.dtype):
        return 0.0
    began = time.perf_counter()
    packs: list[tuple[PackedLinear, list[nn.Linear]]] = []

    def fuse(linears: list[nn.Linear]) -> PackedLinear:
        packs.append((PackedLinear(linears), linears))
        return packs[-1][0]

    fused: set[int] = set()
    with torch.no_grad():
        for sub in module.modules():  # parents come before their children
            fuse_projections = getattr(sub, "fuse_projections", None)
            if fuse_projections is not None:
                fused.update(id(lin) for lin in fuse_projections(fuse))
            if isinstance(sub, nn.Linear) and id(sub) not in fused:
                packs.append((_single(sub), [sub]))
        for pack, linears in packs if release else ():
            pack.released = True
            for lin in linears:
                _release(lin)
    seconds = time.perf_counter() - began
    logger.info("packed %s Linear weights for oneDNN in %.2f s", type(module).__name__, seconds)
    return seconds
