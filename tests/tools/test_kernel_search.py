"""Where the verifier looks for a candidate's Triton kernels: in its module and what it holds,
never failing on the candidate's own odd objects."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from kernel_agent.tools.integrity import LaunchCounter, triton_kernels
from tests.conftest import DATA

ODD = '''

class Unlookable:
    def __getattribute__(self, name):
        raise RuntimeError("no looking")


THING = Unlookable()
REGISTRY = {"odd": [THING, (THING,)]}
'''


def module_of(path: Path, text: str):
    spec = importlib.util.spec_from_file_location(f"kernel_search_{path.stem}", path)
    path.write_text(text)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_an_object_that_refuses_every_lookup_hides_no_kernel_and_breaks_nothing(tmp_path):
    module = module_of(tmp_path / "odd.py", (DATA / "scale_add_correct.py").read_text() + ODD)
    assert [k.fn.__name__ for k in triton_kernels(module)] == ["scale_add_kernel"]
    assert LaunchCounter(module).counts == {"scale_add_kernel": 0}


def test_kernels_in_a_class_a_registry_and_a_closure_are_all_found(tmp_path):
    sources = [(DATA / "kept_kernels" / name).read_text()
               for name in ("in_the_class.py", "in_a_registry.py", "made_by_the_model.py")]
    found = []
    for number, text in enumerate(sources):
        module = module_of(tmp_path / f"kept_{number}.py", text)
        roots = [module.ModelNew()] if "make_launcher" in text else []
        found.append([k.fn.__name__ for k in triton_kernels(module, *roots)])
    assert found == [["scale_add_kernel"]] * 3
