"""The ranker: what the shop's behaviour teaches.

    feedback/    events in, user profiles out; the one events loader
    model/       the attention network, features, checkpoints, registry, scoring, the candidate pool
    training/    fitting the model on the events (``recadmin train``)
    finetune/    fitting the embedding model on the events (``recadmin finetune``)
    evaluation/  measuring rankers against baselines (``recadmin evaluate``)
    service/     the HTTP ranking service (``recadmin serve``)
    metrics.py   the ranking metrics every part measures with

Imports go downwards only: service and evaluation may use training, finetune, model, feedback; training and
finetune may use model and feedback; model and feedback use neither (checked by the tests, ``pyproject.toml``).
"""
