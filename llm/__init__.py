"""The gateway every language-model call goes through; the public API lives in `llm.gateway`."""
