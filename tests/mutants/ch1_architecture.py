"""Common wrong answers (mutants) and correct alternatives for Chapter 1's graded items.

A mutant is the reference answer with a small edit that reproduces a mistake
students make; it must lose points. An alternative is a different correct
answer; it must get full marks. ``tests/test_mutants.py`` grades each one.
"""

from tests.mutants.variant import Variant, alternative, mutant

VARIANTS: list[Variant] = [
    # --- wordpiece_tokenize -------------------------------------------------
    mutant("wordpiece_tokenize", "shortest match first",
           ("end = len(word)", "end = start + 1"), ("while end > start:", "while end <= len(word):"),
           ("end -= 1", "end += 1")),
    mutant("wordpiece_tokenize", "no ## on continuation pieces",
           ('piece = word[start:end] if start == 0 else "##" + word[start:end]', "piece = word[start:end]")),
    mutant("wordpiece_tokenize", "## on every piece",
           ('piece = word[start:end] if start == 0 else "##" + word[start:end]', 'piece = "##" + word[start:end]')),
    mutant("wordpiece_tokenize", "[UNK] only for the unmatched rest",
           ("            return [unk_token]\n        pieces", "            return pieces + [unk_token]\n        pieces")),
    mutant("wordpiece_tokenize", "max_input_chars_per_word off by one",
           ("if len(word) > max_input_chars_per_word:", "if len(word) >= max_input_chars_per_word:")),
    mutant("wordpiece_tokenize", "no length limit",
           ("if len(word) > max_input_chars_per_word:", "if False:")),
    alternative("wordpiece_tokenize", "recursive", '''
def wordpiece_tokenize(word, vocab, unk_token="[UNK]", max_input_chars_per_word=100):
    if len(word) > max_input_chars_per_word:
        return [unk_token]

    def split(rest, prefix):
        if not rest:
            return []
        for end in range(len(rest), 0, -1):
            if prefix + rest[:end] in vocab:
                tail = split(rest[end:], "##")
                return None if tail is None else [prefix + rest[:end]] + tail
        return None

    pieces = split(word, "")
    return [unk_token] if pieces is None else pieces
'''),
    alternative("wordpiece_tokenize", "for-loop over candidate ends", '''
def wordpiece_tokenize(word, vocab, unk_token="[UNK]", max_input_chars_per_word=100):
    if len(word) > max_input_chars_per_word:
        return [unk_token]
    output, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            candidate = ("##" if start else "") + word[start:end]
            if candidate in vocab:
                output.append(candidate)
                start = end
                break
        else:
            return [unk_token]
    return output
'''),
    # --- build_inputs -------------------------------------------------------
    mutant("build_inputs", "truncates the caller's lists in place",
           ("tokens_a = list(tokens_a)", "tokens_a = tokens_a"),
           ("tokens_b = None if tokens_b is None else list(tokens_b)", "tokens_b = tokens_b")),
    mutant("build_inputs", "truncates from the front", ("longer.pop()", "longer.pop(0)")),
    mutant("build_inputs", "B's [SEP] in segment 0",
           ("token_type_ids += [1] * (len(tokens_b) + 1)", "token_type_ids += [1] * len(tokens_b) + [0]")),
    mutant("build_inputs", "max_length ignores the special tokens",
           ("> max_length - num_special:", "> max_length:")),
    mutant("build_inputs", "always truncates A first",
           ("longer = tokens_a if len(tokens_a) > len(others) else others",
            "longer = tokens_a if tokens_a else others")),
    mutant("build_inputs", "no [SEP] after B",
           ('tokens += [*tokens_b, "[SEP]"]', "tokens += [*tokens_b]"),
           ("token_type_ids += [1] * (len(tokens_b) + 1)", "token_type_ids += [1] * len(tokens_b)")),
    alternative("build_inputs", "count first, slice once (ties shorten A, like transformers)", '''
def build_inputs(tokens_a, tokens_b=None, max_length=None):
    keep_a, keep_b = len(tokens_a), len(tokens_b or [])
    if max_length is not None:
        budget = max_length - (2 if tokens_b is None else 3)
        if budget < 0:
            raise ValueError(f"max_length={max_length} is too small for the special tokens")
        while keep_a + keep_b > budget:
            if keep_b > keep_a:
                keep_b -= 1
            else:
                keep_a -= 1
    tokens = ["[CLS]"] + tokens_a[:keep_a] + ["[SEP]"]
    types = [0] * len(tokens)
    if tokens_b is not None:
        tokens = tokens + tokens_b[:keep_b] + ["[SEP]"]
        types = types + [1] * (keep_b + 1)
    return tokens, types
'''),
    # --- scaled_dot_product_attention ----------------------------------------
    mutant("scaled_dot_product_attention", "no 1/sqrt(d) scaling", (" / math.sqrt(query.size(-1))", "")),
    mutant("scaled_dot_product_attention", "scaled by d, not sqrt(d)",
           ("math.sqrt(query.size(-1))", "query.size(-1)")),
    mutant("scaled_dot_product_attention", "softmax over the queries", ("softmax(dim=-1)", "softmax(dim=-2)")),
    mutant("scaled_dot_product_attention", "mask inverted", ("~attention_mask.bool()", "attention_mask.bool()")),
    mutant("scaled_dot_product_attention", "mask applied after the softmax", source='''
def scaled_dot_product_attention(query, key, value, attention_mask=None):
    weights = (query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))).softmax(dim=-1)
    if attention_mask is not None:
        weights = weights * attention_mask
    return weights @ value, weights
'''),
    mutant("scaled_dot_product_attention", "calls PyTorch's fused attention", source='''
def scaled_dot_product_attention(query, key, value, attention_mask=None):
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask.bool(), torch.finfo(scores.dtype).min)
    mask = None if attention_mask is None else attention_mask.bool()
    return F.scaled_dot_product_attention(query, key, value, attn_mask=mask), scores.softmax(dim=-1)
'''),
    mutant("scaled_dot_product_attention", "scales the query in place", source='''
def scaled_dot_product_attention(query, key, value, attention_mask=None):
    query /= math.sqrt(query.size(-1))
    scores = query @ key.transpose(-2, -1)
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask.bool(), float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ value, weights
'''),
    alternative("scaled_dot_product_attention", "einsum and an additive -1e9 mask", '''
def scaled_dot_product_attention(query, key, value, attention_mask=None):
    scores = torch.einsum("...qd,...kd->...qk", query, key) * query.shape[-1] ** -0.5
    if attention_mask is not None:
        scores = scores + (1.0 - attention_mask.to(scores.dtype)) * -1e9
    weights = torch.softmax(scores, dim=-1)
    return torch.einsum("...qk,...kv->...qv", weights, value), weights
'''),
    alternative("scaled_dot_product_attention", "-inf fill and stable softmax by hand", '''
def scaled_dot_product_attention(query, key, value, attention_mask=None):
    scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(key.shape[-1])
    if attention_mask is not None:
        scores = scores.masked_fill(attention_mask == 0, float("-inf"))
    scores = scores - scores.amax(dim=-1, keepdim=True)
    exp = scores.exp()
    weights = exp / exp.sum(dim=-1, keepdim=True)
    return torch.matmul(weights, value), weights
'''),
    # --- BertSelfAttention --------------------------------------------------
    mutant("BertSelfAttention", "padding mask ignored",
           ("mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]", "mask = None")),
    mutant("BertSelfAttention", "mask on queries instead of keys",
           ("attention_mask.bool()[:, None, None, :]", "attention_mask.bool()[:, None, :, None]")),
    mutant("BertSelfAttention", "heads split without transpose",
           ("x.view(batch, seq, self.num_heads, hidden // self.num_heads).transpose(1, 2)",
            "x.view(batch, self.num_heads, seq, hidden // self.num_heads)")),
    mutant("BertSelfAttention", "heads merged without transpose",
           ("context.transpose(1, 2).reshape(batch, seq, hidden)", "context.reshape(batch, seq, hidden)")),
    mutant("BertSelfAttention", "no output projection", ("return self.output(context)", "return context")),
    mutant("BertSelfAttention", "no attention dropout",
           ("if self.training and self.dropout.p > 0:", "if False:")),
    mutant("BertSelfAttention", "dropout also in eval mode",
           ("if self.training and self.dropout.p > 0:", "if self.dropout.p > 0:"),
           ("attention_with_dropout(query, key, value, mask, self.dropout)",
            "attention_with_dropout(query, key, value, mask, self.dropout.train())")),
    mutant("BertSelfAttention", "dropout kept weights not rescaled",
           ("attention_with_dropout(query, key, value, mask, self.dropout)",
            "attention_with_dropout(query, key, value, mask, lambda w: w * (torch.rand_like(w) >= self.dropout.p))")),
    mutant("BertSelfAttention", "dropout on the context instead of the weights",
           ("attention_with_dropout(query, key, value, mask, self.dropout)",
            "self.dropout(F.scaled_dot_product_attention(query, key, value, attn_mask=mask))")),
    Variant("BertSelfAttention", "F.scaled_dot_product_attention with dropout_p", correct=True, edits=((
        "        if self.training and self.dropout.p > 0:\n"
        "            context = attention_with_dropout(query, key, value, mask, self.dropout)  # (B, nh, T, hd)\n"
        "        else:  # the fused kernel: it never builds the (B, nh, T, T) weights\n"
        "            context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)\n",
        "        context = F.scaled_dot_product_attention(\n"
        "            query, key, value, attn_mask=mask, dropout_p=self.dropout.p if self.training else 0.0)\n"),)),
    alternative("BertSelfAttention", "own attention, loop over heads, nn.Dropout on weights", '''
class BertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden_states, attention_mask=None):
        q, k, v = self.query(hidden_states), self.key(hidden_states), self.value(hidden_states)
        heads = []
        for h in range(self.num_heads):
            part = slice(h * self.head_size, (h + 1) * self.head_size)
            scores = q[..., part] @ k[..., part].transpose(1, 2) / math.sqrt(self.head_size)
            if attention_mask is not None:
                scores = scores + (1.0 - attention_mask[:, None, :].float()) * -10000.0
            heads.append(self.dropout(scores.softmax(-1)) @ v[..., part])
        return self.output(torch.cat(heads, dim=-1))
'''),
    # --- BertEmbeddings -----------------------------------------------------
    mutant("BertEmbeddings", "no token type embedding", ("            + self.token_type_embeddings(token_type_ids)\n", "")),
    mutant("BertEmbeddings", "positions counted from 1",
           ("torch.arange(input_ids.size(1), device=input_ids.device)",
            "torch.arange(1, input_ids.size(1) + 1, device=input_ids.device).clamp(max=self.position_embeddings.num_embeddings - 1)")),  # noqa: E501 (the mutated source line as it is)
    mutant("BertEmbeddings", "dropout before the LayerNorm",
           ("return self.dropout(self.norm(embeddings))", "return self.norm(self.dropout(embeddings))")),
    mutant("BertEmbeddings", "LayerNorm with PyTorch's default eps",
           ("nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)", "nn.LayerNorm(config.hidden_size)")),
    mutant("BertEmbeddings", "no LayerNorm",
           ("return self.dropout(self.norm(embeddings))", "return self.dropout(embeddings)")),
    alternative("BertEmbeddings", "position ids as a buffer, as transformers does", '''
class BertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).unsqueeze(0))

    def forward(self, input_ids, token_type_ids=None):
        seq = input_ids.shape[1]
        if token_type_ids is None:
            token_type_ids = input_ids.new_zeros(input_ids.shape)
        x = self.word_embeddings(input_ids)
        x = x + self.position_embeddings(self.position_ids[:, :seq])
        x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.norm(x))
'''),
    # --- BertLayer ----------------------------------------------------------
    mutant("BertLayer", "ReLU instead of GELU", ("F.gelu(", "F.relu(")),
    mutant("BertLayer", "tanh-approximate GELU",
           ("F.gelu(self.intermediate(hidden_states))", 'F.gelu(self.intermediate(hidden_states), approximate="tanh")')),
    mutant("BertLayer", "no residual around attention",
           ("self.attention_norm(residual + self.dropout(attended))", "self.attention_norm(self.dropout(attended))")),
    mutant("BertLayer", "FFN residual taken from the layer input",
           ("hidden_states = self.attention_norm(residual + self.dropout(attended))\n        residual = hidden_states",
            "hidden_states = self.attention_norm(residual + self.dropout(attended))")),
    mutant("BertLayer", "dropout after the LayerNorm",
           ("return self.output_norm(residual + self.dropout(feed_forward))",
            "return self.dropout(self.output_norm(residual + feed_forward))")),
    mutant("BertLayer", "padding mask not passed to attention",
           ("self.attention(hidden_states, attention_mask)", "self.attention(hidden_states)")),
    mutant("BertLayer", "pre-LN instead of post-LN", source='''
class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = BertSelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, attention_mask=None):
        x = hidden_states + self.dropout(self.attention(self.attention_norm(hidden_states), attention_mask))
        return x + self.dropout(self.output(F.gelu(self.intermediate(self.output_norm(x)))))
'''),
    alternative("BertLayer", "nn.GELU module and one dropout per sublayer", '''
class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = BertSelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = nn.GELU()
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.output_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, attention_mask=None):
        h = self.attention_norm(hidden_states + self.attention_dropout(self.attention(hidden_states, attention_mask)))
        return self.output_norm(h + self.output_dropout(self.output(self.activation(self.intermediate(h)))))
'''),
]
