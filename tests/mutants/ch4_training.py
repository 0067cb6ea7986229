"""Common wrong answers (mutants) and correct alternatives for Chapter 4's graded items.

A mutant is the reference answer with a small edit that reproduces a mistake students
make; it must lose points. An alternative is a different correct answer (another way to
write the same arithmetic, another grouping of the parameters); it must get full marks,
which shows that the hidden tests check the documented behaviour, not one way to write it.
"""

from tests.mutants.variant import Variant, alternative, mutant

VARIANTS: list[Variant] = [
    # --- linear_warmup_decay ------------------------------------------------
    mutant("linear_warmup_decay", "warm-up off by one ((step + 1) / warmup_steps)",
           ("return peak_lr * float(step) / float(max(1, warmup_steps))",
            "return peak_lr * float(step + 1) / float(max(1, warmup_steps))")),
    mutant("linear_warmup_decay", "negative past total_steps (no clamp)",
           ("return peak_lr * max(0.0, remaining)", "return peak_lr * remaining")),
    mutant("linear_warmup_decay", "decays over all of total_steps, not from the end of the warm-up",
           ("float(max(1, total_steps - warmup_steps))", "float(max(1, total_steps))")),
    mutant("linear_warmup_decay", "no guard when warmup_steps == total_steps (division by zero)",
           ("float(max(1, total_steps - warmup_steps))", "float(total_steps - warmup_steps)")),
    alternative("linear_warmup_decay", "piecewise with min/max and an early return past the end", '''
def linear_warmup_decay(step, warmup_steps, total_steps, peak_lr):
    if step >= total_steps:
        return 0.0
    if warmup_steps > 0 and step < warmup_steps:
        return step / warmup_steps * peak_lr
    return peak_lr * (total_steps - step) / max(total_steps - warmup_steps, 1)
'''),
    # --- cosine_warmup_decay ------------------------------------------------
    mutant("cosine_warmup_decay", "warm-up off by one",
           ("return peak_lr * float(step) / float(max(1, warmup_steps))",
            "return peak_lr * float(step + 1) / float(max(1, warmup_steps))")),
    mutant("cosine_warmup_decay", "min_lr ignored in the decay (decays to 0, then jumps to min_lr)",
           ("return min_lr + (peak_lr - min_lr) * 0.5", "return peak_lr * 0.5")),
    mutant("cosine_warmup_decay", "a whole cosine period (back up to the peak)",
           ("math.cos(math.pi * progress)", "math.cos(2 * math.pi * progress)")),
    mutant("cosine_warmup_decay", "rises again past total_steps, as transformers' cosine does",
           ("    if step >= total_steps:\n        return float(min_lr)\n", "")),
    mutant("cosine_warmup_decay", "the warm-up starts from min_lr", (
        "return peak_lr * float(step) / float(max(1, warmup_steps))",
        "return min_lr + (peak_lr - min_lr) * float(step) / float(max(1, warmup_steps))")),
    alternative("cosine_warmup_decay", "the floor as a fraction of the peak, progress clamped to [0, 1]", '''
def cosine_warmup_decay(step, warmup_steps, total_steps, peak_lr, min_lr=0.0):
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if step >= total_steps:
        progress = 1.0
    cosine = (1 + math.cos(math.pi * progress)) / 2
    return float(min_lr * (1 - cosine) + peak_lr * cosine)
'''),
    # --- adamw_update -------------------------------------------------------
    mutant("adamw_update", "L2-style decay (Adam with weight_decay * param in the gradient)", source='''
def adamw_update(param, grad, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    beta1, beta2 = betas
    with torch.no_grad():
        if not state:
            state.update(step=0, exp_avg=torch.zeros_like(param), exp_avg_sq=torch.zeros_like(param))
        state["step"] += 1
        t = state["step"]
        grad = grad + weight_decay * param
        state["exp_avg"].mul_(beta1).add_(grad, alpha=1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denominator = (state["exp_avg_sq"] / (1 - beta2**t)).sqrt() + eps
        param.sub_(lr * state["exp_avg"] / (1 - beta1**t) / denominator)
'''),
    mutant("adamw_update", "no bias correction",
           ("step_size = lr / (1.0 - beta1**t)", "step_size = lr"),
           ("(state[\"exp_avg_sq\"].sqrt() / math.sqrt(1.0 - beta2**t))", "state[\"exp_avg_sq\"].sqrt()")),
    mutant("adamw_update", "bias correction one step late (t counted before the increment)",
           ("        state[\"step\"] += 1\n        t = int(state[\"step\"])",
            "        t = int(state[\"step\"]) + 2\n        state[\"step\"] += 1")),
    mutant("adamw_update", "eps inside the square root",
           ("(state[\"exp_avg_sq\"].sqrt() / math.sqrt(1.0 - beta2**t)).add_(eps)",
            "(state[\"exp_avg_sq\"] / (1.0 - beta2**t)).add_(eps).sqrt()")),
    mutant("adamw_update", "decay not scaled by the learning rate (param *= 1 - weight_decay)",
           ("param.mul_(1.0 - lr * weight_decay)", "param.mul_(1.0 - weight_decay)")),
    mutant("adamw_update", "decay applied after the Adam step",
           ("        param.mul_(1.0 - lr * weight_decay)\n", ""),
           ("param.addcdiv_(state[\"exp_avg\"], denominator, value=-step_size)",
            "param.addcdiv_(state[\"exp_avg\"], denominator, value=-step_size)\n        param.mul_(1.0 - lr * weight_decay)")),
    alternative("adamw_update", "out-of-place arithmetic copied back, the step kept as a 0-d tensor", '''
def adamw_update(param, grad, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    b1, b2 = betas
    if len(state) == 0:
        state["step"] = torch.tensor(0.0)
        state["exp_avg"] = torch.zeros_like(param)
        state["exp_avg_sq"] = torch.zeros_like(param)
    state["step"] = state["step"] + 1
    t = state["step"].item()
    m = b1 * state["exp_avg"] + (1 - b1) * grad
    v = b2 * state["exp_avg_sq"] + (1 - b2) * grad * grad
    state["exp_avg"], state["exp_avg_sq"] = m, v
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    with torch.no_grad():
        param.copy_(param * (1 - lr * weight_decay) - lr * m_hat / (v_hat.sqrt() + eps))
'''),
    # --- layerwise_lr_groups ------------------------------------------------
    mutant("layerwise_lr_groups", "decay direction reversed (the bottom layer fastest)",
           ("depth.update({id(p): num_layers - l for p in layer.parameters()})",
            "depth.update({id(p): l - 1 for p in layer.parameters()})")),
    mutant("layerwise_lr_groups", "LayerNorm weights decayed (only biases exempt)",
           ("decayed = not (name.endswith(\"bias\") or id(param) in in_norm)",
            "decayed = not name.endswith(\"bias\")")),
    mutant("layerwise_lr_groups", "embeddings at the bottom layer's rate",
           ("depth = {id(p): num_layers for p in bert.embeddings.parameters()}",
            "depth = {id(p): num_layers - 1 for p in bert.embeddings.parameters()}")),
    mutant("layerwise_lr_groups", "the head one step below base_lr",
           ("exponent = depth.get(id(param), 0)", "exponent = depth.get(id(param), 1)")),
    mutant("layerwise_lr_groups", "a tied weight listed twice",
           ("for name, param in model.named_parameters():",
            "for name, param in model.named_parameters(remove_duplicate=False):")),
    alternative("layerwise_lr_groups", "one group per parameter, depths read from the parameter names", '''
def layerwise_lr_groups(model, base_lr, decay, weight_decay=0.01):
    bert_name, bert = next((n, m) for n, m in model.named_modules() if isinstance(m, BertModel))
    prefix = f"{bert_name}." if bert_name else ""
    L = len(bert.encoder.layers)
    norm_params = set()
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            norm_params.update(id(p) for p in module.parameters())
    groups = []
    for name, p in model.named_parameters():
        if name.startswith(prefix + "embeddings."):
            lr = base_lr * decay ** L
        elif name.startswith(prefix + "encoder.layers."):
            l = int(name[len(prefix + "encoder.layers."):].split(".")[0]) + 1
            lr = base_lr * decay ** (L - l)
        else:
            lr = base_lr
        wd = 0.0 if name.endswith("bias") or id(p) in norm_params else weight_decay
        groups.append({"params": [p], "lr": lr, "weight_decay": wd})
    return groups
'''),
    # --- clip_grad_norm -----------------------------------------------------
    mutant("clip_grad_norm", "clip without torch's epsilon",
           ("scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)",
            "scale = torch.clamp(max_norm / total_norm, max=1.0)")),
    mutant("clip_grad_norm", "scales small gradients up (no clamp at 1)",
           ("scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)", "scale = max_norm / (total_norm + 1e-6)")),
    mutant("clip_grad_norm", "returns the norm after clipping",
           ("    return total_norm", "    return total_norm * scale")),
    mutant("clip_grad_norm", "each parameter clipped by its own norm", source='''
def clip_grad_norm(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g, 2) for g in grads]), 2)
    for g in grads:
        g.mul_(torch.clamp(max_norm / (torch.linalg.vector_norm(g, 2) + 1e-6), max=1.0))
    return total_norm
'''),
    mutant("clip_grad_norm", "reads the parameters twice (a generator is empty the second time)", source='''
def clip_grad_norm(parameters, max_norm):
    norms = [torch.linalg.vector_norm(p.grad, 2) for p in parameters if p.grad is not None]
    if not norms:
        return torch.tensor(0.0)
    total_norm = torch.linalg.vector_norm(torch.stack(norms), 2)
    scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for p in parameters:
        if p.grad is not None:
            p.grad.mul_(scale)
    return total_norm
'''),
    mutant("clip_grad_norm", "the sum of the norms instead of the global norm",
           ("total_norm = torch.linalg.vector_norm(norms, 2)", "total_norm = norms.sum()")),
    alternative("clip_grad_norm", "squares summed by hand, the factor as a tensor of the norm's dtype", '''
def clip_grad_norm(parameters, max_norm):
    params = [p for p in parameters if p.grad is not None]
    if len(params) == 0:
        return torch.tensor(0.)
    total_norm = sum((p.grad.detach() ** 2).sum() for p in params).sqrt()
    coefficient = max_norm / (total_norm + 1e-6)
    if coefficient < 1:
        for p in params:
            p.grad.detach().mul_(coefficient)
    return total_norm
'''),
    # --- accumulate_and_step ------------------------------------------------
    mutant("accumulate_and_step", "loss not divided by accumulation_steps",
           ("(loss / accumulation_steps).backward()", "loss.backward()")),
    mutant("accumulate_and_step", "an optimiser step after every micro-batch",
           ("        total += loss.item()\n    optimizer.step()\n",
            "        total += loss.item()\n        optimizer.step()\n")),
    mutant("accumulate_and_step", "stale gradients not zeroed before the first micro-batch",
           ("    optimizer.zero_grad(set_to_none=True)\n    total = 0.0", "    total = 0.0")),
    mutant("accumulate_and_step", "returns the divided loss",
           ("total += loss.item()", "total += loss.item() / accumulation_steps")),
    mutant("accumulate_and_step", "an uneven split accepted (torch.chunk)", source='''
def accumulate_and_step(model, optimizer, inputs, targets, loss_fn, accumulation_steps):
    optimizer.zero_grad()
    losses = []
    for x, y in zip(torch.chunk(inputs, accumulation_steps), torch.chunk(targets, accumulation_steps)):
        loss = loss_fn(model(x), y)
        (loss / accumulation_steps).backward()
        losses.append(loss.item())
    optimizer.step()
    optimizer.zero_grad()
    return sum(losses) / len(losses)
'''),
    mutant("accumulate_and_step", "gradients left in place after the step",
           ("    optimizer.step()\n    optimizer.zero_grad(set_to_none=True)\n", "    optimizer.step()\n")),
    alternative("accumulate_and_step", "tensor_split, the losses kept as tensors, zeroed with zeros", '''
def accumulate_and_step(model, optimizer, inputs, targets, loss_fn, accumulation_steps):
    if inputs.shape[0] % accumulation_steps != 0:
        raise ValueError(f"batch of {inputs.shape[0]} does not split into {accumulation_steps} micro-batches")
    optimizer.zero_grad(set_to_none=False)
    losses = []
    for x, y in zip(inputs.tensor_split(accumulation_steps), targets.tensor_split(accumulation_steps)):
        loss = loss_fn(model(x), y)
        loss.div(accumulation_steps).backward()
        losses.append(loss.detach())
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)
    return torch.stack(losses).mean().item()
'''),
]
