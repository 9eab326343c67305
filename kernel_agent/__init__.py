"""kernel-agent: an agent that writes fast, correct GPU kernels.

The subpackages live in the repository's top-level folders (agent/, tools/, sandbox/, graphs/,
evals/) and are mapped here so that users' own `agent` or `tools` modules never collide.
"""

__version__ = "0.1.0"
