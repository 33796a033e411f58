"""The course machinery, beside the lessons rather than in them.

``recipes``: a training notebook in one call (08 calls them when a checkpoint is missing) and the
settings several notebooks share; ``pretrained``: the two models that ship trained (a music GPT
and a chorale GPT), their recipes, provenance and loader; ``results``: a notebook's headline claims (``ml.claim``) and the
recorded full-mode run they are printed beside; ``bench``: timings and the full-mode runner
(``python -m musiclab.bench``); ``colab``: every notebook's Colab badge and install cell
(``python -m musiclab.colab``).
"""
