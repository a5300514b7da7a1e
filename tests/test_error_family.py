"""Every error tapegrad raises is a member of the TapegradError family.

The static check parses every module under ``src/tapegrad`` and lists each ``raise`` of a
builtin exception class; the behavioural tests check that converted errors are both a
``TapegradError`` and the builtin they used to be, and that they name who raised them.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.errors import TapegradError
from tapegrad.explain import compile_expression

SRC = Path(__file__).resolve().parents[1] / "src" / "tapegrad"

# Builtins a module may still raise: iteration and interpreter-exit signals, not errors.
ALLOWED = {"StopIteration", "SystemExit", "KeyboardInterrupt", "GeneratorExit"}
BUILTIN_EXCEPTIONS = {
    name
    for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, BaseException) and name not in ALLOWED
}




def _raised_name(node: ast.Raise) -> str | None:
    """The builtin class name ``node`` raises, or None (re-raise, a variable, a family class)."""
    exc = node.exc
    if exc is None:  # bare ``raise``
        return None
    if isinstance(exc, ast.Call):
        exc = exc.func
    if isinstance(exc, ast.Name) and exc.id in BUILTIN_EXCEPTIONS:
        return exc.id
    if (
        isinstance(exc, ast.Attribute)
        and isinstance(exc.value, ast.Name)
        and exc.value.id == "builtins"
        and exc.attr in BUILTIN_EXCEPTIONS
    ):
        return exc.attr
    return None


def _shadowed_names(tree: ast.Module) -> set[str]:
    """Names bound in the module (an import or a class of the same name shadows the builtin)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
    return names


def builtin_raises(root: Path, pending: set[str]) -> list[str]:
    """``file:line: raise Name`` for every raise of a builtin exception under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in pending:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        shadowed = _shadowed_names(tree)
        raises = sorted(
            (node for node in ast.walk(tree) if isinstance(node, ast.Raise)),
            key=lambda node: node.lineno,
        )
        for node in raises:
            name = _raised_name(node)
            if name is not None and name not in shadowed:
                found.append(f"src/tapegrad/{rel}:{node.lineno}: raise {name}")
    return found


def test_no_builtin_raises_in_the_package():
    found = builtin_raises(SRC, set())
    assert not found, "raise a tapegrad.errors class instead of the builtin:\n" + "\n".join(found)


def test_the_check_finds_builtin_raises(tmp_path):
    (tmp_path / "bad.py").write_text(
        "import builtins\n"
        "def f(x):\n"
        "    if x:\n"
        "        raise ValueError('x')\n"
        "    raise KeyError\n"
        "def g():\n"
        "    raise builtins.RuntimeError('y')\n"
    )
    (tmp_path / "ok.py").write_text(
        "from tapegrad.errors import InvalidArgumentError\n"
        "def f(it):\n"
        "    try:\n"
        "        raise InvalidArgumentError('f: x')\n"
        "    except ValueError as err:\n"
        "        raise err\n"
        "    except KeyError:\n"
        "        raise\n"
        "    raise StopIteration\n"
    )
    assert builtin_raises(tmp_path, set()) == [
        "src/tapegrad/bad.py:4: raise ValueError",
        "src/tapegrad/bad.py:5: raise KeyError",
        "src/tapegrad/bad.py:7: raise RuntimeError",
    ]
    assert builtin_raises(tmp_path, {"bad.py"}) == []


# --- behaviour: converted errors are the family and the old builtin, and say who raised --


def test_load_state_dict_missing_keys():
    with pytest.raises(TapegradError, match="Linear") as info:
        nn.Linear(3, 2).load_state_dict({})
    assert isinstance(info.value, KeyError) or isinstance(info.value, RuntimeError)
    assert "weight" in str(info.value)


@pytest.mark.parametrize("make", [optim.SGD, optim.Adam])
def test_optimizer_bad_lr(make):
    p = nn.Parameter(tg.ones(2))
    with pytest.raises(TapegradError, match=make.__name__) as info:
        make([p], lr=-1.0)
    assert isinstance(info.value, ValueError)


def test_dataloader_bad_batch_size():
    ds = tg.data.TensorDataset(tg.ones((4, 2)))
    with pytest.raises(TapegradError, match="DataLoader") as info:
        tg.data.DataLoader(ds, batch_size=0)
    assert isinstance(info.value, ValueError)


def test_load_state_dict_wrong_type():
    with pytest.raises(TapegradError, match="Linear: load_state_dict expects a mapping") as info:
        nn.Linear(3, 2).load_state_dict([1, 2])
    assert isinstance(info.value, TypeError)


def test_module_name_errors_are_key_errors():
    m = nn.Linear(3, 2)
    with pytest.raises(KeyError, match="Linear: parameter name can't be empty") as info:
        m.register_parameter("a.b", None)
    assert isinstance(info.value, TapegradError)
    # the message reads without the quotes a plain KeyError puts around it
    assert str(info.value).startswith("Linear: parameter name")
    with pytest.raises(tg.errors.InvalidKeyError, match="ModuleDict has no key 'x'"):
        nn.ModuleDict()["x"]
    with pytest.raises(tg.errors.IndexingError, match="out of range for Sequential"):
        nn.Sequential(nn.ReLU())[3]


def test_missing_attributes_keep_hasattr_working():
    m = nn.Linear(3, 2)
    assert not hasattr(m, "nope")
    assert getattr(m, "nope", 7) == 7
    with pytest.raises(tg.errors.InvalidAttributeError, match="'Linear' object has no attribute"):
        m.nope  # noqa: B018
    assert not hasattr(tg.ones(2), "nope")
    assert not hasattr(tg.autograd, "nope")
    with pytest.raises(AttributeError, match="tapegrad.autograd"):
        tg.autograd.nope  # noqa: B018


def test_abstract_methods():
    class Bare(nn.Module):
        pass

    with pytest.raises(tg.errors.AbstractMethodError, match="Bare has no forward") as info:
        Bare()(tg.ones(2))
    assert isinstance(info.value, NotImplementedError)
    with pytest.raises(NotImplementedError, match="must define __len__"):
        len(tg.data.Dataset())


def test_init_without_super_is_a_runtime_error():
    class NoSuper(nn.Module):
        def __init__(self):
            pass

    with pytest.raises(tg.errors.InvalidStateError, match="did not call super"):
        NoSuper()(tg.ones(2))
    with pytest.raises(RuntimeError):
        NoSuper()(tg.ones(2))


def test_optimizer_errors_name_the_optimizer():
    p = nn.Parameter(tg.ones(2))
    with pytest.raises(ValueError, match="RMSprop: invalid alpha"):
        optim.RMSprop([p], alpha=-1.0)
    with pytest.raises(ValueError, match="Adam: invalid beta at index 1"):
        optim.Adam([p], betas=(0.9, 1.5))
    with pytest.raises(tg.errors.InvalidTypeError, match="SGD: params must be an iterable"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(tg.errors.InvalidArgumentError, match="LBFGS: invalid learning rate"):
        optim.LBFGS([p], lr=-1.0)


def test_scheduler_errors():
    opt = optim.SGD([nn.Parameter(tg.ones(2))], lr=0.1)
    with pytest.raises(tg.errors.InvalidArgumentError, match="StepLR: step_size"):
        optim.lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(KeyError, match="StepLR: param 'initial_lr'"):
        optim.lr_scheduler.StepLR(opt, step_size=1, last_epoch=3)


def test_dataloader_bad_generator():
    ds = tg.data.TensorDataset(tg.ones((4, 2)))
    with pytest.raises(tg.errors.InvalidTypeError, match="DataLoader: generator must be"):
        tg.data.DataLoader(ds, generator="x")
    with pytest.raises(tg.errors.InvalidTypeError, match="DataLoader: batch_size"):
        tg.data.DataLoader(ds, batch_size=1.5)


def test_explain_errors():
    x = tg.tensor(1.0)
    with pytest.raises(tg.errors.InvalidArgumentError, match="explain: mode must be one of"):
        tg.explain(tg.sin, x, mode="sideways")
    with pytest.raises(TypeError, match="explain needs a function") as info:
        tg.explain(3, x)
    assert isinstance(info.value, TapegradError)
    with pytest.raises(ValueError, match="explain: got 1 inputs but 2 names"):
        tg.explain(tg.sin, x, names=["a", "b"])
    with pytest.raises(tg.errors.InvalidTypeError, match="explain: the function must return"):
        tg.explain(lambda a: 3.0, x)
    e = tg.explain(tg.sin, x)
    with pytest.raises(KeyError, match="Explanation: no step named 'w99'") as info:
        e["w99"]
    assert isinstance(info.value, TapegradError)
    with pytest.raises(tg.errors.InvalidTypeError, match="compile_expression: the expression"):
        compile_expression(3)


def test_clip_grad_norm_nonfinite():
    p = nn.Parameter(tg.ones(2))
    p.grad = tg.tensor([float("inf"), 1.0])
    with pytest.raises(tg.errors.NonFiniteError, match="clip_grad_norm_: the total norm") as info:
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, FloatingPointError)
    with pytest.raises(ValueError, match="clip_grad_value_: clip_value must be >= 0"):
        nn.utils.clip_grad_value_([p], -1.0)


def test_layer_errors_name_the_layer():
    with pytest.raises(tg.errors.InvalidArgumentError, match="Dropout: dropout probability"):
        nn.Dropout(p=2.0)
    with pytest.raises(tg.errors.InvalidArgumentError, match="GELU: approximate must be"):
        nn.GELU(approximate="erf")
    with pytest.raises(IndexError, match="Embedding index out of range") as info:
        nn.Embedding(3, 2)(tg.tensor([5]))
    assert isinstance(info.value, TapegradError)
    with pytest.raises(ValueError, match="CrossEntropyLoss: label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=2.0)


def test_grad_assignment_names_tensor_grad():
    x = tg.ones(2, requires_grad=True)
    with pytest.raises(tg.errors.InvalidTypeError, match="Tensor.grad: assigned grad"):
        x.grad = [1.0, 2.0]
