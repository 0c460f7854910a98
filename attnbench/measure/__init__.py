"""Measurement: time, memory, FLOPs, energy, accuracy and gradient reach of one configuration.

:func:`measure` takes a :class:`~attnbench.config.Point` (what) and its
:class:`~attnbench.config.Options` (how), builds the variant and task once and returns one row of
:mod:`attnbench.schema`;
the modules here are its parts, usable alone: :mod:`~attnbench.measure.timing` (samples, median, IQR),
:mod:`~attnbench.measure.memory` (saved-tensor bytes, RSS, CUDA and NVML memory),
:mod:`~attnbench.measure.flops` (counted FLOPs, matmul rate), :mod:`~attnbench.measure.energy` (NVML
energy), :mod:`~attnbench.measure.reach` (gradient reach) and :mod:`~attnbench.measure.environment`.
"""

from attnbench.config import Options, Point, resolve_device, resolve_dtype
from attnbench.measure._device import Unavailable
from attnbench.measure.point import measure
from attnbench.measure.timing import Measurement, time_fn

__all__ = [
    "Measurement",
    "Options",
    "Point",
    "Unavailable",
    "measure",
    "resolve_device",
    "resolve_dtype",
    "time_fn",
]
