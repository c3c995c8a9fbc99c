package org.recsearch.opensearch.rerank;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.net.ConnectException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.AfterClass;
import org.junit.Test;
import org.opensearch.OpenSearchException;
import org.opensearch.common.xcontent.XContentFactory;
import org.opensearch.core.common.bytes.BytesReference;
import org.opensearch.core.xcontent.ToXContent;
import org.opensearch.core.xcontent.XContentBuilder;
import org.opensearch.action.search.SearchRequest;
import org.opensearch.action.search.SearchResponse;
import org.opensearch.core.action.ActionListener;
import org.opensearch.search.pipeline.PipelineProcessingContext;
import org.opensearch.search.pipeline.Processor;
import org.opensearch.search.sort.SortOrder;

public class PersonalizedRerankProcessorTest {

    /** A ranker whose answer the test chooses; records what it was sent. */
    static final class FakeRanker implements RankerClient {
        final List<String> users = new ArrayList<>();
        final List<String> queryIds = new ArrayList<>();
        final List<List<Candidate>> sent = new ArrayList<>();
        final List<Page> pages = new ArrayList<>();
        final List<String> warmed = new ArrayList<>();
        CompletableFuture<Answer> next;
        /** Answer a request with a page HTTP 422, as a ranking service that predates the page does. */
        boolean refusePage;

        @Override
        public CompletableFuture<Void> warm(RerankConfig config) {
            warmed.add(config.rankerUrl().toString());
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletableFuture<Answer> rerank(RerankConfig config, String userId, String queryId, List<Candidate> candidates,
                                                Page page) {
            users.add(userId);
            queryIds.add(queryId);
            sent.add(candidates);
            pages.add(page);
            if (refusePage && page != null) {
                return CompletableFuture.failedFuture(new HttpRankerClient.RankerHttpException(422, "extra fields"));
            }
            return next;
        }
    }

    /** Stands for OpenSearch's generic pool: its threads are named so a test can see where the listener ran. */
    private static final ExecutorService COMPLETIONS = Executors.newFixedThreadPool(2, r -> {
        Thread t = new Thread(r, "test-completions");
        t.setDaemon(true);
        return t;
    });

    private static final RankerUrlAllowList LOOPBACK = new RankerUrlAllowList(List.of(RankerUrlAllowList.Entry.parse("http://127.0.0.1:*")));

    @AfterClass
    public static void stopPool() {
        COMPLETIONS.shutdownNow();
    }

    /** Collects the listener's outcome and the thread that delivered it. */
    static final class Result implements ActionListener<SearchResponse> {
        final CompletableFuture<SearchResponse> response = new CompletableFuture<>();
        final AtomicReference<String> thread = new AtomicReference<>();

        @Override
        public void onResponse(SearchResponse r) {
            thread.set(Thread.currentThread().getName());
            response.complete(r);
        }

        @Override
        public void onFailure(Exception e) {
            thread.set(Thread.currentThread().getName());
            response.completeExceptionally(e);
        }

        SearchResponse get() throws Exception {
            return response.get(5, TimeUnit.SECONDS);
        }

        Throwable failure() {
            try {
                response.get(5, TimeUnit.SECONDS);
            } catch (Exception e) {
                return e.getCause();
            }
            return null;
        }
    }

    private static PersonalizedRerankProcessor processor(FakeRanker ranker, boolean ignoreFailure, Object... settings) {
        Map<String, Object> config = new HashMap<>();
        config.put("ranker_url", "http://127.0.0.1:1");
        config.put("blend_weight", 1.0);
        for (int i = 0; i < settings.length; i += 2) {
            config.put((String) settings[i], settings[i + 1]);
        }
        return factory(ranker, LOOPBACK).create(Map.of(), "tag", null, ignoreFailure, config,
            new Processor.PipelineContext(Processor.PipelineSource.UPDATE_PIPELINE));
    }

    private static PersonalizedRerankProcessor.Factory factory(FakeRanker ranker, RankerUrlAllowList allowList) {
        return new PersonalizedRerankProcessor.Factory(ranker, System::nanoTime, null, allowList, COMPLETIONS);
    }

    private static String refusedAtCreation(RankerUrlAllowList allowList, String url, Processor.PipelineSource source) {
        Map<String, Object> config = new HashMap<>(Map.of("ranker_url", url));
        FakeRanker ranker = new FakeRanker();
        OpenSearchException e = org.junit.Assert.assertThrows(OpenSearchException.class,
            () -> factory(ranker, allowList).create(Map.of(), "tag", null, true, config, new Processor.PipelineContext(source)));
        assertTrue("a refused URL is never called, not even to warm up", ranker.warmed.isEmpty());
        return e.getMessage();
    }

    private static String json(RerankOutcomeExt outcome) throws Exception {
        try (XContentBuilder b = XContentFactory.jsonBuilder()) {
            b.startObject();
            outcome.toXContent(b, ToXContent.EMPTY_PARAMS);
            b.endObject();
            return BytesReference.bytes(b).utf8ToString();
        }
    }

    private static SearchResponse threeHits() {
        return Hits.response(Hits.hit("a", "A", 3f), Hits.hit("b", "B", 2f), Hits.hit("c", "C", 1f));
    }

    private static Result run(PersonalizedRerankProcessor p, SearchRequest request, SearchResponse response) {
        Result r = new Result();
        p.processResponseAsync(request, response, new PipelineProcessingContext(), r);
        return r;
    }

    private static RankerClient.Answer personalized(String... idsBestFirst) {
        List<RankerClient.Scored> out = new ArrayList<>();
        for (int i = 0; i < idsBestFirst.length; i++) {
            out.add(new RankerClient.Scored(idsBestFirst[i], idsBestFirst.length - i));
        }
        return new RankerClient.Answer(true, null, "v3", out);
    }

    @Test
    public void reordersForTheUserAndReportsIt() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = CompletableFuture.completedFuture(personalized("C", "A", "B"));
        SearchResponse out = run(processor(ranker, false), Hits.request("12347"), threeHits()).get();
        assertEquals(List.of("c", "a", "b"), Hits.docIds(out));
        assertEquals(List.of("12347"), ranker.users);
        assertEquals(List.of("A", "B", "C"), ranker.sent.get(0).stream().map(RankerClient.Candidate::id).toList());
        assertEquals(3f, ranker.sent.get(0).get(0).score(), 0f);
        RerankOutcomeExt o = Hits.outcome(out);
        assertTrue(o.personalized());
        assertNull(o.reason());
        assertEquals(3, o.reranked());
        assertEquals(1.0f, out.getHits().getMaxScore(), 0f);
    }

    @Test
    public void theRequestsQueryIdGoesToTheRankerAndComesBackInTheOutcome() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = CompletableFuture.completedFuture(personalized("C", "A", "B"));
        SearchResponse out = run(processor(ranker, false), Hits.request("12347", "q-42"), threeHits()).get();
        assertEquals(List.of("q-42"), ranker.queryIds);
        assertEquals("q-42", Hits.outcome(out).queryId());
        assertTrue(json(Hits.outcome(out)).contains("\"query_id\":\"q-42\""));
    }

    @Test
    public void withoutAQueryIdTheProcessorMakesAUuidSendsItAndReturnsIt() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = CompletableFuture.completedFuture(personalized("C", "A", "B"));
        SearchResponse out = run(processor(ranker, false), Hits.request("12347"), threeHits()).get();
        String made = ranker.queryIds.get(0);
        assertEquals(made, java.util.UUID.fromString(made).toString());
        assertEquals(made, Hits.outcome(out).queryId());
        ranker.next = CompletableFuture.completedFuture(personalized("C", "A", "B"));
        run(processor(ranker, false), Hits.request("12347"), threeHits()).get();
        assertFalse(made.equals(ranker.queryIds.get(1)));  // one per search
        // No user: no ranker call, still a query_id in the outcome (the shop's events may carry it).
        assertEquals("q-7", Hits.outcome(run(processor(ranker, false), Hits.request(null, "q-7"), threeHits()).get()).queryId());
    }

    @Test
    public void noUserMeansNoCallAndTheOriginalOrder() throws Exception {
        FakeRanker ranker = new FakeRanker();
        SearchResponse out = run(processor(ranker, false), Hits.request(null), threeHits()).get();
        assertEquals(List.of("a", "b", "c"), Hits.docIds(out));
        assertTrue(ranker.users.isEmpty());
        assertEquals("no_user", Hits.outcome(out).reason());
    }

    @Test
    public void unknownUserKeepsTheOriginalOrderWithTheRankersReason() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = CompletableFuture.completedFuture(new RankerClient.Answer(false, "unknown_user", "v3",
            List.of(new RankerClient.Scored("A", 3), new RankerClient.Scored("B", 2), new RankerClient.Scored("C", 1))));
        SearchResponse out = run(processor(ranker, false), Hits.request("nobody"), threeHits()).get();
        assertEquals(List.of("a", "b", "c"), Hits.docIds(out));
        assertFalse(Hits.outcome(out).personalized());
        assertEquals("unknown_user", Hits.outcome(out).reason());
    }

    @Test
    public void rankerDownWithIgnoreFailureGivesTheOriginalOrderAndTheReason() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = CompletableFuture.failedFuture(new ConnectException("Connection refused"));
        SearchResponse out = run(processor(ranker, true), Hits.request("12347"), threeHits()).get();
        assertEquals(List.of("a", "b", "c"), Hits.docIds(out));
        assertEquals("ranker_unreachable", Hits.outcome(out).reason());
    }

    @Test
    public void rankerDownWithoutIgnoreFailureFailsTheSearchWithTheReason() {
        FakeRanker ranker = new FakeRanker();
        ranker.next = CompletableFuture.failedFuture(new HttpRankerClient.RankerHttpException(500, "boom"));
        Throwable failure = run(processor(ranker, false), Hits.request("12347"), threeHits()).failure();
        assertNotNull(failure);
        assertTrue(failure.getMessage(), failure.getMessage().contains("ranker_error"));
    }

    // ---- H1: who may make the node call which URL ----

    @Test
    public void aPipelineDefinedInTheSearchRequestIsRefused() {
        String message = refusedAtCreation(LOOPBACK, "http://127.0.0.1:8000", Processor.PipelineSource.SEARCH_REQUEST);
        assertTrue(message, message.contains("pipeline defined in the search request"));
    }

    @Test
    public void aStoredPipelineToAnAllowedUrlIsBuilt() {
        Map<String, Object> config = new HashMap<>(Map.of("ranker_url", "http://127.0.0.1:8000"));
        for (Processor.PipelineSource source : List.of(Processor.PipelineSource.UPDATE_PIPELINE, Processor.PipelineSource.VALIDATE_PIPELINE)) {
            FakeRanker ranker = new FakeRanker();
            assertNotNull(factory(ranker, LOOPBACK).create(
                Map.of(), "tag", null, true, new HashMap<>(config), new Processor.PipelineContext(source)));
            // the client warms up on the pipeline's ranker, so its first search does not pay for the connection
            assertEquals(List.of("http://127.0.0.1:8000/v1/rerank"), ranker.warmed);
        }
    }

    @Test
    public void aRankerUrlOutsideTheAllowListIsRefusedNamingTheUrlAndTheSetting() {
        String message = refusedAtCreation(LOOPBACK, "http://10.0.0.5:9200/idx/_doc", Processor.PipelineSource.UPDATE_PIPELINE);
        assertTrue(message, message.contains("[ranker_url]") && message.contains("http://10.0.0.5:9200/idx/_doc")
            && message.contains("recsearch.rerank.allowed_urls"));
        message = refusedAtCreation(new RankerUrlAllowList(List.of()), "http://127.0.0.1:8000", Processor.PipelineSource.UPDATE_PIPELINE);
        assertTrue(message, message.contains("which is empty"));
    }

    // ---- L8: the client gets a reason code, the node's log the cause ----

    @Test
    public void aFailureReachesTheClientAsAReasonCodeOnly() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = CompletableFuture.failedFuture(new HttpRankerClient.RankerHttpException(501, "<html>internal admin page</html>"));
        // A fixed query_id: a random UUID could hold "501" itself.
        SearchResponse out = run(processor(ranker, true), Hits.request("12347", "q-1"), threeHits()).get();
        String ext = json(Hits.outcome(out));
        assertTrue(ext, ext.contains("\"reason\":\"ranker_error\""));
        assertFalse(ext, ext.contains("internal admin page") || ext.contains("127.0.0.1") || ext.contains("501") || ext.contains("detail"));

        ranker.next = CompletableFuture.failedFuture(new HttpRankerClient.RankerHttpException(501, "<html>internal admin page</html>"));
        Throwable failure = run(processor(ranker, false), Hits.request("12347"), threeHits()).failure();
        assertTrue(failure.getMessage(), failure.getMessage().contains("ranker_error"));
        assertFalse(failure.getMessage(), failure.getMessage().contains("internal admin page") || failure.getMessage().contains("127.0.0.1"));
    }

    @Test
    public void theLogNamesAUserByAHashNotTheId() {
        String ref = PersonalizedRerankProcessor.userRef("12347");
        assertFalse(ref.contains("12347"));
        assertEquals(ref, PersonalizedRerankProcessor.userRef("12347"));
        assertFalse(ref.equals(PersonalizedRerankProcessor.userRef("12348")));
    }

    // ---- M7: where the answer and the timeout are handled ----

    @Test
    public void aTimeoutIsHandledOnTheCompletionPoolNotTheJvmDelayThread() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = new CompletableFuture<>(); // never answers: the timeout fires on CompletableFuture's delay thread
        Result r = run(processor(ranker, true, "timeout_ms", 20), Hits.request("12347"), threeHits());
        assertEquals("ranker_timeout", Hits.outcome(r.get()).reason());
        assertEquals("test-completions", r.thread.get());
    }

    @Test
    public void anAnswerIsHandledOnTheCompletionPool() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = new CompletableFuture<>();
        Result r = run(processor(ranker, false), Hits.request("12347"), threeHits());
        Thread answering = new Thread(() -> ranker.next.complete(personalized("C", "A", "B")), "http-client-thread");
        answering.start();
        assertEquals(List.of("c", "a", "b"), Hits.docIds(r.get()));
        assertEquals("test-completions", r.thread.get());
    }

    @Test
    public void aSilentRankerTimesOutWithinTheTimeout() throws Exception {
        FakeRanker ranker = new FakeRanker();
        ranker.next = new CompletableFuture<>(); // never answers
        long start = System.nanoTime();
        SearchResponse out = run(processor(ranker, true, "timeout_ms", 50), Hits.request("12347"), threeHits()).get();
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 4000);
        assertEquals(List.of("a", "b", "c"), Hits.docIds(out));
        assertEquals("ranker_timeout", Hits.outcome(out).reason());
    }

    @Test
    public void aRequestSortedByAFieldIsLeftAlone() throws Exception {
        FakeRanker ranker = new FakeRanker();
        SearchRequest request = Hits.request("12347");
        request.source().sort("price", SortOrder.ASC);
        SearchResponse out = run(processor(ranker, false), request, threeHits()).get();
        assertTrue(ranker.users.isEmpty());
        assertEquals("sorted_by_field", Hits.outcome(out).reason());
    }

    @Test
    public void hitsWithoutIdsAreNotSent() throws Exception {
        FakeRanker ranker = new FakeRanker();
        SearchResponse out = run(processor(ranker, false), Hits.request("12347"),
            Hits.response(Hits.hit("a", null, 3f), Hits.hit("b", null, 2f))).get();
        assertTrue(ranker.users.isEmpty());
        assertEquals("no_ids", Hits.outcome(out).reason());
        assertEquals(List.of("a", "b"), Hits.docIds(out));
    }
}
