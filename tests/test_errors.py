"""One error root: every exception class of edge and drivers derives from EdgeError and says when it is raised."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import drivers
import edge
from drivers.errors import EdgeError as DriversRoot
from edge.config import ConfigError
from edge.errors import EdgeError
from edge.plates.reader import PlateModelError
from firmware_sim.scenario import ScenarioError


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (edge, drivers):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue  # running it is the CLI
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                ):
                    found[f"{module.__name__}.{name}"] = value
    return found


def test_every_exception_class_derives_from_edge_error() -> None:
    classes = _exception_classes()
    assert len(classes) >= 20, sorted(classes)  # the walk found them: drivers, config, rules, query, ...
    assert "drivers.errors.DeviceTimeout" in classes and "edge.config.ConfigError" in classes
    outside = [name for name, cls in classes.items() if not issubclass(cls, EdgeError)]
    assert outside == []
    undocumented = [
        name for name, cls in classes.items() if not (cls.__doc__ or "").startswith("Raised when")
    ]
    assert undocumented == []


def test_the_root_is_one_class_and_builtin_bases_stay() -> None:
    assert EdgeError is DriversRoot
    assert issubclass(ScenarioError, EdgeError) and issubclass(ScenarioError, ValueError)
    assert issubclass(ConfigError, ValueError) and issubclass(PlateModelError, RuntimeError)
