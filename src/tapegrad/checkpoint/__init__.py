"""Checkpointing: keep less for the backward pass, recompute the rest when it is needed.

Reverse mode keeps what its rules read (inputs, outputs of the recorded operations) until
the backward pass, so memory grows with the length of the computation.  The remedies here:

* :func:`checkpoint` — one block of code keeps only its inputs; its internal values are
  recomputed (once, replaying the same random numbers) when backward reaches the block.
* :func:`checkpoint_sequential` — a list of layers cut into segments, each checkpointed
  (``sqrt(n)`` segments by default: Chen et al. 2016, memory ``O(sqrt(n))`` for one extra
  forward pass).
* :func:`checkpoint_chain` — ``n`` applications of a time step ``state -> state`` with at
  most ``s`` snapshots in memory, scheduled with the binomial (Revolve) schedule of
  Griewank & Walther (2000), which recomputes the fewest steps possible for ``s``
  snapshots.  The schedule comes from the ``checkpoint-schedules`` package
  (``pip install "tapegrad[checkpoint]"``); :func:`binomial_steps` gives its cost.

``tg.autograd.saved_bytes()`` and ``tg.autograd.peak_saved_bytes()`` measure the effect.

The package watches the tape through the :class:`~tapegrad.autograd.grad_mode.Observer`
protocol (a block is an observer while it runs, and a ``"checkpoint"`` scope) and defers
the saved values of a block's nodes (:meth:`~tapegrad.autograd.node.Node.defer`); the
engine knows nothing of it.  Modules: ``block`` (recompute in backward), ``chain``
(Revolve chains), ``schedules`` (the schedule and its cost).
"""

from .block import checkpoint, checkpoint_sequential
from .chain import checkpoint_chain
from .schedules import binomial_steps

__all__ = [
    "checkpoint",
    "checkpoint_sequential",
    "checkpoint_chain",
    "binomial_steps",
]
