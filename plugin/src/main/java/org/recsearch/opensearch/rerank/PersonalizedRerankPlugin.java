package org.recsearch.opensearch.rerank;

import java.util.List;
import java.util.Map;

import org.opensearch.plugins.Plugin;
import org.opensearch.plugins.SearchPipelinePlugin;
import org.opensearch.plugins.SearchPlugin;
import org.opensearch.search.pipeline.Processor;
import org.opensearch.search.pipeline.SearchResponseProcessor;

/**
 * The recsearch plugin: the {@code personalized_rerank} search response processor, the request ext
 * {@code personalize} that carries the user, and the response ext {@code personalized_rerank} that reports the outcome.
 */
public class PersonalizedRerankPlugin extends Plugin implements SearchPlugin, SearchPipelinePlugin {

    /** One HTTP client (one connection pool) for every pipeline on the node. */
    private final HttpRankerClient client = new HttpRankerClient(null);

    @Override
    public List<SearchExtSpec<?>> getSearchExts() {
        return List.of(
            new SearchExtSpec<>(PersonalizeRequestExt.NAME, PersonalizeRequestExt::new, PersonalizeRequestExt::parse),
            new SearchExtSpec<>(RerankOutcomeExt.NAME, RerankOutcomeExt::new, RerankOutcomeExt::parse)
        );
    }

    @Override
    public Map<String, Processor.Factory<SearchResponseProcessor>> getResponseProcessors(Parameters parameters) {
        return Map.of(
            PersonalizedRerankProcessor.TYPE,
            new PersonalizedRerankProcessor.Factory(client, System::nanoTime, parameters.threadContext)
        );
    }

    @Override
    public void close() {
        client.close();
    }
}
