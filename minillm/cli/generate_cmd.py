"""`minillm generate`: sample text from a checkpoint of any registered language model, streamed
token by token to a terminal; Ctrl-C stops and keeps what was generated."""

import sys

from ..generate import iter_generate
from ..models import get_spec, load_checkpoint
from .args import Exit, parse, parser

MAX_NEW_TOKENS = 100_000  # more is a typo, not a sample: generate it in pieces


def _parser():
    p = parser("minillm generate", "Sample text from a trained language model.")
    p.add_argument("--checkpoint", required=True, help="a checkpoint folder (a train out_dir)")
    p.add_argument("--prompt", default="\n", help="the text to continue (default: a newline)")
    p.add_argument("--max_new_tokens", type=int, default=500, help="tokens to sample")
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (argmax)")
    p.add_argument("--top_k", type=int, default=None, help="keep the k most likely tokens")
    p.add_argument("--top_p", type=float, default=None, help="keep the smallest set of mass p")
    p.add_argument("--seed", type=int, default=None, help="same seed, same text")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to run")
    p.add_argument("--no_cache", action="store_true", help="recompute the context every step")
    stream = p.add_mutually_exclusive_group()
    stream.add_argument("--stream", dest="stream", action="store_true", default=None,
                        help="print tokens as they come (default: on a terminal)")  # fmt: skip
    stream.add_argument("--no_stream", dest="stream", action="store_false",
                        help="print the text once, at the end (default: when piped)")  # fmt: skip
    return p


def run_generate(args) -> int:
    try:
        a = parse(_parser(), args)
    except Exit as e:
        return e.code
    if a.prompt == "":
        raise ValueError("--prompt is empty; give at least one character (default: a newline)")
    if a.max_new_tokens > MAX_NEW_TOKENS:
        raise ValueError(
            f"--max_new_tokens={a.max_new_tokens} is over the cap of {MAX_NEW_TOKENS:,}; "
            "generate in pieces (feed the end of one sample as the next prompt)"
        )
    model, tokenizer, manifest = load_checkpoint(a.checkpoint, a.device)
    task = get_spec(manifest["model"]).task
    if task == "seq2seq":
        return _translate(model, tokenizer, a.prompt)
    if task != "causal_lm":
        raise ValueError(
            f"generate: {a.checkpoint!r} holds a {manifest['model']} model ({task}); generate "
            "samples from language models and translates with seq2seq models"
        )
    ids = list(tokenizer.encode(a.prompt))  # ValueError naming a character outside the vocabulary
    stream = sys.stdout.isatty() if a.stream is None else a.stream
    steps = iter_generate(
        model, ids, a.max_new_tokens, a.temperature, a.top_k, a.top_p, a.seed, not a.no_cache
    )
    shown = ""
    try:
        for nxt, _ in steps:
            ids.append(int(nxt[0]))
            if stream:
                text = tokenizer.decode(ids)
                print(text[len(shown) :], end="", flush=True)  # BPE: a token may end mid-char
                shown = text
    except KeyboardInterrupt:
        new = len(ids) - len(tokenizer.encode(a.prompt))
        print() if stream else print(tokenizer.decode(ids))
        print(f"minillm generate: interrupted after {new} new tokens", file=sys.stderr)
        return 130
    if stream:
        print(tokenizer.decode(ids)[len(shown) :])
    else:
        print(tokenizer.decode(ids))
    return 0


def _translate(model, tokenizer, prompt: str) -> int:
    """A seq2seq checkpoint: greedy decoding (F11) of the prompt as the source sequence."""
    src = tokenizer.encode(prompt.strip())[None, :]  # (1, S)
    if src.shape[1] == 0 or src.shape[1] >= model.config.max_len:
        raise ValueError(
            f"--prompt: the source must have 1 to {model.config.max_len - 1} tokens, got "
            f"{src.shape[1]}"
        )
    ids = tokenizer.special_ids
    out = model.greedy_decode(src, src.shape[1] + 1, ids["bos"], ids["eos"])  # (1, L)
    print(tokenizer.decode(out[0]))
    return 0
