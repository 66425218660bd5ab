"""StyleGAN2 networks in pure PyTorch: layers, generator, discriminator."""
