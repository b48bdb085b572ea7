"""A smaller ``libicudata`` for the frozen app: Qt's ICU data without what it never reads.

PySide6's Qt links ICU, whose data library (``libicudata.so.NN``, 31 MB) holds data for
every ICU service in every language. Qt calls ICU for four things only: case mapping
(no data), collation (``QCollator``, e.g. sorting in file dialogs), time-zone display
names (``QTimeZone::displayName``) and codecs asked for by name (``QStringConverter``).
What is dropped, 25 MB in all:

- whole trees no function Qt calls opens: break-iterator dictionaries (``brkitr``),
  unit, currency and language names, transliterators, spell-out rules;
- time-zone and region names and main locale data in languages other than English
  (Qt shows no time-zone names in the app; other languages get the English ones);
- the multi-byte legacy codec tables (Shift_JIS, EUC-*, GB18030, Big5, EBCDIC DBCS):
  the app decodes text in Python (charset-normalizer), never through Qt's codecs;
  UTF-8/16/32, Latin-1, ASCII and the single-byte tables (windows-125x, ISO-8859-x,
  KOI8...) stay. (A dozen small delta tables of dropped ones, windows-936/949/950 and
  IBM variants, stay but fail to open, as a dropped codec does: the decoder is invalid.)

Collation data is kept whole, so sorting follows each language's rules as before.
``trimmed_icu_data()`` rewrites the common data package without those items and links
it into a library with the same name and exported symbol. The spec calls it on Linux;
if anything is missing (no C compiler, another layout) it returns None and the full
library is shipped.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

# Data trees (the folder after "icudtNNl/") no ICU function Qt calls ever opens.
UNUSED_TREES = frozenset({"brkitr", "unit", "curr", "lang", "translit", "rbnf"})
# Trees (main = "") whose per-language items are kept for English (and root) only.
ENGLISH_ONLY_TREES = frozenset({"", "zone", "region"})
# Codec tables above this size are the multi-byte ones (CJK, EBCDIC DBCS: 35 tables,
# 4.6 MB); the 155 single-byte ones below it (windows-125x, ISO-8859-x, KOI8...) stay.
SINGLE_BYTE_CODEC_SIZE = 64 * 1024
LANGUAGE_ITEM = re.compile(r"([a-z]{2,3})(_[A-Za-z0-9]+)*\.res")
ALIGNMENT = 16  # ICU requires each item 16-byte aligned in the package


def _dynamic_symbol(elf: bytes, name: bytes) -> tuple[int, int] | None:
    """(file offset, size) of an exported symbol in a 64-bit little-endian ELF file."""
    if elf[:6] != b"\x7fELF\x02\x01":
        return None
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if kind != 11:  # SHT_DYNSYM
            continue
        strings = sections[link][4]
        for index in range(size // entsize):
            st_name, _, _, shndx, value, st_size = struct.unpack_from(
                "<IBBHQQ", elf, offset + index * entsize
            )
            end = elf.index(b"\0", strings + st_name)
            if elf[strings + st_name : end] == name and shndx:
                home = sections[shndx]
                return home[4] + value - home[3], st_size
    return None


def kept(item: str, size: int) -> bool:
    """Whether an item of the package (``icudt73l/zone/de.res``, ``size`` bytes) ships."""
    folders, _, file_name = item.partition("/")[2].rpartition("/")
    if folders in UNUSED_TREES or (file_name.endswith(".cnv") and size > SINGLE_BYTE_CODEC_SIZE):
        return False
    language = LANGUAGE_ITEM.fullmatch(file_name)
    if folders in ENGLISH_ONLY_TREES and language is not None and file_name != "res_index.res":
        return language.group(1) == "en"
    return True


def _trimmed_package(data: bytes) -> bytes:
    """The ICU common data package ``data`` with only the items ``kept()``."""
    header_size: int = struct.unpack_from("<H", data, 0)[0]
    if data[2:4] != b"\xda\x27" or data[12:16] != b"CmnD":
        raise ValueError("not an ICU common data package")
    toc = data[header_size:]
    count: int = struct.unpack_from("<I", toc, 0)[0]
    entries = [struct.unpack_from("<II", toc, 4 + 8 * i) for i in range(count)]
    ends = [data_offset for _, data_offset in entries[1:]] + [len(toc)]
    items: list[tuple[bytes, bytes]] = []
    for (name_offset, data_offset), end in zip(entries, ends, strict=True):
        name = toc[name_offset : toc.index(b"\0", name_offset)]
        if kept(name.decode(), end - data_offset):
            items.append((name, toc[data_offset:end]))
    names = b"".join(name + b"\0" for name, _ in items)
    table_size = 4 + 8 * len(items)
    position = table_size + len(names)
    position += -position % ALIGNMENT
    table, blobs = [struct.pack("<I", len(items))], []
    name_position = table_size
    for name, blob in items:
        table.append(struct.pack("<II", name_position, position))
        name_position += len(name) + 1
        blob += b"\0" * (-len(blob) % ALIGNMENT)
        blobs.append(blob)
        position += len(blob)
    body = b"".join(table) + names
    body += b"\0" * (-(header_size + len(body)) % ALIGNMENT)
    return data[:header_size] + body + b"".join(blobs)


def trimmed_icu_data(library: Path, workdir: Path, compiler: str | None) -> Path | None:
    """A trimmed copy of ``library`` (``libicudata.so.NN``) built in ``workdir``, or None."""
    match = re.fullmatch(r"libicudata\.so\.(\d+)", library.name)
    if compiler is None or match is None:
        return None
    symbol = f"icudt{match.group(1)}_dat"
    elf = library.read_bytes()
    found = _dynamic_symbol(elf, symbol.encode())
    if found is None:
        return None
    offset, size = found
    try:
        package = _trimmed_package(elf[offset : offset + size])
    except ValueError:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / library.name  # rebuilt every time (a second): the rules may change
    blob = workdir / f"{symbol}.bin"
    blob.write_bytes(package)
    source = workdir / f"{symbol}.S"
    source.write_text(
        f"\t.section .rodata\n\t.globl {symbol}\n\t.type {symbol}, @object\n\t.balign 16\n"
        f'{symbol}:\n\t.incbin "{blob}"\n\t.size {symbol}, . - {symbol}\n'
        '\t.section .note.GNU-stack,"",@progbits\n'
    )
    built = subprocess.run(
        [
            compiler,
            "-shared",
            "-nostdlib",
            f"-Wl,-soname,{library.name}",
            "-o",
            str(target),
            str(source),
        ],
        check=False,
    )
    return target if built.returncode == 0 else None
