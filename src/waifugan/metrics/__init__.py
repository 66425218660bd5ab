"""Metrics: FID, KID and the anime face rate, with the standard Inception (2015-12-05) features.

features   uint8 images -> Inception pool features [N, 2048] (one resize for reals and fakes)
stats      real-data statistics (features, mean, covariance) cached by dataset content + options
fid, kid   the distances computed from two feature sets
face_rate  share of images with exactly one anime face of reasonable size
samples    the two sides a metric compares: a generator's images, a dataset's images
registry   metrics registered by name (`fid2k`, `kid10k`, `facerate1k`) and compute_metrics()
evaluate   what `waifugan metrics` runs: a model or a second dataset against a dataset
"""
