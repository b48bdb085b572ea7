"""PyInstaller runtime hook: a stand-in for OpenTelemetry's gRPC span exporter.

chromadb imports ``OTLPSpanExporter`` when it starts, but only creates one when an
OpenTelemetry collector endpoint is configured, which Allma never does (tracing is
off, see ``vectorstore/chroma.py``). Shipping the real exporter would bundle gRPC
(about 20 MB), so the frozen app gets this module instead; creating an exporter fails
loudly rather than sending anything anywhere.
"""

import sys
import types

_MODULE = "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"


class OTLPSpanExporter:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("Allma's packaged build does not export traces.")


if _MODULE not in sys.modules:
    _stub = types.ModuleType(_MODULE)
    _stub.OTLPSpanExporter = OTLPSpanExporter  # type: ignore[attr-defined]
    sys.modules[_MODULE] = _stub
