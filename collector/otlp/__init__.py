"""The OTLP/HTTP and OTLP/gRPC receiver behind `hoptrace collect`: decoding, HTTP and gRPC
handling, admission and limits, the receiver's lifecycle and its CLI."""

from __future__ import annotations

from collector.otlp._decode import decode_protobuf
from collector.otlp._receiver import Receiver

__all__ = ["Receiver", "decode_protobuf"]
