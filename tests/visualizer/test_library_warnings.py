"""Library warnings become INFO records of deepscope.warnings; DeepScope's own stay
WARNING; the origin is the module that warned, whatever its stacklevel."""

import logging
import warnings

import pytest

from visualizer.library_warnings import module_for_path, route_library_warnings


def _function_in_module(module_name: str, body: str):
    """A function whose globals say it lives in ``module_name`` (as a library's would)."""
    namespace = {"__name__": module_name, "warnings": warnings}
    exec(f"def warn_here():\n    {body}\n", namespace)  # noqa: S102 - test helper
    return namespace["warn_here"]


@pytest.fixture
def routed(caplog):
    caplog.set_level(logging.DEBUG, logger="deepscope.warnings")
    restore = route_library_warnings()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        route_library_warnings()  # a second call changes nothing
        yield caplog
    restore()


def test_a_library_warning_is_an_info_record_naming_its_module(routed):
    _function_in_module("captum.attr._core.fake",
                        "warnings.warn('Setting backward hooks', UserWarning)")()
    [record] = routed.records
    assert record.levelno == logging.INFO and record.name == "deepscope.warnings"
    assert record.getMessage().startswith(
        "UserWarning from captum.attr._core.fake: Setting backward hooks")


def test_stacklevel_into_our_code_keeps_the_library_as_origin(routed):
    library = _function_in_module(
        "torch.fake", "warnings.warn('deprecated', FutureWarning, stacklevel=2)")
    caller = _function_in_module("visualizer.analysis.fake", "library()")
    caller.__globals__["library"] = library
    caller()
    [record] = routed.records
    assert record.levelno == logging.INFO
    assert "FutureWarning from torch.fake: deprecated" in record.getMessage()


def test_deepscope_warnings_stay_visible(routed):
    _function_in_module("visualizer.analysis.fake",
                        "warnings.warn('layer has no units', RuntimeWarning)")()
    [record] = routed.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        "RuntimeWarning from visualizer.analysis.fake: layer has no units")


def test_restore_puts_the_previous_showwarning_back():
    before = warnings.showwarning
    restore = route_library_warnings()
    assert warnings.showwarning is not before
    restore()
    assert warnings.showwarning is before


def test_module_for_path():
    import captum

    assert module_for_path(captum.__file__) == "captum"
    import visualizer.cli

    assert module_for_path(visualizer.cli.__file__) == "visualizer.cli"
