"""Common wrong answers (mutants) and correct alternatives for Chapter 3's graded items.

A mutant is the reference answer with a small edit that reproduces a mistake
students make; it must lose points. An alternative is a different correct
answer; it must get full marks. ``tests/test_mutants.py`` grades each one.
"""

from tests.mutants.variant import Variant, alternative, mutant

VARIANTS: list[Variant] = [
    # --- bert_parameter_count -----------------------------------------------
    mutant("bert_parameter_count", "pooler left out of the count",
           ("pooler = H * H + H if with_pooler else 0", "pooler = 0")),
    mutant("bert_parameter_count", "pooler counted even without it",
           ("pooler = H * H + H if with_pooler else 0", "pooler = H * H + H")),
    mutant("bert_parameter_count", "no LayerNorm after attention",
           ("attention = 4 * (H * H + H) + layer_norm", "attention = 4 * (H * H + H)")),
    mutant("bert_parameter_count", "weights without biases",
           ("attention = 4 * (H * H + H) + layer_norm", "attention = 4 * H * H + layer_norm"),
           ("feed_forward = (H * I + I) + (I * H + H) + layer_norm", "feed_forward = 2 * H * I + layer_norm")),
    mutant("bert_parameter_count", "no token-type table",
           ("(vocab_size + max_position_embeddings + type_vocab_size) * H", "(vocab_size + max_position_embeddings) * H")),
    mutant("bert_parameter_count", "LayerNorm counted as H, not 2H",
           ("layer_norm = 2 * H  # weight and bias", "layer_norm = H")),
    mutant("bert_parameter_count", "returns a float",
           ("return int(embeddings + num_layers * (attention + feed_forward) + pooler)",
            "return float(embeddings + num_layers * (attention + feed_forward) + pooler)")),
    alternative("bert_parameter_count", "per-module helpers", '''
def bert_parameter_count(vocab_size, hidden_size, num_layers, intermediate_size, max_position_embeddings=512,
                         type_vocab_size=2, with_pooler=True):
    def linear(n_in, n_out):
        return n_in * n_out + n_out

    def norm(n):
        return 2 * n

    h, i = hidden_size, intermediate_size
    layer = 4 * linear(h, h) + linear(h, i) + linear(i, h) + 2 * norm(h)
    total = (vocab_size + max_position_embeddings + type_vocab_size) * h + norm(h) + num_layers * layer
    if with_pooler:
        total += linear(h, h)
    return total
'''),
    # --- FactorizedEmbedding ------------------------------------------------
    mutant("FactorizedEmbedding", "not factorised: a V x H table",
           ("self.word_embeddings = nn.Embedding(vocab_size, embedding_size)",
            "self.word_embeddings = nn.Embedding(vocab_size, hidden_size)"),
           ("self.projection = nn.Linear(embedding_size, hidden_size)",
            "self.projection = nn.Linear(hidden_size, hidden_size)")),
    mutant("FactorizedEmbedding", "projection without bias",
           ("self.projection = nn.Linear(embedding_size, hidden_size)",
            "self.projection = nn.Linear(embedding_size, hidden_size, bias=False)")),
    mutant("FactorizedEmbedding", "projection skipped in forward",
           ("return self.projection(self.word_embeddings(input_ids))", "return self.word_embeddings(input_ids)")),
    mutant("FactorizedEmbedding", "an activation after the projection",
           ("return self.projection(self.word_embeddings(input_ids))",
            "return torch.tanh(self.projection(self.word_embeddings(input_ids)))")),
    mutant("FactorizedEmbedding", "padding_idx=0: id 0 never learns",
           ("self.word_embeddings = nn.Embedding(vocab_size, embedding_size)",
            "self.word_embeddings = nn.Embedding(vocab_size, embedding_size, padding_idx=0)")),
    alternative("FactorizedEmbedding", "matrix product by hand", '''
class FactorizedEmbedding(nn.Module):
    def __init__(self, vocab_size, embedding_size, hidden_size):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embedding_size)
        self.projection = nn.Linear(embedding_size, hidden_size)

    def forward(self, input_ids):
        table = self.word_embeddings.weight[input_ids]
        return table @ self.projection.weight.T + self.projection.bias
'''),
    # --- SharedLayerEncoder -------------------------------------------------
    mutant("SharedLayerEncoder", "sharing by deep copy (one copy per depth)", source='''
import copy


class SharedLayerEncoder(nn.Module):
    def __init__(self, layer, num_layers):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))

    def forward(self, hidden_states, attention_mask=None):
        for layer in self.layers:
            hidden_states = layer(hidden_states, attention_mask)
        return hidden_states
'''),
    mutant("SharedLayerEncoder", "one private copy of the layer", source='''
import copy


class SharedLayerEncoder(nn.Module):
    def __init__(self, layer, num_layers):
        super().__init__()
        self.layer = copy.deepcopy(layer)
        self.num_layers = num_layers

    def forward(self, hidden_states, attention_mask=None):
        for _ in range(self.num_layers):
            hidden_states = self.layer(hidden_states, attention_mask)
        return hidden_states
'''),
    mutant("SharedLayerEncoder", "applies the layer once", ("for _ in range(self.num_layers):", "for _ in range(1):")),
    mutant("SharedLayerEncoder", "one application too many",
           ("for _ in range(self.num_layers):", "for _ in range(self.num_layers + 1):")),
    mutant("SharedLayerEncoder", "mask not passed on",
           ("hidden_states = self.layer(hidden_states, attention_mask)", "hidden_states = self.layer(hidden_states)")),
    mutant("SharedLayerEncoder", "every call on the original input", source='''
class SharedLayerEncoder(nn.Module):
    def __init__(self, layer, num_layers):
        super().__init__()
        self.layer = layer
        self.num_layers = num_layers

    def forward(self, hidden_states, attention_mask=None):
        output = hidden_states
        for _ in range(self.num_layers):
            output = self.layer(hidden_states, attention_mask)
        return output
'''),
    alternative("SharedLayerEncoder", "a ModuleList holding the same layer object", '''
class SharedLayerEncoder(nn.Module):
    def __init__(self, layer, num_layers):
        super().__init__()
        self.layers = nn.ModuleList([layer] * num_layers)
        self.shared = layer

    def forward(self, hidden_states, attention_mask=None):
        for layer in self.layers:
            hidden_states = layer(hidden_states, attention_mask)
        return hidden_states
'''),
    # --- electra_corrupt ----------------------------------------------------
    mutant("electra_corrupt", "argmax instead of sampling",
           ("sampled = torch.multinomial(probs, 1, generator=generator).squeeze(-1)", "sampled = probs.argmax(-1)")),
    mutant("electra_corrupt", "is_replaced = the masked positions",
           ("is_replaced = masked & (corrupted != labels)", "is_replaced = masked")),
    mutant("electra_corrupt", "replaced judged against input_ids ([MASK]), not labels",
           ("is_replaced = masked & (corrupted != labels)", "is_replaced = masked & (corrupted != input_ids)")),
    mutant("electra_corrupt", "temperature ignored",
           ("generator_logits.detach()[masked].float() / temperature", "generator_logits.detach()[masked].float()")),
    mutant("electra_corrupt", "temperature multiplies the logits",
           ("generator_logits.detach()[masked].float() / temperature",
            "generator_logits.detach()[masked].float() * temperature")),
    mutant("electra_corrupt", "global RNG instead of the generator",
           ("torch.multinomial(probs, 1, generator=generator)", "torch.multinomial(probs, 1)")),
    mutant("electra_corrupt", "input_ids modified in place", ("corrupted = input_ids.clone()", "corrupted = input_ids")),
    alternative("electra_corrupt", "Gumbel-max over every position", '''
def electra_corrupt(input_ids, labels, generator_logits, temperature=1.0, generator=None):
    masked = labels != -100
    uniform = torch.rand(generator_logits.shape, generator=generator, dtype=torch.float64).clamp_min(1e-30)
    gumbel = -torch.log(-torch.log(uniform))
    sampled = (generator_logits.detach().double() / temperature + gumbel).argmax(-1)
    corrupted = torch.where(masked, sampled.to(input_ids.dtype), input_ids)
    return corrupted, masked & (corrupted != labels)
'''),
    alternative("electra_corrupt", "inverse CDF, one uniform per masked position", '''
def electra_corrupt(input_ids, labels, generator_logits, temperature=1.0, generator=None):
    masked = labels != -100
    corrupted = input_ids.clone()
    probs = torch.softmax(generator_logits.detach().double()[masked] / temperature, dim=-1)
    cdf = probs.cumsum(-1)
    u = torch.rand(cdf.shape[0], 1, generator=generator, dtype=torch.float64) * cdf[:, -1:]
    sampled = torch.searchsorted(cdf, u).squeeze(-1).clamp(max=probs.shape[-1] - 1)
    corrupted[masked] = sampled.to(corrupted.dtype)
    return corrupted, masked & (corrupted != labels)
'''),
    # --- electra_discriminator_loss -----------------------------------------
    mutant("electra_discriminator_loss", "padding in the mean", source='''
def electra_discriminator_loss(disc_logits, is_replaced, attention_mask):
    return F.binary_cross_entropy_with_logits(disc_logits, is_replaced.to(disc_logits.dtype))
'''),
    mutant("electra_discriminator_loss", "padding zeroed but counted in the denominator", source='''
def electra_discriminator_loss(disc_logits, is_replaced, attention_mask):
    per_token = F.binary_cross_entropy_with_logits(disc_logits, is_replaced.to(disc_logits.dtype), reduction="none")
    return (per_token * attention_mask).sum() / attention_mask.numel()
'''),
    mutant("electra_discriminator_loss", "log of a sigmoid (overflows)", source='''
def electra_discriminator_loss(disc_logits, is_replaced, attention_mask):
    real = attention_mask.bool()
    p = torch.sigmoid(disc_logits[real])
    y = is_replaced[real].to(disc_logits.dtype)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
'''),
    mutant("electra_discriminator_loss", "targets inverted",
           ("targets = is_replaced[real].to(disc_logits.dtype)", "targets = (~is_replaced[real]).to(disc_logits.dtype)")),
    mutant("electra_discriminator_loss", "summed, not averaged",
           ("F.binary_cross_entropy_with_logits(disc_logits[real], targets)",
            "F.binary_cross_entropy_with_logits(disc_logits[real], targets, reduction=\"sum\")")),
    alternative("electra_discriminator_loss", "log-sigmoid and a weighted mean", '''
def electra_discriminator_loss(disc_logits, is_replaced, attention_mask):
    mask = attention_mask.to(disc_logits.dtype)
    y = is_replaced.to(disc_logits.dtype)
    per_token = -(y * F.logsigmoid(disc_logits) + (1 - y) * F.logsigmoid(-disc_logits))
    return (per_token * mask).sum() / mask.sum()
'''),
    # --- distillation_loss --------------------------------------------------
    mutant("distillation_loss", "missing T**2", ("return alpha * T**2 * soft", "return alpha * soft")),
    mutant("distillation_loss", "KL direction swapped",
           ("F.kl_div(F.log_softmax(student / T, dim=-1), F.log_softmax(teacher / T, dim=-1),",
            "F.kl_div(F.log_softmax(teacher / T, dim=-1), F.log_softmax(student / T, dim=-1),")),
    mutant("distillation_loss", "ignored rows kept in the soft term", source='''
def distillation_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5):
    C = student_logits.size(-1)
    student, teacher, labels = student_logits.reshape(-1, C), teacher_logits.reshape(-1, C), labels.reshape(-1)
    T = temperature
    soft = F.kl_div(F.log_softmax(student / T, -1), F.softmax(teacher / T, -1), reduction="batchmean")
    hard = F.cross_entropy(student, labels, ignore_index=-100)
    return alpha * T**2 * soft + (1 - alpha) * hard
'''),
    mutant("distillation_loss", "hard term at temperature T",
           ("hard = F.cross_entropy(student, labels)", "hard = F.cross_entropy(student / T, labels)")),
    mutant("distillation_loss", "KL averaged over the classes too",
           ('reduction="batchmean", log_target=True)', 'reduction="mean", log_target=True)')),
    mutant("distillation_loss", "alpha weighs the wrong term",
           ("return alpha * T**2 * soft + (1 - alpha) * hard", "return (1 - alpha) * T**2 * soft + alpha * hard")),
    alternative("distillation_loss", "the formula written out", '''
def distillation_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5):
    keep = labels != -100
    s, t, y = student_logits[keep], teacher_logits[keep].detach(), labels[keep]
    T = temperature
    p_teacher = torch.softmax(t / T, dim=-1)
    kl = (p_teacher * (torch.log_softmax(t / T, dim=-1) - torch.log_softmax(s / T, dim=-1))).sum(-1).mean()
    ce = -torch.log_softmax(s, dim=-1).gather(-1, y[:, None]).mean()
    return alpha * T * T * kl + (1 - alpha) * ce
'''),
    # --- relative_positions -------------------------------------------------
    mutant("relative_positions", "distance sign flipped", ("(key - query)", "(query - key)")),
    mutant("relative_positions", "no clipping", (".clamp(-max_distance, max_distance)", "")),
    mutant("relative_positions", "no shift to indices", (" + max_distance  # (Tq, Tk)", "  # (Tq, Tk)")),
    mutant("relative_positions", "clipped to max_distance - 1",
           (".clamp(-max_distance, max_distance)", ".clamp(-max_distance + 1, max_distance - 1)")),
    mutant("relative_positions", "rows are keys",
           ("query = torch.arange(query_len)[:, None]", "query = torch.arange(query_len)[None, :]"),
           ("key = torch.arange(key_len)[None, :]", "key = torch.arange(key_len)[:, None]")),
    mutant("relative_positions", "int32 indices", ("return (key - query)", "return ((key - query)"),
           (" + max_distance  # (Tq, Tk)", " + max_distance).int()  # (Tq, Tk)")),
    alternative("relative_positions", "nested loops", '''
def relative_positions(query_len, key_len, max_distance):
    rows = [[min(max(j - i, -max_distance), max_distance) + max_distance for j in range(key_len)]
            for i in range(query_len)]
    return torch.tensor(rows, dtype=torch.long).reshape(query_len, key_len)
'''),
]
