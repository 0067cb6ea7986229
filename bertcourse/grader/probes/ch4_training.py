"""Re-check probes of Chapter 4 (ch4_training): schedules, AdamW, layer-wise rates, clipping, accumulation.

The schedules are called directly. The other items need objects that cannot cross the codec (a
model, an optimiser, parameters with gradients), so their cases call the notebook's harness
(``adamw_run``, ``layerwise_table``, ``clip_run``, ``accumulation_run``, ``split_error``: a
locked cell before the first answer, run by the worker like the setup), which builds those
objects from plain arrays, calls the student's function and returns plain data. Every expected
value is computed here, by the reference implementation or by torch, never taken from the worker.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ...models.bert import BertConfig, BertModel
from ...models.heads import BertForPreTraining
from .common import Case, Context, Mismatch, Probe, checked, property_check, reference_of, short

RTOL = 1e-6


def _call(target: str, *args, **kwargs) -> dict:
    return {"op": "call", "target": target, "args": list(args), "kwargs": kwargs}


def _close(got, expected, what: str, atol: float = 1e-6, rtol: float = RTOL) -> None:
    """``got`` (plain data from the worker) matches ``expected`` (tensors, floats, None, nested lists)."""
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            raise Mismatch(f"{what}: expected {len(expected)} values, got {short(got)}")
        for k, (g, e) in enumerate(zip(got, expected)):
            _close(g, e, f"{what}[{k}]", atol, rtol)
        return
    if expected is None:
        if got is not None:
            raise Mismatch(f"{what}: expected None, got {short(got)}")
        return
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
        if not isinstance(got, np.ndarray) or got.shape != expected.shape or got.dtype != expected.dtype:
            raise Mismatch(f"{what}: expected an array {expected.shape} {expected.dtype}, got {short(got)}")
    elif type(got) not in (int, float) or isinstance(got, bool):
        raise Mismatch(f"{what}: expected a number, got {short(got)}")
    error = np.abs(np.asarray(got, np.float64) - np.asarray(expected, np.float64))
    if np.isnan(error).any() or (error > atol + rtol * np.abs(np.asarray(expected, np.float64))).any():
        raise Mismatch(f"{what}: max abs error {np.nanmax(error) if error.size else 0:.3g}")


def _matches(expected, what: str, atol: float = 1e-6, rtol: float = RTOL):
    return property_check(lambda got: _close(got, expected, what, atol, rtol))


# --- schedules -----------------------------------------------------------------------------------------

def _rate_check(expected: float, label: str):
    def check(got):
        if type(got) is not float:
            raise Mismatch(f"{label}: expected a Python float, got {short(got)}")
        if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-15):
            raise Mismatch(f"{label}: {got!r}, expected {expected!r}")
    return property_check(check)


def _schedule_cases(item: str, rng: np.random.Generator, with_floor: bool) -> list[Case]:
    reference = reference_of(item)
    shapes = [(0, 1), (0, 20), (5, 5), (1, 1), (3, 10), (10, 100)]
    shapes += [(int(w), int(w + rng.integers(0, 60))) for w in rng.integers(0, 40, 4)]
    cases = []
    for warmup, total in shapes:
        peak = float(10 ** rng.uniform(-5, 0))
        floor = float(peak * rng.uniform(0, 0.5)) if with_floor else None
        steps = sorted({0, 1, warmup, max(0, warmup - 1), total, total + 1, total + 100,
                        *(int(s) for s in rng.integers(0, total + 5, 8))})
        for step in steps:
            args = (step, warmup, total, peak) + ((floor,) if floor is not None else ())
            label = f"{item}{args}"
            cases.append(checked(label, _call(item, *args), _rate_check(reference(*args), label)))
    return cases


def _linear(rng: np.random.Generator, context: Context) -> list[Case]:
    return _schedule_cases("linear_warmup_decay", rng, with_floor=False)


def _cosine(rng: np.random.Generator, context: Context) -> list[Case]:
    return _schedule_cases("cosine_warmup_decay", rng, False) + _schedule_cases("cosine_warmup_decay", rng, True)


# --- adamw_update --------------------------------------------------------------------------------------

def _adamw(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = reference_of("adamw_update")
    cases = []
    settings = [((0.9, 0.999), 1e-8, 0.01, 1e-3, np.float64), ((0.8, 0.95), 1e-6, 0.1, 0.05, np.float64),
                ((0.5, 0.9), 1e-3, 0.0, 0.2, np.float32), ((0.0, 0.99), 1e-8, 0.3, 0.01, np.float32)]
    for betas, eps, decay, lr, dtype in settings:
        start = rng.standard_normal((3, 5)).astype(dtype)
        grads = [(rng.standard_normal((3, 5)) * 10.0 ** int(rng.integers(-2, 2))).astype(dtype) for _ in range(12)]
        lrs = [float(lr * min(1.0, (k + 1) / 4) * (1 - k / 20)) for k in range(12)]
        param, state, expected = torch.as_tensor(start).clone(), {}, []
        for grad, rate in zip(grads, lrs):
            reference(param, torch.as_tensor(grad), state, rate, betas, eps, decay)
            expected.append(param.clone())
        cases.append(checked(f"adamw_update: 12 steps, {np.dtype(dtype)}, betas={betas}, eps={eps}, "
                             f"weight_decay={decay}", _call("adamw_run", start, grads, lrs, betas, eps, decay),
                             _matches(expected, "the parameter after each step")))
    # zero gradients: decoupled decay only, every weight shrinks by 1 - lr * weight_decay
    start = np.array([[-3.0, -0.5, 0.0, 0.25, 8.0]])
    cases.append(checked("adamw_update with zero gradients (decay only)",
                         _call("adamw_run", start, [np.zeros_like(start)] * 3, [0.1] * 3, (0.9, 0.999), 1e-8, 0.5),
                         _matches([torch.as_tensor(start * 0.95 ** k) for k in (1, 2, 3)], "the decayed parameter",
                                  atol=1e-12, rtol=1e-9)))
    # in place, grad untouched, returns None
    param, grad = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    expected = torch.as_tensor(param).clone()
    reference(expected, torch.as_tensor(grad), {}, 0.1, (0.9, 0.999), 1e-8, 0.1)

    def in_place(got):
        if not isinstance(got, dict) or set(got) != {"result", "args"}:
            raise Mismatch(f"unexpected reply {short(got)}")
        if got["result"] is not None:
            raise Mismatch("adamw_update returns None: it updates param in place")
        _close(got["args"], [expected, torch.as_tensor(grad)], "(param, grad) after the call")
    cases.append(checked("adamw_update(param, grad, {}, 0.1, ...) in place",
                         {**_call("adamw_update", param, grad, {}, 0.1, (0.9, 0.999), 1e-8, 0.1), "return_args": True},
                         property_check(in_place)))
    return cases


# --- layerwise_lr_groups -------------------------------------------------------------------------------

class _Classifier(nn.Module):
    """The notebook's TinyClassifier, parameters only: a BertModel as .bert, a linear head as .classifier."""

    def __init__(self, num_layers: int):
        super().__init__()
        config = BertConfig.preset("tiny", vocab_size=512, num_hidden_layers=num_layers)
        self.bert = BertModel(config)
        self.classifier = nn.Linear(config.hidden_size, 2)


def _expected_table(num_layers, base_lr, decay, weight_decay, pretraining) -> dict[str, tuple[float, float]]:
    model = BertForPreTraining(BertConfig.preset("tiny", vocab_size=512, num_hidden_layers=num_layers)) \
        if pretraining else _Classifier(num_layers)
    by_id = {id(p): (float(g["lr"]), float(g["weight_decay"]))
             for g in reference_of("layerwise_lr_groups")(model, base_lr, decay, weight_decay) for p in g["params"]}
    return {name: by_id[id(p)] for name, p in model.named_parameters()}


def _layerwise(rng: np.random.Generator, context: Context) -> list[Case]:
    cases = []
    for num_layers, pretraining in ((1, False), (2, False), (4, False), (3, True)):
        base_lr, decay, weight_decay = float(10 ** rng.uniform(-5, -2)), float(rng.uniform(0.5, 0.95)), 0.05
        expected = _expected_table(num_layers, base_lr, decay, weight_decay, pretraining)

        def check(got, expected=expected):
            if not isinstance(got, dict) or set(got) != set(expected):
                raise Mismatch(f"expected a rate for each of the {len(expected)} parameters, got {short(got)}")
            for name, (lr, wd) in expected.items():
                value = got[name]
                if not isinstance(value, (list, tuple)) or len(value) != 2:
                    raise Mismatch(f"{name}: expected (lr, weight_decay), got {short(value)}")
                if not math.isclose(value[0], lr, rel_tol=1e-9) or value[1] != wd:
                    raise Mismatch(f"{name}: lr {value[0]:.4g}, weight decay {value[1]}; expected {lr:.4g}, {wd}")
        cases.append(checked(f"layerwise_lr_groups({num_layers} layers, {base_lr:.2e}, {decay:.2f}, "
                             f"{'pre-training heads' if pretraining else 'classifier'})",
                             _call("layerwise_table", num_layers, base_lr, decay, weight_decay, pretraining),
                             property_check(check)))
    return cases


# --- clip_grad_norm ------------------------------------------------------------------------------------

def _torch_clip(grads, max_norm):
    params = []
    for grad in grads:
        params.append(nn.Parameter(torch.zeros(1) if grad is None else torch.zeros_like(torch.as_tensor(grad))))
        params[-1].grad = None if grad is None else torch.as_tensor(grad).clone()
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [norm, [p.grad for p in params]]


def _clip(rng: np.random.Generator, context: Context) -> list[Case]:
    cases = []
    for dtype in (np.float32, np.float64):
        for scale, max_norm in ((1.0, 0.5), (1.0, 100.0), (1e3, 5.0), (0.3, 1.0)):
            grads = [(rng.standard_normal(shape) * scale).astype(dtype) for shape in ((7, 3), (5,), (2, 2, 2))]
            grads.insert(1, None)
            cases.append(checked(f"clip_grad_norm({np.dtype(dtype)} gradients of scale {scale}, {max_norm})",
                                 _call("clip_run", grads, max_norm),
                                 _matches(_torch_clip(grads, max_norm), "(norm, gradients)", atol=0.0)))
    tiny = [np.full(10, 1e-5 / math.sqrt(10))]
    cases.append(checked("clip_grad_norm(gradients of norm 1e-5, 1e-6): torch's epsilon",
                         _call("clip_run", tiny, 1e-6), _matches(_torch_clip(tiny, 1e-6), "(norm, gradients)", atol=0.0)))

    def zero(got):
        _close(got, [torch.tensor(0.0), [None, None]], "(norm, gradients) with no gradient at all", atol=0.0)
    cases.append(checked("clip_grad_norm(no gradients)", _call("clip_run", [None, None], 1.0), property_check(zero)))
    return cases


# --- accumulate_and_step -------------------------------------------------------------------------------

def _mlp(weights):
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    with torch.no_grad():
        for param, value in zip(model.parameters(), weights):
            param.copy_(torch.as_tensor(value))
    return model


def _full_batch_step(weights, inputs, targets, optimizer_name):
    model = _mlp(weights)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9) if optimizer_name == "sgd" \
        else torch.optim.AdamW(model.parameters(), lr=0.01)
    loss = nn.functional.cross_entropy(model(torch.as_tensor(inputs)), torch.as_tensor(targets))
    loss.backward()
    optimizer.step()
    return loss.item(), [p.detach().clone() for p in model.parameters()]


def _accumulation(rng: np.random.Generator, context: Context) -> list[Case]:
    cases = []
    for batch, steps, optimizer_name in ((16, 4, "sgd"), (24, 8, "sgd"), (12, 3, "adamw"), (8, 1, "sgd"),
                                         (10, 10, "adamw")):
        weights = [rng.standard_normal(shape) for shape in ((8, 6), (8,), (3, 8), (3,))]
        inputs, targets = rng.standard_normal((batch, 6)), rng.integers(0, 3, batch)
        loss, params = _full_batch_step(weights, inputs, targets, optimizer_name)

        def check(got, loss=loss, params=params, what=f"batch {batch} in {steps} micro-batches, {optimizer_name}"):
            if not isinstance(got, (list, tuple)) or len(got) != 4:
                raise Mismatch(f"unexpected reply {short(got)}")
            returned, after, grads, calls = got
            if calls != 1:
                raise Mismatch(f"{what}: optimizer.step() called {calls} times, expected once")
            if type(returned) is not float or not math.isclose(returned, loss, rel_tol=1e-9):
                raise Mismatch(f"{what}: returned {short(returned)}, the batch's mean loss is {loss!r} (a float)")
            _close(after, params, f"{what}: the parameters after the step")
            if not isinstance(grads, list) or any(g is not None and (not isinstance(g, np.ndarray) or g.any())
                                                  for g in grads):
                raise Mismatch(f"{what}: the gradients must be zeroed (None or zeros) after the step")
        cases.append(checked(f"accumulate_and_step(batch {batch}, {steps} micro-batches, {optimizer_name})",
                             _call("accumulation_run", weights, inputs, targets, steps, optimizer_name),
                             property_check(check)))
    for batch, steps in ((16, 3), (7, 2)):
        def uneven(got, batch=batch, steps=steps):
            if got != "ValueError":
                raise Mismatch(f"{batch} examples in {steps} micro-batches: expected a ValueError, got {short(got)}")
        cases.append(checked(f"accumulate_and_step({batch} examples, {steps} micro-batches)",
                             _call("split_error", batch, steps), property_check(uneven)))
    return cases


PROBES: dict[str, Probe] = {
    "linear_warmup_decay": _linear,
    "cosine_warmup_decay": _cosine,
    "adamw_update": _adamw,
    "layerwise_lr_groups": _layerwise,
    "clip_grad_norm": _clip,
    "accumulate_and_step": _accumulation,
}

# The training check uses all six: it is lowered when one of them fails its re-check.
DEPENDS: dict[str, tuple[str, ...]] = {
    "training_with_your_components": tuple(PROBES),
}
