"""Why a test cannot run on this machine: one answer for every group, so a
skipped test always says what to install or how to run it."""

from __future__ import annotations

import os
import shutil

from controller.switch.pipeline import missing_tools

DEBIAN_PACKAGE = {
    "ip": "iproute2",
    "tc": "iproute2",
    "ss": "iproute2",
    "nft": "nftables",
    "ethtool": "ethtool",
    "openssl": "openssl",
    "curl": "curl",
    "ab": "apache2-utils",
}


def skip_reason(*tools: str, target: str | None = None, root: bool = True) -> str | None:
    """None when this process is root (unless `root` is False: the test needs
    no privilege), every command in `tools` is on PATH and, given a switch
    `target` (p4sim or bmv2), that target's programs are installed; otherwise
    the first thing missing, in words."""
    if root and os.geteuid() != 0:
        return "needs root (network namespaces, veths, TCP_REPAIR, nftables)"
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        packages = sorted({DEBIAN_PACKAGE.get(tool, tool) for tool in missing})
        return f"needs {', '.join(missing)} on PATH (Debian packages {', '.join(packages)})"
    if target is not None:
        absent = missing_tools(target)
        if absent:
            return f"target {target} needs {' and '.join(absent)} on PATH (not installed here)"
    return None
