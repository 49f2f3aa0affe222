"""The build backend (PEP 517) of the pre-commit hook package at the crate's root.

pre-commit installs a `language: python` hook by running `pip install .` at the root of the
hook's repository. That must not compile the tool: this backend makes a wheel holding only
metadata, named `gitops-migrate-pre-commit`, whose one requirement is the prebuilt
`gitops-migrate` wheel of the same version (built by `scripts/build-wheel`), which pip then
finds where the user's pip looks for packages (an index, or `PIP_FIND_LINKS`). It is the
arrangement of ruff's pre-commit mirror, whose package requires the `ruff` wheel.

It uses the standard library only (the root `pyproject.toml` lists no build requirements, so
nothing is downloaded to build it), and reads the version from `Cargo.toml`, so the hook
always installs the binary of its own revision.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

NAME = "gitops-migrate-pre-commit"
DIST = "gitops_migrate_pre_commit"
SUMMARY = "pre-commit hook of gitops-migrate: installs its prebuilt wheel"


def _version():
    """The `version` of Cargo.toml's `[package]` table."""
    with open("Cargo.toml", encoding="utf-8") as f:
        text = f.read()
    package = re.search(r"^\[package\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    match = package and re.search(r'^version\s*=\s*"([^"]+)"', package.group(1), re.M)
    if not match:
        raise RuntimeError("Cargo.toml: no [package] version")
    return match.group(1)


def _metadata(version):
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {version}\n"
        f"Summary: {SUMMARY}\n"
        "License: MIT\n"
        "Requires-Python: >=3.8\n"
        f"Requires-Dist: gitops-migrate=={version}\n"
    )


def _wheel_file():
    return (
        "Wheel-Version: 1.0\n"
        "Generator: gitops-migrate scripts/hook-package\n"
        "Root-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    )


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    version = _version()
    dist_info = f"{DIST}-{version}.dist-info"
    path = os.path.join(metadata_directory, dist_info)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata(version))
    with open(os.path.join(path, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(_wheel_file())
    return dist_info


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"{name},sha256={digest.decode()},{len(data)}\n"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    dist_info = f"{DIST}-{version}.dist-info"
    files = {
        f"{dist_info}/METADATA": _metadata(version).encode(),
        f"{dist_info}/WHEEL": _wheel_file().encode(),
    }
    record = "".join(_record_line(n, d) for n, d in files.items())
    record += f"{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    name = f"{DIST}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in files.items():
            info = zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return name


def build_sdist(sdist_directory, config_settings=None):
    """The hook package's own files (the backend, `pyproject.toml`, `Cargo.toml` for the
    version): enough to build the same wheel again."""
    version = _version()
    base = f"{DIST}-{version}"
    name = f"{base}.tar.gz"
    members = ["pyproject.toml", "Cargo.toml", "scripts/hook-package/gitops_migrate_hook.py"]
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        pkg_info = _metadata(version).encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        tar.addfile(info, io.BytesIO(pkg_info))
        for m in members:
            tar.add(m, arcname=f"{base}/{m}")
    return name
