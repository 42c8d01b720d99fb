"""The error hierarchy: free of FastAPI, and each class reported with the status its docstring names."""

import re
import subprocess
import sys

import pytest

import shared.errors
from shared.errors import SifangError
from shared.http_errors import STATUS, http_status

# "    ├── NotFound                404: no such record ..." in the module docstring.
DOCUMENTED = {
    name: int(status)
    for name, status in re.findall(r"^[\s│├└─]*(\w+)\s+(\d{3}):", shared.errors.__doc__ or "", re.M)
}
DEFINED = {
    name: cls
    for name, cls in vars(shared.errors).items()
    if isinstance(cls, type) and issubclass(cls, SifangError)
}


def test_the_docstring_documents_every_error_class() -> None:
    assert set(DOCUMENTED) == set(DEFINED)


@pytest.mark.parametrize("name", sorted(DEFINED))
def test_each_error_maps_to_its_documented_status(name: str) -> None:
    cls = DEFINED[name]
    assert http_status(cls) == DOCUMENTED[name]
    if cls is not shared.errors.InsufficientScope:
        assert http_status(cls("boom")) == DOCUMENTED[name]


def test_subclasses_inherit_the_status_of_their_nearest_listed_base() -> None:
    class Gone(shared.errors.NotFound):
        pass

    assert shared.errors.InsufficientScope not in STATUS
    assert http_status(shared.errors.InsufficientScope("matches:write", "no")) == 403
    assert http_status(Gone("gone")) == 404


def test_errors_import_no_web_framework_or_database() -> None:
    check = (
        "import shared.errors, sys; "
        "loaded = [m for m in ('fastapi', 'starlette', 'sqlalchemy') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
