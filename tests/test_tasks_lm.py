"""The language-model conventions of the tasks: decoding any callable LM, the masked next-token loss."""

import torch

from radgrok.models.gpt import GPT, GPTConfig
from radgrok.tasks.lm import IGNORE_INDEX, generate_tokens, lm_loss

V, BLOCK = 15, 16


def tiny(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig.tiny(V, BLOCK)).eval()


def tokens(b: int = 3, t: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, V, (b, t), generator=torch.Generator().manual_seed(seed))


def test_generate_greedy_batched():
    m = tiny()
    prompt = tokens(b=4, t=5)
    out = generate_tokens(m, prompt, 6, BLOCK)
    assert out.shape == (4, 11) and torch.equal(out[:, :5], prompt)
    # Greedy: each new token is the argmax of the model on the prefix before it.
    for t in range(5, 11):
        assert torch.equal(out[:, t], m(out[:, :t])[:, -1].argmax(-1))
    # Batched == one row at a time.
    for r in range(4):
        assert torch.equal(generate_tokens(m, prompt[r:r + 1], 6, BLOCK)[0], out[r])
    # Past block_size the context is cropped rather than failing.
    assert generate_tokens(m, prompt, BLOCK, BLOCK).shape == (4, 5 + BLOCK)
    # Sampling is reproducible from a generator.
    s1 = generate_tokens(m, prompt, 6, BLOCK, temperature=1.0, generator=torch.Generator().manual_seed(0))
    s2 = generate_tokens(m, prompt, 6, BLOCK, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s1, s2)


def test_generate_tokens_with_any_callable():
    # A "model" that always predicts (last token + 1) mod V.
    def succ(idx):
        return torch.nn.functional.one_hot((idx + 1) % V, V).float()

    out = generate_tokens(succ, torch.tensor([[3], [14]]), 3)
    assert out.tolist() == [[3, 4, 5, 6], [14, 0, 1, 2]]


def test_lm_loss_ignores_masked_targets():
    logits = torch.randn(2, 4, V)
    y = torch.randint(0, V, (2, 4))
    y_masked = y.clone()
    y_masked[:, :2] = IGNORE_INDEX
    full = lm_loss(logits, y)
    part = lm_loss(logits, y_masked)
    expected = torch.nn.functional.cross_entropy(logits[:, 2:].reshape(-1, V), y[:, 2:].reshape(-1))
    torch.testing.assert_close(part, expected)
    assert not torch.allclose(full, part)
