"""Generalisation: the same behaviour with different numbers, hashes or names is one item.

Two steps keep a profile both useful and bounded:

* every observed value is *normalised* before it is learnt or checked: numbers, hashes, random
  temporary names and addresses in arguments, paths and DNS names become placeholders
  (``sleep 0.3`` and ``sleep 5`` are both ``sleep <num>``);
* when many items of one group pile up, the group is *folded* into one pattern: addresses of one
  /24 (IPv6: /64) on one port become the CIDR, many files of one directory become ``dir/*``,
  many names under one domain become ``*.domain``, many argument patterns of one program become
  ``program *``.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Iterable

NUM = "<num>"
HASH = "<hash>"
TMP = "<tmp>"
IP = "<ip>"

#: how many items of one group are kept before the group is folded into a pattern
FOLD_ADDRESSES = 4
FOLD_PATHS = 8
FOLD_NAMES = 8
FOLD_ARGUMENTS = 8

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Hex runs of 8+ with at least one digit (commit ids, digests, container ids)...
_HEX = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{8,}(?![0-9A-Za-z])")
# ... and long mixed letter/digit runs (random base62 names).
_RANDOM = re.compile(r"(?<![0-9A-Za-z])(?=[A-Za-z]*[0-9])(?=[0-9]*[A-Za-z])[0-9A-Za-z]{16,}")
# mktemp (tmp.XXXXXXXXXX), Python's tempfile (tmpab_cd123), gcc (ccAbC123.o)
_TEMP = re.compile(r"(?<![0-9A-Za-z])(?:tmp[._]?[0-9A-Za-z_]{6,}|cc[0-9A-Za-z]{6})(?![0-9A-Za-z])")
_IPV4 = re.compile(r"(?<![0-9.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9.])")
# Digit runs not glued to a letter on their left: "app-12" → "app-<num>", "python3" stays.
_NUMBER = re.compile(r"(?<![A-Za-z0-9<])\d+(?:\.\d+)*")


def normalise_text(text: str) -> str:
    """Replace the variable parts of one argument, path component or DNS label."""
    text = _UUID.sub(HASH, text)
    text = _HEX.sub(HASH, text)
    text = _TEMP.sub(TMP, text)
    text = _RANDOM.sub(HASH, text)
    text = _IPV4.sub(IP, text)
    return _NUMBER.sub(NUM, text)


def argument_pattern(cmdline: str) -> str:
    """The generalised arguments of a command line (argv[0] dropped: the executable says it)."""
    args = cmdline.split()[1:]
    return " ".join(normalise_text(arg) for arg in args)


def path_pattern(path: str) -> str:
    """A written file's path with its variable components replaced."""
    return "/".join(normalise_text(part) for part in path.split("/"))


def dns_pattern(name: str) -> str:
    """A queried name, lower-cased, with random or numbered labels replaced."""
    labels = name.lower().rstrip(".").split(".")
    return ".".join(normalise_text(label) for label in labels)


# -- matching ------------------------------------------------------------------------------
def destination_parts(item: str) -> tuple[str, str, str] | None:
    """``tcp/10.0.0.1:443`` → (``tcp``, ``10.0.0.1``, ``443``); CIDR hosts too."""
    protocol, sep, rest = item.partition("/")
    host, colon, port = rest.rpartition(":")
    if not sep or not colon:
        return None
    return protocol, host.removeprefix("[").removesuffix("]"), port


def _network(host: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(host, strict=False)
    except ValueError:
        return None


def destination_covered(item: str, pattern: str) -> bool:
    """Whether a folded destination (a CIDR on a port) contains ``item``."""
    if "/" not in pattern.partition("/")[2]:
        return False
    have, want = destination_parts(item), destination_parts(pattern)
    if have is None or want is None or have[0] != want[0] or have[2] != want[2]:
        return False
    address, network = _network(have[1]), _network(want[1])
    return (
        address is not None
        and network is not None
        and address.version == network.version
        and address.subnet_of(network)  # type: ignore[arg-type]
    )


def path_covered(item: str, pattern: str) -> bool:
    return pattern.endswith("/*") and posixpath.dirname(item) == pattern[:-2]


def name_covered(item: str, pattern: str) -> bool:
    return pattern.startswith("*.") and item.endswith(pattern[1:])


def arguments_covered(item: str, pattern: str) -> bool:
    """``prog *`` covers every argument pattern of ``prog``."""
    if not pattern.endswith(" *"):
        return False
    executable = pattern[:-2]
    return item == executable or item.startswith(executable + " ")


# -- folding -------------------------------------------------------------------------------
def fold_destination(item: str, known: set[str]) -> str | None:
    """The CIDR pattern to fold ``item``'s group into, once the group is big enough."""
    parts = destination_parts(item)
    if parts is None:
        return None
    protocol, host, port = parts
    address = _network(host)
    if address is None or address.num_addresses != 1:
        return None
    prefix = 24 if address.version == 4 else 64
    network = address.supernet(new_prefix=prefix)
    shown = f"[{network}]" if address.version == 6 else str(network)
    pattern = f"{protocol}/{shown}:{port}"
    members = [k for k in known if destination_covered(k, pattern)]
    return pattern if len(members) >= FOLD_ADDRESSES else None


def fold_path(item: str, known: set[str]) -> str | None:
    directory = posixpath.dirname(item)
    if directory in ("", "/"):
        return None
    pattern = directory + "/*"
    members = [k for k in known if posixpath.dirname(k) == directory and k != pattern]
    return pattern if len(members) >= FOLD_PATHS else None


def fold_name(item: str, known: set[str]) -> str | None:
    labels = item.split(".")
    if len(labels) < 3:  # never fold a whole registrable domain (*.com)
        return None
    pattern = "*." + ".".join(labels[1:])
    members = [k for k in known if k != pattern and k.endswith(pattern[1:])]
    return pattern if len(members) >= FOLD_NAMES else None


def fold_arguments(item: str, known: set[str], executable: str) -> str | None:
    pattern = f"{executable} *"
    members = [k for k in known if k != pattern and arguments_covered(k, pattern)]
    return pattern if len(members) >= FOLD_ARGUMENTS else None


def absorb(known: set[str], pattern: str, covered: Iterable[str]) -> list[str]:
    """Replace the items a new pattern covers by the pattern; returns the items that went."""
    gone = [item for item in covered if item != pattern]
    for item in gone:
        known.discard(item)
    known.add(pattern)
    return gone
