"""StyleGAN2 training: options and presets, losses, the loop, checkpoints, distribution, stats."""
