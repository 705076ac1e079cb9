"""The local media provider: real PNG and WAV outputs, rendered after a delay, signed webhooks."""
