"""attnbench-fox: an attnbench plugin with forgetting attention (FoX) and Adaptive Computation Pruning.

attnbench finds :class:`ForgettingAttentionLSTM` through the ``attnbench.variants`` entry point in this
package's pyproject.toml and registers it as ``fox``; nothing here imports attnbench internals.
"""

from attnbench_fox.forgetting_read import acp_start, forgetting_read, pruned_output_bound
from attnbench_fox.variant import ForgettingAttentionLSTM

__all__ = ["ForgettingAttentionLSTM", "acp_start", "forgetting_read", "pruned_output_bound"]
