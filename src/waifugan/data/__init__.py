"""Training data: the dataset reader (zip or folder, NVlabs stylegan2-ada layout) and samplers."""
