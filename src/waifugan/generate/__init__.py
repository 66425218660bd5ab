"""Drawing faces from a trained generator: images, videos, style mixing, projection."""
