"""`release build` and `release verify`: the verified bundle of one registered version."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _build(ns: argparse.Namespace) -> int:
    from ..registry.release import build
    from ..registry.tags import Registry

    built = build(Registry.open(ns.repo), ns.version, ns.out_dir)
    log.info("built %s (%d files) and %s", built.directory, len(built.manifest["files"]), built.archive)
    return 0


def _verify(ns: argparse.Namespace) -> int:
    import tempfile

    from ..registry.bundle import open_bundle
    from ..registry.release import verify_lineage

    with tempfile.TemporaryDirectory(prefix="verify-") as tmp:
        b = open_bundle(ns.bundle, Path(tmp))
        lin = verify_lineage(b, ns.repo, require_git=ns.require_git)
        against = f"dvc.lock at {lin.tag}" if lin.against_git else f"lineage.json only ({lin.tag} not in {ns.repo})"
        log.info(
            "%s: OK (%s %s, %d files match MANIFEST.json; %s match %s)",
            ns.bundle,
            b.name,
            b.version,
            len(b.manifest["files"]),
            ", ".join(lin.files),
            against,
        )
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "release",
        help="build or verify a release bundle",
        description="A release bundle holds one registered version's model, signature, metrics, "
        "model card and MANIFEST.json (checksums); serving refuses a bundle that fails verify.",
    )
    rsub = p.add_subparsers(dest="release_command", required=True, metavar="ACTION")
    b = rsub.add_parser("build", help="bundle a registered version from its tag: dist/<model>-<version>/ + .tar.gz")
    b.add_argument("--version", required=True, help="registered version, e.g. v0.2.0")
    b.add_argument("--repo", type=Path, default=Path(), help="the git repository holding the registry tags")
    b.add_argument("--out-dir", type=Path, default=None, help="where the bundle goes (default: release.dist_dir)")
    b.set_defaults(handler=_build)
    v = rsub.add_parser(
        "verify",
        help="refuse a bundle with a changed, missing or extra file, or a model its lineage does not name",
        description="Checks the files against MANIFEST.json, then the pipeline files against lineage.json's md5s "
        "and, when --repo holds the bundle's tag, against the md5s that tag's dvc.lock names.",
    )
    v.add_argument("bundle", type=Path, help="bundle directory or .tar.gz")
    v.add_argument("--repo", type=Path, default=Path(), help="the git repository holding the bundle's tag")
    v.add_argument(
        "--require-git", action="store_true", help="refuse when --repo does not hold the tag (deploy: always)"
    )
    v.set_defaults(handler=_verify)
