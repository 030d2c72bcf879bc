"""Front end: lower a Network once (StableHLO, LoweredStep) and walk the StableHLO into Relax or ONNX."""
