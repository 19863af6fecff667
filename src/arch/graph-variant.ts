/** primary: the optimized graph; portable: plain standard ONNX, the fallback. */
export type GraphVariant = "primary" | "portable";
