"""Sampling responses and scoring them under a model (batched, CPU-friendly).

Prompts are user messages; they are rendered with the tokenizer's chat template (generation
prompt added) when it has one, else used as plain text.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def render_prompt(tok, prompt: str) -> str:
    if tok.chat_template:
        return tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                       add_generation_prompt=True)
    return prompt


def sample_responses(model, tok, prompts: list[str], *, n: int, max_new_tokens: int,
                     temperature: float, seed: int, batch_size: int = 16,
                     progress: Callable[[int], None] | None = None) -> list[list[str]]:
    """``n`` sampled responses per prompt (decoded, special tokens dropped); temperature 0
    decodes greedily."""
    torch.manual_seed(seed)
    side = tok.padding_side
    tok.padding_side = "left"  # decoder-only generation continues from the right end
    texts = [render_prompt(tok, p) for p in prompts for _ in range(n)]
    out: list[str] = []
    try:
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i:i + batch_size], return_tensors="pt", padding=True,
                      add_special_tokens=False).to(model.device)
            sampling = {"do_sample": True, "temperature": temperature, "top_k": 0,
                        "top_p": 1.0} if temperature > 0 else {"do_sample": False}
            with torch.no_grad():
                gen = model.generate(**enc, **sampling, max_new_tokens=max_new_tokens,
                                     pad_token_id=tok.pad_token_id)
            new = gen[:, enc["input_ids"].shape[1]:]
            out += [t.strip() for t in tok.batch_decode(new, skip_special_tokens=True)]
            if progress is not None:
                progress(len(texts[i:i + batch_size]))
    finally:
        tok.padding_side = side
    return [out[k * n:(k + 1) * n] for k in range(len(prompts))]


def response_logps(model, tok, prompts: list[str], responses: list[str], *,
                   batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed log-likelihood, token count) of each response given its prompt, (N,) each."""
    sums, counts = [], []
    side = tok.padding_side
    tok.padding_side = "right"
    try:
        for i in range(0, len(prompts), batch_size):
            ps = [render_prompt(tok, p) for p in prompts[i:i + batch_size]]
            rs = responses[i:i + batch_size]
            p_ids = [tok(p, add_special_tokens=False)["input_ids"] for p in ps]
            r_ids = [tok(r, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
                     for r in rs]
            seqs = [a + b for a, b in zip(p_ids, r_ids, strict=True)]
            width = max(map(len, seqs))
            ids = torch.full((len(seqs), width), tok.pad_token_id)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            target = torch.zeros((len(seqs), width), dtype=torch.bool)
            for j, (a, s) in enumerate(zip(p_ids, seqs, strict=True)):
                ids[j, :len(s)] = torch.tensor(s)
                mask[j, :len(s)] = 1
                target[j, len(a):len(s)] = True
            with torch.no_grad():
                logits = model(input_ids=ids.to(model.device),
                               attention_mask=mask.to(model.device)).logits[:, :-1].float()
            # on the model's device: only the (N, T) gathered values come back, not the logits
            logp = torch.log_softmax(logits, -1).gather(
                -1, ids[:, 1:, None].to(logits.device))[..., 0].cpu()
            t = target[:, 1:]
            sums.append((logp * t).sum(1))
            counts.append(t.sum(1))
    finally:
        tok.padding_side = side
    return torch.cat(sums), torch.cat(counts)
