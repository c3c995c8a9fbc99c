"""The peer recommenders of the sequential-recommendation literature, small torch modules over ID embeddings only,
trained inside ``recadmin evaluate`` on each split's training events with the same budget (``--peers``):

* ``bpr`` — BPR matrix factorisation (:mod:`.bpr`);
* ``gru4rec`` — a GRU over the item sequence (:mod:`.gru4rec`);
* ``sasrec`` — causal self-attention over the item sequence (:mod:`.sasrec`).

:mod:`.nets` is their common interface, :mod:`.data` their inputs, :mod:`.loop` the one training loop,
:mod:`.recommender` the evaluated ranker around each.
"""

from ranker.evaluation.peers.loop import PeerOptions
from ranker.evaluation.peers.recommender import PEERS, PeerRecommender, peer_rankers

__all__ = ["PEERS", "PeerOptions", "PeerRecommender", "peer_rankers"]
