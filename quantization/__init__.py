"""anyppg.quantization: distil the teacher into students, quantize, export, benchmark (needs torch)."""
