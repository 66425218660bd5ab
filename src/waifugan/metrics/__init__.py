"""Metrics: FID, KID and the anime face rate, with the standard Inception (2015-12-05) features,
and tagfd, the same Fréchet distance in a tagger's features (a space without ImageNet).

features         uint8 images -> Inception pool features [N, 2048] (one resize for all images)
tagger_features  uint8 images -> a tagger's pooled features [N, C] (the bundled one by default)
stats            real-data statistics (features, mean, covariance) cached by content + options
fid, kid         the distances computed from two feature sets
face_rate        share of images with exactly one anime face of reasonable size
samples          the two sides a metric compares: a generator's images, a dataset's images
registry         metrics registered by name (`fid2k`, `kid10k`, `tagfd2k`, `facerate1k`)
evaluate         what `waifugan metrics` runs: a model or a second dataset against a dataset
"""
