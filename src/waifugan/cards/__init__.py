"""Character cards: every face comes with its character — tags a tagger sees in it, a name
and a short story (the original This Waifu Does Not Exist showed an AI-written story with
every face).

labels.py   a dataset's images with their Danbooru-style tags (metadata JSON lines)
train.py    train the tagger (networks/tagger.py), per-tag precision/recall on a held-out split
lexicon.py  what each known tag looks like in words; the no-contradiction check
grammar.py  seeded Tracery expansion
names.py    a name from the seed
story.py    the default story: a Tracery grammar filled from the tags, seeded by (seed, ψ)
story_lm.py the optional story from a local causal language model (transformers)
card.py     a Card (seed, ψ, name, tags, story) for a face; the tagger found beside a model
tag.py      `waifugan tag`: a model's faces or image files → tags and cards
"""
