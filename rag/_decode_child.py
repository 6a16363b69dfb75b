"""Child process of ``rag.probe``: load a GGUF with llama.cpp, read a prompt, write a few tokens.

Run as a script (``python _decode_child.py MODEL on|off THREADS``), not imported, so the child
does not pay for importing the ``rag`` package. If llama.cpp crashes (a native kernel that this
CPU cannot run), this process dies of the signal and its parent reports it; on success it prints
one JSON line with the measured speeds.
"""

import json
import sys
import time

PROMPT = ("<|im_start|>system\nYou answer in one short sentence.<|im_end|>\n<|im_start|>user\n"
          "The capital of France is Paris. The capital of Japan is Tokyo. The capital of Italy is Rome. "
          "Which city is the capital of Japan?<|im_end|>\n<|im_start|>assistant\n")


def main(model: str, extra_bufts: str, threads: int, new_tokens: int = 8) -> dict:
    import llama_cpp
    from llama_cpp import Llama

    from_defaults = llama_cpp.llama_model_default_params

    def model_params():
        params = from_defaults()
        params.use_extra_bufts = extra_bufts == "on"
        return params

    llama_cpp.llama_cpp.llama_model_default_params = model_params
    try:
        t0 = time.perf_counter()
        llm = Llama(model_path=model, n_ctx=512, n_threads=threads, n_threads_batch=threads, n_batch=512,
                    seed=0, verbose=False)
    finally:
        llama_cpp.llama_cpp.llama_model_default_params = from_defaults
    load_s = time.perf_counter() - t0
    tokens = llm.tokenize(PROMPT.encode(), add_bos=False, special=True)
    t1 = time.perf_counter()
    llm.eval(tokens)  # reading the prompt: where the crash was seen
    prompt_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    written = []
    for token in llm.generate(tokens, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
        written.append(token)
        if len(written) >= new_tokens:
            break
    gen_s = time.perf_counter() - t2
    return {"ok": True, "load_s": round(load_s, 3), "prompt_tokens": len(tokens),
            "prompt_tps": round(len(tokens) / prompt_s, 1), "gen_tokens": len(written),
            "gen_tps": round(len(written) / gen_s, 1) if gen_s else None,
            "text": llm.detokenize(written).decode("utf-8", "replace"),
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))), flush=True)
