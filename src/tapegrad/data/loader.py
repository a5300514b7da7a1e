"""DataLoader: batches (optionally shuffled, reproducibly) from a dataset."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .. import random as _random
from ..errors import InvalidArgumentError, InvalidTypeError
from ..tensor import Tensor
from .dataset import Dataset, TensorDataset

__all__ = ["DataLoader", "default_collate"]


def _as_array(v: Any) -> np.ndarray:
    return v.data if isinstance(v, Tensor) else np.asarray(v)


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch of tensors (new leading axis).

    A sample that is a tuple or list gives a tuple of tensors, one per field; any other
    sample (array, scalar, Tensor) gives one tensor. Dtypes follow NumPy: float32 stays
    float32, Python floats become float64 and Python ints int64.

    Examples
    --------
    >>> import numpy as np
    >>> from tapegrad.data import default_collate
    >>> x, y = default_collate([(np.zeros(3, np.float32), 1), (np.ones(3, np.float32), 0)])
    >>> x.shape, x.dtype, y.data.tolist()
    ((2, 3), dtype('float32'), [1, 0])
    """
    if len(samples) == 0:
        raise InvalidArgumentError("default_collate: cannot make a batch from zero samples")
    first = samples[0]
    if isinstance(first, (tuple, list)):
        width = len(first)
        for s in samples:
            if not isinstance(s, (tuple, list)) or len(s) != width:
                raise InvalidArgumentError(
                    f"default_collate: every sample must be a tuple of {width} fields like the "
                    f"first one, got {type(s).__name__} {s!r:.80}"
                )
        return tuple(
            Tensor._wrap(np.stack([_as_array(s[k]) for s in samples])) for k in range(width)
        )
    return Tensor._wrap(np.stack([_as_array(s) for s in samples]))


class DataLoader:
    """Iterate over a dataset in batches of tensors.

    Each pass (``for batch in loader``) is one epoch. A :class:`TensorDataset` is batched by
    indexing its arrays with the whole batch of indices at once (no per-sample Python loop);
    any other dataset is read sample by sample and stacked by ``collate_fn``.

    Parameters
    ----------
    dataset : Dataset
        Anything with ``__len__`` and ``__getitem__``.
    batch_size : int, default 1
        Samples per batch.
    shuffle : bool, default False
        Visit the samples in a new random order every epoch.
    drop_last : bool, default False
        Drop the last batch when it is smaller than ``batch_size``.
    generator : numpy.random.Generator or int, optional
        Where the shuffling order comes from. An int is a seed: the loader then owns
        ``numpy.random.default_rng(seed)``, so two loaders built with the same seed give the
        same sequence of epochs. ``None`` uses ``tg.random.default_generator()`` (reseed it
        with ``tg.random.seed``).
    seed : int, optional
        Same as ``generator=seed`` (give one or the other).
    collate_fn : callable, optional
        Turns a list of samples into a batch (default :func:`default_collate`). Not used by
        the :class:`TensorDataset` fast path unless given explicitly.

    Examples
    --------
    >>> import numpy as np
    >>> import tapegrad as tg
    >>> ds = tg.data.TensorDataset(np.arange(10, dtype=np.float32), np.arange(10))
    >>> loader = tg.data.DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    >>> len(loader), [len(y) for x, y in loader]
    (3, [4, 4, 2])
    >>> a = [y.data.tolist() for _, y in tg.data.DataLoader(ds, 4, shuffle=True, seed=1)]
    >>> b = [y.data.tolist() for _, y in tg.data.DataLoader(ds, 4, shuffle=True, seed=1)]
    >>> a == b
    True
    """

    def __init__(
        self,
        dataset: Dataset | Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: np.random.Generator | int | None = None,
        *,
        seed: int | None = None,
        collate_fn: Any = None,
    ) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise InvalidTypeError(
                f"DataLoader needs a dataset with __len__ and __getitem__, got "
                f"{type(dataset).__name__}; wrap arrays in tg.data.TensorDataset(x, y)"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise InvalidTypeError(
                f"DataLoader: batch_size must be a positive int, got {batch_size!r}"
            )
        if batch_size < 1:
            raise InvalidArgumentError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if generator is not None and seed is not None:
            raise InvalidArgumentError("DataLoader: give either generator= or seed=, not both")
        if seed is not None:
            generator = seed
        if generator is not None and not isinstance(generator, np.random.Generator):
            if isinstance(generator, bool) or not isinstance(generator, (int, np.integer)):
                raise InvalidTypeError(
                    "DataLoader: generator must be a numpy.random.Generator or an int seed, got "
                    f"{type(generator).__name__}"
                )
            generator = np.random.default_rng(int(generator))
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator: np.random.Generator | None = generator
        self.collate_fn = default_collate if collate_fn is None else collate_fn
        self._fast = isinstance(dataset, TensorDataset) and collate_fn is None

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def _order(self) -> np.ndarray | None:
        if not self.shuffle:
            return None
        gen = self.generator if self.generator is not None else _random.default_generator()
        return gen.permutation(len(self.dataset))

    def __iter__(self) -> Iterator[Any]:
        n = len(self.dataset)
        order = self._order()
        bs = self.batch_size
        stop = (n // bs) * bs if self.drop_last else n
        for start in range(0, stop, bs):
            end = min(start + bs, n)
            if self._fast:
                arrays = self.dataset.arrays  # type: ignore[union-attr]
                if order is None:  # a copy, so in-place changes never reach the dataset
                    yield tuple(Tensor._wrap(a[start:end].copy()) for a in arrays)
                else:
                    idx = order[start:end]
                    yield tuple(Tensor._wrap(a[idx]) for a in arrays)
            else:
                ids = range(start, end) if order is None else order[start:end].tolist()
                yield self.collate_fn([self.dataset[i] for i in ids])

    def __repr__(self) -> str:
        return (
            f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
