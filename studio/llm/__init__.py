"""Model backends: OpenAI-compatible endpoints, local transformers models, the bundled Gemma 3 270M."""
