"""Shared libraries without the run of zero bytes a linker or patchelf left in the file.

auditwheel's patchelf, when it renames a wheel's bundled library and gives it a longer
SONAME, moves the dynamic symbol and string tables to a new segment it puts at the next
2 MB boundary of the file: Pillow's ``libXau-154567c4.so.6.0.0`` is 2.1 MB of which
2.08 MB are zeros between the old end of the file and that segment (the system's
libXau is 15 KB). ``compacted()`` moves everything after such a gap down by a whole
number of 64 KiB pages and updates the offsets that point there (program headers,
section headers and the tables' own offsets in the ELF header). No byte of content
changes, no virtual address changes: the loader maps the same bytes at the same
addresses (it only needs each segment's file offset and address to agree modulo the
page size, which a shift by whole 64 KiB pages keeps on every page size Linux uses).
"""

from __future__ import annotations

import struct
from pathlib import Path

PAGE = 64 * 1024  # a multiple of every Linux page size (4 KiB x86-64, up to 64 KiB arm64)
MIN_GAP = 256 * 1024  # smaller runs of zeros are not worth a rewrite
PT_LOAD = 1
SHT_NOBITS = 8


def _used_ranges(elf: bytes) -> list[tuple[int, int]] | None:
    """The (start, end) file ranges something in a 64-bit little-endian ELF file uses."""
    if elf[:6] != b"\x7fELF\x02\x01":
        return None
    phoff, shoff = struct.unpack_from("<QQ", elf, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", elf, 0x36)
    ranges = [(0, 0x40), (phoff, phoff + phentsize * phnum), (shoff, shoff + shentsize * shnum)]
    for index in range(phnum):
        _type, _flags, offset, _vaddr, _paddr, filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + index * phentsize
        )
        if filesz:
            ranges.append((offset, offset + filesz))
    for index in range(shnum):
        _name, kind, _flags, _addr, offset, size = struct.unpack_from(
            "<IIQQQQ", elf, shoff + index * shentsize
        )
        if kind != SHT_NOBITS and size:
            ranges.append((offset, offset + size))
    return sorted(ranges)


def compacted(elf: bytes) -> bytes | None:
    """``elf`` without its largest unused run of bytes, if that is worth it; else None."""
    ranges = _used_ranges(elf)
    if ranges is None:
        return None
    gap_start, gap_end, end = 0, 0, 0
    for start, stop in ranges:
        if start - end > gap_end - gap_start:
            gap_start, gap_end = end, start
        end = max(end, stop)
    if end > len(elf):
        return None  # a table points past the end of the file: leave such a file alone
    shift = (gap_end - gap_start) // PAGE * PAGE
    if shift < MIN_GAP or elf[gap_end - shift : gap_end].count(0) != shift:
        return None
    out = bytearray(elf[: gap_end - shift] + elf[gap_end:])

    def moved(offset: int) -> int:
        return offset - shift if offset >= gap_end else offset

    phoff, shoff = struct.unpack_from("<QQ", elf, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", elf, 0x36)
    struct.pack_into("<QQ", out, 0x20, moved(phoff), moved(shoff))
    for index in range(phnum):
        at = moved(phoff) + index * phentsize
        kind, _flags, offset = struct.unpack_from("<IIQ", out, at)
        struct.pack_into("<Q", out, at + 8, moved(offset))
        align = struct.unpack_from("<Q", out, at + 48)[0]
        if kind == PT_LOAD and offset >= gap_end and align > PAGE:
            # Its offset and address now agree modulo PAGE, not modulo the old 2 MB.
            struct.pack_into("<Q", out, at + 48, PAGE)
    for index in range(shnum):
        at = moved(shoff) + index * shentsize
        offset = struct.unpack_from("<Q", out, at + 24)[0]
        struct.pack_into("<Q", out, at + 24, moved(offset))
    return bytes(out)


def compact_file(path: Path) -> bool:
    """Rewrite the library at ``path`` compacted; whether it was."""
    smaller = compacted(path.read_bytes())
    if smaller is None:
        return False
    path.write_bytes(smaller)
    return True
