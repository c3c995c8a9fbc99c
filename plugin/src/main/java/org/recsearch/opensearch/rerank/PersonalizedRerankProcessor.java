package org.recsearch.opensearch.rerank;

import java.net.ConnectException;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
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
import org.opensearch.ingest.ConfigurationUtils;
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
 * reported in the response's {@code ext.personalized_rerank} as a reason code. Without a user, for a user the ranker
 * does not know, and for a request sorted by a field, the original order comes back. When the ranker fails or is
 * slower than {@code timeout_ms}, the original order comes back with the reason if {@code ignore_failure} is true,
 * and the search fails with the reason otherwise. The cause (ranker URL, status, the start of its body) is only
 * logged on the node, with the user id hashed: search clients never see what the ranker answered.
 *
 * <p>The answer, or the timeout, is handled on {@code completions} (OpenSearch's generic pool on a node), never on
 * the HTTP client's threads nor on the JVM's single {@code CompletableFuture} delay thread.
 */
public final class PersonalizedRerankProcessor extends AbstractProcessor implements SearchResponseProcessor {

    public static final String TYPE = "personalized_rerank";
    private static final Logger LOG = LogManager.getLogger(PersonalizedRerankProcessor.class);
    /** How long a ranker that refused the page (a service that predates it) is called without one before a retry. */
    static final long PAGE_REFUSED_NANOS = TimeUnit.MINUTES.toNanos(5);

    private final RerankConfig config;
    private final RankerClient ranker;
    private final LongSupplier nanoClock;
    private final ThreadContext threadContext;
    private final Executor completions;
    /** When the ranker last answered 422 to a request with the page (null: never). */
    private volatile Long pageRefusedAt;

    /**
     * @param threadContext the node's; the listener is completed with the search's context restored (null in tests)
     * @param completions   where the ranker's answer or the timeout is handled and the search listener completed
     */
    public PersonalizedRerankProcessor(String tag, String description, boolean ignoreFailure, RerankConfig config,
                                       RankerClient ranker, LongSupplier nanoClock, ThreadContext threadContext,
                                       Executor completions) {
        super(tag, description, ignoreFailure);
        this.config = config;
        this.ranker = ranker;
        this.nanoClock = nanoClock;
        this.threadContext = threadContext;
        this.completions = completions;
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
        // The page personalized_window asked OpenSearch to widen (null: the hits are the page as asked).
        PageWindow page = PageWindow.of(context);
        String userId = userOf(request);
        // Every answer names its UBI query_id (the request's, or a new one); the ranker records the ordering under it.
        String queryId = queryIdOf(request);
        if (userId == null) {
            listener.onResponse(withOutcome(
                response, null, new RerankOutcomeExt(false, "no_user", null, null, 0, 0).withQueryId(queryId), page));
            return;
        }
        if (sortedByField(request)) {
            listener.onResponse(withOutcome(
                response, null, new RerankOutcomeExt(false, "sorted_by_field", userId, null, 0, 0).withQueryId(queryId), page));
            return;
        }
        String skipped = PageWindow.skippedReason(context);
        if (page == null && skipped != null) {  // beyond_window, cursor_paging: OpenSearch's order, as asked
            listener.onResponse(withOutcome(
                response, null, new RerankOutcomeExt(false, skipped, userId, null, 0, 0).withQueryId(queryId), null));
            return;
        }
        SearchHit[] hits = response.getHits().getHits();
        HitWindow window = HitWindow.of(hits, config.idField(), page == null ? config.maxHits() : page.rerankLimit(config.maxHits()));
        if (window.size() == 0) {
            listener.onResponse(withOutcome(response, null, new RerankOutcomeExt(
                false, hits.length == 0 ? "no_hits" : "no_ids", userId, null, 0, 0).withQueryId(queryId), page));
            return;
        }
        try {
            call(userId, queryId, window.candidates(), shownPage(request, page, window, hits.length))
                .orTimeout(config.timeoutMs(), TimeUnit.MILLISECONDS)
                // Async: a timeout fires on the JVM's one delay thread, which must only hand over, not build responses.
                .whenCompleteAsync((answer, error) -> {
                    long tookMs = TimeUnit.NANOSECONDS.toMillis(nanoClock.getAsLong() - start);
                    if (error != null) {
                        onRankerFailure(response, userId, queryId, unwrap(error), tookMs, page, listener);
                    } else {
                        onAnswer(response, userId, queryId, window, answer, tookMs, page, listener);
                    }
                }, completions);
        } catch (RuntimeException e) {
            onRankerFailure(response, userId, queryId, e, 0, page, listener);
        }
    }

    /**
     * The ranker call with the page, or without it while the ranker is known to refuse it: a ranking service that
     * predates the page refuses the unknown fields with HTTP 422, and then the same call goes again without them
     * (answered in the ranker's order and blended here, as before); for {@link #PAGE_REFUSED_NANOS} after that the
     * page is not sent. Both calls lie within the caller's {@code timeout_ms}.
     */
    private CompletableFuture<RankerClient.Answer> call(
            String userId, String queryId, List<RankerClient.Candidate> candidates, RankerClient.Page shown) {
        Long refused = pageRefusedAt;
        if (refused != null && nanoClock.getAsLong() - refused < PAGE_REFUSED_NANOS) {
            return ranker.rerank(config, userId, queryId, candidates, null);
        }
        return ranker.rerank(config, userId, queryId, candidates, shown).exceptionallyCompose(error -> {
            if (unwrap(error) instanceof HttpRankerClient.RankerHttpException e && e.status() == 422) {
                pageRefusedAt = nanoClock.getAsLong();
                LOG.info("{} [{}]: the ranker refused the page fields (HTTP 422); calling it without them for {} minutes",
                    TYPE, getTag(), TimeUnit.NANOSECONDS.toMinutes(PAGE_REFUSED_NANOS));
                return ranker.rerank(config, userId, queryId, candidates, null);
            }
            return CompletableFuture.failedFuture(error);
        });
    }

    private void onAnswer(SearchResponse response, String userId, String queryId, HitWindow window, RankerClient.Answer answer,
                          long tookMs, PageWindow page, ActionListener<SearchResponse> listener) {
        SearchResponse out;
        try {
            if (!answer.personalized()) {
                String reason = answer.reason() == null ? "not_personalized" : answer.reason();
                out = withOutcome(response, null,
                    new RerankOutcomeExt(false, reason, userId, answer.modelVersion(), 0, tookMs).withQueryId(queryId), page);
            } else {
                // A ranker sent the page blends itself and records what it answers: show exactly that order. One
                // that predates the page answers in its own order, blended here as before.
                SearchHit[] reordered = answer.blended()
                    ? window.place(answer.results())
                    : window.reorder(answer.results(), config.blendWeight());
                out = withOutcome(response, reordered, new RerankOutcomeExt(
                    true, null, userId, answer.modelVersion(), window.size(), tookMs).withQueryId(queryId), page);
            }
        } catch (RuntimeException e) {
            onRankerFailure(response, userId, queryId, e, tookMs, page, listener);
            return;
        }
        listener.onResponse(out);
    }

    private void onRankerFailure(SearchResponse response, String userId, String queryId, Throwable error, long tookMs,
                                 PageWindow page, ActionListener<SearchResponse> listener) {
        String reason = reasonOf(error);
        String detail = detailOf(error);
        String user = userRef(userId);
        if (isIgnoreFailure()) {
            LOG.warn("{} [{}]: {} for user {} ({}); returning the original order", TYPE, getTag(), reason, user, detail);
            listener.onResponse(withOutcome(
                response, null, new RerankOutcomeExt(false, reason, userId, null, 0, tookMs).withQueryId(queryId), page));
        } else {
            LOG.warn("{} [{}]: {} for user {} ({}); failing the search (ignore_failure is false)", TYPE, getTag(), reason, user, detail);
            listener.onFailure(new OpenSearchStatusException(
                TYPE + ": " + reason + " (the node's log has the cause; set ignore_failure to true to get the original "
                    + "order instead)",
                RestStatus.BAD_GATEWAY));
        }
    }

    /**
     * The page this search shows, for the ranker to blend and record: the widened request's page (its hits start at
     * place 0 of the ordering), or, without {@code personalized_window}, the hits as asked, which start at the
     * request's {@code from}.
     */
    RankerClient.Page shownPage(SearchRequest request, PageWindow page, HitWindow window, int hitCount) {
        int from;
        int size;
        int offset;
        if (page != null) {
            from = page.from();
            size = page.size();
            offset = 0;
        } else {
            int asked = request.source() == null ? -1 : request.source().from();
            from = Math.max(asked, 0);
            size = hitCount;
            offset = from;
        }
        List<Integer> positions = new ArrayList<>();
        for (int slot : window.slots()) {
            positions.add(offset + slot);
        }
        return new RankerClient.Page(config.blendWeight(), from, size, positions);
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

    /** The request's {@code ext.personalize.query_id}, or a new UUID (what the UBI plugin makes too). */
    static String queryIdOf(SearchRequest request) {
        if (request.source() != null && request.source().ext() != null) {
            for (SearchExtBuilder ext : request.source().ext()) {
                if (ext instanceof PersonalizeRequestExt p && p.queryId() != null) {
                    return p.queryId();
                }
            }
        }
        return UUID.randomUUID().toString();
    }

    static boolean sortedByField(SearchRequest request) {
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
        return withOutcome(response, hits, outcome, null);
    }

    /**
     * A copy of {@code response} with {@code hits} (null: the same hits) and the outcome added to its ext; with a
     * {@code page} (the request was widened to its window) only the page's slice of the hits, whatever the outcome,
     * and the window in the outcome. The total hits stay OpenSearch's; max_score is the top of the whole ordering.
     */
    static SearchResponse withOutcome(SearchResponse response, SearchHit[] hits, RerankOutcomeExt outcome, PageWindow page) {
        SearchResponseSections in = response.getInternalResponse();
        SearchHits old = response.getHits();
        SearchHits newHits = old;
        if (hits != null || page != null) {
            SearchHit[] ordered = hits == null ? old.getHits() : hits;
            float maxScore = hits == null ? old.getMaxScore() : HitWindow.maxScore(hits);
            newHits = new SearchHits(page == null ? ordered : page.slice(ordered), old.getTotalHits(), maxScore,
                old.getSortFields(), old.getCollapseField(), old.getCollapseValues());
        }
        if (page != null) {
            outcome = outcome.withWindow(page.window());
        }
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

    /** A user id for the node's log: not the id itself (personal data), but a stable short hash of it. */
    static String userRef(String userId) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(userId.getBytes(StandardCharsets.UTF_8));
            return "sha256:" + HexFormat.of().formatHex(digest, 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String reasonOf(Throwable t) {
        if (t instanceof TimeoutException || t instanceof HttpTimeoutException) {
            return "ranker_timeout";
        }
        if (t instanceof CappedBody.TooLarge || t.getCause() instanceof CappedBody.TooLarge) {
            return "ranker_reply_too_large";
        }
        if (t instanceof ConnectException || t.getCause() instanceof ConnectException) {
            return "ranker_unreachable";
        }
        if (t instanceof HttpRankerClient.RankerHttpException) {
            return "ranker_error";
        }
        return "ranker_failed";
    }

    /** The cause for the node's log (never for the search client: it names the ranker and quotes its answer). */
    private String detailOf(Throwable t) {
        if (t instanceof TimeoutException || t instanceof HttpTimeoutException) {
            return "no answer from " + config.rankerUrl() + " within " + config.timeoutMs() + "ms";
        }
        String msg = t.getMessage() == null ? t.getClass().getSimpleName() : t.getClass().getSimpleName() + ": " + t.getMessage();
        return config.rankerUrl() + ": " + msg;
    }

    /**
     * Builds processors from stored pipeline definitions; bad settings are refused here, naming the setting. A
     * pipeline written inside a search request is refused (any searcher could pick the URL the node calls), and so
     * is a {@code ranker_url} outside the node's {@code recsearch.rerank.allowed_urls}.
     */
    public static final class Factory implements Processor.Factory<SearchResponseProcessor> {
        private final RankerClient ranker;
        private final LongSupplier nanoClock;
        private final ThreadContext threadContext;
        private final RankerUrlAllowList allowList;
        private final Executor completions;

        public Factory(RankerClient ranker, LongSupplier nanoClock, ThreadContext threadContext, RankerUrlAllowList allowList,
                       Executor completions) {
            this.ranker = ranker;
            this.nanoClock = nanoClock;
            this.threadContext = threadContext;
            this.allowList = allowList;
            this.completions = completions;
        }

        @Override
        public PersonalizedRerankProcessor create(Map<String, Processor.Factory<SearchResponseProcessor>> factories, String tag,
                                                  String description, boolean ignoreFailure, Map<String, Object> config,
                                                  Processor.PipelineContext context) {
            if (context != null && context.getPipelineSource() == Processor.PipelineSource.SEARCH_REQUEST) {
                throw ConfigurationUtils.newConfigurationException(TYPE, tag, null,
                    TYPE + " cannot run in a pipeline defined in the search request; store the pipeline "
                        + "(PUT _search/pipeline/<id>) and search with ?search_pipeline=<id>");
            }
            RerankConfig parsed = RerankConfig.fromConfig(TYPE, tag, config);
            if (!allowList.allows(parsed.rankerUrl())) {
                String allowed = allowList.isEmpty() ? "which is empty" : "which allows " + allowList.entries();
                throw ConfigurationUtils.newConfigurationException(TYPE, tag, RerankConfig.RANKER_URL,
                    "[" + parsed.rankerUrl() + "] is not allowed by the node setting [" + RerankSettings.ALLOWED_URLS_KEY
                        + "] (" + allowed + "); add the ranker's URL there in opensearch.yml on every node");
            }
            ranker.warm(parsed); // the pipeline's first search must not be the one that opens the connection
            return new PersonalizedRerankProcessor(
                tag, description, ignoreFailure, parsed, ranker, nanoClock, threadContext, completions);
        }
    }
}
