package org.recsearch.opensearch.rerank;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The ranker as the processor sees it: one asynchronous {@code POST /v1/rerank}. The HTTP implementation is
 * {@link HttpRankerClient}; unit tests pass a fake.
 */
public interface RankerClient {

    /** One hit sent to the ranker: its item id and its OpenSearch score. */
    record Candidate(String id, float score) {}

    /** One result of the ranker: the item id and the ranker's score (higher is better). */
    record Scored(String id, double score) {}

    /**
     * What the processor will show, sent with the candidates so the ranker returns (and records) that page: the
     * pipeline's {@code blend_weight}, the page [{@code from}, {@code from + size}) and the place (0-based, in the
     * whole ordering) of the slot each candidate occupies, rising. The answer's results fill those slots in order.
     */
    record Page(double blendWeight, int from, int size, List<Integer> positions) {}

    /**
     * The ranker's answer. When {@code personalized} is false, {@code reason} says why ({@code unknown_user},
     * {@code no_history}, ...) and the results are in the order sent. When {@code blended} is true the ranker did the
     * blend itself (it was sent a {@link Page}): the results are in the order to show, with the blended score.
     */
    record Answer(boolean personalized, String reason, String modelVersion, List<Scored> results, boolean blended) {
        /** An answer the processor blends itself (a ranker that predates the {@link Page}). */
        public Answer(boolean personalized, String reason, String modelVersion, List<Scored> results) {
            this(personalized, reason, modelVersion, results, false);
        }
    }

    /**
     * Ask the ranker to score {@code candidates} for {@code userId}, recording the answer under the UBI
     * {@code queryId} (null: the ranker makes one), as the {@code page} shown (null: sends none, and the ranker
     * answers in its own order). The future completes exceptionally on a transport error, a non-2xx status or a
     * malformed body; the caller bounds it with its own timeout too.
     */
    CompletableFuture<Answer> rerank(RerankConfig config, String userId, String queryId, List<Candidate> candidates,
                                     Page page);

    /** {@link #rerank(RerankConfig, String, String, List, Page)} without a page: the ranker's own order comes back. */
    default CompletableFuture<Answer> rerank(RerankConfig config, String userId, String queryId, List<Candidate> candidates) {
        return rerank(config, userId, queryId, candidates, null);
    }

    /**
     * Get ready to call the ranker of {@code config} (load what the first call would load, open a connection), so
     * that a pipeline's first search is not the one that pays for it. Never fails; the default does nothing.
     */
    default CompletableFuture<Void> warm(RerankConfig config) {
        return CompletableFuture.completedFuture(null);
    }
}
