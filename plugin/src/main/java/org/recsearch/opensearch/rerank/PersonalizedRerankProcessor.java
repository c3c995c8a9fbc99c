package org.recsearch.opensearch.rerank;

import java.net.ConnectException;
import java.net.http.HttpTimeoutException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.opensearch.OpenSearchStatusException;
import org.opensearch.action.search.SearchRequest;
import org.opensearch.action.search.SearchResponse;
import org.opensearch.action.search.SearchResponseSections;
import org.opensearch.action.support.ContextPreservingActionListener;
import org.opensearch.common.util.concurrent.ThreadContext;
import org.opensearch.core.action.ActionListener;
import org.opensearch.core.rest.RestStatus;
import org.opensearch.search.SearchExtBuilder;
import org.opensearch.search.SearchHit;
import org.opensearch.search.SearchHits;
import org.opensearch.search.pipeline.AbstractProcessor;
import org.opensearch.search.pipeline.PipelineProcessingContext;
import org.opensearch.search.pipeline.Processor;
import org.opensearch.search.pipeline.SearchResponseProcessor;
import org.opensearch.search.profile.SearchProfileShardResults;
import org.opensearch.search.sort.ScoreSortBuilder;
import org.opensearch.search.sort.SortBuilder;

/**
 * {@code personalized_rerank}: sends the top hits' ids and scores to the recsearch ranker and reorders them by a
 * blend of both scores, for the user named in the request's {@code ext.personalize.user_id}.
 *
 * <p>The call is asynchronous ({@link #processResponseAsync}); no search thread waits on it. Every outcome is
 * reported in the response's {@code ext.personalized_rerank}. Without a user, for a user the ranker does not know,
 * and for a request sorted by a field, the original order comes back. When the ranker fails or is slower than
 * {@code timeout_ms}, the original order comes back with the reason if {@code ignore_failure} is true, and the
 * search fails with the reason otherwise; both are logged.
 */
public final class PersonalizedRerankProcessor extends AbstractProcessor implements SearchResponseProcessor {

    public static final String TYPE = "personalized_rerank";
    private static final Logger LOG = LogManager.getLogger(PersonalizedRerankProcessor.class);

    private final RerankConfig config;
    private final RankerClient ranker;
    private final LongSupplier nanoClock;
    private final ThreadContext threadContext;

    /** @param threadContext the node's; the listener is completed with the search's context restored (null in tests). */
    public PersonalizedRerankProcessor(String tag, String description, boolean ignoreFailure, RerankConfig config,
                                       RankerClient ranker, LongSupplier nanoClock, ThreadContext threadContext) {
        super(tag, description, ignoreFailure);
        this.config = config;
        this.ranker = ranker;
        this.nanoClock = nanoClock;
        this.threadContext = threadContext;
    }

    @Override
    public String getType() {
        return TYPE;
    }

    public RerankConfig config() {
        return config;
    }

    /** Never called by OpenSearch 3.x, which uses {@link #processResponseAsync}; blocking here would hold a search thread. */
    @Override
    public SearchResponse processResponse(SearchRequest request, SearchResponse response) {
        throw new UnsupportedOperationException(TYPE + " only runs asynchronously");
    }

    @Override
    public void processResponseAsync(SearchRequest request, SearchResponse response, PipelineProcessingContext context,
                                     ActionListener<SearchResponse> searchListener) {
        long start = nanoClock.getAsLong();
        // The ranker's answer completes on the HTTP client's thread: restore the search's thread context there.
        ActionListener<SearchResponse> listener = threadContext == null
            ? searchListener
            : ContextPreservingActionListener.wrapPreservingContext(searchListener, threadContext);
        String userId = userOf(request);
        if (userId == null) {
            listener.onResponse(withOutcome(response, null, new RerankOutcomeExt(false, "no_user", null, null, null, 0, 0)));
            return;
        }
        if (sortedByField(request)) {
            listener.onResponse(withOutcome(response, null, new RerankOutcomeExt(
                false, "sorted_by_field", "the request sorts by a field, so the order is the shop's choice", userId, null, 0, 0)));
            return;
        }
        SearchHit[] hits = response.getHits().getHits();
        HitWindow window = HitWindow.of(hits, config.idField(), config.maxHits());
        if (window.size() == 0) {
            String detail = hits.length == 0 ? null : "no hit carries the id field [" + config.idField() + "]";
            listener.onResponse(withOutcome(response, null, new RerankOutcomeExt(
                false, hits.length == 0 ? "no_hits" : "no_ids", detail, userId, null, 0, 0)));
            return;
        }
        try {
            ranker.rerank(config, userId, window.candidates())
                .orTimeout(config.timeoutMs(), TimeUnit.MILLISECONDS)
                .whenComplete((answer, error) -> {
                    long tookMs = TimeUnit.NANOSECONDS.toMillis(nanoClock.getAsLong() - start);
                    if (error != null) {
                        onRankerFailure(response, userId, unwrap(error), tookMs, listener);
                    } else {
                        onAnswer(response, userId, window, answer, tookMs, listener);
                    }
                });
        } catch (RuntimeException e) {
            onRankerFailure(response, userId, e, 0, listener);
        }
    }

    private void onAnswer(SearchResponse response, String userId, HitWindow window, RankerClient.Answer answer, long tookMs,
                          ActionListener<SearchResponse> listener) {
        SearchResponse out;
        try {
            if (!answer.personalized()) {
                String reason = answer.reason() == null ? "not_personalized" : answer.reason();
                out = withOutcome(response, null, new RerankOutcomeExt(false, reason, null, userId, answer.modelVersion(), 0, tookMs));
            } else {
                SearchHit[] reordered = window.reorder(answer.results(), config.blendWeight());
                out = withOutcome(response, reordered,
                    new RerankOutcomeExt(true, null, null, userId, answer.modelVersion(), window.size(), tookMs));
            }
        } catch (RuntimeException e) {
            onRankerFailure(response, userId, e, tookMs, listener);
            return;
        }
        listener.onResponse(out);
    }

    private void onRankerFailure(SearchResponse response, String userId, Throwable error, long tookMs,
                                 ActionListener<SearchResponse> listener) {
        String reason = reasonOf(error);
        String detail = detailOf(error);
        if (isIgnoreFailure()) {
            LOG.warn("{} [{}]: {} for user [{}] ({}); returning the original order", TYPE, getTag(), reason, userId, detail);
            listener.onResponse(withOutcome(response, null, new RerankOutcomeExt(false, reason, detail, userId, null, 0, tookMs)));
        } else {
            LOG.warn("{} [{}]: {} for user [{}] ({}); failing the search (ignore_failure is false)", TYPE, getTag(), reason, userId, detail);
            listener.onFailure(new OpenSearchStatusException(
                TYPE + ": " + reason + ": " + detail + " (set ignore_failure to true to get the original order instead)",
                RestStatus.BAD_GATEWAY));
        }
    }

    /** The user from the request's {@code ext.personalize}, or null. */
    static String userOf(SearchRequest request) {
        if (request.source() == null || request.source().ext() == null) {
            return null;
        }
        for (SearchExtBuilder ext : request.source().ext()) {
            if (ext instanceof PersonalizeRequestExt p) {
                return p.userId();
            }
        }
        return null;
    }

    private static boolean sortedByField(SearchRequest request) {
        if (request.source() == null || request.source().sorts() == null) {
            return false;
        }
        for (SortBuilder<?> sort : request.source().sorts()) {
            if (!(sort instanceof ScoreSortBuilder)) {
                return true;
            }
        }
        return false;
    }

    /** A copy of {@code response} with {@code hits} (null: the same hits) and the outcome added to its ext. */
    static SearchResponse withOutcome(SearchResponse response, SearchHit[] hits, RerankOutcomeExt outcome) {
        SearchResponseSections in = response.getInternalResponse();
        SearchHits old = response.getHits();
        SearchHits newHits = hits == null ? old : new SearchHits(
            hits, old.getTotalHits(), HitWindow.maxScore(hits), old.getSortFields(), old.getCollapseField(), old.getCollapseValues());
        List<SearchExtBuilder> ext = new ArrayList<>(in.getSearchExtBuilders());
        ext.removeIf(e -> e instanceof RerankOutcomeExt);
        ext.add(outcome);
        Map<String, org.opensearch.search.profile.ProfileShardResult> profile = response.getProfileResults();
        SearchResponseSections sections = new SearchResponseSections(
            newHits, response.getAggregations(), response.getSuggest(), response.isTimedOut(), response.isTerminatedEarly(),
            profile == null || profile.isEmpty() ? null : new SearchProfileShardResults(profile), response.getNumReducePhases(),
            ext, in.getProcessorResult());
        return new SearchResponse(
            sections, response.getScrollId(), response.getTotalShards(), response.getSuccessfulShards(),
            response.getSkippedShards(), response.getTook().millis(), response.getPhaseTook(), response.getShardFailures(),
            response.getClusters(), response.pointInTimeId());
    }

    static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    static String reasonOf(Throwable t) {
        if (t instanceof TimeoutException || t instanceof HttpTimeoutException) {
            return "ranker_timeout";
        }
        if (t instanceof ConnectException || t.getCause() instanceof ConnectException) {
            return "ranker_unreachable";
        }
        if (t instanceof HttpRankerClient.RankerHttpException) {
            return "ranker_error";
        }
        return "ranker_failed";
    }

    private String detailOf(Throwable t) {
        if (t instanceof TimeoutException || t instanceof HttpTimeoutException) {
            return "no answer from " + config.rankerUrl() + " within " + config.timeoutMs() + "ms";
        }
        String msg = t.getMessage() == null ? t.getClass().getSimpleName() : t.getClass().getSimpleName() + ": " + t.getMessage();
        return config.rankerUrl() + ": " + msg;
    }

    /** Builds processors from pipeline definitions; bad settings are refused here, naming the setting. */
    public static final class Factory implements Processor.Factory<SearchResponseProcessor> {
        private final RankerClient ranker;
        private final LongSupplier nanoClock;
        private final ThreadContext threadContext;

        public Factory(RankerClient ranker, LongSupplier nanoClock, ThreadContext threadContext) {
            this.ranker = ranker;
            this.nanoClock = nanoClock;
            this.threadContext = threadContext;
        }

        @Override
        public PersonalizedRerankProcessor create(Map<String, Processor.Factory<SearchResponseProcessor>> factories, String tag,
                                                  String description, boolean ignoreFailure, Map<String, Object> config,
                                                  Processor.PipelineContext context) {
            RerankConfig parsed = RerankConfig.fromConfig(TYPE, tag, config);
            return new PersonalizedRerankProcessor(tag, description, ignoreFailure, parsed, ranker, nanoClock, threadContext);
        }
    }
}
