#!/usr/bin/env bash
# Fetch, on a machine with a package registry, the wheels a GPU host without one lacks (its image
# has Python 3.12, torch, triton and numpy; not LangGraph, LangChain, the OpenAI client, MCP,
# Rich, Typer or matplotlib), for benchmarks/gpu_session.sh to install there.
#
#   benchmarks/gpu_wheels.sh [DIR]      (default .whl; keep DIR out of git: /.whl/ is ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.whl}
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux1_x86_64 any; do
    platforms+=(--platform "$p")
done
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$dir" \
    "langgraph>=1.2" "langgraph-checkpoint-sqlite>=3.1" "langchain-openai>=1.7" \
    "langchain-core>=1.8" "openai>=3" "mcp>=2" rich typer "matplotlib>=3.8" nvidia-ml-py
# What the GPU image already has must come from the image: a second numpy (or torch's own
# dependencies) on PYTHONPATH would shadow the versions torch was built against.
for have in numpy torch triton nvidia_ sympy networkx jinja2 MarkupSafe fsspec filelock pillow \
            setuptools mpmath; do
    rm -f "$dir"/"$have"*.whl
done
du -sh "$dir"
