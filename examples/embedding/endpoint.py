"""The model endpoint options shared by the embedding examples.

Any OpenAI-compatible server works: vLLM, SGLang, Ollama, NVIDIA NIM, DeepSeek, OpenAI. Flags
win over the environment (KERNEL_AGENT_BASE_URL, KERNEL_AGENT_MODEL, KERNEL_AGENT_API_KEY,
KERNEL_AGENT_PROFILE), which wins over ~/.config/kernel-agent/config.toml.
"""

from __future__ import annotations

import argparse

from kernel_agent.agent.models import ModelConfig, resolve_config


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. "
                        "http://localhost:8000/v1 (default: $KERNEL_AGENT_BASE_URL)")
    parser.add_argument("--model", help="model name (default: $KERNEL_AGENT_MODEL, else the "
                        "endpoint's first model)")
    parser.add_argument("--profile", help="nim-r1, deepseek, openai or local (default: local "
                        "when --base-url is given, else $KERNEL_AGENT_PROFILE or nim-r1)")


def model_config(args: argparse.Namespace, model: str | None = None) -> ModelConfig:
    """The endpoint the flags (then the environment, then the config file) name."""
    profile = args.profile or ("local" if args.base_url else None)
    return resolve_config(profile, {"base_url": args.base_url, "model": model or args.model})
