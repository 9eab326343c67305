"""Imported by a GPU worker that keeps its task processes, before it forks them (sandbox/pool.py,
default_preload): torch's one-time changes to itself are made here, so that every process forked
from it (the judge, each candidate's process) finds them in its snapshot of torch instead of
reading them as a candidate's patching.

The first compiled baseline of a problem imports torch._dynamo, which wraps torch.manual_seed,
and makes Dynamo wrap torch.nn.Module.__init__ and __setstate__ (a one-time install, called here
directly: a compile, even with the "eager" backend, would initialise CUDA in the fork server).
"""

from torch._dynamo import mutation_guard

install = getattr(mutation_guard, "install_generation_tagging_init", None)
if install is not None:  # a torch without it has nothing of this kind to install
    install()
