# Dev-only: the official ONNX checker (Debian python3-onnx) over exported files. The product never needs Python.
import sys, onnx
from onnx import checker, shape_inference
for path in sys.argv[1:]:
    m = onnx.load(path)
    checker.check_model(m, full_check=True)
    inferred = shape_inference.infer_shapes(m, strict_mode=True)
    print("ok", path, "ir", m.ir_version, [ (o.domain, o.version) for o in m.opset_import ], len(m.graph.node), "nodes")
