"""One intra-op thread: the tensors here are tiny, and on a shared CPU extra threads only wait."""

import torch

torch.set_num_threads(1)
