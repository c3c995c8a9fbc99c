package org.recsearch.opensearch.rerank;

import java.util.Map;

import org.opensearch.action.search.SearchRequest;
import org.opensearch.ingest.ConfigurationUtils;
import org.opensearch.search.builder.SearchSourceBuilder;
import org.opensearch.search.pipeline.AbstractProcessor;
import org.opensearch.search.pipeline.PipelineProcessingContext;
import org.opensearch.search.pipeline.Processor;
import org.opensearch.search.pipeline.SearchRequestProcessor;

/**
 * {@code personalized_window}: the request half of a pagination-safe personalized search. For a search with a user
 * ({@code ext.personalize.user_id}) in score order, it records the page asked for in the pipeline context and asks
 * OpenSearch for the fixed window instead ({@code from = 0}, {@code size = max(window_size, from + size)}, see
 * {@link PageWindow}); {@code personalized_rerank} then reranks that window and returns the page's slice of it.
 *
 * <p>Left as asked: no user, a sort by a field, no hits wanted, a page wholly past the window (reason
 * {@code beyond_window}), and cursor paging ({@code scroll} or {@code search_after}: reason {@code cursor_paging}),
 * whose pages a window cannot slice.
 *
 * <p>OpenSearch's own {@code oversample} processor multiplies {@code size} by a factor and leaves {@code from} as
 * it is, so each page would be a different window; {@code truncate_hits} keeps the first N hits, not
 * [from, from + size). Neither gives every page as a slice of one ordering, hence this processor.
 */
public final class PersonalizedWindowProcessor extends AbstractProcessor implements SearchRequestProcessor {

    public static final String TYPE = "personalized_window";
    public static final String WINDOW_SIZE = "window_size";
    public static final int DEFAULT_WINDOW_SIZE = 100;
    /** OpenSearch's default {@code index.max_result_window}: a larger window is refused on a default index anyway. */
    public static final int MAX_WINDOW_SIZE = 10_000;
    public static final String CURSOR_PAGING = "cursor_paging";

    private final int windowSize;
    private final ResultWindowLimit limit;

    public PersonalizedWindowProcessor(String tag, String description, boolean ignoreFailure, int windowSize,
                                       ResultWindowLimit limit) {
        super(tag, description, ignoreFailure);
        this.windowSize = windowSize;
        this.limit = limit;
    }

    @Override
    public String getType() {
        return TYPE;
    }

    public int windowSize() {
        return windowSize;
    }

    @Override
    public SearchRequest processRequest(SearchRequest request) {
        return processRequest(request, new PipelineProcessingContext());
    }

    @Override
    public SearchRequest processRequest(SearchRequest request, PipelineProcessingContext context) {
        SearchSourceBuilder source = request.source();
        if (source == null || PersonalizedRerankProcessor.userOf(request) == null
            || PersonalizedRerankProcessor.sortedByField(request)) {
            return request;  // personalized_rerank reports no_user / sorted_by_field on the page as asked
        }
        if (request.scroll() != null || source.searchAfter() != null) {
            context.setAttribute(PageWindow.SKIPPED_KEY, CURSOR_PAGING);
            return request;
        }
        PageWindow.Plan plan = PageWindow.plan(source.from(), source.size(), windowSize, limit.of(request));
        if (plan.page() == null) {
            if (plan.skipped() != null) {
                context.setAttribute(PageWindow.SKIPPED_KEY, plan.skipped());
            }
            return request;
        }
        PageWindow page = plan.page();
        context.setAttribute(PageWindow.CONTEXT_KEY, page);
        source.from(0).size(page.fetchSize());
        return request;
    }

    /** Builds the processor from a stored (or request-defined: it calls nothing) pipeline; bad settings name themselves. */
    public static final class Factory implements Processor.Factory<SearchRequestProcessor> {
        private final ResultWindowLimit limit;

        public Factory(ResultWindowLimit limit) {
            this.limit = limit;
        }

        @Override
        public PersonalizedWindowProcessor create(Map<String, Processor.Factory<SearchRequestProcessor>> factories, String tag,
                                                  String description, boolean ignoreFailure, Map<String, Object> config,
                                                  Processor.PipelineContext context) {
            int window = ConfigurationUtils.readIntProperty(TYPE, tag, config, WINDOW_SIZE, DEFAULT_WINDOW_SIZE);
            if (window < 1 || window > MAX_WINDOW_SIZE) {
                throw ConfigurationUtils.newConfigurationException(
                    TYPE, tag, WINDOW_SIZE, "must be between 1 and " + MAX_WINDOW_SIZE + ", got [" + window + "]");
            }
            return new PersonalizedWindowProcessor(tag, description, ignoreFailure, window, limit);
        }
    }
}
