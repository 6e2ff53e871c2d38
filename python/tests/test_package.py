"""What the installed package ships: type information (``py.typed``, the native module's
stubs) and a docstring on everything public."""

import inspect
from pathlib import Path

import rowpipe
import rowpipe.django
import rowpipe.starlette


def test_ships_type_information():
    package = Path(rowpipe.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_rowpipe.pyi").is_file()


def test_everything_public_has_a_docstring():
    missing = []
    for module in (rowpipe, rowpipe.errors, rowpipe.django, rowpipe.starlette):
        assert inspect.getdoc(module), module.__name__
        for name in getattr(module, "__all__", []):
            value = getattr(module, name)
            if inspect.ismodule(value):
                continue
            if not inspect.getdoc(value):
                missing.append(f"{module.__name__}.{name}")
            for member, attribute in vars(value).items() if inspect.isclass(value) else []:
                if not member.startswith("_") and callable(attribute) and not inspect.getdoc(attribute):
                    missing.append(f"{module.__name__}.{name}.{member}")
    assert missing == []
