"""A model's input as the package hands it around: a tensor, or a list of tensors (SlowFast's
``[slow, fast]``), and the one way to pass it again without the model changing the caller's list."""
from __future__ import annotations

__all__ = ["fresh_input"]


def fresh_input(inputs):
    """``inputs`` with every list (or tuple) rebuilt as a new list, the tensors themselves shared:
    what to pass a model that may write into a list it is handed (pytorchvideo's SlowFast
    overwrites its ``[slow, fast]`` input, see ``softpool3d.models.pitfalls``), so the caller's
    list stays as it was. A tensor is returned as is."""
    if isinstance(inputs, (list, tuple)):
        return [fresh_input(x) for x in inputs]
    return inputs
