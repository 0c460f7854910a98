"""attnbench: what does attention over the past cost a recurrent network, and what does it buy?

Benchmark harness for the memory-versus-compute trade-offs of attention in recurrent networks:
built-in variants (lstm, dense, sab, rsm), tasks, measurement of time, memory, FLOPs, energy and
accuracy, sweeps, asv benchmarks and reports. Outside packages add variants and tasks through the
``attnbench.variants`` and ``attnbench.tasks`` entry-point groups.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("attnbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# The version of the contract plugins are written to (docs/plugins.md, "The plugin contract"): 2 added
# the "valid" split to Task.sample (plugins of 1, which knew "train" and "test", keep working).
PLUGIN_API = 2

__all__ = ["PLUGIN_API", "__version__"]
