"""Where a run computes and in what precision: decided once per run, from plain settings.

Why a module of its own: the device and the precision are asked for by the data (where the
images live), the engine (autocast, the stepper), the estimate (what to probe) and the command
line (to refuse a bad flag before loading anything). Each resolves the user's words ("auto",
"cuda:1", "bf16") the same way here, and a run keeps the answer: it is never resolved again.

`precision="auto"` is bf16 autocast on CUDA, and on CPUs that compute bf16 in hardware
(AVX512-BF16 or AMX) for models with convolutions; fp32 elsewhere. Emulated bf16 trained
ResNet-20 about 10x slower than fp32 on an AVX2-only CPU, native bf16 1.39x faster than fp32 on
an AVX512-BF16 one; but a model of linear layers (an MLP, a small transformer) stepped slower in
bf16 on that CPU, where autocast's casts cost more than its matrix products save (README,
Performance).
"""
from __future__ import annotations

import torch

from .errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """A torch.device from "auto" (CUDA if present), "cpu", "cuda", "cuda:N" or a device."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ConfigError(f"device {device!r} is unknown; use cpu, cuda or auto")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA GPU is available; use --device cpu")
    return torch.device(device)


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 in hardware (AVX512-BF16 or AMX tiles), as torch itself
    detects it."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def check_precision(precision: str) -> str:
    """`precision` if it is one of PRECISIONS; else a ConfigError naming the choices. The one
    check of the name: everything that takes a precision from a user calls it (or
    resolve_precision, which does)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is unknown; choose one of "
                          f"{', '.join(PRECISIONS)}")
    return precision


def resolve_precision(precision: str, device: torch.device,
                      model: torch.nn.Module | None = None) -> str:
    """"fp32" or "bf16" for `precision` ("auto", "fp32" or "bf16") on `device`, for `model`
    where it is known (on a CPU, auto is bf16 only for a model with convolutions)."""
    if check_precision(precision) != "auto":
        return precision
    if device.type == "cuda":
        return "bf16"
    native = device.type == "cpu" and cpu_has_native_bf16()
    return "bf16" if native and (model is None or has_convolutions(model)) else "fp32"


def has_convolutions(model: torch.nn.Module) -> bool:
    """Whether the model convolves (where channels_last and bf16 on a CPU pay)."""
    return any(isinstance(m, torch.nn.modules.conv._ConvNd) for m in model.modules())


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's parameters; a model without any is refused."""
    try:
        return next(model.parameters()).device
    except StopIteration:
        raise ConfigError("the model has no parameters: give it trainable weights") from None
