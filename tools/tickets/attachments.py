"""Image attachments: the type is read from the bytes, the size and count are bounded."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Literal

MediaType = Literal["image/png", "image/jpeg", "image/gif", "image/webp"]
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # the Messages API's limit per image
MAX_IMAGES_PER_REQUEST = 20


class AttachmentError(ValueError):
    """An attachment the model cannot be sent: wrong type, too big, too many."""


@dataclass(frozen=True)
class Image:
    """An image ready to be sent: its bytes and the media type its bytes say it has."""

    filename: str
    media_type: MediaType
    data: bytes


def sniff_media_type(data: bytes) -> MediaType | None:
    """The image type from the file's magic bytes (never from its name), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_image(filename: str, data: bytes) -> Image:
    """The checked image, or AttachmentError saying why it cannot be sent."""
    media_type = sniff_media_type(data)
    if media_type is None:
        raise AttachmentError(f"{filename}: not a PNG, JPEG, GIF or WebP image")
    if len(data) > MAX_IMAGE_BYTES:
        raise AttachmentError(
            f"{filename}: {len(data)} bytes is over the {MAX_IMAGE_BYTES} byte limit"
        )
    return Image(filename, media_type, data)


def check_count(images: list[Image]) -> None:
    """At most MAX_IMAGES_PER_REQUEST images go in one request."""
    if len(images) > MAX_IMAGES_PER_REQUEST:
        raise AttachmentError(
            f"{len(images)} images; at most {MAX_IMAGES_PER_REQUEST} fit in one request"
        )


Color = tuple[int, int, int]


def png_bytes(width: int, height: int, rows: list[list[Color]]) -> bytes:
    """A truecolor PNG of the given pixel rows, written with zlib and struct only."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + bytes(c for pixel in row for c in pixel) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
