"""Common wrong answers (mutants) and correct alternatives for Chapter 2's graded items.

A mutant is the reference answer with a small edit that reproduces a mistake
students make; it must lose points. An alternative is a different correct
answer, typically one that draws its random numbers in another order or way;
it must get full marks, which is what shows that the hidden tests check
statistics and invariants rather than one random stream.
"""

from tests.mutants.variant import Variant, alternative, mutant

VARIANTS: list[Variant] = [
    # --- mask_tokens --------------------------------------------------------
    mutant("mask_tokens", "80/10/10 drawn independently (random 10% of the rest, not half)",
           ("torch.full(shape, 0.5, device=device)", "torch.full(shape, 0.1, device=device)")),
    mutant("mask_tokens", "every selected token becomes [MASK]",
           ("torch.full(shape, 0.8, device=device)", "torch.full(shape, 1.0, device=device)")),
    mutant("mask_tokens", "special tokens can be selected",
           ("probability = probability.masked_fill(special_tokens_mask.bool(), 0.0)", "probability = probability")),
    mutant("mask_tokens", "labels not -100 outside the selection",
           ("labels = input_ids.masked_fill(~selected, -100)", "labels = input_ids.clone()")),
    mutant("mask_tokens", "random ids drawn only among the first (special) ids",
           ("torch.randint(vocab_size, shape,", "torch.randint(5, shape,")),
    mutant("mask_tokens", "random ids exclude the lower half of the vocabulary",
           ("torch.randint(vocab_size, shape,", "torch.randint(vocab_size // 2, vocab_size, shape,")),
    mutant("mask_tokens", "modifies input_ids in place", source='''
def mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, mlm_probability=0.15, generator=None):
    probability = torch.full(input_ids.shape, mlm_probability).masked_fill(special_tokens_mask.bool(), 0.0)
    selected = torch.bernoulli(probability, generator=generator).bool()
    labels = input_ids.masked_fill(~selected, -100)
    to_mask = selected & torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool()
    to_random = selected & ~to_mask & torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool()
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    input_ids[to_mask] = mask_token_id
    input_ids[to_random] = random_ids[to_random]
    return input_ids, labels
'''),
    mutant("mask_tokens", "a fixed count per row that includes the special positions", source='''
def mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, mlm_probability=0.15, generator=None):
    special = special_tokens_mask.bool()
    count = round(mlm_probability * input_ids.shape[1])  # counts [CLS], [SEP] and padding too
    scores = torch.rand(input_ids.shape, generator=generator).masked_fill(special, -1.0)
    selected = torch.zeros_like(special)
    if count:
        selected.scatter_(1, scores.topk(count, dim=1).indices, True)
    selected &= ~special
    labels = input_ids.masked_fill(~selected, -100)
    u = torch.rand(input_ids.shape, generator=generator)
    masked = input_ids.masked_fill(selected & (u < 0.8), mask_token_id)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    masked = torch.where(selected & (u >= 0.8) & (u < 0.9), random_ids, masked)
    return masked, labels
'''),
    mutant("mask_tokens", "ignores the generator (global random state)", source='''
def mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, mlm_probability=0.15, generator=None):
    probability = torch.full(input_ids.shape, mlm_probability).masked_fill(special_tokens_mask.bool(), 0.0)
    selected = torch.bernoulli(probability).bool()
    labels = input_ids.masked_fill(~selected, -100)
    to_mask = selected & torch.bernoulli(torch.full(input_ids.shape, 0.8)).bool()
    to_random = selected & ~to_mask & torch.bernoulli(torch.full(input_ids.shape, 0.5)).bool()
    masked = input_ids.masked_fill(to_mask, mask_token_id)
    return torch.where(to_random, torch.randint(vocab_size, input_ids.shape), masked), labels
'''),
    alternative("mask_tokens", "one uniform draw per position split into ranges, randint only where needed", '''
def mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, mlm_probability=0.15, generator=None):
    device = input_ids.device
    selected = (torch.rand(input_ids.shape, generator=generator, device=device) < mlm_probability)
    selected &= ~special_tokens_mask.bool()
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
    action = torch.rand(input_ids.shape, generator=generator, device=device)  # [0, .8) mask, [.8, .9) random
    masked = input_ids.clone()
    masked[selected & (action < 0.8)] = mask_token_id
    to_random = selected & (action >= 0.8) & (action < 0.9)
    masked[to_random] = torch.randint(0, vocab_size, (int(to_random.sum()),), generator=generator,
                                      device=device, dtype=input_ids.dtype)
    return masked, labels
'''),
    alternative("mask_tokens", "categorical draw with torch.multinomial", '''
def mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, mlm_probability=0.15, generator=None):
    p = mlm_probability
    # one categorical draw per position: 0 = not selected, 1 = [MASK], 2 = random, 3 = unchanged
    weights = torch.tensor([1 - p, 0.8 * p, 0.1 * p, 0.1 * p], dtype=torch.float64)
    choice = torch.multinomial(weights, input_ids.numel(), replacement=True, generator=generator).view(input_ids.shape)
    choice = choice.masked_fill(special_tokens_mask.bool(), 0)
    labels = input_ids.masked_fill(choice == 0, -100)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator, dtype=input_ids.dtype)
    masked = torch.where(choice == 1, torch.full_like(input_ids, mask_token_id), input_ids)
    masked = torch.where(choice == 2, random_ids, masked)
    return masked, labels
'''),
    # --- whole_word_mask ----------------------------------------------------
    mutant("whole_word_mask", "masks sub-tokens independently", source='''
def whole_word_mask(word_ids, mlm_probability=0.15, generator=None):
    draws = torch.rand(len(word_ids), generator=generator) < mlm_probability
    return torch.tensor([w is not None and bool(d) for w, d in zip(word_ids, draws)], dtype=torch.bool)
'''),
    mutant("whole_word_mask", "special tokens can be selected",
           ("        if word is None:\n            previous = None\n            continue\n", "")),
    mutant("whole_word_mask", "only the first sub-token of a word", source='''
def whole_word_mask(word_ids, mlm_probability=0.15, generator=None):
    mask = torch.zeros(len(word_ids), dtype=torch.bool)
    draws = torch.rand(len(word_ids), generator=generator)
    for i, word in enumerate(word_ids):
        starts_word = word is not None and (i == 0 or word_ids[i - 1] != word)
        mask[i] = starts_word and bool(draws[i] < mlm_probability)
    return mask
'''),
    mutant("whole_word_mask", "groups by word id, merging the two segments of a pair", source='''
def whole_word_mask(word_ids, mlm_probability=0.15, generator=None):
    distinct = sorted({w for w in word_ids if w is not None})
    chosen = {w for w, u in zip(distinct, torch.rand(len(distinct), generator=generator).tolist()) if u < mlm_probability}
    return torch.tensor([w in chosen for w in word_ids], dtype=torch.bool)
'''),
    mutant("whole_word_mask", "mlm_probability ignored (always 15%)",
           ("< mlm_probability", "< 0.15")),
    mutant("whole_word_mask", "ignores the generator",
           ("torch.rand(len(words), generator=generator)", "torch.rand(len(words))")),
    alternative("whole_word_mask", "an exact token budget over shuffled words (transformers' rule)", '''
def whole_word_mask(word_ids, mlm_probability=0.15, generator=None):
    words = []
    for i, w in enumerate(word_ids):
        if w is None:
            continue
        if i > 0 and word_ids[i - 1] == w:
            words[-1].append(i)
        else:
            words.append([i])
    budget = round(sum(len(w) for w in words) * mlm_probability)
    mask = torch.zeros(len(word_ids), dtype=torch.bool)
    covered = 0
    for k in torch.randperm(len(words), generator=generator).tolist():
        if covered >= budget:
            break
        if covered + len(words[k]) > budget:
            continue
        mask[words[k]] = True
        covered += len(words[k])
    return mask
'''),
    alternative("whole_word_mask", "Bernoulli per word, drawn token by token at each word start", '''
def whole_word_mask(word_ids, mlm_probability=0.15, generator=None):
    mask = torch.zeros(len(word_ids), dtype=torch.bool)
    current = False
    for i, w in enumerate(word_ids):
        if w is None:
            continue
        if i == 0 or word_ids[i - 1] != w:
            current = bool(torch.bernoulli(torch.tensor(mlm_probability), generator=generator))
        mask[i] = current
    return mask
'''),
    # --- span_mask ----------------------------------------------------------
    mutant("span_mask", "span lengths not clipped",
           ("lengths = torch.arange(1, max_span_length + 1)", "lengths = torch.arange(1, 100 + 1)")),
    mutant("span_mask", "uniform span lengths",
           ("length_weights = geometric_p * (1 - geometric_p) ** (lengths - 1.0)",
            "length_weights = torch.ones(len(lengths))")),
    mutant("span_mask", "geometric_p ignored (always 0.2)",
           ("geometric_p * (1 - geometric_p) **", "0.2 * (1 - 0.2) **")),
    mutant("span_mask", "single tokens, no spans",
           ("length = int(lengths[torch.multinomial(length_weights, 1, generator=generator)])", "length = 1")),
    mutant("span_mask", "spans laid end to end from the start",
           ("start = int(torch.randint(seq_len, (1,), generator=generator))", "start = selected")),
    mutant("span_mask", "mlm_probability ignored (always 15%)",
           ("math.ceil(round(mlm_probability * seq_len, 9))", "math.ceil(round(0.15 * seq_len, 9))")),
    alternative("span_mask", "inverse-CDF geometric clipped with min, starts that fit, last span may overflow", '''
def span_mask(seq_len, mlm_probability=0.15, geometric_p=0.2, max_span_length=10, generator=None):
    budget = round(mlm_probability * seq_len)
    mask = torch.zeros(seq_len, dtype=torch.bool)
    while int(mask.sum()) < budget:
        u = torch.rand(1, generator=generator).item()
        length = min(max_span_length, 1 + int(math.log(1 - u) / math.log(1 - geometric_p)))
        start = int(torch.randint(0, max(1, seq_len - length + 1), (1,), generator=generator))
        mask[start:start + length] = True
    return mask
'''),
    # --- create_nsp_examples ------------------------------------------------
    mutant("create_nsp_examples", "negatives drawn from the same document",
           ("others = [other for k, other in enumerate(documents) if k != d and other]", "others = [documents[d]]")),
    mutant("create_nsp_examples", "negatives always from the next document",
           ("rng.choice(rng.choice(others))", "rng.choice(documents[(d + 1) % len(documents)])")),
    mutant("create_nsp_examples", "is_next inverted",
           ("examples.append((sentence_a, documents[d][i + 1], True))",
            "examples.append((sentence_a, documents[d][i + 1], False))"),
           ("examples.append((sentence_a, rng.choice(rng.choice(others)), False))",
            "examples.append((sentence_a, rng.choice(rng.choice(others)), True))")),
    mutant("create_nsp_examples", "always the true next sentence", ("if rng.random() < 0.5:", "if True:")),
    mutant("create_nsp_examples", "the random module instead of rng",
           ("if rng.random() < 0.5:", "if random.random() < 0.5:")),
    mutant("create_nsp_examples", "HF's integer label instead of is_next",
           ("examples.append((sentence_a, documents[d][i + 1], True))",
            "examples.append((sentence_a, documents[d][i + 1], 0))"),
           ("examples.append((sentence_a, rng.choice(rng.choice(others)), False))",
            "examples.append((sentence_a, rng.choice(rng.choice(others)), 1))")),
    alternative("create_nsp_examples", "exactly half positives, shuffled; negatives by rejection over all sentences", '''
def create_nsp_examples(documents, rng, num_examples=None):
    pairs = [(d, i) for d, doc in enumerate(documents) for i in range(len(doc) - 1)]
    if num_examples is not None:
        pairs = [pairs[rng.randrange(len(pairs))] for _ in range(num_examples)]
    flags = [k % 2 == 0 for k in range(len(pairs))]
    rng.shuffle(flags)
    sentences = [(d, s) for d, doc in enumerate(documents) for s in doc]
    examples = []
    for (d, i), is_next in zip(pairs, flags):
        if is_next:
            examples.append((documents[d][i], documents[d][i + 1], True))
            continue
        while True:
            other, sentence = rng.choice(sentences)
            if other != d:
                break
        examples.append((documents[d][i], sentence, False))
    return examples
'''),
    # --- create_sop_examples ------------------------------------------------
    mutant("create_sop_examples", "label says swapped but the order is kept",
           ("examples.append((second, first, False))", "examples.append((first, second, False))")),
    mutant("create_sop_examples", "segments not consecutive",
           ("first, second = documents[d][i], documents[d][i + 1]",
            "first, second = documents[d][i], documents[d][rng.randrange(i + 1, len(documents[d]))]")),
    mutant("create_sop_examples", "in_order inverted",
           ("examples.append((first, second, True))", "examples.append((first, second, False))"),
           ("examples.append((second, first, False))", "examples.append((second, first, True))")),
    mutant("create_sop_examples", "never swapped", ("if rng.random() < 0.5:", "if True:")),
    mutant("create_sop_examples", "swapped pairs from another document (NSP-style)",
           ("examples.append((second, first, False))",
            "examples.append((first, rng.choice(documents[(d + 1) % len(documents)] or [first]), False))")),
    alternative("create_sop_examples", "rng.choice for the coin, pairs as sentence tuples", '''
def create_sop_examples(documents, rng, num_examples=None):
    pairs = [(doc[i], doc[i + 1]) for doc in documents for i in range(len(doc) - 1)]
    if num_examples is not None:
        pairs = [rng.choice(pairs) for _ in range(num_examples)]
    examples = []
    for a, b in pairs:
        swap = rng.choice([False, True])
        examples.append((b, a, False) if swap else (a, b, True))
    return examples
'''),
    # --- mlm_loss_and_accuracy ----------------------------------------------
    mutant("mlm_loss_and_accuracy", "loss averaged over all positions", source='''
def mlm_loss_and_accuracy(logits, labels):
    labelled = labels != -100
    if not labelled.any():
        return logits.sum() * 0.0, torch.tensor(float("nan"))
    losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="none")
    accuracy = (logits.argmax(-1) == labels)[labelled].float().mean()
    return losses.mean(), accuracy
'''),
    mutant("mlm_loss_and_accuracy", "padding and unmasked positions counted as token 0", source='''
def mlm_loss_and_accuracy(logits, labels):
    labelled = labels != -100
    if not labelled.any():
        return logits.sum() * 0.0, torch.tensor(float("nan"))
    loss = F.cross_entropy(logits.flatten(0, 1), labels.clamp(min=0).flatten())
    accuracy = (logits.argmax(-1) == labels)[labelled].float().mean()
    return loss, accuracy
'''),
    mutant("mlm_loss_and_accuracy", "accuracy over all positions",
           ("accuracy = (scores.argmax(dim=-1) == targets).float().mean()",
            "accuracy = (logits.argmax(dim=-1) == labels).float().mean()")),
    mutant("mlm_loss_and_accuracy", "NaN loss when no position is labelled", source='''
def mlm_loss_and_accuracy(logits, labels):
    labelled = labels != -100
    loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    accuracy = (logits.argmax(-1) == labels)[labelled].float().mean()
    return loss, accuracy
'''),
    mutant("mlm_loss_and_accuracy", "zero loss that does not back-propagate",
           ("return logits.sum() * 0.0, torch.tensor", "return torch.tensor(0.0), torch.tensor")),
    mutant("mlm_loss_and_accuracy", "summed, not averaged",
           ("loss = F.cross_entropy(scores, targets)", "loss = F.cross_entropy(scores, targets, reduction=\"sum\")")),
    alternative("mlm_loss_and_accuracy", "ignore_index on (B, V, T) and a masked count", '''
def mlm_loss_and_accuracy(logits, labels):
    labelled = labels != -100
    n = labelled.sum()
    if n == 0:
        return (logits * 0).sum(), torch.tensor(float("nan"))
    loss = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100)
    correct = (logits.argmax(dim=-1) == labels) & labelled
    return loss, correct.sum() / n
'''),
]
