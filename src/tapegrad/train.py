"""The ``tapegrad train`` command: train a classifier on the bundled digits or your own data.

``tapegrad train`` (or ``python -m tapegrad train``) trains a small MLP (``--model mlp``) or
CNN (``--model cnn``) with SGD or Adam, shows one progress line (or a tqdm bar) per epoch,
prints the test accuracy, and writes into ``--out DIR``:

- ``model.npz``: the model's ``state_dict`` (load it back with ``np.load`` and
  ``model.load_state_dict``; rebuild the model with :func:`build_model`);
- ``metrics.json``: the settings and, per epoch, loss and accuracy on the train and test sets;
- ``curves.png``: the loss and accuracy curves (needs matplotlib; skipped with a note if not).

Runs are reproducible bit-for-bit: the same ``--seed`` gives the same weights and metrics.
``--jit`` compiles the training step (forward, backward, optimizer update) and the evaluation
with :func:`tapegrad.jit`: the same run, bit for bit, with less Python overhead per step.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

import tapegrad as tg

from . import nn
from .errors import NonFiniteError, TapegradError

__all__ = [
    "TrainConfig",
    "TrainError",
    "TrainWarning",
    "build_model",
    "load_dataset",
    "run",
    "evaluate",
    "MAX_CLASSES",
]

#: The most classes (largest label + 1) a ``--data`` file may have: the output layer gets one
#: unit per class, so a stray huge label would otherwise allocate a huge layer.
MAX_CLASSES = 10_000


class TrainError(TapegradError, ValueError):
    """Settings or data that a training run cannot use (the message says what to change)."""


class TrainWarning(UserWarning):
    """Data a run can use, but hardly learn from or test on (e.g. a class missing from the
    training split); ``tapegrad train`` prints these as ``tapegrad train: warning: ...``."""


# default learning rates, tuned on the digits (cosine-annealed to 0 over the run)
DEFAULT_LR = {
    ("mlp", "adam"): 5e-3,
    ("cnn", "adam"): 2e-3,
    ("mlp", "sgd"): 0.05,
    ("cnn", "sgd"): 0.05,
}


@dataclass
class TrainConfig:
    """Settings of one training run (the ``tapegrad train`` options).

    ``jit=True`` (``--jit``) compiles the training step and the evaluation with
    :func:`tapegrad.jit`; the run is the same, bit for bit.

    Examples
    --------
    >>> from tapegrad.train import TrainConfig
    >>> TrainConfig(model="cnn", epochs=3).lr_or_default()
    0.002
    """

    model: str = "mlp"
    epochs: int = 20
    lr: float | None = None
    batch_size: int = 32
    optimizer: str = "adam"
    seed: int = 0
    out: str = "tapegrad_run"
    data: str | None = None
    progress: bool = True
    jit: bool = False

    def lr_or_default(self) -> float:
        """``lr``, or the optimizer's default learning rate when it is None."""
        return DEFAULT_LR[self.model, self.optimizer] if self.lr is None else float(self.lr)


# ---------------------------------------------------------------------------- data


def load_dataset(
    data: str | None, model: str, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The ``(x_train, y_train, x_test, y_test, n_classes)`` a run trains and tests on.

    ``data=None`` gives the bundled digits with their fixed split. A file (``.npz`` or
    ``.csv``, see :func:`tapegrad.data.load_data_file`) is split 80/20 by a permutation drawn
    from ``seed``; its labels must be class indices ``0..K-1`` with ``K`` at most the number of
    samples and at most :data:`MAX_CLASSES` (else :class:`TrainError`), and a set too small
    to split well (fewer than 10 samples, or a class with no sample in the training part)
    gets a :class:`TrainWarning`. For ``model="cnn"`` the inputs are shaped ``(N, C, H, W)``:
    flat rows of a square length ``H*H`` become ``(N, 1, H, H)``; for ``"mlp"`` they are
    flattened.
    """
    from .data import load_data_file, load_digits

    if data is None:
        xtr, ytr = load_digits("train")
        xte, yte = load_digits("test")
    else:
        x, y = load_data_file(data)
        if x.shape[0] < 2:
            raise TrainError(f"{data}: need at least 2 samples to make a train and a test set")
        perm = np.random.default_rng(seed).permutation(x.shape[0])
        n_test = max(1, int(round(0.2 * x.shape[0])))
        te, tr = perm[:n_test], perm[n_test:]
        xtr, ytr, xte, yte = x[tr], y[tr], x[te], y[te]
        _check_classes(data, y)
    n_classes = int(max(ytr.max(), yte.max())) + 1
    if n_classes < 2:
        raise TrainError("the labels have a single class (0); a classifier needs at least two")
    if data is not None:
        _warn_small_split(data, y, ytr, n_test)
    if model == "mlp":
        xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    else:
        xtr, xte = _as_images(xtr, data), _as_images(xte, data)
    return xtr, ytr, xte, yte, n_classes


def _check_classes(data: str, y: np.ndarray) -> None:
    k, n = int(y.max()) + 1, len(y)
    if k > n or k > MAX_CLASSES:
        limit = f"the {n} samples" if k > n else f"MAX_CLASSES = {MAX_CLASSES}"
        raise TrainError(
            f"{data}: the largest label is {k - 1}, so the model would need {k} outputs, more "
            f"than {limit}; labels must be class indices 0..K-1 with K at most the number of "
            "samples: renumber them, e.g. with np.unique(y, return_inverse=True)[1]"
        )


def _warn_small_split(data: str, y: np.ndarray, ytr: np.ndarray, n_test: int) -> None:
    n = len(y)
    if n < 10:
        warnings.warn(
            f"{data}: only {n} samples; {n_test} of them are held out for testing, so the "
            "test accuracy says little. Use more data",
            TrainWarning,
            stacklevel=3,
        )
    unseen = np.setdiff1d(np.unique(y), np.unique(ytr))
    if unseen.size:
        shown = ", ".join(str(int(c)) for c in unseen[:10]) + (", ..." if unseen.size > 10 else "")
        warnings.warn(
            f"{data}: {unseen.size} class(es) ({shown}) have no sample in the training split "
            f"({n - n_test} of {n} samples; 20% are held out for testing), so the model cannot "
            "learn them. Add samples of each class",
            TrainWarning,
            stacklevel=3,
        )


def _prepare_out(out: str) -> None:
    """Create the output folder and check it takes files, before any training."""
    where = f"output folder {out!r}"
    if os.path.exists(out) and not os.path.isdir(out):
        raise TrainError(f"{where} is a file; give a folder (it is created if missing)")
    parent = os.path.abspath(out)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise TrainError(
            f"{where}: {parent} is a file, so no folder can be made under it; give another --out"
        )
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise TrainError(
            f"{where} cannot be created or written to ({e.strerror or e}); give a folder you "
            "can write to"
        ) from None
    for name in ("model.npz", "metrics.json", "curves.png"):
        target = os.path.join(out, name)
        if os.path.isdir(target):
            raise TrainError(
                f"{where}: {target} is a folder, so {name} cannot be written; remove it or "
                "give another --out"
            )


def _as_images(x: np.ndarray, data: str | None) -> np.ndarray:
    if x.ndim == 4:
        return x
    if x.ndim == 3:
        return x[:, None]
    flat = x.reshape(len(x), -1)
    side = int(round(np.sqrt(flat.shape[1])))
    if side * side != flat.shape[1]:
        raise TrainError(
            f"{data}: --model cnn needs images; x has {flat.shape[1]} features per sample, "
            "not a square number. Save x with shape (N, C, H, W) or use --model mlp"
        )
    return flat.reshape(len(x), 1, side, side)


# ---------------------------------------------------------------------------- model


class Standardize(nn.Module):
    """``(x - mean) / std`` with fixed (not trained) ``mean`` and ``std`` buffers.

    The first layer of the models :func:`build_model` makes, so that a saved ``state_dict``
    carries its own input scaling. :meth:`fit` computes the statistics from training data.

    Examples
    --------
    >>> import numpy as np
    >>> import tapegrad as tg
    >>> from tapegrad.train import Standardize
    >>> s = Standardize.fit(np.array([[0.0, 1.0], [2.0, 1.0]], np.float32))
    >>> s(tg.tensor(np.array([[2.0, 1.0]], np.float32)))
    tensor([[1., 0.]], dtype=float32)
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", tg.tensor(np.asarray(mean, np.float32)))
        self.register_buffer("std", tg.tensor(np.asarray(std, np.float32)))

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardize:
        """Per-feature mean and std of ``x`` (samples on axis 0).

        Each std is floored at 10% of the range of all of ``x``, so that a feature that is
        (nearly) constant in the training data is not blown up at test time.
        """
        x = np.asarray(x, np.float64)
        floor = 0.1 * float(x.max() - x.min()) if x.size else 0.0
        std = np.maximum(x.std(axis=0), floor if floor > 0 else 1.0)
        return cls(x.mean(axis=0), std)

    def forward(self, x: Any) -> Any:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"shape={tuple(self.mean.shape)}"


def build_model(
    kind: str, in_shape: Sequence[int], n_classes: int, x_train: np.ndarray | None = None
) -> Any:
    """The network ``tapegrad train --model kind`` trains (a ``tg.nn.Sequential``).

    Parameters
    ----------
    kind : {"mlp", "cnn"}
        ``mlp``: Standardize - Linear(F, 128) - ReLU - Linear(128, n_classes).
        ``cnn``: Standardize - Conv2d(C, 32, 3, padding=1) - ReLU - MaxPool2d(2) - Flatten -
        Dropout(0.3) - Linear(.., 128) - ReLU - Linear(128, n_classes).
    in_shape : sequence of int
        The shape of one sample: ``(F,)`` for mlp, ``(C, H, W)`` for cnn.
    n_classes : int
        Number of outputs (logits).
    x_train : ndarray, optional
        Training inputs the :class:`Standardize` layer takes its statistics from (default:
        mean 0, std 1, to be filled by ``load_state_dict``).

    Examples
    --------
    >>> from tapegrad.train import build_model
    >>> model = build_model("mlp", (64,), 10)
    >>> [type(m).__name__ for m in model]
    ['Standardize', 'Linear', 'ReLU', 'Linear']
    """
    in_shape = tuple(int(d) for d in in_shape)
    if x_train is None:
        norm = Standardize(np.zeros(in_shape, np.float32), np.ones(in_shape, np.float32))
    else:
        norm = Standardize.fit(x_train)
    if kind == "mlp":
        if len(in_shape) != 1:
            raise TrainError(f"--model mlp needs flat samples (F,), got shape {in_shape}")
        (f,) = in_shape
        return nn.Sequential(norm, nn.Linear(f, 128), nn.ReLU(), nn.Linear(128, n_classes))
    if kind == "cnn":
        if len(in_shape) != 3:
            raise TrainError(f"--model cnn needs images (C, H, W), got shape {in_shape}")
        c, h, w = in_shape
        h2, w2 = h // 2, w // 2
        if h2 < 1 or w2 < 1:
            raise TrainError(f"--model cnn needs images of at least 2x2, got {h}x{w}")
        return nn.Sequential(
            norm,
            nn.Conv2d(c, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(32 * h2 * w2, 128),
            nn.ReLU(),
            nn.Linear(128, n_classes),
        )
    raise TrainError(f"unknown model {kind!r}; use 'mlp' or 'cnn'")


def _optimizer(name: str, params: Any, lr: float) -> Any:
    from . import optim

    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9)
    raise TrainError(f"unknown optimizer {name!r}; use 'sgd' or 'adam'")


# ---------------------------------------------------------------------------- loop


def evaluate(
    model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 512
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)``, in eval mode, no grad."""
    return _evaluate(model, x, y, lambda xb, yb: _eval_batch(model, xb, yb), batch_size)


def _eval_batch(model: Any, xb: Any, yb: Any) -> tuple[Any, Any]:
    """The summed cross-entropy and the logits of one batch."""
    from .nn.functional import cross_entropy

    logits = model(xb)
    return cross_entropy(logits, yb, reduction="sum"), logits


def _evaluate(
    model: Any, x: np.ndarray, y: np.ndarray, batch: Callable[..., Any], batch_size: int = 512
) -> tuple[float, float]:
    """:func:`evaluate` with ``batch(xb, yb) -> (summed loss, logits)`` doing the work (the
    model run eagerly, or compiled)."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    with tg.no_grad():
        for s in range(0, len(x), batch_size):
            xb, yb = x[s : s + batch_size], y[s : s + batch_size]
            loss, logits = batch(tg.as_tensor(xb), tg.as_tensor(yb))
            total_loss += float(loss.item())
            correct += int((np.argmax(logits.data, axis=1) == yb).sum())
    model.train(was_training)
    n = max(len(x), 1)
    return total_loss / n, correct / n


class _Progress:
    """A tqdm bar per epoch when tqdm is installed, else one printed line per epoch."""

    def __init__(self, enabled: bool, epochs: int, n_batches: int) -> None:
        self.enabled, self.epochs, self.n_batches = enabled, epochs, n_batches
        self.bar: Any = None
        self._tqdm: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            self._tqdm = tqdm

    def start(self, epoch: int) -> None:
        if self._tqdm is not None:
            self.bar = self._tqdm(
                total=self.n_batches, desc=f"epoch {epoch}/{self.epochs}", leave=True, unit="batch"
            )

    def step(self, loss: float, acc: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.4f}", refresh=False)
            self.bar.update(1)

    def end(self, epoch: int, rec: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(
                loss=f"{rec['train_loss']:.4f}",
                acc=f"{rec['train_acc']:.4f}",
                test_acc=f"{rec['test_acc']:.4f}",
            )
            self.bar.close()
            self.bar = None
        elif self.enabled:
            print(
                f"epoch {epoch:>3}/{self.epochs}: train loss {rec['train_loss']:.4f} "
                f"acc {rec['train_acc']:.4f} | test loss {rec['test_loss']:.4f} "
                f"acc {rec['test_acc']:.4f} ({rec['seconds']:.2f}s)",
                flush=True,
            )


def _plot(history: list[dict[str, float]], path: str) -> bool:
    """Save the loss and accuracy curves as a PNG; False when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return False
    ep = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4))
    a1, a2 = fig.subplots(1, 2)
    for ax, key, label in ((a1, "loss", "cross-entropy"), (a2, "acc", "accuracy")):
        ax.plot(ep, [h[f"train_{key}"] for h in history], marker=".", label="train")
        ax.plot(ep, [h[f"test_{key}"] for h in history], marker=".", label="test")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return True


def run(config: TrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train as ``tapegrad train`` does and write the output files; return the metrics dict.

    Examples
    --------
    >>> import tempfile
    >>> from tapegrad.train import TrainConfig, run
    >>> out = tempfile.mkdtemp()
    >>> m = run(TrainConfig(epochs=1, out=out, progress=False), log=lambda s: None)
    >>> sorted(m["final"])
    ['test_acc', 'test_loss', 'train_acc', 'train_loss']
    """
    if config.model not in ("mlp", "cnn"):
        raise TrainError(f"unknown model {config.model!r}; use 'mlp' or 'cnn'")
    if config.optimizer not in ("sgd", "adam"):
        raise TrainError(f"unknown optimizer {config.optimizer!r}; use 'sgd' or 'adam'")
    if config.epochs < 0:
        raise TrainError(f"epochs must be >= 0, got {config.epochs}")
    if config.batch_size < 1:
        raise TrainError(f"batch size must be >= 1, got {config.batch_size}")
    lr = config.lr_or_default()
    if not (lr > 0 and math.isfinite(lr)):
        raise TrainError(f"learning rate must be > 0, got {lr}")

    xtr, ytr, xte, yte, n_classes = load_dataset(config.data, config.model, config.seed)
    _prepare_out(config.out)
    # Initialisers (and dropout) draw from the global generator: seed it for the run, then
    # give the caller's generator state back.
    saved_state = tg.random.get_state()
    tg.random.seed(config.seed)
    try:
        return _train(config, lr, xtr, ytr, xte, yte, n_classes, log)
    finally:
        tg.random.set_state(saved_state)


def _train(
    config: TrainConfig,
    lr: float,
    xtr: np.ndarray,
    ytr: np.ndarray,
    xte: np.ndarray,
    yte: np.ndarray,
    n_classes: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from . import optim
    from .data import DataLoader, TensorDataset
    from .nn.functional import cross_entropy

    model = build_model(config.model, xtr.shape[1:], n_classes, x_train=xtr)
    opt = _optimizer(config.optimizer, model.parameters(), lr)

    def train_step(xb: Any, yb: Any) -> tuple[Any, Any]:
        # zero_grad last, not first: every step then starts with .grad None, the state the
        # compiled step is traced in (one trace per batch shape); the gradients are the same.
        logits = model(xb)
        loss = cross_entropy(logits, yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss, logits

    def eval_batch(xb: Any, yb: Any) -> tuple[Any, Any]:
        return _eval_batch(model, xb, yb)

    step: Any = train_step
    eval_fn: Any = eval_batch
    if config.jit:
        # Two programs: the step is traced in train mode with grad on, the evaluation in
        # eval mode under no_grad (a trace keeps the mode it ran in: dropout on or off).
        step, eval_fn = tg.jit(train_step), tg.jit(eval_batch)
    # cosine annealing from lr to 0 over the run, one step per epoch
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(config.epochs, 1))
    loader = DataLoader(
        TensorDataset(xtr, ytr), batch_size=config.batch_size, shuffle=True, seed=config.seed
    )
    source = config.data if config.data is not None else "bundled digits"
    log(
        f"training {config.model} on {source}: {len(xtr)} train / {len(xte)} test samples, "
        f"{n_classes} classes, {config.optimizer} lr={lr:g}, batch {config.batch_size}, "
        f"{config.epochs} epochs, seed {config.seed}" + (", jit" if config.jit else "")
    )

    history: list[dict[str, float]] = []
    progress = _Progress(config.progress, config.epochs, len(loader))
    model.train()
    t_all = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        progress.start(epoch)
        seen, loss_sum, correct = 0, 0.0, 0
        for xb, yb in loader:
            loss, logits = step(xb, yb)
            nb = len(yb.data)
            seen += nb
            loss_sum += float(loss.item()) * nb
            correct += int((np.argmax(logits.data, axis=1) == yb.data).sum())
            progress.step(loss_sum / seen, correct / seen)
        sched.step()
        train_seconds = time.perf_counter() - t0
        if not np.isfinite(loss_sum):
            raise NonFiniteError(
                f"train: the training loss became {loss_sum / max(seen, 1)} in epoch {epoch}; "
                "lower --lr (or check the data for huge values)"
            )
        test_loss, test_acc = _evaluate(model, xte, yte, eval_fn)
        rec = {
            "epoch": epoch,
            "train_loss": loss_sum / max(seen, 1),
            "train_acc": correct / max(seen, 1),
            "test_loss": test_loss,
            "test_acc": test_acc,
            "seconds": train_seconds,
        }
        history.append(rec)
        progress.end(epoch, rec)
    total_seconds = time.perf_counter() - t_all

    train_loss, train_acc = _evaluate(model, xtr, ytr, eval_fn)
    test_loss, test_acc = _evaluate(model, xte, yte, eval_fn)
    final = {
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
    }
    cfg = asdict(config)
    cfg.pop("progress")
    cfg.update(lr=lr, n_classes=n_classes, n_train=len(xtr), n_test=len(xte))
    metrics: dict[str, Any] = {
        "config": cfg,
        "history": [{k: v for k, v in h.items() if k != "seconds"} for h in history],
        "final": final,
    }
    if config.jit:
        # the programs compiled: one per batch shape
        metrics["jit"] = {"step_traces": step.trace_count, "eval_traces": eval_fn.trace_count}
    # wall-clock times differ between runs; everything above is reproducible bit-for-bit
    metrics["timing"] = {
        "epoch_seconds": [h["seconds"] for h in history],
        "total_seconds": total_seconds,
    }

    model_path = os.path.join(config.out, "model.npz")
    metrics_path = os.path.join(config.out, "metrics.json")
    try:
        os.makedirs(config.out, exist_ok=True)
        np.savez(model_path, **model.state_dict())
        with open(metrics_path, "w") as f:
            json.dump(metrics, f, indent=2)
            f.write("\n")
    except OSError as e:
        raise TrainError(f"could not write the results into {config.out!r}: {e}") from None
    log(f"test accuracy: {test_acc:.4f} ({round(test_acc * len(xte))}/{len(xte)})")
    log(f"wrote {model_path} and {metrics_path}")
    plot_path = os.path.join(config.out, "curves.png")
    if _plot(history, plot_path):
        log(f"wrote {plot_path}")
    else:
        log("plot skipped: matplotlib is not installed (pip install matplotlib)")
    return metrics


def main(args: Any) -> int:
    """Entry point of ``tapegrad train`` (``args`` from the CLI parser)."""
    from .data import DataFileError

    config = TrainConfig(
        model=args.model,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        seed=args.seed,
        out=args.out,
        data=args.data,
        progress=not args.quiet,
        jit=args.jit,
    )

    default_show = warnings.showwarning

    def show(message: Any, category: Any, *rest: Any, **kw: Any) -> None:
        if issubclass(category, TrainWarning):
            print(f"tapegrad train: warning: {message}", file=sys.stderr, flush=True)
        else:
            default_show(message, category, *rest, **kw)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", TrainWarning)
            warnings.showwarning = show
            run(config)
    except (DataFileError, TrainError, FloatingPointError) as e:
        print(f"tapegrad train: error: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            "tapegrad train: error: out of memory; use a smaller data set, --batch-size or "
            "--model mlp",
            file=sys.stderr,
        )
        return 2
    return 0
