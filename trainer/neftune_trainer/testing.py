"""A tiny random model folder for tests and end-to-end runs (also used by the TypeScript tests):
a LlamaForCausalLM (hidden 64, 2 layers, 4 heads) and a byte-level BPE tokenizer trained offline
on a few KB of text, with ChatML special tokens and chat template. Saved with safetensors, loads
with AutoModelForCausalLM / AutoTokenizer. Made in about a second, no network."""

from __future__ import annotations

import os

from .prompting import CHATML_TEMPLATE

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_CORPUS = """
Below is an instruction that describes a task. Write a response that appropriately completes the request.
### Instruction: ### Input: ### Response:
The quick brown fox jumps over the lazy dog. What is the capital of France? The capital of France is Paris.
Give three tips for staying healthy. Eat a balanced diet, exercise regularly and sleep well.
Translate the sentence into French. Summarize the text. Write a short poem about the sea.
user assistant system You are a helpful assistant. List the numbers one two three four five six seven eight nine ten.
0 1 2 3 4 5 6 7 8 9 + - * / = ( ) [ ] { } , . ; : ! ? ' " \n
abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ
"""


def make_tiny_tokenizer(vocab_size: int = 512):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([_CORPUS] * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHATML_TEMPLATE
    return fast


def make_tiny_model(out_dir: str, seed: int = 0, chat_template: bool = True) -> str:
    """Write a tiny random Llama model + tokenizer to out_dir; returns out_dir."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = make_tiny_tokenizer()
    if not chat_template:
        tokenizer.chat_template = None
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir
