package org.recsearch.opensearch.rerank;

import java.util.function.Supplier;

import org.opensearch.action.search.SearchRequest;
import org.opensearch.cluster.ClusterState;
import org.opensearch.cluster.metadata.IndexMetadata;
import org.opensearch.cluster.metadata.IndexNameExpressionResolver;
import org.opensearch.cluster.service.ClusterService;
import org.opensearch.core.index.Index;
import org.opensearch.index.IndexSettings;

/**
 * The largest {@code from + size} the indices of a search accept ({@code index.max_result_window}, the smallest over
 * the indices searched): the {@code personalized_window} processor never widens a request past it.
 */
@FunctionalInterface
public interface ResultWindowLimit {

    /** No limit known: the request is widened as configured and OpenSearch itself decides. */
    int UNKNOWN = Integer.MAX_VALUE;

    int of(SearchRequest request);

    /** The node's: the indices' settings read from the local cluster state (no network call). */
    static ResultWindowLimit fromClusterState(Supplier<ClusterService> clusterService,
                                              Supplier<IndexNameExpressionResolver> resolver) {
        return request -> {
            ClusterService cs = clusterService.get();
            IndexNameExpressionResolver r = resolver.get();
            if (cs == null || r == null) {
                return UNKNOWN;
            }
            try {
                ClusterState state = cs.state();
                int min = UNKNOWN;
                for (Index index : r.concreteIndices(state, request)) {
                    IndexMetadata md = state.metadata().index(index);
                    if (md != null) {
                        min = Math.min(min, IndexSettings.MAX_RESULT_WINDOW_SETTING.get(md.getSettings()));
                    }
                }
                return min;
            } catch (RuntimeException e) {
                // A missing index or a remote cluster's: OpenSearch answers the search itself, as without the pipeline.
                return UNKNOWN;
            }
        };
    }
}
