package org.recsearch.opensearch.rerank;

import java.util.Arrays;

import org.opensearch.search.SearchHit;
import org.opensearch.search.pipeline.PipelineProcessingContext;

/**
 * The page a personalized search asked for ({@code from}, {@code size}) and the fixed window of top hits that is
 * reranked for it: the window arithmetic of {@code personalized_window} and {@code personalized_rerank}.
 *
 * <p>Every page of one search is a slice of one ordering: OpenSearch's top {@code window} hits in the blended order,
 * then OpenSearch's own order. The request processor asks OpenSearch for {@code from = 0},
 * {@code size = max(window, from + size)} ({@link #fetchSize}); the response processor reranks the first
 * {@code window} of those hits and returns {@link #slice} [from, from + size). Because the window is the same for
 * every page, page 2 never repeats nor skips an item of page 1.
 *
 * @param from   the first hit of the page (the request's {@code from}, 0 when unset)
 * @param size   hits on the page (the request's {@code size}, 10 when unset)
 * @param window how many top hits are reranked: {@code window_size}, capped by the indices' {@code index.max_result_window}
 */
public record PageWindow(int from, int size, int window) {

    /** The pipeline context attribute holding the page of a widened request. */
    public static final String CONTEXT_KEY = "recsearch.page_window";
    /** The context attribute holding why a request was left as asked (a reason code for the response's ext). */
    public static final String SKIPPED_KEY = "recsearch.page_window.skipped";

    /** OpenSearch's defaults for a request without {@code from} / {@code size}. */
    static final int DEFAULT_FROM = 0;
    static final int DEFAULT_SIZE = 10;

    /** The reason given when the page lies past the window: OpenSearch's order, no ranker call. */
    public static final String BEYOND_WINDOW = "beyond_window";

    /**
     * What to do with a request: widen it to {@link #fetchSize} and remember {@code page}, or leave it as asked
     * ({@code page} null) with {@code skipped} the reason code (null: nothing worth reporting, e.g. no hits wanted).
     */
    public record Plan(PageWindow page, String skipped) {
        static Plan leave(String reason) {
            return new Plan(null, reason);
        }
    }

    /**
     * The plan for a request asking for [from, from + size) with a window of {@code windowSize} hits on indices whose
     * smallest {@code index.max_result_window} is {@code maxResultWindow}. Negative {@code from}/{@code size} mean unset.
     */
    public static Plan plan(int from, int size, int windowSize, int maxResultWindow) {
        int f = from < 0 ? DEFAULT_FROM : from;
        int s = size < 0 ? DEFAULT_SIZE : size;
        int window = Math.min(windowSize, maxResultWindow);
        if (s == 0 || window <= 0) {
            return Plan.leave(null);  // no hits wanted (aggregations only): nothing to rerank
        }
        if (f >= window) {
            // The page lies wholly past the reranked window: it is OpenSearch's order for those positions, exactly
            // what the request gives as asked, without fetching the window or calling the ranker.
            return Plan.leave(BEYOND_WINDOW);
        }
        if ((long) f + s > maxResultWindow) {
            return Plan.leave(null);  // OpenSearch refuses the request as asked, as it would without the pipeline
        }
        return new Plan(new PageWindow(f, s, window), null);
    }

    /** The hits to ask OpenSearch for, from 0: the window, or the page's end when that lies further. */
    public int fetchSize() {
        return Math.max(window, from + size);
    }

    /** How many of the top hits the response processor reranks, given its {@code max_hits}. */
    public int rerankLimit(int maxHits) {
        return Math.min(maxHits, window);
    }

    /** Hits [from, from + size) of {@code ordered} (fewer, or none, when there are not that many). */
    public SearchHit[] slice(SearchHit[] ordered) {
        int start = Math.min(from, ordered.length);
        int end = (int) Math.min((long) from + size, ordered.length);
        return Arrays.copyOfRange(ordered, start, end);
    }

    /** The page a {@code personalized_window} processor recorded for this search, or null. */
    public static PageWindow of(PipelineProcessingContext context) {
        return context != null && context.getAttribute(CONTEXT_KEY) instanceof PageWindow p ? p : null;
    }

    /** Why the {@code personalized_window} processor left this search as asked, or null. */
    public static String skippedReason(PipelineProcessingContext context) {
        return context != null && context.getAttribute(SKIPPED_KEY) instanceof String s ? s : null;
    }
}
