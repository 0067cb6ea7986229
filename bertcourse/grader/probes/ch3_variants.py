"""Re-check probes of Chapter 3 (ch3_variants): the parameter count, ALBERT's parts, ELECTRA, distillation, DeBERTa.

The two modules are built in the worker from the student's constructor arguments
(``"init"``); SharedLayerEncoder gets a reference BertLayer with the checker's weights,
which are replaced after the encoder is built, so an encoder that copied the layer shows.
``electra_corrupt`` is random: its cases check properties (see :mod:`.common`).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from ...models.bert import BertConfig, BertLayer
from .common import Case, Context, Mismatch, Probe, array_of, binomial_ok, checked, property_check, reference_of, seeded, short


def _bert_parameter_count(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = reference_of("bert_parameter_count")
    configs = [(30522, 768, 12, 3072, 512, 2, True), (30522, 1024, 24, 4096, 512, 2, False), (8, 3, 0, 5, 4, 1, True)]
    configs += [(int(rng.integers(1, 500)), int(rng.integers(1, 40)), int(rng.integers(0, 5)),
                 int(rng.integers(1, 90)), int(rng.integers(1, 600)), int(rng.integers(1, 4)), bool(k % 2))
                for k in range(30)]
    return [Case(f"bert_parameter_count{args}", {"op": "call", "target": "bert_parameter_count", "args": list(args)},
                 reference(*args)) for args in configs]


def _random_state(module: torch.nn.Module, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {name: rng.standard_normal(tuple(p.shape)).astype(np.float32) for name, p in module.named_parameters()}


def _factorized_embedding(rng: np.random.Generator, context: Context) -> list[Case]:
    reference_cls = reference_of("FactorizedEmbedding")
    cases = []
    for vocab, E, H, shape in ((30, 4, 12, (3, 7)), (7, 16, 16, (1, 1)), (100, 2, 5, (2, 9))):
        reference = reference_cls(vocab, E, H)
        state = _random_state(reference, rng)
        for name, parameter in reference.named_parameters():
            parameter.data.copy_(torch.as_tensor(state[name]))
        ids = rng.integers(0, vocab, shape)
        with torch.no_grad():
            expected = reference(torch.as_tensor(ids))
        cases.append(Case(f"FactorizedEmbedding({vocab}, {E}, {H}) on ids {shape}",
                          {"op": "module", "target": "FactorizedEmbedding", "init": [vocab, E, H], "state": state,
                           "args": [ids]}, expected, compare="close", atol=1e-5, rtol=1e-5))
    return cases


def _shared_layer_encoder(rng: np.random.Generator, context: Context) -> list[Case]:
    config = BertConfig.preset("tiny", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    layer = BertLayer(config).eval()
    count = sum(p.numel() for p in layer.parameters())
    cases = []
    for depth, masked in ((1, False), (3, True), (0, True)):
        built, used = _random_state(layer, rng), _random_state(layer, rng)  # weights at construction, then later
        for state in (built, used):
            for value in (v for k, v in state.items() if "norm.weight" in k):
                value += 1.0
            for key in state:
                state[key] *= 0.2
        for name, parameter in layer.named_parameters():
            parameter.data.copy_(torch.as_tensor(used[name]))
        hidden = rng.standard_normal((2, 5, config.hidden_size)).astype(np.float32)
        mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]) if masked else None
        expected = torch.as_tensor(hidden)
        with torch.no_grad():
            for _ in range(depth):
                expected = layer(expected, None if mask is None else torch.as_tensor(mask))
        expected = expected.numpy()

        def check(got, expected=expected, depth=depth):
            if not isinstance(got, dict) or set(got) != {"output", "num_parameters"}:
                raise Mismatch(f"unexpected reply {short(got)}")
            if got["num_parameters"] != count:
                raise Mismatch(f"SharedLayerEncoder(layer, {depth}) has {got['num_parameters']} parameters, the layer "
                               f"{count}: hold the one layer, not copies")
            output = array_of(got["output"], "the output", expected.shape, np.float32)
            error = float(np.abs(output - expected).max()) if output.size else 0.0
            if error > 1e-4:
                raise Mismatch(f"the output differs from the layer applied {depth} times (max abs error {error:.3g}); "
                               "the layer's weights were changed after the encoder was built: use that layer, "
                               "not a copy")
        layer_argument = {"$module": {"reference": "bertcourse.models.bert:BertLayer", "config": asdict(config),
                                      "state": built}}
        cases.append(checked(f"SharedLayerEncoder(BertLayer, {depth}){' with a padding mask' if masked else ''}",
                             {"op": "module", "target": "SharedLayerEncoder", "init": [layer_argument, depth],
                              "reload": {"0": used}, "args": [hidden] + ([mask] if masked else []),
                              "count_parameters": True}, property_check(check)))
    return cases


def _masked_batch(rng, batch, seq, vocab, p, real_tokens):
    original = rng.integers(5, vocab, (batch, seq))
    masked = rng.random((batch, seq)) < p
    labels = np.where(masked, original, -100)
    input_ids = original.copy() if real_tokens else np.where(masked, 4, original)
    return original, masked, labels, input_ids


def _corrupt_reply(got, input_ids, labels, logits):
    if not isinstance(got, dict) or set(got) != {"result", "args"}:
        raise Mismatch(f"unexpected reply {short(got)}")
    result, after = got["result"], got["args"]
    if not isinstance(result, (list, tuple)) or len(result) != 2:
        raise Mismatch(f"expected (corrupted_ids, is_replaced), got {short(result)}")
    corrupted = array_of(result[0], "corrupted_ids", input_ids.shape, input_ids.dtype)
    is_replaced = array_of(result[1], "is_replaced", input_ids.shape, np.bool_)
    if len(after) != 3 or not all(np.array_equal(a, b) for a, b in zip(after, (input_ids, labels, logits))):
        raise Mismatch("input_ids, labels or generator_logits was modified in place")
    return corrupted, is_replaced


def _electra_corrupt(rng: np.random.Generator, context: Context) -> list[Case]:
    def call(input_ids, labels, logits, temperature, seed):
        return {"op": "call", "target": "electra_corrupt", "return_args": True,
                "args": [input_ids, labels, logits, temperature, {"$torch_generator": seed}]}

    cases = []
    for batch, seq, vocab, p, real_tokens in ((4, 32, 20, 0.3, False), (3, 17, 50, 0.5, True), (2, 9, 8, 1.0, False)):
        original, masked, labels, input_ids = _masked_batch(rng, batch, seq, vocab, p, real_tokens)
        logits = (rng.standard_normal((batch, seq, vocab)) * 2).astype(np.float32)

        def positions(got, original=original, masked=masked, labels=labels, input_ids=input_ids, logits=logits):
            corrupted, is_replaced = _corrupt_reply(got, input_ids, labels, logits)
            if not np.array_equal(corrupted[~masked], input_ids[~masked]):
                raise Mismatch("an unmasked position changed")
            if not np.array_equal(is_replaced, masked & (corrupted != original)):
                raise Mismatch("is_replaced must be True exactly where a masked position's sample differs from labels")
        cases.append(checked(f"electra_corrupt({batch}x{seq}, vocab {vocab}, "
                             f"{'original ids' if real_tokens else '[MASK]'} at the masked positions)",
                             call(input_ids, labels, logits, 1.0, int(rng.integers(2**31))), property_check(positions)))

    base = np.array([2.0, 1.0, 0.5, 0.0, -1.0, 0.3], dtype=np.float32)
    draws = 12_000
    for temperature in (1.0, 0.5, 2.5):
        labels = np.zeros((2, draws // 2), dtype=np.int64)
        input_ids = np.full((2, draws // 2), 4, dtype=np.int64)
        logits = np.broadcast_to(base, (2, draws // 2, 6)).copy()
        expected = np.exp(base / temperature) / np.exp(base / temperature).sum()

        def statistics(got, input_ids=input_ids, labels=labels, logits=logits, expected=expected, t=temperature):
            corrupted, is_replaced = _corrupt_reply(got, input_ids, labels, logits)
            observed = np.bincount(corrupted.ravel(), minlength=6)[:6] / draws
            for token in range(6):
                if not binomial_ok(float(observed[token]), float(expected[token]), draws):
                    raise Mismatch(f"temperature {t}: id {token} sampled {observed[token]:.3f} of the time, expected "
                                   f"{expected[token]:.3f}: sample from softmax(generator_logits / temperature)")
            if not binomial_ok(float(is_replaced.mean()), 1 - float(expected[0]), draws):
                raise Mismatch(f"temperature {t}: {is_replaced.mean():.3f} replaced, expected {1 - expected[0]:.3f}")
        cases.append(checked(f"electra_corrupt sampling statistics at temperature {temperature}",
                             call(input_ids, labels, logits, temperature, int(rng.integers(2**31))),
                             property_check(statistics)))

    _, _, labels, input_ids = _masked_batch(rng, 4, 64, 50, 0.5, False)
    logits = np.zeros((4, 64, 50), dtype=np.float32)
    return cases + seeded("electra_corrupt", lambda seed: call(input_ids, labels, logits, 1.0, seed), (5, 6))


def _close_call(item, reference, args, label, atol=1e-6, rtol=1e-5) -> Case:
    with torch.no_grad():
        expected = reference(*(torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args))
    return Case(label, {"op": "call", "target": item, "args": list(args)}, expected, compare="close", atol=atol,
                rtol=rtol)


def _electra_discriminator_loss(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = reference_of("electra_discriminator_loss")
    cases = []
    for batch, seq, dtype in ((3, 7, np.float64), (4, 16, np.float32), (1, 5, np.float32), (6, 9, np.float64)):
        logits = (rng.standard_normal((batch, seq)) * 3).astype(dtype)
        targets = rng.random((batch, seq)) < 0.3
        lengths = rng.integers(1, seq + 1, batch)
        mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
        cases.append(_close_call("electra_discriminator_loss", reference, (logits, targets, mask),
                                 f"electra_discriminator_loss({batch}x{seq} {np.dtype(dtype)}, padded)"))
    cases.append(_close_call("electra_discriminator_loss", reference,
                             (np.array([[100.0, -100.0, 60.0, -60.0]], dtype=np.float32),
                              np.array([[False, True, True, False]]), np.ones((1, 4), dtype=np.int64)),
                             "electra_discriminator_loss with logits of +-100", atol=1e-3, rtol=1e-4))
    return cases


def _distillation_loss(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = reference_of("distillation_loss")
    cases = []
    for shape, T, alpha in (((6, 5), 2.0, 0.5), ((2, 4, 7), 4.0, 0.3), ((5, 3), 1.0, 0.5), ((3, 8, 11), 0.5, 0.8),
                            ((9, 2), 3.0, 0.0), ((4, 6), 3.0, 1.0)):
        student = (rng.standard_normal(shape) * 2).astype(np.float64)
        teacher = (rng.standard_normal(shape) * 2).astype(np.float64)
        labels = rng.integers(0, shape[-1], shape[:-1])
        labels.reshape(-1)[1::3] = -100
        cases.append(_close_call("distillation_loss", reference, (student, teacher, labels, T, alpha),
                                 f"distillation_loss(logits {shape}, T={T}, alpha={alpha})", atol=1e-8, rtol=1e-6))
    return cases


def _relative_positions(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = reference_of("relative_positions")
    sizes = [(5, 5, 2), (3, 7, 3), (7, 3, 1), (4, 4, 0), (1, 6, 10), (40, 40, 7)]
    sizes += [(int(rng.integers(1, 20)), int(rng.integers(1, 20)), int(rng.integers(0, 12))) for _ in range(6)]
    return [_close_call("relative_positions", reference, args, f"relative_positions{args}", atol=0, rtol=0)
            for args in sizes]


PROBES: dict[str, Probe] = {
    "bert_parameter_count": _bert_parameter_count,
    "FactorizedEmbedding": _factorized_embedding,
    "SharedLayerEncoder": _shared_layer_encoder,
    "electra_corrupt": _electra_corrupt,
    "electra_discriminator_loss": _electra_discriminator_loss,
    "distillation_loss": _distillation_loss,
    "relative_positions": _relative_positions,
}

# An end-to-end check passes only if its parts are right: it is lowered when one of them fails.
DEPENDS: dict[str, tuple[str, ...]] = {
    "albert_with_your_components": ("FactorizedEmbedding", "SharedLayerEncoder"),
}
